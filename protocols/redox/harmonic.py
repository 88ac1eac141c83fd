"""Displaced harmonic wells: a redox couple with exact answers, for checking the protocol.

Two states of N atoms, harmonic in all D = 3N Cartesian coordinates x:

    U_ox(x)  = ½ k_ox |x − a|²,        U_red(x) = ΔE₀ + ½ k_red |x − b|²,

as ASE calculators (:class:`ase.calculators.harmonic.HarmonicCalculator` with
Hessian k·1). Classically, with k_λ = (1 − λ) k_ox + λ k_red and the mixed
well's centre c_λ = ((1 − λ) k_ox a + λ k_red b)/k_λ:

    ⟨|x − p|²⟩_λ = D kT / k_λ + |c_λ − p|²,
    ⟨ΔE⟩_λ = ΔE₀ + ½ k_red ⟨|x − b|²⟩_λ − ½ k_ox ⟨|x − a|²⟩_λ,
    ΔA = ΔE₀ + (D/2) kT ln(k_red / k_ox).

For equal force constants k, ⟨ΔE⟩_λ = ΔE₀ + λ_r (1 − 2λ) is linear and the
reorganisation energy is λ_r = ½ k |b − a|² (Marcus).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.calculators.harmonic import HarmonicCalculator, HarmonicForceField

from ..units import KB_EV_PER_K

__all__ = ["DisplacedWells"]


@dataclass(frozen=True)
class DisplacedWells:
    """Two displaced harmonic wells and their exact thermodynamics.

    Parameters
    ----------
    atoms
        The oxidised state's minimum a (positions, masses, no cell).
    displacement_A
        b − a, shape (N, 3) (Å).
    k_ox_eV_A2, k_red_eV_A2
        Force constants (eV/Å²).
    dE0_eV
        U_red(b) − U_ox(a) (eV).
    """

    atoms: Atoms
    displacement_A: np.ndarray
    k_ox_eV_A2: float
    k_red_eV_A2: float
    dE0_eV: float

    @property
    def dof(self) -> int:
        """D = 3N."""
        return 3 * len(self.atoms)

    def calculators(self) -> tuple[HarmonicCalculator, HarmonicCalculator]:
        """(U_ox, U_red) as ASE calculators."""
        red_min = self.atoms.copy()
        red_min.positions = self.atoms.positions + self.displacement_A
        eye = np.eye(self.dof)
        ox = HarmonicForceField(self.atoms.copy(), self.k_ox_eV_A2 * eye, ref_energy=0.0)
        red = HarmonicForceField(red_min, self.k_red_eV_A2 * eye, ref_energy=self.dE0_eV)
        return HarmonicCalculator(ox), HarmonicCalculator(red)

    def gap_eV(self, lam: float | np.ndarray, temperature_K: float) -> np.ndarray:
        """Exact ⟨ΔE⟩_λ (eV) at ``lam`` (scalar or array)."""
        lam = np.asarray(lam, dtype=float)
        kt = KB_EV_PER_K * temperature_K
        ko, kr = self.k_ox_eV_A2, self.k_red_eV_A2
        k_lam = (1 - lam) * ko + lam * kr
        d2 = float((np.asarray(self.displacement_A) ** 2).sum())
        # c_λ − a = λ k_red d / k_λ ;  c_λ − b = −(1 − λ) k_ox d / k_λ
        to_a = (lam * kr / k_lam) ** 2 * d2
        to_b = ((1 - lam) * ko / k_lam) ** 2 * d2
        spread = self.dof * kt / k_lam
        return self.dE0_eV + 0.5 * kr * (spread + to_b) - 0.5 * ko * (spread + to_a)

    def dA_eV(self, temperature_K: float) -> float:
        """Exact ΔA = A_red − A_ox (eV)."""
        kt = KB_EV_PER_K * temperature_K
        return self.dE0_eV + 0.5 * self.dof * kt * float(np.log(self.k_red_eV_A2
                                                                 / self.k_ox_eV_A2))

    def reorganisation_eV(self, temperature_K: float) -> float:
        """Exact (⟨ΔE⟩_0 − ⟨ΔE⟩_1)/2 (eV); ½ k |b − a|² for equal force constants."""
        return float(self.gap_eV(0.0, temperature_K) - self.gap_eV(1.0, temperature_K)) / 2
