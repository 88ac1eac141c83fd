"""Build the start structure of the solid-conductor example: Li₃OCl with a LiCl Schottky pair.

Li₃OCl is the Li-rich anti-perovskite solid electrolyte (cubic Pm-3m, a = 3.91 Å;
O at the cube centre, Cl at the corners, Li on the face centres). Li moves by
vacancy hops; LiCl Schottky pairs are the defects that carry it (Emly et al.,
Chem. Mater. 25, 4663 (2013)). The 2×2×2 cell (40 sites) loses one Li and one Cl,
leaving 38 atoms, charge neutral and closed shell, with one Li vacancy (4 % of the
Li sites). Positions and cell are relaxed on GFN1-xTB (the test oracle; it gives
a = 3.95 Å). Writes ``li3ocl_vacancy.xyz`` here::

    python examples/solid_conductor/build_structure.py

The GPAW version of the example uses the 2×2×1 cell (20 sites, 18 atoms, one Li
vacancy in 12 Li sites), sized so that a plane-wave label with stress costs about
a minute on one core; it is scaled to GFN1-xTB's lattice constant, not relaxed
(tblite samples only Γ, too coarse for a 3.95 Å axis)::

    python examples/solid_conductor/build_structure.py --repeat 2 2 1 --no-relax \
        --out li3ocl_vacancy_221.xyz
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ase import Atoms
from ase.filters import FrechetCellFilter
from ase.optimize import FIRE

A_EXP = 3.91  # Å, experimental lattice constant of Li3OCl
A_XTB = 3.95  # Å, GFN1-xTB's, from relaxing the 2×2×2 cell


def li3ocl_with_schottky_pair(repeat: tuple[int, int, int] = (2, 2, 2),
                              a: float = A_EXP) -> Atoms:
    """Li₃OCl supercell with the first Li and the last Cl removed (a LiCl Schottky pair)."""
    prim = Atoms("OClLi3", cell=[a] * 3, pbc=True,
                 scaled_positions=[(0.5, 0.5, 0.5), (0, 0, 0),
                                   (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)])
    atoms = prim.repeat(repeat)
    symbols = atoms.get_chemical_symbols()
    li = [i for i, s in enumerate(symbols) if s == "Li"]
    cl = [i for i, s in enumerate(symbols) if s == "Cl"]
    del atoms[[li[0], cl[-1]]]
    return atoms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, nargs=3, default=(2, 2, 2))
    parser.add_argument("--no-relax", action="store_true",
                        help="scale to GFN1-xTB's a = 3.95 Å instead of relaxing on it")
    parser.add_argument("--out", default="li3ocl_vacancy.xyz", help="file name, written here")
    args = parser.parse_args()
    if args.no_relax:
        atoms = li3ocl_with_schottky_pair(tuple(args.repeat), A_XTB)
    else:
        from tblite.ase import TBLite

        atoms = li3ocl_with_schottky_pair(tuple(args.repeat))
        atoms.calc = TBLite(method="GFN1-xTB", verbosity=0)
        FIRE(FrechetCellFilter(atoms), logfile="-").run(fmax=0.05, steps=100)
        atoms.calc = None
    atoms.write(Path(__file__).with_name(args.out))
    print(atoms.get_chemical_formula(), len(atoms), "atoms; cell", atoms.cell.cellpar().round(3))


if __name__ == "__main__":
    main()
