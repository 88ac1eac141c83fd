"""`mpirun -np 2 alearn run`: both ranks work, and the result equals the serial run's."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from alearn.dataset import Dataset
from conftest import alearn_cli, write_campaign

pytestmark = [pytest.mark.mpi,
              pytest.mark.skipif(shutil.which("mpirun") is None, reason="needs mpirun")]
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMPI_MCA_rmaps_base_oversubscribe": "1"}


def _rows(workdir):
    return [(r.id, r.status, r.split, r.iteration, r.walker, r.md_step, r.positions.tobytes(),
             r.get("energy")) for r in Dataset(workdir / "dataset.db").rows()]


def test_two_ranks_share_the_work_and_match_serial(tmp_path, finished_campaign):
    config = write_campaign(tmp_path)
    work = tmp_path / "work"
    proc = subprocess.run(["mpirun", "-np", "2", sys.executable, "-m", "alearn.cli", "run",
                           str(config), "--workdir", str(work)], capture_output=True, text=True,
                          timeout=3600, env={**os.environ, **MPI_ENV})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _rows(work) == _rows(finished_campaign)
    ds = Dataset(work / "dataset.db")
    by_rank = ds.counts_by("rank", status="labeled")
    assert by_rank[0] > 0 and by_rank[1] > 0, by_rank
    # The wide status table shows the per-rank label counts.
    status = alearn_cli("status", str(work), "--wide")
    assert "0:" in status.stdout and "1:" in status.stdout
    # Rank 1 never wrote markers or the database: there is one log, from rank 0.
    assert (work / "alearn.log").read_text().count("campaign finished") == 1
