"""Production MD: unwrapped frames, resuming, NPT equilibration."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import read
from transport_synthetic import FreeParticles

from alearn.errors import ConfigError
from alearn.protocols import MDOptions, NPTOptions, load_trajectory, run_md


@pytest.fixture()
def free_calc() -> FreeParticles:
    return FreeParticles()


@pytest.fixture()
def copper() -> Atoms:
    atoms = bulk("Cu", cubic=True).repeat((2, 2, 2))
    atoms.rattle(0.05, seed=1)
    return atoms


def test_nve_resume_reproduces_an_uninterrupted_run(copper, tmp_path):
    opts = MDOptions(temperature_K=300.0, timestep_fs=2.0, n_steps=20, interval_steps=5,
                     thermostat="nve", seed=4)
    whole = run_md(copper, EMT(), tmp_path / "whole.traj", options=opts)
    half = MDOptions(**{**opts.__dict__, "n_steps": 10})
    first = run_md(copper, EMT(), tmp_path / "split.traj", options=half)
    second = run_md(copper, EMT(), tmp_path / "split.traj", options=opts)
    assert (whole.n_frames, first.n_frames, second.n_frames) == (5, 3, 5)
    assert second.resumed and second.start_step == 10 and second.final_step == 20
    a, b = read(tmp_path / "whole.traj", ":"), read(tmp_path / "split.traj", ":")
    assert [f.info["step"] for f in b] == [0, 5, 10, 15, 20]
    for fa, fb in zip(a, b, strict=True):
        np.testing.assert_allclose(fa.positions, fb.positions, atol=1e-10)
        np.testing.assert_allclose(fa.get_momenta(), fb.get_momenta(), atol=1e-10)
    again = run_md(copper, EMT(), tmp_path / "split.traj", options=opts)
    assert again.n_frames == 5 and again.start_step == 20  # complete: nothing to do


def test_resumed_thermostatted_run_is_continuous(copper, tmp_path):
    path = tmp_path / "bussi.traj"
    base = dict(temperature_K=500.0, timestep_fs=2.0, interval_steps=4, thermostat="bussi",
                thermostat_time_fs=20.0)
    run_md(copper, EMT(), path, options=MDOptions(n_steps=40, **base))
    run_md(copper, EMT(), path, options=MDOptions(n_steps=80, **base))
    traj = load_trajectory(path)
    assert traj.n_frames == 21 and traj.frame_interval_fs == 8.0
    assert traj.temperature_K == 500.0 and traj.velocities_A_fs is not None
    steps = np.linalg.norm(np.diff(traj.positions_A, axis=0), axis=2)
    assert steps.max() < 0.5  # no jump at the restart point
    with pytest.raises(ConfigError, match="temperature_K"):
        run_md(copper, EMT(), path, options=MDOptions(n_steps=120, **{**base,
                                                                     "temperature_K": 600.0}))


def test_frames_hold_unwrapped_positions(free_calc, tmp_path):
    rng = np.random.default_rng(0)
    atoms = Atoms("Li8", positions=rng.uniform(0, 5, (8, 3)), cell=[5.0] * 3, pbc=True)
    opts = MDOptions(temperature_K=2000.0, timestep_fs=2.0, n_steps=600, interval_steps=10,
                     thermostat="langevin", thermostat_time_fs=500.0)
    run_md(atoms, free_calc, tmp_path / "free.traj", options=opts)
    raw = np.stack([f.positions for f in read(tmp_path / "free.traj", ":")])
    assert raw.min() < -1.0 or raw.max() > 6.0  # atoms left the cell and were not wrapped
    assert np.abs(np.diff(raw, axis=0)).max() < 2.5  # continuous paths
    np.testing.assert_allclose(load_trajectory(tmp_path / "free.traj").positions_A, raw,
                               atol=1e-9)


def test_npt_equilibration_sets_the_volume(tmp_path):
    atoms = bulk("Cu", cubic=True, a=3.75).repeat((2, 2, 2))  # stretched: NPT must shrink it
    opts = MDOptions(temperature_K=300.0, timestep_fs=2.0, n_steps=10, interval_steps=5,
                     npt=NPTOptions(n_steps=60, barostat_time_fs=100.0,
                                    compressibility_per_bar=7e-7))
    run_md(atoms, EMT(), tmp_path / "npt.traj", options=opts)
    traj = load_trajectory(tmp_path / "npt.traj")
    assert traj.cells_A[0, 0, 0] < 2 * 3.75 - 0.05
    np.testing.assert_allclose(traj.cells_A, np.broadcast_to(traj.cells_A[0], (3, 3, 3)))


def test_npt_without_stress_is_a_clear_error(free_calc, tmp_path):
    atoms = Atoms("Li2", positions=[[0, 0, 0], [2, 2, 2]], cell=[4.0] * 3, pbc=True)
    opts = MDOptions(temperature_K=300.0, timestep_fs=1.0, n_steps=2, interval_steps=1,
                     npt=NPTOptions(n_steps=4))
    with pytest.raises(ConfigError, match="stress"):
        run_md(atoms, free_calc, tmp_path / "x.traj", options=opts)


def test_options_are_validated():
    with pytest.raises(ConfigError, match="multiple"):
        MDOptions(temperature_K=300.0, timestep_fs=1.0, n_steps=15, interval_steps=10)
    with pytest.raises(ConfigError, match="thermostat"):
        MDOptions(temperature_K=300.0, timestep_fs=1.0, n_steps=10, thermostat="berendsen")


def test_output_must_be_an_ase_trajectory(copper, tmp_path):
    opts = MDOptions(temperature_K=300.0, timestep_fs=1.0, n_steps=2, interval_steps=1)
    with pytest.raises(ConfigError, match=r"\*\.traj"):
        run_md(copper, EMT(), tmp_path / "md.xyz", options=opts)
