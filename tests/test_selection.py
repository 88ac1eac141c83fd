"""Diversity selection from the trust window."""

from __future__ import annotations

import numpy as np

from alearn.selection import farthest_point, select


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
