"""Einstein–Helfand, Green–Kubo and Nernst–Einstein on a system with known conductivity."""

from __future__ import annotations

import json
import math

import pytest
from transport_synthetic import Brownian
from transport_synthetic import brownian_salt as salt

from alearn.errors import ConfigError
from alearn.protocols import (
    FitWindow,
    MDTrajectory,
    TransportOptions,
    analyze_transport,
    arrhenius_from_results,
    green_kubo,
)
from alearn.protocols.units import conductivity_s_per_m


@pytest.fixture(scope="module")
def brownian_salt() -> Brownian:
    return salt()


def _within(a, b, k=2.0):
    return abs(a.value - b.value) <= k * math.hypot(a.stderr, b.stderr)


@pytest.fixture(scope="module")
def salt_result(brownian_salt):
    # independent particles: their centre of mass really diffuses, so keep it
    return analyze_transport(brownian_salt.traj, {"Li": 1.0, "F": -1.0},
                             options=TransportOptions(remove_com_drift=False))


def test_einstein_helfand_and_green_kubo_agree(salt_result):
    eh, gk = salt_result.einstein_helfand.sigma_S_m, salt_result.green_kubo.sigma_S_m
    assert _within(eh, gk), (eh, gk)
    assert eh.stderr / eh.value < 0.25 and gk.stderr / gk.value < 0.25


def test_uncorrelated_ions_have_haven_ratio_one(salt_result, brownian_salt):
    truth = brownian_salt.sigma_NE_S_m  # Σ N q² D / (V kB T) with the exact D
    for est in (salt_result.einstein_helfand.sigma_S_m, salt_result.green_kubo.sigma_S_m,
                salt_result.nernst_einstein_S_m):
        assert abs(est.value - truth) < 3.0 * est.stderr, (est, truth)
    haven = salt_result.haven_ratio
    assert abs(haven.value - 1.0) < 3.0 * haven.stderr, haven
    assert _within(salt_result.nernst_einstein_S_m, salt_result.einstein_helfand.sigma_S_m, 3.0)


def test_centre_of_mass_removal(brownian_salt):
    # equal masses: removing the centre-of-mass drift scales self MSDs by (1 - 1/N) and
    # leaves the charge displacement of a neutral system unchanged
    window = FitWindow(200.0, 2000.0)
    runs = [analyze_transport(brownian_salt.traj, {"Li": 1.0, "F": -1.0},
                              options=TransportOptions(diffusion_window=window, eh_window=window,
                                                       remove_com_drift=flag))
            for flag in (True, False)]
    n = brownian_salt.traj.n_atoms
    ratio = runs[0].nernst_einstein_S_m.value / runs[1].nernst_einstein_S_m.value
    assert ratio == pytest.approx(1.0 - 1.0 / n, abs=0.003)
    assert runs[0].einstein_helfand.sigma_S_m.value == pytest.approx(
        runs[1].einstein_helfand.sigma_S_m.value, rel=1e-9)


def test_conductivity_unit_conversion():
    # 1 e² Å²/fs over 1000 Å³ at 300 K: e·1e25 / (1000 · kB·300 in eV) S/m
    expected = 1.602176634e-19 * 1e25 / (1000.0 * 8.617330337217213e-05 * 300.0)
    assert conductivity_s_per_m(1.0, 1000.0, 300.0) == pytest.approx(expected, rel=1e-9)


def test_result_table_and_json(salt_result, tmp_path):
    text = str(salt_result)
    for needle in ("D(Li)", "σ Einstein–Helfand", "σ Green–Kubo", "Haven", "S/m", "cm²/s"):
        assert needle in text
    salt_result.to_json(tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["einstein_helfand"]["sigma_S_m"]["value"] == pytest.approx(
        salt_result.einstein_helfand.sigma_S_m.value)
    assert data["einstein_helfand"]["sigma_mS_cm"]["value"] == pytest.approx(
        10.0 * salt_result.einstein_helfand.sigma_S_m.value)
    assert "msd_A2" not in data["diffusion"]["Li"]
    salt_result.to_json(tmp_path / "c.json", include_curves=True)
    assert "msd_A2" in json.loads((tmp_path / "c.json").read_text())["diffusion"]["Li"]
    fit = arrhenius_from_results([data, {**data, "temperature_K": 1200.0}])
    assert math.isfinite(fit.activation_energy_eV.value)


def test_green_kubo_needs_velocities(brownian_salt):
    t = brownian_salt.traj
    no_vel = MDTrajectory(t.symbols, t.masses_amu, t.positions_A, t.cells_A, t.time_fs, None,
                          t.temperature_K, "novel.traj")
    with pytest.raises(ConfigError, match="no velocities"):
        green_kubo(no_vel, {"Li": 1.0, "F": -1.0})
    result = analyze_transport(no_vel, {"Li": 1.0, "F": -1.0},
                               options=TransportOptions(n_blocks=4))
    assert result.green_kubo is None and "Green–Kubo" not in str(result)


def test_temperature_is_required_when_not_recorded(brownian_salt):
    t = brownian_salt.traj
    bare = MDTrajectory(t.symbols, t.masses_amu, t.positions_A[:200], t.cells_A[:200],
                        t.time_fs[:200], None, None, "bare.xyz")
    with pytest.raises(ConfigError, match="temperature_K"):
        analyze_transport(bare, {"Li": 1.0, "F": -1.0})
