"""Committee MD pushed towards the committee's disagreement (hyperactive learning).

The walker moves on ``U = Ē − τ σ_E`` instead of the committee mean ``Ē``, where
σ_E is the committee's energy spread (van der Oord et al., npj Comput. Mater. 9,
168 (2023)). With ``dE_k = E_k − Ē`` and σ = sqrt(mean_k dE_k² + ε²)::

    F_bias      = −(τ / (K σ)) Σ_k dE_k (F_k − F̄)       (eV/Å, exact gradient of −τσ)
    stress_bias = −(τ / (K σ)) Σ_k dE_k (S_k − S̄)       (eV/Å³, 3D-periodic cells)

so rare configurations where the members disagree (ion hops, solvent exchange,
proton transfer) are reached without waiting for them. The bias only steers the
dynamics: the committee's own (unbiased) results stay in ``results`` under
``unbiased_energy`` and ``unbiased_forces``, and the oracle labels structures,
never biased forces.
"""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

__all__ = ["UncertaintyBiasedCalculator", "unbiased_results"]

#: committee results passed through unchanged
PASSED = ("energy_std", "forces_std", "forces_committee", "energies_committee",
          "stresses_committee", "forces_err_est", "energy_err_est")


class UncertaintyBiasedCalculator(Calculator):
    """``committee`` with the hyperactive-learning bias ``−τ σ_E`` added.

    Parameters
    ----------
    committee
        A calculator whose results hold ``energies_committee`` (K,) and
        ``forces_committee`` (K, N, 3) (and ``stresses_committee`` (K, 6) for a
        biased stress), e.g. :class:`alearn.calculators.CommitteeCalculator`.
    strength
        τ (dimensionless): the bias energy is τ times the energy spread. 0 gives
        the committee mean.
    softening_eV
        ε (eV) under the square root: keeps the bias force finite where the
        members agree exactly.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, committee: Calculator, *, strength: float,
                 softening_eV: float = 1e-3, **kwargs) -> None:
        super().__init__(**kwargs)
        if strength < 0:
            raise ValueError(f"strength must be ≥ 0 (got {strength}): a negative τ pulls "
                             "walkers towards agreement")
        self.committee = committee
        self.strength = float(strength)
        self.softening_eV = float(softening_eV)

    def calculate(self, atoms=None, properties=None, system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        want = ["energy", "forces"] + (["stress"] if self.atoms.pbc.all() else [])
        atoms = self.atoms.copy()
        atoms.calc = self.committee
        for prop in want:
            atoms.calc.get_property(prop, atoms)
        r = self.committee.results
        energies = np.asarray(r["energies_committee"], dtype=float)
        forces = np.asarray(r["forces_committee"], dtype=float)
        d_e = energies - energies.mean()
        sigma = float(np.sqrt(np.mean(d_e ** 2) + self.softening_eV ** 2))
        weight = self.strength / (len(energies) * sigma)
        bias_forces = -weight * np.einsum("k,kni->ni", d_e, forces - forces.mean(axis=0))
        self.results = {key: r[key] for key in PASSED if key in r}
        self.results.update(
            energy=float(r["energy"]) - self.strength * sigma,
            free_energy=float(r["energy"]) - self.strength * sigma,
            forces=np.asarray(r["forces"]) + bias_forces,
            unbiased_energy=float(r["energy"]), unbiased_forces=np.asarray(r["forces"]),
            bias_energy=-self.strength * sigma)
        if "stress" in want:
            if "stresses_committee" not in r:
                raise ValueError("the committee gives no per-member stresses "
                                 "(stresses_committee): the bias cannot act on the cell")
            stresses = np.asarray(r["stresses_committee"], dtype=float)
            self.results["stress"] = np.asarray(r["stress"]) - weight * np.einsum(
                "k,kj->j", d_e, stresses - stresses.mean(axis=0))
            self.results["unbiased_stress"] = np.asarray(r["stress"])


def unbiased_results(results: dict) -> dict:
    """``results`` of a committee, biased or not, with the committee's own energy,
    forces and stress (what frames record and uncertainty metrics read)."""
    if "unbiased_forces" not in results:
        return results
    out = dict(results)
    out.update(energy=results["unbiased_energy"], forces=results["unbiased_forces"])
    if "unbiased_stress" in results:
        out["stress"] = results["unbiased_stress"]
    return out
