"""Δ-ML inside the loop: GFN2-xTB target over a GFN1-xTB baseline (test oracles)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from ase.build import molecule
from ase.io import read

from alearn import load_committee
from alearn.calculators.delta import DeltaCalculator
from alearn.dataset import Dataset
from conftest import TINY, alearn_cli, deep_update

WATER_DIMER = {
    "systems": [{"name": "dimer", "structure": "dimer.xyz", "walkers": 2,
                 "md": {"temperature_K": [300, 400], "steps": 40, "sample_interval": 4,
                        "timestep_fs": 0.5}, "max_selected": 3}],
    "oracle": {"kind": "xtb", "xtb": {"method": "GFN2-xTB"}, "isolation": "inline"},
    "uncertainty": {"lo": 0.02, "hi": 3.0},
    "stop": {"max_iterations": 1},
}
BASELINE = {"baseline": {"kind": "xtb", "xtb": {"method": "GFN1-xTB"}}}


def _write(folder, changes):
    dimer = molecule("H2O")
    other = molecule("H2O")
    other.translate([2.9, 0.0, 0.3])
    (dimer + other).write(folder / "dimer.xyz")
    cfg = deep_update(deep_update(TINY, WATER_DIMER), changes)
    (folder / "campaign.yaml").write_text(yaml.safe_dump(cfg))
    return folder / "campaign.yaml"


def _run(config, workdir):
    proc = alearn_cli("run", str(config), "--workdir", str(workdir))
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_switching_direct_to_delta_relabels_nothing(tmp_path):
    work = tmp_path / "work"
    # lo so low that the Δ iteration still selects: its committee, retrained on every label
    # so far, is carried over to iteration 2 (no new data) and might otherwise converge
    low_lo = {"uncertainty": {"lo": 1e-4}}
    _run(_write(tmp_path, low_lo), work)
    ds = Dataset(work / "dataset.db")
    before = {r.id: (r.energy, r.label_wall_s) for r in ds.rows(status="labeled")}
    assert not isinstance(load_committee(work), DeltaCalculator)

    _run(_write(tmp_path, {**low_lo, **BASELINE, "stop": {"max_iterations": 2}}), work)
    rows = {r.id: r for r in Dataset(work / "dataset.db").rows(status="labeled")}
    for row_id, (energy, wall) in before.items():  # old labels kept, baseline added
        assert (rows[row_id].energy, rows[row_id].label_wall_s) == (energy, wall)
        assert rows[row_id].data["baseline"]["failed"] is None
    assert len(rows) > len(before), "the Δ iteration labeled new frames"

    # The last committee learned DELTA_* = REF_* - BASE_* ...
    train = read(work / "iter_003" / "committee" / "member_0_train.xyz", ":")
    for atoms in train:
        assert atoms.info["DELTA_energy"] == pytest.approx(
            atoms.info["REF_energy"] - atoms.info["BASE_energy"])
        np.testing.assert_allclose(atoms.arrays["DELTA_forces"],  # extxyz keeps 8 decimals
                                   atoms.arrays["REF_forces"] - atoms.arrays["BASE_forces"],
                                   atol=1e-7)
    marker = yaml.safe_load((work / "iter_003" / "train.done.json").read_text())
    assert marker["target"].startswith("delta:")

    # ... and the production calculator is baseline + committee.
    calc = load_committee(work)
    assert isinstance(calc, DeltaCalculator)
    atoms = read(work / "iter_002" / "explore" / "dimer_w0.xyz", -1)
    atoms.calc = calc
    energy = atoms.get_potential_energy()
    r = calc.results
    assert energy == pytest.approx(r["baseline_energy"] + r["correction_energy"], abs=1e-10)
    assert r["forces_std"].shape == (len(atoms),) and r["energy_std"] >= 0
