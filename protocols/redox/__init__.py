"""Redox potentials by thermodynamic integration between two electronic states.

For a couple Ox + e⁻ → Red learned by a two-state campaign (one committee per
state, :mod:`alearn.electronic_states`), or given as any two ASE calculators:

* :func:`thermodynamic_integration` samples U_λ = (1 − λ) U_ox + λ U_red at the
  Gauss–Legendre nodes in λ (and the end points) with resumable MD windows,
  block-averages ⟨ΔE⟩_λ and integrates it: ΔA, the vertical energies, the
  reorganisation energy and a linear-response check (:class:`TIResult`);
* :func:`end_state_correction` / :func:`fep_correction` correct the model to
  the oracle (or a higher level) by free-energy perturbation at each end state,
  with an effective sample size (:class:`FEPCorrection`);
* :func:`redox_potential` turns ΔA into a potential against the SHE (absolute
  4.44 V, or a computed reference) with an optional finite-size correction for
  charged periodic cells (:class:`RedoxResult`);
* :func:`plot_energy_gap` draws ⟨ΔE⟩_λ with the fitted line;
* :class:`DisplacedWells` is the exactly solvable check (harmonic wells).

Modules: :mod:`.options`, :mod:`.quadrature`, :mod:`.windows`, :mod:`.ti`,
:mod:`.fep`, :mod:`.potential`, :mod:`.plots`, :mod:`.harmonic`. See docs/redox.md.
"""

from .fep import FEPCorrection, end_state_correction, fep_correction
from .harmonic import DisplacedWells
from .options import TIOptions
from .plots import energy_gap_figure, plot_energy_gap
from .potential import (
    SHE_ABSOLUTE_V,
    FiniteSizeCorrection,
    PotentialReference,
    RedoxResult,
    redox_potential,
)
from .quadrature import LinearFit, gauss_legendre, linear_fit
from .ti import TIResult, thermodynamic_integration, window_lambdas
from .windows import WindowResult

__all__ = [
    "SHE_ABSOLUTE_V",
    "DisplacedWells",
    "FEPCorrection",
    "FiniteSizeCorrection",
    "LinearFit",
    "PotentialReference",
    "RedoxResult",
    "TIOptions",
    "TIResult",
    "WindowResult",
    "end_state_correction",
    "energy_gap_figure",
    "fep_correction",
    "gauss_legendre",
    "linear_fit",
    "plot_energy_gap",
    "redox_potential",
    "thermodynamic_integration",
    "window_lambdas",
]
