"""D⊥(z) by Hummer's transition-matrix likelihood and D∥(z) by survivor MSD, on exact data."""

from __future__ import annotations

import json

import numpy as np
import pytest
from free_energy_synthetic import (
    LANDSCAPE,
    aligned_error,
    exact_bin_free_energy_kT,
    interface_run,
    normal_profile,
)

from alearn.errors import ConfigError
from alearn.protocols import (
    DiffusionProfile,
    normal_diffusion_profile,
    parallel_diffusion_profile,
)
from alearn.protocols.free_energy import bin_edges
from alearn.protocols.transport import transition_matrix as tm


def test_normal_diffusion_recovers_the_exact_profile_within_its_error_bars():
    prof = normal_profile()
    exact = LANDSCAPE.diffusion_A2_fs(prof.z_A)
    rel = (prof.D_A2_fs - exact) / exact
    assert np.sqrt(np.mean(rel**2)) < 0.10
    assert abs(np.mean(rel)) < 0.03  # no systematic bias beyond the noise
    chi2 = np.mean(((prof.D_A2_fs - exact) / prof.stderr_A2_fs) ** 2)
    assert chi2 < 3.0, chi2  # t-distributed with 9 dof: expected about 1.3
    # the surface slowdown (D falls to 40 % of bulk) is resolved
    near, far = prof.plateau((0.6, 1.5)), prof.plateau((6.0, 7.9))
    assert abs(near.value / far.value - 0.4 / 1.0) < 0.08
    # F from the same fit matches the exact profile
    err = aligned_error(prof.free_energy_kT, exact_bin_free_energy_kT(prof.bin_edges_A),
                        np.ones_like(prof.free_energy_kT))
    assert np.sqrt(np.mean(err**2)) < 0.1


def test_parallel_diffusion_recovers_the_exact_profile_within_its_error_bars():
    run = interface_run()
    prof = parallel_diffusion_profile(run.z_A, run.xy_A, run.frame_interval_fs,
                                      bin_edges_A=bin_edges(*LANDSCAPE.z_range_A, 0.5),
                                      fit_lags_frames=(1, 4), n_blocks=10)
    exact = LANDSCAPE.parallel_diffusion_A2_fs(prof.z_A)
    rel = (prof.D_A2_fs - exact) / exact
    assert np.sqrt(np.mean(rel**2)) < 0.05
    assert np.mean(((prof.D_A2_fs - exact) / prof.stderr_A2_fs) ** 2) < 3.0
    assert prof.direction == "parallel" and prof.lag_fs == (100.0, 400.0)


def test_likelihood_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    counts = rng.integers(0, 50, (6, 6)).astype(float)
    f, g = rng.normal(size=6), 0.3 * rng.normal(size=5)
    _, grad_f, grad_g = tm._log_likelihood_and_gradient(f, g, counts, 0.7)
    step = 1e-5
    for i in range(6):
        e = np.zeros(6)
        e[i] = step
        num = (tm._log_likelihood(f + e, g, counts, 0.7)[0]
               - tm._log_likelihood(f - e, g, counts, 0.7)[0]) / (2 * step)
        assert num == pytest.approx(grad_f[i], rel=1e-5, abs=1e-5)
    for i in range(5):
        e = np.zeros(5)
        e[i] = step
        num = (tm._log_likelihood(f, g + e, counts, 0.7)[0]
               - tm._log_likelihood(f, g - e, counts, 0.7)[0]) / (2 * step)
        assert num == pytest.approx(grad_g[i], rel=1e-5, abs=1e-5)


def test_free_diffusion_between_walls_gives_the_constant_d():
    """Flat F, constant D: the fit returns D and a flat F at every bin."""
    rng = np.random.default_rng(5)
    steps = rng.normal(0.0, np.sqrt(2 * 0.01 * 1.0), size=(20000, 50))  # D = 0.01 Å²/fs
    z = np.abs(np.cumsum(steps, axis=0) + rng.uniform(0, 3, 50))
    z = 3.0 - np.abs(np.mod(z, 6.0) - 3.0)  # reflected into [0, 3]
    prof = normal_diffusion_profile(z, 1.0, bin_edges_A=bin_edges(0.0, 3.0, 0.25),
                                    lag_frames=20, n_blocks=5)
    assert np.allclose(prof.D_A2_fs, 0.01, rtol=0.1)
    assert np.ptp(prof.free_energy_kT) < 0.15


def test_json_round_trip_and_input_errors(tmp_path):
    prof = normal_profile()
    prof.to_json(tmp_path / "d.json")
    back = DiffusionProfile.from_dict(json.loads((tmp_path / "d.json").read_text()))
    np.testing.assert_allclose(back.D_A2_fs, prof.D_A2_fs)
    np.testing.assert_allclose(back.blocks_A2_fs, prof.blocks_A2_fs)
    assert back.lag_fs == prof.lag_fs
    rng = np.random.default_rng(0)  # a main region and a far excursion, not connected
    z = np.concatenate([rng.uniform(0.1, 0.5, 300), np.full(20, 0.95)])[:, None]
    prof = normal_diffusion_profile(z, 1.0, bin_edges_A=bin_edges(0.0, 1.0, 0.1), n_blocks=2)
    assert np.isfinite(prof.D_A2_fs[1:4]).all()  # interfaces of bins 1-4 (0.1-0.5 Å)
    assert np.isnan(prof.D_A2_fs[[0, *range(4, 9)]]).all()
    with pytest.raises(ConfigError, match="fewer than 2"):
        normal_diffusion_profile(np.full((50, 1), 0.15), 1.0,
                                 bin_edges_A=bin_edges(0.0, 1.0, 0.1), n_blocks=2)
    with pytest.raises(ConfigError, match="equally spaced"):
        normal_diffusion_profile(z, 1.0, bin_edges_A=np.array([0.0, 0.1, 0.5, 1.0]))
