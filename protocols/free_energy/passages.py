"""First passages and transitions counted directly in trajectories (the check on the model).

* :func:`first_passage_times`, :func:`mean_first_passage_fs` — renewal counting:
  a clock starts when a particle reaches ``start`` coming from the target's side,
  stops at its first arrival at ``target``; the next clock starts only when the
  particle is back at ``start``. Frames are discrete, so crossings are
  detected up to one frame late; keep the frame interval small against the times
  measured.
* :func:`transition_rate` — equilibrium transitions per unit time of one particle
  between the regions z ≤ a and z ≥ b (both directions; they alternate), which
  the Smoluchowski model predicts as ``2/(Z R)``.
* :func:`resistance_from_transitions` — ``R = p_bulk / ν_AB``: the resistance of
  [a, b] from the counted rate ν_AB (one direction, half of all transitions) and
  the measured probability density p_bulk (per Å) in a bulk reference region
  where F = 0.
"""

from __future__ import annotations

import numpy as np

from alearn.errors import ConfigError

from ..results import Estimate
from .smoluchowski import FS_PER_A_TO_S_PER_M


def first_passage_times(z_A: np.ndarray, frame_interval_fs: float, start_A: float,
                        target_A: float) -> tuple[np.ndarray, np.ndarray]:
    """Durations (fs) of the first passages from ``start_A`` to ``target_A``.

    Parameters
    ----------
    z_A
        Heights, shape (F, M) or (F,).
    frame_interval_fs
        Time between frames in fs.
    start_A, target_A
        Start and target heights (Å), distinct.

    Returns
    -------
    completed, censored
        Durations in fs of the passages that reached the target, and of those
        still under way at the last frame (at most one per particle).
    """
    z = np.asarray(z_A, dtype=float)
    z = z[:, None] if z.ndim == 1 else z
    if start_A == target_A:
        raise ConfigError("first_passage_times: start and target must differ")
    up = target_A > start_A
    at_start = z <= start_A if up else z >= start_A
    at_target = z >= target_A if up else z <= target_A
    done: list[int] = []
    open_: list[int] = []
    last = z.shape[0] - 1
    for m in range(z.shape[1]):
        starts, hits = np.flatnonzero(at_start[:, m]), np.flatnonzero(at_target[:, m])
        entries = np.flatnonzero(at_start[1:, m] & ~at_start[:-1, m]) + 1
        t0 = entries[0] if entries.size else None
        while t0 is not None:
            k = np.searchsorted(hits, t0)
            if k == hits.size:
                open_.append(last - t0)
                break
            done.append(hits[k] - t0)
            j = np.searchsorted(starts, hits[k])
            t0 = starts[j] if j < starts.size else None
    return (np.asarray(done, dtype=float) * frame_interval_fs,
            np.asarray(open_, dtype=float) * frame_interval_fs)


def mean_first_passage_fs(z_A: np.ndarray, frame_interval_fs: float, start_A: float,
                          target_A: float) -> Estimate:
    """Mean first-passage time (fs) from ``start_A`` to ``target_A`` counted in the frames.

    The estimate is the total time spent on the way (completed passages plus the
    unfinished ones at the end of the run) over the number of completed passages,
    which, unlike the mean of completed passages alone, is not biased low when the
    run is not much longer than the passages. Error: standard error of the
    completed durations (``n_blocks`` holds their number).
    """
    done, open_ = first_passage_times(z_A, frame_interval_fs, start_A, target_A)
    if done.size < 2:
        raise ConfigError(f"fewer than 2 passages from {start_A} to {target_A} Å were observed; "
                          "run longer or choose closer points")
    mean = float((done.sum() + open_.sum()) / done.size)
    return Estimate(mean, float(done.std(ddof=1) / np.sqrt(done.size)), int(done.size))


def transition_rate(z_A: np.ndarray, frame_interval_fs: float, a_A: float,
                    b_A: float) -> Estimate:
    """Transitions per ns of one particle between z ≤ a and z ≥ b, either way (a < b).

    The error assumes Poisson statistics of the count.
    """
    z = np.asarray(z_A, dtype=float)
    z = z[:, None] if z.ndim == 1 else z
    if not a_A < b_A:
        raise ConfigError(f"transition_rate: need a < b, got {a_A}, {b_A}")
    state = np.where(z <= a_A, -1, np.where(z >= b_A, 1, 0))
    count = 0
    for m in range(z.shape[1]):
        visits = state[:, m][state[:, m] != 0]
        count += int(np.count_nonzero(np.diff(visits)))
    total_ns = z.shape[1] * (z.shape[0] - 1) * frame_interval_fs * 1e-6
    return Estimate(count / total_ns, np.sqrt(max(count, 1)) / total_ns, 0)


def resistance_from_transitions(z_A: np.ndarray, frame_interval_fs: float, a_A: float,
                                b_A: float, bulk_range_A: tuple[float, float]) -> Estimate:
    """``∫_a^b e^{βF}/D dz`` in s/m measured as ``p_bulk / ν`` (F = 0 in ``bulk_range_A``).

    ``p_bulk`` is the fraction of samples per Å inside the bulk range; the error
    combines the Poisson error of ν with the binomial error of p_bulk.
    """
    z = np.asarray(z_A, dtype=float)
    rate = transition_rate(z, frame_interval_fs, a_A, b_A)
    inside = (z >= bulk_range_A[0]) & (z <= bulk_range_A[1])
    frac = inside.mean()
    width = bulk_range_A[1] - bulk_range_A[0]
    if frac == 0 or rate.value == 0:
        raise ConfigError("resistance_from_transitions: no samples in the bulk range or no "
                          "transitions; widen the range or run longer")
    per_fs = 0.5 * rate.value * 1e-6  # one direction: transitions alternate
    value = frac / width / per_fs * FS_PER_A_TO_S_PER_M
    rel = np.hypot(rate.stderr / rate.value, np.sqrt(frac * (1 - frac) / z.size) / frac)
    return Estimate(float(value), float(value * rel), 0)
