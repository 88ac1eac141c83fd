"""Self-diffusion coefficients from the mean squared displacement (Einstein relation).

``MSD_s(t) = <|r_i(t0 + t) - r_i(t0)|²>`` averaged over atoms i of species s and
over all time origins t0; in the diffusive regime ``MSD_s(t) ≈ 6 D_s t + c``
(3D). The error bar comes from block averaging: the trajectory is cut into
``n_blocks`` contiguous segments, D is fitted in each over the same window,
and the result is the mean with standard error ``std / sqrt(n_blocks)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..results import Estimate
from ..trajectory import MDTrajectory
from ..units import A2_PER_FS_TO_CM2_PER_S
from .correlations import block_slices, msd_sum
from .curves import Curve
from .fitting import FitWindow, fit_lines
from .options import TransportOptions
from .readers import analysis_positions
from .windows import choose_window


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

