"""A 1-D Smoluchowski (Fokker–Planck) model of transport across an interface from F(z), D(z).

For a particle diffusing along z with free energy F(z) and diffusion coefficient
D(z) (β = 1/kT), between reflecting ends L < U of the sampled range:

* **mean first-passage time** from x0 to a target b > x0 (reflecting at L)::

      τ(x0 → b) = ∫_{x0}^{b} dy e^{βF(y)}/D(y) ∫_{L}^{y} dz e^{-βF(z)}

  (mirrored for b < x0, reflecting at U);
* **resistance** of a region [a, b] to transport, ``R = ∫_a^b e^{βF(z)}/D(z) dz``
  (fs/Å; reported in s/m, 1 fs/Å = 10⁻⁵ s/m), with F = 0 in the bulk reference
  region; the bulk alone would give ``(b - a)/D_bulk``;
* **steady-state flux** under concentrations c_a, c_b held at a and b::

      J = (c_a e^{βF(a)} - c_b e^{βF(b)}) / R

* **transition rate** ν_AB, the number per unit time of equilibrium transitions
  of one particle from z ≤ a to z ≥ b, ``ν_AB = 1/(Z R)``, ``Z = ∫_L^U e^{-βF}``
  (the same R); transitions alternate, so both directions together happen at
  ``2 ν_AB``, which is what :meth:`SmoluchowskiModel.transition_rate_per_ns` returns
  and :func:`~.passages.transition_rate` counts in MD.

Error bars: when both profiles carry block profiles (histogram F, transition-matrix
D from the same blocks) every number is recomputed per block; otherwise the bins'
standard errors are sampled as independent Gaussians (which ignores correlations
between bins).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.integrate import cumulative_trapezoid, trapezoid

from alearn.errors import ConfigError

from ..results import Estimate
from ..transport.local_diffusion import DiffusionProfile
from .profiles import FreeEnergyProfile

#: 1 fs/Å in s/m.
FS_PER_A_TO_S_PER_M = 1e-15 / 1e-10
_GRID_POINTS = 4001
_GAUSSIAN_SAMPLES = 200


@dataclass(frozen=True)
class SmoluchowskiModel:
    """F(z) and D(z) on a common z range, and the numbers a continuum model needs.

    Parameters
    ----------
    free_energy
        F(z) (bin centres; linear interpolation, constant up to the range ends).
    diffusion
        D⊥(z) (linear interpolation of ln D, constant beyond its ends).
    z_range_A
        (L, U): the reflecting ends; default: the sampled bins of ``free_energy``
        (outer bin edges).
    """

    free_energy: FreeEnergyProfile
    diffusion: DiffusionProfile
    z_range_A: tuple[float, float] | None = None

    @property
    def domain(self) -> tuple[float, float]:
        """(L, U) in Å."""
        if self.z_range_A is not None:
            return self.z_range_A
        ok = np.flatnonzero(np.isfinite(self.free_energy.F_eV))
        edges = self.free_energy.bin_edges
        return float(edges[ok[0]]), float(edges[ok[-1] + 1])

    def mfpt_fs(self, start_A: float, target_A: float) -> Estimate:
        """Mean first-passage time from ``start_A`` to ``target_A`` in fs."""
        self._check_inside(start_A, target_A)
        return self._estimate(lambda z, bf, d: _mfpt(z, bf, d, start_A, target_A))

    def resistance_s_m(self, a_A: float, b_A: float) -> Estimate:
        """``∫_a^b e^{βF}/D dz`` in s/m (F as given: shift it to 0 in the bulk first)."""
        self._check_inside(a_A, b_A)
        lo, hi = sorted((a_A, b_A))
        return self._estimate(lambda z, bf, d: _integral(z, np.exp(bf) / d, lo, hi)
                              * FS_PER_A_TO_S_PER_M)

    def transition_rate_per_ns(self, a_A: float, b_A: float) -> Estimate:
        """Equilibrium transitions per ns of one particle between z ≤ a and z ≥ b (either way)."""
        self._check_inside(a_A, b_A)
        lo, hi = sorted((a_A, b_A))

        def rate(z, bf, d):
            weight = np.exp(-(bf - bf.min()))
            resistance = _integral(z, 1.0 / (weight * d), lo, hi)
            return 2e6 / (trapezoid(weight, z) * resistance)  # both directions, per ns

        return self._estimate(rate)

    def steady_state_flux(self, a_A: float, b_A: float, c_a_mol_L: float,
                          c_b_mol_L: float) -> Estimate:
        """Flux from a to b in mol/(m² s) with concentrations held at a and b (mol/L)."""
        self._check_inside(a_A, b_A)

        def flux(z, bf, d):
            lo, hi = sorted((a_A, b_A))
            resistance = _integral(z, np.exp(bf) / d, lo, hi) * FS_PER_A_TO_S_PER_M
            drive = (c_a_mol_L * np.exp(np.interp(a_A, z, bf))
                     - c_b_mol_L * np.exp(np.interp(b_A, z, bf))) * 1000.0  # mol/m³
            return drive / resistance * (1.0 if b_A >= a_A else -1.0)

        return self._estimate(flux)

    def _check_inside(self, *points: float) -> None:
        lo, hi = self.domain
        bad = [p for p in points if not lo <= p <= hi]
        if bad:
            raise ConfigError(f"SmoluchowskiModel: points {bad} Å lie outside the model's range "
                              f"[{lo:.4g}, {hi:.4g}] Å (the sampled bins)")

    def _estimate(self, number: Callable[[np.ndarray, np.ndarray, np.ndarray], float]) -> Estimate:
        z = np.linspace(*self.domain, _GRID_POINTS)
        value = float(number(z, *self._on_grid(z, self.free_energy.F_eV,
                                               self.diffusion.D_A2_fs)))
        usable = [(f, d) for f, d in self._replicas()  # a block may miss the bulk range
                  if np.isfinite(f).sum() >= 2 and (np.isfinite(d) & (d > 0)).sum() >= 1]
        samples = [float(number(z, *self._on_grid(z, f, d))) for f, d in usable]
        if len(samples) < 2:
            return Estimate(value, float("nan"), 0)
        spread = float(np.std(samples, ddof=1))
        if self._blocked():
            return Estimate(value, spread / np.sqrt(len(samples)), len(samples))
        return Estimate(value, spread, 0)

    def _on_grid(self, z: np.ndarray, F_eV: np.ndarray,
                 D_A2_fs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        f_ok = np.isfinite(F_eV)
        beta_f = np.interp(z, self.free_energy.centers[f_ok], F_eV[f_ok]) / self.free_energy.kT_eV
        d_ok = np.isfinite(D_A2_fs) & (D_A2_fs > 0)
        d = np.exp(np.interp(z, self.diffusion.z_A[d_ok], np.log(D_A2_fs[d_ok])))
        return beta_f, d

    def _blocked(self) -> bool:
        fb, db = self.free_energy.blocks_eV, self.diffusion.blocks_A2_fs
        return fb is not None and db is not None and fb.shape[0] == db.shape[0]

    def _replicas(self) -> list[tuple[np.ndarray, np.ndarray]]:
        if self._blocked():
            return list(zip(self.free_energy.blocks_eV, self.diffusion.blocks_A2_fs))
        rng = np.random.default_rng(0)
        f, df = self.free_energy.F_eV, np.nan_to_num(self.free_energy.stderr_eV)
        d, dd = self.diffusion.D_A2_fs, np.nan_to_num(self.diffusion.stderr_A2_fs)
        return [(f + df * rng.standard_normal(f.shape),
                 np.abs(d + dd * rng.standard_normal(d.shape)))
                for _ in range(_GAUSSIAN_SAMPLES)]


def _integral(z: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    cum = cumulative_trapezoid(y, z, initial=0.0)
    return float(np.interp(hi, z, cum) - np.interp(lo, z, cum))


def _mfpt(z: np.ndarray, beta_f: np.ndarray, d: np.ndarray, start: float, target: float) -> float:
    if target == start:
        return 0.0
    shift = beta_f.min()
    boltz = np.exp(-(beta_f - shift))
    if target > start:
        inner = cumulative_trapezoid(boltz, z, initial=0.0)  # ∫_L^y
    else:
        inner = trapezoid(boltz, z) - cumulative_trapezoid(boltz, z, initial=0.0)  # ∫_y^U
    outer = np.exp(beta_f - shift) / d * inner
    return abs(_integral(z, outer, min(start, target), max(start, target)))
