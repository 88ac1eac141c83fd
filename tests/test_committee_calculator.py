"""CommitteeCalculator agrees with mace-torch's own MACECalculator."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from alearn import load_committee
from alearn.calculators import CommitteeCalculator


@pytest.fixture()
def atoms():
    a = bulk("Cu", cubic=True).repeat((2, 1, 1))
    a.rattle(0.1, seed=3)
    return a


def test_matches_mace_calculator(tiny_models, atoms):
    from mace.calculators import MACECalculator

    ours = CommitteeCalculator(tiny_models)
    theirs = MACECalculator(model_paths=[str(p) for p in tiny_models], device="cpu",
                            default_dtype="float64")
    a, b = atoms.copy(), atoms.copy()
    a.calc, b.calc = ours, theirs
    assert a.get_potential_energy() == pytest.approx(b.get_potential_energy(), abs=1e-9)
    np.testing.assert_allclose(a.get_forces(), b.get_forces(), atol=1e-9)
    np.testing.assert_allclose(a.get_stress(), b.get_stress(), atol=1e-10)
    np.testing.assert_allclose(ours.results["energies_committee"],
                               theirs.results["energy_comm"], atol=1e-9)
    np.testing.assert_allclose(ours.results["forces_committee"],
                               theirs.results["forces_comm"], atol=1e-9)
    assert ours.results["energy_std"] == pytest.approx(np.sqrt(theirs.results["energy_var"]))


def test_result_shapes_and_spread(tiny_models, atoms):
    calc = CommitteeCalculator(tiny_models)
    atoms.calc = calc
    atoms.get_forces()
    k, n = len(tiny_models), len(atoms)
    r = calc.results
    assert r["forces_committee"].shape == (k, n, 3)
    assert r["forces_std"].shape == (n,)
    spread = np.sqrt(((r["forces_committee"] - r["forces"]) ** 2).sum(-1).mean(0))
    np.testing.assert_allclose(r["forces_std"], spread)
    assert r["stress"].shape == (6,)
    assert calc.descriptors(atoms).ndim == 1


def test_no_stress_without_a_periodic_cell(tiny_models, atoms):
    atoms.pbc = False
    calc = CommitteeCalculator(tiny_models)
    calc.calculate(atoms, ["energy"])
    assert "stress" not in calc.results


def test_unknown_element_is_refused(tiny_models):
    from ase import Atoms

    calc = CommitteeCalculator(tiny_models)
    with pytest.raises(ValueError, match=r"without elements \['O'\]"):
        calc.calculate(Atoms("CuO", positions=[[0, 0, 0], [2, 0, 0]]), ["energy"])


def test_load_committee_returns_the_latest(finished_campaign):
    calc = load_committee(finished_campaign)
    assert [p.parent.parent.name for p in calc.model_paths] == ["iter_003"] * 2
