"""Build ``bq_water.xyz`` for ``campaign_gpaw.yaml``: p-benzoquinone with four waters,
each hydrogen-bonded to a carbonyl oxygen lone pair (24 atoms), relaxed in the oxidised
(neutral) state on GFN2-xTB, centred in a box with 5 Å of vacuum to every face.

    python examples/redox/build_bq_water.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.optimize import FIRE
from tblite.ase import TBLite

HERE = Path(__file__).resolve().parent


def benzoquinone() -> Atoms:
    """Planar p-benzoquinone (D2h) in the xy plane, C=O along x (bond lengths C=O 1.22,
    C-C 1.48, C=C 1.34, C-H 1.08 Å; ring angle at the carbonyl carbon 118°)."""
    b = 1.34 / 2                                  # C=C bond along x
    a_minus_b = 1.48 / np.sqrt(1 + np.tan(np.radians(59.0)) ** 2)
    a, c = b + a_minus_b, a_minus_b * np.tan(np.radians(59.0))
    symbols, positions = [], []
    for sx in (1, -1):
        symbols += ["C", "O"]
        positions += [(sx * a, 0.0, 0.0), (sx * (a + 1.22), 0.0, 0.0)]
    for sx in (1, -1):
        for sy in (1, -1):
            symbols += ["C", "H"]
            positions += [(sx * b, sy * c, 0.0),
                          (sx * (b + 0.54), sy * (c + 0.935), 0.0)]
    return Atoms(symbols, positions=positions)


def water_at(oxygen: np.ndarray, direction: np.ndarray) -> Atoms:
    """A water whose first H points at ``oxygen`` from 1.9 Å away along ``direction``."""
    d = direction / np.linalg.norm(direction)
    h1 = oxygen + 1.9 * d
    o = h1 + 0.97 * d
    perp = np.cross(d, [0.0, 0.0, 1.0])
    h2 = o + 0.97 * (np.cos(np.radians(75.5)) * d + np.sin(np.radians(75.5)) * perp)
    return Atoms("OHH", positions=[o, h1, h2])


def main() -> None:
    atoms = benzoquinone()
    for index in (1, 3):  # the two carbonyl oxygens
        oxygen = atoms.positions[index]
        outward = np.sign(oxygen[0])
        for angle in (60.0, -60.0):
            rad = np.radians(angle)
            atoms += water_at(oxygen, np.array([outward * np.cos(rad), np.sin(rad), 0.0]))
    atoms.calc = TBLite(method="GFN2-xTB", verbosity=0)
    FIRE(atoms, logfile=None).run(fmax=0.02, steps=600)
    atoms.calc = None
    atoms.center(vacuum=5.0)
    atoms.write(HERE / "bq_water.xyz")
    print(atoms.get_chemical_formula(), atoms.cell.lengths().round(2))


if __name__ == "__main__":
    main()
