"""A whole tiny campaign (EMT test oracle, tiny MACE committee), checked as a user would."""

from __future__ import annotations

import json

import numpy as np
from ase.io import read

from alearn import Campaign
from alearn.config import config_from_dict
from alearn.dataset import Dataset
from alearn.exploration import continue_from
from conftest import TINY, alearn_cli, deep_update, write_campaign


def test_campaign_grows_a_dataset_with_provenance(finished_campaign):
    state = json.loads((finished_campaign / "campaign.json").read_text())
    assert state["status"] in {"converged", "max_iterations"}
    ds = Dataset(finished_campaign / "dataset.db")
    boot = ds.rows(iteration=0)
    assert len(boot) == 6 and {r.source for r in boot} == {"bootstrap"}
    explored = ds.rows(source="explore")
    assert explored, "exploration selected nothing"
    for row in explored:
        assert row.status == "labeled"
        assert row.walker in (0, 1) and row.md_step >= 0 and row.system == "cu"
        assert row.unc_max_force_std >= 0.02  # selected from the trust window [lo, hi)
        assert row.oracle == "emt" and len(row.oracle_hash) == 16 and row.label_wall_s >= 0
        assert row.data["oracle_settings"]["kind"] == "emt"
    assert all(r.iteration in (1, 2) for r in explored)
    assert max(r.iteration for r in explored) <= 2
    assert ds.count(split="valid") >= 1


def test_validation_frames_never_reach_training(finished_campaign):
    ds = Dataset(finished_campaign / "dataset.db")
    valid_ids = {r.id for r in ds.rows(split="valid")}
    for train_file in finished_campaign.glob("iter_*/committee/member_*_train.xyz"):
        ids = {a.info["db_id"] for a in read(train_file, ":")}
        assert not ids & valid_ids, train_file


def test_committee_is_retrained_with_warm_start(finished_campaign):
    markers = [json.loads((finished_campaign / f"iter_{i:03d}" / "train.done.json").read_text())
               for i in (1, 2, 3)]
    assert [m["warm_start"] for m in markers] == [False, True, True]
    assert markers[0]["n_train"] < markers[2]["n_train"]
    # iteration 1 validates on the symmetric start frame alone (every reference
    # force zero): its force RMSE is reported as not measurable (NaN)
    assert np.isnan(markers[0]["rmse_forces_meV_A"])
    assert all(np.isfinite(m["rmse_forces_meV_A"]) for m in markers[1:])


def test_reports_are_written(finished_campaign):
    for name in ("iter_001/report/parity_forces.png", "iter_001/report/uncertainty_hist.png",
                 "learning_curve.png", "alearn.log"):
        assert (finished_campaign / name).stat().st_size > 0, name
    assert "campaign finished" in (finished_campaign / "alearn.log").read_text()


def test_status_and_export_commands(finished_campaign, tmp_path):
    status = alearn_cli("status", str(finished_campaign))
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert "iteration 3 · 12 labels (0 failed, 0 pending)" in lines[0]
    assert "finished: max_iterations" in lines[0]
    assert "iter" in lines[1] and "trusted" in lines[1] and "F meV/Å" in lines[1]
    assert [ln.split()[0] for ln in lines[2:6]] == ["0", "1", "2", "3"]
    assert all(len(line) <= 100 for line in lines[1:])
    out = tmp_path / "data.xyz"
    export = alearn_cli("export", str(finished_campaign), "-o", str(out))
    assert export.returncode == 0, export.stderr
    frames = read(out, ":")
    assert len(frames) == Dataset(finished_campaign / "dataset.db").count(status="labeled")
    assert {"REF_energy", "REF_stress"} <= set(frames[0].info)
    assert frames[0].arrays["REF_forces"].shape == (len(frames[0]), 3)


def test_a_second_run_is_a_no_op(finished_campaign):
    before = Dataset(finished_campaign / "dataset.db").count()
    proc = alearn_cli("run", str(finished_campaign.parent / "campaign.yaml"),
                      "--workdir", str(finished_campaign))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert Dataset(finished_campaign / "dataset.db").count() == before


def test_cli_reports_config_errors_cleanly(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("seed: 1\n")
    proc = alearn_cli("run", str(bad), "--workdir", str(tmp_path / "w"))
    assert proc.returncode == 2
    assert "c.yaml: invalid campaign configuration" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_walkers_can_continue_from_their_previous_iteration(finished_campaign):
    """Walker 1 continues where it stopped; walker 0 goes back to the structure."""
    system = deep_update(TINY["systems"][0], {"md": {"start_from": ["structure", "previous"]}})
    cfg = config_from_dict({**TINY, "systems": [system]}, source="test",
                           base_dir=finished_campaign.parent)
    campaign = Campaign(cfg, finished_campaign)
    campaign.validate()  # reads the start structures
    spec_1, spec_2 = (next(s for s in campaign.walker_specs(it) if s.walker == 1)
                      for it in (1, 2))
    back = next(s for s in campaign.walker_specs(2) if s.walker == 0)
    np.testing.assert_array_equal(campaign.walker_start(back).positions,
                                  campaign.starts["cu"].positions)
    np.testing.assert_array_equal(campaign.walker_start(spec_1).positions,
                                  campaign.starts["cu"].positions)
    sampled = read(finished_campaign / "iter_001" / "explore" / "cu_w1.xyz", ":")
    usable = [f for f in sampled if f.info["unc_max_force_std"] < cfg.uncertainty.hi]
    start = campaign.walker_start(spec_2)
    np.testing.assert_array_equal(start.positions, usable[-1].positions)
    assert not np.array_equal(start.positions, campaign.starts["cu"].positions)
    assert start.calc is None and not start.constraints


def test_a_continued_walker_skips_frames_its_new_committee_rejects(finished_campaign):
    cfg = config_from_dict(TINY, source="test", base_dir=finished_campaign.parent)
    campaign = Campaign(cfg, finished_campaign)
    campaign.validate()
    committee = campaign.calculator(2)
    sampled = read(finished_campaign / "iter_001" / "explore" / "cu_w1.xyz", ":")
    a, b = sampled[-3], sampled[-1]
    new = []
    for frame in (a, b):
        frame.info["unc_max_force_std"] = 0.0  # the old committee trusted both
        atoms = frame.copy()
        atoms.calc = committee
        atoms.get_forces()
        new.append(float(committee.results["forces_std"].max()))
    if new[1] < new[0]:  # the later frame must be the one the new committee rejects
        a, b, new = b, a, new[::-1]
    assert new[0] < new[1]
    ucfg = cfg.uncertainty.model_copy(update={"lo": new[0] / 2, "hi": (new[0] + new[1]) / 2})
    start = campaign.starts["cu"]
    assert np.array_equal(continue_from(start, [a, b], ucfg).positions, b.positions)
    chosen = continue_from(start, [a, b], ucfg, committee)
    assert np.array_equal(chosen.positions, a.positions) and chosen.calc is None
    tight = ucfg.model_copy(update={"lo": new[0] / 4, "hi": new[0] / 2})
    assert continue_from(start, [a, b], tight, committee) is start  # none usable: the start


def test_an_iteration_that_selects_nothing_explores_more_gently(tmp_path):
    # hi so low that every walker's first frame crosses it: nothing to select, ever.
    config = write_campaign(tmp_path, {"uncertainty": {"lo": 1e-6, "hi": 2e-6},
                                       "stop": {"max_iterations": 2}})
    result = Campaign(config, tmp_path / "work").run()
    assert result.n_labeled == 6  # the bootstrap only
    work = tmp_path / "work"
    first = json.loads((work / "iter_001" / "select.done.json").read_text())
    assert first["selected_per_system"] == {"cu": 0}
    assert first["md_adjustments"]["cu"]["timestep_factor"] == 0.5
    steps = [json.loads((work / f"iter_00{it}" / "explore" / "cu_w0.json").read_text())
             for it in (1, 2)]
    assert [s["timestep_fs"] for s in steps] == [2.0, 1.0]
    second = json.loads((work / "iter_002" / "select.done.json").read_text())
    assert second["md_adjustments"]["cu"]["rung"] == 2
    log = (work / "alearn.log").read_text()
    assert "nothing selected for system cu; the next iteration explores it with timestep " \
           "1 fs (configured 2)" in log
    # the same data is not trained on again: iteration 1's committee goes on
    markers = [json.loads((work / f"iter_00{it}" / "train.done.json").read_text())
               for it in (1, 2, 3)]
    assert [m["carried_over_from"] for m in markers] == [None, 1, 2]
    assert len({m["data_sha256"] for m in markers}) == 1
    assert markers[1]["models_sha256"] == markers[0]["models_sha256"] == \
        markers[2]["models_sha256"]
    assert "iteration 2: no new training data since iteration 1; its committee carried " \
           "over, not retrained" in log
    from alearn.report import iteration_table
    from alearn.status import cell
    trained = {row["iteration"]: cell(row, "train_s") for row in iteration_table(work)}
    assert trained[2] == trained[3] == "kept" and trained[1].endswith("s")


def test_a_campaign_converges_only_at_its_declared_conditions(tmp_path):
    # every frame trusted (lo just under hi): without the ramp this converges at iteration 1
    system = deep_update(TINY["systems"][0], {"md": {
        "ramp": {"iterations": 1, "from_temperature_K": 200.0}}})
    config = write_campaign(tmp_path, {"systems": [system],
                                       "uncertainty": {"lo": 1.99, "hi": 2.0},
                                       "stop": {"accurate_ratio": 0.5, "max_iterations": 3}})
    result = Campaign(config, tmp_path / "work").run()
    assert (result.status, result.iterations) == ("converged", 2)
    work = tmp_path / "work"
    first = json.loads((work / "iter_001" / "explore.done.json").read_text())["systems"]["cu"]
    second = json.loads((work / "iter_002" / "explore.done.json").read_text())["systems"]["cu"]
    assert first["accurate_ratio"] >= 0.5 and not first["at_conditions"]
    assert second["at_conditions"] and set(second["conditions"]) == {"500 K", "1000 K"}
    assert second["accurate_ratio"] == min(second["conditions"].values())
    temps = [json.loads((work / "iter_001" / "explore" / f"cu_w{k}.json").read_text())
             ["temperature_K"] for k in (0, 1)]
    assert temps == [200.0, 200.0]
