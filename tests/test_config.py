"""Bad input is rejected with a message naming the file, key or structure."""

from __future__ import annotations

import re

import numpy as np
import pytest
import yaml
from ase import Atoms

from alearn import Campaign, ConfigError, load_config
from alearn.config import MDConfig, config_from_dict
from alearn.preflight import check_before_labels, min_training_frames
from conftest import REPO, TINY, deep_update, write_campaign

CU = TINY["systems"][0]


def test_valid_config_loads(tmp_path):
    cfg = load_config(write_campaign(tmp_path))
    assert cfg.committee.size == 2
    assert cfg.resolve(cfg.systems[0].structure) == tmp_path / "cu.xyz"


@pytest.mark.parametrize("changes, fragment", [
    ({"committee": {"sise": 3}}, "committee.sise': unknown key"),
    ({"committee": {"size": "four"}}, "committee.size'"),
    ({"committee": {"size": 1}}, "committee.size'"),
    ({"uncertainty": {"lo": 0.5, "hi": 0.1}}, "must be above uncertainty.lo"),
    ({"uncertainty": {"adaptive_lo": True}}, "needs uncertainty.units: calibrated"),
    ({"uncertainty": {"units": "calibrated", "adaptive_lo": True,
                      "metric": "energy_std_per_atom"}}, "metric max_force_std or"),
    ({"uncertainty": {"lo_min": 1.0}}, "adaptive_lo only lowers lo"),
    ({"oracle": {"kind": "vasp"}}, "oracle.kind'"),
    ({"oracle": {"kind": "calculator"}}, "import_path"),
    ({"systems": [{"name": "a", "structure": "x.xyz"}, {"name": "a", "structure": "y.xyz"}]},
     "repeated: ['a']"),
    ({"systems": [{"name": "bad name!", "structure": "x.xyz"}]}, "systems[bad name!].name'"),
    ({"systems": [{"name": 5, "structure": "x.xyz"}]}, "systems[0].name'"),
])
def test_schema_errors_name_the_key(changes, fragment):
    with pytest.raises(ConfigError) as err:
        config_from_dict(deep_update(TINY, changes), source="my.yaml")
    assert "my.yaml" in str(err.value)
    assert fragment in str(err.value)


def _system(**changes) -> dict:
    return {"systems": [deep_update(CU, changes)]}


@pytest.mark.parametrize("changes, fragment", [
    (_system(md={"temperature_K": -300}), "systems[cu].md.temperature_K': temperatures are "
                                          "absolute and must be above 0 K; got [-300.0]"),
    (_system(md={"temperature_K": 0}), "systems[cu].md.temperature_K': temperatures"),
    (_system(md={"temperature_K": [500, -100]}), "above 0 K; got [-100.0]"),
    (_system(md={"temperature_K": []}), "systems[cu].md.temperature_K': empty list"),
    (_system(md={"temperature_ramp_K": [-10, 300]}),
     "systems[cu].md.temperature_ramp_K': temperatures are absolute"),
    (_system(walkers=3), "systems[cu].md.temperature_K lists 2 temperatures but "
                         "systems[cu].walkers is 3; give one temperature per walker"),
    (_system(walkers=1, md={"temperature_K": [300, 400, 500]}),
     "lists 3 temperatures but systems[cu].walkers is 1"),
    (_system(md={"temperature_K": 300, "start_from": ["previous"]}),
     "systems[cu].md.start_from lists 1 starts but systems[cu].walkers is 2"),
    (_system(md={"start_from": "last"}), "systems[cu].md.start_from': unknown start ['last']"),
    ({"committee": {"training": {"e0s": {"Cu": -1.0, "Cx": -2.0}}}},
     "committee.training.e0s': unknown element symbols ['Cx']"),
])
def test_values_accepted_but_wrong(changes, fragment):
    with pytest.raises(ConfigError) as err:
        config_from_dict(deep_update(TINY, changes), source="my.yaml")
    message = str(err.value)
    assert fragment in message
    assert message.startswith("my.yaml: invalid campaign configuration: key '")
    assert "\n" not in message and "Value error" not in message


def test_one_temperature_per_walker():
    cfg = config_from_dict(deep_update(TINY, _system(walkers=3, md={"temperature_K": [1, 2, 3]})))
    md = cfg.systems[0].md
    assert [md.walker_temperature_K(w, 1, 2) for w in range(3)] == [1, 2, 3]
    cfg = config_from_dict(deep_update(TINY, _system(walkers=3, md={"temperature_K": 450})))
    assert cfg.systems[0].md.walker_temperature_K(2, 1, 2) == 450


def test_the_examples_validate():
    cfg = load_config(REPO / "examples" / "demo" / "campaign.yaml")
    check_before_labels(cfg, atomic_numbers=[1, 3, 8], n_initial_frames=12)
    config_from_dict(TINY)


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
              r"bad.xyz\): atoms 0 \(Cu\) and 1 \(Cu\) are 0.200 Å apart", atoms)


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


# ----------------------------------------------------------------------------- preflight
def _preflight(changes: dict, *, numbers=(29,), n_frames: int | None = 6) -> None:
    cfg = config_from_dict(deep_update(TINY, changes))
    check_before_labels(cfg, atomic_numbers=list(numbers), n_initial_frames=n_frames)


def test_preflight_passes_the_tiny_campaign():
    _preflight({})
    _preflight({"committee": {"training": {"e0s": {"Cu": -0.1, "O": -2.0}}}})


def test_cuda_without_a_gpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="committee.device is 'cuda' but torch .* sees no "
                                          "usable GPU; set committee.device: cpu"):
        _preflight({"committee": {"device": "cuda"}})
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    _preflight({"committee": {"device": "cuda"}})


def test_cuda_on_this_machine():
    import torch

    if torch.cuda.is_available():
        _preflight({"committee": {"device": "cuda"}})
    else:
        with pytest.raises(ConfigError, match="committee.device"):
            _preflight({"committee": {"device": "cuda"}})


def test_e0s_must_cover_every_element():
    with pytest.raises(ConfigError, match=r"committee.training.e0s has no energy for \['H', "
                                          r"'O'\], which the systems contain"):
        _preflight({"committee": {"training": {"e0s": {"Cu": -0.1}}}}, numbers=(29, 8, 1, 8))


@pytest.mark.parametrize("n, fraction, expected", [
    (0, 0.2, 0), (1, 0.2, 0), (2, 0.2, 1), (3, 0.2, 2), (5, 0.2, 4), (6, 0.2, 4), (10, 0.1, 9),
    (10, 0.0, 10), (2, 0.0, 2), (12, 0.2, 9),
])
def test_min_training_frames(n, fraction, expected):
    assert min_training_frames(n, fraction) == expected


def test_min_training_frames_is_a_lower_bound():
    from alearn.selection import assign_splits

    rng = np.random.default_rng(1)
    for n in range(12):
        for fraction in (0.0, 0.1, 0.2, 0.34, 0.5):
            n_train = [assign_splits(n, fraction, rng, at_least_one=True).count("train")
                       for _ in range(30)]
            assert min(n_train) >= min_training_frames(n, fraction)


def test_bootstrap_smaller_than_the_batch():
    with pytest.raises(ConfigError) as err:
        _preflight({"committee": {"training": {"batch_size": 8}}})
    message = str(err.value)
    for fragment in ("initial_data.bootstrap.n_per_system (6) × 1 system = 6 initial frames",
                     "as few as 4 training frames", "validation.fraction 0.2",
                     "fewer than committee.training.batch_size (8)",
                     "set initial_data.bootstrap.n_per_system to at least 10",
                     "set committee.training.batch_size to at most 4"):
        assert fragment in message
    _preflight({"committee": {"training": {"batch_size": 8}}}, n_frames=None)  # resumed


def test_kfold_members_see_fewer_frames():
    with pytest.raises(ConfigError, match="2 per member with committee.subsampling kfold"):
        _preflight({"committee": {"subsampling": "kfold"}})


def test_initial_file_smaller_than_the_batch():
    with pytest.raises(ConfigError, match=r"the 3 frames of initial_data.file \(data.xyz\) "
                                          r".*put at least 5 frames in initial_data.file"):
        _preflight({"initial_data": {"file": "data.xyz"}}, n_frames=3)
    with pytest.raises(ConfigError, match="fewer than the two a committee needs"):
        _preflight({"committee": {"training": {"batch_size": 1}}}, n_frames=2)


def test_stress_is_trained_only_where_needed(tmp_path):
    def campaign(changes):
        c = Campaign(write_campaign(tmp_path, changes), tmp_path / "w")
        c.validate()
        return c

    npt = {"systems": [{**TINY["systems"][0], "md": {"ensemble": "npt"}}]}
    assert not campaign({})._train_on_stress()  # a periodic cell explored NVT
    assert campaign(npt)._train_on_stress()
    assert campaign({"committee": {"training": {"stress": "yes"}}})._train_on_stress()
    with pytest.raises(ConfigError, match="committee.training.stress is 'no' but systems"):
        load_config(write_campaign(tmp_path, deep_update(
            npt, {"committee": {"training": {"stress": "no"}}})))


def test_a_ramp_reaches_the_declared_conditions():
    md = MDConfig(ensemble="npt", temperature_K=[400.0, 800.0], pressure_bar=[1.0, 1000.0],
                  ramp={"iterations": 2, "from_temperature_K": 300.0,
                        "from_pressure_bar": 1.0})
    assert [md.walker_temperature_K(1, it, 10) for it in (1, 2, 3, 4)] == [300, 550, 800, 800]
    assert [md.walker_pressure_bar(1, it) for it in (1, 2, 3)] == [1.0, 500.5, 1000.0]
    assert md.walker_pressure_bar(0, 1) == 1.0


@pytest.mark.parametrize("md, fragment", [
    ({"pressure_bar": [1.0, 2.0, 3.0]}, "md.pressure_bar lists 3 pressures but"),
    ({"ramp": {"iterations": 2, "from_temperature_K": 300}, "temperature_ramp_K": [300, 500]},
     "md.ramp and md.temperature_ramp_K both set"),
    ({"ramp": {"iterations": 0, "from_temperature_K": 300}}, "md.ramp.iterations"),
    ({"uncertainty_bias": -1.0}, "md.uncertainty_bias"),
])
def test_schedule_and_bias_mistakes_are_named(md, fragment):
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        config_from_dict(deep_update(TINY, {"systems": [deep_update(TINY["systems"][0],
                                                                    {"md": md})]}))
