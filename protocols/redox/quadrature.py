"""Gauss–Legendre quadrature over λ ∈ [0, 1] and the linear-response fit of ⟨ΔE⟩_λ.

ΔA = ∫₀¹ ⟨ΔE⟩_λ dλ ≈ Σ_i w_i ⟨ΔE⟩_{λ_i} with the n Gauss–Legendre nodes λ_i and
weights w_i mapped from [−1, 1] to [0, 1] (Σ w_i = 1): exact for a polynomial
⟨ΔE⟩_λ of degree 2n − 1. The windows are sampled independently, so the
standard error is σ_ΔA = sqrt(Σ w_i² σ_i²).

In linear response (Marcus theory: both states' free-energy curves parabolas
of the same curvature) ⟨ΔE⟩_λ is a straight line. :func:`linear_fit` fits one
by weighted least squares through all windows and tests it with χ²: a
p-value below the chosen level flags the curve as not linear within its
errors. Each window's standard error comes from a few blocks, so its residual in
units of that error follows Student's t; it is mapped to the normal deviate of the
same tail probability before χ² is formed (otherwise a straight line would be
rejected too often).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import chi2, norm
from scipy.stats import t as student_t

from ..results import Estimate

__all__ = ["LinearFit", "gauss_legendre", "integrate", "linear_fit"]


def gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes λ_i (n,) in (0, 1), ascending, and weights w_i (n,) summing to 1.

    Raises
    ------
    ValueError
        For n < 1.
    """
    if n < 1:
        raise ValueError(f"Gauss–Legendre quadrature needs at least one node, got {n}")
    x, w = np.polynomial.legendre.leggauss(n)
    return (x + 1.0) / 2.0, w / 2.0


def integrate(weights: Sequence[float], values: Sequence[Estimate]) -> Estimate:
    """Σ w_i v_i with σ = sqrt(Σ w_i² σ_i²) (independent windows); ``n_blocks`` 0."""
    w = np.asarray(weights, dtype=float)
    v = np.array([e.value for e in values])
    s = np.array([e.stderr for e in values])
    return Estimate(float(w @ v), float(math.sqrt(float((w**2) @ (s**2)))), 0)


@dataclass(frozen=True)
class LinearFit:
    """Weighted straight line ⟨ΔE⟩_λ = intercept + slope·λ through the windows.

    Parameters
    ----------
    intercept_eV, slope_eV
        The line's parameters with standard errors (eV; the slope per unit λ).
    chi2
        Σ z_i², z_i the normal deviate with the tail probability of (v_i − line_i)/σ_i
        under Student's t with n_blocks − 1 degrees of freedom (σ_i is itself estimated).
    dof
        Degrees of freedom, windows − 2.
    p_value
        P(χ² ≥ observed) for ``dof`` degrees of freedom (NaN for dof 0).
    max_deviation_sigma
        Largest |v_i − line_i| / σ_i (before the mapping to normal deviates).
    linear
        False when ``p_value`` is below the level the fit was tested at.
    """

    intercept_eV: Estimate
    slope_eV: Estimate
    chi2: float
    dof: int
    p_value: float
    max_deviation_sigma: float
    linear: bool

    def at(self, lam: np.ndarray | float) -> np.ndarray:
        """The line at ``lam`` (eV)."""
        return self.intercept_eV.value + self.slope_eV.value * np.asarray(lam, dtype=float)

    def to_dict(self) -> dict[str, Any]:
        return {"intercept_eV": self.intercept_eV.to_dict(), "slope_eV": self.slope_eV.to_dict(),
                "chi2": self.chi2, "dof": self.dof, "p_value": self.p_value,
                "max_deviation_sigma": self.max_deviation_sigma, "linear": self.linear}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LinearFit:
        return cls(Estimate.from_dict(d["intercept_eV"]), Estimate.from_dict(d["slope_eV"]),
                   float(d["chi2"]), int(d["dof"]), float(d["p_value"]),
                   float(d["max_deviation_sigma"]), bool(d["linear"]))


def _normal_scores(resid: np.ndarray, n_blocks: Sequence[int]) -> np.ndarray:
    """Residuals in units of standard errors estimated from n blocks follow Student's t
    with n − 1 degrees of freedom, not a normal law: map each to the normal deviate of
    the same tail probability, so that χ² keeps its distribution (errors from 0 blocks,
    propagated ones, are taken as exact)."""
    out = np.array(resid, dtype=float)
    for i, n in enumerate(n_blocks):
        if n >= 2:
            out[i] = math.copysign(float(norm.isf(student_t.sf(abs(out[i]), n - 1))), out[i])
    return out


def linear_fit(lambdas: Sequence[float], values: Sequence[Estimate], *,
               alpha: float = 0.01) -> LinearFit:
    """Weighted least-squares line through (λ_i, ⟨ΔE⟩_i ± σ_i) and its χ² test.

    Parameters
    ----------
    lambdas
        Window positions (n,), at least two distinct.
    values
        ⟨ΔE⟩ at each (eV), with standard errors > 0.
    alpha
        The line is rejected (``linear`` False) when the χ² p-value is below it.
    """
    lam = np.asarray(lambdas, dtype=float)
    v = np.array([e.value for e in values])
    s = np.array([e.stderr for e in values])
    if len(lam) < 2 or np.ptp(lam) == 0:
        raise ValueError("a line needs windows at two or more different λ")
    if np.any(s <= 0) or not np.all(np.isfinite(s)):
        raise ValueError(f"every window needs a positive finite standard error, got {s}")
    design = np.stack([np.ones_like(lam), lam], axis=1) / s[:, None]
    cov = np.linalg.inv(design.T @ design)
    params = cov @ design.T @ (v / s)
    resid = (v - params[0] - params[1] * lam) / s
    chi2_value = float((_normal_scores(resid, [e.n_blocks for e in values]) ** 2).sum())
    dof = len(lam) - 2
    p_value = float(chi2.sf(chi2_value, dof)) if dof > 0 else math.nan
    return LinearFit(Estimate(float(params[0]), float(math.sqrt(cov[0, 0])), 0),
                     Estimate(float(params[1]), float(math.sqrt(cov[1, 1])), 0),
                     chi2_value, dof, p_value, float(np.abs(resid).max()),
                     linear=not (dof > 0 and p_value < alpha))
