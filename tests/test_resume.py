"""A campaign killed with SIGKILL at several moments resumes to the same result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from alearn import load_committee
from alearn.dataset import Dataset
from conftest import REPO, TINY, alearn_cli, write_campaign

SLOW_ORACLE = {"oracle": {"kind": "calculator", "isolation": "inline",
                          "calculator": {"import_path": "slow_calculators:SlowEMT",
                                         "kwargs": {"delay_s": 0.4}}},
               # a temperature schedule: it must resume exactly as it ran
               "systems": [{**TINY["systems"][0], "md": {
                   **TINY["systems"][0]["md"],
                   "ramp": {"iterations": 2, "from_temperature_K": 300.0}}}]}
ENV = {"PYTHONPATH": str(REPO / "tests")}


def campaign_processes(workdir: Path) -> list[str]:
    """Command lines of live processes that work in ``workdir`` (trainers, label workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "stat").read_text().split()[2] != "Z":
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                if str(workdir) in cmdline:
                    found.append(cmdline)
        except (OSError, IndexError):
            continue
    return found


def wait_for_no_processes(workdir: Path, within_s: float = 60) -> None:
    """The campaign's processes are gone (the kernel ends them on their parent's death;
    ``within_s`` only bounds a failure, it is no race)."""
    deadline = time.monotonic() + within_s
    while campaign_processes(workdir):
        if time.monotonic() > deadline:
            raise AssertionError(f"orphaned processes: {campaign_processes(workdir)}")
        time.sleep(0.1)


def _kill_when(config: Path, workdir: Path, ready, what: str, env: dict,
               timeout: float = 1800, sig: int = signal.SIGKILL) -> str:
    """Start `alearn run`, send ``sig`` as soon as ``ready(workdir)`` holds; its stderr."""
    proc = subprocess.Popen([sys.executable, "-m", "alearn.cli", "run", str(config),
                             "--workdir", str(workdir)], env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    start = time.monotonic()
    while not ready(workdir):
        if proc.poll() is not None:
            raise AssertionError(f"campaign ended before '{what}': {proc.stderr.read()[-2000:]}")
        if time.monotonic() - start > timeout:
            proc.kill()
            raise AssertionError(f"timed out waiting for '{what}'")
        time.sleep(0.02)
    os.kill(proc.pid, sig)
    proc.wait()
    wait_for_no_processes(workdir)
    return proc.stderr.read().decode()


def _training(w: Path) -> bool:
    return any(w.glob("iter_001/committee/attempts/member_1.*/process.json"))


def _exploring(w: Path) -> bool:
    return any(w.glob("iter_001/explore/*_w0.json"))


def _labeling(w: Path) -> bool:  # bootstrap (6) done, some of iteration 1's labels in the journal
    return len(list(w.glob("labels/row_*.json"))) >= 7


def _training_again(w: Path) -> bool:
    return any(w.glob("iter_002/committee/member_0.model"))


def _training_iteration_3(w: Path) -> bool:
    return any(w.glob("iter_003/committee/attempts/member_*.*/process.json"))


def _rows(workdir: Path) -> list[tuple]:
    out = []
    for r in Dataset(workdir / "dataset.db").rows():
        energy = r.get("energy")
        out.append((r.id, r.status, r.split, r.iteration, r.walker, r.md_step,
                    np.round(r.positions, 10).tobytes(), energy))
    return out


@pytest.mark.slow
def test_killed_campaign_resumes_to_the_same_result(tmp_path):
    ref_dir, run_dir = tmp_path / "ref", tmp_path / "killed"
    ref_cfg = write_campaign(ref_dir, SLOW_ORACLE)
    cfg = write_campaign(run_dir, SLOW_ORACLE)
    work = run_dir / "work"
    calc_log = tmp_path / "calculations.txt"
    env = {**ENV, "ALEARN_TEST_CALC_LOG": str(calc_log)}
    for ready, what in ((_training, "training"), (_exploring, "exploring"),
                        (_labeling, "labeling"), (_training_again, "training iteration 2")):
        _kill_when(cfg, work, ready, what, env)
    # SIGTERM: a clean stop that ends the trainers, marks nothing done and says how to resume
    stderr = _kill_when(cfg, work, _training_iteration_3, "training iteration 3", env,
                        sig=signal.SIGTERM)
    assert "stopped by SIGTERM" in stderr and "alearn run" in stderr, stderr[-2000:]
    assert not (work / "iter_003" / "train.done.json").exists()
    Dataset(work / "dataset.db").count()  # the database opens: never half-written
    resumed = alearn_cli("run", str(cfg), "--workdir", str(work), env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    reference = alearn_cli("run", str(ref_cfg), "--workdir", str(ref_dir / "work"), env=ENV)
    assert reference.returncode == 0, reference.stderr[-3000:]
    assert _rows(work) == _rows(ref_dir / "work")
    for w in (work, ref_dir / "work"):  # the ramp: 300 K, then half-way to 500 / 1000 K
        temps = [[json.loads((w / f"iter_00{it}" / "explore" / f"cu_w{k}.json").read_text())
                  ["temperature_K"] for k in (0, 1)] for it in (1, 2)]
        assert temps == [[300.0, 300.0], [400.0, 650.0]]
    assert Dataset(work / "dataset.db").count(status="selected") == 0
    # No finished label was computed twice: one journal entry per row, and at most the
    # one calculation in flight at the kill during labeling was repeated.
    n_rows = Dataset(work / "dataset.db").count()
    assert len(list(work.glob("labels/row_*.json"))) == n_rows
    n_calcs = len(calc_log.read_text().splitlines())
    assert n_rows <= n_calcs <= n_rows + 1

    probe = bulk("Cu", cubic=True).repeat((2, 1, 1))
    probe.rattle(0.05, seed=11)
    energies = []
    for w in (work, ref_dir / "work"):
        a = probe.copy()
        a.calc = load_committee(w)
        energies.append((a.get_potential_energy(), a.get_forces()))
    assert energies[0][0] == energies[1][0]
    np.testing.assert_array_equal(energies[0][1], energies[1][1])
