"""Simulation protocols built on alearn models, one package per capability.

* :mod:`alearn.protocols.transport`: self-diffusion, Einstein–Helfand,
  Green–Kubo and Nernst–Einstein conductivities (:func:`analyze_transport`),
  Arrhenius extrapolation (:func:`arrhenius_fit`) and field-driven MD
  (:func:`nemd_conductivity`).
* :mod:`alearn.protocols.redox`: redox potentials by thermodynamic integration
  between two electronic states, with FEP corrections to the oracle and the
  conversion to a potential vs SHE (see docs/redox.md).
* :mod:`alearn.protocols.free_energy`, :mod:`alearn.protocols.screening`: to
  come (see their docstrings).

Shared by all of them, at this level: production MD (:mod:`.md`,
:func:`run_md`; thermostats in :mod:`.thermostats`), trajectory reading
(:mod:`.trajectory`, :func:`load_trajectory`), result types (:mod:`.results`),
units (:mod:`.units`) and figures (:mod:`.plots`). See docs/protocols.md.
"""

from .md import MDOptions, MDRun, NPTOptions, run_md
from .plots import plot_arrhenius, plot_green_kubo, plot_msd, plot_nemd
from .results import Estimate
from .thermostats import PeculiarBussi
from .trajectory import MDTrajectory, load_trajectory, unwrap_positions
from .transport import (
    ArrheniusResult,
    CollectiveConductivity,
    Curve,
    FieldResponse,
    FitWindow,
    NEMDOptions,
    NEMDResult,
    SelfDiffusion,
    TransportOptions,
    TransportResult,
    analyze_transport,
    arrhenius_fit,
    arrhenius_from_results,
    atom_charges,
    detect_linear_regime,
    einstein_helfand,
    field_response,
    green_kubo,
    linear_response,
    nemd_conductivity,
    nernst_einstein,
    run_nemd,
    self_diffusion,
)

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
