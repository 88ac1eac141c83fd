"""Uncertainty-biased exploration (hyperactive learning) on a real tiny committee."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.optimize import BFGS

from alearn.calculators import CommitteeCalculator, UncertaintyBiasedCalculator
from alearn.config import MDConfig, UncertaintyConfig
from alearn.exploration import WalkerSpec, run_walker


def _cu(seed: int = 0):
    atoms = bulk("Cu", cubic=True).repeat((2, 1, 1))
    atoms.rattle(0.1, seed=seed)
    return atoms


def _energy(calc, atoms) -> float:
    probe = atoms.copy()
    probe.calc = calc
    return probe.get_potential_energy()


def test_biased_forces_and_stress_are_the_gradients_of_the_biased_energy(tiny_models):
    calc = UncertaintyBiasedCalculator(CommitteeCalculator(tiny_models), strength=3.0)
    atoms = _cu()
    atoms.calc = calc
    forces, stress = atoms.get_forces(), atoms.get_stress(voigt=False)
    assert calc.results["bias_energy"] < 0
    h = 1e-4
    for a, i in [(0, 0), (3, 2), (5, 1)]:
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[a, i] += h
        minus.positions[a, i] -= h
        numeric = -(_energy(calc, plus) - _energy(calc, minus)) / (2 * h)
        assert forces[a, i] == pytest.approx(numeric, abs=1e-5)
    for i, j in [(0, 0), (1, 2)]:
        strain = np.eye(3)
        strain[i, j] += h
        plus = atoms.copy()
        plus.set_cell(atoms.cell @ strain, scale_atoms=True)
        strain[i, j] -= 2 * h
        minus = atoms.copy()
        minus.set_cell(atoms.cell @ strain, scale_atoms=True)
        numeric = (_energy(calc, plus) - _energy(calc, minus)) / (2 * h) / atoms.get_volume()
        assert stress[i, j] == pytest.approx(numeric, abs=1e-6)


def test_zero_strength_is_the_committee_mean(tiny_models):
    committee = CommitteeCalculator(tiny_models)
    atoms = _cu()
    atoms.calc = UncertaintyBiasedCalculator(committee, strength=0.0)
    forces = atoms.get_forces()
    np.testing.assert_allclose(forces, atoms.calc.results["unbiased_forces"], atol=1e-12)
    assert atoms.get_potential_energy() == pytest.approx(_energy(committee, atoms), abs=1e-12)


def _cu4() -> Atoms:
    """A Cu4 cluster: far from the bulk data, so the members' energy spread varies with
    the geometry (in the perfect crystal every gradient vanishes by symmetry)."""
    atoms = Atoms("Cu4", positions=[[0, 0, 0], [2.5, 0, 0], [1.25, 2.1, 0], [1.25, 0.7, 2.0]])
    atoms.rattle(0.05, seed=1)
    return atoms


def test_the_biased_minimum_lies_at_higher_spread(tiny_models):
    committee = CommitteeCalculator(tiny_models)
    spread = []
    for tau in (0.0, 0.5, 2.0):
        atoms = _cu4()
        atoms.calc = UncertaintyBiasedCalculator(committee, strength=tau)
        BFGS(atoms, logfile=None).run(fmax=0.005, steps=300)
        spread.append(atoms.calc.results["energy_std"])
    assert spread[0] < spread[1] < spread[2], spread


def test_the_bias_raises_the_visited_uncertainty_and_frames_stay_unbiased(tiny_models):
    committee = CommitteeCalculator(tiny_models)
    ucfg = UncertaintyConfig(lo=1e-4, hi=50.0)
    spread = {}
    for tau in (0.0, 5.0):
        md = MDConfig(temperature_K=300.0, timestep_fs=2.0, steps=100, sample_interval=5,
                      uncertainty_bias=tau)
        spec = WalkerSpec(system="cu4", walker=0, iteration=1, temperature_K=300.0, seed=5,
                          md=md)
        result = run_walker(_cu4(), committee, spec, ucfg)
        assert result.stop_reason is None and len(result.frames) == 21
        spread[tau] = np.mean([f.info["unc_energy_std_per_atom"] for f in result.frames[1:]])
        for frame in result.frames[::5]:  # recorded: the committee's own prediction
            assert frame.info["pred_energy"] == pytest.approx(_energy(committee, frame),
                                                              abs=1e-9)
            assert ("bias_energy" in frame.info) == (tau > 0)
    assert spread[5.0] > 1.08 * spread[0.0], spread
