"""A harmonic restraint on a collective variable, as an ASE calculator wrapper.

:class:`HarmonicRestraint` wraps any calculator and adds the umbrella bias
``w(s) = ½ k (s - s0)²`` to the energy and ``-k (s - s0) ∂s/∂r`` to the forces,
so any ASE dynamics (and :func:`alearn.protocols.run_md`) samples the biased
ensemble. The bias is NVT-only: it adds no stress, so ``stress`` is not offered.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator, Calculator, InputError, all_changes

from .collective_variables import CollectiveVariable


class HarmonicRestraint(Calculator):
    """Wrapped calculator's energy and forces plus a harmonic bias on a CV.

    Parameters
    ----------
    calc
        The calculator of the physical system (committee, Δ-ML sum, ...).
    cv
        The collective variable s.
    center
        Restraint centre s0 (the CV's unit, Å for heights and distances).
    spring
        Force constant k in eV per (CV unit)², e.g. eV/Å².

    Notes
    -----
    ``results`` keeps every entry of the wrapped calculator (e.g. ``forces_std``),
    with ``energy``/``free_energy`` and ``forces`` including the bias, plus
    ``bias_energy`` (eV), ``unbiased_energy`` (eV) and ``cv`` (s at this structure).
    """

    def __init__(self, calc: BaseCalculator, cv: CollectiveVariable, center: float,
                 spring: float, **kwargs) -> None:
        super().__init__(**kwargs)
        if "forces" not in calc.implemented_properties:
            raise InputError(f"{type(calc).__name__} does not compute forces; "
                             "HarmonicRestraint needs a calculator with forces")
        if spring <= 0:
            raise InputError(f"HarmonicRestraint: spring={spring} must be > 0 (eV per unit²)")
        self.calc = calc
        self.cv = cv
        self.center = float(center)
        self.spring = float(spring)
        self.implemented_properties = [p for p in calc.implemented_properties
                                       if p not in ("stress", "stresses")]

    def bias(self, atoms: Atoms) -> tuple[float, float, np.ndarray]:
        """(s, bias energy in eV, bias forces in eV/Å of shape (N, 3)) at ``atoms``."""
        value, grad = self.cv.value_and_gradient(atoms)
        dev = value - self.center
        return value, 0.5 * self.spring * dev**2, -self.spring * dev * grad

    def calculate(self, atoms: Atoms | None = None, properties: Sequence[str] = ("energy",),
                  system_changes: Sequence[str] = all_changes) -> None:
        """Evaluate the wrapped calculator and add the bias."""
        super().calculate(atoms, properties, system_changes)
        for prop in dict.fromkeys([*properties, "energy", "forces"]):
            self.calc.get_property(prop, self.atoms)
        results = {k: (v.copy() if isinstance(v, np.ndarray) else v)
                   for k, v in self.calc.results.items()}
        value, energy, forces = self.bias(self.atoms)
        results["unbiased_energy"] = results["energy"]
        results["energy"] = results["energy"] + energy
        if "free_energy" in results:
            results["free_energy"] = results["free_energy"] + energy
        results["forces"] = results["forces"] + forces
        committee = results.get("forces_committee")
        if isinstance(committee, np.ndarray) and committee.shape[1:] == forces.shape:
            results["forces_committee"] = committee + forces[None]
        results.pop("stress", None)
        results["bias_energy"] = energy
        results["cv"] = value
        self.results = results
