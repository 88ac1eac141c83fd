"""Child processes that die with the campaign, and pid records to find leftovers.

Every process alearn starts (mace-torch trainers, label workers and the MPI
launchers under them) goes through :func:`run_supervised`, which starts it

- in a session of its own, so the launcher and every rank under it can be
  found (by session id) and ended together;
- with a parent-death signal: Linux sends it SIGKILL the moment the campaign
  process dies, however it dies (SIGKILL included). A tiny exec wrapper sets
  ``PR_SET_PDEATHSIG`` and then ``exec``\\ s the command, which keeps the
  signal; this avoids ``preexec_fn``, unsafe in a threaded parent;
- recorded in a pid record, ``process.json`` in the folder the child works
  in (host, boot id, pid = session id, start time in clock ticks), for as
  long as it runs.

A resumed run calls :func:`end_recorded` on its workdir before it reuses any
scratch folder: every live process of a recorded session whose start time is
not before the recorded one is killed (never by name), then the record is
removed. Label workers also set the parent-death signal themselves
(:func:`die_with_parent`), so MPI ranks die with their launcher.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from alearn.state import write_json_atomic

log = logging.getLogger(__name__)

__all__ = ["RECORD", "die_with_parent", "end_recorded", "end_session", "live_members",
           "run_supervised"]

RECORD = "process.json"
_PR_SET_PDEATHSIG = 1
#: seconds between SIGTERM and SIGKILL when a child is ended
TERM_GRACE_S = 3.0
# Sets the parent-death signal, checks the parent did not die before that, then
# becomes the command. Run with -S -c: it starts in a few milliseconds.
_GUARD = ("import ctypes,os,signal,sys\n"
          "ctypes.CDLL(None,use_errno=True).prctl(1,int(signal.SIGKILL),0,0,0)\n"
          "os.getppid()==int(sys.argv[1]) or os._exit(137)\n"
          "os.execvp(sys.argv[2],sys.argv[2:])")


def die_with_parent() -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(137)


# --------------------------------------------------------------------------- process table
def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def proc_stat(pid: int) -> tuple[int, int] | None:
    """(session id, start time in clock ticks) of a live process, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):  # a zombie has ended; only its parent's wait remains
        return None
    return int(fields[3]), int(fields[19])


def live_members(session: int, since_ticks: int) -> list[int]:
    """Pids of the live processes of ``session`` started at or after ``since_ticks``.

    When the session's leader (pid = session id) is alive but started at
    another time, the pid was reused by an unrelated session: none are returned.
    """
    leader = proc_stat(session)
    if leader is not None and leader[1] != since_ticks:
        return []
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = proc_stat(int(entry.name))
            if stat is not None and stat[0] == session and stat[1] >= since_ticks:
                members.append(int(entry.name))
    return members


def end_session(session: int, since_ticks: int, *, grace_s: float = TERM_GRACE_S) -> None:
    """SIGTERM every live member of ``session``; SIGKILL those left after ``grace_s``."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 30.0)):
        members = live_members(session, since_ticks)
        for pid in members:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait_s
        while members and time.monotonic() < deadline:
            time.sleep(0.05)
            members = live_members(session, since_ticks)
        if not members:
            return
    log.warning("session %d: processes %s survived SIGKILL", session, members)


# --------------------------------------------------------------------------- records
def _write_record(folder: Path, proc: subprocess.Popen, command: Sequence[str]) -> None:
    stat = proc_stat(proc.pid)
    record = {"host": socket.gethostname(), "boot_id": boot_id(), "pid": proc.pid,
              "start_ticks": stat[1] if stat else 0, "parent": os.getpid(),
              "command": " ".join(command)[:500], "started": time.time()}
    write_json_atomic(folder / RECORD, record)


def end_recorded(root: Path, *, grace_s: float = TERM_GRACE_S) -> int:
    """End the live processes recorded under ``root`` and remove their records.

    Records from another host cannot be checked from here: they are left in
    place and a warning names them. Returns how many sessions had live processes.
    """
    ended = 0
    host, boot = socket.gethostname(), boot_id()
    for path in sorted(Path(root).rglob(RECORD)):
        try:
            record: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            path.unlink(missing_ok=True)  # half-written: its child was never started
            continue
        if record.get("host") != host:
            log.warning("%s: a process (pid %s) on host %s may still be running; check it "
                        "there", path, record.get("pid"), record.get("host"))
            continue
        if record.get("boot_id") == boot and live_members(record["pid"], record["start_ticks"]):
            log.warning("ending leftover process %s (%s) of an earlier run", record["pid"],
                        record.get("command", "")[:80])
            end_session(record["pid"], record["start_ticks"], grace_s=grace_s)
            ended += 1
        path.unlink(missing_ok=True)
    return ended


# --------------------------------------------------------------------------- running
def run_supervised(command: Sequence[str], *, folder: Path, env: Mapping[str, str],
                   stdout: IO, stderr: IO | int, timeout_s: float | None = None,
                   cwd: Path | None = None) -> tuple[int | None, float]:
    """Run ``command`` as a supervised child (see the module docstring) to its end.

    Parameters
    ----------
    command
        Program and arguments.
    folder
        Where the pid record is kept while the child runs (the child's scratch folder).
    env, stdout, stderr, cwd
        As for :class:`subprocess.Popen`.
    timeout_s
        Wall-time limit (s); the child's session is ended when it is reached.

    Returns
    -------
    The exit code (None when the time limit ended it) and the wall time (s).

    Raises
    ------
    FileNotFoundError
        The program was not found.
    """
    if shutil.which(command[0], path=env.get("PATH")) is None:
        raise FileNotFoundError(f"{command[0]!r} not found on PATH")
    t0 = time.perf_counter()
    guarded = [sys.executable, "-S", "-c", _GUARD, str(os.getpid()), *command]
    proc = subprocess.Popen(guarded, cwd=cwd, env=dict(env), stdout=stdout, stderr=stderr,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    stat = proc_stat(proc.pid)
    since = stat[1] if stat else 0
    rc: int | None = None
    try:
        _write_record(folder, proc, command)
        rc = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        end_session(proc.pid, since)
        proc.wait()
    except BaseException:  # interrupted (Ctrl-C, SIGTERM): the child must not outlive us
        end_session(proc.pid, since, grace_s=0.5)
        proc.wait()
        raise
    finally:
        if rc is not None and live_members(proc.pid, since):
            end_session(proc.pid, since)  # ranks left behind by a launcher that exited
        (folder / RECORD).unlink(missing_ok=True)
    return rc, time.perf_counter() - t0
