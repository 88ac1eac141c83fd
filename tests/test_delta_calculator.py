"""DeltaCalculator: baseline + committee, exact sums, forces and stress consistent
with the energy, the committee's uncertainty passed through; the Δ pipeline
(label, baseline, train on DELTA_*, explore on baseline + committee)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.calculators.calculator import CalculatorSetupError
from ase.calculators.emt import EMT
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress
from ase.calculators.singlepoint import SinglePointCalculator

from alearn.baselines import add_baseline, make_baseline
from alearn.calculators import CommitteeCalculator, DeltaCalculator
from alearn.config import BaselineConfig, CommitteeConfig, MDConfig, UncertaintyConfig
from alearn.oracles.plain import XTBOracle
from alearn.training import MemberJob, train_member, write_extxyz

# Tight SCF so that finite differences of the energy are clean.
BASELINE = BaselineConfig(kind="xtb", xtb={"method": "GFN1-xTB", "accuracy": 0.01})
TARGET = XTBOracle(BaselineConfig(kind="xtb", xtb={"method": "GFN2-xTB"}).xtb)


def _water_frames(n: int, seed: int) -> list[Atoms]:
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        atoms = molecule("H2O")
        atoms.positions += rng.normal(0, 0.08, atoms.positions.shape)
        frames.append(atoms)
    return frames


@pytest.fixture(scope="session")
def delta_frames() -> list[Atoms]:
    """Water frames labeled by GFN2-xTB (target) with the GFN1-xTB baseline added."""
    frames = []
    for atoms in _water_frames(12, seed=1):
        label = TARGET.label(atoms)
        atoms.info["REF_energy"] = label.energy
        atoms.arrays["REF_forces"] = label.forces
        frames.append(atoms)
    return add_baseline(frames, BASELINE)


@pytest.fixture(scope="session")
def tiny_committee(tmp_path_factory, delta_frames) -> list[Path]:
    """Two tiny MACE models (H, O) trained on DELTA_* by mace-torch, 5 epochs."""
    out = tmp_path_factory.mktemp("delta_committee")
    cfg = CommitteeConfig(size=2, model={"num_channels": 8, "r_max": 4.0},
                          training={"max_num_epochs": 5, "batch_size": 4, "e0s": "average"})
    write_extxyz(delta_frames[:10], out / "train.xyz")
    write_extxyz(delta_frames[10:], out / "valid.xyz")
    paths = []
    for k in range(2):
        job = MemberJob(index=k, seed=k + 1, train_file=out / "train.xyz",
                        valid_file=out / "valid.xyz", model_path=out / f"member_{k}.model",
                        init_model=None, epochs=5)
        train_member(cfg, job, atomic_numbers=[1, 8], has_stress=False, threads=1,
                     target="DELTA")
        paths.append(job.model_path)
    return paths


@pytest.fixture()
def dimer() -> Atoms:
    """A water dimer, a structure none of the training frames is."""
    a = molecule("H2O")
    b = molecule("H2O")
    b.rotate(90, "x")
    b.translate((0, 0, 2.9))
    atoms = a + b
    atoms.rattle(0.02, seed=4)
    return atoms


def test_energy_is_baseline_plus_committee_exactly(tiny_committee, dimer):
    calc = DeltaCalculator(make_baseline(BASELINE), CommitteeCalculator(tiny_committee))
    dimer.calc = calc
    energy = dimer.get_potential_energy()
    r = calc.results
    assert energy == r["baseline_energy"] + r["correction_energy"]
    assert r["free_energy"] == energy

    base, committee = dimer.copy(), dimer.copy()
    base.calc, committee.calc = make_baseline(BASELINE), CommitteeCalculator(tiny_committee)
    assert r["baseline_energy"] == base.get_potential_energy()
    assert r["correction_energy"] == committee.get_potential_energy()
    assert energy == base.get_potential_energy() + committee.get_potential_energy()
    np.testing.assert_array_equal(dimer.get_forces(), r["baseline_forces"] + r["correction_forces"])
    # separate xTB runs agree to rounding only (threaded linear algebra)
    np.testing.assert_allclose(dimer.get_forces(), base.get_forces() + committee.get_forces(),
                               rtol=0, atol=1e-12)


def test_forces_are_the_energy_gradient(tiny_committee, dimer):
    dimer.calc = DeltaCalculator(make_baseline(BASELINE), CommitteeCalculator(tiny_committee))
    numerical = calculate_numerical_forces(dimer, eps=1e-4)
    np.testing.assert_allclose(dimer.get_forces(), numerical, atol=2e-4)


def test_committee_uncertainty_and_parts(tiny_committee, dimer):
    committee = CommitteeCalculator(tiny_committee)
    calc = DeltaCalculator(make_baseline(BASELINE), committee)
    dimer.calc = calc
    dimer.get_forces()
    r, n = calc.results, len(dimer)
    assert r["energy_std"] == committee.results["energy_std"] > 0
    assert r["forces_std"].shape == (n,)
    assert r["forces_committee"].shape == (2, n, 3)
    assert r["energies_committee"].shape == (2,)
    np.testing.assert_array_equal(r["forces"], r["baseline_forces"] + r["correction_forces"])
    np.testing.assert_array_equal(r["correction_forces"], committee.results["forces"])
    assert "stress" not in r  # not periodic
    assert calc.get_property("forces_std", dimer).shape == (n,)
    assert calc.descriptors(dimer).ndim == 1


def test_periodic_stress_is_summed_and_consistent(tiny_committee):
    box = molecule("H2O") + molecule("H2O")
    box.positions[3:] += (2.6, 0.3, 0.4)
    box.set_cell([5.5, 5.0, 5.2])
    box.pbc = True
    box.rattle(0.02, seed=2)
    calc = DeltaCalculator(EMT(), CommitteeCalculator(tiny_committee))
    box.calc = calc
    stress = box.get_stress()
    r = calc.results
    assert stress.shape == (6,)
    np.testing.assert_array_equal(stress, r["baseline_stress"] + r["correction_stress"])
    np.testing.assert_allclose(stress, calculate_numerical_stress(box, eps=1e-6), atol=2e-6)


def test_needs_energy_and_forces_from_both():
    no_forces = SinglePointCalculator(molecule("H2O"), energy=0.0)
    no_forces.implemented_properties = ["energy"]
    with pytest.raises(CalculatorSetupError, match="forces"):
        DeltaCalculator(EMT(), no_forces)


def test_delta_pipeline_explores_on_baseline_plus_committee(tiny_committee, delta_frames):
    """Labels → baseline → committee trained on DELTA_* → MD on baseline + committee,
    with the committee's uncertainty on every sampled frame."""
    from alearn.exploration import WalkerSpec, run_walker

    frame = delta_frames[0]
    np.testing.assert_allclose(frame.arrays["DELTA_forces"],
                               frame.arrays["REF_forces"] - frame.arrays["BASE_forces"])
    calc = DeltaCalculator(make_baseline(BASELINE), CommitteeCalculator(tiny_committee))
    spec = WalkerSpec(system="water", walker=0, iteration=1, temperature_K=300.0, seed=3,
                      md=MDConfig(steps=10, sample_interval=5, timestep_fs=0.5))
    result = run_walker(molecule("H2O"), calc, spec, UncertaintyConfig(lo=0.0, hi=50.0))
    assert result.stop_reason is None
    assert len(result.frames) == 3
    assert all(f.info["unc_max_force_std"] > 0 for f in result.frames)
