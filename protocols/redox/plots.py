"""The figure of a thermodynamic integration: ⟨ΔE⟩_λ with its errors and the fitted line.

Matplotlib :class:`~matplotlib.figure.Figure` objects, no pyplot state.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .ti import TIResult

__all__ = ["energy_gap_figure", "plot_energy_gap"]

_DPI = 130


def energy_gap_figure(ti: TIResult, *, exact: Callable[[np.ndarray], np.ndarray] | None = None
                      ) -> Figure:
    """⟨ΔE⟩_λ ± one standard error at every window, the weighted straight line (linear
    response) with its χ² verdict, the Gauss–Legendre nodes marked, the windows where
    the committees extrapolate crossed out, and ΔA.

    Parameters
    ----------
    ti
        The integration.
    exact
        Optional exact ⟨ΔE⟩_λ (eV) as a function of λ (n,), drawn for comparison.
    """
    fig = Figure(figsize=(6, 4.5), layout="constrained")
    ax = fig.subplots()
    lam = np.array([w.lam for w in ti.windows])
    gap = np.array([w.gap_eV.value for w in ti.windows])
    err = np.array([w.gap_eV.stderr for w in ti.windows])
    at_node = np.isin(np.round(lam, 9), np.round(ti.nodes, 9))
    ax.errorbar(lam[at_node], gap[at_node], yerr=err[at_node], fmt="o", capsize=3,
                label="Gauss–Legendre nodes")
    if (~at_node).any():
        ax.errorbar(lam[~at_node], gap[~at_node], yerr=err[~at_node], fmt="s", capsize=3,
                    label="end points")
    flagged = np.array([ti.is_extrapolating(w) for w in ti.windows])
    if flagged.any():
        ax.plot(lam[flagged], gap[flagged], "x", ms=12, mew=2, color="C3",
                label=f"committees extrapolate (spread > {ti.max_spread_eV_A:g} eV/Å)")
    grid = np.linspace(0.0, 1.0, 101)
    verdict = "linear" if ti.linear_response else "NOT linear"
    ax.plot(grid, ti.fit.at(grid), "--", lw=1,
            label=f"line: χ²/dof = {ti.fit.chi2:.1f}/{ti.fit.dof} ({verdict})")
    if exact is not None:
        ax.plot(grid, exact(grid), "-", lw=1, color="0.4", label="exact")
    ax.axhline(ti.dA_eV.value, color="C3", lw=1, label=f"ΔA = {ti.dA_eV:.4f} eV")
    ax.set(xlabel="λ", ylabel="⟨ΔE⟩_λ = ⟨U_red − U_ox⟩ (eV)",
           title="Thermodynamic integration of the energy gap")
    ax.legend(fontsize=8)
    return fig


def plot_energy_gap(ti: TIResult, path: str | os.PathLike, **kwargs) -> Path:
    """Write :func:`energy_gap_figure` to a PNG file; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    energy_gap_figure(ti, **kwargs).savefig(path, dpi=_DPI)
    return path
