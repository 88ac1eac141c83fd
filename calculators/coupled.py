"""Electronic states coupled along a path: λ-mixed calculators with the larger uncertainty.

Built on ASE's :class:`~ase.calculators.mixing.LinearCombinationCalculator`.
For S states with calculators U_0 … U_{S−1} (e.g. one committee per state of
a redox couple) the path coordinate s runs from 0 to S − 1; at s = k + λ
(0 ≤ λ ≤ 1) the energy is (1 − λ) U_k + λ U_{k+1}, and forces and stress are
mixed alike. Every state is evaluated at every point, so each state's energy
is known along the whole path (the vertical energy gaps of thermodynamic
integration), and where the states are committees their spreads are combined
by taking the larger: a structure is trusted only where *every* state's
model is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator, CalculatorSetupError, all_changes
from ase.calculators.mixing import LinearCombinationCalculator

__all__ = ["CoupledCalculator", "path_weights"]

#: properties mixed with the path weights
MIXED = ("energy", "forces", "stress")
#: per-state spreads (committees) combined by their maximum
SPREADS = ("energy_std", "forces_std", "energy_err_est", "forces_err_est")


def path_weights(position: float, n_states: int) -> np.ndarray:
    """Weights (S,) of the states at path coordinate ``position`` (0 … S − 1).

    Raises
    ------
    ValueError
        When there are fewer than two states or ``position`` lies off the path.
    """
    if n_states < 2:
        raise ValueError(f"a coupling path needs at least 2 states, got {n_states}")
    if not 0.0 <= position <= n_states - 1:
        raise ValueError(f"path position {position} lies off [0, {n_states - 1}]")
    k = min(int(math.floor(position)), n_states - 2)
    lam = position - k
    weights = np.zeros(n_states)
    weights[k], weights[k + 1] = 1.0 - lam, lam
    return weights


class CoupledCalculator(LinearCombinationCalculator):
    """States' calculators mixed at one point of the coupling path.

    Parameters
    ----------
    states
        One ASE calculator per electronic state, in path order (two or more).
    position
        Path coordinate s in [0, S − 1]; for two states it is λ, the weight
        of the second (U = (1 − λ) U_0 + λ U_1).

    Notes
    -----
    ``results`` holds ``energy``, ``free_energy`` (eV), ``forces`` (eV/Å,
    (N, 3)) and, where every state gives it, ``stress`` (eV/Å³, Voigt (6,)),
    mixed; ``state_energies`` (eV, (S,)), each state's energy; and, where
    every state is a committee, ``energy_std`` (eV) and ``forces_std`` (eV/Å,
    (N,)) as the largest over the states (per atom for the forces), likewise
    ``energy_err_est`` and ``forces_err_est`` when every committee is
    calibrated, and ``state_energy_std`` (eV, (S,)).
    """

    def __init__(self, states: Sequence[BaseCalculator], position: float) -> None:
        weights = path_weights(position, len(states))
        super().__init__(list(states), list(weights))
        self.states = list(states)
        self.position = float(position)
        self._mixed = [p for p in MIXED if p in self.mixer.implemented_properties]
        if {"energy", "forces"} - set(self._mixed):
            raise CalculatorSetupError("CoupledCalculator: every state's calculator must "
                                       "give energy and forces")
        self._spreads = [k for k in SPREADS if k in self.mixer.implemented_properties]
        extra = ["state_energies"] + (["state_energy_std"] if "energy_std" in self._spreads
                                      else [])
        self.implemented_properties = [*self._mixed, "free_energy", *self._spreads, *extra]

    @property
    def weights(self) -> np.ndarray:
        """The states' weights (S,) at this position."""
        return np.asarray(self.mixer.weights, dtype=float)

    def calculate(self, atoms: Atoms, properties: Sequence[str] = ("energy",),
                  system_changes: Sequence[str] = all_changes) -> None:
        needed = {"energy", "forces"} | ({"stress"} & set(properties) & set(self._mixed))
        super().calculate(atoms, sorted(needed), system_changes)
        results = self.results
        for name in [k for k in results if k.endswith("_contributions")]:
            contributions = results.pop(name)
            if name == "energy_contributions":
                results["state_energies"] = np.array(contributions, dtype=float)
        results["free_energy"] = results["energy"]
        for key in self._spreads:
            values = [np.asarray(calc.results[key], dtype=float) for calc in self.states]
            largest = np.max(np.stack(values), axis=0)
            results[key] = float(largest) if largest.ndim == 0 else largest
        if "energy_std" in self._spreads:
            results["state_energy_std"] = np.array(
                [float(calc.results["energy_std"]) for calc in self.states])

    def descriptors(self, atoms: Atoms) -> np.ndarray:
        """The first state's structural fingerprint (for diversity selection), shape (F,)."""
        describe: Any = getattr(self.states[0], "descriptors", None)
        if describe is None:
            raise AttributeError(f"{type(self.states[0]).__name__} has no descriptors()")
        return describe(atoms)
