"""BatchedCommittee: MD runs stepped together, one forward pass for all, give the results
of the same runs one after another."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk
from ase.md.langevin import Langevin

from alearn.calculators import CommitteeCalculator
from alearn.calculators.batched import BatchedCommittee

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from md_models import electrolyte_box, water_cluster  # noqa: E402


def _langevin(atoms: Atoms, calc, seed: int, steps: int) -> tuple[np.ndarray, list[float]]:
    """Final positions and the force spread sampled every 3 steps."""
    work = atoms.copy()
    work.calc = calc
    dyn = Langevin(work, 0.5 * units.fs, temperature_K=300, friction=0.02 / units.fs,
                   rng=np.random.default_rng(seed))
    spreads: list[float] = []
    dyn.attach(lambda: spreads.append(float(calc.get_property("forces_std", work).max())),
               interval=3)
    dyn.run(steps)
    return work.positions.copy(), spreads


def _together(hub: BatchedCommittee, jobs: list) -> list:
    """Run each job ``(atoms, seed, steps)`` in its own thread with its own client."""
    clients = [hub.client() for _ in jobs]
    results: list = [None] * len(jobs)

    def one(k: int) -> None:
        try:
            results[k] = _langevin(*jobs[k][:1], clients[k], *jobs[k][1:])
        except Exception as err:  # noqa: BLE001 - compared by the test
            results[k] = err
        finally:
            clients[k].close()

    threads = [threading.Thread(target=one, args=(k,)) for k in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    return results


@pytest.mark.parametrize("drive", ["mean", "member"])
def test_batched_runs_equal_sequential_runs(untrained_committee, drive):
    """Different sizes, periodic and not, different lengths (one ends early)."""
    jobs = [(water_cluster(2, seed=1), 1, 7), (electrolyte_box(6, 1), 2, 7),
            (water_cluster(3, seed=2), 3, 4)]
    committee = CommitteeCalculator(untrained_committee, drive=drive)
    alone = [_langevin(atoms, committee, seed, steps) for atoms, seed, steps in jobs]
    hub = BatchedCommittee(committee)
    together = _together(hub, jobs)
    for (pos_a, spread_a), (pos_b, spread_b) in zip(alone, together):
        np.testing.assert_allclose(pos_b, pos_a, atol=1e-10)
        np.testing.assert_allclose(spread_b, spread_a, atol=1e-10)
    # one evaluation per step for all (plus the spreads of the member-driven ones)
    assert hub.n_batches <= 8 + (3 if drive == "member" else 0)


def test_a_failing_structure_fails_its_own_run_only(untrained_committee):
    committee = CommitteeCalculator(untrained_committee)
    bad = bulk("Na", cubic=True)  # Na: not among the committee's elements
    jobs = [(water_cluster(2, seed=1), 1, 4), (bad, 2, 4)]
    good_alone = _langevin(*jobs[0][:1], committee, *jobs[0][1:])
    good, failed = _together(BatchedCommittee(committee), jobs)
    np.testing.assert_allclose(good[0], good_alone[0], atol=1e-10)
    assert isinstance(failed, ValueError) and "['Na']" in str(failed)


def test_a_closed_client_refuses_work(untrained_committee):
    client = BatchedCommittee(CommitteeCalculator(untrained_committee)).client()
    client.close()
    client.close()  # twice is harmless
    with pytest.raises(RuntimeError, match="closed"):
        client.calculate(water_cluster(1), ["forces"])


def test_abort_stops_a_waiting_client_and_later_requests(untrained_committee):
    from alearn.calculators.batched import BatchAborted

    hub = BatchedCommittee(CommitteeCalculator(untrained_committee))
    waiting, idle = hub.client(), hub.client()
    caught: list = []

    def ask() -> None:
        try:
            waiting.calculate(water_cluster(1), ["forces"])
        except BatchAborted as err:
            caught.append(err)

    thread = threading.Thread(target=ask)
    thread.start()
    while not hub._pending:  # the request waits for the idle client
        thread.join(timeout=0.01)
    hub.abort()
    thread.join(timeout=60)
    assert len(caught) == 1
    with pytest.raises(BatchAborted):
        idle.calculate(water_cluster(1), ["forces"])
