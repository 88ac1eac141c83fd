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

from alearn.config import UncertaintyConfig
from alearn.errors import AlearnError
from alearn.uncertainty import metric_name, metric_value

if TYPE_CHECKING:
    from alearn.calibration import ValidationErrors


@contextlib.contextmanager
def log_to_file(path: Path, *, enabled: bool = True) -> Iterator[None]:
    """Send the ``alearn`` loggers' INFO messages to ``path`` while inside."""
    if not enabled:
        yield
        return
    logger = logging.getLogger("alearn")
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    old_level = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        handler.close()


def _figure(width_in: float, height_in: float):
    """A new figure, independent of pyplot's global state."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), dpi=120)


def validation_metrics(errors: ValidationErrors, out_dir: Path) -> dict[str, float]:
    """RMSE of a committee(-based) calculator against ``REF_*`` on the validation
    frames (from :func:`alearn.calibration.predict_validation`), and a force
    parity plot.

    Returns
    -------
    ``rmse_energy_meV_atom`` and ``rmse_forces_meV_A`` (per force component;
    NaN with no frames).
    """
    if not len(errors.n_atoms):
        return {"rmse_energy_meV_atom": float("nan"), "rmse_forces_meV_A": float("nan")}
    ref, pred = errors.ref_forces.ravel(), errors.pred_forces.ravel()
    de = errors.energy_err / errors.n_atoms
    metrics = {"rmse_energy_meV_atom": 1000 * float(np.sqrt(np.mean(np.square(de)))),
               "rmse_forces_meV_A": 1000 * float(np.sqrt(np.mean((ref - pred) ** 2)))}
    _parity_plot(ref, pred, np.repeat(errors.forces_std, 3), metrics["rmse_forces_meV_A"],
                 out_dir / "parity_forces.png")
    return metrics


def _parity_plot(ref: np.ndarray, pred: np.ndarray, std: np.ndarray, rmse: float,
                 path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = _figure(4.5, 4.2)
    ax = fig.subplots()
    sc = ax.scatter(ref, pred, c=std, s=6, cmap="viridis")
    lim = [min(ref.min(), pred.min()), max(ref.max(), pred.max())]
    ax.plot(lim, lim, "k--", lw=0.8)
    ax.set_xlabel("reference force component (eV/Å)")
    ax.set_ylabel("committee mean (eV/Å)")
    ax.set_title(f"validation forces, RMSE {rmse:.0f} meV/Å")
    fig.colorbar(sc, ax=ax, label="committee force std (eV/Å)")
    fig.tight_layout()
    fig.savefig(path)


def _binned_rms(pred: np.ndarray, err: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """RMS of ``pred`` and of ``err`` in ``n_bins`` equal-count bins of ``pred``."""
    order = np.argsort(pred)
    groups = [g for g in np.array_split(order, n_bins) if len(g)]
    return (np.array([np.sqrt(np.mean(pred[g] ** 2)) for g in groups]),
            np.array([np.sqrt(np.mean(err[g] ** 2)) for g in groups]))


def reliability_diagram(std: np.ndarray, err_est: np.ndarray, err: np.ndarray, path: Path, *,
                        note: str = "") -> None:
    """Predicted vs observed per-atom force error in equal-count bins.

    Parameters
    ----------
    std, err_est, err
        (M,) raw spread σ_i, calibrated expected error and observed |ΔF_i| (eV/Å)
        of the validation atoms; each curve is binned on its own prediction
        (up to 10 bins, at least 8 atoms each) and shows the bins' RMS values.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    n_bins = int(np.clip(len(err) // 8, 1, 10))
    fig = _figure(4.6, 4.2)
    ax = fig.subplots()
    ax.scatter(err_est, err, s=4, color="0.8", label="atoms (calibrated)")
    for pred, style, label in ((std, "o--", "raw spread σ"), (err_est, "s-", "calibrated")):
        x, y = _binned_rms(np.asarray(pred, dtype=float), np.asarray(err, dtype=float), n_bins)
        ax.plot(x, y, style, label=label)
    values = np.concatenate([std, err_est, err])
    positive = values[values > 0]
    lim = [positive.min() * 0.8, positive.max() * 1.25] if len(positive) else [0, 1]
    ax.plot(lim, lim, "k:", lw=0.8, label="ideal")
    if len(positive) == len(values):
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlim(lim)
    ax.set_ylim(lim)
    ax.set_xlabel("predicted force error, bin RMS (eV/Å)")
    ax.set_ylabel("observed |ΔF|, bin RMS (eV/Å)")
    ax.set_title(f"reliability, validation atoms\n{note}".strip(), fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def uncertainty_histogram(frames: Sequence[Atoms], ucfg: UncertaintyConfig, out_dir: Path) -> None:
    """Histogram of the explored frames' uncertainty with the lo/hi lines (the value
    compared with them: calibrated in calibrated units)."""
    values = np.array([metric_value(f.info, ucfg) for f in frames], dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    fig = _figure(5, 3.5)
    ax = fig.subplots()
    top = max(values.max(), ucfg.hi) * 1.05
    ax.hist(values, bins=np.linspace(0, top, 40), color="0.5")
    for x, name, color in ((ucfg.lo, "lo", "tab:green"), (ucfg.hi, "hi", "tab:red")):
        ax.axvline(x, color=color, ls="--", label=f"{name} = {x}")
    ax.set_xlabel(metric_name(ucfg))
    ax.set_ylabel("explored frames")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "uncertainty_hist.png")


def _read_only_uri(path: str | Path) -> str:
    return f"{Path(path).resolve().as_uri()}?mode=ro"


class ReadOnlyDatabase(SQLite3Database):
    """An ``ase.db`` SQLite database opened read-only (``mode=ro``): reading it never
    creates, initializes or changes the file."""

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(_read_only_uri(self.filename), uri=True, timeout=20)


def dataset_error(path: Path, err: Exception) -> AlearnError:
    """The error to raise when the dataset file ``path`` cannot be read."""
    return AlearnError(
        f"{path}: cannot be read as an alearn dataset, it is damaged or not an ASE database "
        f"({err}); restore it from a backup, or start the campaign again in a new --workdir")


@contextlib.contextmanager
def reading_dataset(path: Path) -> Iterator[None]:
    """Turn errors of reading the dataset file ``path`` into one that names it."""
    try:
        yield
    except (sqlite3.DatabaseError, OSError, ValueError) as err:
        raise dataset_error(path, err) from None


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
    ranks = Counter(r.get("rank") for r in rows)
    return dict(labeled=status.get("labeled", 0), failed=status.get("failed", 0),
                excluded=status.get("excluded", 0),
                pending=status.get("selected", 0),
                dataset=db.count(f"iteration<={iteration}", status="labeled"),
                per_rank=dict(sorted(ranks.items(), key=lambda kv: str(kv[0]))))


#: train-marker keys of the calibration shown by ``alearn status`` (alearn.calibration)
CALIBRATION_COLUMNS = ("calib_force_scale", "spearman_force", "miscalibration_area_raw",
                       "miscalibration_area", "lo_effective")
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
    ``alearn status`` prints). Only reads: without a ``dataset.db`` the rows have
    no dataset columns.

    Raises
    ------
    AlearnError
        Naming a damaged or unreadable marker or dataset file.
    """
    from alearn.state import Stages

    stages = Stages(workdir)
    db_path = workdir / "dataset.db"
    db = open_dataset_read_only(db_path) if db_path.exists() else None
    rows = []
    for it in stages.iterations():
        row: dict = {"iteration": it}
        if db is not None:
            with reading_dataset(db_path):
                row.update(_dataset_columns(db, it))
        for stage in ("init", "train", "explore", "select", "label"):
            row.update(_marker_columns(stages.iter_dir(it) / f"{stage}.done.json"))
        rows.append(row)
    return rows

def learning_curve(workdir: Path) -> None:
    """Validation force RMSE and accurate ratio vs labels, over iterations."""
    rows = [r for r in iteration_table(workdir) if r.get("rmse_F_meV_A") is not None]
    if not rows:
        return
    fig = _figure(5, 3.5)
    ax = fig.subplots()
    labels = [r["n_train"] for r in rows]
    ax.plot(labels, [r["rmse_F_meV_A"] for r in rows], "o-", label="force RMSE (validation)")
    ax.set_xlabel("training frames")
    ax.set_ylabel("force RMSE (meV/Å)")
    explored = [r for r in rows if r.get("accurate_ratio") is not None]
    if explored:
        ax2 = ax.twinx()
        ax2.plot([r["n_train"] for r in explored], [r["accurate_ratio"] for r in explored],
                 "s--", color="tab:orange", label="accurate ratio")
        ax2.set_ylabel("accurate ratio (frames below lo)")
        ax2.set_ylim(0, 1.05)
    ax.set_title("learning curve")
    fig.tight_layout()
    fig.savefig(workdir / "learning_curve.png")


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
