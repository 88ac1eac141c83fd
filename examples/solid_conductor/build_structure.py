"""Build the start structure of the solid-conductor example: Li₃OCl with a LiCl Schottky pair.

Li₃OCl is the Li-rich anti-perovskite solid electrolyte (cubic Pm-3m, a = 3.91 Å;
O at the cube centre, Cl at the corners, Li on the face centres). Li moves by
vacancy hops; LiCl Schottky pairs are the defects that carry it (Emly et al.,
Chem. Mater. 25, 4663 (2013)). The 2×2×2 cell (40 sites) loses one Li and one Cl,
leaving 38 atoms, charge neutral and closed shell, with one Li vacancy (4 % of the
Li sites). Positions and cell are relaxed on GFN1-xTB (the test oracle; it gives
a = 3.95 Å). Writes ``li3ocl_vacancy.xyz`` here::

    python examples/solid_conductor/build_structure.py
"""

from __future__ import annotations

from pathlib import Path

from ase import Atoms
from ase.filters import FrechetCellFilter
from ase.optimize import FIRE

A_EXP = 3.91  # Å, experimental lattice constant of Li3OCl


def li3ocl_with_schottky_pair() -> Atoms:
    """2×2×2 Li₃OCl with the first Li and the last Cl removed (they are 4.8 Å apart)."""
    prim = Atoms("OClLi3", cell=[A_EXP] * 3, pbc=True,
                 scaled_positions=[(0.5, 0.5, 0.5), (0, 0, 0),
                                   (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)])
    atoms = prim.repeat((2, 2, 2))
    symbols = atoms.get_chemical_symbols()
    li = [i for i, s in enumerate(symbols) if s == "Li"]
    cl = [i for i, s in enumerate(symbols) if s == "Cl"]
    del atoms[[li[0], cl[-1]]]
    return atoms


def main() -> None:
    from tblite.ase import TBLite

    atoms = li3ocl_with_schottky_pair()
    atoms.calc = TBLite(method="GFN1-xTB", verbosity=0)
    FIRE(FrechetCellFilter(atoms), logfile="-").run(fmax=0.05, steps=100)
    atoms.calc = None
    atoms.write(Path(__file__).with_name("li3ocl_vacancy.xyz"))
    print(atoms.get_chemical_formula(), len(atoms), "atoms; cell", atoms.cell.cellpar().round(3))


if __name__ == "__main__":
    main()
