"""The labeling stage: every pending row gets a reference label or a failure.

Each finished calculation is first written to a journal file
``labels/row_<id>.json`` (atomically) and then recorded in the database, so a
kill between the two repeats no calculation: the journal entry is picked up on
resume. Only the calculation in flight at a kill is lost.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from alearn.children import end_recorded
from alearn.config import InitialDataConfig, OracleConfig
from alearn.dataset import Dataset
from alearn.errors import CampaignStopped, LabelFailed
from alearn.oracles import Oracle
from alearn.oracles.base import Label
from alearn.parallel import Workers
from alearn.progress import LabelProgress
from alearn.state import read_json, write_json_atomic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """Result of labeling one row: a Label, or a failure reason."""

    row_id: int
    label: Label | None
    reason: str | None
    attempts: list
    log_text: str | None
    wall_s: float
    rank: int = 0

    def to_json(self) -> dict:
        """The journal entry: the label's values under ``label``, its attempts and
        log beside them (shared with a failure's)."""
        lab = None if self.label is None else self.label.to_json()
        return {
            "row_id": self.row_id, "reason": self.reason, "attempts": self.attempts,
            "log_text": self.log_text, "wall_s": self.wall_s, "rank": self.rank,
            "label": None if lab is None else {k: lab[k] for k in ("energy", "forces", "stress")},
        }

    @classmethod
    def from_json(cls, d: dict) -> Outcome:
        lab = d["label"]
        label = None if lab is None else Label.from_json(
            {**lab, "attempts": d["attempts"], "log_text": d["log_text"]})
        return cls(row_id=d["row_id"], label=label, reason=d["reason"], attempts=d["attempts"],
                   log_text=d["log_text"], wall_s=d["wall_s"], rank=d.get("rank", 0))


def compute_outcome(row_id: int, atoms: Atoms, oracle: Oracle, oracle_cfg: OracleConfig,
                    scratch: Path, rank: int = 0) -> Outcome:
    """Label one structure (inline or in a worker process) without raising."""
    t0 = time.perf_counter()
    try:
        if oracle_cfg.isolation == "process":
            from alearn.label_worker import run_label

            # a folder of this attempt's own; kept after a failure for inspection
            folder = scratch / f"row_{row_id}.{os.getpid()}"
            label = run_label(oracle_cfg, atoms, workdir=folder,
                              ranks=oracle_cfg.ranks_per_label, timeout_s=oracle_cfg.timeout_s)
            shutil.rmtree(folder, ignore_errors=True)
        else:
            label = oracle.label(atoms)
    except LabelFailed as err:
        return Outcome(row_id, None, err.reason, err.attempts, err.log_text,
                       time.perf_counter() - t0, rank)
    return Outcome(row_id, label, None, label.attempts, label.log_text,
                   time.perf_counter() - t0, rank)


def journal_path(journal: Path, row_id: int) -> Path:
    return journal / f"row_{row_id}.json"


def _journaled(journal: Path, row_id: int) -> bool:
    """True when the row's journal entry exists and reads; a damaged one is removed
    (with a warning), so that the structure is labeled again."""
    path = journal_path(journal, row_id)
    if not path.is_file():
        return False
    try:
        Outcome.from_json(read_json(path))
    except (ValueError, KeyError, TypeError) as err:
        log.warning("%s is damaged (%s: %s); labeling row %d again", path,
                    type(err).__name__, err, row_id)
        path.unlink()
        return False
    return True


def _to_label(ds: Dataset, journal: Path, selection: dict) -> list[tuple[int, Atoms]]:
    """Pending rows without a journal entry; their leftover scratch folders removed."""
    end_recorded(journal / "scratch")  # a killed run's label workers, before their folders go
    todo = [(r.id, r.toatoms()) for r in ds.pending(**selection)
            if not _journaled(journal, r.id)]
    for row_id, _ in todo:
        for folder in (journal / "scratch").glob(f"row_{row_id}.*"):
            shutil.rmtree(folder, ignore_errors=True)
    return todo


def record(ds: Dataset, outcome: Outcome, *, oracle_name: str, oracle_hash: str,
           settings: dict) -> None:
    """Write an outcome into the database (one transaction)."""
    if outcome.label is not None:
        ds.record_label(outcome.row_id, outcome.label, oracle=oracle_name, oracle_hash=oracle_hash,
                        settings=settings, wall_s=outcome.wall_s, rank=outcome.rank)
    else:
        ds.record_failure(outcome.row_id, reason=outcome.reason or "unknown",
                          attempts=outcome.attempts, oracle=oracle_name, oracle_hash=oracle_hash,
                          wall_s=outcome.wall_s, log_text=outcome.log_text, rank=outcome.rank)
        log.warning("label of row %d failed: %s", outcome.row_id, outcome.reason)


def label_pending(ds: Dataset, *, oracle: Oracle, oracle_cfg: OracleConfig, oracle_hash: str,
                  journal: Path, workers: Workers, stop: threading.Event | None = None,
                  selection: dict | None = None) -> int:
    """Label every pending row (of ``selection``, e.g. one electronic state's:
    ``{"state": "ox"}``); returns how many rows were recorded now.

    Rows are dealt over groups of ``oracle.ranks_per_label`` ranks (in
    worker-process isolation the group leader launches the parallel worker
    and the others wait); each finished label goes to the journal at once,
    and the writer rank records the journal into the database. Once ``stop``
    is set (the campaign is being stopped and its workers ended), no label
    starts and no outcome is journaled any more: a worker ended by the stop is
    no failed label, and the other threads do not start the next rows while
    the signal handler is still ending the children.
    """
    journal.mkdir(parents=True, exist_ok=True)
    selection = selection or {}
    pending = ds.pending(**selection)
    # One list for all ranks, decided by the writer: a rank listing its own could
    # miss a label another rank has already journaled, and the deals would differ.
    todo = workers.bcast(_to_label(ds, journal, selection) if workers.is_writer else None)
    if todo:
        log.info("labeling %d structures with %s%s", len(todo), oracle.name,
                 f" in state {selection['state']}" if "state" in selection else "")
        in_process = oracle_cfg.isolation == "inline"
        group = oracle_cfg.ranks_per_label if in_process else 1
        progress = LabelProgress(len(workers.assigned(len(todo), group_size=group)),
                                 oracle=oracle.name, enabled=workers.rank % group == 0)

        def compute(item: tuple[int, Atoms]) -> None:
            row_id, atoms = item
            if stop is not None and stop.is_set():
                return  # the campaign is stopping: start no label
            progress.started(row_id)
            outcome = compute_outcome(row_id, atoms, oracle, oracle_cfg, journal / "scratch",
                                      rank=workers.rank)
            if stop is not None and stop.is_set():
                return
            if workers.rank % group == 0:
                write_json_atomic(journal_path(journal, row_id), outcome.to_json())
            progress.finished(row_id, failed=outcome.label is None)

        # Worker processes run one thread per rank: fill this rank's cores with them.
        concurrency = 1 if in_process else max(1, workers.threads // oracle_cfg.ranks_per_label)
        try:
            workers.map(compute, todo, desc="labels", group_size=group, concurrency=concurrency)
        finally:
            progress.close()
    if stop is not None and stop.is_set():
        return 0  # stopping (the signal handler raises CampaignInterrupted): record nothing
    if workers.is_writer:
        settings = oracle.settings()
        for row in pending:
            outcome = Outcome.from_json(read_json(journal_path(journal, row.id)))
            record(ds, outcome, oracle_name=oracle.name, oracle_hash=oracle_hash,
                   settings=settings)
    workers.barrier()
    return len(pending)


def stop_on_failures(ds: Dataset, iteration: int, limit: float) -> None:
    """Raise CampaignStopped when more than ``limit`` (``oracle.max_failure_fraction``) of
    iteration ``iteration``'s labels failed; the message lists the reasons and the way on."""
    counts = ds.counts_by("status", iteration=iteration)
    total = sum(counts.values())
    failed = counts.get("failed", 0)
    if total and failed / total > limit:
        reasons = sorted({r.get("reason") for r in ds.rows(iteration=iteration, status="failed")})
        raise CampaignStopped(
            f"iteration {iteration}: {failed} of {total} labels failed (limit "
            f"oracle.max_failure_fraction = {limit}). Reasons: {reasons[:5]}. Check the "
            f"oracle settings (e.g. SCF mixing, smearing, timeout_s) or raise the limit; "
            f"then rerun 'alearn run --retry-failed' to label the failed structures "
            f"again (oracle.timeout_s, isolation, ranks_per_label, launcher and "
            f"max_failure_fraction may change on resume; a setting that changes the "
            f"physics needs a new --workdir).")


def retry_failed(ds: Dataset, journal: Path) -> list[int]:
    """Make every failed row pending again (``alearn run --retry-failed``); their ids."""
    rows = ds.reset_failed()
    for row_id in rows:
        journal_path(journal, row_id).unlink(missing_ok=True)
    log.info("--retry-failed: %d failed structures will be labeled again", len(rows))
    return rows


def record_user_labels(ds: Dataset, frames: list[Atoms], idc: InitialDataConfig, *,
                       oracle_hash: str) -> None:
    """Record the labels of ``initial_data.file`` on the pending rows made from it."""
    for row, atoms in zip(ds.pending(), frames):
        stress = atoms.info.get(idc.stress_key)
        label = Label(energy=float(atoms.info[idc.energy_key]),
                      forces=np.asarray(atoms.arrays[idc.forces_key], dtype=float),
                      stress=None if stress is None else np.asarray(stress, dtype=float))
        ds.record_label(row.id, label, oracle="user", oracle_hash=oracle_hash,
                        settings={"file": str(idc.file)}, wall_s=0.0)
