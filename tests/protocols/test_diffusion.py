"""Self-diffusion from the MSD: FFT kernels, known-D Brownian motion, windows, error bars."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from transport_synthetic import Brownian, langevin_particles
from transport_synthetic import brownian_salt as salt

from alearn.errors import ConfigError
from alearn.protocols import (
    FitWindow,
    MDTrajectory,
    TransportOptions,
    detect_linear_regime,
    self_diffusion,
)
from alearn.protocols.transport.correlations import autocorrelation_sum, block_slices, msd_sum


@pytest.fixture(scope="module")
def brownian_salt() -> Brownian:
    return salt()


NO_COM = TransportOptions(remove_com_drift=False)


def test_fft_kernels_match_direct_sums():
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.normal(size=(300, 6)), axis=0) + 50.0
    direct_msd = [np.mean(np.sum((x[m:] - x[: len(x) - m]) ** 2, axis=1)) for m in range(80)]
    np.testing.assert_allclose(msd_sum(x, 79), direct_msd, rtol=1e-9, atol=1e-9)
    direct_acf = [np.mean(np.sum(x[m:] * x[: len(x) - m], axis=1)) for m in range(80)]
    np.testing.assert_allclose(autocorrelation_sum(x, 79), direct_acf, rtol=1e-9)
    with pytest.raises(ConfigError, match="blocks"):
        block_slices(10, 5)


def test_brownian_D_recovered_within_stated_uncertainty(brownian_salt):
    result = self_diffusion(brownian_salt.traj, options=NO_COM)
    true = brownian_salt.D_A2_fs
    for species, d in result.items():
        est = d.D_A2_fs
        assert abs(est.value - true) < 3.0 * est.stderr, (species, est, true)
        assert est.stderr < 0.08 * true
        assert d.window_source == "auto"
    # unit conversions: 1 Å²/fs = 0.1 cm²/s = 1e-5 m²/s
    d = result["Li"]
    assert d.D_cm2_s.value == pytest.approx(0.1 * d.D_A2_fs.value)
    assert d.D_m2_s.value == pytest.approx(1e-5 * d.D_A2_fs.value)


def test_block_error_bars_are_calibrated():
    """Over independent runs the z-scores follow Student's t with n_blocks - 1 dof."""
    z = []
    for seed in range(1000, 1060):
        b = langevin_particles(n_cation=16, n_anion=0, n_frames=3000, seed=seed)
        d = self_diffusion(b.traj, options=NO_COM)["Li"].D_A2_fs
        z.append((d.value - b.D_A2_fs) / d.stderr)
    median_abs = float(np.median(np.abs(z)))
    assert 0.45 < median_abs < 1.1, median_abs  # 0.74 for t with 4 dof


def test_detected_window_starts_after_the_ballistic_regime():
    tau = 20.0  # velocity correlation time, fs
    lag = np.arange(4000) * 5.0
    msd = 6.0 * (lag - tau * (1.0 - np.exp(-lag / tau)))  # exact OU MSD, D = 1
    window = detect_linear_regime(lag, msd, end_fs=4000.0, tolerance=0.05)
    assert tau < window.start_fs < 10 * tau
    assert window.end_fs == pytest.approx(4000.0, abs=5.0)
    inside = (lag >= window.start_fs) & (lag <= window.end_fs)
    assert np.polyfit(lag[inside], msd[inside], 1)[0] == pytest.approx(6.0, rel=0.01)
    # a cage (slope dipping below its long-time value) is not mistaken for diffusion
    # rattling plateau of 5 Å², then diffusion (D = 0.01 Å²/fs) sets in over 300 fs
    cage = 5.0 * (1 - np.exp(-lag / 20.0)) + 0.06 * (lag - 300.0 * (1 - np.exp(-lag / 300.0)))
    late = detect_linear_regime(lag, cage, end_fs=4000.0, tolerance=0.05)
    assert late.start_fs > 600.0
    caged = 1.0 - np.exp(-lag / 100.0)  # MSD saturates: no diffusion
    assert detect_linear_regime(lag, caged, end_fs=4000.0) is None


def test_user_window_is_used_and_checked(brownian_salt):
    opts = TransportOptions(diffusion_window=FitWindow(500.0, 2000.0), remove_com_drift=False)
    d = self_diffusion(brownian_salt.traj, options=opts)["F"]
    assert d.window == FitWindow(500.0, 2000.0) and d.window_source == "user"
    assert abs(d.D_A2_fs.value - brownian_salt.D_A2_fs) < 3 * d.D_A2_fs.stderr
    too_long = TransportOptions(diffusion_window=FitWindow(100.0, 1e6))
    with pytest.raises(ConfigError, match="fit window ends"):
        self_diffusion(brownian_salt.traj, options=too_long)


def test_immobile_species_falls_back_and_warns(caplog):
    rng = np.random.default_rng(5)
    n_frames = 2000
    sites = rng.uniform(0, 10, (1, 8, 3))
    rattle = rng.normal(0, 0.1, (n_frames, 8, 3))  # vibration around fixed sites
    traj = MDTrajectory.from_arrays(["La"] * 8, sites + rattle, np.eye(3) * 10.0,
                                    frame_interval_fs=10.0)
    with caplog.at_level(logging.WARNING):
        d = self_diffusion(traj, options=NO_COM)["La"]
    assert d.window_source == "fallback"
    assert "no linear (diffusive) regime" in caplog.text
    assert abs(d.D_A2_fs.value) < 1e-6
