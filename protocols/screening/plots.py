"""The screen's figures as :class:`matplotlib.figure.Figure` objects (no pyplot):
σ against stability, and the committee's uncertainty per candidate and stage."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from alearn.config import UncertaintyConfig
from alearn.plots import figure

from .report import CandidateSummary

__all__ = ["sigma_vs_stability_figure", "uncertainty_figure"]

_ZONE_COLOURS = {"trusted": "tab:green", "candidate": "tab:orange", "rejected": "tab:red",
                 "n/a": "tab:gray"}


def sigma_vs_stability_figure(summaries: Sequence[CandidateSummary]) -> Figure:
    """σ (mS/cm, log) against the energy above the hull (meV/atom), one point per
    candidate with both; colour: the committee's trust zone, open marker: flagged."""
    fig = figure(6.0, 4.2)
    ax = fig.add_subplot()
    shown = [s for s in summaries if math.isfinite(s.sigma_key) and s.sigma_key > 0]
    for s in shown:
        own = math.isfinite(s.e_above_hull_eV_atom)
        e_hull = s.e_above_hull_eV_atom if own else s.e_above_hull_all_eV_atom
        if not math.isfinite(e_hull):
            continue
        colour = _ZONE_COLOURS.get(s.zone, "tab:gray")
        ax.scatter([e_hull * 1000], [s.sigma_key * 10], s=40, edgecolors=colour,
                   marker="o" if own else "s",
                   facecolors="none" if s.flagged else colour, linewidths=1.5)
        ax.annotate(s.name, (e_hull * 1000, s.sigma_key * 10), fontsize=6,
                    xytext=(3, 3), textcoords="offset points")
    ax.set_yscale("log")
    temps = {s.temperature_hot_K for s in shown}
    target = any(math.isfinite(s.sigma_target_S_m) for s in shown)
    where = "Arrhenius, target T" if target else (
        f"{temps.pop():g} K" if len(temps) == 1 else "hottest T")
    ax.set_ylabel(f"σ of the mobile ions (mS/cm, {where})")
    ax.set_xlabel("energy above the hull (meV/atom)")
    for zone, colour in _ZONE_COLOURS.items():
        if zone != "n/a":
            ax.scatter([], [], color=colour, label=zone)
    ax.scatter([], [], facecolors="none", edgecolors="k", label="flagged (open)")
    ax.scatter([], [], marker="s", facecolors="none", edgecolors="k",
               label="no reference hull: hull of all")
    ax.legend(fontsize=7, title="committee trust", title_fontsize=7)
    if not shown:
        ax.text(0.5, 0.5, "no candidate has a conductivity yet", ha="center",
                transform=ax.transAxes)
    ax.set_title("Candidates: conductivity against stability", fontsize=9)
    return fig


def uncertainty_figure(summaries: Sequence[CandidateSummary],
                       ucfg: UncertaintyConfig) -> Figure:
    """The trust metric of every candidate in every stage, with the window's lo and hi."""
    fig = figure(max(5.0, 0.35 * len(summaries) + 2.0), 4.2)
    ax = fig.add_subplot()
    stages = sorted({st for s in summaries for st in s.stage_uncertainty},
                    key=lambda st: (st != "relax", st != "stability", st))
    markers = dict(zip(stages, "osD^v<>ph*", strict=False))
    x = np.arange(len(summaries))
    for j, stage in enumerate(stages):
        xs = [k for k, s in enumerate(summaries) if stage in s.stage_uncertainty]
        ys = [max(summaries[k].stage_uncertainty[stage], 1e-4) for k in xs]
        shift = 0.5 * (j - (len(stages) - 1) / 2) / max(len(stages), 1)  # side by side
        ax.scatter(np.array(xs) + shift, ys, marker=markers.get(stage, "o"), label=stage, s=25)
    ax.axhline(ucfg.lo, color="tab:orange", ls="--", lw=1, label=f"lo = {ucfg.lo:g}")
    ax.axhline(ucfg.hi, color="tab:red", ls="--", lw=1, label=f"hi = {ucfg.hi:g}")
    ax.set_yscale("log")
    ax.set_xticks(x, [s.name for s in summaries], rotation=75, fontsize=6, ha="right")
    units = "expected error" if ucfg.units == "calibrated" else "committee spread"
    ax.set_ylabel(f"{ucfg.metric} ({units}, eV/Å or eV/atom)", fontsize=8)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title("Committee uncertainty by stage (above lo: flagged)", fontsize=9)
    return fig
