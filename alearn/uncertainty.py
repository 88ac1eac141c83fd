"""Committee uncertainty of a structure and the trust window.

Metrics (all from a committee's results, see
:class:`alearn.calculators.CommitteeCalculator`):

``max_force_std``
    max over atoms of sqrt(mean_k |F_ik - F̄_i|²) (eV/Å): DP-GEN's model deviation.
``mean_force_std``
    the same, averaged over atoms (eV/Å).
``energy_std_per_atom``
    committee std of the energy divided by the number of atoms (eV/atom).
``max_rel_force_std``
    max over atoms of force std / (|F̄_i| + ε) (dimensionless).

With a calibrated committee (``forces_err_est`` and ``energy_err_est`` in its
results, see :mod:`alearn.calibration`) each metric has a calibrated
counterpart in expected-error units: ``max_force_err_est``,
``mean_force_err_est`` (eV/Å), ``energy_err_est_per_atom`` (eV/atom) and
``max_rel_force_err_est`` (dimensionless), the same formulas applied to the
expected errors.

A frame whose metric is below ``lo`` is trusted, in ``[lo, hi)`` a candidate
for labeling, and at or above ``hi`` unphysical (not labeled; a walker that
reaches it is stopped). With ``uncertainty.units: calibrated`` the calibrated
counterpart is compared with ``lo``/``hi`` (the raw metric where a frame has
none: its committee was trained before calibrations were written).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import IntEnum

import numpy as np
from ase import Atoms
from ase.data import covalent_radii

from alearn.config import UncertaintyConfig


class Zone(IntEnum):
    """Where a frame falls in the trust window."""

    TRUSTED = 0
    CANDIDATE = 1
    REJECTED = 2


#: raw metric → its calibrated counterpart (expected-error units)
CALIBRATED = {"max_force_std": "max_force_err_est", "mean_force_std": "mean_force_err_est",
              "energy_std_per_atom": "energy_err_est_per_atom",
              "max_rel_force_std": "max_rel_force_err_est"}


@dataclass(frozen=True)
class Uncertainty:
    """All metrics of one frame (units in the module docstring); the calibrated
    ones are None when the committee has no calibration."""

    max_force_std: float
    mean_force_std: float
    energy_std_per_atom: float
    max_rel_force_std: float
    max_force_err_est: float | None = None
    mean_force_err_est: float | None = None
    energy_err_est_per_atom: float | None = None
    max_rel_force_err_est: float | None = None

    def as_info(self) -> dict[str, float]:
        """The metrics (those that are not None) as ``unc_<name>`` keys for ``Atoms.info``."""
        return {f"unc_{k}": v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_info(cls, info: dict) -> Uncertainty:
        return cls(**{k: float(info[f"unc_{k}"]) for k in cls.__dataclass_fields__
                      if f"unc_{k}" in info})


def from_results(results: dict, n_atoms: int, *, relative_eps: float = 1.0) -> Uncertainty:
    """Uncertainty from a committee calculator's ``results``.

    Parameters
    ----------
    results
        Must hold ``forces`` (N, 3), ``forces_std`` (N,) and ``energy_std``; the
        calibrated metrics come from ``forces_err_est`` (N,) and ``energy_err_est``
        when both are there.
    n_atoms
        Number of atoms N.
    relative_eps
        ε (eV/Å) of the relative metric.
    """
    fnorm = np.linalg.norm(np.asarray(results["forces"], dtype=float), axis=1)
    raw = _force_metrics(np.asarray(results["forces_std"], dtype=float), fnorm, relative_eps)
    metrics = {"max_force_std": raw[0], "mean_force_std": raw[1],
               "energy_std_per_atom": float(results["energy_std"]) / n_atoms,
               "max_rel_force_std": raw[2]}
    if "forces_err_est" in results and "energy_err_est" in results:
        est = _force_metrics(np.asarray(results["forces_err_est"], dtype=float), fnorm,
                             relative_eps)
        metrics.update(max_force_err_est=est[0], mean_force_err_est=est[1],
                       energy_err_est_per_atom=float(results["energy_err_est"]) / n_atoms,
                       max_rel_force_err_est=est[2])
    return Uncertainty(**metrics)


def _force_metrics(per_atom: np.ndarray, fnorm: np.ndarray,
                   eps: float) -> tuple[float, float, float]:
    """Max, mean and max relative (over |F̄|+ε) of per-atom values (N,)."""
    return (float(per_atom.max()), float(per_atom.mean()),
            float((per_atom / (fnorm + eps)).max()))


def metric_name(cfg: UncertaintyConfig) -> str:
    """Name of the metric compared with ``lo``/``hi`` (the calibrated one in calibrated
    units)."""
    return CALIBRATED[cfg.metric] if cfg.units == "calibrated" else cfg.metric


def metric_value(info: dict, cfg: UncertaintyConfig) -> float:
    """The value of a frame's ``info`` compared with ``lo``/``hi``: ``unc_<metric_name>``,
    or the raw ``unc_<metric>`` where the frame has no calibrated value."""
    return float(info.get(f"unc_{metric_name(cfg)}", info[f"unc_{cfg.metric}"]))


def zone(value: float, cfg: UncertaintyConfig) -> Zone:
    """Trust-window zone of a metric value (NaN counts as rejected)."""
    if not np.isfinite(value) or value >= cfg.hi:
        return Zone.REJECTED
    return Zone.TRUSTED if value < cfg.lo else Zone.CANDIDATE


def frame_zone(frame: Atoms, cfg: UncertaintyConfig) -> Zone:
    """Zone of an explored frame: rejected when its walker found it broken."""
    if frame.info.get("broken"):
        return Zone.REJECTED
    return zone(metric_value(frame.info, cfg), cfg)


def broken_structure(atoms: Atoms, cfg: UncertaintyConfig) -> str | None:
    """Why ``atoms`` is unphysical, or None.

    Checks non-finite positions, pairs of atoms closer than ``min_distance_factor``
    times the sum of their covalent radii (``ase.data.covalent_radii``), and
    atoms with no neighbour within ``max_isolation_A`` (flown off). Single atoms
    are never isolated.
    """
    if not np.isfinite(atoms.positions).all():
        return "non-finite positions"
    if len(atoms) < 2:
        return None
    i, j, d = _pairs_within(atoms, cfg.max_isolation_A)
    if len(d):
        floor = cfg.min_distance_factor * (covalent_radii[atoms.numbers[i]]
                                           + covalent_radii[atoms.numbers[j]])
        k = int(np.argmin(d / floor))
        if d[k] < floor[k]:
            a, b = int(i[k]), int(j[k])
            return (f"atoms {a} ({atoms[a].symbol}) and {b} ({atoms[b].symbol}) are "
                    f"{d[k]:.3f} Å apart, closer than {cfg.min_distance_factor:g} × their "
                    f"covalent radii sum = {floor[k]:.3f} Å")
    lonely = np.setdiff1d(np.arange(len(atoms)), i)
    if len(lonely):
        return (f"atom {int(lonely[0])} ({atoms[int(lonely[0])].symbol}) has no neighbour within "
                f"{cfg.max_isolation_A} Å")
    return None


def _pairs_within(atoms: Atoms, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ordered pairs (i, j) closer than ``cutoff`` (Å) and their distances, periodic images
    included (the pairs of ``ase.neighborlist.neighbor_list("ijd", ...)``, found by vesin:
    cheap enough to check every MD step)."""
    import vesin

    box = atoms.cell.array if atoms.pbc.any() else np.zeros((3, 3))
    return vesin.NeighborList(cutoff=cutoff, full_list=True).compute(
        atoms.positions, box, [bool(p) for p in atoms.pbc], "ijd")
