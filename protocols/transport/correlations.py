"""Time correlation functions over all time origins, by FFT (O(F log F) per series).

These are the numerical kernels behind the MSD and current autocorrelation;
they know nothing about units.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from alearn.errors import ConfigError

# Upper bound on complex FFT values held at once (about 64 MB).
_FFT_BUDGET = 1 << 22


def autocorrelation_sum(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Sum over series of the time-origin-averaged autocorrelation.

    ``C(m) = Σ_k 1/(F-m) Σ_{t=0}^{F-m-1} x_k(t) x_k(t+m)`` for ``m = 0..max_lag``.

    Parameters
    ----------
    x
        Data, shape (F, K): F time samples of K series (for example the three
        Cartesian components of a current, or 3N coordinates).
    max_lag
        Largest lag m returned, ``0 <= max_lag < F``.

    Returns
    -------
    numpy.ndarray
        Shape (max_lag + 1,).
    """
    n_frames, n_series = x.shape
    if not 0 <= max_lag < n_frames:
        raise ConfigError(f"max_lag={max_lag} must lie in [0, {n_frames - 1}] "
                          f"for {n_frames} frames")
    n_fft = scipy.fft.next_fast_len(2 * n_frames, real=True)
    chunk = max(1, _FFT_BUDGET // n_fft)
    power = np.zeros(n_fft // 2 + 1)
    for lo in range(0, n_series, chunk):
        spec = scipy.fft.rfft(x[:, lo:lo + chunk], n=n_fft, axis=0)
        power += np.sum(spec.real**2 + spec.imag**2, axis=1)
    corr = scipy.fft.irfft(power, n=n_fft)[: max_lag + 1]
    return corr / (n_frames - np.arange(max_lag + 1))


def msd_sum(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Sum over series of the time-origin-averaged mean squared displacement.

    ``MSD(m) = Σ_k 1/(F-m) Σ_{t=0}^{F-m-1} [x_k(t+m) - x_k(t)]²`` for
    ``m = 0..max_lag``, computed as ``S1(m) - 2 C(m)`` with C from
    :func:`autocorrelation_sum` (the algorithm of Calandrini et al., nMoldyn).

    Parameters
    ----------
    x
        Coordinates, shape (F, K). Series are centred internally for accuracy.
    max_lag
        Largest lag returned, ``0 <= max_lag < F``.

    Returns
    -------
    numpy.ndarray
        Shape (max_lag + 1,), in the squared unit of ``x``; entry 0 is 0.
    """
    x = x - x.mean(axis=0)
    n_frames = x.shape[0]
    sq = np.sum(x * x, axis=1)  # (F,)
    csum = np.concatenate([[0.0], np.cumsum(sq)])
    lags = np.arange(max_lag + 1)
    # Σ_{t<F-m} sq(t) + Σ_{t>=m} sq(t)
    s1 = csum[n_frames - lags] + (csum[n_frames] - csum[lags])
    s1 /= n_frames - lags
    out = s1 - 2.0 * autocorrelation_sum(x, max_lag)
    out[0] = 0.0
    return np.maximum(out, 0.0)


def block_slices(n_frames: int, n_blocks: int) -> list[slice]:
    """Split ``range(n_frames)`` into ``n_blocks`` contiguous equal blocks (remainder dropped).

    Parameters
    ----------
    n_frames
        Number of frames F.
    n_blocks
        Number of blocks, at least 2.

    Returns
    -------
    list of slice
        Each block has ``F // n_blocks`` frames.
    """
    if n_blocks < 2:
        raise ConfigError(f"n_blocks={n_blocks}: at least 2 blocks are needed for an error bar")
    size = n_frames // n_blocks
    if size < 4:
        raise ConfigError(
            f"{n_frames} frames cannot be split into {n_blocks} blocks of at least 4 frames; "
            "use fewer blocks or a longer trajectory"
        )
    return [slice(b * size, (b + 1) * size) for b in range(n_blocks)]
