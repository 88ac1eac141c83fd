"""The campaign's plots as :class:`matplotlib.figure.Figure` objects (no pyplot, no
global backend): learning curve, force parity (all atoms and per element),
reliability diagram, uncertainty histogram. :mod:`alearn.report` saves them.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase.data import chemical_symbols
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from alearn.state import atomic_path

__all__ = ["figure", "learning_curve_figure", "parity_by_element_figure", "parity_figure",
           "png_bytes", "reliability_figure", "save", "uncertainty_histogram_figure"]


def figure(width_in: float, height_in: float) -> Figure:
    """A new figure, independent of pyplot's global state."""
    return Figure(figsize=(width_in, height_in), dpi=120)


def save(fig: Figure, path: Path) -> None:
    """Save ``fig`` as PNG to ``path`` atomically (folders created)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")


def png_bytes(fig: Figure) -> bytes:
    """``fig`` as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def _plain_log_ticks(ax, axis: str = "both") -> None:
    """Log axes labelled with plain numbers at 1, 2 and 5 per decade (several decades:
    at the decades only), no overlapping minor labels."""
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    for name in ("x", "y") if axis == "both" else (axis,):
        one = ax.xaxis if name == "x" else ax.yaxis
        low, high = sorted(ax.get_xlim() if name == "x" else ax.get_ylim())
        decades = np.log10(high / low) if low > 0 else np.inf
        one.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades < 2.5
                                         else (1.0,)))
        one.set_major_formatter(plain)
        one.set_minor_formatter(NullFormatter())


# --------------------------------------------------------------------------- parity
def _rmse_text(rmse: float | None) -> str:
    if rmse is None or not math.isfinite(rmse):
        return "RMSE n/a (reference forces all zero)"
    return f"RMSE {rmse:.0f} meV/Å"


def parity_figure(ref: np.ndarray, pred: np.ndarray, std: np.ndarray,
                  rmse_meV_A: float | None) -> Figure:
    """Committee-mean vs reference force components (eV/Å), coloured by the spread.

    Parameters
    ----------
    ref, pred, std
        (3M,) reference and predicted force components, and each atom's spread
        repeated per component (eV/Å).
    """
    fig = figure(4.5, 4.2)
    ax = fig.subplots()
    sc = ax.scatter(ref, pred, c=std, s=6, cmap="viridis")
    lim = [min(ref.min(), pred.min()), max(ref.max(), pred.max())]
    ax.plot(lim, lim, "k--", lw=0.8)
    ax.set_xlabel("reference force component (eV/Å)")
    ax.set_ylabel("committee mean (eV/Å)")
    ax.set_title(f"validation forces, {_rmse_text(rmse_meV_A)}")
    fig.colorbar(sc, ax=ax, label="committee force std (eV/Å)")
    fig.tight_layout()
    return fig


def element_rmse_meV_A(ref: np.ndarray, pred: np.ndarray, numbers: np.ndarray
                       ) -> dict[str, float]:
    """Force-component RMSE (meV/Å) per element; NaN for an element whose reference
    forces are all zero.

    Parameters
    ----------
    ref, pred
        (M, 3) reference and predicted forces (eV/Å).
    numbers
        (M,) atomic numbers.
    """
    out = {}
    for z in sorted(set(int(n) for n in numbers)):
        mine = numbers == z
        zero = not np.any(np.abs(ref[mine]) > 1e-6)
        out[chemical_symbols[z]] = float("nan") if zero else \
            1000 * float(np.sqrt(np.mean((ref[mine] - pred[mine]) ** 2)))
    return out


def parity_by_element_figure(ref: np.ndarray, pred: np.ndarray, numbers: np.ndarray) -> Figure:
    """One force parity panel per element, with its RMSE.

    Parameters
    ----------
    ref, pred
        (M, 3) reference and predicted forces (eV/Å).
    numbers
        (M,) atomic numbers.
    """
    rmse = element_rmse_meV_A(ref, pred, numbers)
    n = len(rmse)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = figure(3.2 * cols, 3.0 * rows + 0.3)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, (symbol, value) in zip(axes, rmse.items()):
        mine = numbers == chemical_symbols.index(symbol)
        r, p = ref[mine].ravel(), pred[mine].ravel()
        ax.scatter(r, p, s=5, color="tab:blue")
        lim = [min(r.min(), p.min()), max(r.max(), p.max())]
        ax.plot(lim, lim, "k--", lw=0.8)
        ax.set_title(f"{symbol}: {int(mine.sum())} atoms, {_rmse_text(value)}", fontsize=8)
        ax.set_xlabel("reference (eV/Å)", fontsize=8)
        ax.set_ylabel("committee mean (eV/Å)", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle("validation force components per element", fontsize=9)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- reliability
def _binned_rms(pred: np.ndarray, err: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """RMS of ``pred`` and of ``err`` in ``n_bins`` equal-count bins of ``pred``."""
    order = np.argsort(pred)
    groups = [g for g in np.array_split(order, n_bins) if len(g)]
    return (np.array([np.sqrt(np.mean(pred[g] ** 2)) for g in groups]),
            np.array([np.sqrt(np.mean(err[g] ** 2)) for g in groups]))


def reliability_figure(std: np.ndarray, err_est: np.ndarray, err: np.ndarray, *,
                       note: str = "", atoms: str = "validation atoms") -> Figure:
    """Predicted vs observed per-atom force error in equal-count bins.

    Parameters
    ----------
    std, err_est, err
        (M,) raw spread σ_i, calibrated expected error and observed |ΔF_i| (eV/Å)
        of the validation atoms; each curve is binned on its own prediction
        (up to 10 bins, at least 8 atoms each) and shows the bins' RMS values.
    atoms
        Which atoms these are, for the title (e.g. "held-out test atoms").
    """
    n_bins = int(np.clip(len(err) // 8, 1, 10))
    fig = figure(4.6, 4.2)
    ax = fig.subplots()
    ax.scatter(err_est, err, s=4, color="0.8", label="atoms (calibrated)")
    for pred, style, label in ((std, "o--", "raw spread σ"), (err_est, "s-", "calibrated")):
        x, y = _binned_rms(np.asarray(pred, dtype=float), np.asarray(err, dtype=float), n_bins)
        ax.plot(x, y, style, label=label)
    values = np.concatenate([std, err_est, err])
    positive = values[values > 0]
    lim = [positive.min() * 0.8, positive.max() * 1.25] if len(positive) else [0, 1]
    ax.plot(lim, lim, "k:", lw=0.8, label="ideal")
    log_axes = len(positive) == len(values)
    if log_axes:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlim(lim)
    ax.set_ylim(lim)
    if log_axes:
        _plain_log_ticks(ax)
    ax.set_xlabel("predicted force error, bin RMS (eV/Å)")
    ax.set_ylabel("observed |ΔF|, bin RMS (eV/Å)")
    ax.set_title(f"reliability, {atoms}\n{note}".strip(), fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- histogram
#: values below this fraction of lo (of hi when lo is 0) are numerical zeros (a
#: symmetric frame's spread): counted, not drawn
ZERO_FRACTION = 1e-3

def uncertainty_histogram_figure(values: np.ndarray, *, lo: float, hi: float,
                                 metric: str) -> Figure:
    """Histogram of explored frames' uncertainty on logarithmic bins spanning the data
    and the trust window, with the ``lo``/``hi`` lines; numerical zeros
    (symmetric frames, below ``ZERO_FRACTION`` × lo) are counted in the legend.

    Parameters
    ----------
    values
        (F,) finite uncertainty values of the explored frames (units of ``metric``).
    """
    values = np.asarray(values, dtype=float)
    floor = (lo if lo > 0 else hi) * ZERO_FRACTION
    shown = values[values > floor]
    n_zero = len(values) - len(shown)
    fig = figure(5, 3.5)
    ax = fig.subplots()
    low = min([lo if lo > 0 else hi, *shown]) / 1.5
    high = max([hi, *shown]) * 1.5
    label = f"{len(shown)} explored frames" + (f" (+{n_zero} at ≈0)" if n_zero else "")
    ax.hist(shown, bins=np.geomspace(low, high, 40), color="0.5", label=label)
    for x, name, color in ((lo, "lo", "tab:green"), (hi, "hi", "tab:red")):
        ax.axvline(x, color=color, ls="--", label=f"{name} = {x:g}")
    ax.set_xscale("log")
    ax.set_xlim(low, high)
    _plain_log_ticks(ax, "x")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(metric)
    ax.set_ylabel("explored frames")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- learning curve
def learning_curve_figure(rows: Sequence[dict], *, target: float | None = None
                          ) -> Figure | None:
    """Validation force RMSE and trusted fraction against the labeled training frames.

    Parameters
    ----------
    rows
        :func:`alearn.report.iteration_table` rows; those with a training count are
        drawn, a force RMSE only where it was measurable (finite, not ~0 on zero
        forces).
    target
        The trusted fraction that ends the campaign (``stop.accurate_ratio``), drawn
        as a line.

    Returns
    -------
    The figure, or None before any training.
    """
    trained = [r for r in rows if r.get("n_train") is not None]
    if not trained:
        return None
    fig = figure(5.4, 3.6)
    ax = fig.subplots()
    measured = [r for r in trained if _measured(r.get("rmse_F_meV_A"))]
    handles = []
    if measured:
        handles += ax.plot([r["n_train"] for r in measured],
                           [r["rmse_F_meV_A"] for r in measured], "o-", color="tab:blue",
                           label="validation force RMSE (meV/Å)")
        ax.set_ylim(bottom=0, top=1.1 * max(r["rmse_F_meV_A"] for r in measured))
    ax.set_ylabel("force RMSE (meV/Å)", color="tab:blue")
    ax.set_xlabel("labeled training frames")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    explored = [r for r in trained if r.get("accurate_ratio") is not None]
    ax2 = ax.twinx()
    if explored:
        handles += ax2.plot([r["n_train"] for r in explored],
                            [r["accurate_ratio"] for r in explored], "s--",
                            color="tab:orange", label="trusted fraction (explored, < lo)")
    if target is not None:
        handles.append(ax2.axhline(target, color="tab:orange", lw=0.8, ls=":",
                                   label=f"target {target:g}"))
    ax2.set_ylim(0, 1.05)
    ax2.set_ylabel("trusted fraction", color="tab:orange")
    xs = [r["n_train"] for r in trained]
    pad = max(1, (max(xs) - min(xs)) // 10)
    ax.set_xlim(min(xs) - pad, max(xs) + pad)
    ax.set_title("learning curve")
    if handles:
        ax.legend(handles=handles, fontsize=8, loc="upper center", ncol=2,
                  bbox_to_anchor=(0.5, -0.2), frameon=False)
    fig.tight_layout()
    return fig


def _measured(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value >= 1e-3
