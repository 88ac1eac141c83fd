"""Candidate generation: substitution rules, symmetry-distinct orderings, files, dedup;
and the energy above the hull against pymatgen's PhaseDiagram."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import ase.db
import ase.io
import numpy as np
import pytest

from alearn.errors import ConfigError
from alearn.protocols.screening.candidates import generate_candidates, substitute
from alearn.protocols.screening.config import (
    CandidatesConfig,
    Substitution,
    screen_config_from_dict,
)
from alearn.protocols.screening.hull import HullPhase, e_above_hull
from alearn.protocols.screening.symmetry import distinct_configurations, site_permutations

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "screening"))
from build_structures import antiperovskite  # noqa: E402

CHARGES = {"Li": 1, "Na": 1, "Mg": 2, "O": -2, "Cl": -1, "Br": -1}


def _sites(atoms, symbol):
    return [i for i, s in enumerate(atoms.get_chemical_symbols()) if s == symbol]


def test_orderings_of_a_cubic_sublattice_match_the_known_counts():
    # k of the 8 halide corners of a 2x2x2 anti-perovskite (a 2x2x2 simple-cubic
    # sublattice under Pm-3m with translations): the known orbit counts
    atoms = antiperovskite().repeat(2)
    perms = site_permutations(atoms)
    assert perms.shape == (48 * 8, 40)
    counts = [len(distinct_configurations(perms, [(_sites(atoms, "Cl"), k, 1)]))
              for k in range(1, 8)]
    assert counts == [1, 3, 3, 6, 3, 3, 1]


def test_an_aliovalent_rule_makes_distinct_neutral_orderings_lowest_ewald_first():
    atoms = antiperovskite().repeat(2)
    rule = Substitution(name="MgLi", site="Li", by="Mg", count=1, vacancies={"Li": 1},
                        max_orderings=10)
    cands = substitute("Li3OCl", atoms, rule, charges=CHARGES)
    # Mg and the vacancy on two of 24 Li sites: 7 distinct pairs (one per Mg-vacancy distance)
    assert len(cands) == 7
    assert {c.atoms.get_chemical_formula() for c in cands} == {"Cl8Li22MgO8"}
    assert len({c.name for c in cands}) == 7
    from pymatgen.core.ewald import EwaldSummation
    from pymatgen.io.ase import AseAtomsAdaptor

    energies = []
    for c in cands:
        s = AseAtomsAdaptor.get_structure(c.atoms)
        s.add_oxidation_state_by_element({e: CHARGES[e] for e in s.symbol_set})
        energies.append(EwaldSummation(s).total_energy)
    assert energies == sorted(energies)  # the Mg next to its vacancy comes first
    # a rule that would charge the cell is refused, naming the rule
    with pytest.raises(ConfigError, match="MgNoV.*charge"):
        substitute("Li3OCl", atoms, Substitution(name="MgNoV", site="Li", by="Mg", count=1),
                   charges=CHARGES)


def test_rules_chain_parents_and_files_and_duplicates_are_dropped(tmp_path):
    parent = antiperovskite()
    parent.info["name"] = "Li3OCl"
    ase.io.write(tmp_path / "parents.extxyz", [parent])
    # the same structures again, in other files: a CIF of Li3OBr (what Cl->Br makes,
    # at another lattice constant) and an ASE database with Na3OCl and Na3OBr
    antiperovskite(x="Br", lattice_A=4.02).write(tmp_path / "li3obr.cif")
    with ase.db.connect(tmp_path / "more.db") as db:
        db.write(antiperovskite("Na", "Cl", 4.5), name="Na3OCl")
        db.write(antiperovskite("K", "Cl", 5.0), name="K3OCl")
    cfg = CandidatesConfig(
        parents=[{"file": "parents.extxyz"}], charges=CHARGES,
        substitutions=[{"name": "Na", "replace": {"Li": "Na"}, "lattice_scale": 1.15},
                       {"name": "Br", "replace": {"Cl": "Br"}, "apply_to": "all"}],
        files=[{"file": "li3obr.cif"}, {"file": "more.db"}])
    cands = generate_candidates(cfg, tmp_path)
    names = [c.name for c in cands]
    # parents, Na, Br of both, then the files less the two duplicates (Li3OBr, Na3OCl)
    assert names == ["Li3OCl", "Li3OCl.Na", "Li3OCl.Br", "Li3OCl.Na.Br", "K3OCl"]
    assert [c.origin for c in cands] == ["parent", "Na", "Br", "Na+Br", "file"]
    assert cands[1].atoms.cell.lengths()[0] == pytest.approx(3.91 * 1.15)
    # deterministic: the same names and structures again
    again = generate_candidates(cfg, tmp_path)
    assert [c.name for c in again] == names
    assert all(np.array_equal(a.atoms.positions, b.atoms.positions)
               for a, b in zip(cands, again, strict=True))


def test_config_errors_name_the_key(tmp_path):
    base = {"committee": {"models": ["m.model"]}, "candidates": {"parents": [{"file": "p.xyz"}]}}
    screen_config_from_dict(base)
    with pytest.raises(ConfigError, match="candidates.substitutions.0.*site and by"):
        screen_config_from_dict({**base, "candidates": {
            "parents": [{"file": "p.xyz"}], "substitutions": [{"name": "a", "site": "Li"}]}})
    with pytest.raises(ConfigError, match="stages.md.*multiples of md.interval_steps"):
        screen_config_from_dict({**base, "stages": {"md": {"steps": 105}}})
    with pytest.raises(ConfigError, match="unknown key"):
        screen_config_from_dict({**base, "stagez": {}})
    cfg = CandidatesConfig(parents=[{"file": "missing.xyz"}])
    with pytest.raises(ConfigError, match="missing.xyz: structure file not found"):
        generate_candidates(cfg, tmp_path)


def test_energy_above_hull_equals_pymatgens_phase_diagram():
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
    from pymatgen.core import Composition

    rng = np.random.default_rng(4)
    entries = {"Li": (1, -1.9), "Cl": (1, -1.8), "O": (1, -4.9), "Li2O": (3, -14.3),
               "LiCl": (2, -7.4), "Li3OCl": (5, -21.0), "LiClO4": (6, -20.0),
               "Li5OCl3": (9, -40.0)}
    phases = []
    for formula, (n, energy) in entries.items():
        energy += rng.normal(0, 0.05)
        comp = Composition(formula)
        phases.append(HullPhase(formula, {str(e): int(v) for e, v in comp.items()}, energy / n))
    pd_entries = [PDEntry(Composition(p.counts), p.energy_per_atom_eV * sum(p.counts.values()))
                  for p in phases]
    pd = PhaseDiagram(pd_entries)
    above = 0
    for phase, entry in zip(phases, pd_entries, strict=True):
        ours, mixture = e_above_hull(phase, phases)
        assert ours == pytest.approx(pd.get_e_above_hull(entry), abs=1e-9)
        assert mixture
        above += ours > 1e-6
    assert above >= 2  # the check covers phases above the hull, not only those on it
    # no competing phase makes Na: no hull energy
    na = HullPhase("NaCl", {"Na": 1, "Cl": 1}, -3.0)
    assert math.isnan(e_above_hull(na, phases)[0])
