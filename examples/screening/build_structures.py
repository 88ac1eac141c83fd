"""Build the structures of the anti-perovskite screening example (Li₃OCl family).

Anti-perovskites A₃OX (A = Li, Na; X = Cl, Br; cubic Pm-3m: O at the cube
centre, X at the corners, A on the face centres) are solid electrolytes whose
ions move by vacancy hops; Li₃OCl₀.₅Br₀.₅ is the best Li conductor of the family
(Zhao & Daemen, JACS 134, 15042 (2012)), and Schottky pairs (AX) or divalent
dopants with an A vacancy (Mg_Li + V_Li) supply the vacancies (Emly et al.,
Chem. Mater. 25, 4663 (2013)). Lattice constants are the experimental ones
(Li₃OCl 3.91 Å, Li₃OBr 4.02 Å, Na₃OCl 4.50 Å, Na₃OBr 4.57 Å).

Writes beside this file:

``parents.extxyz``
    the screen's parent structures: 2×2×2 Li₃OCl (40 atoms) and 2×2×2 Li₃OCl
    with a LiCl Schottky pair (38 atoms); screen_xtb.yaml derives the candidates.
``references.extxyz``
    competing phases for the stability proxy: Li₂O (antifluorite), LiCl, LiBr,
    NaCl, NaBr (rock salt), Na₂O (antifluorite), MgO (rock salt), conventional cells.
``training/*.xyz``
    the start structures of the committee's campaign (campaign_xtb.yaml): the
    family's chemistry with vacancies, 2×2×2 (38–39 atoms each), and the
    competing phases.
``training_gpaw/*.xyz``
    the same chemistry in 2×2×1 cells (18–19 atoms) for the GPAW campaign
    (campaign_gpaw.yaml): a GPAW label of the 38-atom cell costs 3–4 min on one
    core here, of the 18-atom cell about one. The committee is local (4.5 Å
    cutoff), so it carries to the screen's 2×2×2 candidates; the screen's own
    uncertainty says where it does not.

::

    python examples/screening/build_structures.py
"""

from __future__ import annotations

from pathlib import Path

import ase.io
from ase import Atoms
from ase.build import bulk

HERE = Path(__file__).resolve().parent
A_LI3OCL = 3.91  # Å


def antiperovskite(a: str = "Li", x: str = "Cl", lattice_A: float = A_LI3OCL) -> Atoms:
    """The 5-atom cubic cell of A₃OX."""
    return Atoms(f"O{x}{a}3", cell=[lattice_A] * 3, pbc=True,
                 scaled_positions=[(0.5, 0.5, 0.5), (0, 0, 0),
                                   (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)])


def with_schottky_pair(atoms: Atoms, cation: str, anion: str) -> Atoms:
    """``atoms`` without its first ``cation`` and its last ``anion`` (an AX Schottky pair)."""
    out = atoms.copy()
    symbols = out.get_chemical_symbols()
    first = symbols.index(cation)
    last = len(symbols) - 1 - symbols[::-1].index(anion)
    del out[[first, last]]
    return out


def training_structures(repeat: tuple[int, int, int] = (2, 2, 2)) -> dict[str, Atoms]:
    """Start structures of the committee's campaign: ``repeat`` cells with vacancies."""
    li3ocl = antiperovskite().repeat(repeat)
    na3obr = antiperovskite("Na", "Br", 4.57).repeat(repeat)
    mixed = antiperovskite(lattice_A=3.96).repeat(repeat)
    symbols = mixed.get_chemical_symbols()
    halides = [i for i, s in enumerate(symbols) if s == "Cl"]
    for i in halides[::2]:
        symbols[i] = "Br"  # half of the corners: Li3OCl0.5Br0.5
    mixed.set_chemical_symbols(symbols)
    doped = li3ocl.copy()
    symbols = doped.get_chemical_symbols()
    lithium = [i for i, s in enumerate(symbols) if s == "Li"]
    symbols[lithium[5]] = "Mg"  # Mg on a Li site, charge-compensated by a Li vacancy
    doped.set_chemical_symbols(symbols)
    del doped[[lithium[0]]]
    return {"li3ocl_v": with_schottky_pair(li3ocl, "Li", "Cl"),
            "na3obr_v": with_schottky_pair(na3obr, "Na", "Br"),
            "li3oclbr_v": with_schottky_pair(mixed, "Li", "Br"),
            "li3ocl_mg": doped}


def references() -> list[Atoms]:
    """Competing binary phases (conventional cubic cells)."""
    # ASE's fluorite puts the first symbol on the fcc site: "OLi2" is the antifluorite
    # (O fcc, Li in every tetrahedral hole); "Li2O" would put Li on the fcc site and one O
    # and one Li in the holes, Li-Li at a*sqrt(3)/4
    phases = {"Li2O": ("OLi2", "fluorite", 4.61), "Na2O": ("ONa2", "fluorite", 5.55),
              "LiCl": ("LiCl", "rocksalt", 5.13), "LiBr": ("LiBr", "rocksalt", 5.50),
              "NaCl": ("NaCl", "rocksalt", 5.64), "NaBr": ("NaBr", "rocksalt", 5.97),
              "MgO": ("MgO", "rocksalt", 4.21)}
    refs = []
    for name, (symbols, lattice, a) in phases.items():
        atoms = bulk(symbols, lattice, a=a, cubic=True)
        atoms.info["name"] = name
        refs.append(atoms)
    return refs


def parents() -> list[Atoms]:
    perfect = antiperovskite().repeat(2)
    perfect.info["name"] = "Li3OCl"
    schottky = with_schottky_pair(perfect, "Li", "Cl")
    schottky.info["name"] = "Li3OCl-VLiCl"
    return [perfect, schottky]


def main() -> None:
    ase.io.write(HERE / "parents.extxyz", parents(), format="extxyz")
    ase.io.write(HERE / "references.extxyz", references(), format="extxyz")
    for folder, repeat in (("training", (2, 2, 2)), ("training_gpaw", (2, 2, 1))):
        (HERE / folder).mkdir(exist_ok=True)
        for name, atoms in training_structures(repeat).items():
            atoms.write(HERE / folder / f"{name}.xyz")
            print(folder, name, atoms.get_chemical_formula(), len(atoms))
        for atoms in references():  # the competing phases: the committee must know them too
            name = atoms.info["name"].lower()
            atoms.write(HERE / folder / f"ref_{name}.xyz")


if __name__ == "__main__":
    main()
