"""Uncertainty metrics, trust window and broken-structure detection."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule

from alearn.calculators.committee import committee_results
from alearn.config import UncertaintyConfig
from alearn.uncertainty import Zone, broken_structure, from_results, zone


def test_metrics_from_a_known_committee():
    # Two members disagree on atom 1 only, by ±(0.3, 0.4, 0) eV/Å around the mean.
    forces = np.zeros((2, 3, 3))
    forces[:, 0] = [1.0, 0.0, 0.0]
    forces[0, 1] = [0.3, 0.4, 0.0]
    forces[1, 1] = [-0.3, -0.4, 0.0]
    results = committee_results(np.array([-1.0, -1.6]), forces, None)
    assert results["forces_std"] == pytest.approx([0.0, 0.5, 0.0])
    assert results["energy_std"] == pytest.approx(0.3)
    unc = from_results(results, 3, relative_eps=1.0)
    assert unc.max_force_std == pytest.approx(0.5)
    assert unc.mean_force_std == pytest.approx(0.5 / 3)
    assert unc.energy_std_per_atom == pytest.approx(0.1)
    assert unc.max_rel_force_std == pytest.approx(0.5 / (0.0 + 1.0))
    assert unc.from_info(unc.as_info()) == unc


def test_trust_window_boundaries():
    cfg = UncertaintyConfig(lo=0.1, hi=0.5)
    assert zone(0.0999, cfg) is Zone.TRUSTED
    assert zone(0.1, cfg) is Zone.CANDIDATE  # [lo, hi)
    assert zone(0.4999, cfg) is Zone.CANDIDATE
    assert zone(0.5, cfg) is Zone.REJECTED
    assert zone(float("nan"), cfg) is Zone.REJECTED


def test_broken_structures():
    cfg = UncertaintyConfig(max_isolation_A=3.0)
    water = molecule("H2O")
    assert broken_structure(water, cfg) is None
    close = water.copy()
    close.positions[1] = close.positions[0] + [0.55, 0, 0]  # O-H 0.55 Å: the case
    assert "atoms 0 (O) and 1 (H) are 0.550 Å apart" in broken_structure(close, cfg)
    assert "0.65 × their covalent radii sum = 0.630 Å" in broken_structure(close, cfg)
    flown = water.copy()
    flown.positions[2] += [10, 0, 0]
    assert "atom 2 (H) has no neighbour within 3.0" in broken_structure(flown, cfg)
    nan = water.copy()
    nan.positions[0, 0] = np.nan
    assert broken_structure(nan, cfg) == "non-finite positions"
    assert broken_structure(Atoms("Na"), cfg) is None


def test_periodic_neighbours_count():
    # Two atoms 4 Å apart in a 5 Å periodic box: images are 1 Å... no: 5-4 = 1 Å apart.
    atoms = Atoms("Cu2", positions=[[0, 0, 0], [4.0, 0, 0]], cell=[5, 5, 5], pbc=True)
    assert "1.000 Å apart" in broken_structure(atoms, UncertaintyConfig())


def test_distance_floor_depends_on_the_pair():
    # 1.2 Å: a normal O-H bond length is far above the O-H floor (0.63 Å), a Cu-Cu pair
    # at 1.2 Å is broken (floor 1.72 Å); 0.5 Å is broken for every pair.
    ucfg = UncertaintyConfig()
    for pair, broken in (("OH", False), ("Cu2", True)):
        atoms = Atoms(pair, positions=[[0, 0, 0], [1.2, 0, 0]])
        assert (broken_structure(atoms, ucfg) is not None) is broken, pair
    assert broken_structure(Atoms("OH", positions=[[0, 0, 0], [0.5, 0, 0]]), ucfg)


def test_old_distance_key_is_explained():
    with pytest.raises(ValueError, match="min_distance_factor"):
        UncertaintyConfig(min_distance_A=0.5)
