"""Baseline + committee correction (Δ-ML) as one ASE calculator.

Built on ASE's :class:`~ase.calculators.mixing.SumCalculator`: energy, forces
and stress are the sums of the baseline's and the committee's; the committee's
spread (the uncertainty) and each part are kept in ``results`` as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator, CalculatorSetupError, all_changes
from ase.calculators.mixing import SumCalculator

__all__ = ["DeltaCalculator"]

#: properties summed over baseline and committee
SUMMED = ("energy", "forces", "stress")
#: committee results passed through unchanged (when the committee has them)
COMMITTEE_KEYS = ("energy_std", "forces_std", "forces_committee", "energies_committee",
                  "stresses_committee", "forces_err_est", "energy_err_est")
_PARTS = ("baseline", "correction")


def _summed_property(name: str) -> str:
    """The summed property that must be computed to provide ``name``."""
    for prop in ("forces", "stress"):
        if prop in name:
            return prop
    return "energy"


class DeltaCalculator(SumCalculator):
    """Energy, forces and stress of baseline + committee.

    Parameters
    ----------
    baseline
        ASE calculator of the cheap method (e.g. from
        :func:`alearn.baselines.make_baseline`).
    committee
        Calculator of the learned correction, usually a
        :class:`alearn.calculators.CommitteeCalculator` trained on ``DELTA_*``.

    Notes
    -----
    ``results`` holds

    * ``energy``, ``free_energy`` (eV), ``forces`` (eV/Å, (N, 3)) and, when
      both parts give it (3D-periodic cells), ``stress`` (eV/Å³, Voigt (6,)):
      baseline + committee mean, summed by :class:`SumCalculator`;
    * ``baseline_energy``, ``baseline_forces``, ``baseline_stress`` and
      ``correction_energy``, ``correction_forces``, ``correction_stress``:
      the two parts, same units and shapes;
    * the committee's ``energy_std`` (eV), ``forces_std`` (eV/Å, (N,)),
      ``forces_committee`` (K, N, 3) and ``energies_committee`` (K,) as they
      are, and its calibrated ``forces_err_est`` (eV/Å, (N,)) and
      ``energy_err_est`` (eV) when it has them: the baseline is
      deterministic, so the spread is the committee's.

    ``free_energy`` is the baseline's free energy (its energy if it has none)
    plus the committee's.
    """

    def __init__(self, baseline: BaseCalculator, committee: BaseCalculator) -> None:
        super().__init__([baseline, committee])
        self.baseline = baseline
        self.committee = committee
        summed = [p for p in SUMMED if p in self.mixer.implemented_properties]
        missing = {"energy", "forces"} - set(summed)
        if missing:
            raise CalculatorSetupError(
                f"DeltaCalculator: {sorted(missing)} must be implemented by both the baseline "
                f"({type(baseline).__name__}) and the committee ({type(committee).__name__})")
        self._summed = summed
        passed = [k for k in COMMITTEE_KEYS if k in committee.implemented_properties]
        parts = [f"{part}_{p}" for p in summed for part in _PARTS]
        self.implemented_properties = [*summed, "free_energy", *passed, *parts]

    def calculate(self, atoms: Atoms, properties: Sequence[str] = ("energy",),
                  system_changes: Sequence[str] = all_changes) -> None:
        needed = {"energy"} | {_summed_property(p) for p in properties}
        super().calculate(atoms, sorted(needed & set(self._summed)), system_changes)
        results = self.results
        for name in [k for k in results if k.endswith("_contributions")]:
            prop = name[: -len("_contributions")]
            base, correction = results.pop(name)
            if prop in SUMMED:
                results[f"baseline_{prop}"] = base
                results[f"correction_{prop}"] = correction
        base_results, committee_results = self.baseline.results, self.committee.results
        results["free_energy"] = (
            float(base_results.get("free_energy", results["baseline_energy"]))
            + float(committee_results.get("free_energy", results["correction_energy"])))
        for key in COMMITTEE_KEYS:
            if key in committee_results:
                results[key] = committee_results[key]

    def descriptors(self, atoms: Atoms) -> np.ndarray:
        """The committee's structural fingerprint (for diversity selection), shape (F,)."""
        describe: Any = getattr(self.committee, "descriptors", None)
        if describe is None:
            raise AttributeError(f"{type(self.committee).__name__} has no descriptors()")
        return describe(atoms)
