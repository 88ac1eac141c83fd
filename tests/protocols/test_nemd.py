"""Field-driven MD: drift velocity qE/(mγ), a drift-preserving thermostat, linear response."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms, units
from transport_synthetic import FreeParticles

from alearn.protocols import (
    Estimate,
    FieldResponse,
    FitWindow,
    MDOptions,
    NEMDOptions,
    linear_response,
    load_trajectory,
    nemd_conductivity,
    run_nemd,
)
from alearn.protocols.units import (
    CURRENT_DENSITY_TO_A_PER_M2,
    V_PER_A_TO_V_PER_M,
)


@pytest.fixture()
def free_calc() -> FreeParticles:
    return FreeParticles()


AMU = 1.0 / units.fs**2  # amu in eV fs²/Å²
CHARGES = {"Li": 1.0, "F": -1.0}


def _ions(n_each: int, box: float, seed: int) -> Atoms:
    rng = np.random.default_rng(seed)
    return Atoms(f"Li{n_each}F{n_each}", positions=rng.uniform(0, box, (2 * n_each, 3)),
                 cell=[box] * 3, pbc=True)


def test_drift_velocity_matches_q_e_over_m_gamma(free_calc, tmp_path):
    """Non-interacting ions with Langevin friction γ drift at v = qE/(mγ) (exact)."""
    atoms = _ions(40, 20.0, seed=0)
    gamma = 0.01  # 1/fs
    md = MDOptions(temperature_K=300.0, timestep_fs=4.0, n_steps=2500, interval_steps=10,
                   thermostat="langevin", thermostat_time_fs=1.0 / gamma, seed=7)
    direction = np.array([1.0, 1.0, 0.0]) / np.sqrt(2.0)
    result = nemd_conductivity(atoms, free_calc, CHARGES, tmp_path,
                               field_strengths_V_A=[0.03, 0.06], direction=direction,
                               md_options=md, options=NEMDOptions(discard_fs=500.0))
    masses = {"Li": atoms[0].mass, "F": atoms[-1].mass}
    for resp in result.responses:
        e = resp.field_strength_V_A
        for species, q in CHARGES.items():
            expected = q * e / (masses[species] * AMU * gamma)  # Å/fs
            got = resp.drift_A_fs[species]
            assert abs(got.value - expected) < 3.0 * got.stderr, (species, e, got, expected)
            assert got.stderr < 0.1 * abs(expected)
        mobility = sum(40 * q * q / (masses[s] * AMU * gamma) for s, q in CHARGES.items())
        sigma = mobility / 20.0**3 * CURRENT_DENSITY_TO_A_PER_M2 / V_PER_A_TO_V_PER_M  # S/m
        assert abs(resp.sigma_S_m.value - sigma) < 3.0 * resp.sigma_S_m.stderr
    assert result.breakdown_field_V_A is None
    assert result.max_linear_field_V_A == pytest.approx(0.06)
    assert "no breakdown" in str(result)
    assert (tmp_path / "nemd_E0.03.traj").exists()


def test_peculiar_thermostat_keeps_the_drift(free_calc, tmp_path):
    atoms = _ions(32, 15.0, seed=1)
    field = [0.0, 0.0, 0.05]
    kw = dict(temperature_K=300.0, timestep_fs=2.0, n_steps=500, interval_steps=50,
              thermostat_time_fs=50.0)
    run_nemd(atoms, free_calc, CHARGES, tmp_path / "pec.traj", field_V_A=field,
             options=MDOptions(thermostat="peculiar_bussi", **kw))
    traj = load_trajectory(tmp_path / "pec.traj")
    for species, q in CHARGES.items():
        idx = traj.indices(species)
        gained = traj.velocities_A_fs[-1, idx, 2].mean() - traj.velocities_A_fs[0, idx, 2].mean()
        accel = q * 0.05 / (atoms[idx[0]].mass * AMU)  # Å/fs²
        assert gained == pytest.approx(accel * 1000.0, rel=1e-6)
    from alearn.protocols.transport.field_response import peculiar_temperature

    assert peculiar_temperature(traj.time_slice(500.0)) == pytest.approx(300.0, rel=0.3)

    run_nemd(atoms, free_calc, CHARGES, tmp_path / "global.traj", field_V_A=field,
             options=MDOptions(thermostat="bussi", **kw))
    damped = load_trajectory(tmp_path / "global.traj")
    idx = damped.indices("Li")
    gained = damped.velocities_A_fs[-1, idx, 2].mean() - damped.velocities_A_fs[0, idx, 2].mean()
    assert gained < 0.5 * 0.05 / (atoms[0].mass * AMU) * 1000.0  # a global thermostat damps it


def _response(e: float, sigma: float, err: float) -> FieldResponse:
    est = Estimate(sigma, err, 5)
    return FieldResponse(np.array([0.0, 0.0, e]), est.scaled(e * V_PER_A_TO_V_PER_M), est, {},
                         None, FitWindow(0.0, 1.0), "fake")


def test_linear_response_reports_the_breakdown():
    responses = [_response(0.1, 70.0, 4.0), _response(0.01, 98.0, 12.0),
                 _response(0.02, 103.0, 6.0), _response(0.05, 99.0, 3.0),
                 _response(0.2, 40.0, 3.0)]
    result = linear_response(responses, n_sigma=2.0)
    assert result.max_linear_field_V_A == 0.05 and result.breakdown_field_V_A == 0.1
    assert result.sigma_linear_S_m.value == pytest.approx(100.0, abs=2.0)
    assert [r.field_strength_V_A for r in result.responses] == [0.01, 0.02, 0.05, 0.1, 0.2]
    assert "breaks down at |E| = 0.1 V/Å" in str(result)
