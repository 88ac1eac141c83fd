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


# ---------------------------------------------------------------- fast paths (issue 18)
def _water_box():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from md_models import electrolyte_box

    return electrolyte_box(12, 2)  # 40 atoms, periodic, H Li O F


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_matches_mace_calculator_on_a_periodic_electrolyte(untrained_committee, dtype):
    """Energy, forces, stress and every member, as mace-torch's own calculator gives them
    (float64: to rounding; float32: to float32 precision)."""
    from mace.calculators import MACECalculator

    atoms = _water_box()
    ours = CommitteeCalculator(untrained_committee, dtype=dtype)
    theirs = MACECalculator(model_paths=[str(p) for p in untrained_committee], device="cpu",
                            default_dtype=dtype)
    ours.calculate(atoms, ["energy", "forces", "stress"])
    theirs.calculate(atoms, ["energy", "forces", "stress"])
    tol = 1e-9 if dtype == "float64" else 2e-4
    assert ours.results["energy"] == pytest.approx(theirs.results["energy"], abs=tol)
    np.testing.assert_allclose(ours.results["forces_committee"], theirs.results["forces_comm"],
                               atol=tol)
    np.testing.assert_allclose(ours.results["stress"], theirs.results["stress"], atol=tol / 10)
    assert ours.results["forces"].dtype == np.float64


def test_member_drive_gives_the_driver_then_the_full_committee(untrained_committee):
    atoms = _water_box()
    reference = CommitteeCalculator(untrained_committee)
    reference.calculate(atoms, ["forces"])
    driven = CommitteeCalculator(untrained_committee, drive="member", driver=1)
    work = atoms.copy()
    work.calc = driven
    np.testing.assert_allclose(work.get_forces(), reference.results["forces_committee"][1],
                               atol=1e-12)
    assert "forces_std" not in driven.results
    # a spread asked for at the same positions: the committee's results, as with drive=mean
    np.testing.assert_allclose(work.calc.get_property("forces_std", work),
                               reference.results["forces_std"], atol=1e-12)
    np.testing.assert_allclose(driven.results["forces"], reference.results["forces"],
                               atol=1e-12)
    with driven.driving("mean"):
        np.testing.assert_allclose(work.get_forces(), reference.results["forces"], atol=1e-12)
    assert driven.drive == "member"
    with pytest.raises(ValueError, match="driver=5"):
        CommitteeCalculator(untrained_committee, drive="member", driver=5)


def test_compilation_failure_falls_back_to_eager(untrained_committee, caplog):
    """A compile mode torch refuses: logged, and the results are the eager ones."""
    atoms = _water_box()
    eager = CommitteeCalculator(untrained_committee)
    failing = CommitteeCalculator(untrained_committee, compile_mode="no-such-mode")
    assert failing.members.compiled
    eager.calculate(atoms, ["forces"])
    with caplog.at_level("WARNING"):
        failing.calculate(atoms, ["forces"])
    assert "running the members eagerly" in caplog.text
    assert not failing.members.compiled
    np.testing.assert_allclose(failing.results["forces_committee"],
                               eager.results["forces_committee"], atol=1e-12)
    atoms.positions[0] += 0.05  # a new structure: built unpadded from now on
    failing.calculate(atoms, ["forces"])
    eager.calculate(atoms, ["forces"])
    assert not failing._builder.pad
    np.testing.assert_allclose(failing.results["forces"], eager.results["forces"], atol=1e-12)


@pytest.mark.slow
def test_compiled_members_match_eager(untrained_committee):
    """mace-torch's compile preparation + torch.compile (minutes on a CPU): the same forces
    and stress as eager, with two torch threads (multi-threaded inductor kernels once gave
    forces off by 1e-3 eV/Å), over steps whose edges change within the padded budget."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        _compare_compiled(untrained_committee)
    finally:
        torch.set_num_threads(threads)


def _compare_compiled(untrained_committee):
    atoms = _water_box()
    eager = CommitteeCalculator(untrained_committee[:1])
    compiled = CommitteeCalculator(untrained_committee[:1], compile_mode="default")
    for step in range(3):
        atoms.positions += 0.01 * np.random.default_rng(step).normal(size=atoms.positions.shape)
        eager.calculate(atoms, ["forces", "stress"])
        compiled.calculate(atoms, ["forces", "stress"])
        assert compiled.members.compiled
        np.testing.assert_allclose(compiled.results["forces"], eager.results["forces"],
                                   atol=1e-10)
        np.testing.assert_allclose(compiled.results["stress"], eager.results["stress"],
                                   atol=1e-11)


CUDA = pytest.mark.skipif(not __import__("torch").cuda.is_available(),
                          reason="no CUDA device here: the GPU path is checked where there is one")


@CUDA
def test_cuda_matches_cpu(untrained_committee):
    atoms = _water_box()
    cpu = CommitteeCalculator(untrained_committee)
    gpu = CommitteeCalculator(untrained_committee, device="cuda")
    cpu.calculate(atoms, ["forces", "stress"])
    gpu.calculate(atoms, ["forces", "stress"])
    np.testing.assert_allclose(gpu.results["forces_committee"], cpu.results["forces_committee"],
                               atol=1e-9)
    np.testing.assert_allclose(gpu.results["stress"], cpu.results["stress"], atol=1e-10)
    assert gpu.descriptors(atoms).shape == cpu.descriptors(atoms).shape


@CUDA
@pytest.mark.slow
def test_cuda_compiled_float32_matches_cpu(untrained_committee):
    atoms = _water_box()
    cpu = CommitteeCalculator(untrained_committee[:1])
    gpu = CommitteeCalculator(untrained_committee[:1], device="cuda", dtype="float32",
                              compile_mode="default")
    cpu.calculate(atoms, ["forces"])
    gpu.calculate(atoms, ["forces"])
    assert gpu.members.compiled
    np.testing.assert_allclose(gpu.results["forces"], cpu.results["forces"], atol=1e-3)
