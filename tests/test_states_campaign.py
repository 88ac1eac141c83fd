"""Campaigns with electronic states: the config checks, and a tiny two-state campaign
(water cation / water, xTB test oracle, tiny MACE committees) checked as a user would."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml
from ase.build import molecule
from ase.io import read

from alearn import Campaign, load_committee
from alearn.config import config_from_dict
from alearn.dataset import Dataset
from alearn.errors import ConfigError
from alearn.uncertainty import from_results
from alearn.workdir import frozen_digest
from conftest import TINY, deep_update

STATES = [{"name": "ox", "charge": 1, "unpaired_electrons": 1}, {"name": "red", "charge": 0}]

#: H2O+ / H2O: 9 and 10 electrons, a doublet and a closed shell
WATER = {
    "seed": 3,
    "systems": [{"name": "water", "structure": "h2o.xyz", "walkers": 3, "max_selected": 2,
                 "md": {"temperature_K": 300, "steps": 15, "sample_interval": 5,
                        "timestep_fs": 0.5}}],
    "oracle": {"kind": "xtb", "isolation": "inline", "xtb": {"method": "GFN2-xTB"}},
    "states": STATES,
    "coupling": {"lambdas": [0.0, 0.5, 1.0]},
    "initial_data": {"bootstrap": {"n_per_system": 5, "rattle_std_A": 0.04}},
    "validation": {"fraction": 0.2},
    "committee": {"size": 2, "model": {"num_channels": 8, "r_max": 3.5},
                  "training": {"max_num_epochs": 40, "batch_size": 2, "energy_weight": 10.0}},
    "uncertainty": {"lo": 0.001, "hi": 5.0},
    "stop": {"max_iterations": 1},
}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch and OpenMP thread in this process: on a busy 2-core machine, two threads
    that spin-wait make an MD step of these tiny committees 25 times slower."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(before)


def _config(changes: dict | None = None, base: dict = WATER):
    return config_from_dict(deep_update(base, changes or {}), source="c.yaml")


# ----------------------------------------------------------------------------- config
@pytest.mark.parametrize("changes, message", [
    ({"states": [STATES[0], {"name": "red", "charge": -1}]},
     r"states\[ox\].charge = 1 and states\[red\].charge = -1: .* differ by one electron"),
    ({"states": [STATES[0]]}, "at least two electronic states"),
    ({"states": [STATES[0], {**STATES[1], "name": "ox"}]}, r"repeated: \['ox'\]"),
    ({"oracle": {"kind": "emt"}}, "oracle.kind 'emt' cannot set a total charge"),
    ({"oracle": {"xtb": {"charge": 1}}}, r"oracle.xtb.charge is set, but each state"),
    ({"coupling": {"lambdas": [0.0, 1.5]}}, r"coupling.lambdas \[1.5\] lie off the path"),
    ({"baseline": {"kind": "xtb"}}, "Δ-ML baseline is not supported with several states"),
    ({"states": [{**STATES[0], "unpaired_electrons": -1}, STATES[1]]},
     r"key 'states\[ox\].unpaired_electrons'"),
])
def test_states_config_mistakes_are_named(changes, message):
    with pytest.raises(ConfigError, match=message):
        _config(changes)


def test_coupling_needs_states():
    with pytest.raises(ConfigError, match="coupling: is set but there is no states"):
        config_from_dict({**TINY, "coupling": {"lambdas": [0.5]}})


def test_oracle_calculator_is_the_configured_method_or_a_named_state():
    from ase.build import bulk
    from ase.calculators.emt import EMT

    from alearn.electronic_states import oracle_calculator

    cu = bulk("Cu", cubic=True)
    cu.calc = oracle_calculator(config_from_dict(TINY))  # no state: the oracle as given
    assert cu.get_potential_energy() == pytest.approx(EMT().get_potential_energy(cu))
    with pytest.raises(ConfigError, match=r"no electronic state 'reduced'; .*\['ox', 'red'\]"):
        oracle_calculator(_config(), "reduced")
    assert oracle_calculator(_config(), "red").parameters["charge"] == 0


def test_configs_without_states_keep_their_digest():
    cfg = config_from_dict(TINY)
    assert "states" not in cfg.model_dump() and "coupling" not in cfg.model_dump()
    # recorded with the code before states existed (the digest of the non-default
    # frozen settings): an old workdir must still resume
    assert frozen_digest(cfg) == "198dec70b7cf47d3"
    assert frozen_digest(_config()) != frozen_digest(_config({"states": [
        STATES[0], {**STATES[1], "name": "reduced"}]}))
    dumped = _config().model_dump(mode="json")  # config.yaml lists every key: it reloads
    assert config_from_dict(dumped).states == _config().states


@pytest.mark.parametrize("states, message", [
    ([{"name": "ox", "charge": 1}, {"name": "red", "charge": 0}],
     r"state ox has 9 electrons \(an odd count, charge 1\) and states\[ox\].unpaired_electrons"
     r" = 0; an odd count needs spin polarisation"),
    ([{"name": "ox", "charge": 1, "unpaired_electrons": 1},
      {"name": "red", "charge": 0, "unpaired_electrons": 1}],
     r"state red has 10 electrons \(an even count.* must be even"),
])
def test_odd_electrons_without_spin_stop_before_any_work(tmp_path, states, message):
    molecule("H2O").write(tmp_path / "h2o.xyz")
    cfg = config_from_dict({**WATER, "states": states}, source="c.yaml", base_dir=tmp_path)
    with pytest.raises(ConfigError, match=message):
        Campaign(cfg, tmp_path / "work").run()
    assert not (tmp_path / "work").exists()


def test_the_redox_example_validates(tmp_path):
    from alearn.bootstrap_calculator import check_md_calculator
    from alearn.config import load_config
    from conftest import REPO

    cfg = load_config(REPO / "examples" / "redox" / "campaign_xtb.yaml")
    campaign = Campaign(cfg, tmp_path / "work")
    campaign.validate()
    check_md_calculator(cfg, campaign.starts["fe_water"], "systems[fe_water]")
    assert [s.oracle_config.xtb.uhf for s in campaign.states] == [5, 4]
    assert [s.oracle_config.xtb.charge for s in campaign.states] == [3.0, 2.0]


def test_the_bootstrap_md_runs_one_of_the_states():
    from alearn.bootstrap_calculator import check_md_calculator

    def boot(charge: int, uhf: int):
        return _config({"initial_data": {"bootstrap": {"method": "md", "md": {
            "calculator": {"kind": "xtb", "xtb": {"charge": charge, "uhf": uhf}}}}}})

    check_md_calculator(boot(1, 1), molecule("H2O"), "systems[water]")
    check_md_calculator(boot(0, 0), molecule("H2O"), "systems[water]")
    with pytest.raises(ConfigError, match=r"the oracle labels charge 1 or 0 but .*xtb.charge "
                                          r"is -1"):
        check_md_calculator(boot(-1, 1), molecule("H2O"), "systems[water]")


# ----------------------------------------------------------------------------- campaign
@pytest.fixture(scope="module")
def two_state_campaign(tmp_path_factory):
    folder = tmp_path_factory.mktemp("two_states")
    molecule("H2O").write(folder / "h2o.xyz")
    (folder / "campaign.yaml").write_text(yaml.safe_dump(WATER))
    result = Campaign(folder / "campaign.yaml", folder / "work").run()
    return folder, result


@pytest.mark.slow
def test_every_structure_is_labeled_once_per_state(two_state_campaign):
    folder, result = two_state_campaign
    ds = Dataset(folder / "work" / "dataset.db")
    rows = ds.rows()
    assert len(rows) == result.n_labeled + result.n_failed and result.n_failed == 0
    by_structure: dict[bytes, list] = {}
    for row in rows:
        by_structure.setdefault(row.positions.round(8).tobytes(), []).append(row)
    assert len(by_structure) * 2 == len(rows) and any(r.source == "explore" for r in rows)
    for pair in by_structure.values():
        assert sorted(r.state for r in pair) == ["ox", "red"]
        assert len({(r.split, r.iteration, r.walker, r.md_step, r.system) for r in pair}) == 1
        ox, red = sorted(pair, key=lambda r: r.state)
        assert ox.oracle_hash != red.oracle_hash
        assert ox.data["oracle_settings"]["charge"] == 1.0
        assert ox.data["oracle_settings"]["uhf"] == 1
        assert red.data["oracle_settings"]["charge"] == 0.0
        assert ox.energy - red.energy > 5.0  # the ionisation energy of water, in xTB: ~12 eV
    exported = ds.labeled_atoms(state="ox")
    assert {a.info["state"] for a in exported} == {"ox"} and len(exported) == len(rows) // 2


@pytest.mark.slow
def test_one_committee_per_state(two_state_campaign):
    folder, _ = two_state_campaign
    work = folder / "work"
    for it in (1, 2):
        marker = json.loads((work / f"iter_00{it}" / "train.done.json").read_text())
        assert set(marker["states"]) == {"ox", "red"} and marker["worst_state"] in {"ox", "red"}
        for state in ("ox", "red"):
            committee = work / f"iter_00{it}" / f"committee_{state}"
            assert (committee / "member_1.model").is_file()
            assert (committee / "calibration.json").is_file()
            train = read(committee / "member_0_train.xyz", ":")
            assert {a.info["state"] for a in train} == {state}
    assert not (work / "iter_001" / "committee").exists()
    ox = load_committee(work, state="ox")
    with pytest.raises(ConfigError, match=r"states are \['ox', 'red'\]; name one"):
        load_committee(work)
    atoms = molecule("H2O")
    atoms.calc = ox
    assert np.isfinite(atoms.get_potential_energy())


@pytest.mark.slow
def test_walkers_explore_the_path_and_the_larger_spread_decides(two_state_campaign):
    folder, _ = two_state_campaign
    explore = folder / "work" / "iter_001" / "explore"
    lambdas = [json.loads((explore / f"water_w{w}.json").read_text())["coupling_lambda"]
               for w in range(3)]
    assert lambdas == [0.0, 0.5, 1.0]
    frame = read(explore / "water_w1.xyz", index=-1)
    assert frame.info["coupling_lambda"] == 0.5
    spreads = []
    for state in ("ox", "red"):
        from alearn.trained_committee import committee_calculator

        cfg = _config()
        calc = committee_calculator(folder / "work" / "iter_001" / f"committee_{state}", cfg)
        work = frame.copy()
        work.calc = calc
        work.get_forces()
        spreads.append(from_results(calc.results, len(work)).max_force_std)
    assert frame.info["unc_max_force_std"] == pytest.approx(max(spreads), rel=1e-4)


@pytest.mark.slow
def test_a_second_run_labels_nothing_more(two_state_campaign):
    folder, _ = two_state_campaign
    before = Dataset(folder / "work" / "dataset.db").count()
    Campaign(folder / "campaign.yaml", folder / "work").run()
    assert Dataset(folder / "work" / "dataset.db").count() == before


@pytest.mark.slow
def test_integration_on_the_committees_matches_the_oracle(two_state_campaign, tmp_path):
    """End to end, reduced: TI on the campaign's two committees, corrected to xTB at the end
    states, against TI run directly on xTB (the same windows)."""
    from alearn.electronic_states import oracle_calculator
    from alearn.protocols import MDOptions
    from alearn.protocols.redox import (
        TIOptions,
        end_state_correction,
        redox_potential,
        thermodynamic_integration,
    )

    folder, _ = two_state_campaign
    work, cfg = folder / "work", _config()
    options = TIOptions(md=MDOptions(temperature_K=300, timestep_fs=0.5, n_steps=200,
                                     interval_steps=5, thermostat="langevin",
                                     thermostat_time_fs=50.0, seed=2),
                        equilibration_steps=40, n_nodes=3, n_blocks=4)
    start = molecule("H2O")
    xtb = {s: oracle_calculator(cfg, s) for s in ("ox", "red")}
    model = thermodynamic_integration(start, load_committee(work, state="ox"),
                                      load_committee(work, state="red"), tmp_path / "model",
                                      options=options)
    corrections = [end_state_correction(model, s, xtb[s], n_frames=20, equilibration_steps=40)
                   for s in ("ox", "red")]
    corrected = redox_potential(model, corrections=corrections)
    direct = thermodynamic_integration(start, xtb["ox"], xtb["red"], tmp_path / "xtb",
                                       options=options)
    # minus the adiabatic ionisation free energy of water in GFN2-xTB (measured: 18.1 eV)
    assert -20.0 < direct.dA_eV.value < -16.0
    combined = math.hypot(corrected.dA_eV.stderr, direct.dA_eV.stderr)
    print(f"model {model.dA_eV}, corrected {corrected.dA_eV}, direct {direct.dA_eV}, "
          f"FEP {[(c.dA_eV, c.effective_frames) for c in corrections]}")
    # tiny committees (7 labels a state): measured 0.06 eV off, 0.03 eV after the correction
    assert abs(model.dA_eV.value - direct.dA_eV.value) < 0.3
    assert abs(corrected.dA_eV.value - direct.dA_eV.value) < max(0.1, 3 * combined)
    assert all(1.0 <= c.effective_frames <= c.n_frames == 20 for c in corrections)
