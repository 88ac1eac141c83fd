"""`mpirun -np 2`: umbrella windows are dealt over the ranks and match a serial run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from ase.io import read

pytestmark = [pytest.mark.mpi,
              pytest.mark.skipif(shutil.which("mpirun") is None, reason="needs mpirun")]
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMPI_MCA_rmaps_base_oversubscribe": "1", "OMP_NUM_THREADS": "1"}

SCRIPT = textwrap.dedent("""
    import json, os, sys
    from ase import Atoms
    from alearn.parallel import Workers
    from alearn.protocols import ElectrodePlane, MDOptions
    from alearn.protocols.free_energy import (DoubleWell, HeightAbovePlane, UmbrellaWindows,
                                              displaced_starts, run_umbrella)
    atoms = Atoms("Ar", positions=[[0.0, 0.0, -1.0]], cell=[20.0, 20.0, 20.0])
    cv = HeightAbovePlane(0, ElectrodePlane(z_A=0.0), atoms)
    windows = UmbrellaWindows.evenly_spaced(-1.0, 1.0, 4, spring=1.0)
    opts = MDOptions(temperature_K=300.0, timestep_fs=10.0, n_steps=60, interval_steps=5,
                     thermostat="langevin", thermostat_time_fs=50.0, seed=2)
    workers = Workers.from_environment()
    runs = run_umbrella(displaced_starts(atoms, cv, windows), DoubleWell(barrier_eV=0.05), cv,
                        sys.argv[1], windows=windows, md_options=opts, workers=workers)
    with open(os.path.join(sys.argv[1], f"rank{workers.rank}.json"), "w") as fh:
        json.dump({"size": workers.size, "frames": [r.n_frames for r in runs]}, fh)
""")


def test_two_ranks_share_the_windows_and_match_serial(tmp_path):
    script = tmp_path / "umbrella_mpi.py"
    script.write_text(SCRIPT)
    env = {**os.environ, **MPI_ENV}
    mpi, serial = tmp_path / "mpi", tmp_path / "serial"
    proc = subprocess.run(["mpirun", "-np", "2", sys.executable, str(script), str(mpi)],
                          capture_output=True, text=True, timeout=3600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = subprocess.run([sys.executable, str(script), str(serial)], capture_output=True,
                          text=True, timeout=3600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    for rank in (0, 1):  # every rank returns all windows
        record = json.loads((mpi / f"rank{rank}.json").read_text())
        assert record == {"size": 2, "frames": [13] * 4}
    for k in range(4):  # seeds per window: the same trajectories whoever ran them
        a = read(mpi / f"window_{k:03d}.traj", ":")
        b = read(serial / f"window_{k:03d}.traj", ":")
        np.testing.assert_allclose([f.positions for f in a], [f.positions for f in b],
                                   atol=1e-12)
