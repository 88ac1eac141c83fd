"""Scratch folders of training attempts: one per attempt, never shared.

A committee member is trained in ``attempts/member_<k>.<n>/``, where ``n``
counts the attempts. Before a new attempt starts, whatever an earlier one left
running is ended (its pid record, :mod:`alearn.children`), and the earlier
folders are removed, except one: when the last attempt had trained for at
least ``resume_after_s`` seconds before it was killed and left a mace-torch
checkpoint, its folder is *taken over* (renamed to the new attempt's name)
and training resumes from that checkpoint (``--restart_latest``).

Resuming keeps the work of a long training, but the continued run is not bit
for bit the uninterrupted one (mace-torch restarts from its best checkpoint
with a freshly seeded data order). A short attempt is cheaper to redo from
scratch with the same seed, which reproduces the uninterrupted result exactly.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

from alearn.children import end_recorded

log = logging.getLogger(__name__)

__all__ = ["ATTEMPTS_DIR", "new_attempt", "trained_seconds"]

ATTEMPTS_DIR = "attempts"
_RECORD = "attempt.json"


def _number(folder: Path) -> int:
    suffix = folder.name.rpartition(".")[2]
    return int(suffix) if suffix.isdigit() else 0


def trained_seconds(folder: Path) -> float:
    """Seconds between an attempt's start and its newest checkpoint (0 without one)."""
    checkpoints = list((folder / "checkpoints").glob("*.pt"))
    try:
        started = json.loads((folder / _RECORD).read_text())["started"]
    except (OSError, ValueError, KeyError):
        return 0.0
    if not checkpoints:
        return 0.0
    return max(p.stat().st_mtime for p in checkpoints) - float(started)


def new_attempt(parent: Path, name: str, *, resume_after_s: float) -> tuple[Path, bool]:
    """A folder of its own for the next attempt at ``name`` under ``parent/attempts``.

    Parameters
    ----------
    parent
        The committee folder.
    name
        What is trained, e.g. ``member_0``.
    resume_after_s
        Take over the last attempt's checkpoint when it had trained this long (s).

    Returns
    -------
    The attempt's folder, and whether to resume from the checkpoint in it.
    """
    root = parent / ATTEMPTS_DIR
    root.mkdir(parents=True, exist_ok=True)
    earlier = sorted(root.glob(f"{name}.*"), key=_number)
    for folder in earlier:
        end_recorded(folder)  # confirmed dead before its folder is touched
    taken = None
    if earlier and trained_seconds(earlier[-1]) >= resume_after_s:
        taken = earlier[-1]
    for folder in earlier:
        if folder is not taken:
            shutil.rmtree(folder, ignore_errors=True)
    folder = root / f"{name}.{_number(earlier[-1]) + 1 if earlier else 1}"
    if taken is not None:
        os.rename(taken, folder)
        log.info("%s: resuming from the checkpoint of %s (%.0f s trained)", name, taken.name,
                 trained_seconds(folder))
        return folder, True
    folder.mkdir()
    (folder / _RECORD).write_text(json.dumps({"started": time.time()}))
    return folder, False
