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
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from alearn.errors import AlearnError
from alearn.procenv import launched_by_mpi

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


def _mpi_world():
    """COMM_WORLD if this process was started by an MPI launcher with >1 ranks."""
    if not launched_by_mpi():
        return None
    from mpi4py import MPI

    return MPI.COMM_WORLD if MPI.COMM_WORLD.Get_size() > 1 else None


def _cores() -> int:
    """Cores this process may use (the affinity mask, e.g. a Slurm allocation)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


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
        self.threads = threads or max(1, _cores() // self.size)

    @classmethod
    def from_environment(cls) -> Workers:
        return cls(_mpi_world())

    def gpaw_group_communicator(self, group_size: int):
        """GPAW communicator of this rank's group of ``group_size`` consecutive ranks
        (for in-process labels under mpirun); None when serial."""
        if self.comm is None:
            return None
        if self.size % group_size:
            raise ValueError(f"oracle.ranks_per_label = {group_size} does not divide the "
                             f"{self.size} MPI ranks; choose a divisor")
        from gpaw.mpi import world

        first = (self.rank // group_size) * group_size
        return world.new_communicator(list(range(first, first + group_size)))

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
            group_size: int = 1, concurrency: int = 1) -> list[R]:
        """``[fn(x) for x in items]``, items dealt round-robin over groups of ranks.

        With ``group_size`` k, ranks form ``size // k`` groups; every rank of a
        group calls ``fn`` on the group's items (so a group can run one
        parallel calculation), and the group leader's results are kept. With
        ``concurrency`` c > 1 each rank runs up to c of its items at once in
        threads (for ``fn`` that waits on a subprocess). All ranks return the
        full list in item order. An exception on any rank is raised on every rank.
        """
        mine = self.assigned(len(items), group_size=group_size)
        if self.comm is None:
            return [r for _, _, r in self._run_local(fn, items, mine, concurrency, reraise=True)]
        local = self._run_local(fn, items, mine, concurrency, reraise=False)
        error = next((r for _, ok, r in local if not ok), None)
        local = [(i, ok, r if ok else f"rank {self.rank}: {type(r).__name__}: {r}")
                 for i, ok, r in local]
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

    def assigned(self, n_items: int, *, group_size: int = 1) -> list[int]:
        """Indices of the items (of ``n_items``) this rank's group works on in :meth:`map`."""
        n_groups = max(1, self.size // group_size)
        group = self.rank // group_size
        return [i for i in range(n_items) if group < n_groups and i % n_groups == group]

    @staticmethod
    def _run_local(fn: Callable[[T], R], items: Sequence[T], mine: list[int], concurrency: int,
                   *, reraise: bool) -> list[tuple[int, bool, Any]]:
        """Run this rank's items; (index, ok, result-or-exception) in item order."""
        def one(i: int) -> tuple[int, bool, Any]:
            try:
                return i, True, fn(items[i])
            except Exception as err:  # noqa: BLE001 - passed on to every rank by map()
                if reraise:
                    raise
                return i, False, err

        if concurrency <= 1 or len(mine) <= 1:
            out = []
            for i in mine:
                out.append(one(i))
                if not out[-1][1]:
                    break
            return out
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            return list(pool.map(one, mine))
