"""Ionic conductivity from equilibrium MD: Einstein–Helfand, Green–Kubo, Nernst–Einstein.

With charges q_i (e), unwrapped positions r_i (Å), velocities v_i (Å/fs), cell
volume V (Å³) and temperature T (K):

* Einstein–Helfand: ``σ = 1/(6 V kB T) · d/dt <|Σ_i q_i [r_i(t0+t) - r_i(t0)]|²>``
* Green–Kubo: ``σ = 1/(3 V kB T) · ∫_0^∞ <J(0)·J(t)> dt`` with ``J = Σ_i q_i v_i``
* Nernst–Einstein: ``σ_NE = 1/(V kB T) · Σ_s N_s q_s² D_s`` (no ion–ion correlations)
* Haven ratio: ``H_R = σ_NE / σ`` (σ from Einstein–Helfand)

All are returned in S/m (1 S/m = 10 mS/cm) with block-averaging error bars.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.integrate import cumulative_trapezoid

from alearn.errors import ConfigError

from .correlations import autocorrelation_sum, block_slices, msd_sum
from .diffusion import (
    Curve,
    SelfDiffusion,
    TransportOptions,
    analysis_positions,
    analysis_velocities,
    choose_window,
    self_diffusion,
)
from .fitting import FitWindow, fit_lines
from .results import Estimate, format_table, ratio, write_json_atomic
from .trajectory import MDTrajectory
from .units import A2_PER_FS_TO_CM2_PER_S, S_PER_M_TO_MS_PER_CM, conductivity_s_per_m

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CollectiveConductivity:
    """A collective (charge) conductivity estimate.

    Parameters
    ----------
    method
        ``"einstein-helfand"`` or ``"green-kubo"``.
    sigma_S_m
        σ in S/m (mean over blocks ± standard error).
    window
        Einstein–Helfand: MSD fit window. Green–Kubo: plateau window over
        which the running integral is averaged.
    window_source
        ``"user"``, ``"auto"`` or ``"fallback"``.
    blocks_S_m
        σ of each block in S/m.
    curve
        Einstein–Helfand: MSD of the total charge displacement in e²Å².
        Green–Kubo: running integral σ(τ) in S/m. None when not kept.
    acf
        Green–Kubo only: ``<J(0)·J(t)>`` in e²Å²/fs².
    """

    method: str
    sigma_S_m: Estimate
    window: FitWindow
    window_source: str
    blocks_S_m: tuple[float, ...]
    curve: Curve | None = field(default=None, repr=False)
    acf: Curve | None = field(default=None, repr=False)

    @property
    def sigma_mS_cm(self) -> Estimate:
        """σ in mS/cm."""
        return self.sigma_S_m.scaled(S_PER_M_TO_MS_PER_CM)

    def to_dict(self, include_curves: bool = False) -> dict[str, Any]:
        """JSON-ready dict; curves only with ``include_curves``."""
        out = {"method": self.method, "sigma_S_m": self.sigma_S_m.to_dict(),
               "sigma_mS_cm": self.sigma_mS_cm.to_dict(), "window_fs": self.window.to_dict(),
               "window_source": self.window_source, "blocks_S_m": list(self.blocks_S_m)}
        if include_curves and self.curve is not None:
            out["curve"] = self.curve.to_dict()
        if include_curves and self.acf is not None:
            out["acf"] = self.acf.to_dict()
        return out


def atom_charges(traj: MDTrajectory, charges: Mapping[str, float]) -> np.ndarray:
    """Charge of every atom in e from per-species charges.

    Parameters
    ----------
    traj
        Trajectory whose species need charges.
    charges
        Charge per chemical symbol in e, formal (Li: +1) or scaled (Li: +0.8).
        Every species must be listed; give 0 for neutral ones explicitly.

    Returns
    -------
    numpy.ndarray
        Shape (N,).
    """
    missing = [s for s in traj.species if s not in charges]
    if missing:
        raise ConfigError(
            f"{traj.source}: no charge given for species {missing}; pass a charge (in e) for "
            f"every species present {list(traj.species)}, e.g. charges={{'Li': 1.0, 'F': -1.0}} "
            "(use 0.0 for species that carry none)"
        )
    q = np.array([float(charges[s]) for s in traj.symbols])
    if abs(q.sum()) > 1e-6:
        log.warning("%s: the charges sum to %.4g e, not 0; collective results then depend on the "
                    "centre-of-mass treatment", traj.source, q.sum())
    return q


def resolve_temperature(traj: MDTrajectory, temperature_K: float | None) -> float:
    """The given temperature, else the one recorded in the trajectory, else an error."""
    temp = temperature_K if temperature_K is not None else traj.temperature_K
    if temp is None or temp <= 0:
        raise ConfigError(
            f"{traj.source}: no temperature recorded in the frames; pass temperature_K (K)"
        )
    return float(temp)


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
    window, source = _collective_window(options.eh_window, default_window, lag_fs, curves,
                                        options, "charge-displacement MSD")
    idx = window.indices(traj.frame_interval_fs, n_lags, "Einstein–Helfand")
    slope, _ = fit_lines(lag_fs[idx], curves[:, idx])
    sig = np.array([conductivity_s_per_m(s / 6.0, traj.volume_A3, temp) for s in slope])
    keep = min(n_lags, 2 * idx[-1] + 1)
    return CollectiveConductivity("einstein-helfand", Estimate.from_blocks(sig), window, source,
                                  tuple(float(s) for s in sig),
                                  Curve.from_blocks(lag_fs[:keep], curves[:, :keep], "e²Å²"))


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
    current = np.einsum("n,fnk->fk", q, analysis_velocities(traj, options.remove_com_drift))
    blocks = block_slices(traj.n_frames, options.n_blocks)
    n_lags = blocks[0].stop - blocks[0].start
    dt = traj.frame_interval_fs
    lag_fs = np.arange(n_lags) * dt
    acf = np.stack([autocorrelation_sum(current[b], n_lags - 1) for b in blocks])
    factor = conductivity_s_per_m(1.0 / 3.0, traj.volume_A3, temp)
    running = cumulative_trapezoid(acf, dx=dt, axis=1, initial=0.0) * factor
    if options.gk_window is None and default_window is None:
        default_window = choose_window(lag_fs, _msd_from_running(running.mean(0), dt),
                                       None, end_fs=options.max_lag_fraction * lag_fs[-1],
                                       options=options,
                                       what="Green–Kubo (integrated current ACF)")
    window, source = _collective_window(options.gk_window, default_window, lag_fs, running,
                                        options, "Green–Kubo")
    idx = window.indices(dt, n_lags, "Green–Kubo")
    sig = running[:, idx].mean(axis=1)
    keep = min(n_lags, 2 * idx[-1] + 1)
    return CollectiveConductivity("green-kubo", Estimate.from_blocks(sig), window, source,
                                  tuple(float(s) for s in sig),
                                  Curve.from_blocks(lag_fs[:keep], running[:, :keep], "S/m"),
                                  Curve.from_blocks(lag_fs[:keep], acf[:, :keep], "e²Å²/fs²"))


def _msd_from_running(running: np.ndarray, dt: float) -> np.ndarray:
    # MSD(τ) ∝ ∫_0^τ σ(t) dt: lets the MSD window detection work on Green–Kubo data.
    return cumulative_trapezoid(running, dx=dt, initial=0.0)


def _collective_window(user: FitWindow | None, default: tuple[FitWindow, str] | None,
                       lag_fs: np.ndarray, curves: np.ndarray, options: TransportOptions,
                       what: str) -> tuple[FitWindow, str]:
    if user is not None:
        return user, "user"
    if default is not None:
        return default
    return choose_window(lag_fs, curves.mean(axis=0), None,
                         end_fs=options.max_lag_fraction * lag_fs[-1], options=options, what=what)


def nernst_einstein(
    diffusion: Mapping[str, SelfDiffusion],
    charges: Mapping[str, float],
    *,
    volume_A3: float,
    temperature_K: float,
) -> Estimate:
    """Nernst–Einstein conductivity ``σ_NE = Σ_s N_s q_s² D_s / (V kB T)`` in S/m.

    When every species has the same number of blocks, σ_NE is computed block
    by block (keeping correlations between species); otherwise the species'
    errors are combined in quadrature.

    Parameters
    ----------
    diffusion
        Self-diffusion results per species (from :func:`self_diffusion`).
    charges
        Charge per species in e; every species in ``diffusion`` needs one.
    volume_A3
        Volume in Å³.
    temperature_K
        Temperature in K.
    """
    missing = [s for s in diffusion if s not in charges]
    if missing:
        raise ConfigError(f"nernst_einstein: no charge for species {missing}; give one in e")
    to_si = conductivity_s_per_m(1.0, volume_A3, temperature_K) / A2_PER_FS_TO_CM2_PER_S
    weights = {s: d.n_atoms * float(charges[s]) ** 2 * to_si for s, d in diffusion.items()}
    n_blocks = {len(d.blocks_cm2_s) for d in diffusion.values()}
    if len(n_blocks) == 1:
        blocks = sum(w * np.asarray(diffusion[s].blocks_cm2_s) for s, w in weights.items())
        return Estimate.from_blocks(blocks)
    value = sum(w * diffusion[s].D_cm2_s.value for s, w in weights.items())
    err = math.sqrt(sum((w * diffusion[s].D_cm2_s.stderr) ** 2 for s, w in weights.items()))
    return Estimate(value, err, 0)


@dataclass(frozen=True)
class TransportResult:
    """Everything :func:`analyze_transport` measured on one trajectory.

    Prints as a table (``print(result)``) and saves as JSON (:meth:`to_json`).
    Conductivities are in S/m, diffusion coefficients in cm²/s; every value
    carries a standard error from block averaging.
    """

    source: str
    temperature_K: float
    volume_A3: float
    n_frames: int
    frame_interval_fs: float
    duration_fs: float
    n_blocks: int
    charges: dict[str, float]
    diffusion: dict[str, SelfDiffusion]
    einstein_helfand: CollectiveConductivity
    green_kubo: CollectiveConductivity | None
    nernst_einstein_S_m: Estimate
    haven_ratio: Estimate

    def to_dict(self, include_curves: bool = False) -> dict[str, Any]:
        """JSON-ready dict of all results (curves only with ``include_curves``)."""
        gk = None if self.green_kubo is None else self.green_kubo.to_dict(include_curves)
        return {
            "source": self.source, "temperature_K": self.temperature_K,
            "volume_A3": self.volume_A3, "n_frames": self.n_frames,
            "frame_interval_fs": self.frame_interval_fs, "duration_fs": self.duration_fs,
            "n_blocks": self.n_blocks, "charges_e": dict(self.charges),
            "diffusion": {s: d.to_dict(include_curves) for s, d in self.diffusion.items()},
            "einstein_helfand": self.einstein_helfand.to_dict(include_curves),
            "green_kubo": gk,
            "nernst_einstein_S_m": self.nernst_einstein_S_m.to_dict(),
            "haven_ratio": self.haven_ratio.to_dict(),
        }

    def to_json(self, path: str | os.PathLike, *, include_curves: bool = False) -> None:
        """Write :meth:`to_dict` to ``path`` atomically."""
        write_json_atomic(self.to_dict(include_curves), path)

    def __str__(self) -> str:
        head = (f"Transport from {self.source}: {self.n_frames} frames every "
                f"{self.frame_interval_fs:g} fs ({self.duration_fs / 1000:.4g} ps), "
                f"T = {self.temperature_K:g} K, V = {self.volume_A3:.5g} Å³, "
                f"{self.n_blocks} blocks (errors: 1 standard error)")
        return head + "\n" + format_table(self._rows(), ["quantity", "value ± stderr", "unit",
                                                         "in mS/cm", "window (fs)", "window"])

    def _rows(self) -> list[list[str]]:
        rows = [[f"D({s})", f"{d.D_cm2_s}", "cm²/s", "", _win(d.window), d.window_source]
                for s, d in self.diffusion.items()]
        for name, res in (("σ Einstein–Helfand", self.einstein_helfand),
                          ("σ Green–Kubo", self.green_kubo)):
            if res is not None:
                rows.append([name, f"{res.sigma_S_m}", "S/m", f"{res.sigma_mS_cm}",
                             _win(res.window), res.window_source])
        ne = self.nernst_einstein_S_m
        rows.append(["σ Nernst–Einstein", f"{ne}", "S/m", f"{ne.scaled(10.0)}", "", ""])
        rows.append(["Haven ratio σ_NE/σ_EH", f"{self.haven_ratio}", "1", "", "", ""])
        return rows


def _win(w: FitWindow) -> str:
    return f"{w.start_fs:.5g}–{w.end_fs:.5g}"


def analyze_transport(
    traj: MDTrajectory,
    charges: Mapping[str, float],
    *,
    temperature_K: float | None = None,
    options: TransportOptions | None = None,
) -> TransportResult:
    """Self-diffusion, Einstein–Helfand, Green–Kubo and Nernst–Einstein conductivities, Haven ratio.

    Green–Kubo is skipped (None) when the trajectory has no velocities.

    Parameters
    ----------
    traj
        Unwrapped trajectory (see :func:`load_trajectory`).
    charges
        Charge per species in e, e.g. ``{"Li": 1.0, "F": -1.0}``.
    temperature_K
        Temperature in K; defaults to the one recorded in the trajectory.
    options
        Blocks and fit windows (defaults: ``TransportOptions()``).

    Returns
    -------
    TransportResult
    """
    options = options or TransportOptions()
    atom_charges(traj, charges)  # fail early on a missing charge
    temp = resolve_temperature(traj, temperature_K)
    diffusion = self_diffusion(traj, options=options)
    window = _eh_default_window(diffusion, {s: float(charges[s]) for s in traj.species})
    eh = einstein_helfand(traj, charges, temperature_K=temp, options=options,
                          default_window=window)
    gk = None
    if traj.velocities_A_fs is not None:
        gk_default = window if options.eh_window is None else (options.eh_window, "user")
        gk = green_kubo(traj, charges, temperature_K=temp, options=options,
                        default_window=gk_default)
    else:
        log.info("%s: no velocities, skipping Green–Kubo", traj.source)
    ne = nernst_einstein(diffusion, charges, volume_A3=traj.volume_A3, temperature_K=temp)
    return TransportResult(traj.source, temp, traj.volume_A3, traj.n_frames,
                           traj.frame_interval_fs, traj.duration_fs, options.n_blocks,
                           {s: float(charges[s]) for s in traj.species}, diffusion, eh, gk, ne,
                           ratio(ne, eh.sigma_S_m))


def _eh_default_window(diffusion: Mapping[str, SelfDiffusion],
                       charges: Mapping[str, float]) -> tuple[FitWindow, str] | None:
    """Latest start (and common end) among the charged species' detected or user windows."""
    good = [d.window for s, d in diffusion.items()
            if charges[s] != 0.0 and d.window_source in ("auto", "user")]
    if not good:
        return None
    start = max(w.start_fs for w in good)
    end = max(w.end_fs for w in good)
    return FitWindow(start, end), "from species"
