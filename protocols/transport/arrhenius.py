"""Arrhenius analysis: activation energy and extrapolation to room temperature.

Conductivity is fitted as ``σ T = A exp(-E_a / (kB T))`` (the form that follows
from Nernst–Einstein with an Arrhenius D), diffusion coefficients as
``D = D_0 exp(-E_a / (kB T))``. The fit is a weighted linear least-squares fit
of ``ln y`` against ``1/T`` with weights from the relative errors; the
parameter covariance is propagated to the extrapolated value, which is
log-normal and so also reported as a 68 % interval.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from alearn.errors import ConfigError
from alearn.state import write_json_atomic

from ..results import Estimate, format_table, to_jsonable
from ..units import KB_EV_PER_K

Quantity = Literal["conductivity", "diffusion"]


@dataclass(frozen=True)
class ArrheniusResult:
    """Fit of ``ln y = ln A - E_a/(kB T)`` (y = σT or D) and its extrapolation.

    Parameters
    ----------
    quantity
        ``"conductivity"`` (y = σT, σ in S/m) or ``"diffusion"`` (y = D).
    unit
        Unit of the fitted values (``"S/m"`` or that of D as given).
    temperatures_K, values, stderrs
        Input data, shape (n,).
    activation_energy_eV
        E_a in eV with standard error.
    ln_prefactor
        ln A with standard error (A in unit·K for conductivity, unit for D).
    target_temperature_K
        Temperature of the extrapolation (K).
    extrapolated
        y/T (conductivity) or D at ``target_temperature_K``; stderr is the
        first-order (linearised) error.
    extrapolated_interval
        68 % interval ``exp(ln y ± δ ln y)`` (asymmetric, preferred when the
        relative error is large).
    chi2_reduced
        χ²/(n-2) of the fit (NaN for two points). When above 1 the parameter
        errors were multiplied by its square root (scatter larger than the
        error bars suggests; never scaled down).
    """

    quantity: str
    unit: str
    temperatures_K: np.ndarray
    values: np.ndarray
    stderrs: np.ndarray
    activation_energy_eV: Estimate
    ln_prefactor: Estimate
    target_temperature_K: float
    extrapolated: Estimate
    extrapolated_interval: tuple[float, float]
    chi2_reduced: float
    covariance: np.ndarray

    def predict(self, temperature_K: np.ndarray | float) -> np.ndarray:
        """σ (or D) from the fitted line at ``temperature_K`` (K)."""
        t = np.asarray(temperature_K, dtype=float)
        y = np.exp(self.ln_prefactor.value - self.activation_energy_eV.value / (KB_EV_PER_K * t))
        return y / t if self.quantity == "conductivity" else y

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"quantity": self.quantity, "unit": self.unit,
                "temperatures_K": self.temperatures_K, "values": self.values,
                "stderrs": self.stderrs,
                "activation_energy_eV": self.activation_energy_eV.to_dict(),
                "ln_prefactor": self.ln_prefactor.to_dict(),
                "target_temperature_K": self.target_temperature_K,
                "extrapolated": self.extrapolated.to_dict(),
                "extrapolated_interval_68": list(self.extrapolated_interval),
                "chi2_reduced": self.chi2_reduced}

    def to_json(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_dict` to ``path`` atomically."""
        write_json_atomic(path, to_jsonable(self.to_dict()))

    def __str__(self) -> str:
        lo, hi = self.extrapolated_interval
        name = "σ" if self.quantity == "conductivity" else "D"
        rows = [["E_a", f"{self.activation_energy_eV}", "eV"],
                [f"{name}({self.target_temperature_K:g} K)", f"{self.extrapolated}",
                 self.unit],
                [f"{name}({self.target_temperature_K:g} K) 68% interval",
                 f"{lo:.4g} – {hi:.4g}", self.unit],
                ["χ²/dof", f"{self.chi2_reduced:.3g}", ""]]
        data = [[f"{t:g}", format(Estimate(float(v), float(e))), self.unit]
                for t, v, e in zip(self.temperatures_K, self.values, self.stderrs, strict=True)]
        return (f"Arrhenius fit of {self.quantity} ({len(self.values)} temperatures)\n"
                + format_table(data, ["T (K)", "value ± stderr", "unit"]) + "\n\n"
                + format_table(rows, ["quantity", "value ± stderr", "unit"]))


def arrhenius_fit(
    temperatures_K: Sequence[float] | np.ndarray,
    values: Sequence[float] | np.ndarray,
    stderrs: Sequence[float] | np.ndarray,
    *,
    quantity: Quantity = "conductivity",
    unit: str = "S/m",
    target_temperature_K: float = 300.0,
) -> ArrheniusResult:
    """Fit an Arrhenius law and extrapolate, with propagated uncertainty.

    Parameters
    ----------
    temperatures_K
        Temperatures in K, shape (n,), n >= 2, at least two distinct.
    values
        σ (S/m) or D (any unit) at each temperature, all > 0, shape (n,).
    stderrs
        Standard errors of ``values``, all > 0, shape (n,).
    quantity
        ``"conductivity"`` fits σT; ``"diffusion"`` fits D.
    unit
        Unit label of ``values`` (for printing).
    target_temperature_K
        Extrapolation temperature in K (room temperature by default).

    Returns
    -------
    ArrheniusResult
    """
    t, y, e = _validated(temperatures_K, values, stderrs)
    ln_y = np.log(y * t) if quantity == "conductivity" else np.log(y)
    sig_ln = e / y
    design = np.stack([np.ones_like(t), -1.0 / (KB_EV_PER_K * t)], axis=1)  # [ln A, E_a]
    w = 1.0 / sig_ln**2
    cov = np.linalg.inv(design.T @ (design * w[:, None]))
    coef = cov @ (design.T @ (w * ln_y))
    dof = t.size - 2
    chi2 = float(np.sum(w * (ln_y - design @ coef) ** 2) / dof) if dof > 0 else math.nan
    if dof > 0 and chi2 > 1.0:
        cov = cov * chi2
    x0 = np.array([1.0, -1.0 / (KB_EV_PER_K * target_temperature_K)])
    ln_pred, sig_pred = float(x0 @ coef), float(math.sqrt(x0 @ cov @ x0))
    scale = 1.0 / target_temperature_K if quantity == "conductivity" else 1.0
    pred = math.exp(ln_pred) * scale
    interval = (math.exp(ln_pred - sig_pred) * scale, math.exp(ln_pred + sig_pred) * scale)
    return ArrheniusResult(quantity, unit, t, y, e,
                           Estimate(float(coef[1]), float(math.sqrt(cov[1, 1]))),
                           Estimate(float(coef[0]), float(math.sqrt(cov[0, 0]))),
                           float(target_temperature_K), Estimate(pred, pred * sig_pred), interval,
                           chi2, cov)


def _validated(temperatures_K, values, stderrs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = np.asarray(temperatures_K, dtype=float)
    y = np.asarray(values, dtype=float)
    e = np.asarray(stderrs, dtype=float)
    if not t.shape == y.shape == e.shape or t.ndim != 1:
        raise ConfigError(
            f"arrhenius_fit: temperatures {t.shape}, values {y.shape} and stderrs {e.shape} "
            "must be 1-D arrays of the same length"
        )
    if np.unique(t).size < 2:
        raise ConfigError("arrhenius_fit: need results at two or more distinct temperatures")
    bad = np.flatnonzero((t <= 0) | (y <= 0) | (e <= 0) | ~np.isfinite(y) | ~np.isfinite(e))
    if bad.size:
        k = int(bad[0])
        raise ConfigError(
            f"arrhenius_fit: point {k} (T = {t[k]:g} K, value {y[k]:g} ± {e[k]:g}) is not usable: "
            "temperature, value and error must be positive; drop it or run that temperature longer"
        )
    return t, y, e


def arrhenius_from_results(
    results: Sequence[Any],
    *,
    method: str = "einstein_helfand",
    target_temperature_K: float = 300.0,
) -> ArrheniusResult:
    """Arrhenius fit of the conductivity from several :class:`TransportResult` objects.

    Parameters
    ----------
    results
        One :class:`~alearn.protocols.TransportResult` (or its ``to_dict()``
        / JSON content) per temperature.
    method
        ``"einstein_helfand"``, ``"green_kubo"``, ``"nernst_einstein"``, or
        ``"D:<species>"`` for a diffusion coefficient (cm²/s).
    target_temperature_K
        Extrapolation temperature in K.
    """
    dicts = [r if isinstance(r, dict) else r.to_dict() for r in results]
    temps = [d["temperature_K"] for d in dicts]
    if method.startswith("D:"):
        species = method[2:]
        est = [_pick(d, ("diffusion", species, "D_cm2_s"), method) for d in dicts]
        return arrhenius_fit(temps, [x["value"] for x in est], [x["stderr"] for x in est],
                             quantity="diffusion", unit="cm²/s",
                             target_temperature_K=target_temperature_K)
    keys = {"einstein_helfand": ("einstein_helfand", "sigma_S_m"),
            "green_kubo": ("green_kubo", "sigma_S_m"),
            "nernst_einstein": ("nernst_einstein_S_m",)}
    if method not in keys:
        raise ConfigError(f"arrhenius_from_results: unknown method {method!r}; use one of "
                          f"{sorted(keys)} or 'D:<species>'")
    est = [_pick(d, keys[method], method) for d in dicts]
    return arrhenius_fit(temps, [x["value"] for x in est], [x["stderr"] for x in est],
                         target_temperature_K=target_temperature_K)


def _pick(d: dict[str, Any], path: tuple[str, ...], method: str) -> dict[str, float]:
    node: Any = d
    for key in path:
        if not isinstance(node, dict) or key not in node or node[key] is None:
            raise ConfigError(f"result from {d.get('source', '?')} has no {method!r} value "
                              f"(missing {'/'.join(path)})")
        node = node[key]
    return node
