"""Ionic conductivity from the MSD of the total charge displacement (Einstein–Helfand).

With charges q_i (e), unwrapped positions r_i (Å), cell volume V (Å³) and
temperature T (K):
``σ = 1/(6 V kB T) · d/dt <|Σ_i q_i [r_i(t0+t) - r_i(t0)]|²>``, in S/m with
block-averaging error bars.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..results import Estimate
from ..trajectory import MDTrajectory
from ..units import conductivity_s_per_m
from .collective import CollectiveConductivity
from .correlations import block_slices, msd_sum
from .curves import Curve
from .fitting import FitWindow, fit_lines
from .options import TransportOptions
from .readers import analysis_positions, atom_charges, resolve_temperature
from .windows import collective_window


def einstein_helfand(
    traj: MDTrajectory,
    charges: Mapping[str, float],
    *,
    temperature_K: float | None = None,
    options: TransportOptions | None = None,
    default_window: tuple[FitWindow, str] | None = None,
) -> CollectiveConductivity:
    """Conductivity from the MSD of the total charge displacement (Einstein–Helfand).

    Parameters
    ----------
    traj
        Unwrapped trajectory.
    charges
        Charge per species in e (see :func:`atom_charges`).
    temperature_K
        Temperature in K; defaults to the one recorded in the trajectory.
    options
        Blocks and windows (defaults: ``TransportOptions()``);
        ``options.eh_window`` overrides everything.
    default_window
        Window (and its source label) to use when ``options.eh_window`` is
        None; when also None a window is detected on the charge MSD itself.

    Returns
    -------
    CollectiveConductivity
    """
    options = options or TransportOptions()
    q = atom_charges(traj, charges)
    temp = resolve_temperature(traj, temperature_K)
    pos = analysis_positions(traj, options.remove_com_drift)
    dipole = np.einsum("n,fnk->fk", q, pos)  # Σ q_i r_i, e·Å, shape (F, 3)
    blocks = block_slices(traj.n_frames, options.n_blocks)
    n_lags = blocks[0].stop - blocks[0].start
    lag_fs = np.arange(n_lags) * traj.frame_interval_fs
    curves = np.stack([msd_sum(dipole[b], n_lags - 1) for b in blocks])
    window, source = collective_window(options.eh_window, default_window, lag_fs, curves,
                                       options, "charge-displacement MSD")
    idx = window.indices(traj.frame_interval_fs, n_lags, "Einstein–Helfand")
    slope, _ = fit_lines(lag_fs[idx], curves[:, idx])
    sig = np.array([conductivity_s_per_m(s / 6.0, traj.volume_A3, temp) for s in slope])
    keep = min(n_lags, 2 * idx[-1] + 1)
    return CollectiveConductivity("einstein-helfand", Estimate.from_blocks(sig), window, source,
                                  tuple(float(s) for s in sig),
                                  Curve.from_blocks(lag_fs[:keep], curves[:, :keep], "e²Å²"))
