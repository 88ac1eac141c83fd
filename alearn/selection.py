"""Choose which candidate frames to label: diverse, capped, never twice.

Candidates are the frames in the trust window and, for each walker that
crossed ``hi`` (or broke the structure), the last ``before_crossing`` frames
it sampled before the crossing: the most informative frames an iteration has
when an overconfident committee leaves the window empty. A candidate that
repeats a structure already in the dataset (e.g. a walker's first frame, its
start structure) or another candidate is dropped. Candidates are compared in a structural
descriptor space (the committee's invariant MACE node features averaged over
atoms, standardized). ``fps`` (farthest-point sampling) starts from the most
uncertain candidate and repeatedly adds the candidate farthest from everything
chosen so far *and from the frames already in the training set*, so frames
similar to existing data are not labeled again. ``kmeans`` clusters the
candidates and labels the most uncertain frame of each cluster. ``random``
is the baseline to compare against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from ase import Atoms

from alearn.config import SelectionConfig, UncertaintyConfig
from alearn.dataset import Candidate
from alearn.uncertainty import Zone, frame_zone


def _standardize(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    mu, sigma = ref.mean(axis=0), ref.std(axis=0)
    return (x - mu) / np.where(sigma > 1e-12, sigma, 1.0)


def farthest_point(features: np.ndarray, n: int, *, first: int,
                   existing: np.ndarray | None = None) -> np.ndarray:
    """Greedy farthest-point sampling.

    Parameters
    ----------
    features
        (M, F) candidate descriptors.
    n
        Number to select (at most M).
    first
        Index of the first pick.
    existing
        (P, F) descriptors already covered (e.g. the training set), or None.

    Returns
    -------
    (min(n, M),) indices into ``features`` in order of selection.
    """
    m = len(features)
    n = min(n, m)
    if n == 0:
        return np.zeros(0, dtype=int)
    dist = np.full(m, np.inf)
    if existing is not None and len(existing):
        for row in existing:
            dist = np.minimum(dist, np.linalg.norm(features - row, axis=1))
    chosen = [first]
    dist = np.minimum(dist, np.linalg.norm(features - features[first], axis=1))
    while len(chosen) < n:
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(features - features[nxt], axis=1))
    return np.array(chosen)


def kmeans_pick(features: np.ndarray, scores: np.ndarray, n: int, *, seed: int) -> np.ndarray:
    """One frame per k-means cluster: the one with the highest score."""
    from sklearn.cluster import KMeans

    n = min(n, len(features))
    if n == 0:
        return np.zeros(0, dtype=int)
    labels = KMeans(n_clusters=n, n_init=4, random_state=seed % (2**31)).fit_predict(features)
    picks = [np.flatnonzero(labels == c)[np.argmax(scores[labels == c])] for c in range(n)
             if np.any(labels == c)]
    return np.array(sorted(picks, key=lambda i: -scores[i]), dtype=int)


def select(features: np.ndarray, scores: np.ndarray, n: int, *, method: str,
           rng: np.random.Generator, existing: np.ndarray | None = None) -> np.ndarray:
    """Pick up to ``n`` of M candidates.

    Parameters
    ----------
    features
        (M, F) descriptors of the candidates.
    scores
        (M,) uncertainty metric of each candidate (higher = less trusted).
    n
        Cap on the number selected.
    method
        ``"fps"``, ``"kmeans"`` or ``"random"``.
    rng
        Randomness (k-means seed, random selection).
    existing
        (P, F) descriptors of the training set, used by ``fps``.

    Returns
    -------
    Indices into the candidates, without repeats.
    """
    m = len(scores)
    if m <= n and method != "random":
        return np.argsort(-scores)
    if method == "random":
        return rng.choice(m, size=min(n, m), replace=False)
    ref = features if existing is None or not len(existing) else np.vstack([features, existing])
    x = _standardize(features, ref)
    if method == "kmeans":
        return kmeans_pick(x, scores, n, seed=int(rng.integers(2**31)))
    ex = None if existing is None or not len(existing) else _standardize(existing, ref)
    return farthest_point(x, n, first=int(np.argmax(scores)), existing=ex)


def assign_splits(n: int, fraction: float, rng: np.random.Generator, *, at_least_one: bool
                  ) -> list[str]:
    """``train``/``valid`` for n new frames; about ``fraction`` of them valid.

    With ``at_least_one`` (the first data of a campaign) at least one of three or
    more frames is a validation frame.
    """
    n_valid = int(np.floor(fraction * n + rng.uniform()))
    if at_least_one and fraction > 0 and n >= 3:
        n_valid = max(n_valid, 1)
    valid = set(rng.choice(n, size=min(n_valid, n), replace=False).tolist())
    return ["valid" if i in valid else "train" for i in range(n)]


def frames_before_crossing(frames: Sequence[Atoms], ucfg: UncertaintyConfig, n: int
                           ) -> list[Atoms]:
    """For each walker whose last frame is rejected (``hi`` crossed, structure broken): its
    last ``n`` frames before that which are not rejected, in order."""
    by_walker: dict[int, list[Atoms]] = {}
    for f in frames:
        by_walker.setdefault(int(f.info["walker"]), []).append(f)
    picked: list[Atoms] = []
    for walk in by_walker.values():
        if n > 0 and frame_zone(walk[-1], ucfg) is Zone.REJECTED:
            picked += [f for f in walk[:-1] if frame_zone(f, ucfg) is not Zone.REJECTED][-n:]
    return picked


def same_structure(a: Atoms, b: Atoms, tol_A: float) -> bool:
    """True when ``a`` and ``b`` have the same atoms, cell and positions within ``tol_A``."""
    return (len(a) == len(b) and bool(np.all(a.numbers == b.numbers))
            and np.allclose(a.cell, b.cell, atol=tol_A)
            and bool(np.abs(a.positions - b.positions).max(initial=0.0) < tol_A))


def drop_repeats(frames: Sequence[Atoms], known: Sequence[Atoms], tol_A: float) -> list[Atoms]:
    """``frames`` without those that repeat a ``known`` structure or an earlier frame."""
    kept: list[Atoms] = []
    for f in frames:
        if not any(same_structure(f, k, tol_A) for k in (*known, *kept)):
            kept.append(f)
    return kept


def candidate_pool(sampled: Sequence[Atoms], known: Sequence[Atoms], ucfg: UncertaintyConfig,
                   scfg: SelectionConfig) -> list[Atoms]:
    """One system's frames that may be labeled: in the window or just before a crossing,
    without repeats; each with ``info["selected_as"]`` (``window``/``before_crossing``)."""
    window = [f for f in sampled if frame_zone(f, ucfg) is Zone.CANDIDATE]
    for f in window:
        f.info["selected_as"] = "window"
    ids = {id(f) for f in window}
    before = [f for f in frames_before_crossing(sampled, ucfg, scfg.before_crossing)
              if id(f) not in ids]
    for f in before:
        f.info["selected_as"] = "before_crossing"
    return drop_repeats(window + before, known, scfg.duplicate_tol_A)


def choose_candidates(explored: Mapping[str, Sequence[Atoms]], *, caps: Mapping[str, int],
                      budget: float, descriptors, training: Sequence[Atoms],
                      known: Sequence[Atoms], ucfg: UncertaintyConfig, scfg: SelectionConfig,
                      valid_fraction: float, iteration: int, rng: np.random.Generator
                      ) -> list[Candidate]:
    """The frames of one iteration to label, per system (:func:`candidate_pool`), diverse,
    capped.

    Parameters
    ----------
    explored
        System name → the frames its walkers sampled (``unc_*`` in ``info``).
    caps
        System name → the most frames to select for it (``max_selected``).
    budget
        Labels left in the campaign's budget (``inf`` without one).
    descriptors
        Callable Atoms → (F,) structural descriptor (the committee's).
    training
        Training frames; a system's frames among them count as already covered.
    known
        Every structure in the dataset (any status): never selected again.
    ucfg, scfg, valid_fraction
        Trust window and metric; ``selection``; ``validation.fraction``.
    iteration, rng
        Recorded on the candidates; the source of randomness.
    """
    chosen: list[Candidate] = []
    for system, sampled in explored.items():
        frames = candidate_pool(sampled, [a for a in known if a.info.get("system") == system],
                                ucfg, scfg)
        cap = int(min(caps[system], budget - len(chosen)))
        if not frames or cap <= 0:
            continue
        scores = np.array([f.info[f"unc_{ucfg.metric}"] for f in frames])
        feats = np.array([descriptors(f) for f in frames])
        existing = np.array([descriptors(a) for a in training if a.info.get("system") == system])
        picks = select(feats, scores, cap, method=scfg.method, rng=rng,
                       existing=existing if len(existing) else None)
        splits = assign_splits(len(picks), valid_fraction, rng, at_least_one=False)
        for i, split in zip(picks, splits):
            f = frames[int(i)]
            chosen.append(Candidate(
                atoms=f, system=system, source="explore", iteration=iteration, split=split,
                walker=int(f.info["walker"]), md_step=int(f.info["md_step"]),
                selected_as=f.info["selected_as"],
                uncertainty={k: v for k, v in f.info.items() if k.startswith("unc_")}))
    return chosen
