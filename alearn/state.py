"""Durable campaign state: atomic JSON files and per-stage done-markers.

A stage is done only when its marker exists; markers are written after the
stage's outputs, with a temp file + ``os.replace``, so a kill at any moment
leaves either no marker (the stage reruns) or a complete one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON to ``path`` so that readers see the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as fh:
        json.dump(obj, fh, indent=1, default=str)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


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
        return read_json(path) if path.is_file() else None

    def mark(self, iteration: int, stage: str, info: dict) -> None:
        write_json_atomic(self._marker(iteration, stage), info)

    def iterations(self) -> list[int]:
        """Iterations with a folder, ascending."""
        return sorted(int(p.name[5:]) for p in self.workdir.glob("iter_[0-9][0-9][0-9]"))
