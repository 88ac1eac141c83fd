"""Simulation protocols built on alearn models.

Ionic transport (issue 5): production MD (:func:`run_md`), trajectory reading
(:func:`load_trajectory`), self-diffusion, Einstein–Helfand, Green–Kubo and
Nernst–Einstein conductivities (:func:`analyze_transport`), Arrhenius
extrapolation (:func:`arrhenius_fit`), field-driven MD (:func:`nemd_conductivity`)
and figures (:mod:`alearn.protocols.plots`). See docs/protocols.md.
"""

from .arrhenius import ArrheniusResult, arrhenius_fit, arrhenius_from_results
from .conductivity import (
    CollectiveConductivity,
    TransportResult,
    analyze_transport,
    atom_charges,
    einstein_helfand,
    green_kubo,
    nernst_einstein,
)
from .diffusion import Curve, SelfDiffusion, TransportOptions, self_diffusion
from .fitting import FitWindow, detect_linear_regime
from .md import MDOptions, MDRun, NPTOptions, run_md
from .nemd import (
    FieldResponse,
    NEMDOptions,
    NEMDResult,
    field_response,
    linear_response,
    nemd_conductivity,
    run_nemd,
)
from .plots import plot_arrhenius, plot_green_kubo, plot_msd, plot_nemd
from .results import Estimate
from .thermostats import PeculiarBussi
from .trajectory import MDTrajectory, load_trajectory, unwrap_positions

__all__ = [
    "ArrheniusResult",
    "CollectiveConductivity",
    "Curve",
    "Estimate",
    "FieldResponse",
    "FitWindow",
    "MDOptions",
    "MDRun",
    "MDTrajectory",
    "NEMDOptions",
    "NEMDResult",
    "NPTOptions",
    "PeculiarBussi",
    "SelfDiffusion",
    "TransportOptions",
    "TransportResult",
    "analyze_transport",
    "arrhenius_fit",
    "arrhenius_from_results",
    "atom_charges",
    "detect_linear_regime",
    "einstein_helfand",
    "field_response",
    "green_kubo",
    "linear_response",
    "load_trajectory",
    "nemd_conductivity",
    "nernst_einstein",
    "plot_arrhenius",
    "plot_green_kubo",
    "plot_msd",
    "plot_nemd",
    "run_md",
    "run_nemd",
    "self_diffusion",
    "unwrap_positions",
]
