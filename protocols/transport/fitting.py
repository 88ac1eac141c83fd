"""Fit windows: the time range where an MSD is linear (or a Green–Kubo integral is flat)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from alearn.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitWindow:
    """A time window ``[start_fs, end_fs]`` in fs, measured as a lag from the time origin.

    Parameters
    ----------
    start_fs
        First lag included, fs (>= 0).
    end_fs
        Last lag included, fs (> start_fs).
    """

    start_fs: float
    end_fs: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.start_fs < self.end_fs:
            raise ConfigError(
                f"fit window [{self.start_fs}, {self.end_fs}] fs is invalid: "
                "need 0 <= start_fs < end_fs"
            )

    def indices(self, frame_interval_fs: float, n_lags: int, what: str) -> np.ndarray:
        """Lag indices inside the window, checked against the ``n_lags`` available.

        Parameters
        ----------
        frame_interval_fs
            Lag spacing in fs.
        n_lags
            Number of lags available (0 .. n_lags-1).
        what
            Name of the quantity, used in error messages.

        Returns
        -------
        numpy.ndarray
            Integer lag indices, at least 2 of them.
        """
        lo = int(np.ceil(self.start_fs / frame_interval_fs - 1e-9))
        hi = int(np.floor(self.end_fs / frame_interval_fs + 1e-9))
        if hi > n_lags - 1:
            raise ConfigError(
                f"{what}: fit window ends at {self.end_fs:g} fs but blocks only reach lags up to "
                f"{(n_lags - 1) * frame_interval_fs:g} fs; shorten the window, use fewer blocks "
                "or run longer"
            )
        idx = np.arange(max(lo, 0), hi + 1)
        if idx.size < 2:
            raise ConfigError(
                f"{what}: fit window [{self.start_fs:g}, {self.end_fs:g}] fs holds fewer than 2 "
                f"frames at {frame_interval_fs:g} fs per frame; widen it"
            )
        return idx

    def to_dict(self) -> dict[str, float]:
        """JSON-ready dict."""
        return {"start_fs": self.start_fs, "end_fs": self.end_fs}


def detect_linear_regime(
    lag_fs: np.ndarray, msd: np.ndarray, *, end_fs: float, tolerance: float = 0.05
) -> FitWindow | None:
    """Find where an MSD has become linear in time (diffusive), up to ``end_fs``.

    Linear means a constant slope. The secant slope ``s(t) = [MSD(2t) -
    MSD(t)] / t`` is compared with the late slope ``s_ref`` over
    ``[end_fs/2, end_fs]``; the start is the earliest lag from which
    ``|s(t)/s_ref - 1| < tolerance`` holds at every tested lag up to
    ``end_fs/2`` (the onset). This rejects the ballistic regime (slope
    rising) and the cage regime of solids and melts (slope dipping below its
    long-time value). The returned window starts at twice the onset, which
    removes most of the residual curvature bias (a few tenths of a standard
    error otherwise, measured on Langevin particles).

    Parameters
    ----------
    lag_fs
        Uniformly spaced lags in fs starting at 0, shape (L,).
    msd
        MSD at those lags (any unit), shape (L,).
    end_fs
        End of the window, fs (clipped to the last lag).
    tolerance
        Allowed relative deviation of the secant slope from the late slope.

    Returns
    -------
    FitWindow or None
        None when no linear regime spanning at least a factor 4 in time
        (``start <= end_fs/4``) is found, or the late slope is not positive:
        the MSD is not diffusive within reach (run longer or set the window).
    """
    dt = float(lag_fs[1] - lag_fs[0])
    i_end = min(int(np.floor(end_fs / dt + 1e-9)), len(lag_fs) - 1)
    if i_end < 8:
        return None
    half = i_end // 2
    ref = (msd[i_end] - msd[half]) / ((i_end - half) * dt)
    if not np.isfinite(ref) or ref <= 0.0:
        return None
    cand = np.unique(np.geomspace(1, half, 40).astype(int))
    secant = (msd[2 * cand] - msd[cand]) / (cand * dt)
    ok = np.abs(secant / ref - 1.0) < tolerance
    bad = np.flatnonzero(~ok)
    first = 0 if bad.size == 0 else bad[-1] + 1
    if first >= cand.size or cand[first] > i_end // 4:
        return None
    return FitWindow(float(2 * cand[first] * dt), float(i_end * dt))


def fit_lines(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ordinary least-squares lines ``y ≈ slope * x + intercept``, one per row of ``y``.

    Parameters
    ----------
    x
        Abscissae, shape (P,).
    y
        Ordinates, shape (B, P) (B independent data sets).

    Returns
    -------
    slope, intercept : numpy.ndarray
        Each of shape (B,).
    """
    design = np.stack([x, np.ones_like(x)], axis=1)
    coef, *_ = np.linalg.lstsq(design, np.atleast_2d(y).T, rcond=None)
    return coef[0], coef[1]
