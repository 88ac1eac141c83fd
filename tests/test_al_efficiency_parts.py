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
from al_conditions import first_shell, is_rare_event  # noqa: E402
from al_efficiency import aimd_frames, aimd_oracle_calls, at_labels  # noqa: E402


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


def test_rmse_at_labels_is_the_point_or_log_log_between_points():
    curve = [(12, 100.0), (22, 50.0), (32, 40.0)]
    assert at_labels(curve, 22) == 50.0
    assert at_labels([(20, 60.0), (20, 55.0)], 20) == 55.0  # the last training at 20
    between = at_labels(curve, 17)  # log-log between (12, 100) and (22, 50)
    frac = (np.log(17) - np.log(12)) / (np.log(22) - np.log(12))
    assert np.isclose(between, np.exp(np.log(100) + frac * np.log(0.5)))
    assert at_labels(curve, 40) is None and at_labels(curve, 10) is None


def _li_water(li_o_A: tuple[float, float, float]) -> Atoms:
    """Li at the origin, one O on each axis at the given distances (and no H: the
    criterion reads Li–O distances only)."""
    positions = [[0, 0, 0]] + [list(d * np.eye(3)[k]) for k, d in enumerate(li_o_A)]
    return Atoms("LiO3", positions=positions)


def test_rare_event_is_a_water_leaving_the_first_shell_not_flying_off():
    assert not is_rare_event(_li_water((1.95, 1.95, 1.95)))
    assert is_rare_event(_li_water((1.95, 1.95, 3.2)))
    assert not is_rare_event(_li_water((1.95, 1.95, 6.0)))


def test_rare_event_in_a_periodic_box_follows_the_start_shell_waters_only():
    """In an electrolyte every other water is bulk: a far O (here 5.5 Å, and one across
    the periodic boundary at 1.95 Å) is not a departure; the shell is the start's."""
    box = 12.0
    start = Atoms("LiO4", positions=[[0, 0, 0], [1.95, 0, 0], [0, 1.95, 0], [0, 0, 1.95],
                                     [5.5, 0, 0]], cell=[box] * 3, pbc=True)
    shell = first_shell(start)
    assert list(shell) == [1, 2, 3]
    assert not is_rare_event(start, shell)
    left = start.copy()
    left.positions[3] = [0, 0, box - 3.2]  # 3.2 Å away through the boundary
    assert is_rare_event(left, shell)
    gone = start.copy()
    gone.positions[3] = [0, 0, 6.0]
    assert not is_rare_event(gone, shell)
    # every O as the shell (the cluster's default) would count the bulk O as flown off
    # and never see an event: why the periodic box follows the start's shell
    assert not is_rare_event(start, np.array([1, 2, 3, 4]))


def test_emit_without_write_prints_and_leaves_the_results_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(result_line, "RESULTS", tmp_path)
    line = result_line.emit({"x": 1}, "bench.py", write=False)
    assert json.loads(capsys.readouterr().out) == {"x": 1} == json.loads(line)
    assert not (tmp_path / "bench.json").exists()
    result_line.emit({"x": 2}, "bench.py")
    assert json.loads((tmp_path / "bench.json").read_text()) == {"x": 2}
