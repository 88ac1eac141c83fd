"""CoupledCalculator: states mixed along the coupling path, the larger spread decides."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones

from alearn.calculators import CommitteeCalculator, CoupledCalculator
from alearn.calculators.coupled import path_weights


@pytest.fixture()
def atoms():
    a = bulk("Cu", cubic=True).repeat((2, 1, 1))
    a.rattle(0.1, seed=4)
    return a


def _single(atoms, calc):
    work = atoms.copy()
    work.calc = calc
    return work.get_potential_energy(), work.get_forces(), work.get_stress()


def test_path_weights():
    np.testing.assert_allclose(path_weights(0.25, 2), [0.75, 0.25])
    np.testing.assert_allclose(path_weights(1.5, 3), [0.0, 0.5, 0.5])
    np.testing.assert_allclose(path_weights(2.0, 3), [0.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="off"):
        path_weights(1.2, 2)


@pytest.mark.parametrize("lam", [0.0, 0.3, 1.0])
def test_energy_forces_and_stress_are_mixed(atoms, lam):
    emt, lj = EMT(), LennardJones(sigma=2.3, epsilon=0.4, rc=5.0)
    (e0, f0, s0), (e1, f1, s1) = _single(atoms, emt), _single(atoms, lj)
    work = atoms.copy()
    work.calc = CoupledCalculator([EMT(), LennardJones(sigma=2.3, epsilon=0.4, rc=5.0)], lam)
    assert work.get_potential_energy() == pytest.approx((1 - lam) * e0 + lam * e1)
    np.testing.assert_allclose(work.get_forces(), (1 - lam) * f0 + lam * f1, atol=1e-12)
    np.testing.assert_allclose(work.get_stress(), (1 - lam) * s0 + lam * s1, atol=1e-12)
    np.testing.assert_allclose(work.calc.results["state_energies"], [e0, e1])
    assert "forces_std" not in work.calc.results  # no committees, no spreads


def test_the_larger_spread_of_the_states_decides(tiny_models, atoms):
    spread = CommitteeCalculator(tiny_models)
    none = CommitteeCalculator([tiny_models[0], tiny_models[0]])  # identical members
    work = atoms.copy()
    work.calc = spread
    work.get_forces()
    expected = {k: spread.results[k] for k in ("energy_std", "forces_std")}
    assert expected["energy_std"] > 0 and expected["forces_std"].max() > 0
    for states in ([spread, none], [none, spread]):
        coupled = CoupledCalculator(states, 0.0)
        work.calc = coupled
        work.get_forces()
        assert coupled.results["energy_std"] == pytest.approx(expected["energy_std"])
        np.testing.assert_allclose(coupled.results["forces_std"], expected["forces_std"])
        assert sorted(coupled.results["state_energy_std"])[0] == pytest.approx(0.0, abs=1e-12)
    assert np.allclose(coupled.descriptors(work), none.descriptors(work))
