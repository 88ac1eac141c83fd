"""Synthetic Brownian trajectories with exact F(z), D⊥(z), D∥(z) for the free-energy tests.

Generated once per test session (seeded, a few seconds) and shared; a plain
module that test files import directly.
"""

from __future__ import annotations

import functools

import numpy as np

from alearn.protocols import DiffusionProfile, normal_diffusion_profile
from alearn.protocols.free_energy import (
    BrownianRun,
    bin_edges,
    interface_like_landscape,
    simulate_brownian,
)

TEMPERATURE_K = 300.0
LANDSCAPE = interface_like_landscape()
BIN_WIDTH_A = 0.1
LAG_FRAMES = 8  # D τ / Δz² ≈ 6 near the wall, 16 in the bulk


@functools.lru_cache(maxsize=1)
def interface_run() -> BrownianRun:
    """400 particles, 6000 frames every 100 fs (0.6 ns, about 4× the slowest passage)."""
    return simulate_brownian(LANDSCAPE, n_particles=400, n_frames=6001, timestep_fs=10.0,
                             steps_per_frame=10, rng=np.random.default_rng(2024))


@functools.lru_cache(maxsize=1)
def normal_profile() -> DiffusionProfile:
    """D⊥(z) of :func:`interface_run` (10 blocks), shared by the tests that need it."""
    run = interface_run()
    return normal_diffusion_profile(run.z_A, run.frame_interval_fs,
                                    bin_edges_A=bin_edges(*LANDSCAPE.z_range_A, BIN_WIDTH_A),
                                    lag_frames=LAG_FRAMES, n_blocks=10)


def exact_bin_free_energy_kT(edges: np.ndarray) -> np.ndarray:
    """-ln of the exact probability of each bin (normalised over the bins), shape (n,)."""
    fine = np.linspace(edges[0], edges[-1], 200 * (edges.size - 1) + 1)
    mid = 0.5 * (fine[1:] + fine[:-1])
    which = np.minimum(np.searchsorted(edges, mid, side="right") - 1, edges.size - 2)
    prob = np.bincount(which, np.exp(-LANDSCAPE.free_energy_kT(mid)) * np.diff(fine))
    return -np.log(prob / prob.sum())


def aligned_error(estimate: np.ndarray, exact: np.ndarray, stderr: np.ndarray) -> np.ndarray:
    """estimate - exact after removing the best constant (weights 1/stderr²)."""
    diff = estimate - exact
    ok = np.isfinite(diff) & np.isfinite(stderr) & (stderr > 0)
    weights = 1.0 / stderr[ok] ** 2
    return diff - np.sum(weights * diff[ok]) / weights.sum()
