"""A rank's exploration walkers stepped together: one forward pass for all of them.

Each walker runs :func:`alearn.exploration.run_walker` unchanged (its own ASE
integrator, random stream, sampling and stops) in a thread of its own, with a
:class:`~alearn.calculators.batched.BatchClient` of one shared
:class:`~alearn.calculators.batched.BatchedCommittee`: whenever every running
walker waits for forces, their structures are evaluated as one graph. Results
equal those of the walkers run one after another, to floating-point rounding
of the forces.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext

from ase import Atoms
from ase.calculators.calculator import Calculator

from alearn.config import UncertaintyConfig
from alearn.exploration import WalkerResult, WalkerSpec, drivable_committee, run_walker

log = logging.getLogger(__name__)


def run_walkers(starts: Sequence[Atoms], calc: Calculator, specs: Sequence[WalkerSpec],
                ucfg: UncertaintyConfig, *, batch: bool = True,
                wrap: Callable[[Calculator], Calculator] | None = None,
                progress: Callable[[WalkerSpec], AbstractContextManager] | None = None,
                on_done: Callable[[WalkerResult], None] | None = None) -> list[WalkerResult]:
    """Run the walkers ``specs`` from ``starts``; their results in order.

    Parameters
    ----------
    calc
        The committee calculator (a CommitteeCalculator, or a calculator holding
        one as ``.committee``, e.g. a Δ-ML sum).
    batch
        Step the walkers together (one forward pass per step for all). Without
        it, or when ``calc`` holds no batchable committee, they run one after another.
    wrap
        Builds a walker's calculator around its committee client (e.g. a new
        baseline + the client, for Δ-ML); needed when ``calc`` is not the
        committee itself. Each walker gets its own, so no baseline is shared
        between threads.
    progress
        ``progress(spec)`` gives a context manager yielding a walker's
        ``on_sample`` callback (:func:`alearn.progress.walker_progress`).
    on_done
        Called with each walker's result as soon as it ends (e.g. to save it).

    An exception in one walker's thread outside its MD (which records its own
    failures), or in the calling thread (a signal), stops the others at their
    next step, unsaved, and is raised here.
    """
    on_done = on_done or (lambda result: None)

    def walk(start: Atoms, walker_calc: Calculator, spec: WalkerSpec) -> WalkerResult:
        with progress(spec) if progress else nullcontext() as on_sample:
            return run_walker(start, walker_calc, spec, ucfg, on_sample=on_sample)

    committee = drivable_committee(calc)
    batchable = committee is not None and (committee is calc or wrap is not None)
    if not batch or not batchable or len(specs) < 2:
        results = []
        for start, spec in zip(starts, specs):
            results.append(walk(start, calc, spec))
            on_done(results[-1])
        return results
    from alearn.calculators.batched import BatchedCommittee

    hub = BatchedCommittee(committee)
    clients = [hub.client() for _ in specs]

    def one(k: int) -> WalkerResult:
        try:
            walker_calc = clients[k] if wrap is None else wrap(clients[k])
            result = walk(starts[k], walker_calc, specs[k])
        finally:
            clients[k].close()
        on_done(result)
        return result

    pool = ThreadPoolExecutor(max_workers=len(specs), thread_name_prefix="walker")
    try:
        futures = [pool.submit(one, k) for k in range(len(specs))]
        results = [f.result() for f in futures]
    except BaseException:
        hub.abort()  # e.g. a signal in the main thread: the walkers stop, unsaved
        raise
    finally:
        pool.shutdown(wait=True)
    log.debug("%d walkers stepped together in %d batched evaluations", len(specs),
              hub.n_batches)
    return results
