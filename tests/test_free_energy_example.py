"""examples/free_energy_interface.py end to end in a reduced form (EMT Cu(111) + Au adatoms)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.build import add_adsorbate, fcc111
from ase.io import read

from conftest import REPO

SCRIPT = REPO / "examples" / "free_energy_interface.py"


def _structure(folder: Path, adatom: str = "Au") -> Path:
    slab = fcc111("Cu", size=(3, 3, 3), vacuum=8.0)
    for position in ("fcc", (5.0, 2.5), (2.0, 4.0)):
        add_adsorbate(slab, adatom, 2.1, position)
    slab.center(axis=2)
    slab.pbc = True
    slab.info.pop("adsorbate_info", None)
    path = folder / "interface.xyz"
    slab.write(path)
    return path


def _run(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], cwd=SCRIPT.parent,
                          capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


REDUCED = ["--electrode", "Cu", "--temperature", "700", "--timestep-fs", "2",
           "--interval", "5", "--discard-ps", "0.2", "--bin-width", "0.05", "--lag-frames", "2",
           "--parallel-bin-width", "0.25", "--parallel-fit-lags", "1", "3", "--blocks", "4"]


@pytest.mark.slow
def test_example_runs_md_analyses_and_resumes(tmp_path):
    structure = _structure(tmp_path)
    work = tmp_path / "out"
    common = ["--structure", str(structure), "--calculator", "ase.calculators.emt:EMT",
              "--species", "Au", *REDUCED, "--workdir", str(work)]
    _run(*common, "--ps", "1", "--umbrella-atom", "27", "--umbrella-range", "1.9", "2.5",
         "--umbrella-windows", "3", "--umbrella-spring", "3", "--umbrella-ps", "0.2",
         "--umbrella-discard-ps", "0.04")
    assert len(read(work / "interface.traj", ":")) == 101
    assert (read(work / "interface.traj", 0).get_tags() == 1).sum() == 9  # run_md keeps tags
    proc = _run(*common, "--ps", "1.5")  # resumes the same MD to 1.5 ps
    assert len(read(work / "interface.traj", ":")) == 151
    assert "model/MD - 1" in proc.stdout
    summary = json.loads((work / "summary.json").read_text())
    au = summary["Au"]
    assert au["profiles_summary"]["n_atoms"] == 3
    assert 1.5 < au["profiles_summary"]["well_z_A"] < 2.8  # an adatom's height on Cu(111)
    assert set(au["continuum"]["md"]) >= {"mfpt_a_to_b_fs", "transition_rate_per_ns"}
    profiles = json.loads((work / "profiles_Au.json").read_text())
    assert np.nanmin(np.array(profiles["free_energy"]["F_eV"], dtype=float)) == 0.0
    assert (work / "interface.png").stat().st_size > 10_000
    assert (work / "umbrella" / "umbrella_mbar.json").exists()
    assert len(list((work / "umbrella").glob("window_*.traj"))) == 3


@pytest.mark.slow
def test_example_analyses_an_existing_trajectory_with_a_bulk_reference(tmp_path):
    structure = _structure(tmp_path)
    work = tmp_path / "first"
    _run("--structure", str(structure), "--calculator", "ase.calculators.emt:EMT",
         "--species", "Au", *REDUCED, "--ps", "1", "--workdir", str(work))
    again = tmp_path / "again"
    _run("--trajectory", str(work / "interface.traj"), "--species", "Au", *REDUCED,
         "--bulk-range", "2.2", "2.8", "--between", "1.9", "2.2",
         "--bulk-trajectory", str(work / "interface.traj"), "--workdir", str(again))
    summary = json.loads((again / "summary.json").read_text())["Au"]
    assert "desorption_barrier_kT" in summary["profiles_summary"]
    assert set(summary["profiles_summary"]["plateaus_A2_fs"]) == {"normal", "parallel"}
    assert summary["bulk_D_A2_fs_transport"]["value"] > 0
    assert summary["continuum"]["a_A"] == 1.9


@pytest.mark.slow
def test_example_with_a_campaign_committee(finished_campaign, tmp_path):
    """The documented route: a committee from an alearn work directory drives the MD."""
    structure = _structure(tmp_path, adatom="Cu")
    _run("--structure", str(structure), "--calculator", f"committee:{finished_campaign}",
         "--electrode-tag", "1", "--indices", "27", "28", "29", "--temperature", "400",
         "--timestep-fs", "2", "--interval", "5", "--ps", "0.3", "--discard-ps", "0.05",
         "--bin-width", "0.1", "--lag-frames", "2", "--parallel-fit-lags", "1", "3",
         "--blocks", "3", "--workdir", str(tmp_path / "out"))
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["atoms [27, 28, 29]"]["profiles_summary"]["n_atoms"] == 3
