"""Maximum-likelihood F(z) and D(z) from bin-to-bin transition counts (Hummer's method).

The coordinate z is cut into n equal bins of width Δz. Diffusion on F(z), D(z)
is modelled by the discretised Smoluchowski rate matrix (Bicout & Szabo, JCP
109, 2325, 1998) with rates between neighbouring bins only::

    R[k+1, k] = D_{k+½}/Δz² · exp(-(f_{k+1} - f_k)/2)      (k -> k+1)
    R[k, k+1] = D_{k+½}/Δz² · exp(+(f_{k+1} - f_k)/2)      (k+1 -> k)

with f = F/kT, so that exp(-f) is stationary (detailed balance) and the end
bins reflect. The propagator over a lag τ is ``P(τ) = exp(R τ)``; the
log-likelihood of observed transitions ``N[j, i]`` (bin i at t, bin j at t + τ)
is ``Σ N[j, i] ln P[j, i]`` (Hummer, New J. Phys. 7, 34, 2005). It is maximised
over ``f`` (one value fixed, F is defined up to a constant) and ``ln D``.

``P`` is computed through the symmetric matrix ``S = p^(-1/2) R p^(1/2)``, whose
off-diagonal elements are ``D_{k+½}/Δz²`` alone, and the gradient exactly from
the eigen-decomposition of S (the Fréchet derivative of the matrix exponential).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.optimize
from scipy.linalg import eigh_tridiagonal
from scipy.special import exprel
from threadpoolctl import threadpool_limits

from alearn.errors import ConfigError

#: Bounds on βF relative to the first bin, keeping unvisited bins finite.
_F_BOUND_KT = 40.0
#: ln D bounds around the starting guess.
_LN_D_SPAN = 12.0


@dataclass(frozen=True)
class TransitionFit:
    """Maximum-likelihood parameters of the rate model.

    Parameters
    ----------
    free_energy_kT
        βF per bin, shape (n,), minimum set to 0.
    diffusion
        D at the n-1 interfaces between bins, in (bin width)²/(lag unit), shape (n-1,).
    log_likelihood
        Maximum of ``Σ N ln P`` (without the prior).
    converged
        Whether the optimiser reported success.
    """

    free_energy_kT: np.ndarray
    diffusion: np.ndarray
    log_likelihood: float
    converged: bool


def transition_counts(bins: np.ndarray, n_bins: int, lag: int) -> np.ndarray:
    """Counts ``N[j, i]`` of transitions from bin i at frame t to bin j at t + lag.

    Parameters
    ----------
    bins
        Bin index per frame and particle, shape (F, M); -1 (or any value outside
        ``[0, n_bins)``) marks frames outside the binned range, which are skipped.
    n_bins
        Number of bins n.
    lag
        Lag in frames (>= 1), every frame used as an origin.

    Returns
    -------
    numpy.ndarray
        Shape (n, n), float.
    """
    if lag < 1 or lag >= bins.shape[0]:
        raise ConfigError(f"lag={lag} frames must lie in [1, {bins.shape[0] - 1}]")
    start, end = bins[:-lag].ravel(), bins[lag:].ravel()
    ok = (start >= 0) & (start < n_bins) & (end >= 0) & (end < n_bins)
    flat = np.bincount(end[ok] * n_bins + start[ok], minlength=n_bins * n_bins)
    return flat.reshape(n_bins, n_bins).astype(float)


def fit_transition_model(counts: np.ndarray, lag: float, *, smoothness: float = 1.0,
                         start: TransitionFit | None = None) -> TransitionFit:
    """Maximum-likelihood βF and D of the rate model for the given transition counts.

    Parameters
    ----------
    counts
        ``N[j, i]`` from :func:`transition_counts`, shape (n, n), n >= 2.
    lag
        The lag τ in the time unit D is wanted in (with D in bin-width²/time).
    smoothness
        Standard deviation of the Gaussian prior on ``ln D_{k+3/2} - ln D_{k+½}``
        (a weak smoothness prior as in Hummer 2005; None-like large values switch it off).
    start
        A previous fit on the same bins and lag to start from (e.g. the whole-data
        fit when fitting blocks); default: βF from the visits, D from the mean
        squared jump.

    Returns
    -------
    TransitionFit
    """
    n = counts.shape[0]
    if counts.shape != (n, n) or n < 2:
        raise ConfigError(f"transition counts must be square with >= 2 bins, got {counts.shape}")
    d0 = _jump_diffusion(counts, lag)
    if start is None:
        visits = counts.sum(axis=0) + counts.sum(axis=1)
        f0 = -np.log(np.maximum(visits, 0.5) / visits.sum())
        x0 = np.concatenate([f0[1:] - f0[0], np.full(n - 1, np.log(d0))])
    else:
        f0 = start.free_energy_kT
        x0 = np.concatenate([f0[1:] - f0[0], np.log(start.diffusion)])
    bounds = ([(-_F_BOUND_KT, _F_BOUND_KT)] * (n - 1)
              + [(np.log(d0) - _LN_D_SPAN, np.log(d0) + _LN_D_SPAN)] * (n - 1))
    scale = max(1.0, counts.sum())

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = _log_posterior(x, counts, lag, smoothness)
        return -value / scale, -grad / scale

    with threadpool_limits(limits=1):  # small matrices: threads only add overhead
        res = scipy.optimize.minimize(objective, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                                      options={"maxiter": 5000, "ftol": 1e-13, "gtol": 1e-9})
    f = np.concatenate([[0.0], res.x[: n - 1]])
    log_lik, _ = _log_likelihood(f, res.x[n - 1:], counts, lag)
    return TransitionFit(f - f.min(), np.exp(res.x[n - 1:]), float(log_lik), bool(res.success))


def _jump_diffusion(counts: np.ndarray, lag: float) -> float:
    n = counts.shape[0]
    jump = np.arange(n)[:, None] - np.arange(n)[None, :]
    msd = float((counts * jump**2).sum() / max(counts.sum(), 1.0))
    return max(msd, 0.05) / (2.0 * lag)


def _log_posterior(x: np.ndarray, counts: np.ndarray, lag: float,
                   smoothness: float) -> tuple[float, np.ndarray]:
    n = counts.shape[0]
    f = np.concatenate([[0.0], x[: n - 1]])
    g = x[n - 1:]
    value, grad_f, grad_g = _log_likelihood_and_gradient(f, g, counts, lag)
    step = np.diff(g)
    value -= 0.5 * np.sum(step**2) / smoothness**2
    prior = np.zeros_like(g)
    prior[:-1] += step / smoothness**2
    prior[1:] -= step / smoothness**2
    return value, np.concatenate([grad_f[1:], grad_g + prior])


def _rates(f: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Interface rates: a = D (off-diagonal of S), up = R[k+1,k], down = R[k,k+1]."""
    a = np.exp(g)
    delta = np.diff(f)
    return a, a * np.exp(-delta / 2), a * np.exp(delta / 2)


def _eigen(f: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues and eigenvectors of the symmetric tridiagonal S."""
    a, up, down = _rates(f, g)
    diag = np.zeros(f.size)
    diag[:-1] -= up
    diag[1:] -= down
    return eigh_tridiagonal(diag, a)


def _log_likelihood(f: np.ndarray, g: np.ndarray, counts: np.ndarray,
                    lag: float) -> tuple[float, np.ndarray]:
    lam, vec = _eigen(f, g)
    expm = (vec * np.exp(lam * lag)) @ vec.T
    safe = np.maximum(expm, 1e-300)
    direct = 0.5 * np.sum(counts * (f[None, :] - f[:, None]))
    return direct + float(np.sum(counts * np.log(safe))), safe


def _log_likelihood_and_gradient(f: np.ndarray, g: np.ndarray, counts: np.ndarray,
                                 lag: float) -> tuple[float, np.ndarray, np.ndarray]:
    lam, vec = _eigen(f, g)
    expm = np.maximum((vec * np.exp(lam * lag)) @ vec.T, 1e-300)
    value = 0.5 * np.sum(counts * (f[None, :] - f[:, None])) + float(np.sum(counts * np.log(expm)))
    top = np.maximum(lam[:, None], lam[None, :])
    phi = lag * np.exp(top * lag) * exprel(-np.abs(lam[:, None] - lam[None, :]) * lag)
    grad_s = vec @ ((vec.T @ (counts / expm) @ vec) * phi) @ vec.T
    a, up, down = _rates(f, g)
    d_diag = np.diag(grad_s)
    grad_g = a * (np.diag(grad_s, 1) + np.diag(grad_s, -1)) - up * d_diag[:-1] - down * d_diag[1:]
    grad_f = 0.5 * (counts.sum(axis=0) - counts.sum(axis=1))
    pair = 0.5 * (up * d_diag[:-1] - down * d_diag[1:])
    grad_f[:-1] -= pair
    grad_f[1:] += pair
    return value, grad_f, grad_g
