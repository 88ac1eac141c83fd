"""Simulation protocols built on alearn models, one package per capability.

* :mod:`alearn.protocols.transport`: self-diffusion, Einstein–Helfand,
  Green–Kubo and Nernst–Einstein conductivities (:func:`analyze_transport`),
  Arrhenius extrapolation (:func:`arrhenius_fit`) and field-driven MD
  (:func:`nemd_conductivity`).
  Near an interface: D⊥(z), D∥(z) (:func:`normal_diffusion_profile`,
  :func:`parallel_diffusion_profile`).
* :mod:`alearn.protocols.free_energy`: F along a collective variable (histogram,
  umbrella sampling + MBAR), profiles across an interface and the Smoluchowski
  model of transport across it (see docs/free_energy.md).
* :mod:`alearn.protocols.screening`: high-throughput screening of candidate
  solid electrolytes (``alearn screen``, docs/screening.md).
* :mod:`alearn.protocols.redox`: redox potentials by thermodynamic integration
  between two electronic states, with FEP corrections to the oracle and the
  conversion to a potential vs SHE (see docs/redox.md).

Shared by all of them, at this level: production MD (:mod:`.md`,
:func:`run_md`; thermostats in :mod:`.thermostats`), trajectory reading
(:mod:`.trajectory`, :func:`load_trajectory`), result types (:mod:`.results`),
units (:mod:`.units`), figures (:mod:`.plots`) and slab geometry (:mod:`.slab`,
:class:`ElectrodePlane`). See docs/protocols.md.
"""

from .md import MDOptions, MDRun, NPTOptions, run_md
from .plots import plot_arrhenius, plot_green_kubo, plot_msd, plot_nemd
from .results import Estimate
from .slab import ElectrodePlane, heights_above_plane
from .thermostats import PeculiarBussi
from .trajectory import MDTrajectory, load_trajectory, unwrap_positions
from .transport import (
    ArrheniusResult,
    CollectiveConductivity,
    Curve,
    DiffusionProfile,
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
    normal_diffusion_profile,
    parallel_diffusion_profile,
    run_nemd,
    self_diffusion,
)

__all__ = [
    "ArrheniusResult",
    "CollectiveConductivity",
    "Curve",
    "DiffusionProfile",
    "ElectrodePlane",
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
    "heights_above_plane",
    "linear_response",
    "load_trajectory",
    "nemd_conductivity",
    "nernst_einstein",
    "normal_diffusion_profile",
    "parallel_diffusion_profile",
    "plot_arrhenius",
    "plot_green_kubo",
    "plot_msd",
    "plot_nemd",
    "run_md",
    "run_nemd",
    "self_diffusion",
    "unwrap_positions",
]
