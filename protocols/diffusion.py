"""Self-diffusion coefficients from the mean squared displacement (Einstein relation).

``MSD_s(t) = <|r_i(t0 + t) - r_i(t0)|²>`` averaged over atoms i of species s and
over all time origins t0; in the diffusive regime ``MSD_s(t) ≈ 6 D_s t + c``
(3D). The error bar comes from block averaging: the trajectory is cut into
``n_blocks`` contiguous segments, D is fitted in each over the same window,
and the result is the mean with standard error ``std / sqrt(n_blocks)``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from alearn.errors import ConfigError

from .correlations import block_slices, msd_sum
from .fitting import FitWindow, detect_linear_regime, fit_lines
from .results import Estimate
from .trajectory import MDTrajectory
from .units import A2_PER_FS_TO_CM2_PER_S

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TransportOptions:
    """Options of the equilibrium transport analysis.

    Parameters
    ----------
    n_blocks
        Number of independent contiguous blocks for the error bars (>= 2).
        Each block should be much longer than the fit window end.
    diffusion_window
        MSD fit window for all species; None detects one per species.
    eh_window
        Fit window of the charge-displacement MSD (Einstein–Helfand); None uses
        the latest start among the detected windows of the charged species.
    gk_window
        Window over which the Green–Kubo running integral is averaged (its
        plateau); None uses the Einstein–Helfand window.
    max_lag_fraction
        Auto-detected windows end at most at this fraction of the block
        duration (linearity is checked up to there).
    window_span
        Auto-detected windows end at most at ``window_span`` times their start
        (one decade by default): beyond the onset of diffusion a longer window
        only adds noise, which matters most for collective quantities.
    linearity_tolerance
        Allowed relative deviation of the MSD's local slope from its late
        value when detecting a window (see :func:`detect_linear_regime`).
    remove_com_drift
        Subtract the centre-of-mass displacement of the whole system from all
        positions (and its velocity from all velocities) before analysis.
    """

    n_blocks: int = 5
    diffusion_window: FitWindow | None = None
    eh_window: FitWindow | None = None
    gk_window: FitWindow | None = None
    max_lag_fraction: float = 0.2
    window_span: float = 10.0
    linearity_tolerance: float = 0.05
    remove_com_drift: bool = True

    def __post_init__(self) -> None:
        if self.n_blocks < 2:
            raise ConfigError(f"TransportOptions.n_blocks={self.n_blocks}: need at least 2")
        if not 0.0 < self.max_lag_fraction <= 0.5:
            raise ConfigError(
                f"TransportOptions.max_lag_fraction={self.max_lag_fraction}: must be in (0, 0.5]"
            )
        if self.window_span <= 1.0:
            raise ConfigError(f"TransportOptions.window_span={self.window_span}: must be > 1")


@dataclass(frozen=True)
class Curve:
    """A correlation curve averaged over blocks.

    Parameters
    ----------
    lag_fs
        Lags in fs, shape (L,).
    mean
        Block mean, shape (L,).
    stderr
        Standard error over blocks, shape (L,).
    unit
        Unit of ``mean`` and ``stderr``.
    """

    lag_fs: np.ndarray
    mean: np.ndarray
    stderr: np.ndarray
    unit: str

    @classmethod
    def from_blocks(cls, lag_fs: np.ndarray, blocks: np.ndarray, unit: str) -> Curve:
        """Curve from per-block data of shape (n_blocks, L)."""
        n = blocks.shape[0]
        return cls(lag_fs, blocks.mean(axis=0), blocks.std(axis=0, ddof=1) / np.sqrt(n), unit)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"lag_fs": self.lag_fs, "mean": self.mean, "stderr": self.stderr, "unit": self.unit}


@dataclass(frozen=True)
class SelfDiffusion:
    """Self-diffusion coefficient of one species.

    Parameters
    ----------
    species
        Chemical symbol.
    n_atoms
        Number of atoms N_s of the species.
    D_cm2_s
        D in cm²/s (mean over blocks ± standard error).
    window
        Fit window used.
    window_source
        ``"user"``, ``"auto"`` (detected) or ``"fallback"`` (no linear regime
        found; second half of the reachable lags, treat D with suspicion).
    blocks_cm2_s
        D of each block in cm²/s.
    msd
        Block-averaged MSD in Å² (for plots), or None when loaded without curves.
    intercept_A2
        Mean intercept c of the fit ``MSD ≈ 6 D t + c`` in Å².
    """

    species: str
    n_atoms: int
    D_cm2_s: Estimate
    window: FitWindow
    window_source: str
    blocks_cm2_s: tuple[float, ...]
    msd: Curve | None = field(default=None, repr=False)
    intercept_A2: float = 0.0

    @property
    def D_m2_s(self) -> Estimate:
        """D in m²/s."""
        return self.D_cm2_s.scaled(1e-4)

    @property
    def D_A2_fs(self) -> Estimate:
        """D in Å²/fs."""
        return self.D_cm2_s.scaled(1.0 / A2_PER_FS_TO_CM2_PER_S)

    def to_dict(self, include_curves: bool = False) -> dict[str, Any]:
        """JSON-ready dict; MSD curve only with ``include_curves``."""
        out = {"species": self.species, "n_atoms": self.n_atoms, "D_cm2_s": self.D_cm2_s.to_dict(),
               "D_m2_s": self.D_m2_s.to_dict(), "window_fs": self.window.to_dict(),
               "window_source": self.window_source, "blocks_cm2_s": list(self.blocks_cm2_s),
               "intercept_A2": self.intercept_A2}
        if include_curves and self.msd is not None:
            out["msd_A2"] = self.msd.to_dict()
        return out


def self_diffusion(
    traj: MDTrajectory, *, options: TransportOptions | None = None
) -> dict[str, SelfDiffusion]:
    """Self-diffusion coefficient of every species from the MSD (Einstein relation).

    Parameters
    ----------
    traj
        Unwrapped trajectory.
    options
        Blocks, fit windows, drift removal (defaults: ``TransportOptions()``).

    Returns
    -------
    dict of str to SelfDiffusion
        One entry per species, in order of first appearance.
    """
    options = options or TransportOptions()
    positions = analysis_positions(traj, options.remove_com_drift)
    blocks = block_slices(traj.n_frames, options.n_blocks)
    n_lags = blocks[0].stop - blocks[0].start
    lag_fs = np.arange(n_lags) * traj.frame_interval_fs
    end_fs = options.max_lag_fraction * lag_fs[-1]
    out = {}
    for species in traj.species:
        idx = traj.indices(species)
        curves = np.stack([
            msd_sum(positions[b, idx].reshape(n_lags, -1), n_lags - 1) / idx.size for b in blocks
        ])
        out[species] = _fit_species(species, idx.size, lag_fs, curves, end_fs, options)
    return out


def _fit_species(species: str, n_atoms: int, lag_fs: np.ndarray, curves: np.ndarray,
                 end_fs: float, options: TransportOptions) -> SelfDiffusion:
    window, source = choose_window(lag_fs, curves.mean(axis=0), options.diffusion_window,
                                   end_fs=end_fs, options=options, what=f"MSD of {species}")
    idx = window.indices(lag_fs[1], lag_fs.size, f"MSD of {species}")
    slope, intercept = fit_lines(lag_fs[idx], curves[:, idx])
    d_blocks = slope / 6.0 * A2_PER_FS_TO_CM2_PER_S
    keep = min(lag_fs.size, 2 * idx[-1] + 1)
    msd = Curve.from_blocks(lag_fs[:keep], curves[:, :keep], "Å²")
    return SelfDiffusion(species, n_atoms, Estimate.from_blocks(d_blocks), window, source,
                         tuple(float(d) for d in d_blocks), msd, float(intercept.mean()))


def choose_window(lag_fs: np.ndarray, msd: np.ndarray, user: FitWindow | None, *, end_fs: float,
                  options: TransportOptions, what: str) -> tuple[FitWindow, str]:
    """The user's window if given, else a detected one, else a flagged fallback.

    A detected window ``[t_s, t_e]`` is shortened to end at
    ``min(t_e, options.window_span * t_s)`` (but keeps at least 4 frames).

    Returns
    -------
    window, source : FitWindow, str
        ``source`` is ``"user"``, ``"auto"`` or ``"fallback"``.
    """
    if user is not None:
        return user, "user"
    found = detect_linear_regime(lag_fs, msd, end_fs=end_fs, tolerance=options.linearity_tolerance)
    if found is not None:
        end = min(found.end_fs, max(options.window_span * found.start_fs,
                                    found.start_fs + 4 * float(lag_fs[1])))
        return FitWindow(found.start_fs, end), "auto"
    window = FitWindow(0.5 * end_fs, end_fs)
    log.warning("%s: no linear (diffusive) regime found up to %.4g fs; fitting the fallback window "
                "[%.4g, %.4g] fs. Run longer or set the window explicitly.", what, end_fs,
                window.start_fs, window.end_fs)
    return window, "fallback"


def analysis_positions(traj: MDTrajectory, remove_com_drift: bool) -> np.ndarray:
    """Unwrapped positions in Å, shape (F, N, 3), optionally in the centre-of-mass frame.

    The centre-of-mass displacement ``R(t) - R(0)`` (mass weighted, all atoms)
    is subtracted from every atom when ``remove_com_drift`` is set.
    """
    pos = traj.positions_A
    if not remove_com_drift:
        return pos
    m = traj.masses_amu
    com = np.einsum("n,fnk->fk", m, pos) / m.sum()
    return pos - (com - com[0])[:, None, :]


def analysis_velocities(traj: MDTrajectory, remove_com_drift: bool) -> np.ndarray:
    """Velocities in Å/fs, shape (F, N, 3), optionally minus the centre-of-mass velocity."""
    if traj.velocities_A_fs is None:
        raise ConfigError(
            f"{traj.source}: the trajectory has no velocities (momenta), which Green–Kubo needs; "
            "write momenta with the frames (run_md does) or use the Einstein–Helfand result"
        )
    vel = traj.velocities_A_fs
    if not remove_com_drift:
        return vel
    m = traj.masses_amu
    return vel - (np.einsum("n,fnk->fk", m, vel) / m.sum())[:, None, :]
