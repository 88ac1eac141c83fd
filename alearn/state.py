"""Durable campaign state: atomic JSON files and per-stage done-markers.

A stage is done only when its marker exists; markers are written after the
stage's outputs, with a temp file + ``os.replace``, so a kill at any moment
leaves either no marker (the stage reruns) or a complete one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ase import Atoms
from ase.io import write

log = logging.getLogger(__name__)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; on success it replaces ``path``.

    Readers see the old file or the complete new one, never half of it: the
    temporary file is flushed to disk and then renamed with ``os.replace``.
    On an exception the temporary file is removed and ``path`` is untouched.
    The parent folder is created if needed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically (see :func:`atomic_path`)."""
    write_text_atomic(path, json.dumps(obj, indent=1, default=str))


def write_extxyz(frames: Sequence[Atoms], path: str | os.PathLike) -> None:
    """Write ``frames`` to an extxyz file atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        write(tmp, list(frames), format="extxyz", parallel=False)


def read_json(path: Path) -> Any:
    with open(path) as fh:
        return json.load(fh)


class Stages:
    """Done-markers ``iter_NNN/<stage>.done.json`` under a campaign workdir."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)

    def iter_dir(self, iteration: int) -> Path:
        return self.workdir / f"iter_{iteration:03d}"

    def _marker(self, iteration: int, stage: str) -> Path:
        return self.iter_dir(iteration) / f"{stage}.done.json"

    def done(self, iteration: int, stage: str) -> dict | None:
        """The marker's content if the stage is done, else None."""
        path = self._marker(iteration, stage)
        if not path.is_file():
            return None
        try:
            return read_json(path)
        except ValueError as err:  # damaged: the stage is redone (stages are idempotent)
            log.warning("%s is damaged (%s); redoing that stage", path, err)
            path.unlink()
            return None

    def mark(self, iteration: int, stage: str, info: dict) -> None:
        write_json_atomic(self._marker(iteration, stage), info)

    def iterations(self) -> list[int]:
        """Iterations with a folder, ascending."""
        return sorted(int(p.name[5:]) for p in self.workdir.glob("iter_[0-9][0-9][0-9]"))

    def last_done(self, stage: str) -> int | None:
        """The latest iteration whose ``stage`` is done (None: none is)."""
        return max((it for it in self.iterations() if self.done(it, stage)), default=None)
