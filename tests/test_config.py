"""Bad input is rejected with a message naming the file, key or structure."""

from __future__ import annotations

import pytest
import yaml
from ase import Atoms

from alearn import Campaign, ConfigError, load_config
from alearn.config import config_from_dict
from conftest import TINY, deep_update, write_campaign


def test_valid_config_loads(tmp_path):
    cfg = load_config(write_campaign(tmp_path))
    assert cfg.committee.size == 2
    assert cfg.resolve(cfg.systems[0].structure) == tmp_path / "cu.xyz"


@pytest.mark.parametrize("changes, fragment", [
    ({"committee": {"sise": 3}}, "committee.sise': unknown key"),
    ({"committee": {"size": "four"}}, "committee.size'"),
    ({"committee": {"size": 1}}, "committee.size'"),
    ({"uncertainty": {"lo": 0.5, "hi": 0.1}}, "must be above uncertainty.lo"),
    ({"oracle": {"kind": "vasp"}}, "oracle.kind'"),
    ({"oracle": {"kind": "calculator"}}, "import_path"),
    ({"systems": [{"name": "a", "structure": "x.xyz"}, {"name": "a", "structure": "y.xyz"}]},
     "repeated: ['a']"),
    ({"systems": [{"name": "bad name!", "structure": "x.xyz"}]}, "systems.0.name'"),
])
def test_schema_errors_name_the_key(changes, fragment):
    with pytest.raises(ConfigError) as err:
        config_from_dict(deep_update(TINY, changes), source="my.yaml")
    assert "my.yaml" in str(err.value)
    assert fragment in str(err.value)


def test_missing_key(tmp_path):
    data = {k: v for k, v in TINY.items() if k != "oracle"}
    with pytest.raises(ConfigError, match="key 'oracle': required key is missing"):
        config_from_dict(data, source="c.yaml")


def test_malformed_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("systems: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="nope.yaml: campaign file not found"):
        load_config(tmp_path / "nope.yaml")
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(listy)


def _rejected(tmp_path, changes, match, atoms: Atoms | None = None):
    config = write_campaign(tmp_path, changes)
    if atoms is not None:
        atoms.write(tmp_path / "bad.xyz")
    campaign = Campaign(config, tmp_path / "work")
    with pytest.raises(ConfigError, match=match):
        campaign.run()
    assert not (tmp_path / "work").exists(), "nothing may be written before validation passes"


def test_missing_structure_file(tmp_path):
    _rejected(tmp_path, {"systems": [{**TINY["systems"][0], "structure": "gone.xyz"}]},
              r"systems\[cu\].structure .*gone.xyz\): file not found")


def test_overlapping_atoms(tmp_path):
    atoms = Atoms("Cu2", positions=[[0, 0, 0], [0.2, 0, 0]], cell=[5, 5, 5], pbc=True)
    _rejected(tmp_path, {"systems": [{**TINY["systems"][0], "structure": "bad.xyz"}]},
              r"bad.xyz\): atoms closer than 0.5 Å", atoms)


def test_pbc_without_cell(tmp_path):
    atoms = Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]])
    _rejected(tmp_path, {"systems": [{**TINY["systems"][0], "structure": "bad.xyz", "pbc": True}]},
              "periodic along axis 0 but the cell vector is zero", atoms)


def test_element_the_oracle_cannot_do(tmp_path):
    atoms = Atoms("LiF", positions=[[0, 0, 0], [1.6, 0, 0]])
    _rejected(tmp_path, {"systems": [{**TINY["systems"][0], "structure": "bad.xyz"}]},
              r"systems\[cu\]: EMT has no parameters for \['F', 'Li'\]", atoms)


def test_npt_needs_a_periodic_cell(tmp_path):
    atoms = Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]])
    system = {**TINY["systems"][0], "structure": "bad.xyz", "md": {"ensemble": "npt"}}
    _rejected(tmp_path, {"systems": [system]}, "npt needs a 3D-periodic", atoms)


def test_initial_file_without_labels(tmp_path):
    Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]]).write(tmp_path / "data.xyz")
    _rejected(tmp_path, {"initial_data": {"file": "data.xyz"}},
              r"data.xyz\), frame 0: missing 'REF_energy'")


def test_resume_with_changed_oracle_is_refused(tmp_path, finished_campaign):
    cfg = yaml.safe_load((finished_campaign / "config.yaml").read_text())
    cfg["oracle"]["kind"] = "xtb"
    cfg.pop("base_dir")
    changed = write_campaign(tmp_path, {})
    changed.write_text(yaml.safe_dump({**cfg, "systems": TINY["systems"]}))
    with pytest.raises(ConfigError, match="started with different"):
        Campaign(changed, finished_campaign).run()
