"""A double-well ASE calculator with an exact free-energy barrier (a reference system).

``V = Σ_i [h ((z_i - z0)²/a² - 1)² + ½ k_xy ((x_i - x0)² + (y_i - y0)²)]`` for
independent atoms: along z each atom sees two minima at ``z0 ± a`` separated by
a barrier of exactly ``h`` at ``z0``; in x, y a harmonic well. Because the
directions separate, the free energy along an atom's z *is* its potential, so
umbrella sampling with real ASE dynamics on this calculator must return a
barrier of ``h``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes


class DoubleWell(Calculator):
    """Independent atoms in a double well along z and a harmonic well in x, y.

    Parameters
    ----------
    barrier_eV
        Barrier height h in eV.
    half_distance_A
        Distance a from the barrier top to each minimum in Å.
    lateral_spring_eV_A2
        k_xy in eV/Å².
    center_A
        (x0, y0, z0) in Å.
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, barrier_eV: float = 0.1, half_distance_A: float = 1.0,
                 lateral_spring_eV_A2: float = 1.0,
                 center_A: Sequence[float] = (0.0, 0.0, 0.0), **kwargs) -> None:
        super().__init__(**kwargs)
        self.barrier_eV = float(barrier_eV)
        self.half_distance_A = float(half_distance_A)
        self.lateral_spring_eV_A2 = float(lateral_spring_eV_A2)
        self.center_A = np.asarray(center_A, dtype=float)

    def potential_z(self, z_A: np.ndarray) -> np.ndarray:
        """The double-well term in eV at heights ``z_A`` (the exact F(z) of one atom)."""
        u = (np.asarray(z_A, dtype=float) - self.center_A[2]) ** 2 / self.half_distance_A**2
        return self.barrier_eV * (u - 1.0) ** 2

    def calculate(self, atoms: Atoms | None = None, properties: Sequence[str] = ("energy",),
                  system_changes: Sequence[str] = all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        d = self.atoms.positions - self.center_A
        a2 = self.half_distance_A**2
        u = d[:, 2] ** 2 / a2
        k = self.lateral_spring_eV_A2
        energy = float(np.sum(self.barrier_eV * (u - 1.0) ** 2)
                       + 0.5 * k * np.sum(d[:, :2] ** 2))
        forces = np.empty_like(d)
        forces[:, :2] = -k * d[:, :2]
        forces[:, 2] = -self.barrier_eV * 2.0 * (u - 1.0) * 2.0 * d[:, 2] / a2
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}
