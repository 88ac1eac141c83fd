"""The shipped implementations pass their extension points' conformance checks."""

from __future__ import annotations

import pytest
from ase.build import bulk, molecule

from alearn.calculators import CommitteeCalculator
from alearn.config import CalculatorSettings, EMTSettings, XTBSettings
from alearn.conformance import (
    ConformanceError,
    check_committee_calculator,
    check_method,
    check_oracle,
)
from alearn.methods import method
from alearn.oracles.base import Label
from alearn.oracles.plain import EMTOracle, XTBOracle


def test_emt_and_xtb_oracles_conform():
    cell = bulk("Cu", cubic=True)
    cell.rattle(0.05, seed=1)
    assert check_oracle(EMTOracle(), cell).stress.shape == (6,)
    assert check_oracle(XTBOracle(), molecule("H2O")).stress is None


def test_shipped_methods_conform():
    cell = bulk("Cu", cubic=True)
    cell.rattle(0.05, seed=1)
    assert check_method(method("emt"), EMTSettings(), cell).stress.shape == (6,)
    assert check_method(method("xtb"), XTBSettings(), molecule("H2O")).stress is None
    lj = CalculatorSettings(import_path="ase.calculators.lj:LennardJones")
    assert check_method(method("calculator"), lj, molecule("H2O")).stress is None


def test_committee_calculator_conforms(tiny_models):
    cell = bulk("Cu", cubic=True).repeat((2, 1, 1))
    cell.rattle(0.05, seed=2)
    results = check_committee_calculator(CommitteeCalculator(tiny_models), cell)
    assert results["forces_std"].shape == (8,)


class _Mutating(EMTOracle):
    def label(self, atoms):
        atoms.positions[0, 0] += 0.1
        return super().label(atoms)


class _NoStress(EMTOracle):
    def label(self, atoms):
        full = super().label(atoms)
        return Label(energy=full.energy, forces=full.forces, stress=None)


@pytest.mark.parametrize("oracle, message", [(_Mutating(), "must not modify"),
                                             (_NoStress(), "need label.stress")])
def test_broken_oracles_are_caught(oracle, message):
    with pytest.raises(ConformanceError, match=message):
        check_oracle(oracle, bulk("Cu", cubic=True))
