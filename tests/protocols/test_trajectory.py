"""Reading trajectories and unwrapping periodic positions."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.io import write
from transport_synthetic import Brownian
from transport_synthetic import brownian_salt as salt

from alearn.errors import ConfigError
from alearn.protocols import MDTrajectory, analyze_transport, load_trajectory, unwrap_positions


@pytest.fixture(scope="module")
def brownian_salt() -> Brownian:
    return salt()


def _random_walk(rng: np.random.Generator, n_frames: int, n_atoms: int, step: float) -> np.ndarray:
    return np.cumsum(rng.normal(0.0, step, (n_frames, n_atoms, 3)), axis=0)


def test_unwrap_orthorhombic_recovers_continuous_paths():
    rng = np.random.default_rng(0)
    cell = np.diag([5.0, 6.0, 7.0])
    true = _random_walk(rng, 500, 8, 0.4)  # crosses the boundaries many times
    wrapped = np.mod(true, np.diag(cell))
    assert np.ptp(true) > 3 * 7.0, "test needs atoms that cross the cell several times"
    unwrapped = unwrap_positions(wrapped, np.broadcast_to(cell, (500, 3, 3)))
    shift = unwrapped - true
    np.testing.assert_allclose(shift, np.broadcast_to(shift[0], shift.shape), atol=1e-9)


def test_unwrap_triclinic_cell():
    rng = np.random.default_rng(1)
    cell = np.array([[6.0, 0.0, 0.0], [2.5, 5.5, 0.0], [1.0, 1.5, 6.5]])
    true = _random_walk(rng, 400, 5, 0.3)
    frac = np.mod(true @ np.linalg.inv(cell), 1.0)
    wrapped = frac @ cell
    unwrapped = unwrap_positions(wrapped, np.broadcast_to(cell, (400, 3, 3)))
    drift = unwrapped - true
    np.testing.assert_allclose(drift, np.broadcast_to(drift[0], drift.shape), atol=1e-9)


def test_unwrap_is_a_no_op_on_unwrapped_input():
    rng = np.random.default_rng(2)
    true = _random_walk(rng, 100, 4, 0.3) + 20.0
    cells = np.broadcast_to(np.eye(3) * 8.0, (100, 3, 3))
    np.testing.assert_allclose(unwrap_positions(true, cells), true, atol=1e-9)


@pytest.mark.parametrize("suffix", ["traj", "extxyz"])
def test_load_wrapped_file_with_momenta(tmp_path, suffix):
    rng = np.random.default_rng(3)
    true = _random_walk(rng, 60, 4, 0.5)
    frames = []
    for pos in true:
        atoms = Atoms("Li2F2", positions=pos, cell=[4.0, 4.0, 4.0], pbc=True)
        atoms.wrap()
        atoms.set_momenta(rng.normal(size=(4, 3)))
        frames.append(atoms)
    path = tmp_path / f"user.{suffix}"
    write(path, frames)
    traj = load_trajectory(path, frame_interval_fs=2.0)
    assert traj.n_frames == 60 and traj.frame_interval_fs == 2.0
    shift = traj.positions_A - true
    np.testing.assert_allclose(shift, np.broadcast_to(shift[0], shift.shape), atol=1e-6)
    expected_v = frames[7].get_velocities() * 0.09822694788464063
    np.testing.assert_allclose(traj.velocities_A_fs[7], expected_v, rtol=1e-6)
    sub = load_trajectory(path, frame_interval_fs=2.0, start=10, stride=2)
    assert sub.n_frames == 25 and sub.frame_interval_fs == 4.0


def test_missing_time_information_is_a_clear_error(tmp_path):
    frames = [Atoms("Li", positions=[[0, 0, float(k)]], cell=[5, 5, 5], pbc=True) for k in range(3)]
    write(tmp_path / "t.xyz", frames)
    with pytest.raises(ConfigError, match="frame_interval_fs"):
        load_trajectory(tmp_path / "t.xyz")


def test_non_uniform_frames_are_rejected():
    pos = np.zeros((4, 1, 3))
    with pytest.raises(ConfigError, match="not uniformly spaced"):
        MDTrajectory(("Li",), np.ones(1), pos, np.broadcast_to(np.eye(3), (4, 3, 3)),
                     np.array([0.0, 1.0, 2.0, 4.0]))


def test_species_without_charge_is_named(brownian_salt):
    with pytest.raises(ConfigError, match=r"\['F'\]"):
        analyze_transport(brownian_salt.traj, {"Li": 1.0})
