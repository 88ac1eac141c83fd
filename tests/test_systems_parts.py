"""benchmarks/systems.py's analysis: peak positions of noisy histograms, RDF peaks of a
structure whose distances are known, and the equation of state of a potential whose minimum
and curvature can be found directly."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from ase.build import bulk

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from systems import eos_comparison, peak_position, rdf_comparison  # noqa: E402


def test_peak_position_finds_noisy_peaks_between_bins():
    """Gaussian peaks (width 0.08 Å) anywhere between 1.9 and 2.0 Å on 0.021 Å bins, 10 %
    noise per bin: the fitted position is far closer than the highest bin (about 4x on
    average)."""
    r = np.arange(0.0, 4.2, 0.021) + 0.0105
    fitted, highest = [], []
    for seed in range(50):
        rng = np.random.default_rng(seed)
        centre = 1.9 + 0.1 * rng.random()
        g = 3 * np.exp(-0.5 * ((r - centre) / 0.08) ** 2) * (1 + 0.1 * rng.normal(size=r.size))
        fitted.append(abs(peak_position(r, g) - centre))
        highest.append(abs(r[np.argmax(g)] - centre))
    assert np.mean(fitted) < 0.006 and np.mean(fitted) < np.mean(highest) / 2
    assert max(fitted) < 0.015
    clean = 3 * np.exp(-0.5 * ((r - 1.937) / 0.08) ** 2)
    assert peak_position(r, clean) == pytest.approx(1.937, abs=0.002)  # not tied to bins


def test_rdf_peaks_of_a_crystal_are_its_nearest_neighbour_distance():
    """Rock-salt LiCl (a = 5.13 Å): the Li–Cl first peak at a/2, Li–Li at a/√2, for the
    model and the reference alike (same frames: no difference)."""
    frames = [bulk("LiCl", "rocksalt", a=5.13, cubic=True).repeat(2)]
    out = {row["pair"]: row for row in rdf_comparison(frames, frames,
                                                      (("Li", "Cl"), ("Li", "Li")))}
    half_bin = 0.49 * 2 * 5.13 / 200 / 2  # a delta peak is located to its bin
    assert out["Li-Cl"]["peak_model_A"] == pytest.approx(5.13 / 2, abs=half_bin)
    assert out["Li-Li"]["peak_reference_A"] == pytest.approx(5.13 / np.sqrt(2), abs=half_bin)
    assert out["Li-Cl"]["integrated_abs_diff_A"] == 0


def test_eos_comparison_recovers_the_minimum_and_curvature_of_emt_copper():
    """EMT copper (ASE's test potential) as model and reference: no difference; V₀ and B of
    the fit match a direct minimisation of the energy over the lattice constant and the
    finite-difference curvature there; the pressures from the stress are -dE/dV."""
    from ase import units
    from ase.calculators.emt import EMT
    from scipy.optimize import minimize_scalar

    def energy(volume: float) -> float:  # eV/atom at volume (Å³/atom)
        atoms = bulk("Cu", "fcc", a=(4 * volume) ** (1 / 3), cubic=True)
        atoms.calc = EMT()
        return atoms.get_potential_energy() / 4

    out = eos_comparison(EMT(), EMT(), bulk("Cu", "fcc", a=3.6, cubic=True))
    assert out["model"] == out["reference"] and out["pressure_rmse_GPa"] == 0
    v0 = minimize_scalar(energy, bracket=(11.0, 11.6, 12.2), tol=1e-10).x
    h = 0.01
    curvature = (energy(v0 + h) - 2 * energy(v0) + energy(v0 - h)) / h**2
    assert out["model"]["v0_A3_atom"] == pytest.approx(v0, rel=1e-3)
    assert out["model"]["bulk_modulus_GPa"] == pytest.approx(v0 * curvature / units.GPa,
                                                             rel=0.02)
    for strain, pressure in zip(out["strains"], out["model"]["pressure_GPa"], strict=True):
        volume = 3.6**3 / 4 * (1 + strain) ** 3
        dedv = (energy(volume + h) - energy(volume - h)) / (2 * h)
        assert pressure == pytest.approx(-dedv / units.GPa, rel=1e-3, abs=1e-3)
