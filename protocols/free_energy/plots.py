"""Figures of F(z) and D(z) with ± one-standard-error bands (matplotlib Figure, no pyplot).

Each function returns a :class:`matplotlib.figure.Figure`; :func:`save_figure`
writes it as PNG. Nothing touches pyplot's global state.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..results import Estimate
from ..transport.local_diffusion import DiffusionProfile
from ..units import A2_PER_FS_TO_CM2_PER_S
from .interface import InterfaceProfiles
from .profiles import FreeEnergyProfile

_DPI = 130
ExactCurve = Callable[[np.ndarray], np.ndarray]


def free_energy_figure(profiles: Sequence[FreeEnergyProfile], *,
                       labels: Sequence[str] | None = None,
                       exact_kT: ExactCurve | None = None) -> Figure:
    """F (in k_B T) against the CV for one or more profiles, with bands.

    Parameters
    ----------
    profiles
        Profiles on the same CV.
    labels
        Legend entries (default: the methods).
    exact_kT
        Optional exact F/kT (vectorised), drawn dashed, shifted to the first profile's
        weighted mean.
    """
    fig = Figure(figsize=(6, 4.2), layout="constrained")
    ax = fig.subplots()
    labels = labels or [p.method for p in profiles]
    for prof, label in zip(profiles, labels, strict=True):
        _band(ax, prof.centers, prof.F_kT, prof.stderr_kT, label)
    if exact_kT is not None and profiles:
        first = profiles[0]
        exact = exact_kT(first.centers)
        ok = np.isfinite(first.F_kT)
        shift = np.mean(first.F_kT[ok] - exact[ok])
        grid = np.linspace(first.centers[ok].min(), first.centers[ok].max(), 400)
        ax.plot(grid, exact_kT(grid) + shift, "k--", lw=1, label="exact")
    ax.set(xlabel=profiles[0].cv if profiles else "s", ylabel="F / k_B T",
           title="Free-energy profile (band: ± 1 standard error)")
    ax.legend(fontsize=8)
    return fig


def diffusion_figure(profiles: Sequence[DiffusionProfile], *,
                     labels: Sequence[str] | None = None,
                     exact_A2_fs: Sequence[ExactCurve | None] | None = None,
                     bulk: Estimate | None = None, xlabel: str = "z (Å)") -> Figure:
    """D(z) in cm²/s with bands; optional exact curves and a bulk value (Å²/fs) as a band."""
    fig = Figure(figsize=(6, 4.2), layout="constrained")
    ax = fig.subplots()
    labels = labels or [f"D ({p.direction})" for p in profiles]
    exact_A2_fs = exact_A2_fs or [None] * len(profiles)
    for prof, label, exact in zip(profiles, labels, exact_A2_fs, strict=True):
        line = _band(ax, prof.z_A, prof.D_cm2_s, prof.stderr_A2_fs * A2_PER_FS_TO_CM2_PER_S, label)
        if exact is not None:
            grid = np.linspace(np.nanmin(prof.z_A), np.nanmax(prof.z_A), 400)
            ax.plot(grid, exact(grid) * A2_PER_FS_TO_CM2_PER_S, "--", lw=1,
                    color=line.get_color(), label=f"{label}: exact")
    if bulk is not None:
        val, err = bulk.value * A2_PER_FS_TO_CM2_PER_S, bulk.stderr * A2_PER_FS_TO_CM2_PER_S
        ax.axhline(val, color="k", lw=1, label=f"bulk D ({val:.3g} cm²/s)")
        ax.axhspan(val - err, val + err, color="k", alpha=0.1, lw=0)
    ax.set(xlabel=xlabel, ylabel="D (cm²/s)", title="Position-dependent diffusion")
    ax.legend(fontsize=8)
    return fig


def interface_figure(results: Sequence[InterfaceProfiles], *,
                     bulk_D_A2_fs: dict[str, Estimate] | None = None) -> Figure:
    """Two panels: F(z) and D⊥(z), D∥(z) of each followed species above the electrode."""
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax_f, ax_d = fig.subplots(1, 2)
    for res in results:
        f = res.free_energy
        line = _band(ax_f, f.centers, f.F_kT, f.stderr_kT, res.label)
        color = line.get_color()
        for prof, style in ((res.diffusion_normal, "-"), (res.diffusion_parallel, ":")):
            _band(ax_d, prof.z_A, prof.D_cm2_s, prof.stderr_A2_fs * A2_PER_FS_TO_CM2_PER_S,
                  f"{res.label} D{'⊥' if prof.direction == 'normal' else '∥'}", color=color,
                  ls=style)
        bulk = (bulk_D_A2_fs or {}).get(res.label)
        if bulk is not None:
            ax_d.axhline(bulk.value * A2_PER_FS_TO_CM2_PER_S, color=color, lw=0.8, ls="--",
                         label=f"{res.label} bulk D")
    ax_f.set(xlabel="height above the electrode plane (Å)", ylabel="F / k_B T",
             title="Free energy")
    ax_d.set(xlabel="height above the electrode plane (Å)", ylabel="D (cm²/s)",
             title="Diffusion (⊥ solid, ∥ dotted)")
    ax_f.legend(fontsize=8)
    ax_d.legend(fontsize=7)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike) -> Path:
    """Write ``fig`` as PNG (folders created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=_DPI)
    return path


def _band(ax, x: np.ndarray, y: np.ndarray, err: np.ndarray, label: str, *,
          color: str | None = None, ls: str = "-"):
    line, = ax.plot(x, y, lw=1.5, label=label, color=color, ls=ls)
    e = np.nan_to_num(err)
    ax.fill_between(x, y - e, y + e, color=line.get_color(), alpha=0.25, lw=0)
    return line
