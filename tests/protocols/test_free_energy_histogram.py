"""F(z) by Boltzmann inversion: exact recovery on Brownian particles, pymbar cross-check."""

from __future__ import annotations

import numpy as np
import pytest
from free_energy_synthetic import (
    BIN_WIDTH_A,
    LANDSCAPE,
    TEMPERATURE_K,
    aligned_error,
    exact_bin_free_energy_kT,
    interface_run,
)

from alearn.errors import ConfigError
from alearn.protocols.free_energy import FreeEnergyProfile, bin_edges, histogram_profile
from alearn.protocols.free_energy.mbar import import_pymbar
from alearn.protocols.units import KB_EV_PER_K


def _profile(n_blocks: int = 10) -> FreeEnergyProfile:
    edges = bin_edges(*LANDSCAPE.z_range_A, BIN_WIDTH_A)
    return histogram_profile(interface_run().z_A, bin_edges=edges, temperature_K=TEMPERATURE_K,
                             n_blocks=n_blocks, cv="z (Å)")


def test_histogram_recovers_the_exact_profile_within_its_error_bars():
    prof = _profile()
    err = aligned_error(prof.F_kT, exact_bin_free_energy_kT(prof.bin_edges), prof.stderr_kT)
    assert np.sqrt(np.mean(err**2)) < 0.1  # kT
    chi2 = np.mean((err / prof.stderr_kT) ** 2)
    assert 0.3 < chi2 < 2.0, chi2  # errors neither too small nor too large
    assert np.mean(np.abs(err) < 2 * prof.stderr_kT) > 0.85
    assert prof.F_eV.min() == 0.0 and prof.counts.sum() == interface_run().z_A.size


def test_histogram_agrees_with_pymbar_fes_on_the_same_samples():
    """pymbar's histogram FES of one unbiased state is -ln(bin weight): the same numbers."""
    prof = _profile()
    pymbar = import_pymbar()
    x = interface_run().z_A[::50, ::2].ravel()  # fewer samples keep pymbar quick
    mine = histogram_profile(x[:, None], bin_edges=prof.bin_edges, temperature_K=TEMPERATURE_K)
    fes = pymbar.FES(np.zeros((1, x.size)), np.array([x.size]))
    fes.generate_fes(np.zeros(x.size), x[:, None], fes_type="histogram",
                     histogram_parameters={"bin_edges": [prof.bin_edges]})
    theirs = fes.get_fes(prof.centers[:, None], reference_point="from-lowest",
                         uncertainty_method="analytical")
    np.testing.assert_allclose(mine.F_kT, theirs["f_i"], atol=1e-9)
    # samples 5 ps apart are nearly independent: block errors and pymbar's multinomial
    # errors (relative to the lowest bin, so not identical) are of the same size
    ratio = mine.stderr_kT / np.where(theirs["df_i"] > 0, theirs["df_i"], np.nan)
    assert 0.6 < np.nanmedian(ratio) < 1.6


def test_spherical_jacobian_makes_an_ideal_gas_flat():
    rng = np.random.default_rng(3)
    points = rng.uniform(-5.0, 5.0, size=(200_000, 3))
    r = np.linalg.norm(points, axis=1)
    r = r[r < 5.0].reshape(-1, 1)
    prof = histogram_profile(r, bin_edges=bin_edges(0.5, 5.0, 0.25), temperature_K=300.0,
                             jacobian="spherical")
    assert np.abs(prof.F_kT - np.average(prof.F_kT, weights=prof.counts)).max() < 0.1
    plain = histogram_profile(r, bin_edges=bin_edges(0.5, 5.0, 0.25), temperature_K=300.0)
    np.testing.assert_allclose(plain.F_kT[-1] - plain.F_kT[0],
                               -2 * np.log(plain.centers[-1] / plain.centers[0]), atol=0.1)


def test_profile_shift_difference_and_json_round_trip(tmp_path):
    prof = _profile(n_blocks=5)
    bulk = prof.shifted((6.0, 8.0))
    inside = (bulk.centers >= 6.0) & (bulk.centers <= 8.0)
    assert abs(np.mean(bulk.F_eV[inside])) < 1e-12
    np.testing.assert_allclose(np.nanmean(bulk.blocks_eV[:, inside], axis=1), 0.0, atol=1e-12)
    kT = KB_EV_PER_K * TEMPERATURE_K
    barrier = bulk.difference((1.5, 2.5), (2.8, 3.6))  # exact: from the -2 kT well over 1 kT
    exact = LANDSCAPE.free_energy_kT(np.array([3.2]))[0] - LANDSCAPE.free_energy_kT(
        np.array([2.0]))[0]
    assert abs(barrier.value / kT - exact) < max(0.15, 3 * barrier.stderr / kT)
    assert barrier.n_blocks == 5
    bulk.to_json(tmp_path / "f.json")
    back = FreeEnergyProfile.from_dict(__import__("json").loads((tmp_path / "f.json").read_text()))
    np.testing.assert_allclose(back.F_eV, bulk.F_eV)
    np.testing.assert_allclose(back.blocks_eV, bulk.blocks_eV)
    with pytest.raises(ConfigError, match="no sampled bin"):
        bulk.shifted((20.0, 30.0))
