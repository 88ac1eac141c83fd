"""Conformance checks for alearn's extension points.

Anyone adding a reference method (a module like :mod:`alearn.methods.xtb`), an
oracle, or a committee-like calculator (what exploration and selection run on)
can check it with one call before a campaign depends on it:

    from alearn.conformance import check_committee_calculator, check_method, check_oracle
    check_method(my_method_module, MySettings(), small_structure)
    check_oracle(MyOracle(...), small_structure)
    check_committee_calculator(MyCommittee(...), small_structure)

Each raises :class:`ConformanceError` naming the first broken rule.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
from ase import Atoms

from alearn.errors import AlearnError, ConfigError
from alearn.methods import Method
from alearn.oracles.base import Label, Oracle, label_with_calculator


class ConformanceError(AlearnError):
    """An implementation breaks the contract of its extension point."""


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise ConformanceError(what)


def _check_stable_json(get: Callable[[], Any], what: str) -> None:
    first = json.dumps(get(), sort_keys=True)
    _require(first == json.dumps(get(), sort_keys=True),
             f"{what} must return the same JSON-serializable value on every call")


def _check_accepts(check: Callable[[Atoms, str], None], atoms: Atoms, what: str) -> None:
    try:
        check(atoms, "conformance structure")
    except ConfigError as err:
        raise ConformanceError(f"{what} rejected the test structure: {err}") from err


def _check_label(label: Label, atoms: Atoms, before: Atoms, what: str) -> None:
    _require(isinstance(label, Label), f"{what} must return alearn.oracles.Label")
    _require(np.isfinite(label.energy), "label.energy must be finite")
    _require(np.shape(label.forces) == (len(atoms), 3), "label.forces must have shape (N, 3)")
    if atoms.pbc.all():
        _require(label.stress is not None and np.shape(label.stress) == (6,),
                 "3D-periodic structures need label.stress in Voigt form, shape (6,)")
    else:
        _require(label.stress is None, "label.stress must be None for non-periodic structures")
    _require(before == atoms and np.array_equal(before.positions, atoms.positions),
             f"{what} must not modify the structure")


def check_method(method: Method, settings: Any, atoms: Atoms) -> Label:
    """Check the :class:`alearn.methods.base.Method` contract on one structure.

    Rules: ``settings_dict()`` and ``code_versions()`` JSON-serializable and
    the same on every call (they are hashed for provenance); ``charge()`` a
    number or None; ``check_atoms()`` accepts ``atoms`` and raises only
    :class:`ConfigError`; the calculator of ``make_calculator()`` gives a
    finite energy, forces (N, 3), and a Voigt stress for 3D-periodic cells.
    Returns what the calculator gave, as a :class:`Label`.
    """
    for name in ("make_calculator", "check_atoms", "settings_dict", "code_versions", "charge"):
        _require(callable(getattr(method, name, None)), f"a method needs {name}()")
    _check_stable_json(lambda: method.settings_dict(settings), "settings_dict()")
    _check_stable_json(lambda: method.code_versions(settings), "code_versions()")
    charge = method.charge(settings)
    _require(charge is None or isinstance(charge, (int, float)),
             "charge() must be a number or None")
    _check_accepts(lambda a, where: method.check_atoms(a, where, settings), atoms, "check_atoms()")
    before = atoms.copy()
    label = label_with_calculator(atoms, method.make_calculator(settings))
    _check_label(label, atoms, before, "the calculator")
    return label


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
    _check_stable_json(oracle.settings, "oracle.settings()")
    _check_accepts(oracle.check, atoms, "oracle.check()")
    before = atoms.copy()
    label = oracle.label(atoms)
    _check_label(label, atoms, before, "oracle.label()")
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
