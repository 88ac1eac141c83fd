"""Slab geometry: the electrode plane and heights of atoms above it.

Interfaces are set up with the surface normal along z: the cell's third
vector along z and the first two in the xy plane (what ``ase.build.fcc111``
and friends produce). The *electrode plane* is either a fixed height or the
mean z of a set of electrode atoms (by default the top layer of a species or
tag), recomputed in every frame so that a drifting slab does not shift the
profiles. Heights are ``z_atom - z_plane``, taken modulo the cell height
into ``[0, L_z)`` when the cell is periodic along z, so the liquid above the
top face is continuous whatever side of the cell boundary it sits on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

from alearn.errors import ConfigError

from .trajectory import MDTrajectory


@dataclass(frozen=True)
class ElectrodePlane:
    """Where z = 0 is: the plane of the electrode's top layer (or a fixed height).

    Give exactly one of ``z_A``, ``indices``, ``symbol`` or ``tag``.

    Parameters
    ----------
    z_A
        A fixed plane height in Å (cell coordinates).
    indices
        Atoms whose mean z (per frame) is the plane.
    symbol
        Electrode species; the plane is the mean z of its top layer.
    tag
        ASE tag of the electrode atoms (``atoms.get_tags()``); top layer as for ``symbol``.
        ``ase.build.fcc111`` tags layers 1 (top) to n, so ``tag=1`` selects the top layer
        directly.
    layer_tolerance_A
        Atoms of the selected species/tag within this distance below the highest
        one (in the reference frame) form the top layer.
    top_layer_only
        With ``symbol``/``tag``: use only the top layer (default); False uses all.
    """

    z_A: float | None = None
    indices: tuple[int, ...] | None = None
    symbol: str | None = None
    tag: int | None = None
    layer_tolerance_A: float = 0.7
    top_layer_only: bool = True

    def __post_init__(self) -> None:
        given = [k for k in ("z_A", "indices", "symbol", "tag") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ConfigError(f"ElectrodePlane: give exactly one of z_A, indices, symbol, tag "
                              f"(got {given or 'none'})")
        if self.indices is not None and len(self.indices) == 0:
            raise ConfigError("ElectrodePlane.indices is empty; list the electrode atoms")

    def electrode_indices(self, atoms: Atoms) -> np.ndarray | None:
        """Indices of the atoms that define the plane in ``atoms`` (None for a fixed plane)."""
        if self.z_A is not None:
            return None
        if self.indices is not None:
            idx = np.asarray(self.indices, dtype=int)
            if idx.min() < 0 or idx.max() >= len(atoms):
                raise ConfigError(f"ElectrodePlane.indices {self.indices} out of range for "
                                  f"{len(atoms)} atoms")
            return idx
        if self.symbol is not None:
            chosen = np.flatnonzero(np.asarray(atoms.get_chemical_symbols()) == self.symbol)
            what = f"symbol {self.symbol!r}"
        else:
            chosen = np.flatnonzero(atoms.get_tags() == self.tag)
            what = f"tag {self.tag}"
        if chosen.size == 0:
            raise ConfigError(f"ElectrodePlane: no atom with {what} in the structure "
                              f"({atoms.get_chemical_formula()}); choose the electrode's")
        if not self.top_layer_only:
            return chosen
        z = atoms.positions[chosen, 2]
        return chosen[z >= z.max() - self.layer_tolerance_A]

    def plane_z(self, positions_A: np.ndarray, electrode: np.ndarray | None) -> np.ndarray:
        """Plane height in Å per frame, shape (F,), from positions of shape (F, N, 3)."""
        if electrode is None:
            return np.full(positions_A.shape[0], float(self.z_A))
        return positions_A[:, electrode, 2].mean(axis=1)


def check_slab_cell(cells_A: np.ndarray, source: str) -> None:
    """Raise unless the third cell vector is along z and the first two lie in the xy plane."""
    cells = np.asarray(cells_A, dtype=float).reshape(-1, 3, 3)
    off = np.abs(cells[:, 2, :2]).max() + np.abs(cells[:, :2, 2]).max()
    if off > 1e-6 * max(1.0, np.abs(cells).max()):
        raise ConfigError(f"{source}: the cell is not a slab cell (a, b in the xy plane, c along "
                          "z); rotate the structure so the surface normal is z")


def heights_above_plane(
    traj: MDTrajectory,
    atom_indices: np.ndarray,
    plane: ElectrodePlane,
    reference: Atoms,
    *,
    periodic_z: bool = True,
) -> np.ndarray:
    """Height of selected atoms above the electrode plane in every frame.

    Parameters
    ----------
    traj
        Trajectory (unwrapped positions are fine).
    atom_indices
        Atoms to follow, shape (M,).
    plane
        Electrode plane definition.
    reference
        A structure of the same atoms (e.g. the first frame read with ``ase.io.read``),
        used to resolve ``symbol``/``tag`` into electrode atoms.
    periodic_z
        Take heights modulo the cell height into ``[0, L_z)``.

    Returns
    -------
    numpy.ndarray
        Heights in Å, shape (F, M).
    """
    check_slab_cell(traj.cells_A, traj.source)
    if len(reference) != traj.n_atoms:
        raise ConfigError(f"{traj.source}: the reference structure has {len(reference)} atoms, "
                          f"the trajectory {traj.n_atoms}")
    electrode = plane.electrode_indices(reference)
    idx = np.asarray(atom_indices, dtype=int)
    if electrode is not None and np.intersect1d(idx, electrode).size:
        raise ConfigError(f"{traj.source}: atoms {np.intersect1d(idx, electrode).tolist()} "
                          "are both followed and part of the electrode plane")
    heights = traj.positions_A[:, idx, 2] - plane.plane_z(traj.positions_A, electrode)[:, None]
    if periodic_z:
        heights = np.mod(heights, traj.cells_A[:, 2, 2][:, None])
    return heights
