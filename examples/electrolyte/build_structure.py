"""Build a start structure for the electrolyte example: Li⁺ F⁻ in N waters, cubic box.

The GPAW version of the example (``campaign_gpaw.yaml``) runs on LiF + 8 H₂O
(26 atoms, 6.56 Å box at 1.0 g/cm³): a GPAW LCAO label of the 50-atom box of the
xTB version (``lif_water.xyz``, 16 waters) costs about 45 s on one core here, and
the campaign would take most of a day on 2 cores. The box edge follows from the
density. Li and F sit at the centres of opposite octants (solvent-separated, half a
body diagonal apart), Li with a tetrahedral first shell of four waters; the other
waters are packed at random positions and orientations with oxygens at least 2.6 Å
apart and no atom within 1.6 Å of another (under the periodic images). The packing is relaxed
on GFN1-xTB (the test oracle; FIRE to 0.3 eV/Å, at most 100 steps)::

    python examples/electrolyte/build_structure.py --waters 8 --out lif_water8.xyz
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import molecule
from ase.geometry import get_distances
from ase.optimize import FIRE
from ase.units import _amu

MIN_O_O_A = 2.6  # closest oxygen–oxygen (and oxygen–ion) distance of the packing
LI_O_A = 1.95  # Li–O distance of the first shell (Li⁺ is four-coordinate in water)
MIN_ATOM_A = 1.6  # closest distance of a new water's atoms to any atom already placed


def box_edge_A(n_water: int, density_g_cm3: float) -> float:
    """Edge (Å) of the cubic box holding LiF + ``n_water`` H₂O at ``density_g_cm3``."""
    mass_g = (Atoms("LiF").get_masses().sum()
              + n_water * molecule("H2O").get_masses().sum()) * _amu * 1000
    return float((mass_g / density_g_cm3 * 1e24) ** (1 / 3))


def solvated_ion_pair(edge_A: float) -> Atoms:
    """Li at (¼,¼,¼) of the box with its first shell (four waters, O at 1.95 Å on a
    tetrahedron, hydrogens pointing away), F at (¾,¾,¾)."""
    cell = np.eye(3) * edge_A
    atoms = Atoms("LiF", scaled_positions=[(0.25,) * 3, (0.75,) * 3], cell=cell, pbc=True)
    for u in np.array([(1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1)]) / np.sqrt(3):
        water = molecule("H2O")  # O on the z axis, the hydrogens towards -z
        water.rotate((0, 0, -1), u)
        water.translate(atoms.positions[0] + LI_O_A * u - water.positions[0])
        atoms += water
    return atoms


def pack(n_water: int, edge_A: float, rng: np.random.Generator) -> Atoms:
    """:func:`solvated_ion_pair` and ``n_water`` - 4 more waters at random."""
    atoms = solvated_ion_pair(edge_A)
    cell = atoms.cell
    heavy = [p for p, s in zip(atoms.positions, atoms.get_chemical_symbols()) if s != "H"]
    for _ in range(100_000):
        if len(heavy) == n_water + 2:
            break
        site = rng.random(3) @ cell
        water = molecule("H2O")
        water.rotate(rng.uniform(0, 360), rng.normal(size=3))
        water.translate(site - water.positions[0])
        _, d_heavy = get_distances(site, np.array(heavy), cell=cell, pbc=True)
        _, d_all = get_distances(water.positions, atoms.positions, cell=cell, pbc=True)
        if d_heavy.min() > MIN_O_O_A and d_all.min() > MIN_ATOM_A:
            atoms += water
            heavy.append(site)
    else:
        raise RuntimeError(f"could not pack {n_water} waters in a {edge_A:.2f} Å box")
    atoms.wrap()
    return atoms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--waters", type=int, default=8)
    parser.add_argument("--density", type=float, default=1.0, help="g/cm³")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--out", default="lif_water8.xyz", help="file name, written here")
    args = parser.parse_args()
    from tblite.ase import TBLite

    atoms = pack(args.waters, box_edge_A(args.waters, args.density),
                 np.random.default_rng(args.seed))
    atoms.calc = TBLite(method="GFN1-xTB", verbosity=0)
    FIRE(atoms, logfile="-").run(fmax=0.3, steps=100)
    atoms.calc = None
    atoms.wrap()
    atoms.write(Path(__file__).with_name(args.out))
    print(atoms.get_chemical_formula(), len(atoms), "atoms; edge", atoms.cell[0, 0].round(2), "Å")


if __name__ == "__main__":
    main()
