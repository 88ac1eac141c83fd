"""Starting from a foundation model: fine-tuned committees, foundation bootstrap, elements
checked before any work, model files hashed into the campaign's provenance.

The foundation is a tiny stand-in trained with mace-torch in a fixture
(tests/tiny_foundation.py: EMT Cu, Ag, Au, Ni); fine-tuning is mace-torch's own.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.build import bulk
from tiny_foundation import ELEMENTS, R_MAX_A, emt_frames

from alearn import Campaign, load_committee
from alearn.calculators import CommitteeCalculator
from alearn.calculators.model_files import sha256_file
from alearn.cli import main
from alearn.config import CommitteeConfig, ReplayConfig, config_from_dict, load_config
from alearn.errors import ConfigError
from alearn.finetuning import diversify_readout, start_files
from alearn.foundation import estimate_e0s, inspect_foundation
from alearn.model_provenance import ModelFileChanged
from alearn.training import MemberJob, train_member
from conftest import TINY, deep_update, write_campaign


def _foundation_changes(foundation: Path, **committee) -> dict:
    return {"committee": {"foundation_model": str(foundation), **committee}}


# --------------------------------------------------------------------------- configuration
@pytest.mark.parametrize(("changes", "fragment"), [
    ({"committee": {"foundation_model": "f.model"}, "baseline": {"kind": "emt"}},
     "committee.foundation_model and baseline: both set"),
    ({"committee": {"foundation_model": "f.model", "training": {"e0s": "average"}}},
     "committee.training.e0s 'average' with a foundation model"),
    ({"committee": {"training": {"e0s": "estimated"}}},
     "committee.training.e0s 'estimated' takes the E0s of committee.foundation_model"),
    ({"committee": {"finetuning": {"readout": "keep"}}},
     "committee.finetuning is set but there is no committee.foundation_model"),
    ({"initial_data": {"bootstrap": {"method": "md", "md": {"calculator": {
        "kind": "foundation"}}}}}, "runs MD with committee.foundation_model, which is not set"),
    ({"initial_data": {"bootstrap": {"method": "md", "md": {"calculator": {"kind": "emt"},
                                                            "oversample": 3}}}},
     "oversample picks frames in the foundation model's descriptor space"),
])
def test_config_errors_name_the_keys(changes, fragment):
    with pytest.raises(ConfigError) as err:
        config_from_dict(deep_update(TINY, changes), source="c.yaml")
    assert fragment in str(err.value)


def test_e0s_default_to_estimated_with_a_foundation():
    cfg = config_from_dict(deep_update(TINY, {"committee": {"foundation_model": "f.model"}}))
    assert cfg.committee.training.e0s == "estimated"
    plain = config_from_dict(TINY)
    assert plain.committee.training.e0s == "isolated"
    chosen = config_from_dict(deep_update(TINY, {"committee": {
        "foundation_model": "f.model", "training": {"e0s": "foundation"}}}))
    assert chosen.committee.training.e0s == "foundation"


# --------------------------------------------------------------------------- preflight
def test_inspect_reads_the_foundation(tiny_foundation):
    info = inspect_foundation(tiny_foundation)
    assert info.sha256 == sha256_file(tiny_foundation)
    assert info.r_max_A == R_MAX_A
    assert info.atomic_numbers == (28, 29, 47, 79)
    assert info.heads == ("Default",)
    assert set(info.e0s_eV) == set(ELEMENTS)


def test_an_element_the_foundation_lacks_is_one_error_line_before_any_work(
        tiny_foundation, tmp_path, capsys):
    config = write_campaign(tmp_path, _foundation_changes(tiny_foundation))
    alloy = bulk("Cu", cubic=True).repeat((2, 1, 1))
    alloy.numbers[[1, 6]] = 13  # Al: an EMT element the foundation was not trained on
    alloy.write(tmp_path / "cu.xyz")
    assert main(["run", str(config), "--workdir", str(tmp_path / "work"), "-q"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("alearn: error: "), lines
    assert "covers ['Ni', 'Cu', 'Ag', 'Au'] but not ['Al']" in lines[0]
    assert "cannot add elements" in lines[0]
    assert not (tmp_path / "work" / "dataset.db").exists()


@pytest.mark.parametrize(("content", "fragment"), [
    (None, "file not found"),
    (b"not a model", "not a readable mace-torch model file"),
])
def test_a_missing_or_unreadable_foundation_is_refused(tmp_path, content, fragment):
    path = tmp_path / "f.model"
    if content is not None:
        path.write_bytes(content)
    config = write_campaign(tmp_path, _foundation_changes(path))
    with pytest.raises(ConfigError, match=fragment):
        Campaign(config, tmp_path / "work").validate()


# --------------------------------------------------------------------------- start files
def test_start_files_carry_the_e0s_and_a_per_member_readout(tiny_foundation, tmp_path):
    cfg = config_from_dict(deep_update(TINY, _foundation_changes(tiny_foundation)))
    info = inspect_foundation(tiny_foundation)
    start = start_files(cfg, info, {"Cu": -1.5}, out_dir=tmp_path, seed=3, iteration=1)
    assert [p.name for p in start.models] == ["member_0.start.model", "member_1.start.model"]
    found = torch.load(tiny_foundation, weights_only=False)
    members = [torch.load(p, weights_only=False) for p in start.models]
    cu = info.atomic_numbers.index(29)
    for model in members:
        assert float(model.atomic_energies_fn.atomic_energies[0, cu]) == -1.5
        for name, param in model.named_parameters():  # only the readouts differ
            if not name.startswith("readouts."):
                assert torch.equal(param, found.get_parameter(name)), name
    readout = [dict(m.readouts.named_parameters()) for m in (found, *members)]
    for name in readout[0]:
        assert not torch.equal(readout[1][name], readout[0][name])
        assert not torch.equal(readout[1][name], readout[2][name])
    again = start_files(cfg, info, {"Cu": -1.5}, out_dir=tmp_path / "again", seed=3,
                        iteration=1)
    for model, path in zip(members, again.models):  # the same seed, the same start
        redone = torch.load(path, weights_only=False)
        assert all(torch.equal(a, b) for a, b in zip(model.parameters(), redone.parameters()))


def test_keep_with_the_foundation_e0s_starts_from_the_file_itself(tiny_foundation, tmp_path):
    cfg = config_from_dict(deep_update(TINY, _foundation_changes(
        tiny_foundation, finetuning={"readout": "keep"})))
    info = inspect_foundation(tiny_foundation)
    start = start_files(cfg, info, {"Cu": info.e0s_eV["Cu"]}, out_dir=tmp_path, seed=3,
                        iteration=1)
    assert start.models == (tiny_foundation,) * 2 and start.written == ()


def test_perturbation_scales_with_the_noise(tiny_foundation):
    found = torch.load(tiny_foundation, weights_only=False)
    deltas = []
    for noise in (0.01, 0.1):
        model = torch.load(tiny_foundation, weights_only=False)
        diversify_readout(model, "perturb", noise=noise, seed=1)
        deltas.append([float(((a - b).pow(2).mean().sqrt() / b.pow(2).mean().sqrt()).detach())
                       for a, b in zip(model.readouts.parameters(),
                                       found.readouts.parameters())])
    np.testing.assert_allclose(np.array(deltas[1]) / np.array(deltas[0]), 10.0, rtol=1e-9)
    assert all(0.03 < d < 0.3 for d in deltas[1])  # ~0.1 of the RMS per tensor


def test_most_diverse_keeps_the_start_and_the_farthest_frames():
    from ase import Atoms

    from alearn.bootstrap import most_diverse

    shifts = [0.0, 0.1, 0.11, 0.5, 0.52, 1.0, 1.01]  # three clusters beside the start
    frames = [Atoms("Cu", positions=[[x, 0, 0]]) for x in shifts]
    kept = most_diverse(frames, 4, lambda a: a.positions[0], np.random.default_rng(0))
    assert [a.positions[0, 0] for a in kept] == [0.0, 0.11, 0.5, 1.01]  # one per cluster


# --------------------------------------------------------------------------- E0s
def test_estimated_e0s_correct_the_foundation_by_least_squares(tiny_foundation):
    info = inspect_foundation(tiny_foundation)
    frames = emt_frames(3, seed=2)  # Cu, Ag, Au and Ni cells: a full-rank system
    symbols = list(ELEMENTS)
    estimate = estimate_e0s(info, symbols, frames)
    calc = CommitteeCalculator([tiny_foundation])  # the foundation itself, run directly
    counts = np.array([[np.sum(a.symbols == s) for s in symbols] for a in frames], float)
    errors = []
    for atoms in frames:
        work = atoms.copy()
        work.calc = calc
        errors.append(atoms.info["REF_energy"] - work.get_potential_energy())
    correction = np.linalg.lstsq(counts, np.array(errors), rcond=None)[0]
    expected = {s: info.e0s_eV[s] + c for s, c in zip(symbols, correction)}
    assert estimate["n_frames"] == len(frames)
    for s in symbols:
        assert estimate["e0s_eV"][s] == pytest.approx(expected[s], abs=1e-9)


# --------------------------------------------------------------------------- a campaign
@pytest.fixture(scope="module")
def foundation_campaign(tiny_foundation, tmp_path_factory) -> tuple[Path, Path]:
    """A tiny campaign fine-tuned from the foundation, bootstrapped by MD on it (the
    config, its workdir)."""
    folder = tmp_path_factory.mktemp("from_foundation")
    config = write_campaign(folder, {
        "committee": {"foundation_model": str(tiny_foundation), "model": {"r_max": 3.3}},
        "initial_data": {"bootstrap": {"method": "md", "n_per_system": 6, "md": {
            "calculator": {"kind": "foundation"}, "oversample": 2, "temperatures_K": [600],
            "equilibration_steps": 10, "sample_interval": 5}}},
        "uncertainty": {"lo": 1e-4, "hi": 2.0},  # nothing trusted: iteration 2 warm-starts
        "stop": {"max_iterations": 1}})
    Campaign(config, folder / "work").run()
    return config, folder / "work"


@pytest.mark.slow
def test_members_are_fine_tuned_from_the_foundation(foundation_campaign, tiny_foundation):
    _, work = foundation_campaign
    record = json.loads((work / "foundation.json").read_text())
    assert record["sha256"] == sha256_file(tiny_foundation)
    e0s = record["estimated_e0s"]["e0s_eV"]
    first = json.loads((work / "iter_001" / "train.done.json").read_text())
    assert first["foundation_sha256"] == record["sha256"] and not first["warm_start"]
    assert first["e0s"] == e0s
    second = json.loads((work / "iter_002" / "train.done.json").read_text())
    assert second["warm_start"] and second["start_sha256"] == first["models_sha256"]
    for it, marker in ((1, first), (2, second)):
        folder = work / f"iter_{it:03d}" / "committee"
        assert marker["models_sha256"] == {p.name: sha256_file(p)
                                           for p in folder.glob("member_*.model")}
        assert not list(folder.glob("*.start.model"))  # removed once trained
        for path in folder.glob("member_*.model"):
            model = torch.load(path, weights_only=False)
            assert float(model.r_max) == R_MAX_A  # the foundation's, not committee.model's
            assert model.atomic_numbers.tolist() == [29]
            assert float(model.atomic_energies_fn.atomic_energies[0, 0]) == pytest.approx(
                e0s["Cu"])
    atoms = bulk("Cu", cubic=True).repeat((2, 1, 1))
    atoms.rattle(0.1, seed=4)
    atoms.calc = load_committee(work)
    atoms.get_potential_energy()
    assert atoms.calc.results["forces_std"].min() > 1e-5  # the members differ everywhere


@pytest.mark.slow
def test_the_bootstrap_ran_md_on_the_foundation(foundation_campaign):
    from alearn.dataset import Dataset

    _, work = foundation_campaign
    rows = Dataset(work / "dataset.db").rows(iteration=0)
    assert len(rows) == 6 and {r.get("source") for r in rows} == {"bootstrap"}
    start = bulk("Cu", cubic=True).repeat((2, 1, 1))
    moved = [np.abs(r.toatoms().positions - start.positions).max() for r in rows]
    assert sorted(moved)[0] < 1e-9 < 0.05 < sorted(moved)[1]  # the start, then MD frames


@pytest.mark.slow
def test_a_replaced_model_file_is_refused(foundation_campaign, tmp_path):
    _, work = foundation_campaign
    copy = tmp_path / "work"
    shutil.copytree(work, copy)
    folder = copy / "iter_002" / "committee"
    first, second = folder / "member_0.model", folder / "member_1.model"
    first.write_bytes(second.read_bytes())
    with pytest.raises(ModelFileChanged, match=r"member_0\.model: sha256 .* differs"):
        load_committee(copy)


@pytest.mark.slow
def test_a_changed_foundation_file_is_refused_on_resume(foundation_campaign, tmp_path):
    config, work = foundation_campaign
    copy = tmp_path / "work"
    shutil.copytree(work, copy)
    other = tmp_path / "other.model"
    shutil.copy(work / "iter_001" / "committee" / "member_0.model", other)  # Cu only: passes
    cfg = load_config(config)
    cfg = cfg.model_copy(update={"committee": cfg.committee.model_copy(
        update={"foundation_model": other})})
    with pytest.raises(ConfigError, match="differs from .* the file this campaign started"):
        Campaign(cfg, copy).run()


def test_loading_a_model_file_is_logged_with_its_hash(tiny_foundation, tmp_path, caplog):
    path = tmp_path / "someone_elses.model"
    shutil.copy(tiny_foundation, path)
    with caplog.at_level(logging.DEBUG, logger="alearn.calculators.model_files"):
        CommitteeCalculator([path])
        CommitteeCalculator([path])
    first, again = [r for r in caplog.records if r.name == "alearn.calculators.model_files"]
    assert first.levelno == logging.INFO and again.levelno == logging.DEBUG
    assert f"sha256 {sha256_file(path)[:16]}" in first.getMessage()
    assert str(path) in first.getMessage() and "unpickling runs code" in first.getMessage()


# --------------------------------------------------------------------------- replay
@pytest.mark.slow
def test_multihead_replay_fine_tuning(tiny_foundation, tmp_path):
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    replay = []
    for frame in emt_frames(2, seed=9):  # the foundation's chemistry, keys as in mace's data
        atoms = frame.copy()
        atoms.calc = SinglePointCalculator(atoms, energy=frame.info["REF_energy"],
                                           forces=frame.arrays["REF_forces"])
        replay.append(atoms)
    write(tmp_path / "replay.xyz", replay)
    cu = [a for a in emt_frames(6, seed=4) if a.get_chemical_formula() == "Cu4"]
    write(tmp_path / "train.xyz", cu)
    cfg = CommitteeConfig.model_validate({"size": 2, "training": {"max_num_epochs": 2,
                                                                  "batch_size": 2}})
    job = MemberJob(index=0, seed=1, train_file=tmp_path / "train.xyz", valid_file=None,
                    model_path=tmp_path / "member_0.model", init_model=tiny_foundation,
                    epochs=2, replay=ReplayConfig(file=tmp_path / "replay.xyz"))
    train_member(cfg, job, atomic_numbers=[29], has_stress=False, e0s={"Cu": -0.2})
    model = torch.load(job.model_path, weights_only=False)
    assert model.heads == ["pt_head", "Default"]
    cu_index = model.atomic_numbers.tolist().index(29)
    energies = model.atomic_energies_fn.atomic_energies
    assert float(energies[1, cu_index]) == pytest.approx(-0.2)  # --E0s for the new head
    assert float(energies[0, cu_index]) == pytest.approx(
        inspect_foundation(tiny_foundation).e0s_eV["Cu"])  # the replay head keeps its own
    atoms = cu[0].copy()
    atoms.calc = CommitteeCalculator([job.model_path])
    assert np.isfinite(atoms.get_potential_energy())  # a committee member like any other
