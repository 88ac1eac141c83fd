"""Conditions of use for ``al_efficiency.py``: the rare-event test set, MD stability of a
final committee, calibration quality on a test set, and the plots."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from alearn.calibration import calibration_metrics, predict_validation, spearman
from alearn.config import CampaignConfig
from alearn.exploration import WalkerSpec
from alearn.seeding import derive_seed
from alearn.walker_batch import run_walkers

#: rare-event criterion: a water of Li's first shell at the start (O within START_SHELL_A)
#: has left it (Li–O > FIRST_SHELL_A) but not flown off (every such Li–O ≤ MAX_LI_O_A)
START_SHELL_A = 2.3
FIRST_SHELL_A = 2.6
MAX_LI_O_A = 4.5


def li_o_distances(atoms: Atoms, oxygens: np.ndarray | None = None) -> np.ndarray:
    """Distances (Å, minimum image along periodic axes) from the (single) Li to
    ``oxygens`` (indices; default every O)."""
    li = np.flatnonzero(atoms.numbers == 3)[0]
    if oxygens is None:
        oxygens = np.flatnonzero(atoms.numbers == 8)
    return atoms.get_distances(li, oxygens, mic=atoms.pbc.any())


def first_shell(start: Atoms) -> np.ndarray:
    """Indices of the O within ``START_SHELL_A`` of Li in ``start`` (Li's first shell)."""
    oxygens = np.flatnonzero(start.numbers == 8)
    return oxygens[li_o_distances(start, oxygens) <= START_SHELL_A]


def is_rare_event(atoms: Atoms, shell: np.ndarray | None = None) -> bool:
    """A water leaving Li's first shell: some O of ``shell`` (the start's first shell,
    :func:`first_shell`; default every O, as in a cluster) beyond ``FIRST_SHELL_A``
    while every one is still within ``MAX_LI_O_A``. In a periodic electrolyte the
    criterion follows the start's shell waters only, not the bulk around them."""
    d = li_o_distances(atoms, shell)
    return bool(np.any(d > FIRST_SHELL_A) and np.all(d <= MAX_LI_O_A))


def calibration_quality(calc, frames: Sequence[Atoms]) -> dict[str, float]:
    """Spearman of per-atom spread vs per-atom force error on ``frames``; with a calibrated
    committee also the miscalibration area of the raw spread and of the calibrated
    expected error (alearn.calibration's own functions)."""
    errors = predict_validation(calc, frames).resolved()
    if calc.calibration is None:
        return {"spearman": round(spearman(errors.forces_std, errors.force_err), 3)}
    m = calibration_metrics(errors, calc.calibration)
    return {"spearman": round(m["spearman_force"], 3),
            "miscalibration_area_raw": round(m["miscalibration_area_raw"], 3),
            "miscalibration_area_calibrated": round(m["miscalibration_area"], 3)}


def stability_specs(cfg: CampaignConfig, *, walkers: int, steps: int,
                    temperature_K: float) -> list[WalkerSpec]:
    """The stability run's ``walkers`` walkers: ``steps`` steps at ``temperature_K`` with
    the campaign's walker settings. Their seeds do not depend on the committee, so every
    method's committee starts from the same velocities."""
    system = cfg.systems[0]
    md = system.md.model_copy(update={"steps": steps})
    return [WalkerSpec(system=system.name, walker=k, iteration=0, temperature_K=temperature_K,
                       md=md, seed=derive_seed(cfg.seed, "stability", k))
            for k in range(walkers)]


def stability_stops(make_calc: Callable[[], Calculator], cfg: CampaignConfig, start: Atoms,
                    specs: Sequence[WalkerSpec]) -> list[str | None]:
    """Run the stability walkers ``specs`` on a committee built by ``make_calc`` (in the
    process that runs them), stepped together by alearn.walker_batch.run_walkers: the
    campaign's own walkers and stop rules, driven by one member with the committee checked
    at the sampling interval (the frames of walkers run one after another, to rounding).
    Per walker: None when it ran to the end without a broken structure or a crossing of
    ``hi``, else why it stopped."""
    results = run_walkers([start] * len(specs), make_calc(), specs, cfg.uncertainty)
    return [result.stop_reason for result in results]


def stability_summary(stops: Sequence[str | None], tag: str) -> dict:
    """The fraction of walkers that ran to the end, and why the others stopped."""
    ok = sum(s is None for s in stops)
    return {"fraction_stable": round(ok / len(stops), 3), "stops": [s for s in stops if s],
            "method": tag}


def plot_learning_curves(path: Path, main: dict, others: dict[str, tuple[list, list]],
                         main_name: str, title: str) -> None:
    """Left: force RMSE on the main set vs oracle calls (active seeds, random draws, the
    AIMD route). Right: active vs random on the other test sets vs labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5), dpi=120)
    for k, curve in enumerate(main["active"]):
        left.plot(*zip(*curve), "o-", color="C0", label="active learning" if k == 0 else None)
    for k, curve in enumerate(main["random"]):
        left.plot(*zip(*curve), "s--", color="C1", alpha=0.5, markersize=3,
                  label="random frames of xTB MD" if k == 0 else None)
    left.plot(*zip(*main["aimd"]), "^-", color="C2", label="ab initio MD (every step a call)")
    left.axhline(main["target"], color="grey", lw=0.8, ls=":", label="target")
    left.set_title(f"test set {main_name}")
    left.set_xlabel("oracle calls (xTB)")
    for (name, (active, randoms)), color in zip(others.items(), ("C3", "C4", "C5", "C6")):
        right.plot(*zip(*active), "o-", color=color, label=f"active, {name}")
        for k, curve in enumerate(randoms):
            right.plot(*zip(*curve), "s--", color=color, alpha=0.45, markersize=3,
                       label=f"random, {name}" if k == 0 else None)
    right.set_title("beyond the walkers' conditions")
    right.set_xlabel("labels (xTB calculations)")
    for ax in (left, right):
        _plain_log_axes(ax)
        ax.set_ylabel("force RMSE, committee mean (meV/Å)")
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)


def plot_stability(path: Path, fractions: dict[str, float], note: str) -> None:
    """Bar chart of the fraction of stable stability walkers per committee."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=120)
    names = list(fractions)
    ax.bar(names, [fractions[n] for n in names],
           color=["C0" if n.startswith("active") else "C1" for n in names])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("fraction of walkers stable")
    ax.set_title(note, fontsize=9)
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.tight_layout()
    _save(fig, path)


def _plain_log_axes(ax) -> None:
    """Log axes labeled with plain numbers (1, 2, 3 and 5 of each decade)."""
    from matplotlib.ticker import FuncFormatter

    def label(value: float, _pos) -> str:
        mantissa = value / 10 ** np.floor(np.log10(value)) if value > 0 else 0.0
        return f"{value:g}" if any(np.isclose(mantissa, (1, 2, 3, 5))) else ""

    for axis, scale in ((ax.xaxis, ax.set_xscale), (ax.yaxis, ax.set_yscale)):
        scale("log")
        axis.set_major_formatter(FuncFormatter(label))
        axis.set_minor_formatter(FuncFormatter(label))


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    from alearn import plots

    plots.save(fig, path)
    plt.close(fig)
