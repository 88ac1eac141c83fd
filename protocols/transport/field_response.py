"""Steady-state response to a uniform electric field: current, conductivity, linear response.

In the steady state of a field-driven run the charge current density along
the field is

    ``J = 1/(V Δt) Σ_i q_i [r_i(t0 + Δt) - r_i(t0)]·Ê``

(from unwrapped positions, so no velocity sampling is needed) and the
conductivity is ``σ(E) = <J> / |E|``. In linear response σ does not depend on
|E| and equals the equilibrium (Einstein–Helfand / Green–Kubo) value;
:func:`linear_response` reports up to which field that holds. The runs
themselves are in :mod:`.nemd`.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from alearn.errors import ConfigError
from alearn.state import write_json_atomic

from ..results import Estimate, format_table, to_jsonable
from ..trajectory import MDTrajectory
from ..units import (
    AMU_A2_PER_FS2_TO_EV,
    CURRENT_DENSITY_TO_A_PER_M2,
    KB_EV_PER_K,
    S_PER_M_TO_MS_PER_CM,
    V_PER_A_TO_V_PER_M,
)
from .correlations import block_slices
from .fitting import FitWindow
from .readers import atom_charges

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NEMDOptions:
    """Analysis settings of field-driven runs.

    Parameters
    ----------
    discard_fs
        Time discarded at the start of each run before the steady state, fs.
    n_blocks
        Blocks of the steady-state part for error bars (>= 2).
    n_sigma
        A field breaks linear response when its σ differs from the mean σ
        of the lower fields by more than ``n_sigma`` combined standard errors.
    """

    discard_fs: float = 0.0
    n_blocks: int = 5
    n_sigma: float = 2.0

    def __post_init__(self) -> None:
        if self.discard_fs < 0 or self.n_blocks < 2 or self.n_sigma <= 0:
            raise ConfigError(f"NEMDOptions: discard_fs={self.discard_fs} must be >= 0, "
                              f"n_blocks={self.n_blocks} >= 2 and n_sigma={self.n_sigma} > 0")


@dataclass(frozen=True)
class FieldResponse:
    """Steady-state response to one field.

    Parameters
    ----------
    field_V_A
        Field vector in V/Å, shape (3,).
    current_density_A_m2
        Charge current density along the field in A/m² (mean over blocks ± stderr).
    sigma_S_m
        ``J / |E|`` in S/m.
    drift_A_fs
        Mean velocity along the field of each species, Å/fs.
    temperature_K
        Mean kinetic temperature of the velocities relative to each
        species' drift (checks Joule heating), or None without velocities.
    window
        Analysed time range (from the first frame), fs.
    source
        Trajectory analysed.
    """

    field_V_A: np.ndarray
    current_density_A_m2: Estimate
    sigma_S_m: Estimate
    drift_A_fs: dict[str, Estimate]
    temperature_K: float | None
    window: FitWindow
    source: str

    @property
    def field_strength_V_A(self) -> float:
        """|E| in V/Å."""
        return float(np.linalg.norm(self.field_V_A))

    @property
    def sigma_mS_cm(self) -> Estimate:
        """σ in mS/cm."""
        return self.sigma_S_m.scaled(S_PER_M_TO_MS_PER_CM)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"field_V_A": self.field_V_A, "field_strength_V_A": self.field_strength_V_A,
                "current_density_A_m2": self.current_density_A_m2.to_dict(),
                "sigma_S_m": self.sigma_S_m.to_dict(), "sigma_mS_cm": self.sigma_mS_cm.to_dict(),
                "drift_A_fs": {s: e.to_dict() for s, e in self.drift_A_fs.items()},
                "temperature_K": self.temperature_K, "window_fs": self.window.to_dict(),
                "source": self.source}


def field_response(
    traj: MDTrajectory,
    charges: Mapping[str, float],
    field_V_A: Sequence[float],
    *,
    options: NEMDOptions | None = None,
) -> FieldResponse:
    """Steady-state current density, conductivity and drift velocities under a field.

    Parameters
    ----------
    traj
        Unwrapped trajectory of a field-driven run (any source).
    charges
        Charge per species in e (the ones the field acted on).
    field_V_A
        Field vector in V/Å, shape (3,).
    options
        Discarded transient and blocks (defaults: ``NEMDOptions()``).

    Returns
    -------
    FieldResponse
    """
    options = options or NEMDOptions()
    field = np.asarray(field_V_A, dtype=float)
    strength = float(np.linalg.norm(field))
    if field.shape != (3,) or strength == 0.0:
        raise ConfigError(f"field_response: field_V_A={field_V_A!r} must be a non-zero 3-vector")
    steady = traj.time_slice(options.discard_fs)
    q = atom_charges(steady, charges)
    along = steady.positions_A @ (field / strength)  # (F, N), Å
    blocks = block_slices(steady.n_frames, options.n_blocks)
    dt = np.array([steady.time_fs[b.stop - 1] - steady.time_fs[b.start] for b in blocks])
    step = np.stack([along[b.stop - 1] - along[b.start] for b in blocks]) / dt[:, None]  # Å/fs
    current = step @ q / steady.volume_A3 * CURRENT_DENSITY_TO_A_PER_M2  # A/m² per block
    sigma = current / (strength * V_PER_A_TO_V_PER_M)
    drift = {s: Estimate.from_blocks(step[:, steady.indices(s)].mean(axis=1))
             for s in steady.species}
    window = FitWindow(float(steady.time_fs[0] - traj.time_fs[0]),
                       float(steady.time_fs[blocks[-1].stop - 1] - traj.time_fs[0]))
    return FieldResponse(field, Estimate.from_blocks(current), Estimate.from_blocks(sigma), drift,
                         peculiar_temperature(steady), window, traj.source)


def peculiar_temperature(traj: MDTrajectory) -> float | None:
    """Mean kinetic temperature (K) of velocities relative to each species' mean velocity."""
    if traj.velocities_A_fs is None:
        return None
    m = traj.masses_amu
    kinetic = 0.0
    for s in traj.species:
        idx = traj.indices(s)
        v = traj.velocities_A_fs[:, idx]
        drift = np.einsum("n,fnk->fk", m[idx], v) / m[idx].sum()
        kinetic += 0.5 * np.einsum("n,fnk->f", m[idx], (v - drift[:, None]) ** 2).mean()
    dof = 3 * traj.n_atoms - 3 * len(traj.species)
    return float(2.0 * kinetic * AMU_A2_PER_FS2_TO_EV / (dof * KB_EV_PER_K))


@dataclass(frozen=True)
class NEMDResult:
    """σ at several fields and where linear response holds.

    Parameters
    ----------
    responses
        One :class:`FieldResponse` per field, by increasing |E|.
    sigma_linear_S_m
        Inverse-variance weighted mean σ over the fields in linear response, S/m.
    max_linear_field_V_A
        Largest |E| still consistent with the lower-field σ, V/Å.
    breakdown_field_V_A
        Lowest |E| whose σ departs from the lower-field mean by more than
        ``n_sigma`` standard errors, or None if no departure was seen.
    n_sigma
        Threshold used.
    """

    responses: tuple[FieldResponse, ...]
    sigma_linear_S_m: Estimate
    max_linear_field_V_A: float
    breakdown_field_V_A: float | None
    n_sigma: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"responses": [r.to_dict() for r in self.responses],
                "sigma_linear_S_m": self.sigma_linear_S_m.to_dict(),
                "max_linear_field_V_A": self.max_linear_field_V_A,
                "breakdown_field_V_A": self.breakdown_field_V_A, "n_sigma": self.n_sigma}

    def to_json(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_dict` to ``path`` atomically."""
        write_json_atomic(path, to_jsonable(self.to_dict()))

    def __str__(self) -> str:
        rows = [[f"{r.field_strength_V_A:.4g}", f"{r.current_density_A_m2}",
                 f"{r.sigma_S_m}", f"{r.sigma_mS_cm}",
                 "-" if r.temperature_K is None else f"{r.temperature_K:.1f}",
                 "yes" if r.field_strength_V_A <= self.max_linear_field_V_A else "NO"]
                for r in self.responses]
        tail = ("no breakdown of linear response observed" if self.breakdown_field_V_A is None
                else f"linear response breaks down at |E| = {self.breakdown_field_V_A:g} V/Å")
        return (format_table(rows, ["|E| (V/Å)", "J (A/m²)", "σ (S/m)", "σ (mS/cm)",
                                    "T_peculiar (K)", "linear"])
                + f"\nσ (linear regime) = {self.sigma_linear_S_m:.4g} S/m; {tail} "
                  f"(threshold {self.n_sigma:g} standard errors)")


def linear_response(responses: Sequence[FieldResponse], *, n_sigma: float = 2.0) -> NEMDResult:
    """Find the fields where σ(E) is independent of E.

    Walking up from the weakest field, each σ is compared with the
    inverse-variance mean of the weaker fields accepted so far; the first one
    that differs by more than ``n_sigma`` combined standard errors marks the
    breakdown, and it and all stronger fields are excluded.

    Parameters
    ----------
    responses
        Field responses (any order).
    n_sigma
        Threshold in standard errors.
    """
    if not responses:
        raise ConfigError("linear_response: no field responses given")
    ordered = tuple(sorted(responses, key=lambda r: r.field_strength_V_A))
    accepted = [ordered[0]]
    breakdown = None
    for resp in ordered[1:]:
        mean = _weighted_mean([r.sigma_S_m for r in accepted])
        z = abs(resp.sigma_S_m.value - mean.value) / math.hypot(resp.sigma_S_m.stderr, mean.stderr)
        if z > n_sigma:
            breakdown = resp.field_strength_V_A
            log.info("linear response breaks down at %.4g V/Å (%.1f standard errors)",
                     breakdown, z)
            break
        accepted.append(resp)
    return NEMDResult(ordered, _weighted_mean([r.sigma_S_m for r in accepted]),
                      accepted[-1].field_strength_V_A, breakdown, n_sigma)


def _weighted_mean(estimates: Sequence[Estimate]) -> Estimate:
    w = np.array([1.0 / max(e.stderr, 1e-300) ** 2 for e in estimates])
    v = np.array([e.value for e in estimates])
    return Estimate(float(np.sum(w * v) / w.sum()), float(1.0 / math.sqrt(w.sum())), 0)
