"""Datasets on PostgreSQL (``dataset: postgresql://...``), against a real server the
tests start themselves (tests/postgres_server.py); SQLite stays the default."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from ase.build import bulk

from alearn.database import claim, redact
from alearn.dataset import Candidate, Dataset
from alearn.errors import ConfigError
from alearn.oracles.base import Label
from conftest import alearn_cli, write_campaign
from postgres_server import new_database

pytestmark = pytest.mark.postgres
_names = itertools.count()


@pytest.fixture
def database(postgres_url) -> str:
    """A new, empty database on the test server."""
    return new_database(postgres_url, f"alearn_{next(_names)}")


def _fill(ds: Dataset) -> None:
    """Every kind of write a campaign makes."""
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(4):
        atoms = bulk("Cu", cubic=True)
        atoms.positions += rng.normal(0, 0.05, atoms.positions.shape)
        frames.append(atoms)
    ids = ds.add([Candidate(atoms=a, system="cu", source="explore", iteration=1, split=s,
                            walker=0, md_step=4 * i, uncertainty={"max_force_std": 0.1 * i},
                            selected_as="window")
                  for i, (a, s) in enumerate(zip(frames, ["train", "train", "valid", "train"]))])
    ds.record_label(ids[0], Label(energy=-3.5, forces=rng.normal(size=(4, 3)),
                                  stress=rng.normal(size=6), log_text="converged"),
                    oracle="emt", oracle_hash="h1", settings={"kind": "emt"}, wall_s=0.25)
    ds.record_label(ids[2], Label(energy=-3.25, forces=rng.normal(size=(4, 3))),
                    oracle="emt", oracle_hash="h1", settings={"kind": "emt"}, wall_s=0.5)
    ds.record_failure(ids[1], reason="SCF not converged", attempts=[{"mixer": "default"}],
                      oracle="emt", oracle_hash="h1", wall_s=3.0, log_text="diverged")
    ds.record_baseline(ids[0], baseline_hash="b", energy=-1.0, forces=np.zeros((4, 3)),
                       stress=np.zeros(6))
    ds.reset_failed()
    ds.record_failure(ids[1], reason="again", attempts=[], oracle="emt", oracle_hash="h1",
                      wall_s=1.0)
    ds.exclude(ids[2], "force above the limit")


def _content(ds: Dataset) -> list[dict]:
    out = []
    for row in ds.rows():
        out.append({"id": row.id, "kvp": row.key_value_pairs, "calculator": row.get("calculator"),
                    "positions": row.positions.tolist(), "energy": row.get("energy"),
                    "forces": None if row.get("forces") is None else row.forces.tolist(),
                    "data": json.loads(json.dumps(row.data, default=lambda a: np.asarray(
                        a).tolist()))})
    return out


def test_the_dataset_on_postgres_holds_what_sqlite_holds(database, tmp_path):
    on_server, on_file = Dataset(database), Dataset(tmp_path / "dataset.db")
    for ds in (on_server, on_file):
        _fill(ds)
    assert _content(on_server) == _content(on_file)
    assert on_server.count(status="failed") == 1 and on_server.count(status="excluded") == 1
    assert [r.id for r in on_server.pending()] == [4]
    labeled = on_server.labeled_atoms()
    assert len(labeled) == 1 and labeled[0].info["REF_energy"] == -3.5
    assert "DELTA_energy" in labeled[0].info  # the baseline came back
    assert on_server.rows(status="labeled")[0].calculator == "emt"  # 'ase db' shows it
    out = tmp_path / "out.xyz"
    assert on_server.export(out) == 1 and out.stat().st_size > 0


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_failed_write_leaves_nothing(backend, request, tmp_path):
    where = request.getfixturevalue("database") if backend == "postgres" else \
        tmp_path / "dataset.db"
    ds = Dataset(where)
    ok = Candidate(atoms=bulk("Cu", cubic=True), system="cu", source="explore", iteration=1,
                   split="train")
    ds.add([ok])
    with pytest.raises(AttributeError):  # the second candidate is broken: one transaction
        ds.add([ok, "not a candidate"])
    assert Dataset(where).count() == 1


def test_one_database_holds_one_campaign(database, tmp_path):
    first = tmp_path / "a"
    first.mkdir()
    claim(Dataset(database).db, first)
    claim(Dataset(database).db, first)  # the same campaign again
    first.rename(tmp_path / "moved")  # a moved work directory keeps its claim
    claim(Dataset(database).db, tmp_path / "moved")
    other = tmp_path / "b"
    other.mkdir()
    with pytest.raises(ConfigError, match=f"holds the data of another campaign, started in "
                                          f"{first}"):
        claim(Dataset(database).db, other)
    assert not (other / "dataset_claim.json").exists()


def test_passwords_stay_out_of_messages():
    assert redact("postgresql://me:s3cret@db.example:5432/al") == \
        "postgresql://me:***@db.example:5432/al"
    assert redact("postgresql://me@host/al") == "postgresql://me@host/al"


def test_an_unreachable_server_is_one_error_line(tmp_path):
    # a port nothing listens on: the run stops before any work, naming the URL
    config = write_campaign(tmp_path, {"dataset": "postgresql://u:pw@127.0.0.1:9/none"})
    proc = alearn_cli("run", str(config), "--workdir", str(tmp_path / "w"))
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.startswith("alearn: error: dataset postgresql://u:***@127.0.0.1:9/none: "
                                  "cannot be read (") and proc.stderr.count("\n") == 1
    assert "pw@" not in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_a_campaign_on_postgres(database, tmp_path):
    # one iteration that converges at once (trusted fraction above 1%): labels, one
    # committee, exploration; every row on the server
    config = write_campaign(tmp_path, {"dataset": database,
                                       "stop": {"max_iterations": 1, "accurate_ratio": 0.01},
                                       "committee": {"training": {"max_num_epochs": 3}}})
    work = tmp_path / "work"
    proc = alearn_cli("run", str(config), "--workdir", str(work))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "campaign converged after 1 iterations: 6 labels" in proc.stdout
    assert not (work / "dataset.db").exists()
    assert Dataset(database).count(status="labeled") == 6
    status = alearn_cli("status", str(work), "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["summary"]["labeled"] == 6
    export = alearn_cli("export", str(work), "-o", str(tmp_path / "d.traj"))
    assert export.returncode == 0 and "wrote 6 labeled frames" in export.stdout
    report = alearn_cli("report", str(work))
    assert report.returncode == 0 and "Cu 48" in (work / "report.html").read_text()
    # another campaign pointed at the same database is refused before any work
    other = alearn_cli("run", str(config), "--workdir", str(tmp_path / "other"))
    assert other.returncode == 2 and "holds the data of another campaign" in other.stderr
