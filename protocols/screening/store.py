"""The screen's database: one ASE row per candidate and stage, and a work queue.

One database (SQLite file ``WORKDIR/screen.db`` by default, or PostgreSQL for a
screen shared by jobs on several nodes; see :mod:`alearn.database`) holds

ASE's tables
    one row per candidate (or reference) and stage: key-value pairs ``item``,
    ``kind`` (``candidate``/``reference``), ``stage`` (``input``, ``relax``,
    ``stability``, ``md_<T>K``, ``transport``), ``status``, ``reason``, ``zone``,
    the stage's values and ``unc_*`` metrics, ``rank``, ``wall_s``; ``data``
    holds the stage's full JSON; the structure is the one the stage left.
``screen_queue``
    one row per item: its next ``stage``, ``state`` (``pending``, ``running``,
    ``done``), ``outcome`` and, while running, its ``owner``.
``screen_workers``
    the live workers (host, boot id, pid and start time, heartbeat).
``screen_info``
    the screen's digest (one screen per database) and whether its candidates
    were generated.

Claim/complete protocol. A worker *claims* pending items in one statement
(``UPDATE ... WHERE item IN (SELECT ... LIMIT n) RETURNING``; on PostgreSQL
with ``FOR UPDATE SKIP LOCKED``), so two workers never get the same item.
Each finished stage is *completed* in one transaction that writes its ASE row
(replacing any earlier row of that item and stage) and advances the queue row,
but only while the worker still owns it; otherwise the transaction is rolled
back (:class:`ClaimLost`). Items of a worker that is gone (same host: its
process is dead; another host: no heartbeat for ``stale_after_s``) are
released to ``pending``. So a SIGKILL at any moment loses no item and records
none twice; at most the stage in flight is computed again.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ase import Atoms

from alearn.children import boot_id, proc_stat
from alearn.database import connect, is_server, redact
from alearn.errors import AlearnError, ConfigError

from .stages import StageOutcome

log = logging.getLogger(__name__)

__all__ = ["ClaimLost", "Item", "ScreenStore", "WorkerIdentity"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS screen_queue (item TEXT PRIMARY KEY, kind TEXT NOT NULL, "
    "seq INTEGER NOT NULL, stage TEXT NOT NULL, state TEXT NOT NULL, outcome TEXT, "
    "owner TEXT, claimed_unix DOUBLE PRECISION, attempts INTEGER NOT NULL DEFAULT 0)",
    "CREATE INDEX IF NOT EXISTS screen_queue_state ON screen_queue (state, kind, seq)",
    "CREATE TABLE IF NOT EXISTS screen_workers (owner TEXT PRIMARY KEY, host TEXT, "
    "boot_id TEXT, pid INTEGER, start_ticks BIGINT, rank INTEGER, "
    "heartbeat_unix DOUBLE PRECISION)",
    "CREATE TABLE IF NOT EXISTS screen_info (key TEXT PRIMARY KEY, value TEXT)",
)
#: what ASE reserves in key-value pairs
_RESERVED = {"id", "unique_id", "ctime", "mtime", "user", "calculator", "energy", "natoms",
             "formula", "pbc", "charge", "magmom", "fmax", "smax", "mass", "volume", "age"}


class ClaimLost(AlearnError):
    """The worker no longer owns the item (it was released as stale and taken by another)."""


@dataclass(frozen=True)
class Item:
    """A claimed queue entry: its name, kind, next stage and position in the queue."""

    name: str
    kind: str
    stage: str
    seq: int


@dataclass(frozen=True)
class WorkerIdentity:
    """Who works: host, boot id, pid and start time (clock ticks), MPI rank."""

    host: str
    boot_id: str
    pid: int
    start_ticks: int
    rank: int

    @property
    def owner(self) -> str:
        return f"{self.host}:{self.pid}:{self.start_ticks}"

    @classmethod
    def this_process(cls, rank: int = 0) -> WorkerIdentity:
        stat = proc_stat(os.getpid())
        return cls(socket.gethostname(), boot_id(), os.getpid(), stat[1] if stat else 0, rank)

    def is_gone(self, heartbeat_unix: float, stale_after_s: float, now: float) -> bool:
        """True when this worker has ended (checked in the process table on this host,
        by its heartbeat elsewhere)."""
        if self.host != socket.gethostname():
            return now - heartbeat_unix > stale_after_s
        if self.boot_id != boot_id():
            return True
        stat = proc_stat(self.pid)
        return stat is None or stat[1] != self.start_ticks


def _finite(value: Any) -> bool:
    return not (isinstance(value, float) and not math.isfinite(value))


def _clean(obj: Any) -> Any:
    """JSON-ready data with NaN/inf as None (PostgreSQL's JSON has no NaN)."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj if _finite(obj) else None


class ScreenStore:
    """The screen's database at ``where`` (a SQLite path or a PostgreSQL URL)."""

    def __init__(self, where: str | Path) -> None:
        self.where = where
        self.server = is_server(where)
        self.db = connect(where)

    # ------------------------------------------------------------------ plumbing
    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """One transaction (committed at the end, rolled back on an error): a cursor
        that takes ``?`` placeholders on both backends; ASE writes join it."""
        with self.db:
            yield self.db.connection.cursor()

    def _run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self.transaction() as cur:
            cur.execute(sql, tuple(params))
            return _fetch(cur)

    def create_schema(self) -> None:
        """Create the queue tables (idempotent)."""
        with self.transaction() as cur:
            for sql in _SCHEMA:
                cur.execute(sql)

    def info(self, key: str) -> str | None:
        rows = self._run("SELECT value FROM screen_info WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_info(self, key: str, value: str) -> None:
        self._run("INSERT INTO screen_info (key, value) VALUES (?, ?) ON CONFLICT (key) "
                  "DO UPDATE SET value = excluded.value", (key, value))

    def bind(self, digest: str, workdir: Path) -> None:
        """Record the screen's digest, or refuse a database that holds another screen.

        Raises
        ------
        ConfigError
            When the database holds a screen with other settings.
        """
        self.create_schema()
        self._run("INSERT INTO screen_info (key, value) VALUES ('digest', ?) ON CONFLICT "
                  "(key) DO NOTHING", (digest,))
        held = self.info("digest")
        if held != digest:
            raise ConfigError(
                f"{redact(self.where)}: holds a screen with other settings (candidates, "
                f"committee, stages or uncertainty; digest {held}, this one {digest}), "
                f"started in {self.info('workdir')}; resume it with the same settings, or "
                "give this screen its own database (or --workdir)")
        self._run("INSERT INTO screen_info (key, value) VALUES ('workdir', ?) ON CONFLICT "
                  "(key) DO NOTHING", (str(Path(workdir).resolve()),))

    # ------------------------------------------------------------------ items
    def add_items(self, kind: str, items: Sequence[tuple[str, Atoms, str]], *,
                  first_stage: str, chunk: int = 500) -> int:
        """Queue (name, structure, origin) items not queued yet, each with its ``input``
        row; returns how many were new."""
        new = 0
        for start in range(0, len(items), chunk):
            with self.transaction() as cur:
                for seq, (name, atoms, origin) in enumerate(items[start:start + chunk], start):
                    cur.execute("INSERT INTO screen_queue (item, kind, seq, stage, state) "
                                "VALUES (?, ?, ?, ?, 'pending') ON CONFLICT (item) DO NOTHING "
                                "RETURNING item", (name, kind, seq, first_stage))
                    if _fetch(cur):
                        self.db.write(atoms, item=name, kind=kind, stage="input",
                                      status="passed", origin=origin)
                        new += 1
        return new

    def claim(self, owner: str, kind: str, n: int) -> list[Item]:
        """Take up to ``n`` pending items of ``kind`` (lowest ``seq`` first)."""
        lock = " FOR UPDATE SKIP LOCKED" if self.server else ""
        rows = self._run(
            "UPDATE screen_queue SET state = 'running', owner = ?, claimed_unix = ?, "
            "attempts = attempts + 1 WHERE item IN (SELECT item FROM screen_queue WHERE "
            f"state = 'pending' AND kind = ? ORDER BY seq LIMIT ?{lock}) "
            "RETURNING item, kind, stage, seq", (owner, time.time(), kind, n))
        return sorted((Item(*r) for r in rows), key=lambda i: i.seq)

    def complete(self, item: Item, owner: str, outcome: StageOutcome, next_stage: str | None,
                 *, rank: int, wall_s: float) -> None:
        """Record one stage of ``item`` and advance it, in one transaction.

        Raises
        ------
        ClaimLost
            When ``owner`` no longer holds the item (nothing is written).
        """
        done = next_stage is None or outcome.status != "passed"
        with self.transaction() as cur:
            cur.execute("UPDATE screen_queue SET stage = ?, state = ?, outcome = ? WHERE "
                        "item = ? AND owner = ? AND state = 'running' RETURNING item",
                        (outcome.stage if done else next_stage, "done" if done else "running",
                         outcome.status if done else None, item.name, owner))
            if not _fetch(cur):
                raise ClaimLost(f"{item.name}: no longer held by {owner}")
            old = [r.id for r in self.db.select(item=item.name, stage=outcome.stage)]
            if old:
                self.db.delete(old)
            self.db.write(outcome.atoms if outcome.atoms is not None else Atoms(),
                          key_value_pairs=self._kvp(item, outcome, rank, wall_s),
                          data=_clean(outcome.to_json()))

    @staticmethod
    def _kvp(item: Item, outcome: StageOutcome, rank: int, wall_s: float) -> dict[str, Any]:
        kvp: dict[str, Any] = {"item": item.name, "kind": item.kind, "stage": outcome.stage,
                               "status": outcome.status, "zone": outcome.zone, "rank": rank,
                               "wall_s": float(wall_s)}
        if outcome.reason:
            kvp["reason"] = outcome.reason[:500]
        for key, value in {**outcome.values, **outcome.uncertainty}.items():
            if value is not None and _finite(value) and key not in _RESERVED:
                kvp[key] = float(value) if isinstance(value, float) else value
        return kvp

    def release(self, owner: str) -> int:
        """Put ``owner``'s running items back to pending (a clean stop); returns the count."""
        return len(self._run("UPDATE screen_queue SET state = 'pending', owner = NULL WHERE "
                             "state = 'running' AND owner = ? RETURNING item", (owner,)))

    # ------------------------------------------------------------------ workers
    def register(self, me: WorkerIdentity) -> None:
        self._run("INSERT INTO screen_workers (owner, host, boot_id, pid, start_ticks, rank, "
                  "heartbeat_unix) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (owner) DO UPDATE "
                  "SET heartbeat_unix = excluded.heartbeat_unix",
                  (me.owner, me.host, me.boot_id, me.pid, me.start_ticks, me.rank, time.time()))

    def heartbeat(self, owner: str) -> None:
        self._run("UPDATE screen_workers SET heartbeat_unix = ? WHERE owner = ?",
                  (time.time(), owner))

    def unregister(self, owner: str) -> None:
        self._run("DELETE FROM screen_workers WHERE owner = ?", (owner,))

    def release_stale(self, stale_after_s: float) -> int:
        """Release the running items of workers that are gone; returns the item count."""
        now = time.time()
        workers = {r[0]: r for r in self._run(
            "SELECT owner, host, boot_id, pid, start_ticks, rank, heartbeat_unix "
            "FROM screen_workers")}
        owners = {r[0] for r in self._run(
            "SELECT DISTINCT owner FROM screen_queue WHERE state = 'running'")}
        gone = [o for o in owners if o not in workers or WorkerIdentity(
            *workers[o][1:6]).is_gone(float(workers[o][6]), stale_after_s, now)]
        released = 0
        for owner in gone:
            with self.transaction() as cur:
                cur.execute("UPDATE screen_queue SET state = 'pending', owner = NULL WHERE "
                            "state = 'running' AND owner = ? RETURNING item", (owner,))
                n = len(_fetch(cur))
                cur.execute("DELETE FROM screen_workers WHERE owner = ?", (owner,))
            if n:
                log.warning("released %d candidate(s) of worker %s, which is gone", n, owner)
            released += n
        return released

    # ------------------------------------------------------------------ reading
    def counts(self, kind: str = "candidate") -> dict[str, int]:
        """Items of ``kind`` by state (pending, running) and, when done, by outcome."""
        rows = self._run("SELECT state, outcome, COUNT(*) FROM screen_queue WHERE kind = ? "
                         "GROUP BY state, outcome", (kind,))
        out: dict[str, int] = {}
        for state, outcome, n in rows:
            key = outcome if state == "done" else state
            out[key] = out.get(key, 0) + int(n)
        return out

    def claim_possible(self, kind: str) -> bool:
        """True while items of ``kind`` are pending."""
        return bool(self._run("SELECT COUNT(*) FROM screen_queue WHERE kind = ? AND "
                              "state = 'pending'", (kind,))[0][0])

    def unfinished(self, kind: str) -> bool:
        """True while items of ``kind`` are pending or running."""
        return bool(self._run("SELECT COUNT(*) FROM screen_queue WHERE kind = ? AND "
                              "state <> 'done'", (kind,))[0][0])

    def queue_states(self, kind: str = "candidate") -> dict[str, tuple[str, str, str | None]]:
        """Per item of ``kind``: (state, stage, outcome) in the queue."""
        return {r[0]: tuple(r[1:]) for r in self._run(
            "SELECT item, state, stage, outcome FROM screen_queue WHERE kind = ?", (kind,))}

    def claim_times(self, kind: str = "candidate") -> list[float]:
        """When each claimed item of ``kind`` was last claimed (Unix seconds)."""
        return [float(r[0]) for r in self._run(
            "SELECT claimed_unix FROM screen_queue WHERE kind = ? AND claimed_unix IS NOT NULL",
            (kind,))]

    def stage_rows(self, name: str) -> dict[str, Any]:
        """The ASE rows of item ``name`` by stage."""
        return {row.get("stage"): row for row in self.db.select(item=name)}

    def rows(self, **selection: Any) -> list[Any]:
        """ASE rows matching ``selection``, in insertion order."""
        return sorted(self.db.select(**selection), key=lambda r: r.id)


def _fetch(cur: Any) -> list[tuple]:
    try:
        return [tuple(r) for r in cur.fetchall()]
    except Exception:  # noqa: BLE001 - a statement without results (drivers differ)
        return []


class Heartbeat:
    """A thread that keeps a worker's heartbeat fresh (its own database connection)."""

    def __init__(self, where: str | Path, owner: str, interval_s: float) -> None:
        self._store = ScreenStore(where)
        self._owner = owner
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True,
                                        name="alearn-screen-heartbeat")

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self._store.heartbeat(self._owner)
            except Exception as err:  # noqa: BLE001 - a missed beat is retried
                log.warning("screen heartbeat failed: %s", err)
