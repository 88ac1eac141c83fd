"""benchmarks/systems.py's analysis: peak positions of noisy histograms, and RDF peaks of a
structure whose distances are known."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from ase.build import bulk

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from systems import peak_position, rdf_comparison  # noqa: E402


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
