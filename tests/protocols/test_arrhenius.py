"""Arrhenius fit: activation energy, extrapolation and its propagated uncertainty."""

from __future__ import annotations

import numpy as np
import pytest

from alearn.errors import ConfigError
from alearn.protocols import arrhenius_fit
from alearn.protocols.units import KB_EV_PER_K

EA, LN_A = 0.35, np.log(5e7)  # eV, ln(S/m·K)
TEMPS = np.array([600.0, 750.0, 900.0, 1050.0, 1200.0])


def _sigma(t):
    return np.exp(LN_A - EA / (KB_EV_PER_K * t)) / t


def test_exact_data_recovers_parameters():
    sig = _sigma(TEMPS)
    fit = arrhenius_fit(TEMPS, sig, 0.05 * sig, target_temperature_K=300.0)
    assert fit.activation_energy_eV.value == pytest.approx(EA, rel=1e-9)
    assert fit.extrapolated.value == pytest.approx(_sigma(300.0), rel=1e-8)
    lo, hi = fit.extrapolated_interval
    assert lo < fit.extrapolated.value < hi
    assert "E_a" in str(fit) and "300 K" in str(fit)


def test_propagated_errors_match_monte_carlo():
    rng = np.random.default_rng(0)
    sig = _sigma(TEMPS)
    err = 0.10 * sig
    fits = [arrhenius_fit(TEMPS, sig * np.exp(rng.normal(0, 0.10, TEMPS.size)), err)
            for _ in range(400)]
    ea = np.array([f.activation_energy_eV.value for f in fits])
    ln_room = np.log([f.extrapolated.value for f in fits])
    reported_ea = np.median([f.activation_energy_eV.stderr for f in fits])
    reported_ln = np.median([f.extrapolated.stderr / f.extrapolated.value for f in fits])
    assert ea.mean() == pytest.approx(EA, abs=3 * ea.std() / np.sqrt(ea.size))
    # χ² rescaling (never below 1) makes the reported errors slightly conservative
    assert 0.8 < reported_ea / ea.std() < 1.5
    assert 0.8 < reported_ln / ln_room.std() < 1.5


def test_diffusion_form_and_bad_input():
    d = 1e-3 * np.exp(-0.2 / (KB_EV_PER_K * TEMPS))
    fit = arrhenius_fit(TEMPS, d, 0.02 * d, quantity="diffusion", unit="cm²/s")
    assert fit.activation_energy_eV.value == pytest.approx(0.2, rel=1e-9)
    with pytest.raises(ConfigError, match="point 1"):
        arrhenius_fit([600.0, 700.0], [1.0, -1.0], [0.1, 0.1])
    with pytest.raises(ConfigError, match="two or more distinct"):
        arrhenius_fit([600.0, 600.0], [1.0, 1.1], [0.1, 0.1])
