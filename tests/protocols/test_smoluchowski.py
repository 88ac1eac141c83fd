"""The Smoluchowski model: exact closed forms, and the numbers counted in Brownian trajectories."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from free_energy_synthetic import (
    BIN_WIDTH_A,
    LANDSCAPE,
    TEMPERATURE_K,
    interface_run,
    normal_profile,
)

from alearn.errors import ConfigError
from alearn.protocols.free_energy import (
    ContinuumNumbers,
    FreeEnergyProfile,
    SmoluchowskiModel,
    bin_edges,
    continuum_numbers,
    first_passage_times,
    histogram_profile,
    mean_first_passage_fs,
)
from alearn.protocols.transport.local_diffusion import DiffusionProfile

BULK = (6.0, 8.0)


def _flat_model(D: float, length: float) -> SmoluchowskiModel:
    edges = bin_edges(0.0, length, 0.1)
    n = edges.size - 1
    free = FreeEnergyProfile(edges, np.zeros(n), np.full(n, 1e-3), 300.0, "exact")
    diff = DiffusionProfile("normal", "exact", edges[1:-1], np.full(n - 1, D),
                            np.full(n - 1, 1e-3 * D), edges, 1.0)
    return SmoluchowskiModel(free, diff)


def test_flat_profile_matches_the_closed_forms():
    D, length = 0.01, 10.0
    model = _flat_model(D, length)
    # reflecting at 0: τ(x0 -> b) = (b² - x0²) / 2D; reflecting at L: mirrored
    assert model.mfpt_fs(2.0, 7.0).value == pytest.approx((49 - 4) / (2 * D), rel=1e-4)
    assert model.mfpt_fs(7.0, 2.0).value == pytest.approx((8**2 - 3**2) / (2 * D), rel=1e-4)
    assert model.resistance_s_m(2.0, 7.0).value == pytest.approx(5.0 / D * 1e-5, rel=1e-6)
    # J = D Δc / (b - a): 1 mol/L = 1000 mol/m³, D = 0.01 Å²/fs = 1e-7 m²/s, 5 Å = 5e-10 m
    assert model.steady_state_flux(2.0, 7.0, 1.0, 0.0).value == pytest.approx(
        1e-7 * 1000.0 / 5e-10, rel=1e-6)
    assert model.transition_rate_per_ns(2.0, 7.0).value == pytest.approx(
        2e6 / (length * 5.0 / D), rel=1e-4)
    with pytest.raises(ConfigError, match="outside"):
        model.mfpt_fs(2.0, 12.0)


@functools.lru_cache(maxsize=1)
def _numbers() -> ContinuumNumbers:
    run = interface_run()
    edges = bin_edges(*LANDSCAPE.z_range_A, BIN_WIDTH_A)
    free = histogram_profile(run.z_A, bin_edges=edges, temperature_K=TEMPERATURE_K, n_blocks=10)
    model = SmoluchowskiModel(free.shifted(BULK), normal_profile())
    return continuum_numbers(model, run.z_A, run.frame_interval_fs, 2.0, 5.0, bulk_range_A=BULK)


def test_model_from_estimated_profiles_matches_passages_counted_in_the_trajectories():
    """Start points in the well and in the bulk: a crossing is seen up to a frame late,
    which matters least where F is flat or at a minimum."""
    numbers = _numbers()
    for key, rel in numbers.relative_differences().items():
        model, md = numbers.model[key], numbers.md[key]
        assert abs(rel) < 0.10, (key, model, md)
        assert abs(model.value - md.value) < 3 * np.hypot(model.stderr, md.stderr), key
    assert set(numbers.md) == {"mfpt_a_to_b_fs", "mfpt_b_to_a_fs", "transition_rate_per_ns",
                               "resistance_s_m"}
    assert numbers.model["flux_mol_m2_s"].value > 0
    assert "model/MD - 1" in str(numbers)


def test_model_with_the_exact_profiles_matches_the_counted_passages():
    run = interface_run()
    edges = bin_edges(*LANDSCAPE.z_range_A, 0.02)
    centres = 0.5 * (edges[1:] + edges[:-1])
    kT = 8.617333262e-5 * TEMPERATURE_K
    n = centres.size
    free = FreeEnergyProfile(edges, LANDSCAPE.free_energy_kT(centres) * kT, np.zeros(n),
                             TEMPERATURE_K, "exact")
    diff = DiffusionProfile("normal", "exact", edges[1:-1], LANDSCAPE.diffusion_A2_fs(
        edges[1:-1]), np.zeros(n - 1), edges, 1.0)
    model = SmoluchowskiModel(free, diff)
    for start, target in ((2.0, 5.0), (5.0, 2.0)):
        md = mean_first_passage_fs(run.z_A, run.frame_interval_fs, start, target)
        rel = model.mfpt_fs(start, target).value / md.value - 1
        assert abs(rel) < max(0.06, 3 * md.stderr / md.value), (start, target, rel)


def test_first_passages_are_counted_by_renewal():
    z = np.array([3.0, 1.0, 2.0, 4.5, 5.2, 4.0, 0.5, 6.0, 1.5, 2.5])
    done, open_ = first_passage_times(z, 10.0, 1.0, 5.0)
    # clocks: enter <=1 at frame 1 -> >=5 at frame 4 (30 fs); back <=1 at frame 6 -> frame 7
    np.testing.assert_allclose(done, [30.0, 10.0])
    np.testing.assert_allclose(open_, [])
    done, open_ = first_passage_times(z, 10.0, 5.0, 1.0)
    np.testing.assert_allclose(done, [20.0])  # frames 4 -> 6
    np.testing.assert_allclose(open_, [20.0])  # from frame 7, not back at <= 1 by frame 9
    with pytest.raises(ConfigError):
        mean_first_passage_fs(z, 10.0, 0.0, 7.0)
