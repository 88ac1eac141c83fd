"""Fault-isolated labeling in a worker process (alearn.label_worker)."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule

from alearn.config import GPAWSettings, OracleConfig
from alearn.errors import ConfigError, LabelFailed
from alearn.label_worker import run_label, worker_command
from alearn.oracles import make_oracle
from alearn.procenv import worker_env

TESTS = Path(__file__).resolve().parent
HAVE_MPIRUN = shutil.which("mpirun") is not None


@pytest.fixture(autouse=True)
def _tests_importable(monkeypatch):
    """The worker must import tests/crashing_calculators.py."""
    old = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(TESTS), old) if p))


def _cu() -> Atoms:
    atoms = bulk("Cu", cubic=True)
    atoms.rattle(0.05, seed=3)
    return atoms


def _crashing(name: str, **kwargs) -> OracleConfig:
    return OracleConfig(kind="calculator",
                        calculator={"import_path": f"crashing_calculators:{name}",
                                    "kwargs": kwargs})


def test_worker_equals_inline(tmp_path):
    config = OracleConfig(kind="emt")
    atoms = _cu()
    before = atoms.copy()
    worker = run_label(config, atoms, workdir=tmp_path / "w")
    inline = make_oracle(config).label(atoms)
    assert worker.energy == pytest.approx(inline.energy, abs=1e-12)
    np.testing.assert_allclose(worker.forces, inline.forces, atol=1e-12)
    np.testing.assert_allclose(worker.stress, inline.stress, atol=1e-12)
    assert worker.attempts == inline.attempts
    assert atoms == before
    assert (tmp_path / "w" / "result.json").is_file()


def test_oracle_failure_is_passed_on(tmp_path):
    with pytest.raises(LabelFailed, match="RuntimeError: deliberate failure"):
        run_label(_crashing("Raises"), _cu(), workdir=tmp_path / "w")


def test_segfault_becomes_label_failed(tmp_path):
    with pytest.raises(LabelFailed, match="SIGSEGV") as info:
        run_label(_crashing("Segfault"), _cu(), workdir=tmp_path / "w")
    assert "worker" in info.value.reason


def test_hard_exit_becomes_label_failed(tmp_path):
    with pytest.raises(LabelFailed, match="exited with code 3"):
        run_label(_crashing("HardExit"), _cu(), workdir=tmp_path / "w")


def test_mpi_abort_becomes_label_failed(tmp_path):
    pytest.importorskip("mpi4py")
    with pytest.raises(LabelFailed, match="exited with code 7") as info:
        run_label(_crashing("MPIAbort"), _cu(), workdir=tmp_path / "w")
    # the stderr tail is passed on (Open MPI's own abort message is not reliably printed)
    assert "stderr tail" in info.value.reason


def test_timeout_kills_the_worker(tmp_path):
    # The limit is a generous multiple of this machine's measured worker start-up, so
    # the worker has started (and written its pid) before the limit, even under load.
    t0 = time.perf_counter()
    run_label(OracleConfig(kind="emt"), _cu(), workdir=tmp_path / "warm-up")
    limit = max(2.0, round(10 * (time.perf_counter() - t0)))
    pid_file = tmp_path / "pids"
    t0 = time.perf_counter()
    with pytest.raises(LabelFailed, match=f"time limit of {limit:g} s"):
        run_label(_crashing("Sleeps", seconds=600, pid_file=str(pid_file)), _cu(),
                  workdir=tmp_path / "w", timeout_s=limit)
    assert time.perf_counter() - t0 < limit + 120  # killed, long before the 600 s sleep
    pids = [int(x) for x in pid_file.read_text().split()]
    assert pids
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_bad_config_in_worker_is_config_error(tmp_path):
    config = OracleConfig(kind="calculator",
                          calculator={"import_path": "crashing_calculators:NoSuchClass"})
    with pytest.raises(ConfigError, match="NoSuchClass"):
        run_label(config, _cu(), workdir=tmp_path / "w")


def test_custom_launcher_is_used(tmp_path):
    # 'env VAR=1' stands in for srun: the command must be the launcher + python worker
    label = run_label(OracleConfig(kind="emt"), _cu(), workdir=tmp_path / "w",
                      launcher=["env", "ALEARN_LAUNCHED=1"])
    assert np.isfinite(label.energy)


def test_missing_launcher_is_label_failed(tmp_path):
    with pytest.raises(LabelFailed, match="not found"):
        run_label(OracleConfig(kind="emt"), _cu(), workdir=tmp_path / "w", ranks=2,
                  launcher=["no-such-launcher-xyz", "-n", "{ranks}"])


def test_worker_command_and_env(tmp_path):
    serial = worker_command(tmp_path, ranks=1)
    assert serial[1:3] == ["-m", "alearn.label_worker"]
    assert worker_command(tmp_path, ranks=4)[:3] == ["mpirun", "-np", "4"]
    assert worker_command(tmp_path, ranks=2, launcher=["srun", "-n", "{ranks}"])[:3] == \
        ["srun", "-n", "2"]
    inherited = {"OMPI_COMM_WORLD_SIZE": "4", "PMIX_RANK": "1", "OMP_NUM_THREADS": "8",
                 "GPAW_MPI_BACKEND": "cgpaw", "OMPI_MCA_btl": "self", "HOME": "/root"}
    env = worker_env(parallel=False, base=inherited)
    assert "OMPI_COMM_WORLD_SIZE" not in env and "PMIX_RANK" not in env
    assert "GPAW_MPI_BACKEND" not in env
    assert env["OMP_NUM_THREADS"] == "1" and env["OPENBLAS_NUM_THREADS"] == "1"
    assert env["OMPI_MCA_btl"] == "self" and env["HOME"] == "/root"
    assert worker_env(parallel=True, base={})["GPAW_MPI_BACKEND"] == "cgpaw"


@pytest.mark.mpi
@pytest.mark.skipif(not HAVE_MPIRUN, reason="needs mpirun")
def test_mpi_worker_failures(tmp_path):
    with pytest.raises(LabelFailed, match="code 7"):
        run_label(_crashing("MPIAbort"), _cu(), workdir=tmp_path / "a", ranks=2)
    with pytest.raises(LabelFailed, match="SIGSEGV"):
        run_label(_crashing("Segfault"), _cu(), workdir=tmp_path / "s", ranks=2)
    label = run_label(OracleConfig(kind="emt"), _cu(), workdir=tmp_path / "ok", ranks=2)
    assert label.energy == pytest.approx(make_oracle(OracleConfig(kind="emt")).label(_cu()).energy)


def _water_box() -> Atoms:
    atoms = molecule("H2O")
    atoms.cell = [5.0, 5.2, 5.4]
    atoms.center()
    atoms.pbc = True
    atoms.rattle(0.02, seed=1)
    return atoms


@pytest.mark.gpaw
@pytest.mark.mpi
@pytest.mark.skipif(not HAVE_MPIRUN, reason="needs mpirun")
@pytest.mark.parametrize("mode", ["pw", "lcao"])
def test_gpaw_two_ranks_equals_serial(tmp_path, mode):
    settings = GPAWSettings(preset="electrolyte", mode=mode, ecut_eV=250.0,
                            kpts=(2, 1, 1) if mode == "pw" else None)
    config = OracleConfig(kind="gpaw", gpaw=settings)
    atoms = _water_box()
    serial = run_label(config, atoms, workdir=tmp_path / "serial")
    parallel = run_label(config, atoms, workdir=tmp_path / "mpi", ranks=2, timeout_s=300)
    assert parallel.energy == pytest.approx(serial.energy, abs=1e-5)
    np.testing.assert_allclose(parallel.forces, serial.forces, atol=1e-3)
    if mode == "pw":
        np.testing.assert_allclose(parallel.stress, serial.stress, atol=1e-5)
    else:
        assert parallel.stress is None  # no LCAO stress in new GPAW
    # GPAW's log of the parallel run shows the two ranks (k-points or domains)
    assert re.search(r"(kpt|domain|band):\s+2\b", parallel.log_text)


@pytest.mark.gpaw
@pytest.mark.parametrize("mode", ["pw", "lcao"])
def test_gpaw_labels_are_bit_reproducible(tmp_path, mode):
    # FFTW plans by timing (FFTW_MEASURE) would make reruns differ in the last bits
    atoms = molecule("H2O")
    atoms.rattle(0.05, seed=5)
    atoms.center(vacuum=2.5)
    config = OracleConfig(kind="gpaw", gpaw=GPAWSettings(mode=mode, ecut_eV=300.0))
    first, second = (run_label(config, atoms, workdir=tmp_path / f"run{k}") for k in (1, 2))
    assert first.energy == second.energy
    np.testing.assert_array_equal(first.forces, second.forces)
