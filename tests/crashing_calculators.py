"""ASE calculators that fail on purpose, for the label-worker tests.

Used through the ``kind: calculator`` oracle (``import_path`` "crashing_calculators:Name"),
so the worker process must find this module: the tests put ``tests/`` on PYTHONPATH.
"""

from __future__ import annotations

import os
import signal
import time

from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT


class _Base(Calculator):
    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.fail()

    def fail(self) -> None:
        raise NotImplementedError


class Raises(_Base):
    """Raises an ordinary Python exception."""

    def fail(self) -> None:
        raise RuntimeError("deliberate failure")


class Segfault(_Base):
    """Kills its own process with SIGSEGV, as a crashing C extension would."""

    def fail(self) -> None:
        os.kill(os.getpid(), signal.SIGSEGV)


class HardExit(_Base):
    """Leaves at once with exit code 3 (no cleanup), like a library calling exit()."""

    def fail(self) -> None:
        os._exit(3)


class MPIAbort(_Base):
    """Calls MPI_Abort with error code 7 (mpi4py)."""

    def fail(self) -> None:
        from mpi4py import MPI

        MPI.COMM_WORLD.Abort(7)


class Sleeps(EMT):
    """EMT that first sleeps ``seconds`` (to overrun a time limit); writes its pid
    to ``pid_file`` first, so a test can check that the process is gone."""

    def __init__(self, seconds: float = 60.0, pid_file: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seconds = seconds
        self.pid_file = pid_file

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        if self.pid_file:
            with open(self.pid_file, "a") as fh:
                fh.write(f"{os.getpid()}\n")
        time.sleep(self.seconds)
        super().calculate(atoms, properties, system_changes)
