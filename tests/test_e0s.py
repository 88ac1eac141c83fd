"""Per-element reference energies (alearn.e0s): isolated atoms from the oracle, stored once."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.emt import EMT

import alearn.labeling
from alearn.config import CommitteeConfig, GPAWSettings, OracleConfig, config_from_dict
from alearn.e0s import (
    E0S_FILE,
    E0sFailed,
    isolated_e0s,
    oracle_atom_energies,
    reference_energies,
)
from alearn.errors import AlearnError
from alearn.methods import isolated_atom
from alearn.methods.gpaw_presets import gpaw_parameters
from alearn.oracles import make_oracle, settings_hash
from alearn.parallel import Workers
from alearn.training import MemberJob, e0s_argument, mace_arguments

XTB = {"kind": "xtb", "isolation": "inline"}


def _cfg(oracle: dict, **more) -> object:
    data = {"systems": [{"name": "s", "structure": "s.xyz"}], "oracle": oracle, **more}
    return config_from_dict(data)


def _tblite(symbol: str, method: str, multiplicity: int) -> float:
    from tblite.ase import TBLite

    atom = Atoms(symbol)
    atom.calc = TBLite(method=method, multiplicity=multiplicity, verbosity=0)
    return atom.get_potential_energy()


@pytest.fixture()
def computed(monkeypatch) -> list[int]:
    """Atomic numbers of the oracle's atoms computed (through compute_outcome)."""
    calls: list[int] = []
    real = alearn.labeling.compute_outcome

    def spy(row_id, *args, **kwargs):
        calls.append(row_id)
        return real(row_id, *args, **kwargs)

    monkeypatch.setattr(alearn.labeling, "compute_outcome", spy)
    return calls


# --------------------------------------------------------------------------- values
def test_xtb_hydrogen_is_the_doublet_of_tblite(tmp_path):
    cfg = _cfg(XTB)
    e0s = isolated_e0s(cfg, ["H", "O"], workdir=tmp_path, workers=Workers())
    assert e0s["H"] == pytest.approx(_tblite("H", "GFN1-xTB", 2), abs=1e-8)
    assert e0s["O"] == pytest.approx(_tblite("O", "GFN1-xTB", 3), abs=1e-8)  # triplet
    stored = json.loads((tmp_path / E0S_FILE).read_text())
    assert stored["e0s_eV"] == e0s and stored["target"] == "direct"
    oracle = stored["oracle"]
    assert oracle["settings_hash"] == settings_hash(make_oracle(cfg.oracle).settings())
    assert oracle["settings"]["tblite"]  # code version
    h = oracle["atoms"]["H"]
    assert h["magnetic_moment"] == 1.0 and h["parameters"]["uhf"] == 1 and h["wall_s"] >= 0
    assert oracle["atoms"]["O"]["parameters"]["uhf"] == 2 and stored["baseline"] is None


def test_emt_atoms_match_emt(tmp_path):
    e0s = isolated_e0s(_cfg({"kind": "emt", "isolation": "inline"}), ["Cu", "H"],
                       workdir=tmp_path, workers=Workers())
    for symbol in ("Cu", "H"):
        atom = Atoms(symbol, calculator=EMT())
        assert e0s[symbol] == pytest.approx(atom.get_potential_energy(), abs=1e-12)


def test_delta_e0s_are_target_minus_baseline(tmp_path, computed):
    oracle = {"kind": "xtb", "xtb": {"method": "GFN2-xTB"}, "isolation": "inline"}
    direct = isolated_e0s(_cfg(oracle), ["H", "O"], workdir=tmp_path, workers=Workers())
    assert len(computed) == 2
    delta = isolated_e0s(_cfg(oracle, baseline={"kind": "xtb"}), ["H", "O"],
                         workdir=tmp_path, workers=Workers())
    assert len(computed) == 2, "switching to Δ-ML reuses the oracle's atoms"
    for symbol, mult in (("H", 2), ("O", 3)):
        assert direct[symbol] == pytest.approx(_tblite(symbol, "GFN2-xTB", mult), abs=1e-8)
        assert delta[symbol] == pytest.approx(
            _tblite(symbol, "GFN2-xTB", mult) - _tblite(symbol, "GFN1-xTB", mult), abs=1e-8)
    stored = json.loads((tmp_path / E0S_FILE).read_text())
    assert stored["target"].startswith("delta:") and stored["baseline"]["atoms"]["O"]
    assert stored["e0s_eV"] == delta


# --------------------------------------------------------------------------- stored once
def test_written_once_and_reused(tmp_path, computed):
    cfg = _cfg(XTB)
    first = isolated_e0s(cfg, ["H", "O"], workdir=tmp_path, workers=Workers())
    text = (tmp_path / E0S_FILE).read_text()
    again = isolated_e0s(cfg, ["H", "O"], workdir=tmp_path, workers=Workers())
    assert again == first and len(computed) == 2
    assert (tmp_path / E0S_FILE).read_text() == text, "nothing rewritten"
    # a new element: only that one is computed
    isolated_e0s(cfg, ["H", "Li", "O"], workdir=tmp_path, workers=Workers())
    assert computed == [1, 8, 3]
    # other oracle settings: all again
    other = _cfg({**XTB, "xtb": {"accuracy": 0.5}})
    isolated_e0s(other, ["H", "O"], workdir=tmp_path, workers=Workers())
    assert sorted(computed[3:]) == [1, 8]
    # a damaged file: computed again, not a crash
    (tmp_path / E0S_FILE).write_text("{not json")
    assert isolated_e0s(cfg, ["H", "O"], workdir=tmp_path, workers=Workers()) == first
    assert len(computed) == 7


def test_in_a_worker_process_as_labels(tmp_path):
    e0s = isolated_e0s(_cfg({"kind": "xtb"}), ["H"], workdir=tmp_path, workers=Workers())
    assert e0s["H"] == pytest.approx(_tblite("H", "GFN1-xTB", 2), abs=1e-8)
    assert not (tmp_path / "e0s_scratch").exists()


def test_a_failed_atom_names_the_element_and_the_way_out(tmp_path):
    oracle = {"kind": "calculator", "isolation": "inline",
              "calculator": {"import_path": "crashing_calculators:Raises"}}
    with pytest.raises(E0sFailed, match=r"isolated Cu atom .*deliberate failure.*"
                       r"committee\.training\.e0s: \{Cu: <eV>, \.\.\.\} \(every"):
        isolated_e0s(_cfg(oracle), ["Cu"], workdir=tmp_path, workers=Workers())
    assert not (tmp_path / E0S_FILE).exists()


def test_a_campaign_computes_the_atoms_before_any_label(tmp_path):
    from alearn import Campaign
    from alearn.dataset import Dataset
    from conftest import write_campaign

    oracle = {"kind": "calculator", "isolation": "inline",
              "calculator": {"import_path": "crashing_calculators:Raises"}}
    with pytest.raises(E0sFailed, match="isolated Cu atom"):
        Campaign(write_campaign(tmp_path, {"oracle": oracle}), tmp_path / "w").run()
    assert Dataset(tmp_path / "w" / "dataset.db").count(status="labeled") == 0


# --------------------------------------------------------------------------- choices
def test_a_mapping_or_average_is_used_as_given(tmp_path):
    given = reference_energies(_cfg(XTB, committee={"training": {"e0s": {"H": -1.5}}}), [1],
                               workdir=tmp_path, workers=Workers())
    average = reference_energies(_cfg(XTB, committee={"training": {"e0s": "average"}}), [1],
                                 workdir=tmp_path, workers=Workers())
    assert given == {"H": -1.5} and average == "average"
    assert not (tmp_path / E0S_FILE).exists()
    assert _cfg(XTB).committee.training.e0s == "isolated"  # the default


def test_mace_gets_a_fixed_mapping(tmp_path):
    cfg = CommitteeConfig()
    assert e0s_argument(cfg, {"O": -2.5, "H": -1.25}) == "{1: -1.25, 8: -2.5}"
    job = MemberJob(index=0, seed=1, train_file=tmp_path / "t.xyz", valid_file=None,
                    model_path=tmp_path / "m.model", init_model=tmp_path / "prev.model",
                    epochs=1)
    argv = mace_arguments(cfg, job, atomic_numbers=[8, 1], has_stress=False, scratch=tmp_path,
                          e0s={"H": -1.25, "O": -2.5})
    assert "--E0s={1: -1.25, 8: -2.5}" in argv and any("foundation_model" in a for a in argv)
    with pytest.raises(AlearnError, match="isolated"):
        e0s_argument(cfg)  # 'isolated' must be computed first


def test_gpaw_atom_settings():
    pw = GPAWSettings(preset="bulk", charge=1.0, extra={"kpts": [4, 4, 4]})
    atoms, atom = isolated_atom("gpaw", pw, "O")
    params = gpaw_parameters(atom, atoms)
    assert atoms.pbc.all() and min(atoms.cell.lengths()) >= 10.0  # PW: periodic box
    assert atoms.get_initial_magnetic_moments().tolist() == [2.0]
    assert params["spinpol"] and params["charge"] == 0 and params["kpts"]["size"] == [1, 1, 1]
    assert params["occupations"] == {"name": "fermi-dirac", "width": 0.1, "fixmagmom": True}
    assert params["mode"] == {"name": "pw", "ecut": 600.0} and params["xc"] == "PBE"
    slab = GPAWSettings(preset="slab", mode="lcao", h_A=0.2)
    atoms, atom = isolated_atom("gpaw", slab, "H")
    params = gpaw_parameters(atom, atoms)
    assert not atoms.pbc.any() and "poissonsolver" not in params and params["h"] == 0.2


@pytest.mark.gpaw
def test_gpaw_hydrogen_atom_is_spin_polarized(tmp_path):
    pytest.importorskip("gpaw")
    oc = OracleConfig(kind="gpaw", isolation="inline", gpaw={"mode": "lcao", "h_A": 0.25})
    h = oracle_atom_energies(oc, ["H"], scratch=tmp_path, workers=Workers())["H"]
    # GPAW's energies are relative to its spin-paired reference atom (0 eV); the
    # spin-polarized H atom lies ~1 eV below it (PBE, LCAO/dzp: -1.03 eV at h = 0.2 Å).
    assert -1.1 < h["energy_eV"] < -0.85
    assert h["parameters"]["spinpol"] and h["parameters"]["charge"] == 0
    assert h["parameters"]["extra"]["occupations"]["fixmagmom"]


# --------------------------------------------------------------------------- in a campaign
def test_campaign_trains_every_iteration_on_the_same_isolated_atom_e0s(finished_campaign):
    import torch

    stored = json.loads((finished_campaign / E0S_FILE).read_text())
    cu = Atoms("Cu", calculator=EMT()).get_potential_energy()
    assert stored["e0s_eV"] == {"Cu": pytest.approx(cu)}
    for it in (1, 2, 3):
        marker = json.loads((finished_campaign / f"iter_{it:03d}" / "train.done.json")
                            .read_text())
        assert marker["e0s"] == stored["e0s_eV"]
        for path in (finished_campaign / f"iter_{it:03d}" / "committee").glob("*.model"):
            model = torch.load(path, map_location="cpu", weights_only=False)
            energies = model.atomic_energies_fn.atomic_energies.detach().numpy().ravel()
            np.testing.assert_allclose(energies, [cu], rtol=0, atol=1e-12)
    log = (finished_campaign / "alearn.log").read_text()
    assert log.count("computing the isolated-atom energies") == 1
