"""Harmonic restraints on real ASE dynamics, umbrella windows (resumable), MBAR barriers."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import add_adsorbate, fcc111
from ase.calculators.emt import EMT
from ase.calculators.fd import calculate_numerical_forces
from free_energy_synthetic import aligned_error

from alearn.errors import ConfigError
from alearn.protocols import ElectrodePlane, MDOptions, load_trajectory, run_md
from alearn.protocols.free_energy import (
    CoordinationNumber,
    Distance,
    DoubleWell,
    HarmonicRestraint,
    HeightAbovePlane,
    Landscape,
    UmbrellaWindows,
    bin_edges,
    displaced_starts,
    mbar_profile,
    run_umbrella,
    simulate_brownian,
    umbrella_profile,
)
from alearn.protocols.units import KB_EV_PER_K

T = 300.0
KT = KB_EV_PER_K * T


def _slab_with_adatom() -> Atoms:
    slab = fcc111("Cu", size=(2, 2, 3), vacuum=6.0)
    add_adsorbate(slab, "Au", 2.2, "fcc")
    slab.rattle(0.05, seed=2)
    return slab


@pytest.mark.parametrize("kind", ["height", "distance", "coordination"])
def test_restraint_forces_are_minus_the_gradient_of_the_biased_energy(kind):
    atoms = _slab_with_adatom()
    au = len(atoms) - 1
    top = tuple(int(i) for i in np.flatnonzero(atoms.get_tags() == 1))
    cv = {"height": HeightAbovePlane(au, ElectrodePlane(symbol="Cu"), atoms),
          "distance": Distance(top[0], au),
          "coordination": CoordinationNumber(au, top, r0_A=2.6)}[kind]
    value, _ = cv.value_and_gradient(atoms)
    atoms.calc = HarmonicRestraint(EMT(), cv, center=value + 0.4, spring=2.0)
    forces = atoms.get_forces()
    res = dict(atoms.calc.results)
    numeric = calculate_numerical_forces(atoms, eps=1e-5)
    np.testing.assert_allclose(forces, numeric, atol=2e-5)
    assert res["bias_energy"] == pytest.approx(0.5 * 2.0 * 0.4**2)
    assert res["energy"] == pytest.approx(res["unbiased_energy"] + res["bias_energy"])
    assert res["cv"] == pytest.approx(value)
    if kind == "height":  # the bias pulls the adatom and pushes the plane: no net force
        np.testing.assert_allclose((forces - EMT().get_forces(atoms)).sum(axis=0), 0, atol=1e-10)


def test_restraint_on_ase_langevin_samples_the_harmonic_distribution(tmp_path):
    """No potential along z: the restrained atom's z must be Gaussian, mean s0, variance kT/k."""
    atoms = Atoms("Ar", positions=[[0.0, 0.0, 0.0]], cell=[20.0, 20.0, 20.0])
    cv = HeightAbovePlane(0, ElectrodePlane(z_A=0.0), atoms)
    spring = 0.5
    calc = HarmonicRestraint(DoubleWell(barrier_eV=0.0), cv, center=0.3, spring=spring)
    opts = MDOptions(temperature_K=T, timestep_fs=10.0, n_steps=2000, interval_steps=5,
                     thermostat="langevin", thermostat_time_fs=50.0, seed=3)
    run_md(atoms, calc, tmp_path / "h.traj", options=opts)
    traj = load_trajectory(tmp_path / "h.traj").time_slice(500.0)
    z = cv.series(traj.positions_A, traj.cells_A)
    assert abs(z.mean() - 0.3) < 0.05
    assert z.var() == pytest.approx(KT / spring, rel=0.25)


def test_umbrella_windows_with_ase_dynamics_resume_and_give_the_barrier(tmp_path):
    barrier = 3.0 * KT
    calc = DoubleWell(barrier_eV=barrier, half_distance_A=1.0)
    atoms = Atoms("Ar", positions=[[0.0, 0.0, -1.0]], cell=[20.0, 20.0, 20.0])
    cv = HeightAbovePlane(0, ElectrodePlane(z_A=0.0), atoms)
    windows = UmbrellaWindows.evenly_spaced(-1.2, 1.2, 7, spring=0.8)
    starts = displaced_starts(atoms, cv, windows)
    assert [cv.value_and_gradient(s)[0] for s in starts] == pytest.approx(windows.centers)
    short = MDOptions(temperature_K=T, timestep_fs=10.0, n_steps=200, interval_steps=5,
                      thermostat="langevin", thermostat_time_fs=50.0, seed=1)
    runs = run_umbrella(starts, calc, cv, tmp_path, windows=windows, md_options=short)
    assert [r.n_frames for r in runs] == [41] * 7
    full = MDOptions(**{**short.__dict__, "n_steps": 500})
    runs = run_umbrella(starts, calc, cv, tmp_path, windows=windows, md_options=full)
    assert all(r.resumed and r.start_step == 200 and r.n_frames == 101 for r in runs)
    with pytest.raises(ConfigError, match="umbrella windows"):
        other = UmbrellaWindows.evenly_spaced(-1.0, 1.0, 7, spring=0.8)
        run_umbrella(starts, calc, cv, tmp_path, windows=other, md_options=full)
    result = umbrella_profile(tmp_path, cv, bin_edges=bin_edges(-1.4, 1.4, 0.1),
                              temperature_K=T, discard_fs=500.0)
    assert result.neighbour_overlap.min() > 0.03
    found = result.profile.difference((-1.3, -0.7), (-0.2, 0.2))
    assert abs(found.value - barrier) < 3 * found.stderr + 0.1 * barrier, (found, barrier)


def test_umbrella_mbar_on_a_brownian_double_well_reproduces_the_analytic_barrier():
    """Many cheap windows of overdamped Langevin: MBAR must give the 5 kT barrier tightly."""
    height, spring_kT = 5.0, 20.0  # barrier in kT; restraint in kT/Å²

    def well(z):
        return height * (z**2 - 1.0) ** 2

    windows = UmbrellaWindows.evenly_spaced(-1.5, 1.5, 16, spring=spring_kT * KT)
    rng = np.random.default_rng(11)
    samples = []
    for c in windows.centers:
        biased = Landscape(lambda z, c=c: well(z) + 0.5 * spring_kT * (z - c) ** 2,
                           lambda z: np.full_like(z, 0.01), (-2.5, 2.5))
        # D k dt = 0.03 keeps the Euler bias small; frames 2 fs apart, nearly decorrelated
        run = simulate_brownian(biased, n_particles=60, n_frames=61, timestep_fs=0.05,
                                steps_per_frame=40, rng=rng)
        samples.append(run.z_A[1:].ravel())
    edges = bin_edges(-1.5, 1.5, 0.1)
    result = mbar_profile(samples, windows, bin_edges=edges, temperature_K=T, decorrelate=False)
    prof = result.profile
    found = prof.difference((-1.2, -0.8), (-0.1, 0.1))
    exact_centres = well(prof.centers)
    exact_barrier = exact_centres[np.abs(prof.centers) < 0.1].max() - exact_centres[
        (prof.centers > -1.2) & (prof.centers < -0.8)].min()
    assert abs(found.value / KT - exact_barrier) < max(0.15, 3 * found.stderr / KT)
    ok = np.isfinite(prof.F_kT)
    err = aligned_error(prof.F_kT[ok], exact_centres[ok], np.ones(ok.sum()))
    assert np.sqrt(np.mean(err**2)) < 0.15
