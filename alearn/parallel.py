"""Spreading a campaign's work over MPI ranks (or none).

Under ``mpirun -np N alearn run ...`` every rank runs the same campaign code;
independent items (committee members, walkers, labels) are dealt round-robin
to ranks or to groups of ranks, results are exchanged with ``allgather``, and
only rank 0 (the *writer*) touches the database, markers and reports. Without
MPI the same code runs serially: the deal is then the identity, so a campaign
with a fixed seed gives the same result with any number of ranks.

Waiting ranks poll a non-blocking barrier with short sleeps instead of
spinning inside MPI, so an idle rank leaves its core to the busy ones.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from alearn.errors import AlearnError

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


def _mpi_world():
    """COMM_WORLD if this process was started by an MPI launcher with >1 ranks."""
    launched = any(k in os.environ for k in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK",
                                             "SLURM_STEP_NUM_TASKS", "MPI_LOCALNRANKS"))
    if not launched:
        return None
    from mpi4py import MPI

    return MPI.COMM_WORLD if MPI.COMM_WORLD.Get_size() > 1 else None


class Workers:
    """The ranks of a campaign.

    Parameters
    ----------
    comm
        An mpi4py communicator, or None for a serial run.
    threads
        Threads per rank for torch/BLAS work (default: cores // ranks).
    """

    def __init__(self, comm=None, *, threads: int | None = None) -> None:
        self.comm = comm
        self.rank = comm.Get_rank() if comm is not None else 0
        self.size = comm.Get_size() if comm is not None else 1
        self.threads = threads or max(1, (os.cpu_count() or 1) // self.size)

    @classmethod
    def from_environment(cls, cfg=None) -> Workers:
        return cls(_mpi_world())

    @property
    def is_writer(self) -> bool:
        """True on the one rank that writes the database and checkpoints."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.comm is None:
            return
        request = self.comm.Ibarrier()
        while not request.Test():
            time.sleep(0.02)

    def allgather(self, obj: Any) -> list[Any]:
        if self.comm is None:
            return [obj]
        self.barrier()
        return self.comm.allgather(obj)

    def bcast(self, obj: Any) -> Any:
        if self.comm is None:
            return obj
        self.barrier()
        return self.comm.bcast(obj, root=0)

    def map(self, fn: Callable[[T], R], items: Sequence[T], *, desc: str = "",
            group_size: int = 1) -> list[R]:
        """``[fn(x) for x in items]``, items dealt round-robin over groups of ranks.

        With ``group_size`` k, ranks form ``size // k`` groups; every rank of a
        group calls ``fn`` on the group's items (so a group can run one
        parallel calculation), and the group leader's results are kept. All
        ranks return the full list in item order. An exception on any rank is
        raised on every rank.
        """
        if self.comm is None:
            return [fn(x) for x in items]
        n_groups = max(1, self.size // group_size)
        group = self.rank // group_size
        mine = [i for i in range(len(items)) if group < n_groups and i % n_groups == group]
        local: list[tuple[int, bool, Any]] = []
        error: BaseException | None = None
        for i in mine:
            try:
                local.append((i, True, fn(items[i])))
            except Exception as err:  # noqa: BLE001 - re-raised on every rank below
                error = err
                local.append((i, False, f"rank {self.rank}: {type(err).__name__}: {err}"))
                break
        leader = self.rank % group_size == 0
        gathered = self.allgather(local if leader or error else [])
        failures = [msg for part in gathered for _, ok, msg in part if not ok]
        if failures:
            if error is not None:
                raise error
            raise AlearnError(f"{desc or 'parallel work'} failed on another rank: {failures[0]}")
        results: dict[int, Any] = {i: r for part in gathered for i, _, r in part}
        log.debug("%s: rank %d did %d of %d items", desc, self.rank, len(mine), len(items))
        return [results[i] for i in range(len(items))]
