"""Energy above the convex hull: the stability proxy.

The hull energy at a composition x (atom fractions) is the lowest energy per
atom of any mixture of the competing phases with that composition,

    E_hull(x) = min_w Σ_i w_i e_i   subject to   Σ_i w_i x_i = x,  w ≥ 0,

(e_i the energy per atom of phase i, Σ_i w_i = 1 follows from the fractions
summing to 1), a linear program (SciPy's HiGHS). The energy above the hull is
e − E_hull(x) ≥ 0 for a phase on or above the hull. This is what pymatgen's
``PhaseDiagram.get_e_above_hull`` computes, without its requirement of an
entry for every pure element: a committee trained on ionic solids cannot
price Li metal or Cl₂, so the hull here is spanned by the competing compounds
(Li₂O, LiCl, ...) the user supplies. A composition they cannot make has no
hull energy (NaN: "no competing phases").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from scipy.optimize import linprog

__all__ = ["HullPhase", "composition_vector", "e_above_hull"]


@dataclass(frozen=True)
class HullPhase:
    """A phase of the hull: its name, atom counts per element, energy per atom (eV)."""

    name: str
    counts: dict[str, int]
    energy_per_atom_eV: float

    @classmethod
    def from_atoms(cls, name: str, atoms: Atoms, energy_eV: float) -> HullPhase:
        symbols = atoms.get_chemical_symbols()
        return cls(name, {s: symbols.count(s) for s in sorted(set(symbols))},
                   float(energy_eV) / len(atoms))


def composition_vector(counts: dict[str, int], elements: Sequence[str]) -> np.ndarray:
    """Atom fractions of ``counts`` over ``elements`` (shape (len(elements),)); an element
    outside ``elements`` makes the vector NaN."""
    total = sum(counts.values())
    if set(counts) - set(elements):
        return np.full(len(elements), np.nan)
    return np.array([counts.get(e, 0) / total for e in elements])


def e_above_hull(phase: HullPhase, competing: Sequence[HullPhase]) -> tuple[float, list[str]]:
    """Energy of ``phase`` above the hull of ``competing`` (eV/atom), and the phases of
    the mixture at the hull (names, by decreasing weight).

    Negative when ``phase`` lies below the hull of ``competing`` (stable by that
    much); ≥ 0 when ``phase`` is one of ``competing`` (0: on the hull). Returns
    (NaN, []) when no mixture of ``competing`` has ``phase``'s composition.
    """
    elements = sorted({e for p in [phase, *competing] for e in p.counts})
    target = composition_vector(phase.counts, elements)
    usable = [p for p in competing if not np.isnan(composition_vector(p.counts, elements)).any()]
    if not usable:
        return float("nan"), []
    a_eq = np.array([composition_vector(p.counts, elements) for p in usable]).T
    cost = np.array([p.energy_per_atom_eV for p in usable])
    res = linprog(cost, A_eq=a_eq, b_eq=target, bounds=(0, None), method="highs")
    if res.status != 0:
        return float("nan"), []
    order = np.argsort(-res.x)
    mixture = [usable[i].name for i in order if res.x[i] > 1e-9]
    return float(phase.energy_per_atom_eV - res.fun), mixture
