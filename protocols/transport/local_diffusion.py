"""Position-dependent diffusion near an interface: D⊥(z) and D∥(z) with block errors.

* **Normal, D⊥(z)**: Hummer's estimate from a transition matrix between z bins
  (:mod:`.transition_matrix`). The rate model has reflecting ends, so confinement
  by the electrode (or the other side of a slab) is part of the model instead of
  a bias, and F(z) comes out alongside D(z). D sits on the interfaces between
  bins. Use bins about as wide as the typical displacement during one lag.
* **Parallel, D∥(z)**: the in-plane MSD of the particles that *stayed* in a bin
  for the whole lag (Liu, Harder & Berne, JPCB 108, 6595, 2004), ``MSD_xy ≈ 4 D∥ t + c``
  fitted over a window of lags; D sits at the bin centres.

Both read heights z(t) of M equivalent particles (shape (F, M), e.g. from
:func:`alearn.protocols.slab.heights_above_plane`). Errors: the trajectory is cut
into ``n_blocks`` time blocks, each is analysed alone; the value is the whole-data
estimate, the error the standard error over blocks. D is in Å²/fs
(1 Å²/fs = 0.1 cm²/s).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from alearn.errors import ConfigError
from alearn.state import write_json_atomic

from ..results import Estimate, to_jsonable_finite
from ..units import A2_PER_FS_TO_CM2_PER_S
from .correlations import block_slices
from .transition_matrix import fit_transition_model, transition_counts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DiffusionProfile:
    """D(z) normal or parallel to a plane.

    Parameters
    ----------
    direction
        ``"normal"`` or ``"parallel"``.
    method
        ``"transition-matrix"`` (normal) or ``"survival-msd"`` (parallel).
    z_A
        Where the values sit, shape (K,): bin interfaces (normal) or centres (parallel).
    D_A2_fs
        D in Å²/fs, shape (K,); NaN where the data do not reach.
    stderr_A2_fs
        Standard error over blocks, shape (K,).
    bin_edges_A
        The bins, shape (n + 1,).
    lag_fs
        Lag of the transition matrix (normal), or (first, last) lag of the MSD fit (parallel).
    blocks_A2_fs
        D of each block, shape (n_blocks, K), or None.
    free_energy_kT
        βF per bin from the transition-matrix fit (normal only; minimum 0), or None.
    """

    direction: str
    method: str
    z_A: np.ndarray
    D_A2_fs: np.ndarray
    stderr_A2_fs: np.ndarray
    bin_edges_A: np.ndarray
    lag_fs: float | tuple[float, float]
    blocks_A2_fs: np.ndarray | None = None
    free_energy_kT: np.ndarray | None = None

    @property
    def D_cm2_s(self) -> np.ndarray:
        """D in cm²/s, shape (K,)."""
        return self.D_A2_fs * A2_PER_FS_TO_CM2_PER_S

    def at(self, z_A: np.ndarray | float) -> np.ndarray:
        """D in Å²/fs interpolated (linearly in ln D) at ``z_A``; constant beyond the ends."""
        ok = np.isfinite(self.D_A2_fs)
        return np.exp(np.interp(z_A, self.z_A[ok], np.log(self.D_A2_fs[ok])))

    def plateau(self, z_range_A: tuple[float, float]) -> Estimate:
        """Mean D (Å²/fs) over the points inside ``z_range_A`` (e.g. the bulk-like middle).

        The error is the standard error over blocks of the per-block means.
        """
        inside = (self.z_A >= z_range_A[0]) & (self.z_A <= z_range_A[1]) & np.isfinite(
            self.D_A2_fs)
        if not inside.any():
            raise ConfigError(f"DiffusionProfile.plateau: no D values inside {z_range_A} Å "
                              f"(data span {np.nanmin(self.z_A):.3g}–{np.nanmax(self.z_A):.3g} Å)")
        value = float(self.D_A2_fs[inside].mean())
        if self.blocks_A2_fs is None:
            return Estimate(value, float(np.sqrt(np.sum(self.stderr_A2_fs[inside] ** 2)))
                            / inside.sum(), 0)
        per_block = np.nanmean(self.blocks_A2_fs[:, inside], axis=1)
        nb = per_block.size
        return Estimate(value, float(np.nanstd(per_block, ddof=1) / np.sqrt(nb)), nb)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN written as null)."""
        return to_jsonable_finite({
            "direction": self.direction, "method": self.method, "z_A": self.z_A,
            "D_A2_fs": self.D_A2_fs, "stderr_A2_fs": self.stderr_A2_fs,
            "D_cm2_s": self.D_cm2_s, "bin_edges_A": self.bin_edges_A, "lag_fs": self.lag_fs,
            "blocks_A2_fs": self.blocks_A2_fs, "free_energy_kT": self.free_energy_kT})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DiffusionProfile:
        """Inverse of :meth:`to_dict`."""
        arr = _array_or_none
        lag = data["lag_fs"]
        return cls(data["direction"], data["method"], arr(data["z_A"]), arr(data["D_A2_fs"]),
                   arr(data["stderr_A2_fs"]), arr(data["bin_edges_A"]),
                   tuple(lag) if isinstance(lag, list) else float(lag),
                   arr(data.get("blocks_A2_fs")), arr(data.get("free_energy_kT")))

    def to_json(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_dict` to ``path`` atomically."""
        write_json_atomic(path, self.to_dict())


def normal_diffusion_profile(
    z_A: np.ndarray,
    frame_interval_fs: float,
    *,
    bin_edges_A: np.ndarray,
    lag_frames: int = 1,
    n_blocks: int = 5,
    smoothness: float = 1.0,
) -> DiffusionProfile:
    """D⊥(z) (and βF(z)) by maximum likelihood on the bin-to-bin transition matrix.

    Parameters
    ----------
    z_A
        Heights in Å, shape (F, M) (or (F,) for one particle).
    frame_interval_fs
        Time between frames in fs.
    bin_edges_A
        Equal-width bins, shape (n + 1,). The fit covers the most visited run of
        connected visited bins; D is NaN elsewhere (a warning says how many
        samples were left out).
    lag_frames
        Lag τ in frames. The estimate should not depend on it once τ exceeds the
        velocity correlation time (check two or three lags on MD data).
    n_blocks
        Time blocks for the error bars (>= 2).
    smoothness
        Width of the prior on neighbouring ln D differences (see
        :func:`~alearn.protocols.transport.transition_matrix.fit_transition_model`).

    Returns
    -------
    DiffusionProfile
        ``z_A`` at the bin interfaces, ``free_energy_kT`` per bin.
    """
    z = _as_frames(z_A)
    edges, width = _uniform_edges(bin_edges_A)
    bins = np.searchsorted(edges, z, side="right") - 1
    bins[(z < edges[0]) | (z > edges[-1])] = -1
    lo, hi = _visited_range(bins, edges.size - 1)
    local = np.where((bins >= lo) & (bins <= hi), bins - lo, -1)
    n = hi - lo + 1
    lag_fs = lag_frames * frame_interval_fs
    whole = fit_transition_model(transition_counts(local, n, lag_frames), lag_fs,
                                 smoothness=smoothness)
    blocks = []
    for piece in block_slices(z.shape[0], n_blocks):
        counts = transition_counts(local[piece], n, lag_frames)
        blocks.append(fit_transition_model(counts, lag_fs, smoothness=smoothness, start=whole)
                      .diffusion * width**2)
    if not whole.converged:
        log.warning("normal_diffusion_profile: the likelihood maximisation did not report "
                    "convergence; check the bins and the amount of data")
    full_d = np.full(edges.size - 2, np.nan)
    full_d[lo:hi] = whole.diffusion * width**2
    block_arr = np.full((n_blocks, edges.size - 2), np.nan)
    block_arr[:, lo:hi] = np.stack(blocks)
    free = np.full(edges.size - 1, np.nan)
    free[lo:hi + 1] = whole.free_energy_kT
    return DiffusionProfile("normal", "transition-matrix", edges[1:-1].copy(), full_d,
                            _block_stderr(block_arr), edges, lag_fs, block_arr, free)


def parallel_diffusion_profile(
    z_A: np.ndarray,
    xy_A: np.ndarray,
    frame_interval_fs: float,
    *,
    bin_edges_A: np.ndarray,
    fit_lags_frames: tuple[int, int] = (1, 5),
    n_blocks: int = 5,
    min_survivors: int = 20,
) -> DiffusionProfile:
    """D∥(z) from the in-plane MSD of particles that stay in their bin.

    Parameters
    ----------
    z_A
        Heights in Å, shape (F, M).
    xy_A
        Unwrapped in-plane coordinates in Å, shape (F, M, 2) (or (F, M, 3):
        the first two columns are used).
    frame_interval_fs
        Time between frames in fs.
    bin_edges_A
        Bins, shape (n + 1,).
    fit_lags_frames
        First and last lag (frames) of the linear fit ``MSD ≈ 4 D∥ t + c``. On MD
        data start it after the ballistic regime; the bins must be wide enough that
        particles survive the last lag.
    n_blocks
        Time blocks for the error bars.
    min_survivors
        Bins with fewer surviving (origin, particle) pairs at the last lag get NaN.

    Returns
    -------
    DiffusionProfile
        ``z_A`` at the bin centres.
    """
    z = _as_frames(z_A)
    xy = np.asarray(xy_A, dtype=float).reshape(z.shape[0], z.shape[1], -1)[..., :2]
    edges = np.asarray(bin_edges_A, dtype=float)
    first, last = fit_lags_frames
    if not 1 <= first < last < z.shape[0] // n_blocks:
        raise ConfigError(f"fit_lags_frames={fit_lags_frames}: need 1 <= first < last < frames "
                          f"per block ({z.shape[0] // n_blocks})")
    bins = np.searchsorted(edges, z, side="right") - 1
    bins[(z < edges[0]) | (z > edges[-1])] = -1
    lags = np.arange(first, last + 1)
    whole = _survivor_slopes(bins, xy, edges.size - 1, lags, min_survivors)
    block_arr = np.stack([_survivor_slopes(bins[s], xy[s], edges.size - 1, lags, min_survivors)
                          for s in block_slices(z.shape[0], n_blocks)]) / 4.0 / frame_interval_fs
    centres = 0.5 * (edges[1:] + edges[:-1])
    return DiffusionProfile("parallel", "survival-msd", centres, whole / 4.0 / frame_interval_fs,
                            _block_stderr(block_arr), edges,
                            (first * frame_interval_fs, last * frame_interval_fs), block_arr)


def _survivor_slopes(bins: np.ndarray, xy: np.ndarray, n_bins: int, lags: np.ndarray,
                     min_survivors: int) -> np.ndarray:
    """Slope (Å²/frame) of the survivors' in-plane MSD against lag, per bin."""
    valid = bins >= 0
    stay = valid.copy()
    msd = np.full((lags.size, n_bins), np.nan)
    survivors = np.zeros(n_bins)
    for lag in range(1, lags[-1] + 1):
        stay = stay[:-1] & (bins[lag:] == bins[:-lag])
        if lag < lags[0]:
            continue
        disp2 = np.sum((xy[lag:] - xy[:-lag]) ** 2, axis=-1)
        where = bins[:-lag][stay]
        survivors = np.bincount(where, minlength=n_bins)
        total = np.bincount(where, weights=disp2[stay], minlength=n_bins)
        with np.errstate(invalid="ignore", divide="ignore"):
            msd[lag - lags[0]] = total / survivors
    slope = np.polyfit(lags.astype(float), np.nan_to_num(msd), 1)[0]
    slope[survivors < min_survivors] = np.nan
    return slope


def _as_frames(z_A: np.ndarray) -> np.ndarray:
    z = np.asarray(z_A, dtype=float)
    z = z[:, None] if z.ndim == 1 else z
    if z.ndim != 2 or z.shape[0] < 4:
        raise ConfigError(f"heights must have shape (n_frames, n_particles) with >= 4 frames, "
                          f"got {np.shape(z_A)}")
    return z


def _uniform_edges(bin_edges_A: np.ndarray) -> tuple[np.ndarray, float]:
    edges = np.asarray(bin_edges_A, dtype=float)
    widths = np.diff(edges)
    if edges.ndim != 1 or edges.size < 3 or not np.allclose(widths, widths[0], rtol=1e-6) \
            or widths[0] <= 0:
        raise ConfigError("bin_edges_A must be increasing, equally spaced, with >= 2 bins "
                          "(e.g. numpy.arange(z_min, z_max + w / 2, w))")
    return edges, float(widths[0])


def _visited_range(bins: np.ndarray, n_bins: int) -> tuple[int, int]:
    """First and last bin of the most visited contiguous run of visited bins.

    The rate model needs a connected range; visits outside the chosen run (an
    isolated excursion, a second region) are left out with a warning.
    """
    visits = np.bincount(bins[bins >= 0], minlength=n_bins)
    seen = visits > 0
    edges = np.flatnonzero(np.diff(np.concatenate([[0], seen.astype(int), [0]])))
    runs = list(zip(edges[::2], edges[1::2] - 1))
    if not runs:
        raise ConfigError("no height falls inside the bins; check bin_edges_A")
    lo, hi = max(runs, key=lambda r: visits[r[0]:r[1] + 1].sum())
    if hi - lo < 1:
        raise ConfigError("the heights visit fewer than 2 neighbouring bins; use narrower bins "
                          "or more data")
    left_out = visits.sum() - visits[lo:hi + 1].sum()
    if left_out:
        log.warning("D⊥: %d of %d samples lie in bins not connected to the most visited range "
                    "[bin %d, bin %d]; they are left out (wider bins or more sampling would "
                    "connect them)", left_out, visits.sum(), lo, hi)
    return int(lo), int(hi)


def _block_stderr(blocks: np.ndarray) -> np.ndarray:
    """Standard error over the blocks with a value (NaN where fewer than 2 have one)."""
    finite = np.isfinite(blocks)
    n_ok = finite.sum(axis=0)
    safe = np.where(finite, blocks, 0.0)
    mean = safe.sum(axis=0) / np.maximum(n_ok, 1)
    var = np.where(finite, (safe - mean) ** 2, 0.0).sum(axis=0) / np.maximum(n_ok - 1, 1)
    err = np.sqrt(var / np.maximum(n_ok, 1))
    err[n_ok < 2] = np.nan
    return err


def _array_or_none(values: Any) -> np.ndarray | None:
    if values is None:
        return None
    return np.array(values, dtype=float)  # None entries become NaN
