"""Running (or resuming) a screen: ``alearn screen screen.yaml --workdir DIR``.

Every process (one, or each rank of ``mpirun -np N``) is a worker on the
database's queue (:mod:`.store`): it claims ``claim.batch`` candidates at a
time, takes them through the stages (:mod:`.stages`) and completes each
stage in one transaction. Faster workers simply claim more: the load is
balanced dynamically, whatever the candidates cost, and jobs on other nodes
that share a PostgreSQL database join the same queue.

Rank 0 holds the work directory's lock, checks the settings against the
database (one screen per database) and, once, generates the candidates and
queues them with the reference phases, largest structures first (the costly
ones start early, so no rank is left with one alone at the end); then all
ranks work. The reference phases are claimed first (by whoever claims them);
a worker with none left goes on to candidates and waits for the last
reference only when a candidate reaches the stability stage.

Work directory::

    screen.yaml        the settings in force
    screen.json        the screen's digest and status
    screen.db          the database (SQLite; none with a PostgreSQL database)
    md/<name>/         each candidate's MD trajectories (resumed after a kill)
    alearn.log         the log (rank 0)
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from ase import Atoms

from alearn.errors import AlearnError, ConfigError
from alearn.parallel import Workers
from alearn.state import read_json, write_json_atomic, write_text_atomic

from .candidates import generate_candidates, read_structures
from .config import ScreenConfig
from .evaluator import Evaluator, LoopEvaluator
from .hull import HullPhase
from .stages import (
    StageOutcome,
    md_stage,
    relax_stage,
    stability_stage,
    stage_names,
    transport_stage,
)
from .store import ClaimLost, Heartbeat, Item, ScreenStore, WorkerIdentity

log = logging.getLogger(__name__)

__all__ = ["ScreenSummary", "open_store", "run_screen", "screen_location"]

STATE_FILE = "screen.json"
CONFIG_FILE = "screen.yaml"
SQLITE_FILE = "screen.db"


@dataclass(frozen=True)
class ScreenSummary:
    """Where a screen stands after a run: candidates by state and outcome."""

    workdir: Path
    counts: dict[str, int]

    @property
    def finished(self) -> bool:
        return not self.counts.get("pending") and not self.counts.get("running")

    def line(self) -> str:
        order = ("passed", "rejected", "failed", "running", "pending")
        parts = [f"{self.counts[k]} {k}" for k in order if self.counts.get(k)]
        total = sum(self.counts.values())
        return f"{total} candidates: {', '.join(parts) or 'none'}"


def screen_location(workdir: Path, cfg: ScreenConfig | None = None) -> str | Path:
    """The database of the screen in ``workdir``: the configured server, else the file."""
    url = cfg.database if cfg is not None else _recorded_database(workdir)
    return url if url else Path(workdir) / SQLITE_FILE


def _recorded_database(workdir: Path) -> str | None:
    try:
        data = yaml.safe_load((Path(workdir) / CONFIG_FILE).read_text())
    except (OSError, yaml.YAMLError):
        return None
    url = data.get("database") if isinstance(data, dict) else None
    return url if isinstance(url, str) else None


def open_store(workdir: Path) -> ScreenStore:
    """The database of an existing screen's work directory (only reads)."""
    return ScreenStore(screen_location(workdir))


def _committee(cfg: ScreenConfig):
    from alearn.calculators.committee import CommitteeCalculator

    source = cfg.committee
    if source.campaign is not None:
        from alearn import load_committee

        try:
            return load_committee(cfg.resolve(source.campaign), device=source.device)
        except FileNotFoundError as err:
            raise ConfigError(f"committee.campaign: {err}") from None
    calibration = cfg.resolve(source.calibration) if source.calibration else None
    try:
        return CommitteeCalculator([cfg.resolve(p) for p in source.models],
                                   device=source.device, calibration=calibration)
    except (FileNotFoundError, ValueError) as err:
        raise ConfigError(f"committee.models: {err}") from None


def _check_charges(cfg: ScreenConfig) -> None:
    md = cfg.stages.md
    if md is None:
        return
    missing = [s for s in md.mobile_ions if s not in cfg.candidates.charges]
    if missing:
        raise ConfigError(f"stages.md.mobile_ions {missing} have no charge in "
                          "candidates.charges (e.g. charges: {Li: 1, Na: 1, O: -2, Cl: -1}); "
                          "the Nernst–Einstein σ needs them")


def _prepare(cfg: ScreenConfig, workdir: Path, store: ScreenStore) -> None:
    """Rank 0: bind the database, record the settings, queue the items once."""
    state = workdir / STATE_FILE
    if state.is_file() and read_json(state).get("digest") != cfg.digest():
        raise ConfigError(f"{workdir}: this screen was started with other settings (see "
                          f"{workdir / CONFIG_FILE}); resume with the same settings, or start "
                          "a new --workdir")
    store.bind(cfg.digest(), workdir)
    write_text_atomic(workdir / CONFIG_FILE,
                      yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    write_json_atomic(state, {"digest": cfg.digest(), "status": "running"})
    if store.info("generated") is not None:
        return
    refs = [(f"ref.{name}", atoms, "reference") for src in cfg.stages.stability.references
            for name, atoms in read_structures(src, cfg.base_dir)]
    candidates = generate_candidates(cfg.candidates, cfg.base_dir)
    store.add_items("reference", _largest_first(refs), first_stage="relax")
    added = store.add_items("candidate", _largest_first(
        [(c.name, c.atoms, c.origin) for c in candidates]), first_stage="relax")
    store.set_info("generated", str(len(candidates)))
    log.info("queued %d candidates and %d reference phases", added, len(refs))


def _largest_first(items: list[tuple[str, Atoms, str]]) -> list[tuple[str, Atoms, str]]:
    """Queue order: the most atoms (the costliest to evaluate) first, generation order
    among equals."""
    return sorted(items, key=lambda item: -len(item[1]))


class _Worker:
    """One process's share of the screen: claims, stages, completes."""

    def __init__(self, cfg: ScreenConfig, workdir: Path, store: ScreenStore,
                 evaluator: Evaluator, me: WorkerIdentity, stopping: threading.Event) -> None:
        self.cfg, self.workdir, self.store = cfg, workdir, store
        self.evaluator, self.me, self.stopping = evaluator, me, stopping
        self.stages = stage_names(cfg.stages.md)
        self.references: list[HullPhase] | None = None

    # -------------------------------------------------------------- the loops
    def drain(self, kind: str) -> None:
        """Work on ``kind`` items until none is pending or held by a worker that is gone."""
        while not self.stopping.is_set():
            items = self.store.claim(self.me.owner, kind, self.cfg.claim.batch)
            if items:
                self.advance(items)
                continue
            self.store.release_stale(self.cfg.claim.stale_after_s)
            if not self.store.claim_possible(kind):
                return

    def wait_for(self, kind: str) -> None:
        """Wait until every ``kind`` item is done (others still working on some)."""
        while not self.stopping.is_set() and self.store.unfinished(kind):
            self.drain(kind)
            if self.store.unfinished(kind):
                time.sleep(self.cfg.claim.poll_s)

    def advance(self, items: list[Item]) -> None:
        """Take claimed items through their remaining stages, a stage at a time for all."""
        active = {item.name: item for item in items}
        done_rows = {item.name: self.store.stage_rows(item.name) for item in items}
        while active and not self.stopping.is_set():
            stage = min((i.stage for i in active.values()), key=self.stages.index) \
                if all(i.kind == "candidate" for i in active.values()) else "relax"
            group = [i for i in active.values() if i.stage == stage]
            t0 = time.perf_counter()
            outcomes = self.run_stage(stage, group, done_rows)
            wall = (time.perf_counter() - t0) / len(group)
            for item, outcome in zip(group, outcomes, strict=True):
                nxt = self.next_stage(item)
                try:
                    self.store.complete(item, self.me.owner, outcome, nxt, rank=self.me.rank,
                                        wall_s=wall)
                except ClaimLost as err:
                    log.warning("%s; dropping its result", err)
                    del active[item.name]
                    continue
                done_rows[item.name][stage] = outcome
                if nxt is None or outcome.status != "passed":
                    del active[item.name]
                else:
                    active[item.name] = Item(item.name, item.kind, nxt, item.seq)

    def next_stage(self, item: Item) -> str | None:
        if item.kind == "reference":
            return None
        k = self.stages.index(item.stage)
        return self.stages[k + 1] if k + 1 < len(self.stages) else None

    # -------------------------------------------------------------- stages
    def run_stage(self, stage: str, group: list[Item], rows: dict[str, dict]) -> list:
        cfg = self.cfg.stages
        if stage == "relax":
            starts = [self.store.stage_rows(i.name)["input"].toatoms() for i in group]
            return relax_stage(starts, self.evaluator, cfg.relax, self.cfg.uncertainty)
        outcomes = []
        for item in group:
            relax = _as_outcome(rows[item.name]["relax"])
            if stage == "stability":
                outcomes.append(stability_stage(item.name, relax, self.hull_phases(),
                                                cfg.stability, self.cfg.uncertainty))
            elif stage == "transport":
                md = [_as_outcome(rows[item.name][s]) for s in self.stages if s.startswith("md_")]
                outcomes.append(transport_stage(md, cfg.md))
            else:
                temperature = cfg.md.temperatures_K[self.stages.index(stage) - 2]
                outcomes.append(md_stage(
                    item.name, relax.atoms, temperature, self.evaluator, cfg.md,
                    self.cfg.uncertainty, charges=self.cfg.candidates.charges,
                    folder=self.workdir / "md" / item.name, seed=self.cfg.seed,
                    hottest=temperature == cfg.md.temperatures_K[0]))
        return outcomes

    def hull_phases(self) -> list[HullPhase]:
        """The relaxed reference phases (waits for the last of them once)."""
        if self.references is None:
            self.wait_for("reference")
            phases = []
            for row in self.store.rows(kind="reference", stage="relax"):
                if row.get("status") != "passed":
                    log.warning("reference %s: %s; left out of the hull", row.get("item"),
                                row.get("reason"))
                    continue
                if row.get("zone") != "trusted":
                    log.warning("reference %s: the committee is outside its trust window "
                                "there (%s); its hull energies are uncertain",
                                row.get("item"), row.get("zone"))
                phases.append(HullPhase.from_atoms(row.get("item"), row.toatoms(),
                                                   row.get("energy_eV")))
            self.references = phases
        return self.references


def _as_outcome(row) -> StageOutcome:
    """A stage's ASE row (or an outcome of this run) as a :class:`StageOutcome`."""
    if isinstance(row, StageOutcome):
        return row
    data = row.data
    atoms: Atoms | None = row.toatoms() if row.natoms else None
    return StageOutcome(row.get("stage"), row.get("status"), row.get("reason"),
                        data.get("values", {}), data.get("uncertainty", {}),
                        row.get("zone", "n/a"), atoms, data.get("data", {}))


def _raise_any(workers: Workers, failure: BaseException | None) -> None:
    """Raise ``failure`` here, and on every other rank an error naming it: no rank is
    left waiting for one that stopped."""
    notes = workers.allgather(None if failure is None else
                              f"rank {workers.rank}: {type(failure).__name__}: {failure}")
    if failure is not None:
        raise failure
    others = [n for n in notes if n is not None]
    if others:
        raise AlearnError(f"the screen stopped on another rank ({others[0]}); run again to "
                          "resume")


def _threads(workers: Workers) -> int:
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else workers.threads


def run_screen(cfg: ScreenConfig, workdir: Path, *, workers: Workers | None = None,
               evaluator: Evaluator | None = None) -> ScreenSummary:
    """Run or resume the screen ``cfg`` in ``workdir`` (see the module docstring).

    Parameters
    ----------
    cfg
        The screen's settings.
    workdir
        Its work directory (created).
    workers
        The MPI ranks (default: from the environment; serial without a launcher).
    evaluator
        How the committee is evaluated (default: :class:`LoopEvaluator` on the
        configured committee); a batched evaluator plugs in here.

    Raises
    ------
    CampaignInterrupted
        On SIGTERM/SIGINT, after this worker's claimed candidates were put back.
    """
    import torch

    from alearn.report import log_to_file
    from alearn.workdir import check_workdir_path, hold, stop_on_signals

    workers = workers or Workers.from_environment()
    workdir = Path(workdir)
    check_workdir_path(workdir)
    _check_charges(cfg)
    stopping = threading.Event()
    with hold(workdir, workers), stop_on_signals(workdir, stopping), \
            log_to_file(workdir / "alearn.log", enabled=workers.is_writer):
        store = ScreenStore(screen_location(workdir, cfg))
        problem = None
        if workers.is_writer:
            try:
                _prepare(cfg, workdir, store)
            except AlearnError as err:
                problem = err
        message = workers.bcast(None if problem is None else str(problem))
        if problem is not None:
            raise problem
        if message is not None:
            raise AlearnError(message)
        torch.set_num_threads(_threads(workers))
        evaluator = evaluator or LoopEvaluator(
            _committee(cfg), relative_eps_eV_A=cfg.uncertainty.relative_eps_eV_A)
        me = WorkerIdentity.this_process(workers.rank)
        store.register(me)
        worker = _Worker(cfg, workdir, store, evaluator, me, stopping)
        failure: BaseException | None = None
        try:
            with Heartbeat(screen_location(workdir, cfg), me.owner, cfg.claim.heartbeat_s):
                worker.drain("reference")
                worker.drain("candidate")
                worker.wait_for("reference")  # a screen whose candidates never needed them
        except BaseException as err:  # noqa: BLE001 - passed on to every rank below
            failure = err
            with contextlib.suppress(Exception):
                n = store.release(me.owner)
                log.info("stopped: %d claimed candidate(s) put back in the queue", n)
        finally:
            with contextlib.suppress(Exception):
                store.unregister(me.owner)
        _raise_any(workers, failure)
        summary = ScreenSummary(workdir, store.counts())
        if workers.is_writer:
            status = "finished" if summary.finished else "incomplete"
            write_json_atomic(workdir / STATE_FILE, {"digest": cfg.digest(), "status": status,
                                                     "counts": summary.counts})
            log.info("screen %s: %s", status, summary.line())
        return summary
