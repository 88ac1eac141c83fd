"""The oracle interface: what labels a structure with reference energies and forces.

An oracle is a reference method (:mod:`alearn.methods`) plus a labeling
policy. It is built from an :class:`alearn.config.OracleConfig` by
:func:`alearn.oracles.make_oracle`, so a worker process can rebuild it from the
config alone. Implementations live beside this module (``plain``: one
calculation per label; ``gpaw``: with an SCF retry ladder);
:func:`alearn.conformance.check_oracle` checks a new one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
from ase import Atoms

if TYPE_CHECKING:
    from ase.calculators.calculator import BaseCalculator


@dataclass
class Label:
    """A successful reference calculation.

    Attributes
    ----------
    energy
        Total energy (eV).
    forces
        Forces (eV/Å), shape (N, 3).
    stress
        Stress (eV/Å³), Voigt shape (6,), for fully periodic cells; else None.
    attempts
        One dict per attempt (the settings changed and the outcome), e.g. from
        an SCF retry ladder. A first-time success has one entry.
    log_text
        The reference code's text output (stored compressed), or None.
    """

    energy: float
    forces: np.ndarray
    stress: np.ndarray | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    log_text: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: ``energy``, ``forces`` and ``stress`` as (nested)
        lists or None, ``attempts``, ``log_text``."""
        return {"energy": float(self.energy),
                "forces": np.asarray(self.forces, dtype=float).tolist(),
                "stress": None if self.stress is None
                else np.asarray(self.stress, dtype=float).tolist(),
                "attempts": self.attempts, "log_text": self.log_text}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Label:
        """The Label of a :meth:`to_json` dict; keys other than its own are ignored,
        and ``attempts``/``log_text`` may be missing."""
        stress = d.get("stress")
        return cls(energy=float(d["energy"]), forces=np.array(d["forces"], dtype=float),
                   stress=None if stress is None else np.array(stress, dtype=float),
                   attempts=d.get("attempts") or [], log_text=d.get("log_text"))


@runtime_checkable
class Oracle(Protocol):
    """What the campaign needs of a reference method."""

    name: str

    def settings(self) -> dict[str, Any]:
        """JSON-serializable settings that determine the labels' values."""

    def check(self, atoms: Atoms, where: str) -> None:
        """Raise :class:`alearn.errors.ConfigError` naming ``where`` if ``atoms``
        cannot be labeled (unsupported element, charge, periodicity). Cheap: runs
        before any expensive work."""

    def label(self, atoms: Atoms) -> Label:
        """Compute energy, forces (and stress for periodic cells) of ``atoms``.

        Raises :class:`alearn.errors.LabelFailed` with a reason when the
        calculation fails. Must not modify ``atoms``.
        """


def settings_hash(settings: dict[str, Any], version: str = "") -> str:
    """Short stable hash of oracle settings (and code version) for provenance."""
    blob = json.dumps({"settings": settings, "version": version}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def label_with_calculator(atoms: Atoms, calc: BaseCalculator, *, stress: bool | None = None
                          ) -> Label:
    """Energy (eV), forces (eV/Å, (N, 3)) and stress (eV/Å³, Voigt (6,)) of ``atoms``
    (not modified) from an ASE calculator.

    ``stress``: whether to ask for it; default: for 3D-periodic cells.
    Forces and stress ignore the structure's constraints.
    """
    work = atoms.copy()
    work.calc = calc
    energy = float(work.get_potential_energy())
    # Labels are the physical forces: constraints (FixAtoms, ...) must not zero them.
    forces = np.array(work.get_forces(apply_constraint=False), dtype=float)
    if stress is None:
        stress = bool(work.pbc.all())
    voigt = (np.array(work.get_stress(voigt=True, apply_constraint=False), dtype=float)
             if stress else None)
    return Label(energy=energy, forces=forces, stress=voigt,
                 attempts=[{"attempt": 1, "ok": True}])
