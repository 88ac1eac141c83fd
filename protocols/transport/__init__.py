"""Ionic transport: self-diffusion, conductivity, field-driven MD, Arrhenius extrapolation.

Modules, lowest first (each imports only from those above it and from the
shared :mod:`alearn.protocols` modules ``results``, ``trajectory``, ``units``
and ``md``):

* shared pieces: :mod:`.correlations` (FFT kernels, blocks), :mod:`.fitting`
  (fit windows, linear-regime detection), :mod:`.curves` (block-averaged
  curves), :mod:`.options` (:class:`TransportOptions`), :mod:`.readers`
  (drift-corrected positions and velocities, charges, temperature),
  :mod:`.windows` (window choice);
* estimators: :mod:`.diffusion` (MSD, self-diffusion), :mod:`.einstein_helfand`
  and :mod:`.green_kubo` (collective conductivity, result type in
  :mod:`.collective`), :mod:`.nernst_einstein`, :mod:`.field_response`
  (σ under a field, linear response), :mod:`.arrhenius`;
* local transport near an interface: :mod:`.transition_matrix` (Hummer's
  likelihood) and :mod:`.local_diffusion` (D⊥(z), D∥(z));
* drivers: :mod:`.analysis` (:func:`analyze_transport`) and :mod:`.nemd`
  (field-driven runs).

See docs/protocols.md.
"""

from .analysis import TransportResult, analyze_transport
from .arrhenius import ArrheniusResult, arrhenius_fit, arrhenius_from_results
from .collective import CollectiveConductivity
from .curves import Curve
from .diffusion import SelfDiffusion, self_diffusion
from .einstein_helfand import einstein_helfand
from .field_response import (
    FieldResponse,
    NEMDOptions,
    NEMDResult,
    field_response,
    linear_response,
)
from .fitting import FitWindow, detect_linear_regime
from .green_kubo import green_kubo
from .local_diffusion import (
    DiffusionProfile,
    normal_diffusion_profile,
    parallel_diffusion_profile,
)
from .nemd import nemd_conductivity, run_nemd
from .nernst_einstein import nernst_einstein
from .options import TransportOptions
from .readers import atom_charges

__all__ = [
    "ArrheniusResult",
    "CollectiveConductivity",
    "Curve",
    "DiffusionProfile",
    "FieldResponse",
    "FitWindow",
    "NEMDOptions",
    "NEMDResult",
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
    "nemd_conductivity",
    "nernst_einstein",
    "normal_diffusion_profile",
    "parallel_diffusion_profile",
    "run_nemd",
    "self_diffusion",
]
