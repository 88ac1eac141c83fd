"""The screen's claim/complete queue, on SQLite and on a real PostgreSQL server the tests
start (tests/postgres_server.py): items are claimed once, completed only by their owner,
and released when their worker is gone."""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading

import pytest
from ase.build import bulk

from alearn.errors import ConfigError
from alearn.protocols.screening.stages import StageOutcome
from alearn.protocols.screening.store import ClaimLost, ScreenStore, WorkerIdentity
from postgres_server import new_database

_names = itertools.count()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def where(request, tmp_path):
    if request.param == "sqlite":
        return tmp_path / "screen.db"
    return new_database(request.getfixturevalue("postgres_url"), f"screen_{next(_names)}")


def _store(where, n_items: int = 6) -> ScreenStore:
    store = ScreenStore(where)
    store.bind("digest-1", "/tmp")
    items = [(f"c{k}", bulk("Cu", cubic=True), "parent") for k in range(n_items)]
    assert store.add_items("candidate", items, first_stage="relax") == n_items
    assert store.add_items("candidate", items, first_stage="relax") == 0  # idempotent
    return store


def _outcome(stage: str, status: str = "passed") -> StageOutcome:
    return StageOutcome(stage, status, values={"energy_eV": -3.5, "sigma_S_m": float("nan")},
                        uncertainty={"unc_max_force_std": 0.01}, zone="trusted",
                        atoms=bulk("Cu", cubic=True), data={"x": [1.0, float("inf")]})


def test_concurrent_claims_are_disjoint_and_cover_every_item(where):
    store = _store(where, n_items=12)
    got: dict[str, list[str]] = {}

    def worker(owner: str) -> None:
        mine = ScreenStore(where)  # its own connection, as another process would have
        got[owner] = []
        while items := mine.claim(owner, "candidate", 2):
            got[owner] += [i.name for i in items]

    threads = [threading.Thread(target=worker, args=(f"w{k}",)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [n for names in got.values() for n in names]
    assert sorted(claimed) == sorted(f"c{k}" for k in range(12))  # each exactly once
    assert store.counts() == {"running": 12}


def test_complete_advances_and_replaces_and_refuses_a_lost_claim(where):
    store = _store(where)
    item = store.claim("me", "candidate", 1)[0]
    store.complete(item, "me", _outcome("relax"), "stability", rank=0, wall_s=1.5)
    rows = store.stage_rows(item.name)
    assert rows["relax"].get("status") == "passed" and rows["relax"].get("wall_s") == 1.5
    assert rows["relax"].get("sigma_S_m") is None  # NaN is left out of the key-value pairs
    assert rows["relax"].data["data"]["x"] == [1.0, None]
    # completing the same stage again (a rerun after a kill) replaces the row
    store.complete(item, "me", _outcome("relax"), "stability", rank=0, wall_s=2.0)
    assert len(store.rows(item=item.name, stage="relax")) == 1
    # another owner cannot complete it: nothing is written
    with pytest.raises(ClaimLost):
        store.complete(item, "thief", _outcome("stability"), None, rank=1, wall_s=0.0)
    assert "stability" not in store.stage_rows(item.name)
    store.complete(item, "me", _outcome("stability", "rejected"), "md_900K", rank=0, wall_s=0)
    assert store.queue_states()[item.name] == ("done", "stability", "rejected")
    assert store.counts() == {"rejected": 1, "pending": 5}


def test_items_of_a_worker_that_is_gone_are_released(where):
    store = _store(where)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = WorkerIdentity(WorkerIdentity.this_process().host,
                          WorkerIdentity.this_process().boot_id, gone.pid, 1, 0)
    alive = WorkerIdentity.this_process(rank=1)
    for me in (dead, alive):
        store.register(me)
        store.claim(me.owner, "candidate", 2)
    assert store.release_stale(stale_after_s=600) == 2
    assert store.counts() == {"running": 2, "pending": 4}
    assert {i.name for i in store.claim("new", "candidate", 10)} == {"c0", "c1", "c4", "c5"}
    # a clean stop puts this worker's items back
    assert store.release(alive.owner) == 2


def test_a_database_holds_one_screen(where):
    store = _store(where)
    store.bind("digest-1", "/tmp")  # the same screen resumes
    with pytest.raises(ConfigError, match="holds a screen with other settings"):
        ScreenStore(where).bind("digest-2", "/elsewhere")
