"""Per-iteration reports: validation metrics, plots (PNG), the campaign log file,
and what ``alearn status`` shows.

Plots are :class:`matplotlib.figure.Figure` objects saved to PNG (no pyplot,
no global backend). Reading a campaign's state never writes: the dataset is
opened read-only, and a damaged file is reported by name.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from ase import Atoms
from ase.db.sqlite import SQLite3Database

from alearn import plots
from alearn.config import UncertaintyConfig
from alearn.database import (
    DATABASE_ERRORS,
    connect,
    is_server,
    redact,
    server_has_dataset,
    workdir_location,
)
from alearn.errors import AlearnError
from alearn.uncertainty import metric_name, metric_value

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from alearn.calibration import ValidationErrors


@contextlib.contextmanager
def log_to_file(path: Path, *, enabled: bool = True) -> Iterator[None]:
    """Send the ``alearn`` loggers' messages (INFO, and DEBUG where the ``alearn``
    logger is at DEBUG: ``-v``) and Python warnings to ``path`` while inside."""
    if not enabled:
        yield
        return
    logger = logging.getLogger("alearn")
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(min(logging.INFO, logger.getEffectiveLevel()))
    old_level = logger.level
    warnings_logger = logging.getLogger("py.warnings")
    for each in (logger, warnings_logger):
        each.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        for each in (logger, warnings_logger):
            each.removeHandler(handler)
        logger.setLevel(old_level)
        handler.close()


#: reference forces below this (eV/Å) are zero by symmetry: they say nothing of a model
ZERO_FORCE_eV_A = 1e-6


def validation_metrics(errors: ValidationErrors, out_dir: Path, *, who: str = "committee"
                       ) -> dict[str, Any]:
    """RMSE of a committee(-based) calculator against ``REF_*`` on the validation
    frames (from :func:`alearn.calibration.predict_validation`), and force parity
    plots (``parity_forces.png``; per element: ``parity_forces_by_element.png``);
    ``who`` names the committee in the log.

    Returns
    -------
    ``rmse_energy_meV_atom`` and ``rmse_forces_meV_A`` (per force component;
    NaN with no frames, and the force RMSE NaN where every reference force is
    zero: symmetric frames, whose zero forces any model reproduces), and
    ``rmse_forces_meV_A_by_element`` (element → the same, where atomic numbers
    are known).
    """
    if not len(errors.n_atoms):
        return {"rmse_energy_meV_atom": float("nan"), "rmse_forces_meV_A": float("nan")}
    ref, pred = errors.ref_forces.ravel(), errors.pred_forces.ravel()
    de = errors.energy_err / errors.n_atoms
    informative = bool(np.any(np.abs(ref) > ZERO_FORCE_eV_A))
    metrics: dict[str, Any] = {
        "rmse_energy_meV_atom": 1000 * float(np.sqrt(np.mean(np.square(de)))),
        "rmse_forces_meV_A": 1000 * float(np.sqrt(np.mean((ref - pred) ** 2)))
        if informative else float("nan")}
    log.info("%s validation on %d frames: RMSE E %.3g meV/atom, F %s", who, len(de),
             metrics["rmse_energy_meV_atom"], f"{metrics['rmse_forces_meV_A']:.3g} meV/Å"
             if informative else "n/a (every reference force is zero)")
    plots.save(plots.parity_figure(ref, pred, np.repeat(errors.forces_std, 3),
                                   metrics["rmse_forces_meV_A"]), out_dir / "parity_forces.png")
    if errors.numbers is not None and len(errors.numbers) == len(errors.ref_forces):
        metrics["rmse_forces_meV_A_by_element"] = plots.element_rmse_meV_A(
            errors.ref_forces, errors.pred_forces, errors.numbers)
        plots.save(plots.parity_by_element_figure(errors.ref_forces, errors.pred_forces,
                                                  errors.numbers),
                   out_dir / "parity_forces_by_element.png")
    return metrics


def reliability_diagram(std: np.ndarray, err_est: np.ndarray, err: np.ndarray, path: Path, *,
                        note: str = "", atoms: str = "validation atoms") -> None:
    """Save the reliability diagram (:func:`alearn.plots.reliability_figure`) to ``path``."""
    plots.save(plots.reliability_figure(std, err_est, err, note=note, atoms=atoms), path)


def uncertainty_histogram(frames: Sequence[Atoms], ucfg: UncertaintyConfig, out_dir: Path) -> None:
    """Histogram of the explored frames' uncertainty with the lo/hi lines (the value
    compared with them: calibrated in calibrated units), ``uncertainty_hist.png``."""
    values = np.array([metric_value(f.info, ucfg) for f in frames], dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return
    plots.save(plots.uncertainty_histogram_figure(values, lo=ucfg.lo, hi=ucfg.hi,
                                                  metric=metric_name(ucfg)),
               out_dir / "uncertainty_hist.png")


def _read_only_uri(path: str | Path) -> str:
    return f"{Path(path).resolve().as_uri()}?mode=ro"


class ReadOnlyDatabase(SQLite3Database):
    """An ``ase.db`` SQLite database opened read-only (``mode=ro``): reading it never
    creates, initializes or changes the file."""

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(_read_only_uri(self.filename), uri=True, timeout=20)


def dataset_error(path: str | Path, err: Exception) -> AlearnError:
    """The error to raise when the dataset file ``path`` cannot be read."""
    return AlearnError(
        f"{path}: cannot be read as an alearn dataset, it is damaged or not an ASE database "
        f"({err}); restore it from a backup, or start the campaign again in a new --workdir")


@contextlib.contextmanager
def reading_dataset(path: str | Path) -> Iterator[None]:
    """Turn errors of reading the dataset ``path`` (file or server) into one that names
    it."""
    try:
        yield
    except (*DATABASE_ERRORS, OSError, ValueError) as err:
        raise dataset_error(redact(path), err) from None


def open_workdir_dataset(workdir: Path) -> tuple[str | Path, Any]:
    """A campaign's dataset opened for reading (:func:`alearn.database.workdir_location`):
    its location, and the database, or None while nothing has been stored."""
    where = workdir_location(workdir)
    if is_server(where):
        return where, connect(where) if server_has_dataset(where) else None
    return where, open_dataset_read_only(where) if where.exists() else None


def open_dataset_read_only(path: Path) -> ReadOnlyDatabase:
    """The dataset file ``path`` (which must exist), opened read-only and checked.

    Raises
    ------
    AlearnError
        Naming ``path`` when it cannot be read (damaged, truncated, not a database).
    """
    if not path.is_file():
        raise AlearnError(f"{path}: is not a file; the dataset file of a campaign must be one. "
                          "Restore it from a backup, or start the campaign again in a new "
                          "--workdir")
    with reading_dataset(path), contextlib.closing(
            sqlite3.connect(_read_only_uri(path), uri=True, timeout=20)) as con:
        tables = con.execute("SELECT COUNT(*) FROM sqlite_master WHERE name='systems'")
        if tables.fetchone()[0] == 0:
            raise dataset_error(path, ValueError("it has no ASE database tables"))
    db = ReadOnlyDatabase(str(path), use_lock_file=False, serial=True)
    with reading_dataset(path):
        db.count()
    return db


def read_state_file(path: Path, *, fix: str) -> Any:
    """A JSON state file; a damaged or unreadable one raises an AlearnError naming it
    and saying ``fix`` (what to do)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError
        raise AlearnError(f"{path}: damaged, not valid JSON ({err}); {fix}") from None
    except OSError as err:
        raise AlearnError(f"{path}: cannot be read ({err.strerror}); check that it is a "
                          "readable file") from None


def _dataset_columns(db: ReadOnlyDatabase, iteration: int) -> dict:
    rows = list(db.select(iteration=iteration))
    status = Counter(r.get("status") for r in rows)
    ranks = Counter(r.get("rank") for r in rows if r.get("rank") is not None)
    return dict(labeled=status.get("labeled", 0), failed=status.get("failed", 0),
                excluded=status.get("excluded", 0),
                pending=status.get("selected", 0),
                dataset=db.count(f"iteration<={iteration}", status="labeled"),
                per_rank=dict(sorted(ranks.items(), key=lambda kv: str(kv[0]))))


#: train-marker keys of the calibration shown by ``alearn status`` (alearn.calibration)
CALIBRATION_COLUMNS = ("calib_force_scale", "spearman_force", "miscalibration_area_raw",
                       "miscalibration_area", "lo_effective", "calib_n_atoms")
_MARKER_FIX = "delete it and run 'alearn run' again to redo that stage"


def _marker_columns(marker: Path) -> dict:
    """Columns from one stage marker ``iter_NNN/<stage>.done.json`` (none if absent)."""
    if not marker.is_file():
        return {}
    info = read_state_file(marker, fix=_MARKER_FIX)
    stage = marker.name.removesuffix(".done.json")
    try:
        row = {f"{stage}_s": info.get("wall_s")}
        if stage == "train":
            row.update(n_train=info.get("n_train"),
                       rmse_E_meV_atom=info.get("rmse_energy_meV_atom"),
                       rmse_F_meV_A=info.get("rmse_forces_meV_A"),
                       carried_over_from=info.get("carried_over_from"),
                       **{k: info.get(k) for k in CALIBRATION_COLUMNS})
        if stage == "explore":
            systems = info["systems"].values()
            for key in ("trusted", "candidate", "rejected"):
                row[key] = sum(s[key] for s in systems)
            row["accurate_ratio"] = min(s["accurate_ratio"] for s in systems)
        if stage == "select" and info.get("md_adjustments"):
            row["md_next"] = " ".join(
                f"{name}:dt×{a['timestep_factor']:g}"
                + (f",T×{a['temperature_factor']:.2g}" if a["temperature_factor"] < 1 else "")
                for name, a in info["md_adjustments"].items())
    except (AttributeError, KeyError, TypeError, ValueError):
        raise AlearnError(f"{marker}: damaged, not a stage marker; {_MARKER_FIX}") from None
    return row


def iteration_table(workdir: Path) -> list[dict]:
    """One dict per iteration from the stage markers and the dataset (what
    ``alearn status`` prints). Only reads: without a dataset the rows have no
    dataset columns.

    Raises
    ------
    AlearnError
        Naming a damaged or unreadable marker or dataset file.
    """
    from alearn.state import Stages

    stages = Stages(workdir)
    db_path, db = open_workdir_dataset(workdir)
    iterations = stages.iterations()
    if db is not None and 0 not in iterations:  # initial labels before iter_000/ exists
        with reading_dataset(db_path):
            if db.count(iteration=0):
                iterations = [0, *iterations]
    rows = []
    for it in iterations:
        row: dict = {"iteration": it}
        if db is not None:
            with reading_dataset(db_path):
                row.update(_dataset_columns(db, it))
        for stage in ("init", "train", "explore", "select", "label"):
            row.update(_marker_columns(stages.iter_dir(it) / f"{stage}.done.json"))
        rows.append(row)
    return rows

def learning_curve(workdir: Path, *, target: float | None = None) -> None:
    """Save ``learning_curve.png``: validation force RMSE and trusted fraction vs
    labeled training frames (:func:`alearn.plots.learning_curve_figure`)."""
    fig = plots.learning_curve_figure(iteration_table(workdir), target=target)
    if fig is not None:
        plots.save(fig, workdir / "learning_curve.png")


def campaign_status(workdir: Path) -> dict:
    """The campaign's state file ``campaign.json`` (status, iterations).

    Raises
    ------
    AlearnError
        Naming the file when it is damaged or unreadable.
    """
    path = workdir / "campaign.json"
    fix = ("restore it, or delete it and run 'alearn run' with the campaign's config to "
           "resume (the campaign's other files are kept)")
    state = read_state_file(path, fix=fix)
    if not isinstance(state, dict):
        raise AlearnError(f"{path}: damaged, not a campaign state (a JSON object); {fix}")
    return state
