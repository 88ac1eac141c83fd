"""One runner per workdir: a live holder is named and refused, a stale lock taken over."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from alearn.lock import LOCK_FILE, STALE_AFTER_S, WorkdirBusy, WorkdirLock
from conftest import alearn_cli, write_campaign


def _write_lock(workdir, **holder) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / LOCK_FILE).write_text(json.dumps(holder))


def test_second_runner_is_refused_and_told_who_holds_it(tmp_path):
    with WorkdirLock(tmp_path / "w", ranks=2):
        with pytest.raises(WorkdirBusy, match=rf"pid {os.getpid()} on host .*2 rank"):
            with WorkdirLock(tmp_path / "w"):
                pass
    assert not (tmp_path / "w" / LOCK_FILE).exists()  # released on exit
    with WorkdirLock(tmp_path / "w"):
        pass


def test_lock_of_a_dead_process_is_taken_over(tmp_path):
    gone = subprocess.Popen(["true"])
    gone.wait()
    _write_lock(tmp_path, host=os.uname().nodename, pid=gone.pid, start_ticks=1,
                boot_id=open("/proc/sys/kernel/random/boot_id").read().strip())
    with WorkdirLock(tmp_path):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()


def test_lock_from_another_host_is_stale_only_without_heartbeat(tmp_path):
    _write_lock(tmp_path, host="node-elsewhere", pid=1, start_ticks=1, started="today")
    with pytest.raises(WorkdirBusy, match="node-elsewhere"):
        with WorkdirLock(tmp_path):
            pass
    old = time.time() - STALE_AFTER_S - 60
    os.utime(tmp_path / LOCK_FILE, (old, old))
    with WorkdirLock(tmp_path):
        pass


def test_alearn_run_refuses_a_workdir_in_use(tmp_path):
    config = write_campaign(tmp_path)
    with WorkdirLock(tmp_path / "work"):
        proc = alearn_cli("run", str(config), "--workdir", str(tmp_path / "work"))
    assert proc.returncode == 4  # alearn.cli.Exit.BUSY
    assert proc.stderr.startswith("alearn: error:") and f"pid {os.getpid()}" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "work" / "dataset.db").exists()
