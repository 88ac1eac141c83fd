"""The AL-efficiency benchmark's bookkeeping: the AIMD route's frame order and oracle
calls, the rare-event criterion, and a reduced run's result line left unwritten."""

from __future__ import annotations

import json
import sys

import numpy as np
from ase import Atoms

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import result_line  # noqa: E402
from al_conditions import is_rare_event  # noqa: E402
from al_efficiency import aimd_frames, aimd_oracle_calls  # noqa: E402


def _frame(trajectory: int, md_step: int) -> Atoms:
    frame = Atoms("H")
    frame.info.update(trajectory=trajectory, md_step=md_step)
    return frame


def test_aimd_route_takes_frames_in_md_order_and_counts_every_step():
    trajectories = [[_frame(k, step) for step in range(10, 101, 10)] for k in range(2)]
    order = list(aimd_frames(trajectories, stride=20))
    assert [(f.info["md_step"], f.info["trajectory"]) for f in order[:4]] == [
        (20, 0), (20, 1), (40, 0), (40, 1)]
    assert len(order) == 10  # steps 20, 40, ..., 100 of both trajectories
    # 12 bootstrap labels + 60 steps of trajectory 0 + 40 of trajectory 1
    assert aimd_oracle_calls(12, order[:5]) == 12 + 60 + 40
    assert aimd_oracle_calls(12, []) == 12


def _li_water(li_o_A: tuple[float, float, float]) -> Atoms:
    """Li at the origin, one O on each axis at the given distances (and no H: the
    criterion reads Li–O distances only)."""
    positions = [[0, 0, 0]] + [list(d * np.eye(3)[k]) for k, d in enumerate(li_o_A)]
    return Atoms("LiO3", positions=positions)


def test_rare_event_is_a_water_leaving_the_first_shell_not_flying_off():
    assert not is_rare_event(_li_water((1.95, 1.95, 1.95)))
    assert is_rare_event(_li_water((1.95, 1.95, 3.2)))
    assert not is_rare_event(_li_water((1.95, 1.95, 6.0)))


def test_emit_without_write_prints_and_leaves_the_results_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(result_line, "RESULTS", tmp_path)
    line = result_line.emit({"x": 1}, "bench.py", write=False)
    assert json.loads(capsys.readouterr().out) == {"x": 1} == json.loads(line)
    assert not (tmp_path / "bench.json").exists()
    result_line.emit({"x": 2}, "bench.py")
    assert json.loads((tmp_path / "bench.json").read_text()) == {"x": 2}
