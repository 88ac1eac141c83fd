"""The example campaigns in examples/, run end to end in a reduced form.

Each example ships a test-sized version on a cheap test oracle
(``campaign_xtb.yaml``); here it runs with fewer frames, steps and epochs,
and the checks are those a user makes on the finished work directory.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from ase.io import read

from alearn import Campaign, load_committee
from alearn.config import config_from_dict
from alearn.dataset import Dataset
from alearn.uncertainty import broken_structure
from conftest import REPO, deep_update

REDUCED = {
    "systems": [{"walkers": 2, "md": {"temperature_K": [330, 400], "steps": 60},
                 "max_selected": 3}],
    "initial_data": {"bootstrap": {"n_per_system": 6, "md": {
        "temperatures_K": [400], "strained_cells": 1, "equilibration_steps": 5,
        "sample_interval": 5}}},
    "committee": {"size": 2, "training": {"max_num_epochs": 4, "warm_start_epochs": 2}},
    "stop": {"max_iterations": 1},
}


# the 70-atom interface costs ~1 s per xTB call here: smaller still
REDUCED_INTERFACE = deep_update(REDUCED, {
    "systems": [{"walkers": 1, "md": {"temperature_K": 330, "steps": 30},
                 "max_selected": 2}],
    "initial_data": {"bootstrap": {"n_per_system": 5, "md": {
        "equilibration_steps": 2, "sample_interval": 3}}}})


def _reduced(name: str, reduced: dict = REDUCED) -> dict:
    folder = REPO / "examples" / name
    data = yaml.safe_load((folder / "campaign_xtb.yaml").read_text())
    system = deep_update(data["systems"][0], reduced["systems"][0])
    return config_from_dict({**deep_update(data, {k: v for k, v in reduced.items()
                                                  if k != "systems"}), "systems": [system]},
                            source=str(folder / "campaign_xtb.yaml"), base_dir=folder)


def _builder(example: str, script: str):
    """An example's structure-building script, imported as a module (its main() not run)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"{example}_builder",
                                                  REPO / "examples" / example / script)
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    return builder


@pytest.mark.parametrize("path", sorted(
    str(p.relative_to(REPO))
    for name in ("electrolyte", "interface", "solid_conductor", "screening")
    for p in (REPO / "examples" / name).glob("campaign_*.yaml")))
def test_example_configs_load_and_their_gpaw_settings_resolve(path, tmp_path):
    """Every example config passes a campaign's input checks (structure, oracle, bootstrap
    calculator) without running anything; for the GPAW versions (too slow to run in the
    tests), the preset resolves on that structure."""
    from alearn.config import load_config
    from alearn.methods.gpaw_presets import gpaw_parameters

    Campaign(REPO / path, tmp_path / "work").validate()
    cfg = load_config(REPO / path)
    for system in cfg.systems:
        atoms = read((REPO / path).parent / system.structure)
        # condensed phases: 18 atoms or more (the screen's competing phases: conventional cells)
        assert atoms.pbc.all() and (len(atoms) >= 18 or system.name.startswith("ref_"))
        if cfg.oracle.kind == "gpaw":
            params = gpaw_parameters(cfg.oracle.gpaw, atoms)
            assert params["xc"] == "PBE" and len(params["kpts"]["size"]) == 3


def test_electrolyte_builder_packs_a_solvated_ion_pair():
    """build_structure.py (without its xTB relaxation): the density asked for, Li with four
    first-shell waters at 1.95 Å, no close contacts."""
    builder = _builder("electrolyte", "build_structure.py")
    edge = builder.box_edge_A(8, 1.0)
    atoms = builder.pack(8, edge, np.random.default_rng(8))
    assert atoms.get_chemical_formula() == "H16FLiO8"
    grams = atoms.get_masses().sum() / 6.02214076e23
    assert grams / (atoms.get_volume() * 1e-24) == pytest.approx(1.0, rel=1e-6)
    d = atoms.get_all_distances(mic=True)
    oxygens = [i for i, s in enumerate(atoms.get_chemical_symbols()) if s == "O"]
    assert np.sort(d[0, oxygens])[:4] == pytest.approx([1.95] * 4, abs=1e-6)
    np.fill_diagonal(d, np.inf)
    assert d.min() > 0.9  # O–H bonds are the closest pairs


def test_solid_builder_makes_neutral_cells_with_a_schottky_pair():
    """build_structure.py (without its xTB relaxation): the 2×2×2 cell of the xTB version
    and the 2×2×1 cell of the GPAW version each lose one Li and one Cl; charge neutral
    (Li⁺, O²⁻, Cl⁻) and no two atoms closer than in the perfect crystal."""
    builder = _builder("solid_conductor", "build_structure.py")
    for repeat, formula in (((2, 2, 2), "Cl7Li23O8"), ((2, 2, 1), "Cl3Li11O4")):
        atoms = builder.li3ocl_with_schottky_pair(repeat, builder.A_XTB)
        assert atoms.get_chemical_formula() == formula
        assert atoms.cell.lengths() == pytest.approx(np.array(repeat) * builder.A_XTB)
        counts = {s: atoms.get_chemical_symbols().count(s) for s in ("Li", "O", "Cl")}
        assert counts["Li"] - 2 * counts["O"] - counts["Cl"] == 0
        d = atoms.get_all_distances(mic=True)
        np.fill_diagonal(d, np.inf)
        assert d.min() == pytest.approx(builder.A_XTB / 2)  # Li–O, the shortest bond


def test_screening_gpaw_cells_and_their_kpoints():
    """build_structures.py: the GPAW committee's 2×2×1 cells carry the 2×2×2 cells'
    chemistry (same vacancies: neutral with formal charges), and campaign_gpaw.yaml's one
    k-point density gives them the solid conductor's 2×2×4 grid and the competing phases
    3–4 points per axis; the screen configs load."""
    from alearn.config import load_config
    from alearn.methods.gpaw_presets import gpaw_parameters
    from protocols.screening.config import load_screen_config

    folder = REPO / "examples" / "screening"
    builder = _builder("screening", "build_structures.py")
    charges = {"Li": 1, "Na": 1, "Mg": 2, "O": -2, "Cl": -1, "Br": -1}
    small, large = builder.training_structures((2, 2, 1)), builder.training_structures()
    assert sorted(small) == sorted(large)
    for name, atoms in small.items():
        assert len(atoms) in (18, 19) and set(atoms.symbols) == set(large[name].symbols)
        assert sum(charges[s] for s in atoms.symbols) == 0
        on_disk = read(folder / "training_gpaw" / f"{name}.xyz")
        assert on_disk.get_chemical_formula() == atoms.get_chemical_formula()
    cfg = load_config(folder / "campaign_gpaw.yaml")
    for system in cfg.systems:
        atoms = read(folder / system.structure)
        size = gpaw_parameters(cfg.oracle.gpaw, atoms)["kpts"]["size"]
        if len(atoms) >= 18:
            assert size == [2, 2, 4]
        else:
            assert size == [size[0]] * 3 and 3 <= size[0] <= 4
    for name in ("screen_xtb.yaml", "screen_gpaw.yaml"):
        assert load_screen_config(folder / name).stages.md is not None


def test_screening_competing_phases_are_ionic_crystals():
    """build_structures.py's competing phases (the hull's references): every cation's
    nearest neighbour is an anion, at the textbook distance (rock salt a/2, antifluorite
    a√3/4); ASE's fluorite builder given "Li2O" puts Li on the fcc site and Li-Li at that
    distance, a structure that made Li3OCl lie 230 meV/atom below the hull in PBE."""
    folder = REPO / "examples" / "screening"
    builder = _builder("screening", "build_structures.py")
    anions = {"O", "Cl", "Br"}
    on_disk = {a.info["name"]: a for a in read(folder / "references.extxyz", ":")}
    for atoms in builder.references():
        name, a = atoms.info["name"], atoms.cell.lengths()[0]
        bond = a * np.sqrt(3) / 4 if name in ("Li2O", "Na2O") else a / 2
        d = atoms.get_all_distances(mic=True)
        np.fill_diagonal(d, np.inf)
        cation = np.array([s not in anions for s in atoms.symbols])
        assert d[np.ix_(cation, ~cation)].min(axis=1) == pytest.approx(bond)
        assert d[np.ix_(cation, cation)].min() > 1.1 * bond
        assert np.allclose(on_disk[name].positions, atoms.positions)
        for folder_name in ("training", "training_gpaw"):
            written = read(folder / folder_name / f"ref_{name.lower()}.xyz")
            assert np.allclose(written.positions, atoms.positions)


def test_interface_builder_makes_both_cells():
    """build_structure.py (without its xTB relaxation): the xTB version's 70-atom cell and
    the GPAW version's 37-atom one; water above the metal, Li in the film, vacuum above."""
    builder = _builder("interface", "build_structure.py")
    for kwargs, formula, vacuum in (({}, "H28Cu27LiO14", 12.0), (dict(
            layers=2, n_water=6, film_A=5.0, vacuum_A=7.0, below_A=4.0), "H12Cu18LiO6", 7.0)):
        atoms = builder.build(**kwargs)
        assert atoms.get_chemical_formula() == formula
        z = atoms.positions[:, 2]
        metal = atoms.symbols == "Cu"
        assert z[~metal].min() > z[metal].max() + 1.5  # the film lies on the metal
        assert atoms.cell[2, 2] - z.max() > vacuum - 1.0  # vacuum above it (molecules' H)
        d = atoms.get_all_distances(mic=True)
        np.fill_diagonal(d, np.inf)
        assert d.min() > 0.9  # O–H bonds are the closest pairs


@pytest.mark.slow
def test_periodic_electrolyte_example(tmp_path):
    cfg = _reduced("electrolyte")
    result = Campaign(cfg, tmp_path / "work").run()
    work = tmp_path / "work"
    ds = Dataset(work / "dataset.db")
    boot = [r.toatoms() for r in ds.rows(iteration=0)]
    assert len(boot) == 6 and result.n_labeled >= 6
    # MD bootstrap: frames far apart from the start structure (the first), none broken
    moved = [np.sqrt(((b.positions - boot[0].positions) ** 2).sum(1).mean()) for b in boot[1:]]
    assert min(moved) > 0.1, moved
    assert all(broken_structure(a, cfg.uncertainty) is None for a in ds.labeled_atoms())
    # isolated-atom E0s from the oracle, fixed: the ones the committee was trained with
    e0s = json.loads((work / "e0s.json").read_text())
    marker = json.loads((work / "iter_001" / "train.done.json").read_text())
    assert set(marker["e0s"]) == {"H", "O", "Li", "F"}
    assert marker["e0s"] == e0s["e0s_eV"]
    assert e0s["oracle"]["atoms"]["O"]["magnetic_moment"] == 2.0  # triplet O atom


@pytest.mark.slow
def test_interface_example(tmp_path):
    cfg = _reduced("interface", REDUCED_INTERFACE)
    Campaign(cfg, tmp_path / "work").run()
    work = tmp_path / "work"
    labeled = Dataset(work / "dataset.db").labeled_atoms()
    assert len(labeled) >= 4
    start = read_start_of(cfg)
    for atoms in labeled:
        assert broken_structure(atoms, cfg.uncertainty) is None
        # the metal stays a slab: no Cu atom left the three layers
        cu = atoms.positions[atoms.numbers == 29, 2]
        assert cu.max() - cu.min() < 6.0
        assert np.abs(atoms.arrays["REF_forces"]).max() < cfg.labels.max_force_eV_A
    assert start.pbc.all()  # tblite needs a 3D cell: the vacuum gap lies inside it
    e0s = json.loads((work / "e0s.json").read_text())["e0s_eV"]
    assert set(e0s) == {"H", "Li", "O", "Cu"}


@pytest.mark.slow
def test_solid_conductor_example(tmp_path):
    cfg = _reduced("solid_conductor")
    assert cfg.systems[0].md.ensemble == "npt"
    Campaign(cfg, tmp_path / "work").run()
    work = tmp_path / "work"
    labeled = Dataset(work / "dataset.db").labeled_atoms()
    assert all("REF_stress" in a.info for a in labeled)  # NPT: the committee learns stress
    log = (work / "alearn.log").read_text()
    assert "stress on" in log
    # NPT walkers move the cell; the committee predicts a stress for it
    frames = read(str(work / "iter_001" / "explore" / "li3ocl_w1.xyz"), ":")
    start = read_start_of(cfg)
    assert any(abs(f.get_volume() - start.get_volume()) > 1e-3 for f in frames)
    committee = load_committee(work)
    atoms = start.copy()
    atoms.calc = committee
    assert atoms.get_stress().shape == (6,)


def read_start_of(cfg):
    from alearn.structures import read_start

    return read_start(cfg, cfg.systems[0])
