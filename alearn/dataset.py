"""The labeled dataset: an ASE database (SQLite by default, or PostgreSQL: see
:mod:`alearn.database`) with provenance.

Each row is one structure with key-value pairs

``status``      ``selected`` (waiting for its label), ``labeled``, ``failed``, or
                ``excluded`` (labeled, but absurd: never trained on, see
                :mod:`alearn.label_checks`)
``split``       ``train`` or ``valid`` (fixed at insertion; never changes)
``source``      ``user``, ``bootstrap`` or ``explore``
``state``       the electronic state labeled (campaigns with ``states:`` only; one row
                per structure and state, see :mod:`alearn.electronic_states`)
``iteration``, ``system``, ``walker``, ``md_step``
``unc_*``       the committee uncertainty when it was selected
``oracle``, ``oracle_hash``, ``label_wall_s``, ``reason`` (failed, excluded), ``rank``

and ``data`` holding the oracle settings, the attempts made, and the
reference code's text output (zlib-compressed). Labeled rows carry energy,
forces and stress in ASE's standard columns, and the oracle's name as their
calculator. Every write is one database transaction, so a killed process never
leaves a half-written row.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from alearn.oracles.base import Label

_STATUS = ("selected", "labeled", "failed", "excluded")


@dataclass(frozen=True)
class Candidate:
    """A structure to label and where it came from."""

    atoms: Atoms
    system: str
    source: str
    iteration: int
    split: str
    walker: int = -1
    md_step: int = -1
    uncertainty: dict[str, float] | None = None
    selected_as: str | None = None  # "window" or "before_crossing" (alearn.selection)
    state: str | None = None  # electronic state to label in (alearn.electronic_states)


def compress_text(text: str | None) -> np.ndarray:
    """Text → zlib-compressed uint8 array (storable in ``row.data``)."""
    return np.frombuffer(zlib.compress((text or "").encode(), 6), dtype=np.uint8)


def decompress_text(blob: np.ndarray) -> str:
    return zlib.decompress(np.asarray(blob, dtype=np.uint8).tobytes()).decode()


class Dataset:
    """Rows of structures and their labels, backed by ``ase.db``.

    Parameters
    ----------
    path
        Database file (``.db`` → SQLite) or a ``postgresql://`` URL.
    """

    def __init__(self, path: str | Path) -> None:
        from alearn.database import connect

        self.path = path
        self.db = connect(path)

    # ------------------------------------------------------------------ writing
    def add(self, candidates: Sequence[Candidate]) -> list[int]:
        """Insert candidates with status ``selected``, all in one transaction."""
        ids = []
        with self.db:
            for c in candidates:
                kvp = dict(status="selected", split=c.split, source=c.source, system=c.system,
                           iteration=c.iteration, walker=c.walker, md_step=c.md_step)
                if c.selected_as:
                    kvp["selected_as"] = c.selected_as
                if c.state is not None:
                    kvp["state"] = c.state
                kvp.update({f"unc_{k}" if not k.startswith("unc_") else k: float(v)
                            for k, v in (c.uncertainty or {}).items()})
                atoms = c.atoms.copy()
                atoms.calc = None
                atoms.info = {}
                ids.append(self.db.write(atoms, key_value_pairs=kvp))
        return ids

    def record_label(self, row_id: int, label: Label, *, oracle: str, oracle_hash: str,
                     settings: dict, wall_s: float, rank: int = 0) -> None:
        """Store a successful label on row ``row_id`` (one transaction)."""
        atoms = self.db.get_atoms(id=row_id)
        results = {"energy": label.energy, "forces": label.forces}
        if label.stress is not None:
            results["stress"] = label.stress
        atoms.calc = SinglePointCalculator(atoms, **results)
        atoms.calc.name = oracle  # the calculator column of 'ase db' (else "unknown")
        data = {"oracle_settings": settings, "attempts": label.attempts,
                "log_gz": compress_text(label.log_text)}
        with self.db:
            self.db.update(row_id, atoms=atoms, data=data, status="labeled", oracle=oracle,
                           oracle_hash=oracle_hash, label_wall_s=float(wall_s), rank=rank)

    def record_baseline(self, row_id: int, *, baseline_hash: str, energy: float | None = None,
                        forces: np.ndarray | None = None, stress: np.ndarray | None = None,
                        failed: str | None = None) -> None:
        """Store a Δ-ML baseline's values (or why it failed) on a labeled row."""
        entry = {"hash": baseline_hash, "failed": failed, "energy": energy, "forces": forces,
                 "stress": stress}
        with self.db:
            self.db.update(row_id, data={"baseline": entry})

    def record_failure(self, row_id: int, *, reason: str, attempts: list, oracle: str,
                       oracle_hash: str, wall_s: float, log_text: str | None = None,
                       rank: int = 0) -> None:
        """Mark row ``row_id`` as failed, keeping the reason and attempts."""
        data = {"attempts": attempts, "log_gz": compress_text(log_text)}
        with self.db:
            self.db.update(row_id, data=data, status="failed", reason=reason[:500], oracle=oracle,
                           oracle_hash=oracle_hash, label_wall_s=float(wall_s), rank=rank)

    def exclude(self, row_id: int, reason: str) -> None:
        """Keep row ``row_id``'s label but never train on it (status ``excluded``)."""
        with self.db:
            self.db.update(row_id, status="excluded", reason=reason[:500])

    def reset_failed(self) -> list[int]:
        """Mark every failed row ``selected`` again, to be labeled anew; returns their ids.

        The failed attempts stay in the row's data under ``earlier_failures``.
        """
        rows = self.rows(status="failed")
        with self.db:
            for row in rows:
                earlier = list(row.data.get("earlier_failures", [])) + [
                    {"reason": row.get("reason"), "attempts": row.data.get("attempts", [])}]
                self.db.update(row.id, delete_keys=["reason"], status="selected",
                               data={"earlier_failures": earlier})
        return [row.id for row in rows]

    # ------------------------------------------------------------------ reading
    def rows(self, **selection) -> list:
        """Rows matching key=value selection, in insertion order."""
        return sorted(self.db.select(**selection), key=lambda r: r.id)

    def pending(self, **selection) -> list:
        """Rows still waiting for a label (e.g. interrupted by a kill), of ``selection``."""
        return self.rows(status="selected", **selection)

    def structures(self) -> list[Atoms]:
        """Every structure in the dataset (any status), ``info["system"]`` set."""
        frames = []
        for row in self.rows():
            atoms = row.toatoms()
            atoms.info = {"system": row.get("system"), "db_id": row.id}
            frames.append(atoms)
        return frames

    def labeled_atoms(self, split: str | None = None, **selection) -> list[Atoms]:
        """Labeled structures (of ``selection``, e.g. ``state="ox"``) with ``REF_*`` keys
        (mace-torch conventions), plus ``BASE_*``/``DELTA_*`` and ``baseline_hash`` where a
        baseline is stored."""
        sel = {"status": "labeled", **selection}
        if split:
            sel["split"] = split
        return [row_to_ref_atoms(row) for row in self.rows(**sel)]

    def count(self, **selection) -> int:
        return self.db.count(**selection)

    def counts_by(self, key: str, **selection) -> Counter:
        return Counter(r.get(key) for r in self.db.select(**selection))

    def export(self, path: str | Path, *, split: str | None = None, fmt: str = "extxyz") -> int:
        """Write labeled frames to ``path`` (extxyz: readable by ``mace_run_train``; other
        formats: see :mod:`alearn.export`); returns the count."""
        return self.export_frames(self.labeled_atoms(split), path, fmt=fmt)

    @staticmethod
    def export_frames(frames: Sequence[Atoms], path: str | Path, *, fmt: str = "extxyz") -> int:
        """Write :meth:`labeled_atoms` frames to ``path`` in format ``fmt``; the count."""
        from alearn.export import write_frames

        write_frames(frames, path, fmt)
        return len(frames)


PROVENANCE_KEYS = ("system", "source", "iteration", "walker", "md_step", "split", "oracle",
                   "oracle_hash", "state")


def row_to_ref_atoms(row) -> Atoms:
    """A labeled row as Atoms with ``REF_energy``, ``REF_forces``, ``REF_stress``."""
    atoms = row.toatoms()
    atoms.calc = None
    atoms.info = {k: row.get(k) for k in PROVENANCE_KEYS if row.get(k) is not None}
    atoms.info["db_id"] = row.id
    atoms.info["REF_energy"] = float(row.energy)
    atoms.arrays["REF_forces"] = np.array(row.forces)
    if row.get("stress") is not None:
        atoms.info["REF_stress"] = np.array(row.stress)
    base = row.data.get("baseline")
    if base and not base.get("failed"):
        from alearn.baselines import BaselineResult, delta_frame

        stress = None if base["stress"] is None else np.asarray(base["stress"])
        result = BaselineResult(energy=base["energy"], forces=np.asarray(base["forces"]),
                                stress=stress)
        atoms = delta_frame(atoms, result, baseline_hash=base["hash"])
    return atoms

