"""The field wrapper adds q E to any calculator's forces and keeps everything else."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator, InputError, all_changes
from ase.calculators.emt import EMT

from alearn.calculators import ElectricFieldCalculator


def test_forces_shifted_by_charge_times_field():
    atoms = bulk("Cu", cubic=True)
    atoms.rattle(0.05, seed=0)
    atoms.symbols[0] = "Au"
    ref = atoms.copy()
    ref.calc = EMT()
    field = np.array([0.0, 0.02, -0.05])  # V/Å
    atoms.calc = ElectricFieldCalculator(EMT(), {"Cu": 0.5, "Au": -1.5}, field)
    q = np.array([-1.5, 0.5, 0.5, 0.5])
    np.testing.assert_allclose(atoms.get_forces(), ref.get_forces() + q[:, None] * field)
    assert atoms.get_potential_energy() == pytest.approx(ref.get_potential_energy())
    np.testing.assert_allclose(atoms.get_stress(), ref.get_stress())
    per_atom = ElectricFieldCalculator(EMT(), q, field)
    np.testing.assert_allclose(per_atom.get_forces(atoms), atoms.get_forces())


class FakeCommittee(Calculator):
    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        members = np.arange(2 * len(atoms) * 3, dtype=float).reshape(2, len(atoms), 3)
        self.results = {"energy": 1.0, "forces": members.mean(0), "forces_committee": members,
                        "forces_std": np.ones(len(atoms)), "energy_std": 0.1}


def test_committee_results_are_kept_and_shifted():
    atoms = Atoms("LiF", positions=[[0, 0, 0], [2, 0, 0]], cell=[6.0] * 3, pbc=True)
    calc = ElectricFieldCalculator(FakeCommittee(), {"Li": 1.0, "F": -1.0}, [0.1, 0.0, 0.0])
    atoms.calc = calc
    forces = atoms.get_forces()
    assert calc.results["energy_std"] == 0.1
    np.testing.assert_allclose(calc.results["forces_std"], 1.0)
    np.testing.assert_allclose(calc.results["forces_committee"].mean(0), forces)
    # member mean x-forces are 3 and 6 eV/Å; the field adds +0.1 (Li) and -0.1 (F)
    np.testing.assert_allclose(forces[:, 0], [3.1, 5.9])


def test_missing_charge_and_bad_field_are_clear_errors():
    atoms = Atoms("LiF", positions=[[0, 0, 0], [2, 0, 0]], cell=[6.0] * 3, pbc=True)
    atoms.calc = ElectricFieldCalculator(FakeCommittee(), {"Li": 1.0}, [0.0, 0.0, 0.1])
    with pytest.raises(InputError, match=r"\['F'\]"):
        atoms.get_forces()
    with pytest.raises(InputError, match="3-vector"):
        ElectricFieldCalculator(EMT(), {"Li": 1.0}, [0.1])
