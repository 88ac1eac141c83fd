"""Synthetic trajectories with known transport coefficients for the protocol tests.

A plain module (not a conftest, so it cannot shadow another ``conftest`` module
that other tests import by name); test files import it directly.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from ase import units
from ase.calculators.calculator import Calculator, all_changes
from scipy.signal import lfilter

from alearn.protocols import MDTrajectory
from alearn.protocols.units import KB_EV_PER_K, conductivity_s_per_m

AMU_EV_FS2_PER_A2 = 1.0 / units.fs**2  # 1 amu in eV fs²/Å²


@dataclass(frozen=True)
class Brownian:
    """Independent Langevin (Ornstein–Uhlenbeck) particles with exact D = kB T / (m γ)."""

    traj: MDTrajectory
    D_A2_fs: float
    sigma_NE_S_m: float


def langevin_particles(*, n_cation: int, n_anion: int, n_frames: int, seed: int,
                       temperature_K: float = 1000.0, mass_amu: float = 7.0,
                       gamma_per_fs: float = 0.05, dt_fs: float = 2.5, stride: int = 2,
                       box_A: float = 12.0, wrap: bool = False) -> Brownian:
    """Non-interacting charged particles (+1 / −1 e) in a cubic box.

    Velocities follow the exact OU update per step ``dt_fs``; positions are the
    trapezoidal integral of the velocities; every ``stride``-th step is stored.
    """
    rng = np.random.default_rng(seed)
    n = n_cation + n_anion
    kt = KB_EV_PER_K * temperature_K
    vstd = np.sqrt(kt / (mass_amu * AMU_EV_FS2_PER_A2))
    a = np.exp(-gamma_per_fs * dt_fs)
    n_steps = n_frames * stride
    noise = rng.standard_normal((n_steps, n * 3)) * vstd * np.sqrt(1 - a * a)
    v0 = rng.standard_normal(n * 3) * vstd
    vel, _ = lfilter([1.0], [1.0, -a], noise, axis=0, zi=(a * v0)[None, :])
    vel = np.concatenate([v0[None], vel])  # (n_steps + 1, 3n)
    steps = 0.5 * (vel[1:] + vel[:-1]) * dt_fs
    pos = np.concatenate([np.zeros((1, n * 3)), np.cumsum(steps, axis=0)])
    pos += rng.uniform(0, box_A, n * 3)
    keep = slice(0, n_steps, stride)
    positions = pos[keep].reshape(n_frames, n, 3)
    velocities = vel[keep].reshape(n_frames, n, 3)
    if wrap:
        positions = np.mod(positions, box_A)
    symbols = ["Li"] * n_cation + ["F"] * n_anion
    traj = MDTrajectory.from_arrays(symbols, positions, np.eye(3) * box_A,
                                    frame_interval_fs=dt_fs * stride, velocities_A_fs=velocities,
                                    masses_amu=np.full(n, mass_amu), temperature_K=temperature_K)
    d = kt / (mass_amu * AMU_EV_FS2_PER_A2 * gamma_per_fs)
    sigma_ne = conductivity_s_per_m(n * d, box_A**3, temperature_K)
    return Brownian(traj, d, sigma_ne)


@functools.lru_cache(maxsize=1)
def brownian_salt() -> Brownian:
    """64 independent ±1 e particles, 20 000 frames every 5 fs (100 ps); built once."""
    return langevin_particles(n_cation=32, n_anion=32, n_frames=20000, seed=1)


class FreeParticles(Calculator):
    """Zero energy and forces: non-interacting particles."""

    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results = {"energy": 0.0, "forces": np.zeros((len(self.atoms), 3))}
