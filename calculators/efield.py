"""A uniform external electric field as an ASE calculator wrapper.

:class:`ElectricFieldCalculator` wraps any ASE calculator and adds the force
``F_i = q_i E`` of a uniform field ``E`` (V/Å, any direction) on fixed charges
``q_i`` (e); with these units ``q E`` is directly in eV/Å.

What it does *not* add: the field's potential energy ``-Σ_i q_i E·r_i``. In a
periodic cell that energy is unbounded and not translation invariant, so it
is left out; ``energy`` (and ``stress``) are the wrapped calculator's. The
total energy is therefore not conserved under the field (the field does work
on the ions, which a thermostat must remove); use the forces, not energy
conservation, to check the dynamics.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator, Calculator, InputError, all_changes

log = logging.getLogger(__name__)


class ElectricFieldCalculator(Calculator):
    """Wrapped calculator's results with ``forces + q E``.

    Parameters
    ----------
    calc
        The calculator that gives the interatomic forces (committee, Δ-ML
        sum, anything with ``forces``).
    charges
        Charge in e per chemical symbol (``{"Li": 1.0, "F": -1.0}``; every
        species needs one) or per atom (sequence of length N). Formal or
        scaled (e.g. 0.8 e) charges are both fine; they only enter q E.
    field_V_A
        Field vector in V/Å, shape (3,).

    Notes
    -----
    ``results`` holds every entry of the wrapped calculator's ``results``
    (e.g. ``energy_std``, ``forces_std`` of a committee), with ``forces``
    (shape (N, 3), eV/Å) and, when present, ``forces_committee`` (shape
    (K, N, 3)) shifted by ``q E``. A non-neutral set of charges puts a net
    force ``Σ q_i E`` on the system; this is logged as a warning.
    """

    def __init__(self, calc: BaseCalculator, charges: Mapping[str, float] | Sequence[float],
                 field_V_A: Sequence[float], **kwargs) -> None:
        super().__init__(**kwargs)
        if "forces" not in calc.implemented_properties:
            raise InputError(f"{type(calc).__name__} does not compute forces; "
                             "ElectricFieldCalculator needs a calculator with forces")
        self.calc = calc
        self.implemented_properties = list(calc.implemented_properties)
        self.charges = charges
        field = np.asarray(field_V_A, dtype=float)
        if field.shape != (3,):
            raise InputError(f"field_V_A must be a 3-vector in V/Å, got shape {field.shape}")
        self.field_V_A = field
        self._warned_net_charge = False

    def atom_charges(self, atoms: Atoms) -> np.ndarray:
        """Charge of each atom of ``atoms`` in e, shape (N,)."""
        if isinstance(self.charges, Mapping):
            symbols = atoms.get_chemical_symbols()
            missing = sorted(set(symbols) - set(self.charges))
            if missing:
                raise InputError(
                    f"ElectricFieldCalculator: no charge for species {missing}; give a charge "
                    f"(in e) for every species in the structure {sorted(set(symbols))}"
                )
            return np.array([float(self.charges[s]) for s in symbols])
        q = np.asarray(self.charges, dtype=float)
        if q.shape != (len(atoms),):
            raise InputError(f"ElectricFieldCalculator: {q.size} charges for {len(atoms)} atoms; "
                             "give one charge per atom or a mapping per species")
        return q

    def field_forces(self, atoms: Atoms) -> np.ndarray:
        """The field's force ``q_i E`` on each atom in eV/Å, shape (N, 3)."""
        return self.atom_charges(atoms)[:, None] * self.field_V_A[None, :]

    def calculate(self, atoms: Atoms | None = None, properties: Sequence[str] = ("energy",),
                  system_changes: Sequence[str] = all_changes) -> None:
        """Evaluate the wrapped calculator and add ``q E`` to its forces."""
        super().calculate(atoms, properties, system_changes)
        wanted = list(dict.fromkeys([*properties, "forces"]))
        for prop in wanted:
            self.calc.get_property(prop, self.atoms)
        results = {k: (v.copy() if isinstance(v, np.ndarray) else v)
                   for k, v in self.calc.results.items()}
        extra = self.field_forces(self.atoms)
        if abs(extra.sum(axis=0)).max() > 1e-9 and not self._warned_net_charge:
            self._warned_net_charge = True
            log.warning("ElectricFieldCalculator: charges are not neutral; net field force "
                        "%s eV/Å drives the centre of mass", extra.sum(axis=0))
        results["forces"] = results["forces"] + extra
        committee = results.get("forces_committee")
        if isinstance(committee, np.ndarray) and committee.shape[1:] == extra.shape:
            results["forces_committee"] = committee + extra[None]
        self.results = results
