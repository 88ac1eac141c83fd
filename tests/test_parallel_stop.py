"""A stopped campaign starts no more labels: once the stop is set (SIGTERM: the handler
sets it, ends the label workers, then raises in the main thread), the label threads do
not start the next rows, and nothing is journaled or recorded."""

from __future__ import annotations

import threading

from ase.build import bulk

import alearn.labeling as labeling
from alearn.config import OracleConfig
from alearn.dataset import Candidate, Dataset
from alearn.labeling import label_pending
from alearn.parallel import Workers


class NamedOracle:
    name = "emt"


def test_label_threads_start_no_row_once_the_stop_is_set(tmp_path, monkeypatch):
    """Two label threads (worker-process isolation); the first label "ends" with the stop
    set, as when the handler has killed its worker. Before, the freed threads went on to
    the next rows and started new workers that nothing ended: the stopped campaign lived
    on for a label's time and its GPAW work was thrown away."""
    ds = Dataset(tmp_path / "dataset.db")
    ds.add([Candidate(atoms=bulk("Cu", cubic=True), system="cu", source="bootstrap",
                      iteration=0, split="train") for _ in range(6)])
    stop, calls = threading.Event(), []

    def killed_by_the_stop(row_id, *args, **kwargs):
        calls.append(row_id)
        stop.set()  # the handler ended this row's worker: it comes back failed
        return labeling.Outcome(row_id, None, "worker ended (signal)", 1, "", 0.1, 0)

    monkeypatch.setattr(labeling, "compute_outcome", killed_by_the_stop)
    recorded = label_pending(ds, oracle=NamedOracle(), oracle_cfg=OracleConfig(
        kind="emt", isolation="process"), oracle_hash="x", journal=tmp_path / "labels",
        workers=Workers(threads=2), stop=stop)
    assert recorded == 0 and 1 <= len(calls) <= 2  # the two threads' first rows at most
    assert not list((tmp_path / "labels").glob("row_*.json"))
    assert ds.count(status="labeled") == 0 and len(ds.pending()) == 6
