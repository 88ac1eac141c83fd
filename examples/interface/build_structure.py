"""Build the start structure of the interface example: Cu(111) | water | vacuum, one Li.

A 3×3 Cu(111) slab of three layers (27 atoms, PBE-like lattice constant 3.63 Å),
14 water molecules packed at random (liquid density, 1.0 g/cm³) in the 8 Å
above it, one Li atom in the second water layer, and 12 Å of vacuum above the
water. The cell is neutral: the Li gives up its electron to the metal, as in
an electrode carrying a small negative surface charge with a Li⁺ in the
electrolyte. 5 Å of vacuum lie below the slab as well, so that the same cell serves
GPAW with a dipole correction along z. The packing is relaxed for a few FIRE
steps on GFN1-xTB (the test oracle), enough to remove close contacts.
Writes ``cu_water_li.xyz`` here::

    python examples/interface/build_structure.py

The GPAW campaign (campaign_gpaw.yaml) uses a smaller cell that one core labels
in a few minutes: two Cu layers, a 6-water film and less vacuum (37 atoms)::

    python examples/interface/build_structure.py --layers 2 --waters 6 \
        --film 5.0 --vacuum 7.0 --below 4.0 --out cu_water_li_small.xyz
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import fcc111, molecule
from ase.optimize import FIRE

GAP_A = 2.2  # metal top layer to the lowest water oxygen (Å)


def pack_water(slab: Atoms, rng: np.random.Generator, n_water: int = 14,
               film_A: float = 8.0, vacuum_A: float = 12.0) -> Atoms:
    """``slab`` with ``n_water`` waters at random positions and orientations in a film
    ``film_A`` thick above it, oxygens at least 2.7 Å apart (and from the Li site), and
    ``vacuum_A`` of vacuum above the film."""
    z_top = slab.positions[:, 2].max()
    a1, a2 = slab.cell[0], slab.cell[1]
    li_site = (a1 + a2) / 2 + [0, 0, z_top + GAP_A + min(3.0, film_A / 2)]
    oxygens: list[np.ndarray] = [li_site]
    atoms = slab.copy()
    while len(oxygens) <= n_water:
        f1, f2, f3 = rng.random(3)
        site = f1 * a1 + f2 * a2 + [0, 0, z_top + GAP_A + 0.5 + f3 * (film_A - 1.0)]
        if all(_mic_distance(site, o, slab.cell) > 2.7 for o in oxygens):
            water = molecule("H2O")
            water.rotate(rng.uniform(0, 360), rng.normal(size=3))
            water.translate(site - water.positions[0])
            atoms += water
            oxygens.append(site)
    atoms += Atoms("Li", positions=[li_site])
    cell = slab.cell.copy()
    cell[2] = [0, 0, z_top + GAP_A + film_A + vacuum_A]
    atoms.set_cell(cell)
    atoms.pbc = True
    return atoms


def _mic_distance(p: np.ndarray, q: np.ndarray, cell) -> float:
    """Distance under the in-plane periodicity (z is not wrapped)."""
    frac = np.linalg.solve(np.asarray(cell[:2, :2]).T, (p - q)[:2])
    frac -= np.round(frac)
    d_xy = frac @ np.asarray(cell[:2, :2])
    return float(np.hypot(np.linalg.norm(d_xy), p[2] - q[2]))


def build(layers: int = 3, n_water: int = 14, film_A: float = 8.0, vacuum_A: float = 12.0,
          below_A: float = 5.0, seed: int = 3) -> Atoms:
    """The unrelaxed interface: a 3×3 Cu(111) slab of ``layers`` layers, ``below_A`` of
    vacuum under it, the water film with the Li, and ``vacuum_A`` above."""
    slab = fcc111("Cu", size=(3, 3, layers), a=3.63, vacuum=0.0, orthogonal=False)
    slab.positions[:, 2] -= slab.positions[:, 2].min() - below_A
    return pack_water(slab, np.random.default_rng(seed), n_water, film_A, vacuum_A)


def main() -> None:
    from tblite.ase import TBLite

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", type=int, default=3, help="Cu(111) layers")
    parser.add_argument("--waters", type=int, default=14)
    parser.add_argument("--film", type=float, default=8.0, help="water film thickness (Å)")
    parser.add_argument("--vacuum", type=float, default=12.0, help="vacuum above the film (Å)")
    parser.add_argument("--below", type=float, default=5.0, help="vacuum under the slab (Å)")
    parser.add_argument("--out", default="cu_water_li.xyz", help="file name, written here")
    args = parser.parse_args()
    atoms = build(args.layers, args.waters, args.film, args.vacuum, args.below)
    atoms.calc = TBLite(method="GFN1-xTB", verbosity=0)
    FIRE(atoms, logfile="-").run(fmax=1.0, steps=60)
    atoms.calc = None
    atoms.write(Path(__file__).with_name(args.out))
    print(atoms.get_chemical_formula(), len(atoms), "atoms; cell", atoms.cell.cellpar().round(2))


if __name__ == "__main__":
    main()
