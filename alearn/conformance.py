"""Conformance checks for alearn's extension points.

Anyone adding an oracle (a reference method) or a committee-like calculator
(what exploration and selection run on) can check it with one call before a
campaign depends on it:

    from alearn.conformance import check_oracle, check_committee_calculator
    check_oracle(MyOracle(...), small_structure)
    check_committee_calculator(MyCommittee(...), small_structure)

Each raises :class:`ConformanceError` naming the first broken rule.
"""

from __future__ import annotations

import json

import numpy as np
from ase import Atoms

from alearn.errors import AlearnError, ConfigError
from alearn.oracles.base import Label, Oracle


class ConformanceError(AlearnError):
    """An implementation breaks the contract of its extension point."""


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise ConformanceError(what)


def check_oracle(oracle: Oracle, atoms: Atoms) -> Label:
    """Check the :class:`alearn.oracles.Oracle` contract on one structure.

    Rules: a ``name``; ``settings()`` JSON-serializable and the same on every
    call (it is hashed for provenance); ``check()`` accepts ``atoms`` and
    raises only :class:`ConfigError`; ``label()`` returns a finite energy,
    forces of shape (N, 3), a Voigt stress exactly for 3D-periodic cells, and
    leaves ``atoms`` untouched. Returns the label.
    """
    _require(isinstance(getattr(oracle, "name", None), str) and oracle.name,
             "oracle.name must be a non-empty string")
    first = json.dumps(oracle.settings(), sort_keys=True)
    _require(first == json.dumps(oracle.settings(), sort_keys=True),
             "oracle.settings() must return the same settings on every call")
    try:
        oracle.check(atoms, "conformance structure")
    except ConfigError as err:
        raise ConformanceError(f"oracle.check() rejected the test structure: {err}") from err
    before = atoms.copy()
    label = oracle.label(atoms)
    _require(isinstance(label, Label), "oracle.label() must return alearn.oracles.Label")
    _require(np.isfinite(label.energy), "label.energy must be finite")
    _require(np.shape(label.forces) == (len(atoms), 3), "label.forces must have shape (N, 3)")
    if atoms.pbc.all():
        _require(label.stress is not None and np.shape(label.stress) == (6,),
                 "3D-periodic structures need label.stress in Voigt form, shape (6,)")
    else:
        _require(label.stress is None, "label.stress must be None for non-periodic structures")
    _require(before == atoms and np.array_equal(before.positions, atoms.positions),
             "oracle.label() must not modify the structure")
    return label


def check_committee_calculator(calc, atoms: Atoms) -> dict:
    """Check what exploration and selection need of a committee(-based) calculator.

    Rules: ``results`` hold ``energy``, ``forces`` (N, 3), ``energy_std`` ≥ 0
    and ``forces_std`` (N,) ≥ 0 after a force calculation; ``descriptors()``
    returns a finite 1-D fingerprint of a size that does not depend on the
    structure. Returns the results.
    """
    work = atoms.copy()
    work.calc = calc
    work.get_forces()
    r = calc.results
    for key in ("energy", "forces", "energy_std", "forces_std"):
        _require(key in r, f"results must hold '{key}'")
    _require(np.shape(r["forces"]) == (len(atoms), 3), "results['forces'] must be (N, 3)")
    _require(np.shape(r["forces_std"]) == (len(atoms),), "results['forces_std'] must be (N,)")
    _require(float(r["energy_std"]) >= 0 and np.all(np.asarray(r["forces_std"]) >= 0),
             "spreads must be non-negative")
    describe = getattr(calc, "descriptors", None)
    _require(callable(describe), "the calculator needs descriptors(atoms) for selection")
    fingerprint = np.asarray(describe(atoms))
    _require(fingerprint.ndim == 1 and np.isfinite(fingerprint).all(),
             "descriptors() must return a finite 1-D array")
    bigger = atoms.repeat((2, 1, 1)) if atoms.pbc.all() else atoms
    _require(np.asarray(describe(bigger)).shape == fingerprint.shape,
             "descriptors() size must not depend on the structure")
    return dict(r)
