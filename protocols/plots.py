"""PNG figures of the transport analyses (matplotlib, no global pyplot state).

Every function takes a result object and a file path, writes one PNG and
returns the path. Shaded bands are ± one standard error over blocks; grey
spans mark the fit or plateau windows.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .results import Estimate
from .transport.analysis import TransportResult
from .transport.arrhenius import ArrheniusResult
from .transport.collective import CollectiveConductivity
from .transport.curves import Curve
from .transport.field_response import NEMDResult
from .transport.fitting import FitWindow, fit_lines
from .units import KB_EV_PER_K

_DPI = 130


def plot_msd(result: TransportResult, path: str | os.PathLike) -> Path:
    """MSD per species and of the charge displacement, with fit windows and fitted lines.

    Parameters
    ----------
    result
        Output of :func:`analyze_transport` (with curves, i.e. not reloaded from JSON).
    path
        PNG file to write.
    """
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    ax_self, ax_eh = fig.subplots(1, 2)
    for species, d in result.diffusion.items():
        if d.msd is not None:
            label = f"{species}: D = {d.D_cm2_s} cm²/s"
            _curve_with_fit(ax_self, d.msd, d.window, label)
    ax_self.set(xlabel="lag t (ps)", ylabel="MSD (Å²)", title="Self: MSD = 6Dt + c")
    ax_self.legend(fontsize=8)
    eh = result.einstein_helfand
    if eh.curve is not None:
        label = f"σ_EH = {eh.sigma_S_m} S/m"
        _curve_with_fit(ax_eh, eh.curve, eh.window, label)
    ax_eh.set(xlabel="lag t (ps)", ylabel="⟨|Σ q_i Δr_i|²⟩ (e² Å²)",
              title="Einstein–Helfand: charge displacement")
    ax_eh.legend(fontsize=8)
    return _save(fig, path)


def _curve_with_fit(ax, curve: Curve, window: FitWindow, label: str) -> None:
    t_ps = curve.lag_fs / 1000.0
    line, = ax.plot(t_ps, curve.mean, lw=1.5, label=label)
    ax.fill_between(t_ps, curve.mean - curve.stderr, curve.mean + curve.stderr,
                    color=line.get_color(), alpha=0.25, lw=0)
    inside = (curve.lag_fs >= window.start_fs) & (curve.lag_fs <= window.end_fs)
    if inside.sum() >= 2:
        slope, icpt = fit_lines(curve.lag_fs[inside], curve.mean[inside][None])
        ax.plot(t_ps, slope[0] * curve.lag_fs + icpt[0], ls="--", lw=1, color=line.get_color())
    ax.axvspan(window.start_fs / 1000.0, window.end_fs / 1000.0, color="0.85", zorder=0)


def plot_green_kubo(gk: CollectiveConductivity, path: str | os.PathLike, *,
                    einstein_helfand: Estimate | None = None) -> Path:
    """Current autocorrelation and the running Green–Kubo integral with its plateau window.

    Parameters
    ----------
    gk
        Green–Kubo result (with curves).
    path
        PNG file to write.
    einstein_helfand
        Optional σ_EH (S/m) drawn for comparison.
    """
    if gk.curve is None or gk.acf is None:
        raise ValueError("plot_green_kubo needs the curves; use the result of green_kubo() or "
                         "analyze_transport(), not one reloaded from JSON")
    fig = Figure(figsize=(6.5, 6), layout="constrained")
    ax_acf, ax_int = fig.subplots(2, 1, sharex=True)
    t_ps = gk.acf.lag_fs / 1000.0
    norm = gk.acf.mean[0] if gk.acf.mean[0] != 0 else 1.0
    ax_acf.plot(t_ps, gk.acf.mean / norm, lw=1)
    ax_acf.axhline(0.0, color="k", lw=0.5)
    ax_acf.set(ylabel="⟨J(0)·J(t)⟩ / ⟨J²⟩", title="Charge-current autocorrelation")
    c = gk.curve
    ax_int.plot(t_ps, c.mean, lw=1.5, label="running integral σ(τ)")
    ax_int.fill_between(t_ps, c.mean - c.stderr, c.mean + c.stderr, alpha=0.25, lw=0)
    _band(ax_int, gk.sigma_S_m, f"σ_GK = {gk.sigma_S_m} S/m", "C1")
    if einstein_helfand is not None:
        _band(ax_int, einstein_helfand, f"σ_EH = {einstein_helfand} S/m", "C2")
    for ax in (ax_acf, ax_int):
        ax.axvspan(gk.window.start_fs / 1000.0, gk.window.end_fs / 1000.0, color="0.85", zorder=0)
    ax_int.set(xlabel="τ (ps)", ylabel="σ(τ) (S/m)")
    ax_int.legend(fontsize=8)
    return _save(fig, path)


def _band(ax, est: Estimate, label: str, color: str) -> None:
    ax.axhline(est.value, color=color, lw=1, label=label)
    ax.axhspan(est.value - est.stderr, est.value + est.stderr, color=color, alpha=0.15, lw=0)


def plot_arrhenius(fit: ArrheniusResult, path: str | os.PathLike) -> Path:
    """log σ (or D) against 1000/T with the fit extrapolated to the target temperature.

    The band is the 68 % interval of the fitted line from the parameter covariance.
    """
    fig = Figure(figsize=(6, 4.5), layout="constrained")
    ax = fig.subplots()
    ax.errorbar(1000.0 / fit.temperatures_K, fit.values, yerr=fit.stderrs, fmt="o", capsize=3,
                label="MD")
    t_lo = min(fit.target_temperature_K, fit.temperatures_K.min())
    temps = np.linspace(t_lo, fit.temperatures_K.max(), 200)
    x = np.stack([np.ones_like(temps), -1.0 / (KB_EV_PER_K * temps)], axis=1)
    sig = np.sqrt(np.einsum("ti,ij,tj->t", x, fit.covariance, x))
    y = fit.predict(temps)
    ax.plot(1000.0 / temps, y, "-", lw=1, label=f"E_a = {fit.activation_energy_eV} eV")
    ax.fill_between(1000.0 / temps, y * np.exp(-sig), y * np.exp(sig), alpha=0.2, lw=0)
    lo, hi = fit.extrapolated_interval
    val = fit.extrapolated.value
    ax.errorbar([1000.0 / fit.target_temperature_K], [val], yerr=[[val - lo], [hi - val]],
                fmt="s", color="C3", capsize=3,
                label=f"{fit.target_temperature_K:g} K: {val:.3g} {fit.unit}")
    ax.set_yscale("log")
    name = "σ" if fit.quantity == "conductivity" else "D"
    ax.set(xlabel="1000 / T (1/K)", ylabel=f"{name} ({fit.unit})", title="Arrhenius")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_nemd(result: NEMDResult, path: str | os.PathLike, *,
              equilibrium: Estimate | None = None) -> Path:
    """σ(E) against |E| with the linear-regime mean and (optionally) the equilibrium σ."""
    fig = Figure(figsize=(6, 4.5), layout="constrained")
    ax = fig.subplots()
    e = np.array([r.field_strength_V_A for r in result.responses])
    s = np.array([r.sigma_S_m.value for r in result.responses])
    err = np.array([r.sigma_S_m.stderr for r in result.responses])
    linear = e <= result.max_linear_field_V_A
    ax.errorbar(e[linear], s[linear], yerr=err[linear], fmt="o", capsize=3, label="linear")
    if (~linear).any():
        ax.errorbar(e[~linear], s[~linear], yerr=err[~linear], fmt="x", capsize=3, color="C3",
                    label="beyond linear response")
    _band(ax, result.sigma_linear_S_m, f"NEMD (linear) {result.sigma_linear_S_m} S/m", "C0")
    if equilibrium is not None:
        _band(ax, equilibrium, f"equilibrium {equilibrium} S/m", "C2")
    ax.set(xlabel="|E| (V/Å)", ylabel="σ = ⟨J⟩/|E| (S/m)", title="Field-driven MD")
    ax.set_xlim(left=0.0)
    ax.legend(fontsize=8)
    return _save(fig, path)


def _save(fig: Figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=_DPI)
    return path
