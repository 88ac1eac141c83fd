"""Progress of the long stages: bars on a terminal, periodic records elsewhere and in
alearn.log (alearn.console, alearn.progress)."""

from __future__ import annotations

import io
import logging
import re

import pytest

from alearn.console import ConsoleHandler, setup_console
from alearn.progress import LabelProgress, MaceResults, Task, format_duration
from alearn.report import log_to_file


class Terminal(io.StringIO):
    """What a terminal receives (a text stream that says it is a TTY)."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def console():
    """Install the CLI's console handler on a stream; restore logging afterwards."""
    root, alearn = logging.getLogger(), logging.getLogger("alearn")
    saved = (root.level, alearn.level, list(root.handlers))

    def install(stream, verbosity=0, interval_s=0.0):
        return setup_console(verbosity, interval_s=interval_s, stream=stream)

    yield install
    for handler in [h for h in root.handlers if isinstance(h, ConsoleHandler)]:
        root.removeHandler(handler)
    root.setLevel(saved[0])
    alearn.setLevel(saved[1])
    logging.captureWarnings(False)


def _train(task: Task, epochs: int) -> None:
    for epoch in range(1, epochs + 1):
        task.update(to=epoch, fields={"valid loss": f"{1 / epoch:.3g}"})
    task.close("member 0: trained")


def test_records_without_a_terminal(console, tmp_path):
    stream = io.StringIO()  # a pipe, a batch job's log: no bars
    console(stream)
    with log_to_file(tmp_path / "alearn.log"):
        _train(Task("member 0", 3, unit="epoch"), 3)
    lines = stream.getvalue().splitlines()
    assert [re.sub(r"^\d\d:\d\d:\d\d ", "", ln).split(",")[0] for ln in lines] == [
        "member 0: epoch 1/3", "member 0: epoch 2/3", "member 0: epoch 3/3",
        "member 0: trained"]
    assert "valid loss 0.333" in lines[2] and "elapsed" in lines[2]
    assert "\r" not in stream.getvalue()
    logged = (tmp_path / "alearn.log").read_text().splitlines()
    assert len(logged) == 4 and re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ INFO ", logged[0])


def test_bars_on_a_terminal(console, tmp_path):
    terminal = Terminal()
    console(terminal)
    with log_to_file(tmp_path / "alearn.log"):
        _train(Task("member 0", 3, unit="epoch"), 3)
        logging.getLogger("alearn.campaign").info("a stage line")
    shown = terminal.getvalue()
    assert "\r" in shown and "3/3" in shown and "valid loss 0.333" in shown  # the bar
    assert "member 0: epoch 2/3" not in shown  # records are the bar's business here
    assert "member 0: trained" in shown and "a stage line" in shown
    assert "member 0: epoch 2/3" in (tmp_path / "alearn.log").read_text()  # the log has all


def test_quiet_shows_no_progress_but_logs_it(console, tmp_path):
    stream = Terminal()
    console(stream, verbosity=-1)
    with log_to_file(tmp_path / "alearn.log"):
        _train(Task("member 0", 2, unit="epoch"), 2)
        logging.getLogger("alearn.campaign").warning("a warning")
    assert "member 0" not in stream.getvalue() and "WARNING: a warning" in stream.getvalue()
    assert "member 0: epoch 2/2" in (tmp_path / "alearn.log").read_text()


def test_verbosity_levels(console):
    for verbosity, shown in ((0, {"info"}), (1, {"info", "debug", "py"}), (-1, set())):
        stream = io.StringIO()
        console(stream, verbosity=verbosity)
        logging.getLogger("alearn.x").debug("debug")
        logging.getLogger("alearn.x").info("info")
        logging.getLogger("py.warnings").warning("py")
        assert {w for w in ("debug", "info", "py") if w in stream.getvalue()} == shown


def test_label_progress_counts_and_times_the_running_label(console):
    stream = io.StringIO()
    console(stream)
    progress = LabelProgress(3, oracle="emt")
    progress.started(11)
    progress.finished(11, failed=False)
    progress.started(12)
    progress.started(13)
    running = progress.task.line()
    progress.finished(12, failed=True)
    progress.finished(13, failed=False)
    progress.close()
    assert running.startswith("labels (emt): label 1/3, failed 0, running row 12 for ")
    assert "(+1 more)" in running
    last = stream.getvalue().splitlines()[-1]
    assert last.endswith(" s") and "labels (emt): 2 labeled, 1 failed of 3 in" in last


def test_mace_results_are_read_line_by_line(tmp_path):
    # mace-torch's own MetricsLogger writes the file, as in a training
    from mace.tools import MetricsLogger

    results = MaceResults(tmp_path)
    assert not results.poll() and results.figures() == {}
    writer = MetricsLogger(directory=str(tmp_path), tag="member_0_run-7_train")
    writer.log({"mode": "eval", "epoch": None, "loss": 2.0, "rmse_f": 0.5,
                "rmse_e_per_atom": 0.01})
    writer.log({"mode": "opt", "epoch": 0, "loss": 1.9})
    assert results.poll() and results.epoch is None
    writer.log({"mode": "eval", "epoch": 0, "loss": 1.5, "rmse_f": 0.25,
                "rmse_e_per_atom": 0.002})
    with open(tmp_path / "member_0_run-7_train.txt", "a") as fh:
        fh.write('{"mode": "eval", "epoch": 1, "lo')  # being written: not read yet
    assert results.poll() and results.epoch == 0
    assert results.figures() == {"valid loss": "1.5", "RMSE E": "2 meV/atom",
                                 "RMSE F": "250 meV/Å"}
    with open(tmp_path / "member_0_run-7_train.txt", "a") as fh:
        fh.write('ss": 1.0, "rmse_f": 1e-15}\n')
    assert results.poll() and results.epoch == 1
    assert results.figures()["RMSE F"] == "n/a (zero forces)"


def test_durations():
    assert [format_duration(s) for s in (3.21, 42, 185, 7620)] == [
        "3.2 s", "42 s", "3 min 05 s", "2 h 07 min"]


def test_a_campaign_logs_every_stage(finished_campaign):
    # run with --progress-interval 0: a record at every epoch, sampled MD step and label
    log = (finished_campaign / "alearn.log").read_text()
    for record in ("labels (emt): label 6/6, failed 0", "member 0: epoch 6/6, valid loss",
                   "walker cu/1 (1000 K): step 40/40, unc ", "iteration 1: training 2 committee",
                   "iteration 1: exploring with 2 MD walkers", "iteration 1: selected 3",
                   "committee validation on 1 frames", "labels (emt): 6 labeled, 0 failed of 6"):
        assert record in log, record
    assert re.search(r"member 1: trained 6 epochs, valid loss [\d.]+, RMSE E [\d.e+]+ "
                     r"meV/atom, RMSE F n/a \(zero forces\)", log)
