"""Diversity selection from the trust window."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import molecule

from alearn.config import MDConfig, SelectionConfig, UncertaintyConfig
from alearn.selection import (
    candidate_pool,
    farthest_point,
    frames_before_crossing,
    same_structure,
    select,
)
from alearn.stalls import MDAdjustment, next_adjustments


def _clusters(rng, n_per=20):
    centers = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], dtype=float)
    points = np.vstack([c + rng.normal(0, 0.1, (n_per, 2)) for c in centers])
    return points, np.repeat(np.arange(4), n_per)


def test_fps_covers_every_cluster():
    rng = np.random.default_rng(0)
    x, cluster = _clusters(rng)
    picks = farthest_point(x, 4, first=0)
    assert sorted(cluster[picks]) == [0, 1, 2, 3]


def test_fps_avoids_what_is_already_covered():
    rng = np.random.default_rng(1)
    x, cluster = _clusters(rng)
    existing = np.array([[10, 10], [0, 10]], dtype=float)
    picks = farthest_point(x, 2, first=0, existing=existing)
    assert set(cluster[picks]) == {0, 1}


def test_select_starts_at_the_most_uncertain_and_respects_the_cap():
    rng = np.random.default_rng(2)
    x, cluster = _clusters(rng)
    scores = rng.uniform(0, 1, len(x))
    scores[37] = 5.0
    picks = select(x, scores, 4, method="fps", rng=rng)
    assert picks[0] == 37 and len(picks) == 4 and len(set(picks)) == 4
    assert sorted(cluster[picks]) == [0, 1, 2, 3]


def test_kmeans_takes_the_most_uncertain_of_each_cluster():
    rng = np.random.default_rng(3)
    x, cluster = _clusters(rng)
    scores = rng.uniform(0, 1, len(x))
    picks = select(x, scores, 4, method="kmeans", rng=rng)
    assert sorted(cluster[picks]) == [0, 1, 2, 3]
    for p in picks:
        same = cluster == cluster[p]
        assert scores[p] == scores[same].max()


def test_few_candidates_are_all_taken_and_random_is_reproducible():
    x = np.eye(3)
    scores = np.array([0.1, 0.3, 0.2])
    assert list(select(x, scores, 5, method="fps", rng=np.random.default_rng(0))) == [1, 2, 0]
    a = select(np.zeros((50, 2)), np.zeros(50), 5, method="random", rng=np.random.default_rng(4))
    b = select(np.zeros((50, 2)), np.zeros(50), 5, method="random", rng=np.random.default_rng(4))
    assert list(a) == list(b) and len(set(a)) == 5


# --------------------------------------------------------------------------- the pool
def _walk(walker: int, values: list[float], start: Atoms) -> list[Atoms]:
    """Frames of one walker with max_force_std ``values``, 0.1 Å apart along x."""
    frames = []
    for step, value in enumerate(values):
        f = start.copy()
        f.positions[:, 0] += 0.1 * step + 0.03 * walker
        f.info.update(unc_max_force_std=value, walker=walker, md_step=10 * step, system="w")
        frames.append(f)
    return frames


def test_frames_before_a_crossing_are_candidates():
    ucfg = UncertaintyConfig(lo=0.1, hi=0.5)
    start = molecule("H2O")
    crossed = _walk(0, [0.01, 0.02, 0.03, 0.9], start)  # overconfident, then over hi
    calm = _walk(1, [0.01, 0.02, 0.01], start)  # never crossed: nothing from it
    pool = candidate_pool(crossed + calm, [], ucfg, SelectionConfig(before_crossing=2))
    assert [f.info["md_step"] for f in pool] == [10, 20]
    assert {f.info["selected_as"] for f in pool} == {"before_crossing"}
    assert frames_before_crossing(crossed, ucfg, 0) == []


def test_window_frames_come_first_and_none_twice():
    ucfg = UncertaintyConfig(lo=0.1, hi=0.5)
    start = molecule("H2O")
    frames = _walk(0, [0.01, 0.2, 0.3, 0.9], start)
    pool = candidate_pool(frames, [], ucfg, SelectionConfig(before_crossing=2))
    assert [(f.info["md_step"], f.info["selected_as"]) for f in pool] == [
        (10, "window"), (20, "window")]


def test_known_structures_and_repeats_are_never_selected():
    ucfg = UncertaintyConfig(lo=0.1, hi=0.5)
    start = molecule("H2O")
    # three walkers whose first frame is the start structure itself (in the dataset)
    frames = []
    for w in range(3):
        walk = _walk(w, [0.01, 0.2, 0.9], start)
        walk[0].positions = start.positions
        walk[0].info["unc_max_force_std"] = 0.3
        frames += walk
    twin = frames[1].copy()  # walker 0's window frame, sampled twice
    twin.info.update(walker=3, md_step=10)
    pool = candidate_pool(frames + [twin], [start], ucfg, SelectionConfig())
    assert [(f.info["walker"], f.info["md_step"]) for f in pool] == [(0, 10), (1, 10), (2, 10)]
    assert same_structure(start, start.copy(), 0.01)
    assert not same_structure(start, frames[1], 0.01)


# --------------------------------------------------------------------------- stalls
def test_an_empty_iteration_softens_the_next_one():
    md = MDConfig(timestep_fs=1.0)
    adj = next_adjustments({}, {"a": 0, "b": 3})
    assert adj["a"].rung == 1 and adj["b"].rung == 0
    assert adj["a"].apply(md).timestep_fs == 0.5 and adj["b"].apply(md) is md
    rungs = [MDAdjustment(rung=r) for r in range(7)]
    assert [r.timestep_factor for r in rungs] == [1, 0.5, 0.25, 0.25, 0.25, 0.25, 0.25]
    assert [round(r.temperature_factor, 3) for r in rungs] == [1, 1, 1, 0.8, 0.64, 0.512, 0.41]
    assert MDAdjustment(rung=20).temperature_factor == 0.4
    assert next_adjustments({"a": rungs[3]}, {"a": 2})["a"] == rungs[2]  # one rung back up
    assert next_adjustments({"a": rungs[0]}, {"a": 2})["a"] == rungs[0]
    assert MDAdjustment.from_json(rungs[3].as_json()) == rungs[3]
