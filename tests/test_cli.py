"""The ``alearn`` command: a user's mistake is one ``alearn: error:`` line (exit 2)
naming the file, never a traceback; ``status`` only reads."""

from __future__ import annotations

import argparse
import errno
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.io import read
from PIL import Image

from alearn import plots, report
from alearn.cli import main
from alearn.dataset import Candidate, Dataset
from alearn.oracles.base import Label
from alearn.state import Stages
from conftest import write_campaign

EXPLORED = {"cu": {"trusted": 3, "candidate": 2, "rejected": 1, "accurate_ratio": 0.5}}


def _dataset(path: Path) -> None:
    """Three Cu frames from iteration 0: two labeled, one failed."""
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(3):
        atoms = bulk("Cu", cubic=True)
        atoms.positions += rng.normal(0, 0.05, atoms.positions.shape)
        frames.append(atoms)
    ds = Dataset(path)
    ids = ds.add([Candidate(atoms=a, system="cu", source="bootstrap", iteration=0, split=s)
                  for a, s in zip(frames, ["train", "train", "valid"])])
    for i in ids[:2]:
        ds.record_label(i, Label(energy=-1.0 * i, forces=np.zeros((4, 3)), stress=np.zeros(6)),
                        oracle="emt", oracle_hash="h", settings={}, wall_s=0.1)
    ds.record_failure(ids[2], reason="SCF", attempts=[], oracle="emt", oracle_hash="h",
                      wall_s=0.1)


def _workdir(tmp_path: Path, *, dataset: bool = True) -> Path:
    """A campaign workdir written by hand: state, markers of iterations 0-1, dataset."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "campaign.json").write_text(json.dumps({"frozen_digest": "x", "status": "running"}))
    stages = Stages(work)
    stages.mark(0, "init", {"wall_s": 1.5, "n_rows": 3})
    stages.mark(1, "train", {"wall_s": 2.0, "n_train": 2, "rmse_energy_meV_atom": 3.0,
                             "rmse_forces_meV_A": 40.0})
    stages.mark(1, "explore", {"wall_s": 1.0, "systems": EXPLORED})
    if dataset:
        _dataset(work / "dataset.db")
    return work


def _error(capsys, argv: list[str], *fragments: str) -> str:
    """Run the CLI, expect exit 2 and one error line holding ``fragments``."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("alearn: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], err
    return lines[0]


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# ----------------------------------------------------------------------------- status
def test_status_shows_a_summary_and_a_table_within_100_columns(tmp_path, capsys):
    work = _workdir(tmp_path)
    assert main(["status", str(work)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (f"{work}: iteration 1 · 2 labels (1 failed, 0 pending) · trusted 50% "
                        "(iteration 1) · stopped while selecting, iteration 1; resume with "
                        "'alearn run'")
    header, it0, it1 = lines[1].split(), lines[2].split(), lines[3].split()
    assert header[:5] == ["iter", "data", "lab", "fail", "pend"]
    assert it0[:5] == ["0", "2", "2", "1", "0"] and it1[:2] == ["1", "2"]
    assert "3/2/1" in it1 and "50%" in it1 and "40" in it1  # zones, trusted, force RMSE
    assert all(len(line) <= 100 for line in lines[1:]), max(lines[1:], key=len)
    assert "more columns: --wide" in " ".join(lines)


def test_status_wide_shows_every_column(tmp_path, capsys):
    work = _workdir(tmp_path)
    assert main(["status", str(work), "--wide"]) == 0
    header = capsys.readouterr().out.splitlines()[1]
    for column in ("by rank", "F scale", "miscal raw", "lo sel", "next MD", "init"):
        assert column in header


def test_status_shows_no_meaningless_figures(tmp_path, capsys):
    # a committee validated on one symmetric frame (zero forces): its force RMSE is not
    # measurable, whether the marker says NaN or (older campaigns) 5.07e-12
    work = _workdir(tmp_path)
    stages = Stages(work)
    stages.mark(2, "train", {"wall_s": 2.0, "n_train": 2, "rmse_energy_meV_atom": 3.0,
                             "rmse_forces_meV_A": float("nan"), "spearman_force": float("nan"),
                             "calib_force_scale": 1.0, "calib_n_atoms": 0})
    stages.mark(3, "train", {"wall_s": 2.0, "n_train": 2, "rmse_energy_meV_atom": 3.0,
                             "rmse_forces_meV_A": 5.07e-12})
    assert main(["status", str(work), "--wide"]) == 0
    out = capsys.readouterr().out
    assert "e-12" not in out and "nan" not in out.lower()
    rows = {line.split()[0]: line for line in out.splitlines()[2:6]}
    header = out.splitlines()[1]
    f_col = header.index("F meV/Å") + len("F meV/Å")
    assert rows["2"][:f_col].split()[-1] == "n/a" and rows["3"][:f_col].split()[-1] == "n/a"
    assert rows["1"][:f_col].split()[-1] == "40"
    assert rows["0"][:f_col].split()[-1] == "-"  # not trained: not done, not unmeasurable
    s_col = header.index("F scale") + len("F scale")  # fitted on no atom: a default, n/a
    assert rows["2"][:s_col].split()[-1] == "n/a"


def test_status_pending_rows_have_no_rank(tmp_path, capsys):
    work = _workdir(tmp_path)
    Dataset(work / "dataset.db").add([Candidate(atoms=bulk("Cu", cubic=True), system="cu",
                                                source="explore", iteration=1, split="train")
                                      for _ in range(3)])
    assert main(["status", str(work), "--wide"]) == 0
    out = capsys.readouterr().out
    assert "None" not in out
    it1 = out.splitlines()[3].split()
    assert it1[:5] == ["1", "2", "0", "0", "3"] and "0 failed, 3 pending" not in out
    assert "(1 failed, 3 pending)" in out.splitlines()[0]


def test_status_names_the_running_stage(tmp_path, capsys):
    from alearn.lock import WorkdirLock

    work = _workdir(tmp_path)
    with WorkdirLock(work):  # held by this process: a live run
        assert main(["status", str(work)]) == 0
        summary = capsys.readouterr().out.splitlines()[0]
        assert main(["status", str(work), "--json"]) == 0
        data = json.loads(capsys.readouterr().out)["summary"]
    assert "running: selecting, iteration 1 for " in summary
    assert f"(pid {os.getpid()} on " in summary
    assert data["running"] and data["stage"] == "select" and data["stage_iteration"] == 1
    assert data["stage_for_s"] >= 0
    assert main(["status", str(work)]) == 0  # released: stopped, not running
    assert "stopped while selecting" in capsys.readouterr().out.splitlines()[0]


def test_status_json_for_scripts(tmp_path, capsys):
    work = _workdir(tmp_path)
    Stages(work).mark(2, "train", {"wall_s": 2.0, "n_train": 2,
                                   "rmse_forces_meV_A": float("nan")})
    assert main(["status", str(work), "--json"]) == 0
    text = capsys.readouterr().out
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    assert data["summary"]["labeled"] == 2 and data["summary"]["failed"] == 1
    assert data["summary"]["trusted"] == 0.5 and data["summary"]["status"] == "running"
    assert [r["iteration"] for r in data["iterations"]] == [0, 1, 2]
    assert data["iterations"][1]["rmse_F_meV_A"] == 40.0
    assert data["iterations"][2]["rmse_F_meV_A"] is None


def test_status_counts_the_initial_labels_before_iteration_0_has_a_folder(tmp_path, capsys):
    work = tmp_path / "work"
    work.mkdir()
    (work / "campaign.json").write_text(json.dumps({"frozen_digest": "x", "status": "running"}))
    _dataset(work / "dataset.db")  # labels of iteration 0, still being computed
    assert not (work / "iter_000").exists()
    assert main(["status", str(work)]) == 0
    out = capsys.readouterr().out
    assert "2 labels (1 failed, 0 pending)" in out.splitlines()[0]
    assert "no dataset yet" not in out
    assert out.splitlines()[2].split()[:4] == ["0", "2", "2", "1"]


def test_status_without_a_dataset_creates_nothing(tmp_path, capsys):
    work = _workdir(tmp_path, dataset=False)
    before = _files(work)
    assert main(["status", str(work)]) == 0
    out = capsys.readouterr().out
    assert "no dataset yet" in out and "iter" in out
    assert _files(work) == before
    assert not (work / "dataset.db").exists()


def test_status_does_not_change_the_dataset(tmp_path, capsys):
    work = _workdir(tmp_path)
    stamp = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in work.rglob("*")}
    assert main(["status", str(work)]) == 0
    assert {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in work.rglob("*")} == stamp


def test_status_damaged_campaign_json(tmp_path, capsys):
    work = _workdir(tmp_path)
    (work / "campaign.json").write_text('{"status": "runn')
    _error(capsys, ["status", str(work)], "campaign.json: damaged", "delete it")
    (work / "campaign.json").write_text("[1, 2]")
    _error(capsys, ["status", str(work)], "campaign.json: damaged")


def test_status_damaged_stage_marker(tmp_path, capsys):
    work = _workdir(tmp_path)
    (work / "iter_001" / "explore.done.json").write_text("\x00\x01garbage")
    _error(capsys, ["status", str(work)], "explore.done.json: damaged", "alearn run")
    (work / "iter_001" / "explore.done.json").write_text('{"wall_s": 1}')
    _error(capsys, ["status", str(work)], "explore.done.json: damaged")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "directory", "unreadable"])
def test_status_damaged_or_unreadable_dataset(tmp_path, capsys, monkeypatch, damage):
    work = _workdir(tmp_path)
    db = work / "dataset.db"
    if damage == "garbage":
        db.write_bytes(b"this is not a database\n" * 50)
    elif damage == "truncated":
        data = db.read_bytes()
        db.write_bytes(data[: len(data) // 3])
    elif damage == "empty":
        db.write_bytes(b"")
    elif damage == "directory":
        db.unlink()
        db.mkdir()
    else:  # as root, permission bits do not stop reading: fail the way SQLite would
        def unreadable(*args, **kwargs):
            raise sqlite3.OperationalError("unable to open database file")

        monkeypatch.setattr(sqlite3, "connect", unreadable)
    before = db.stat().st_size if db.is_file() else None
    _error(capsys, ["status", str(work)], f"{db}: ", "new --workdir")
    assert (db.stat().st_size if db.is_file() else None) == before, "status wrote to the file"


@pytest.mark.parametrize("command", ["status", "export"])
def test_workdir_missing_file_or_not_a_campaign(tmp_path, capsys, command):
    extra = ["-o", str(tmp_path / "out.xyz")] if command == "export" else []
    _error(capsys, [command, str(tmp_path / "nope"), *extra], "nope: no such directory")
    afile = tmp_path / "afile"
    afile.write_text("x")
    _error(capsys, [command, str(afile), *extra], "afile: is a file")
    _error(capsys, [command, str(tmp_path), *extra], "not a campaign work directory")
    assert not (tmp_path / "out.xyz").exists()


# ----------------------------------------------------------------------------- export
def test_export_writes_the_labeled_frames(tmp_path, capsys):
    work = _workdir(tmp_path)
    out = tmp_path / "data.xyz"
    assert main(["export", str(work), "-o", str(out)]) == 0
    frames = read(out, ":")
    assert len(frames) == 2 and "REF_energy" in frames[0].info
    assert main(["export", str(work), "-o", str(out), "--split", "valid"]) == 0
    assert "wrote 0 labeled frames" in capsys.readouterr().out


def test_export_to_a_missing_folder_or_a_directory(tmp_path, capsys):
    work = _workdir(tmp_path)
    _error(capsys, ["export", str(work), "-o", str(tmp_path / "no" / "d.xyz")],
           "d.xyz: cannot write it", "does not exist")
    assert not (tmp_path / "no").exists()
    _error(capsys, ["export", str(work), "-o", str(tmp_path)], f"{tmp_path}: is a directory")
    (tmp_path / "f").write_text("x")
    _error(capsys, ["export", str(work), "-o", str(tmp_path / "f" / "d.xyz")],
           "is not a directory")


@pytest.mark.skipif(not os.path.isdir("/sys/kernel"), reason="needs Linux sysfs")
def test_export_to_an_unwritable_place(tmp_path, capsys):
    # sysfs refuses new files even to root (EACCES), where permission bits would not
    work = _workdir(tmp_path)
    _error(capsys, ["export", str(work), "-o", "/sys/kernel/alearn_test.xyz"],
           "cannot write /sys/kernel/alearn_test.xyz", "permissions")


def test_export_write_error_names_the_file(tmp_path, capsys, monkeypatch):
    work = _workdir(tmp_path)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Dataset, "export_frames", full)
    _error(capsys, ["export", str(work), "-o", str(tmp_path / "d.xyz")],
           f"cannot write {tmp_path / 'd.xyz'}: No space left on device")


def test_export_damaged_dataset(tmp_path, capsys):
    work = _workdir(tmp_path)
    (work / "dataset.db").write_bytes(b"\x00" * 300)
    _error(capsys, ["export", str(work), "-o", str(tmp_path / "d.xyz")],
           "dataset.db: cannot be read")
    (work / "dataset.db").unlink()
    _error(capsys, ["export", str(work), "-o", str(tmp_path / "d.xyz")], "no dataset.db")
    assert not (tmp_path / "d.xyz").exists()


# ----------------------------------------------------------------------------- run
def test_run_into_a_file_is_an_error_line(tmp_path, capsys):
    config = write_campaign(tmp_path)
    afile = tmp_path / "work"
    afile.write_text("not a folder")
    _error(capsys, ["run", str(config), "--workdir", str(afile)], str(afile))


@pytest.mark.parametrize("err", [
    PermissionError(errno.EACCES, "Permission denied", "/ro/work/campaign.json"),
    OSError(errno.EROFS, "Read-only file system", "/ro/work"),
    OSError(errno.EPERM, "Operation not permitted", "/ro/work/x", None, "/ro/work/y"),
])
def test_run_os_errors_are_error_lines(tmp_path, capsys, monkeypatch, err):
    from alearn.campaign import Campaign

    def fail(self):
        raise err

    monkeypatch.setattr(Campaign, "run", fail)
    line = _error(capsys, ["run", str(write_campaign(tmp_path)), "--workdir", "w"],
                  f"cannot write {err.filename}", err.strerror, "permissions")
    assert err.filename2 is None or err.filename2 in line


def test_run_os_error_without_a_file_keeps_its_traceback(tmp_path, monkeypatch):
    from alearn.campaign import Campaign

    def fail(self):
        raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")

    monkeypatch.setattr(Campaign, "run", fail)
    with pytest.raises(ConnectionResetError):
        main(["run", str(write_campaign(tmp_path)), "--workdir", "w"])


# ----------------------------------------------------------------------------- plots
def test_plots_without_pyplot(tmp_path):
    work = _workdir(tmp_path)
    report.learning_curve(work)
    plots.save(plots.parity_figure(np.linspace(-1, 1, 30), np.linspace(-1, 1, 30) * 1.1,
                                   np.linspace(0, 0.2, 30), 42.0), tmp_path / "parity.png")
    for png in (work / "learning_curve.png", tmp_path / "parity.png"):
        with Image.open(png) as image:
            assert image.format == "PNG" and image.size[0] > 400
    for module in (report, plots):
        source = Path(module.__file__).read_text()
        assert "import matplotlib.pyplot" not in source and "matplotlib.use(" not in source


# ----------------------------------------------------------------------------- conventions
def _all_parsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _all_parsers(sub)


def test_every_argument_has_help():
    from alearn.cli import _parser

    for parser in _all_parsers(_parser()):
        for action in parser._actions:
            assert action.help and action.help != argparse.SUPPRESS, \
                f"{parser.prog}: {action.option_strings or action.dest} has no help"


def test_version_and_documented_exit_codes(capsys):
    from alearn import __version__
    from alearn.cli import Exit

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"alearn {__version__}"
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for code in Exit:
        if code is not Exit.SIGNAL:
            assert f"\n  {int(code)}  " in text, code
    assert "130: Ctrl-C, 143: SIGTERM" in text
    with pytest.raises(SystemExit) as usage:  # argparse's usage errors are user errors too
        main(["status"])
    assert usage.value.code == Exit.USAGE


def test_the_dataset_names_the_oracle_as_calculator(tmp_path):
    # 'ase db' lists the calculator of each row: the oracle, not "unknown"
    work = _workdir(tmp_path)
    listing = subprocess.run([sys.executable, "-m", "ase", "db", str(work / "dataset.db"),
                              "status=labeled", "-c", "id,calculator"], capture_output=True,
                             text=True, check=True).stdout
    assert listing.split()[1:3] == ["1|emt", "2|emt"], listing
    assert "unknown" not in listing


@pytest.mark.parametrize(("name", "fmt"), [("d.traj", None), ("d.db", None), ("d.xyz", None),
                                           ("d.extxyz", "extxyz"), ("d.json", "json")])
def test_export_formats_keep_the_labels(tmp_path, capsys, name, fmt):
    work = _workdir(tmp_path)
    out = tmp_path / name
    assert main(["export", str(work), "-o", str(out), *(["--format", fmt] if fmt else [])]) == 0
    frames = read(out, ":", format=fmt)
    expected = Dataset(work / "dataset.db").labeled_atoms()
    assert len(frames) == len(expected) == 2
    for got, ref in zip(frames, expected):
        assert np.allclose(got.positions, ref.positions)
        if name.endswith(("xyz", "extxyz")):
            assert got.info["REF_energy"] == ref.info["REF_energy"]
        else:  # the labels as ASE's energy, forces and stress
            assert got.get_potential_energy() == ref.info["REF_energy"]
            assert np.array_equal(got.get_forces(), ref.arrays["REF_forces"])


def test_export_format_errors(tmp_path, capsys):
    work = _workdir(tmp_path)
    _error(capsys, ["export", str(work), "-o", str(tmp_path / "d.xyz"), "--format", "traj"],
           "extension '.xyz' does not fit --format traj", "*.traj")
    _error(capsys, ["export", str(work), "-o", str(tmp_path / "d.POSCAR"), "--format", "vasp"],
           "--format vasp: holds one structure only", "extxyz")
    _error(capsys, ["export", str(work), "-o", str(tmp_path / "d.x"), "--format", "nope"],
           "--format nope: not a format ASE writes")
    _error(capsys, ["export", str(work), "-o", str(tmp_path / "d.unknown")],
           "cannot tell the format from the extension '.unknown'", "give --format")
    assert not list(tmp_path.glob("d.*"))
