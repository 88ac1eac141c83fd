"""F(s) from unbiased MD by Boltzmann inversion of a histogram, with block errors.

``F(s) = -kT ln p(s)``, p the normalised density of the samples over the binned
range, optionally divided by a Jacobian (``4π s²`` for a distance between two
particles, so that F is the potential of mean force w(r) with ``g(r) ∝ exp(-βw)``).
The trajectory is cut into ``n_blocks`` time blocks; each gives its own
normalised profile, and the standard error over blocks is the error bar of F in
that normalisation. Only reliable where the MD visits often and back and
forth; use umbrella sampling (:mod:`.umbrella`) for barriers.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from alearn.errors import ConfigError

from ..units import KB_EV_PER_K
from .profiles import FreeEnergyProfile

Jacobian = Literal["none", "spherical"]


def histogram_profile(
    samples: np.ndarray,
    *,
    bin_edges: np.ndarray,
    temperature_K: float,
    n_blocks: int = 5,
    jacobian: Jacobian = "none",
    cv: str = "s",
) -> FreeEnergyProfile:
    """Boltzmann inversion of the samples' histogram.

    Parameters
    ----------
    samples
        CV values, shape (F,) or (F, M) for M equivalent particles (frames first;
        the blocks are contiguous in time).
    bin_edges
        Bin edges, shape (n + 1,); samples outside are ignored.
    temperature_K
        Temperature of the MD in K.
    n_blocks
        Time blocks for the error bars (>= 2).
    jacobian
        ``"none"`` (heights, coordination numbers) or ``"spherical"`` (divide by
        the shell volume, for a distance between two particles).
    cv
        Label of the CV.

    Returns
    -------
    FreeEnergyProfile
        Minimum at 0; NaN in empty bins; stderr NaN where a block has no sample.
    """
    data = np.asarray(samples, dtype=float)
    data = data[:, None] if data.ndim == 1 else data
    edges = np.asarray(bin_edges, dtype=float)
    if n_blocks < 2 or data.shape[0] < n_blocks:
        raise ConfigError(f"histogram_profile: n_blocks={n_blocks} needs >= 2 and at most "
                          f"{data.shape[0]} (the number of frames)")
    if jacobian not in ("none", "spherical"):
        raise ConfigError(f"histogram_profile: jacobian={jacobian!r}; use 'none' or 'spherical'")
    kT = KB_EV_PER_K * temperature_K
    volume = _bin_volumes(edges, jacobian)
    counts = np.histogram(data.ravel(), edges)[0].astype(float)
    size = data.shape[0] // n_blocks
    block_counts = np.stack([np.histogram(data[b * size:(b + 1) * size].ravel(), edges)[0]
                             for b in range(n_blocks)]).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        F = -kT * np.log(counts / counts.sum() / volume)
        blocks = -kT * np.log(block_counts / block_counts.sum(axis=1, keepdims=True) / volume)
    F[~np.isfinite(F)] = np.nan
    blocks[~np.isfinite(blocks)] = np.nan
    offset = np.nanmin(F)
    stderr = np.full(F.shape, np.nan)
    full = ~np.isnan(blocks).any(axis=0)  # a bin some block never saw has no error bar
    stderr[full] = blocks[:, full].std(axis=0, ddof=1) / np.sqrt(n_blocks)
    return FreeEnergyProfile(edges, F - offset, stderr, float(temperature_K), "histogram", cv,
                             counts, blocks - offset)


def _bin_volumes(edges: np.ndarray, jacobian: Jacobian) -> np.ndarray:
    if jacobian == "spherical":
        if edges[0] < 0:
            raise ConfigError("histogram_profile: a spherical Jacobian needs distances >= 0")
        return 4.0 / 3.0 * np.pi * np.diff(edges**3)
    return np.diff(edges)
