"""Per-iteration reports: validation metrics, plots (PNG) and the campaign log file."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from ase import Atoms

from alearn.config import UncertaintyConfig
from alearn.state import read_json


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


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def validation_metrics(calc, valid: Sequence[Atoms], out_dir: Path) -> dict[str, float]:
    """RMSE of a committee(-based) calculator against ``REF_*`` on the validation
    frames, and a force parity plot.

    Returns
    -------
    ``rmse_energy_meV_atom`` and ``rmse_forces_meV_A`` (NaN with no frames).
    """
    if not valid:
        return {"rmse_energy_meV_atom": float("nan"), "rmse_forces_meV_A": float("nan")}
    de, ref_f, pred_f, std_f = [], [], [], []
    for atoms in valid:
        work = atoms.copy()
        work.calc = calc
        de.append((work.get_potential_energy() - atoms.info["REF_energy"]) / len(atoms))
        ref_f.append(atoms.arrays["REF_forces"].ravel())
        pred_f.append(calc.results["forces"].ravel())
        std_f.append(np.repeat(calc.results["forces_std"], 3))
    ref, pred = np.concatenate(ref_f), np.concatenate(pred_f)
    metrics = {"rmse_energy_meV_atom": 1000 * float(np.sqrt(np.mean(np.square(de)))),
               "rmse_forces_meV_A": 1000 * float(np.sqrt(np.mean((ref - pred) ** 2)))}
    _parity_plot(ref, pred, np.concatenate(std_f), metrics["rmse_forces_meV_A"],
                 out_dir / "parity_forces.png")
    return metrics


def _parity_plot(ref: np.ndarray, pred: np.ndarray, std: np.ndarray, rmse: float,
                 path: Path) -> None:
    plt = _pyplot()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(4.5, 4.2), dpi=120)
    sc = ax.scatter(ref, pred, c=std, s=6, cmap="viridis")
    lim = [min(ref.min(), pred.min()), max(ref.max(), pred.max())]
    ax.plot(lim, lim, "k--", lw=0.8)
    ax.set_xlabel("reference force component (eV/Å)")
    ax.set_ylabel("committee mean (eV/Å)")
    ax.set_title(f"validation forces, RMSE {rmse:.0f} meV/Å")
    fig.colorbar(sc, ax=ax, label="committee force std (eV/Å)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def uncertainty_histogram(frames: Sequence[Atoms], ucfg: UncertaintyConfig, out_dir: Path) -> None:
    """Histogram of the explored frames' uncertainty with the lo/hi lines."""
    values = np.array([f.info[f"unc_{ucfg.metric}"] for f in frames], dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return
    plt = _pyplot()
    out_dir.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=120)
    top = max(values.max(), ucfg.hi) * 1.05
    ax.hist(values, bins=np.linspace(0, top, 40), color="0.5")
    for x, name, color in ((ucfg.lo, "lo", "tab:green"), (ucfg.hi, "hi", "tab:red")):
        ax.axvline(x, color=color, ls="--", label=f"{name} = {x}")
    ax.set_xlabel(f"{ucfg.metric}")
    ax.set_ylabel("explored frames")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "uncertainty_hist.png")
    plt.close(fig)


def iteration_table(workdir: Path) -> list[dict]:
    """One dict per iteration from the stage markers (what ``alearn status`` prints)."""
    from alearn.dataset import Dataset
    from alearn.state import Stages

    stages = Stages(workdir)
    ds = Dataset(workdir / "dataset.db")
    rows = []
    for it in stages.iterations():
        row = {"iteration": it}
        counts = ds.counts_by("status", iteration=it)
        row.update(labeled=counts.get("labeled", 0), failed=counts.get("failed", 0),
                   pending=counts.get("selected", 0),
                   dataset=ds.db.count(f"iteration<={it}", status="labeled"))
        row["per_rank"] = dict(sorted(ds.counts_by("rank", iteration=it).items(),
                                      key=lambda kv: str(kv[0])))
        for stage in ("init", "train", "explore", "select", "label"):
            info = stages.done(it, stage)
            if info:
                row[f"{stage}_s"] = info.get("wall_s")
                if stage == "train":
                    row["n_train"] = info.get("n_train")
                    row["rmse_E_meV_atom"] = info.get("rmse_energy_meV_atom")
                    row["rmse_F_meV_A"] = info.get("rmse_forces_meV_A")
                if stage == "explore":
                    systems = info["systems"]
                    for key in ("trusted", "candidate", "rejected"):
                        row[key] = sum(s[key] for s in systems.values())
                    row["accurate_ratio"] = min(s["accurate_ratio"] for s in systems.values())
        rows.append(row)
    return rows


def learning_curve(workdir: Path) -> None:
    """Validation force RMSE and accurate ratio vs labels, over iterations."""
    rows = [r for r in iteration_table(workdir) if r.get("rmse_F_meV_A") is not None]
    if not rows:
        return
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=120)
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
    plt.close(fig)


def campaign_status(workdir: Path) -> dict:
    """The campaign's state file (status, iterations)."""
    return read_json(workdir / "campaign.json")
