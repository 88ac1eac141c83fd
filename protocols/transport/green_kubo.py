"""Ionic conductivity from the charge-current autocorrelation (Green–Kubo).

With charges q_i (e), velocities v_i (Å/fs), cell volume V (Å³) and
temperature T (K): ``σ = 1/(3 V kB T) · ∫_0^∞ <J(0)·J(t)> dt`` with
``J = Σ_i q_i v_i``, in S/m with block-averaging error bars.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.integrate import cumulative_trapezoid

from ..results import Estimate
from ..trajectory import MDTrajectory
from ..units import conductivity_s_per_m
from .collective import CollectiveConductivity
from .correlations import autocorrelation_sum, block_slices
from .curves import Curve
from .fitting import FitWindow
from .options import TransportOptions
from .readers import analysis_velocities, atom_charges, resolve_temperature
from .windows import choose_window, collective_window


def green_kubo(
    traj: MDTrajectory,
    charges: Mapping[str, float],
    *,
    temperature_K: float | None = None,
    options: TransportOptions | None = None,
    default_window: tuple[FitWindow, str] | None = None,
) -> CollectiveConductivity:
    """Conductivity from the charge-current autocorrelation (Green–Kubo).

    The running integral ``σ(τ) = 1/(3 V kB T) ∫_0^τ <J(0)·J(t)> dt``
    (trapezoid rule at the frame spacing) is averaged over the plateau window
    in each block. Velocities must be sampled finely enough to resolve the
    current autocorrelation (about ten frames per oscillation period).

    Parameters
    ----------
    traj
        Trajectory with velocities.
    charges
        Charge per species in e.
    temperature_K
        Temperature in K; defaults to the one recorded in the trajectory.
    options
        Blocks and windows (defaults: ``TransportOptions()``);
        ``options.gk_window`` overrides everything.
    default_window
        Plateau window (and source label) when ``options.gk_window`` is None.
        When both are None the window is detected on the charge MSD.

    Returns
    -------
    CollectiveConductivity
    """
    options = options or TransportOptions()
    q = atom_charges(traj, charges)
    temp = resolve_temperature(traj, temperature_K)
    acf, running = _acf_and_running_integral(traj, q, temp, options)
    n_lags = acf.shape[1]
    dt = traj.frame_interval_fs
    lag_fs = np.arange(n_lags) * dt
    if options.gk_window is None and default_window is None:
        default_window = choose_window(lag_fs, _msd_from_running(running.mean(0), dt),
                                       None, end_fs=options.max_lag_fraction * lag_fs[-1],
                                       options=options,
                                       what="Green–Kubo (integrated current ACF)")
    window, source = collective_window(options.gk_window, default_window, lag_fs, running,
                                       options, "Green–Kubo")
    idx = window.indices(dt, n_lags, "Green–Kubo")
    sig = running[:, idx].mean(axis=1)
    keep = min(n_lags, 2 * idx[-1] + 1)
    return CollectiveConductivity("green-kubo", Estimate.from_blocks(sig), window, source,
                                  tuple(float(s) for s in sig),
                                  Curve.from_blocks(lag_fs[:keep], running[:, :keep], "S/m"),
                                  Curve.from_blocks(lag_fs[:keep], acf[:, :keep], "e²Å²/fs²"))


def _acf_and_running_integral(traj: MDTrajectory, q: np.ndarray, temperature_K: float,
                              options: TransportOptions) -> tuple[np.ndarray, np.ndarray]:
    """Per-block ``<J(0)·J(t)>`` in e²Å²/fs² and running integral σ(τ) in S/m.

    Both have shape (n_blocks, L), L the number of frames per block; ``q`` are
    the atoms' charges in e, shape (N,).
    """
    current = np.einsum("n,fnk->fk", q, analysis_velocities(traj, options.remove_com_drift))
    blocks = block_slices(traj.n_frames, options.n_blocks)
    n_lags = blocks[0].stop - blocks[0].start
    acf = np.stack([autocorrelation_sum(current[b], n_lags - 1) for b in blocks])
    factor = conductivity_s_per_m(1.0 / 3.0, traj.volume_A3, temperature_K)
    running = cumulative_trapezoid(acf, dx=traj.frame_interval_fs, axis=1, initial=0.0) * factor
    return acf, running


def _msd_from_running(running: np.ndarray, dt: float) -> np.ndarray:
    # MSD(τ) ∝ ∫_0^τ σ(t) dt: lets the MSD window detection work on Green–Kubo data.
    return cumulative_trapezoid(running, dx=dt, initial=0.0)
