"""Collective variables s(r): value and gradient on a structure, series along a trajectory.

* :class:`HeightAbovePlane` — an atom's height above the electrode plane (Å);
* :class:`Distance` — minimum-image distance between two atoms (Å);
* :class:`CoordinationNumber` — ``Σ_j (1 - (r_j/r0)^n) / (1 - (r_j/r0)^m)`` over
  neighbour atoms j (dimensionless), the smooth count PLUMED's COORDINATION uses.

Each has ``value_and_gradient(atoms)`` (the restraint of umbrella sampling needs
``∂s/∂r``, shape (N, 3)) and ``series(positions_A, cells_A)`` (shape (F,) from
positions (F, N, 3), for the analysis of stored frames).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from ase import Atoms

from alearn.errors import ConfigError

from ..slab import ElectrodePlane


class CollectiveVariable(Protocol):
    """What umbrella sampling and the analyses need from a CV."""

    label: str

    def value_and_gradient(self, atoms: Atoms) -> tuple[float, np.ndarray]:
        """s and ∂s/∂r (shape (N, 3), per Å) at the structure."""

    def series(self, positions_A: np.ndarray, cells_A: np.ndarray) -> np.ndarray:
        """s in every frame, shape (F,), from positions (F, N, 3) and cells (F, 3, 3)."""


@dataclass(frozen=True)
class HeightAbovePlane:
    """Height of one atom above the electrode plane, in Å (see :mod:`alearn.protocols.slab`).

    Parameters
    ----------
    atom
        Index of the atom (e.g. the ion).
    plane
        The plane; with electrode atoms, their mean z moves with them (and the
        restraint force is shared among them, so the total force is zero).
    reference
        Structure used to resolve ``plane.symbol``/``plane.tag`` into atoms.
    periodic_z
        Heights modulo the cell height into ``[0, L_z)`` when ``reference`` is
        periodic along z (its ``pbc`` decides, for live structures and stored
        frames alike).
    """

    atom: int
    plane: ElectrodePlane
    reference: Atoms
    periodic_z: bool = True

    @property
    def label(self) -> str:
        return f"height of atom {self.atom} ({self.reference[self.atom].symbol}) above plane (Å)"

    def _electrode(self) -> np.ndarray | None:
        electrode = self.plane.electrode_indices(self.reference)
        if electrode is not None and self.atom in electrode:
            raise ConfigError(f"HeightAbovePlane: atom {self.atom} is part of the electrode plane")
        return electrode

    def value_and_gradient(self, atoms: Atoms) -> tuple[float, np.ndarray]:
        electrode = self._electrode()
        value = self.series(atoms.positions[None], atoms.cell.array[None])[0]
        grad = np.zeros((len(atoms), 3))
        grad[self.atom, 2] = 1.0
        if electrode is not None:
            grad[electrode, 2] -= 1.0 / electrode.size
        return float(value), grad

    def series(self, positions_A: np.ndarray, cells_A: np.ndarray) -> np.ndarray:
        electrode = self._electrode()
        h = positions_A[:, self.atom, 2] - self.plane.plane_z(positions_A, electrode)
        height = cells_A[:, 2, 2]
        if self.periodic_z and self.reference.pbc[2] and np.all(height > 0):
            h = np.mod(h, height)
        return h

    def displaced(self, atoms: Atoms, value: float) -> Atoms:
        """A copy of ``atoms`` with the atom moved along z so that s = ``value``."""
        out = atoms.copy()
        current, _ = self.value_and_gradient(atoms)
        out.positions[self.atom, 2] += value - current
        return out


@dataclass(frozen=True)
class Distance:
    """Minimum-image distance between atoms ``first`` and ``second``, in Å."""

    first: int
    second: int

    @property
    def label(self) -> str:
        return f"distance between atoms {self.first} and {self.second} (Å)"

    def value_and_gradient(self, atoms: Atoms) -> tuple[float, np.ndarray]:
        vec = _mic_vectors(atoms.positions[None, self.second] - atoms.positions[None, self.first],
                           atoms.cell.array[None], atoms.pbc)[0]
        dist = float(np.linalg.norm(vec))
        grad = np.zeros((len(atoms), 3))
        grad[self.second] = vec / dist
        grad[self.first] = -vec / dist
        return dist, grad

    def series(self, positions_A: np.ndarray, cells_A: np.ndarray) -> np.ndarray:
        vec = _mic_vectors(positions_A[:, self.second] - positions_A[:, self.first], cells_A,
                           np.ones(3, bool))
        return np.linalg.norm(vec, axis=-1)

    def displaced(self, atoms: Atoms, value: float) -> Atoms:
        """A copy of ``atoms`` with atom ``second`` moved along the bond so that s = ``value``."""
        out = atoms.copy()
        current, grad = self.value_and_gradient(atoms)
        out.positions[self.second] += (value - current) * grad[self.second]
        return out


@dataclass(frozen=True)
class CoordinationNumber:
    """Smooth number of ``neighbours`` within about ``r0_A`` of atom ``center``.

    ``s = Σ_j (1 - x_j^n) / (1 - x_j^m)``, ``x_j = r_j / r0``; each term falls from
    1 to 0 around r0 (1/2 at r0 for n=6, m=12).
    """

    center: int
    neighbours: tuple[int, ...]
    r0_A: float
    n: int = 6
    m: int = 12

    def __post_init__(self) -> None:
        if self.center in self.neighbours or not self.neighbours or self.r0_A <= 0 \
                or not self.m > self.n > 0:
            raise ConfigError("CoordinationNumber: need neighbours without the centre, r0_A > 0 "
                              "and m > n > 0")

    @property
    def label(self) -> str:
        return f"coordination number of atom {self.center} (r0 = {self.r0_A:g} Å)"

    def value_and_gradient(self, atoms: Atoms) -> tuple[float, np.ndarray]:
        idx = np.asarray(self.neighbours)
        vec = _mic_vectors(atoms.positions[None, idx] - atoms.positions[None, None, self.center],
                           atoms.cell.array[None], atoms.pbc)[0]
        r = np.linalg.norm(vec, axis=-1)
        s, ds_dr = self._switch(r)
        grad = np.zeros((len(atoms), 3))
        grad[idx] = (ds_dr / r)[:, None] * vec
        grad[self.center] = -grad[idx].sum(axis=0)
        return float(s.sum()), grad

    def series(self, positions_A: np.ndarray, cells_A: np.ndarray) -> np.ndarray:
        idx = np.asarray(self.neighbours)
        vec = _mic_vectors(positions_A[:, idx] - positions_A[:, self.center][:, None], cells_A,
                           np.ones(3, bool))
        return self._switch(np.linalg.norm(vec, axis=-1))[0].sum(axis=-1)

    def _switch(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Switching function and its derivative d/dr (1/Å), elementwise."""
        x = r / self.r0_A
        near = np.abs(x - 1.0) < 1e-6
        x = np.where(near, 1.0 + 1e-6, x)  # the 0/0 at x = 1 has the limit n/m
        num, den = 1.0 - x**self.n, 1.0 - x**self.m
        s = num / den
        ds_dx = (-self.n * x ** (self.n - 1) * den + self.m * x ** (self.m - 1) * num) / den**2
        return s, ds_dx / self.r0_A


def _mic_vectors(vec: np.ndarray, cells: np.ndarray, pbc: np.ndarray) -> np.ndarray:
    """Minimum-image vectors (..., 3) per frame for cells (F, 3, 3); vec has F first."""
    pbc = np.asarray(pbc, dtype=bool)
    if not pbc.any() or np.any(np.abs(np.linalg.det(cells)) < 1e-9):
        return vec  # no periodicity, or no cell at all
    inv = np.linalg.inv(cells)
    shape = vec.shape
    flat = vec.reshape(shape[0], -1, 3)
    frac = np.einsum("fnj,fjk->fnk", flat, inv)
    frac[..., pbc] -= np.round(frac[..., pbc])
    return np.einsum("fnj,fjk->fnk", frac, cells).reshape(shape)
