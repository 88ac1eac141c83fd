"""Overdamped Langevin (Brownian) particles in a known 1-D landscape F(z), D(z).

A reference system with exact answers: the free-energy profile, the diffusion
coefficients normal and parallel to the plane, and (through the Smoluchowski
equation) first-passage times are all known. The estimators of this package
are checked against it, and users can rerun it with their own F(z), D(z), bin
width and frame interval to see how well a given amount of data pins them down.

The normal coordinate follows the Itô equation

    dz = [D(z) (-dβF/dz) + dD/dz] dt + sqrt(2 D(z) dt) ξ

(Euler–Maruyama; the ``dD/dz`` term makes ``exp(-βF)`` the stationary density),
with reflecting walls at both ends of ``z_range_A``. The in-plane coordinates
diffuse freely with ``D_parallel(z)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.integrate import trapezoid

from alearn.errors import ConfigError

ProfileFunction = Callable[[np.ndarray], np.ndarray]

_TABLE_POINTS = 20001
_LOOKUP_POINTS = 100001


@dataclass(frozen=True)
class Landscape:
    """A 1-D free-energy and diffusion landscape between two reflecting walls.

    Parameters
    ----------
    free_energy_kT
        F(z)/kT, vectorised over z in Å.
    diffusion_A2_fs
        D(z) normal to the plane in Å²/fs, vectorised, positive.
    z_range_A
        (lower, upper) wall positions in Å.
    parallel_diffusion_A2_fs
        D_parallel(z) in Å²/fs for the in-plane motion; None: no in-plane motion.
    """

    free_energy_kT: ProfileFunction
    diffusion_A2_fs: ProfileFunction
    z_range_A: tuple[float, float]
    parallel_diffusion_A2_fs: ProfileFunction | None = None

    def __post_init__(self) -> None:
        lo, hi = self.z_range_A
        if not hi > lo:
            raise ConfigError(f"Landscape.z_range_A={self.z_range_A}: need lower < upper")
        grid = np.linspace(lo, hi, 101)
        if not np.all(self.diffusion_A2_fs(grid) > 0):
            raise ConfigError("Landscape.diffusion_A2_fs must be positive on z_range_A")

    def equilibrium_density(self, z_A: np.ndarray) -> np.ndarray:
        """Normalised equilibrium density exp(-βF)/Z in 1/Å at ``z_A`` (numerical Z)."""
        grid = np.linspace(*self.z_range_A, _TABLE_POINTS)
        weight = np.exp(-self.free_energy_kT(grid))
        norm = trapezoid(weight, grid)
        return np.exp(-self.free_energy_kT(np.asarray(z_A, dtype=float))) / norm


@dataclass(frozen=True)
class BrownianRun:
    """Frames of a Brownian-dynamics run.

    Parameters
    ----------
    z_A
        Normal coordinate in Å, shape (F, M) for M independent particles.
    xy_A
        In-plane coordinates in Å (unbounded), shape (F, M, 2), or None.
    frame_interval_fs
        Time between frames in fs.
    timestep_fs
        Integration step in fs.
    """

    z_A: np.ndarray
    xy_A: np.ndarray | None
    frame_interval_fs: float
    timestep_fs: float


def simulate_brownian(
    landscape: Landscape,
    *,
    n_particles: int,
    n_frames: int,
    timestep_fs: float,
    steps_per_frame: int,
    rng: np.random.Generator,
    start_A: np.ndarray | None = None,
) -> BrownianRun:
    """Integrate independent overdamped Langevin particles and keep every frame.

    Parameters
    ----------
    landscape
        F(z), D(z), D_parallel(z) and the walls.
    n_particles
        Number M of independent particles.
    n_frames
        Frames F written (the first is the start).
    timestep_fs
        Euler–Maruyama step in fs. Keep ``sqrt(2 D dt)`` well below the length
        over which F and D change (a few hundredths of an Å is safe).
    steps_per_frame
        Steps between stored frames.
    rng
        Random generator (the run is reproducible from its seed).
    start_A
        Start positions, shape (M,); default: drawn from exp(-βF).

    Returns
    -------
    BrownianRun
    """
    if n_particles < 1 or n_frames < 2 or steps_per_frame < 1 or timestep_fs <= 0:
        raise ConfigError("simulate_brownian: need n_particles >= 1, n_frames >= 2, "
                          "steps_per_frame >= 1 and timestep_fs > 0")
    tables = _Tables(landscape, timestep_fs)
    z = (sample_equilibrium(landscape, n_particles, rng) if start_A is None
         else np.array(start_A, dtype=float))
    in_plane = landscape.parallel_diffusion_A2_fs is not None
    z_out = np.empty((n_frames, n_particles))
    xy_out = np.zeros((n_frames, n_particles, 2)) if in_plane else None
    z_out[0] = z
    xy = np.zeros((n_particles, 2))
    for frame in range(1, n_frames):
        kicks = rng.standard_normal((steps_per_frame, n_particles))
        variance_par = np.zeros(n_particles)
        for kick in kicks:
            drift, noise, noise_par = tables.lookup(z)
            if in_plane:
                variance_par += noise_par**2
            z = tables.reflect(z + drift + noise * kick)
        z_out[frame] = z
        if in_plane:  # the sum of the per-step Gaussian kicks, drawn at once
            xy += np.sqrt(variance_par)[:, None] * rng.standard_normal((n_particles, 2))
            xy_out[frame] = xy
    return BrownianRun(z_out, xy_out, timestep_fs * steps_per_frame, timestep_fs)


def sample_equilibrium(landscape: Landscape, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` positions in Å drawn from exp(-βF) by inverting its cumulative distribution."""
    grid = np.linspace(*landscape.z_range_A, _TABLE_POINTS)
    weight = np.exp(-landscape.free_energy_kT(grid))
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (weight[1:] + weight[:-1]) * np.diff(grid))])
    return np.interp(rng.uniform(0.0, cdf[-1], n), cdf, grid)


class _Tables:
    """Drift and noise amplitudes on a fine grid, looked up at the nearest point.

    The grid spacing (z range / 10⁵) is far below any step or feature length.
    """

    def __init__(self, landscape: Landscape, dt: float) -> None:
        self.lo, self.hi = landscape.z_range_A
        grid = np.linspace(self.lo, self.hi, _LOOKUP_POINTS)
        self.step = grid[1] - grid[0]
        diff = landscape.diffusion_A2_fs(grid)
        d_free = np.gradient(landscape.free_energy_kT(grid), grid)
        par = landscape.parallel_diffusion_A2_fs
        columns = [(-diff * d_free + np.gradient(diff, grid)) * dt, np.sqrt(2.0 * diff * dt)]
        columns.append(np.sqrt(2.0 * par(grid) * dt) if par is not None else 0.0 * grid)
        self.rows = np.ascontiguousarray(np.stack(columns, axis=1))  # (T, 3)

    def lookup(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        row = self.rows[((z - self.lo) / self.step + 0.5).astype(np.intp)]
        return row[:, 0], row[:, 1], row[:, 2]

    def reflect(self, z: np.ndarray) -> np.ndarray:
        z = np.abs(z - self.lo) + self.lo
        return np.clip(self.hi - np.abs(self.hi - z), self.lo, self.hi)


def interface_like_landscape(bulk_diffusion_A2_fs: float = 2e-4) -> Landscape:
    """A landscape shaped like an ion's above an electrode, used by the tests and benchmark.

    Between walls at 0.5 and 8 Å: an adsorption well of -2 kT at 2 Å, a 1 kT
    barrier at 3.2 Å, flat (bulk) beyond about 4.5 Å; D⊥ falls from the bulk
    value to 40 % of it and D∥ to 70 % near the wall (sigmoids centred at 3 Å).
    The default bulk D, 2·10⁻⁴ Å²/fs, is 2·10⁻⁵ cm²/s (a small ion in water).
    """
    d_bulk = float(bulk_diffusion_A2_fs)

    def free_energy_kT(z: np.ndarray) -> np.ndarray:
        return -2.0 * np.exp(-((z - 2.0) / 0.5) ** 2) + np.exp(-((z - 3.2) / 0.4) ** 2)

    def normal(z: np.ndarray) -> np.ndarray:
        return d_bulk * (1.0 - 0.6 / (1.0 + np.exp((z - 3.0) / 0.5)))

    def parallel(z: np.ndarray) -> np.ndarray:
        return d_bulk * (1.0 - 0.3 / (1.0 + np.exp((z - 3.0) / 0.5)))

    return Landscape(free_energy_kT, normal, (0.5, 8.0), parallel)
