"""The active-learning campaign: train → explore → select → label, until trusted.

Workdir layout::

    campaign.json          config digest, status, stop reason
    config.yaml            the configuration the campaign was started with
    dataset.db             labeled data (ASE database) with provenance (or on a
                           PostgreSQL server: ``dataset:``, alearn.database)
    alearn.log             the log
    labels/                label journal (see alearn.labeling)
    iter_000/              initial data
    iter_NNN/committee/    member_k.model, train/valid files, training logs,
                           calibration.json (spread → expected error, alearn.calibration);
                           committee_<state>/ per electronic state (alearn.electronic_states)
    iter_NNN/explore/      sampled frames per walker (extxyz with unc_* info)
    iter_NNN/report/       parity plot, reliability diagram, uncertainty histogram
    iter_NNN/<stage>.done.json   stage markers with timings and statistics

Every stage is idempotent: ``run()`` on an existing workdir skips what is
marked done and redoes only the interrupted stage.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

import numpy as np
from ase import Atoms

from alearn import report
from alearn.bootstrap import initial_candidates
from alearn.bootstrap_calculator import check_md_calculator, md_start
from alearn.calibration import selection_window, validate_and_calibrate
from alearn.conditions import converged
from alearn.config import CampaignConfig, load_config
from alearn.database import claim, naming_errors
from alearn.database import location as dataset_location
from alearn.dataset import Candidate, Dataset
from alearn.e0s import known_before_labels
from alearn.electronic_states import (
    ElectronicState,
    campaign_states,
    check_structure,
    path_committee,
    per_state,
    state_committee,
    train_summary,
    walker_lambda,
)
from alearn.errors import CampaignStopped, ConfigError
from alearn.exploration import (
    WalkerSpec,
    continue_from,
    save_walker,
    system_summary,
    walker_done,
    walker_frames,
)
from alearn.finetuning import FineTuneStart, remove_written, start_files
from alearn.foundation import FoundationModel, record_foundation
from alearn.label_checks import exclude_absurd_labels
from alearn.labeling import label_pending, record_user_labels, retry_failed, stop_on_failures
from alearn.methods import total_charge
from alearn.model_provenance import models_sha256, recorded_hashes, verify_models
from alearn.oracles import make_oracle
from alearn.parallel import Workers
from alearn.preflight import check_before_labels
from alearn.progress import walker_progress
from alearn.seeding import derive_seed
from alearn.selection import choose_candidates
from alearn.stalls import MDAdjustment, adjustments_in, next_adjustments
from alearn.state import Stages, read_json
from alearn.structures import read_initial_frames, read_start
from alearn.trained_committee import with_baseline
from alearn.training import (
    CommitteeData,
    Target,
    carry_over,
    stress_in_loss,
    train_committee,
)
from alearn.walker_batch import run_walkers
from alearn.workdir import (
    check_dataset_present,
    check_workdir_path,
    hold,
    open_workdir,
    stop_on_signals,
    write_status,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CampaignResult:
    """How a campaign ended."""

    workdir: Path
    status: str  # "converged", "max_iterations", "label_budget"
    iterations: int
    n_labeled: int
    n_failed: int


class Campaign:
    """An active-learning campaign in a work directory.

    Parameters
    ----------
    config
        A :class:`CampaignConfig` or the path of a YAML file.
    workdir
        Where everything is written. ``run()`` resumes if it holds a campaign.
    workers
        How work is spread over MPI ranks (default: serial, or all ranks of
        ``MPI.COMM_WORLD`` when run under mpirun).
    retry_failed
        Label the structures whose labels failed again (e.g. after raising
        ``oracle.timeout_s``).
    """

    def __init__(self, config: CampaignConfig | str | Path, workdir: str | Path, *,
                 workers: Workers | None = None, retry_failed: bool = False) -> None:
        self.cfg = config if isinstance(config, CampaignConfig) else load_config(config)
        self.workdir = Path(workdir).resolve()
        self.workers = workers or Workers.from_environment()
        self.stages = Stages(self.workdir)
        # one per electronic state (a single one, named None, without states:)
        self.states: list[ElectronicState] = campaign_states(self.cfg, self._make_oracle)
        self.oracle, self.oracle_hash = self.states[0].oracle, self.states[0].oracle_hash
        self.target = Target.for_baseline(self.cfg.baseline)
        # filled by validate(): start structures, user-labeled frames, elements
        self.starts: dict[str, Atoms] = {}
        self.initial_frames: list[Atoms] = []
        self.atomic_numbers: list[int] = []
        self.foundation: FoundationModel | None = None  # committee.foundation_model, checked
        self.retry_failed = retry_failed
        self.stopping = threading.Event()  # set by SIGTERM/SIGINT: finish nothing more

    def _make_oracle(self, oc):
        inline_mpi = oc.kind == "gpaw" and oc.isolation == "inline" and self.workers.size > 1
        return make_oracle(oc, communicator=self.workers.gpaw_group_communicator(
            oc.ranks_per_label) if inline_mpi else None)

    @cached_property
    def ds(self) -> Dataset:
        """The campaign's dataset (opened on first use, after the workdir exists)."""
        where = dataset_location(self.workdir, self.cfg.dataset)
        with naming_errors(where, "if it is damaged, restore it from a backup, or start a "
                                  "new --workdir"):
            ds = Dataset(where)
            ds.count()
            if self.cfg.dataset and self.workers.is_writer:
                claim(ds.db, self.workdir)
        return ds

    # ------------------------------------------------------------------ set-up
    def validate(self) -> None:
        """Check every input before any expensive work (raises ConfigError)."""
        check_workdir_path(self.workdir)
        for system in self.cfg.systems:
            atoms = read_start(self.cfg, system)
            where = f"systems[{system.name}]"
            check_structure(self.states, atoms, where)
            if self.cfg.baseline is not None:
                from alearn.baselines import check_baseline

                check_baseline(self.cfg.baseline, atoms, where,
                               target_charge=total_charge(self.cfg.oracle))
            if self._bootstraps_by_md():
                check_md_calculator(self.cfg, md_start(self.cfg, atoms), where)
            if system.md.ensemble == "npt" and not atoms.pbc.all():
                raise ConfigError(f"{where}.md.ensemble: npt needs a 3D-periodic "
                                  "structure; use nvt")
            self.starts[system.name] = atoms
        if self.cfg.initial_data.file is not None:
            self.initial_frames = read_initial_frames(self.cfg)
        elements = {z for a in self.starts.values() for z in a.numbers}
        extra = {z for a in self.initial_frames for z in a.numbers} - elements
        if extra:
            raise ConfigError(f"initial_data.file: has elements {sorted(extra)} that no system "
                              "contains; exploration would never visit them")
        self.atomic_numbers = sorted(int(z) for z in elements)
        n_initial = len(self.initial_frames) or \
            self.cfg.initial_data.bootstrap.n_per_system * len(self.cfg.systems)
        self.foundation = check_before_labels(
            self.cfg, atomic_numbers=self.atomic_numbers,
            n_initial_frames=None if self.stages.done(0, "init") else n_initial)

    def _bootstraps_by_md(self) -> bool:
        return (self.cfg.initial_data.bootstrap.runs_md and self.cfg.initial_data.file is None
                and not self.stages.done(0, "init"))

    # ------------------------------------------------------------------ the loop
    def run(self) -> CampaignResult:
        """Run (or resume) the campaign to its end; returns how it ended.

        Raises
        ------
        CampaignInterrupted
            On SIGTERM or SIGINT: the children are ended, nothing unfinished is
            marked done, and ``run()`` resumes where it stopped.
        WorkdirBusy
            When another run holds the workdir.
        """
        self.validate()
        with hold(self.workdir, self.workers), stop_on_signals(self.workdir, self.stopping):
            writer = self.workers.is_writer
            open_workdir(self.workdir, self.cfg, writer=writer)
            check_dataset_present(self.workdir, init_done=bool(self.stages.done(0, "init")),
                                  url=self.cfg.dataset)
            if self.cfg.dataset:
                _ = self.ds  # a server's database claimed (or refused) before any work
            self.workers.barrier()
            with report.log_to_file(self.workdir / "alearn.log", enabled=writer):
                if self.retry_failed and writer:
                    retry_failed(self.ds, self.workdir / "labels")
                if self.foundation is not None and writer:
                    record_foundation(self.workdir, self.foundation)
                if known_before_labels(self.cfg):
                    _ = self.e0s  # isolated atoms first: a failure shows before labels are paid
                self._initial_data()
                status, last = self._iterate()
                result = CampaignResult(self.workdir, status, last,
                                        self.ds.count(status="labeled"),
                                        self.ds.count(status="failed"))
                if writer:
                    write_status(self.workdir, self.cfg, status, iterations=last)
                    report.learning_curve(self.workdir, target=self.cfg.stop.accurate_ratio)
                log.info("campaign finished: %s after %d iterations (%d labels, %d failed)",
                         status, last, result.n_labeled, result.n_failed)
        return result

    def _iterate(self) -> tuple[str, int]:
        stop = self.cfg.stop
        for it in range(1, stop.max_iterations + 1):
            self._train(it)
            summary = self._explore(it)
            if converged(summary, stop.accurate_ratio):
                return "converged", it
            if self._budget_left() <= 0:
                self._train(it + 1)
                return "label_budget", it + 1
            self._select(it)
            self._label(it)
        self._train(stop.max_iterations + 1)
        return "max_iterations", stop.max_iterations + 1

    def _budget_left(self) -> float:
        if self.cfg.stop.max_labels is None:
            return np.inf
        return self.cfg.stop.max_labels - self.ds.count()

    # ------------------------------------------------------------------ initial data
    def _initial_data(self) -> None:
        if self.stages.done(0, "init"):
            return
        t0 = time.perf_counter()
        if self.ds.count(iteration=0) == 0 and self.workers.is_writer:
            rng = np.random.default_rng(derive_seed(self.cfg.seed, "initial"))
            self.ds.add(per_state(self.states, initial_candidates(
                self.cfg, self.starts, self.initial_frames, rng)))
        self.workers.barrier()
        if self.initial_frames:
            if self.workers.is_writer:
                record_user_labels(self.ds, self.initial_frames, self.cfg.initial_data,
                                   oracle_hash=self.oracle_hash)
                exclude_absurd_labels(self.ds, self.cfg.labels)
        else:
            self._label_and_check(0)
        if self.workers.is_writer:
            self.stages.mark(0, "init", {"wall_s": time.perf_counter() - t0,
                                         "n_rows": self.ds.count(iteration=0)})

    # ------------------------------------------------------------------ labeling
    def _label(self, it: int) -> None:
        if self.stages.done(it, "label"):
            return
        t0 = time.perf_counter()
        self._label_and_check(it)
        if self.workers.is_writer:
            counts = self.ds.counts_by("status", iteration=it)
            self.stages.mark(it, "label", {"wall_s": time.perf_counter() - t0, **counts})

    def _label_and_check(self, it: int) -> None:
        for s in self.states:
            label_pending(self.ds, oracle=s.oracle, oracle_cfg=s.oracle_config,
                          oracle_hash=s.oracle_hash, journal=self.workdir / "labels",
                          workers=self.workers, stop=self.stopping, selection=s.selection)
        if self.workers.is_writer:
            exclude_absurd_labels(self.ds, self.cfg.labels)
        stop_on_failures(self.ds, it, self.cfg.oracle.max_failure_fraction)

    # ------------------------------------------------------------------ training
    def _train(self, it: int) -> None:
        done = self.stages.done(it, "train")
        if done and done.get("target", "direct") == self.target.tag:
            return
        if done:  # trained for another target (direct <-> Δ switched): train again
            log.info("iteration %d: committee was trained for %s; retraining for %s", it,
                     done.get("target"), self.target.tag)
            if self.workers.is_writer:
                for s in self.states:
                    shutil.rmtree(s.committee_dir(self.stages.iter_dir(it)), ignore_errors=True)
                (self.stages.iter_dir(it) / "train.done.json").unlink()
            self.workers.barrier()
        t0 = time.perf_counter()
        self._ensure_baselines()
        trained = [self._train_state(it, s) for s in self.states]
        if self.workers.is_writer:
            self.stages.mark(it, "train", {"wall_s": time.perf_counter() - t0,
                                           "target": self.target.tag, "e0s": self.e0s,
                                           **train_summary(self.states, trained)})
            report.learning_curve(self.workdir, target=self.cfg.stop.accurate_ratio)
        self.workers.barrier()

    def _train_state(self, it: int, state: ElectronicState) -> dict:
        """Train (and, on the writer, validate and calibrate) one state's committee; the
        numbers of its train marker."""
        data = self._committee_data(state)
        digest = data.sha256()
        previous = self._previous_models(it, state)
        iter_dir = self.stages.iter_dir(it)
        out_dir = state.committee_dir(iter_dir)
        unchanged = previous is not None and self._trained_on(it - 1, state) == digest
        start = self._foundation_start(it, out_dir) if previous is None else None
        if unchanged:  # no new labels since: the same data would be trained on again
            if self.workers.is_writer:
                log.info("iteration %d: no new training data since iteration %d; its %s "
                         "carried over, not retrained", it, it - 1, state.committee_label)
                carry_over(previous[0].parent, out_dir)
            self.workers.barrier()
            paths, times = [out_dir / p.name for p in previous], []
        else:
            paths, times = train_committee(self.cfg.committee, data, out_dir=out_dir,
                                           seed=self.cfg.seed, iteration=it,
                                           previous=previous, workers=self.workers,
                                           start=start)
        if not self.workers.is_writer:
            return {}
        hashes = {"models_sha256": models_sha256(paths),
                  "start_sha256": models_sha256(sorted(set(
                      previous or (start.models if start else ())))),
                  "foundation_sha256": self.foundation.sha256 if start else None}
        remove_written(start)
        metrics = validate_and_calibrate(
            state_committee(state, iter_dir, self.cfg), data.valid, iter_dir, self.cfg.uncertainty,
            committee_dir=out_dir, report_dir=state.report_dir(iter_dir),
            who=state.committee_label)
        return {"n_train": len(data.train), "n_valid": len(data.valid), "member_wall_s": times,
                "warm_start": previous is not None and not unchanged, "data_sha256": digest,
                "carried_over_from": it - 1 if unchanged else None, **hashes, **metrics}

    def _trained_on(self, it: int, state: ElectronicState) -> str | None:
        """The digest of the data iteration ``it``'s committee of ``state`` was trained on
        (None when unrecorded)."""
        marker = self.stages.done(it, "train") or {}
        if state.name is not None:
            marker = marker.get("states", {}).get(state.name, {})
        return marker.get("data_sha256")

    def _committee_data(self, state: ElectronicState) -> CommitteeData:
        train = self._training_frames("train", state)
        if len(train) < 2:
            raise CampaignStopped(f"only {len(train)} labeled training frames; the committee "
                                  "needs at least 2. Check the failed labels ('alearn status').")
        return CommitteeData(train=train, valid=self._training_frames("valid", state),
                             atomic_numbers=self.atomic_numbers,
                             has_stress=self._train_on_stress(),
                             target=self.target, e0s=self.e0s)

    @cached_property
    def e0s(self) -> str | dict[str, float]:
        """The committee's per-element reference energies (eV), or ``"average"``; for
        ``e0s: isolated`` from ``e0s.json``, computed there once (:mod:`alearn.e0s`)."""
        from alearn.e0s import reference_energies

        return reference_energies(self.cfg, self.atomic_numbers, workdir=self.workdir,
                                  workers=self.workers, foundation=self.foundation,
                                  training_frames=lambda: self._training_frames("train"))

    def _train_on_stress(self) -> bool:
        return stress_in_loss(self.cfg, self.starts.values())

    def _previous_models(self, it: int, state: ElectronicState) -> list[Path] | None:
        """The members to warm-start from (checked against their recorded hashes); None
        without warm starts, and with replay (each iteration starts from the foundation)."""
        if it <= 1 or not self.cfg.committee.warm_start or (
                self.foundation is not None and self.cfg.committee.finetuning.replay):
            return None
        prev = state.committee_dir(self.stages.iter_dir(it - 1))
        paths = [prev / f"member_{k}.model" for k in range(self.cfg.committee.size)]
        if not all(p.is_file() for p in paths):
            return None
        recorded = recorded_hashes(self.stages.done(it - 1, "train") or {}, prev)
        verify_models(paths, recorded, marker=self.stages.iter_dir(it - 1) / "train.done.json")
        return paths

    def _foundation_start(self, it: int, out_dir: Path) -> FineTuneStart | None:
        """The start files of iteration ``it``'s members (in ``out_dir``, the committee's
        folder) from the foundation model, or None."""
        if self.foundation is None:
            return None
        start = None
        if self.workers.is_writer:
            start = start_files(self.cfg, self.foundation, self.e0s,
                                out_dir=out_dir, seed=self.cfg.seed, iteration=it)
        return self.workers.bcast(start)

    def calculator(self, it: int, coupling_lambda: float | None = None):
        """The committee of iteration ``it`` (on top of the baseline, for Δ-ML); with
        electronic states, theirs mixed at path position ``coupling_lambda`` (default 0)."""
        return path_committee(self.states, self.stages.iter_dir(it), self.cfg, coupling_lambda)

    def _training_frames(self, split: str, state: ElectronicState | None = None) -> list[Atoms]:
        """Labeled frames of ``split`` (and ``state``, default the first); for Δ-ML only
        those with the current baseline."""
        from alearn.baselines import with_current_baseline

        selection = (state or self.states[0]).selection
        return with_current_baseline(self.ds.labeled_atoms(split, **selection),
                                     self.cfg.baseline)

    def _ensure_baselines(self) -> None:
        """Compute the Δ-ML baseline where a labeled row lacks it (never the target)."""
        if self.cfg.baseline is not None and self.workers.is_writer:
            from alearn.baselines import ensure_baselines

            ensure_baselines(self.ds, self.cfg.baseline)
        self.workers.barrier()

    # ------------------------------------------------------------------ exploration
    def walker_specs(self, it: int, system: str | None = None) -> list[WalkerSpec]:
        """The walkers of iteration ``it`` (of one system, when given), with the MD
        softened where earlier iterations selected nothing (:mod:`alearn.stalls`)."""
        n_iter = self.cfg.stop.max_iterations
        adjust = self.md_adjustments(it)
        specs = []
        for s in self.cfg.systems:
            if system not in (None, s.name):
                continue
            adj = adjust.get(s.name, MDAdjustment())
            specs += [WalkerSpec(system=s.name, walker=w, iteration=it,
                                 temperature_K=adj.temperature_factor
                                 * s.md.walker_temperature_K(w, it, n_iter),
                                 seed=derive_seed(self.cfg.seed, "walker", it, s.name, w),
                                 md=adj.apply(s.md), coupling_lambda=walker_lambda(self.cfg, w),
                                 pressure_bar=s.md.walker_pressure_bar(w, it)
                                 if s.md.ensemble == "npt" else None)
                      for w in range(s.walkers)]
        return specs

    def md_adjustments(self, it: int) -> dict[str, MDAdjustment]:
        """System → how iteration ``it`` softens its MD (from iteration it−1's selection)."""
        return adjustments_in(self.stages.done(it - 1, "select") if it > 1 else None)

    def _explore(self, it: int) -> dict[str, dict]:
        done = self.stages.done(it, "explore")
        if done:
            return done["systems"]
        t0 = time.perf_counter()
        out = self.stages.iter_dir(it) / "explore"
        out.mkdir(parents=True, exist_ok=True)
        specs = self.workers.bcast([s for s in self.walker_specs(it) if not walker_done(out, s)])
        log.info("iteration %d: exploring with %d MD walkers", it, len(specs))
        committee = cache(lambda lam: self.calculator(it, lam))  # per rank (and path position)
        ucfg, size = self.cfg.uncertainty, self.workers.size  # walker i on rank i % size

        def explore(chunk: list[WalkerSpec]) -> int:  # a rank's walkers at once
            by_lambda: dict[float | None, list[WalkerSpec]] = {}
            for spec in chunk:  # walkers on one calculator step together
                by_lambda.setdefault(spec.coupling_lambda, []).append(spec)
            return sum(len(run_walkers(
                [self.walker_start(s, committee(lam)) for s in group], committee(lam), group,
                ucfg, batch=self.cfg.committee.inference.batch_walkers,
                wrap=lambda client: with_baseline(client, self.cfg),
                progress=lambda spec: walker_progress(spec, ucfg),
                on_done=lambda result: save_walker(out, result)))
                for lam, group in by_lambda.items())

        self.workers.map(explore, [specs[r::size] for r in range(size)], desc="walkers")
        if not self.workers.is_writer:
            self.workers.barrier()
            return read_json(self.stages.iter_dir(it) / "explore.done.json")["systems"]
        summary = {s.name: system_summary(out, self.walker_specs(it, s.name), ucfg)
                   for s in self.cfg.systems}
        report.uncertainty_histogram(walker_frames(out, self.walker_specs(it)), ucfg,
                                     self.stages.iter_dir(it) / "report")
        self.stages.mark(it, "explore", {"wall_s": time.perf_counter() - t0, "systems": summary})
        self.workers.barrier()
        return summary

    def walker_start(self, spec: WalkerSpec, committee=None) -> Atoms:
        """Where a walker starts: its system's structure, or (``md.start_from: previous``)
        the last trusted or candidate frame its predecessor sampled one iteration earlier
        (that ``committee``, the walker's own, does not reject)."""
        start = self.starts[spec.system]
        if spec.md.walker_start_from(spec.walker) == "structure" or spec.iteration <= 1:
            return start
        previous = self.stages.iter_dir(spec.iteration - 1) / "explore"
        return continue_from(start, walker_frames(previous, [spec]), self.cfg.uncertainty,
                             committee)

    # ------------------------------------------------------------------ selection
    def _select(self, it: int) -> None:
        if self.stages.done(it, "select"):
            return
        t0 = time.perf_counter()
        if self.workers.is_writer:
            if self.ds.count(iteration=it, source="explore") == 0:  # the DB is the marker
                self.ds.add(per_state(self.states, self._choose_candidates(it)))
            by_system = self.ds.counts_by("system", iteration=it, source="explore",
                                          **self.states[0].selection)
            selected = {s.name: by_system.get(s.name, 0) for s in self.cfg.systems}
            adjust = next_adjustments(self.md_adjustments(it), selected)
            for s in self.cfg.systems:
                if selected[s.name] == 0:
                    log.warning("iteration %d: nothing selected for system %s; the next "
                                "iteration explores it with %s", it, s.name,
                                adjust[s.name].describe(s.md))
            log.info("iteration %d: selected %d structures to label (%s)", it,
                     sum(selected.values()), ", ".join(f"{k} {v}" for k, v in selected.items()))
            self.stages.mark(it, "select", {
                "wall_s": time.perf_counter() - t0, "n_selected": sum(selected.values()),
                "selected_per_system": selected,
                "md_adjustments": {k: v.as_json() for k, v in adjust.items() if v.rung}})
        self.workers.barrier()

    def _choose_candidates(self, it: int) -> list[Candidate]:
        out = self.stages.iter_dir(it) / "explore"
        systems = self.cfg.systems
        return choose_candidates(
            {s.name: walker_frames(out, self.walker_specs(it, s.name)) for s in systems},
            caps={s.name: s.max_selected for s in systems},
            budget=self._budget_left() / len(self.states),  # a structure costs a label per state
            descriptors=self.calculator(it).descriptors,
            training=self._training_frames("train"), known=self.ds.structures(),
            ucfg=selection_window(self.cfg.uncertainty, self.stages.done(it, "train")),
            scfg=self.cfg.selection, valid_fraction=self.cfg.validation.fraction,
            iteration=it, rng=np.random.default_rng(derive_seed(self.cfg.seed, "select", it)))
