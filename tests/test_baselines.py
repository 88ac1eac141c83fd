"""Baselines: built from the baseline: section, checked before any DFT, evaluated into
BASE_*/DELTA_* keys with provenance."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.emt import EMT
from ase.calculators.mixing import SumCalculator

from alearn import ConfigError, load_config
from alearn.baselines import (
    BaselineResult,
    add_baseline,
    baseline_hash,
    baseline_settings,
    check_baseline,
    compute_baseline,
    delta_frame,
    ensure_baselines,
    make_baseline,
    with_current_baseline,
)
from alearn.config import BaselineConfig, OracleConfig
from alearn.dataset import Candidate, Dataset
from alearn.methods import total_charge
from alearn.methods.xtb import make_calculator as xtb_calculator
from alearn.oracles.plain import EMTOracle
from alearn.structures import read_start
from conftest import TINY, deep_update


def _li_water() -> Atoms:
    atoms = molecule("H2O")
    atoms.translate(-atoms.positions[0] + (0, 0, 1.9))
    return Atoms("Li", positions=[[0, 0, 0]]) + atoms


def _labeled(atoms: Atoms, calc) -> Atoms:
    """A copy with REF_* keys from ``calc`` (REF_stress as dataset.row_to_ref_atoms)."""
    work = atoms.copy()
    work.calc = calc
    out = atoms.copy()
    out.info["REF_energy"] = work.get_potential_energy()
    out.arrays["REF_forces"] = work.get_forces()
    if atoms.pbc.all():
        out.info["REF_stress"] = work.get_stress(voigt=True)
    return out


# --------------------------------------------------------------------------- building
def test_xtb_baseline_is_tblite_with_the_settings():
    cfg = BaselineConfig(kind="xtb", xtb={"method": "GFN2-xTB", "charge": 1})
    atoms = _li_water()
    reference = atoms.copy()
    reference.calc = xtb_calculator(cfg.xtb)
    assert compute_baseline(cfg, atoms).energy == pytest.approx(
        reference.get_potential_energy(), abs=1e-8)


def test_calculator_baseline_by_import_path():
    cfg = BaselineConfig(kind="calculator", calculator={
        "import_path": "ase.calculators.lj:LennardJones", "kwargs": {"sigma": 2.0}})
    calc = make_baseline(cfg)
    assert type(calc).__name__ == "LennardJones" and calc.parameters.sigma == 2.0


def test_d3_is_an_additive_sum_calculator_term():
    from dftd3.ase import DFTD3

    plain = BaselineConfig(kind="emt")
    with_d3 = BaselineConfig(kind="emt", d3={"method": "pbe", "damping": "d3bj"})
    calc = make_baseline(with_d3)
    assert isinstance(calc, SumCalculator)
    atoms = molecule("CH4")
    d3 = atoms.copy()
    d3.calc = DFTD3(method="pbe", damping="d3bj")
    e_d3 = d3.get_potential_energy()
    assert abs(e_d3) > 1e-4
    a, b = compute_baseline(with_d3, atoms), compute_baseline(plain, atoms)
    assert a.energy - b.energy == pytest.approx(e_d3, abs=1e-12)
    np.testing.assert_allclose(a.forces - b.forces, d3.get_forces(), atol=1e-12)


# --------------------------------------------------------------------------- checks
SLAB = Atoms("H2O", positions=[[0, 0, 0], [0.76, 0.59, 0], [-0.76, 0.59, 0]],
             cell=[6, 6, 10], pbc=[True, True, False])


@pytest.mark.parametrize("cfg, atoms, fragments", [
    ({"kind": "xtb"}, Atoms("UO2", positions=[[0, 0, 0], [1.8, 0, 0], [-1.8, 0, 0]]),
     ["baseline.kind 'xtb'", "['U']", "Z ≤ 86"]),
    ({"kind": "emt"}, _li_water(), ["baseline.kind 'emt'", "['Li']"]),
    ({"kind": "xtb", "xtb": {"uhf": 1}}, molecule("H2O"),
     ["10 electrons", "baseline.xtb.uhf = 1", "baseline.xtb.uhf to 0 or 2"]),
    ({"kind": "xtb", "xtb": {"charge": 1}}, molecule("H2O"), ["baseline.xtb.uhf"]),
    ({"kind": "xtb"}, SLAB, ["baseline.kind 'xtb' (tblite)", "pbc=[True, True, False]"]),
    ({"kind": "calculator", "calculator": {"import_path": "ase.calculators.lj:LennardJones"},
      "d3": {}}, Atoms("OgH", positions=[[0, 0, 0], [0, 0, 2]]),
     ["baseline.d3", "['Og']"]),
    ({"kind": "emt", "d3": {"method": "no-such-functional"}}, molecule("H2O"),
     ["baseline.d3.method = 'no-such-functional'"]),
    ({"kind": "calculator", "calculator": {"import_path": "ase.calculators.nothere:X"}},
     molecule("H2O"), ["baseline.calculator.import_path"]),
])
def test_unsupported_structures_are_rejected(cfg, atoms, fragments):
    with pytest.raises(ConfigError) as err:
        check_baseline(BaselineConfig(**cfg), atoms, "systems[demo]")
    message = str(err.value)
    assert message.startswith("systems[demo]")
    for fragment in fragments:
        assert fragment in message


def test_supported_structures_pass():
    check_baseline(BaselineConfig(kind="xtb", xtb={"charge": 1}), _li_water(), "s",
                   target_charge=1.0)
    check_baseline(BaselineConfig(kind="xtb", d3={}), bulk("Cu", cubic=True), "s")
    check_baseline(BaselineConfig(kind="emt", d3={}), SLAB, "s")
    # a metallic cell with an odd electron count runs spin-paired with smearing (3 Cu: 87)
    odd_metal = bulk("Cu", cubic=True)
    del odd_metal[0]
    check_baseline(BaselineConfig(kind="xtb"), odd_metal, "s")


def test_charge_must_match_the_oracle():
    target = total_charge(OracleConfig(kind="gpaw", gpaw={"charge": 1}))
    assert target == 1.0
    with pytest.raises(ConfigError, match=r"set baseline.xtb.charge: 1 "):
        check_baseline(BaselineConfig(kind="xtb"), _li_water(), "s", target_charge=target)
    with pytest.raises(ConfigError, match="neutral systems only"):
        check_baseline(BaselineConfig(kind="emt"), molecule("H2O"), "s", target_charge=-1.0)


def test_gpaw_baseline_checks_name_baseline_keys():
    box = molecule("H2O", vacuum=3.5)
    box.pbc = True
    with pytest.raises(ConfigError, match=r"baseline.gpaw.preset 'molecule' expects"):
        check_baseline(BaselineConfig(kind="gpaw"), box, "systems[w]")
    lcao = BaselineConfig(kind="gpaw", gpaw={"preset": "electrolyte", "mode": "lcao"})
    with pytest.raises(ConfigError, match=r"set baseline.gpaw.mode: pw"):
        check_baseline(lcao, box, "systems[w]")
    check_baseline(BaselineConfig(kind="gpaw"), molecule("H2O", vacuum=3.5), "systems[w]")


def test_yaml_with_unsupported_baseline_element_is_rejected(tmp_path):
    """A campaign file whose baseline cannot treat an element of a system."""
    _li_water().write(tmp_path / "li.xyz")
    data = deep_update(TINY, {"baseline": {"kind": "emt"}})
    data["systems"] = [{**TINY["systems"][0], "name": "li_water", "structure": "li.xyz"}]
    (tmp_path / "campaign.yaml").write_text(yaml.safe_dump(data))
    cfg = load_config(tmp_path / "campaign.yaml")
    system = cfg.systems[0]
    with pytest.raises(ConfigError, match=r"systems\[li_water\].*'emt' has no parameters "
                                          r"for \['Li'\]"):
        check_baseline(cfg.baseline, read_start(cfg, system), f"systems[{system.name}]")


# --------------------------------------------------------------------------- data
def test_delta_frame_periodic_voigt_stress():
    atoms = bulk("Cu", cubic=True)
    atoms.rattle(0.05, seed=1)
    cfg = BaselineConfig(kind="emt")
    labeled = _labeled(atoms, EMT())
    labeled.info["REF_stress"] = labeled.info["REF_stress"] * 2.0
    labeled.info["REF_energy"] += 1.5
    base = compute_baseline(cfg, atoms)
    out = delta_frame(labeled, base, baseline_hash=baseline_hash(cfg))
    assert out.info["DELTA_energy"] == pytest.approx(1.5)
    np.testing.assert_allclose(out.arrays["DELTA_forces"], 0, atol=1e-12)
    assert out.info["BASE_stress"].shape == out.info["DELTA_stress"].shape == (6,)
    np.testing.assert_allclose(out.info["DELTA_stress"], base.stress)
    assert out.info["baseline_hash"] == baseline_hash(cfg)
    assert "BASE_energy" not in labeled.info  # the input is not modified


def test_delta_frame_reads_3x3_ref_stress_and_skips_stress_for_molecules():
    atoms = bulk("Cu", cubic=True)
    labeled = _labeled(atoms, EMT())
    from ase.stress import voigt_6_to_full_3x3_stress

    labeled.info["REF_stress"] = voigt_6_to_full_3x3_stress(labeled.info["REF_stress"])
    out = delta_frame(labeled, compute_baseline(BaselineConfig(kind="emt"), atoms))
    np.testing.assert_allclose(out.info["DELTA_stress"], 0, atol=1e-12)
    mol = _labeled(molecule("H2O"), EMT())
    out = delta_frame(mol, compute_baseline(BaselineConfig(kind="emt"), mol))
    assert "DELTA_stress" not in out.info and "BASE_stress" not in out.info


def test_delta_frame_errors_name_the_frame():
    atoms = molecule("H2O")
    base = BaselineResult(0.0, np.zeros((3, 3)), None)
    atoms.info["system"] = "water"
    with pytest.raises(ValueError, match=r"H2O \(system=water\).*label it first"):
        delta_frame(atoms, base)
    cell = _labeled(bulk("Cu", cubic=True), EMT())
    with pytest.raises(ValueError, match="baseline gave no stress"):
        delta_frame(cell, BaselineResult(0.0, np.zeros((4, 3)), None))


def test_add_baseline_recomputes_only_what_is_missing():
    cfg = BaselineConfig(kind="emt")
    frames = [_labeled(molecule("H2O"), EMT()), _labeled(molecule("NH3"), EMT())]
    first = add_baseline(frames[:1], cfg)
    again = add_baseline([first[0], frames[1]], cfg)
    assert again[0] is first[0]
    assert again[1] is not frames[1] and "DELTA_forces" in again[1].arrays
    other = add_baseline(again, BaselineConfig(kind="emt", d3={}))
    assert all(a is not b for a, b in zip(other, again, strict=True))


def test_ensure_baselines_fills_rows_once_and_filters_frames(tmp_path):
    ds = Dataset(tmp_path / "dataset.db")
    h2o = molecule("H2O")
    cu = Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]])
    ids = ds.add([Candidate(atoms=a, system="s", source="user", iteration=0, split="train")
                  for a in (h2o, cu)])
    for row_id, atoms in zip(ids, (h2o, cu), strict=True):
        ds.record_label(row_id, EMTOracle().label(atoms), oracle="emt", oracle_hash="x",
                        settings={}, wall_s=0.0)
    cfg = BaselineConfig(kind="emt")
    assert ensure_baselines(ds, cfg) == 2
    assert ensure_baselines(ds, cfg) == 0
    frames = ds.labeled_atoms("train")
    assert with_current_baseline(frames, None) is frames
    assert len(with_current_baseline(frames, cfg)) == 2
    np.testing.assert_allclose(frames[0].arrays["DELTA_forces"], 0, atol=1e-12)
    other = BaselineConfig(kind="emt", d3={})
    assert with_current_baseline(frames, other) == []
    assert ensure_baselines(ds, other) == 2


def test_settings_cover_only_the_chosen_kind():
    a = BaselineConfig(kind="xtb")
    assert baseline_settings(a)["xtb"]["method"] == "GFN1-xTB"
    assert "gpaw" not in baseline_settings(a)
    unused = BaselineConfig(kind="xtb", gpaw={"mode": "pw"})
    assert baseline_hash(a) == baseline_hash(unused)
    assert baseline_hash(a) != baseline_hash(BaselineConfig(kind="xtb", xtb={"method": "GFN2-xTB"}))
    assert baseline_hash(a) != baseline_hash(BaselineConfig(kind="xtb", d3={}))
    gpaw = baseline_settings(BaselineConfig(kind="gpaw"))
    assert gpaw["gpaw"]["mode"] == "lcao" and gpaw["gpaw"]["basis"] == "dzp"


@pytest.mark.gpaw
def test_gpaw_baseline_matches_the_gpaw_oracle():
    from alearn.oracles.gpaw import GPAWOracle

    cfg = BaselineConfig(kind="gpaw", gpaw={"h_A": 0.3})
    atoms = molecule("H2", vacuum=3.0)
    atoms.rattle(0.02, seed=1)
    base = compute_baseline(cfg, atoms)
    label = GPAWOracle(cfg.gpaw).label(atoms)
    assert base.stress is None
    assert base.energy == pytest.approx(label.energy, abs=1e-6)
    np.testing.assert_allclose(base.forces, label.forces, atol=1e-4)
