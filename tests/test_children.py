"""Supervised children die with their parent; leftovers are found by pid record."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alearn.children import RECORD, end_recorded, live_members, proc_stat, run_supervised

PARENT = """
import subprocess, sys
from pathlib import Path
from alearn.children import run_supervised
folder = Path(sys.argv[1])
run_supervised(sys.argv[2:], folder=folder, env={"PATH": "/usr/bin:/bin"},
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
"""


def _alive(pid: int) -> bool:
    return proc_stat(pid) is not None


def _wait(condition, what: str, within_s: float = 60) -> None:
    """Wait for an event; ``within_s`` only bounds a failure."""
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _start_parent(folder: Path, *command: str) -> tuple[subprocess.Popen, dict]:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(folder), *command])
    _wait(lambda: (folder / RECORD).is_file(), "the pid record")
    return parent, json.loads((folder / RECORD).read_text())


def test_child_dies_with_a_killed_parent(tmp_path):
    parent, record = _start_parent(tmp_path, "sleep", "600")
    assert _alive(record["pid"])
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    _wait(lambda: not _alive(record["pid"]), "the child to die with its parent")


def test_leftover_grandchildren_are_ended_by_their_record(tmp_path):
    # bash dies with its parent, but the sleep it started in the background stays
    # alive in the child's session until end_recorded() finds it there.
    parent, record = _start_parent(tmp_path, "bash", "-c", "sleep 600 & wait")
    _wait(lambda: len(live_members(record["pid"], record["start_ticks"])) >= 2,
          "bash to start its sleep")
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    _wait(lambda: not _alive(record["pid"]), "bash to die with its parent")
    left = live_members(record["pid"], record["start_ticks"])
    assert left, "the background sleep should have outlived bash"
    assert end_recorded(tmp_path) == 1
    assert not any(_alive(pid) for pid in left)
    assert not (tmp_path / RECORD).exists()


def test_a_reused_pid_is_never_killed(tmp_path):
    other = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        ticks = proc_stat(other.pid)[1]
        (tmp_path / RECORD).write_text(json.dumps({
            "host": os.uname().nodename, "boot_id": Path(
                "/proc/sys/kernel/random/boot_id").read_text().strip(),
            "pid": other.pid, "start_ticks": ticks - 1}))  # an older process had this pid
        assert end_recorded(tmp_path) == 0
        assert _alive(other.pid)
        assert not (tmp_path / RECORD).exists()
    finally:
        other.kill()
        other.wait()


def test_time_limit_ends_the_whole_session(tmp_path):
    script = f"echo $$ > {tmp_path / 'sid'}; sleep 600 & sleep 600"
    with open(tmp_path / "out", "wb") as out:
        rc, elapsed = run_supervised(["bash", "-c", script], folder=tmp_path,
                                     env={"PATH": "/usr/bin:/bin"}, stdout=out,
                                     stderr=subprocess.STDOUT, timeout_s=10.0)
    assert rc is None and elapsed < 300
    assert not (tmp_path / RECORD).exists()
    session = int((tmp_path / "sid").read_text())
    assert live_members(session, 0) == []


def test_missing_program_is_reported_before_starting(tmp_path):
    with pytest.raises(FileNotFoundError, match="no-such-program"):
        run_supervised(["no-such-program"], folder=tmp_path, env={"PATH": "/usr/bin"},
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
