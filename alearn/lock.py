"""One runner per workdir: a lock file that names its holder.

``alearn run`` holds ``WORKDIR/.alearn.lock`` for as long as it runs (under
mpirun, rank 0 holds it for all ranks). The file is created with
``O_CREAT | O_EXCL`` (atomic, also on NFS v3+) and holds the holder's host,
pid, process start time and rank count; a heartbeat thread touches it every
``HEARTBEAT_S`` seconds.

A second run is refused at once, with a message naming the holder. A lock
left behind by a killed run is *stale* and taken over:

- on the same host, when the holder's pid is not alive or belongs to another
  process (its start time differs): checked in the process table, never by name;
- from another host, when its heartbeat is older than ``STALE_AFTER_S``.

Taking over renames the stale file to a unique name first: of two runs that
find the same stale lock, only one rename succeeds.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from alearn.children import boot_id, proc_stat
from alearn.errors import AlearnError

log = logging.getLogger(__name__)

__all__ = ["HEARTBEAT_S", "LOCK_FILE", "STALE_AFTER_S", "WorkdirBusy", "WorkdirLock",
           "live_holder"]

LOCK_FILE = ".alearn.lock"
HEARTBEAT_S = 30.0
STALE_AFTER_S = 600.0


class WorkdirBusy(AlearnError):
    """Another run holds the workdir."""


def _holder_record(ranks: int) -> dict[str, Any]:
    stat = proc_stat(os.getpid())
    return {"host": socket.gethostname(), "boot_id": boot_id(), "pid": os.getpid(),
            "start_ticks": stat[1] if stat else 0, "ranks": ranks,
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "started_unix": time.time()}


def _is_stale(holder: dict[str, Any], age_s: float) -> bool:
    if holder.get("host") != socket.gethostname():
        return age_s > STALE_AFTER_S
    if holder.get("boot_id") != boot_id():
        return True
    stat = proc_stat(int(holder.get("pid", 0)))
    return stat is None or stat[1] != holder.get("start_ticks")


def live_holder(workdir: Path) -> dict[str, Any] | None:
    """The record of the live run that holds ``workdir`` (host, pid, started, ranks), or
    None when no run holds it or its holder is gone (a stale lock). Only reads."""
    path = Path(workdir) / LOCK_FILE
    try:
        holder = json.loads(path.read_text())
        age_s = time.time() - path.stat().st_mtime
    except (OSError, ValueError):
        return None
    if not isinstance(holder, dict) or _is_stale(holder, age_s):
        return None
    return holder


class WorkdirLock:
    """Hold ``workdir``'s lock inside a ``with`` block (creates the workdir).

    Parameters
    ----------
    workdir
        The campaign's work directory.
    ranks
        MPI ranks of this run (shown to a refused second run).

    Raises
    ------
    WorkdirBusy
        When a live run holds the lock (the message names its host, pid and start).
    """

    def __init__(self, workdir: Path, *, ranks: int = 1) -> None:
        self.path = Path(workdir) / LOCK_FILE
        self.ranks = ranks
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def __enter__(self) -> WorkdirLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            if self._create():
                self._heartbeat = threading.Thread(target=self._beat, daemon=True,
                                                   name="alearn-lock-heartbeat")
                self._heartbeat.start()
                return self
            self._take_over_if_stale()
        raise WorkdirBusy(f"{self.path}: could not take the lock (another run keeps taking "
                          "it); try again")

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
        try:
            if json.loads(self.path.read_text()).get("pid") == os.getpid():
                self.path.unlink()
        except (OSError, ValueError):
            pass

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as fh:
            json.dump(_holder_record(self.ranks), fh)
            fh.flush()
            os.fsync(fh.fileno())
        return True

    def _take_over_if_stale(self) -> None:
        try:
            holder = json.loads(self.path.read_text())
            age_s = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return  # released meanwhile: try again
        except (OSError, ValueError):
            holder, age_s = {}, time.time() - self.path.stat().st_mtime
            if age_s < 10:  # being written right now
                time.sleep(1.0)
                return
        if holder and not _is_stale(holder, age_s):
            raise WorkdirBusy(
                f"{self.path.parent} is being run by pid {holder.get('pid')} on host "
                f"{holder.get('host')} (started {holder.get('started')}, "
                f"{holder.get('ranks')} rank(s)); wait for it to finish or stop it "
                "(SIGTERM), then run again")
        stale = self.path.with_name(f"{LOCK_FILE}.stale.{os.getpid()}")
        try:
            os.rename(self.path, stale)
        except FileNotFoundError:
            return  # another run took it over first
        log.warning("took over the lock of a run that is gone (pid %s on %s, started %s)",
                    holder.get("pid"), holder.get("host"), holder.get("started"))
        stale.unlink(missing_ok=True)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                os.utime(self.path)
            except OSError as err:
                log.warning("%s: heartbeat failed (%s)", self.path, err)
