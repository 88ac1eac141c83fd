"""Misused and damaged workdirs: one error line naming the file, or a safe recovery."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import ase.db
import pytest
import yaml
from ase.io import read

from alearn.cli import main
from alearn.dataset import Dataset
from conftest import REPO, alearn_cli, write_campaign


@pytest.fixture
def copy(finished_campaign, tmp_path) -> tuple[Path, Path]:
    """(config, workdir): a copy of the finished tiny campaign to damage."""
    shutil.copytree(finished_campaign.parent, tmp_path / "c")
    return tmp_path / "c" / "campaign.yaml", tmp_path / "c" / "work"


def _run(config: Path, workdir: Path, capsys, *extra: str) -> tuple[int, str]:
    code = main(["run", str(config), "--workdir", str(workdir), *extra])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_damaged_campaign_json_is_rebuilt(copy, capsys):
    config, work = copy
    (work / "campaign.json").write_text("{garbage")
    code, err = _run(config, work, capsys)
    assert code == 0, err
    assert json.loads((work / "campaign.json").read_text())["status"] != "running"


def test_deleted_campaign_json_still_guards_the_frozen_settings(copy, capsys):
    config, work = copy
    (work / "campaign.json").unlink()
    data = yaml.safe_load(config.read_text())
    data["systems"][0]["md"]["steps"] = 41
    config.write_text(yaml.safe_dump(data))
    code, err = _run(config, work, capsys)
    assert code == 2 and "started with different" in err


def test_lost_state_and_settings_are_refused(copy, capsys):
    config, work = copy
    (work / "campaign.json").unlink()
    (work / "config.yaml").unlink()
    code, err = _run(config, work, capsys)
    assert code == 2 and "config.yaml" in err and "start a new --workdir" in err


def test_deleted_dataset_is_refused_not_relabeled(copy, capsys):
    config, work = copy
    (work / "dataset.db").unlink()
    code, err = _run(config, work, capsys)
    assert code == 2 and "dataset.db is missing" in err
    assert not (work / "dataset.db").exists()


def test_truncated_dataset_is_named(copy, capsys):
    config, work = copy
    db = work / "dataset.db"
    db.write_bytes(db.read_bytes()[:2000])
    code, err = _run(config, work, capsys)
    assert code == 2 and str(db) in err


def test_damaged_journal_entry_is_labeled_again(copy, capsys):
    config, work = copy
    row = Dataset(work / "dataset.db").rows(iteration=2)[0]
    energy = row.energy
    with ase.db.connect(work / "dataset.db") as db:
        db.update(row.id, status="selected")
    (work / "labels" / f"row_{row.id}.json").write_text('{"row_id": ')
    (work / "iter_002" / "label.done.json").unlink()
    code, err = _run(config, work, capsys)
    assert code == 0, err
    again = Dataset(work / "dataset.db").rows(id=row.id)[0]
    assert again.status == "labeled" and again.energy == energy


def test_damaged_walker_records_are_redone(copy, capsys):
    config, work = copy
    frames = work / "iter_002" / "explore" / "cu_w0.xyz"
    before = read(frames, ":")
    frames.write_bytes(b"\xff\xfe garbage \x00")
    (work / "iter_002" / "explore.done.json").unlink()
    code, err = _run(config, work, capsys)
    assert code == 0, err
    after = read(frames, ":")
    assert [a.positions.tolist() for a in after] == [b.positions.tolist() for b in before]


def test_damaged_model_is_named(copy, capsys):
    config, work = copy
    model = work / "iter_002" / "committee" / "member_0.model"
    model.write_bytes(b"not a model")
    (work / "iter_002" / "explore.done.json").unlink()
    (work / "iter_002" / "explore" / "cu_w0.json").unlink()  # the walker needs the model
    code, err = _run(config, work, capsys)
    assert code == 2 and str(model) in err and "alearn run" in err


def test_workdir_that_is_a_file(tmp_path, capsys):
    config = write_campaign(tmp_path)
    (tmp_path / "afile").write_text("")
    code, err = _run(config, tmp_path / "afile", capsys)
    assert code == 2 and "is a file" in err


def test_workdir_on_a_read_only_file_system(tmp_path, capsys):
    config = write_campaign(tmp_path)
    code, err = _run(config, Path("/sys/kernel/alearn-work"), capsys)
    assert code == 2 and err.startswith("alearn: error:") and "/sys/kernel" in err


def test_failed_labels_can_be_retried_after_a_policy_change(tmp_path):
    # Every label outlives a 0.5 s limit (the worker sleeps 3 s); the run stops and says
    # how to go on. A longer limit is a policy change, not physics: the campaign resumes,
    # and --retry-failed labels the failed structures again.
    oracle = {"kind": "calculator", "isolation": "process", "timeout_s": 0.5,
              "calculator": {"import_path": "crashing_calculators:Sleeps",
                             "kwargs": {"seconds": 3.0}}}
    # e0s: average, since an isolated atom would outlive the limit too (and stop the run
    # before any label, tested in test_e0s)
    config = write_campaign(tmp_path, {"oracle": oracle, "stop": {"max_iterations": 1},
                                       "committee": {"training": {"e0s": "average"}}})
    env = {"PYTHONPATH": str(REPO / "tests")}
    first = alearn_cli("run", str(config), "--workdir", str(tmp_path / "w"), env=env)
    # stopped at oracle.max_failure_fraction: exit 3 (alearn.cli.Exit.STOPPED), one line
    assert first.returncode == 3 and "--retry-failed" in first.stderr, first.stderr[-2000:]
    assert "alearn: stopped: iteration 0: 6 of 6 labels failed" in first.stderr
    assert Dataset(tmp_path / "w" / "dataset.db").count(status="failed") == 6
    data = yaml.safe_load(config.read_text())
    data["oracle"]["timeout_s"] = 600
    config.write_text(yaml.safe_dump(data))
    retried = alearn_cli("run", str(config), "--workdir", str(tmp_path / "w"),
                         "--retry-failed", env=env)
    assert retried.returncode == 0, retried.stderr[-3000:]
    rows = Dataset(tmp_path / "w" / "dataset.db").rows(iteration=0)
    assert all(r.status == "labeled" for r in rows)
    assert all(len(r.data["earlier_failures"]) == 1 for r in rows)


def _as_before_a_key_existed(work: Path) -> None:
    """Make ``work`` look written by an alearn whose schema lacked md.uncertainty_bias:
    config.yaml without the key, campaign.json with that schema's full digest."""
    import hashlib

    from alearn.workdir import FROZEN_SECTIONS, ORACLE_POLICY_KEYS

    settings = yaml.safe_load((work / "config.yaml").read_text())
    for system in settings["systems"]:
        del system["md"]["uncertainty_bias"]
    (work / "config.yaml").write_text(yaml.safe_dump(settings))
    frozen = {k: settings[k] for k in FROZEN_SECTIONS}
    frozen.pop("base_dir", None)
    for key in ORACLE_POLICY_KEYS:
        frozen["oracle"].pop(key, None)
    digest = hashlib.sha256(json.dumps(frozen, sort_keys=True).encode()).hexdigest()[:16]
    state = json.loads((work / "campaign.json").read_text())
    (work / "campaign.json").write_text(json.dumps({**state, "frozen_digest": digest}))


def test_a_key_added_to_the_schema_later_does_not_block_a_resume(copy, capsys):
    config, work = copy
    _as_before_a_key_existed(work)
    code, err = _run(config, work, capsys)
    assert code == 0, err


def test_a_changed_setting_is_still_refused_in_an_older_workdir(copy, capsys):
    config, work = copy
    _as_before_a_key_existed(work)
    data = yaml.safe_load(config.read_text())
    data["systems"][0]["md"]["steps"] = 41
    config.write_text(yaml.safe_dump(data))
    code, err = _run(config, work, capsys)
    assert code == 2 and "started with different" in err
