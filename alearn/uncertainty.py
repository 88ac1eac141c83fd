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

A frame whose metric is below ``lo`` is trusted, in ``[lo, hi)`` a candidate
for labeling, and at or above ``hi`` unphysical (not labeled; a walker that
reaches it is stopped).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import IntEnum

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

from alearn.config import UncertaintyConfig


class Zone(IntEnum):
    """Where a frame falls in the trust window."""

    TRUSTED = 0
    CANDIDATE = 1
    REJECTED = 2


@dataclass(frozen=True)
class Uncertainty:
    """All metrics of one frame (units in the module docstring)."""

    max_force_std: float
    mean_force_std: float
    energy_std_per_atom: float
    max_rel_force_std: float

    def as_info(self) -> dict[str, float]:
        """The metrics as ``unc_<name>`` keys for ``Atoms.info``."""
        return {f"unc_{k}": v for k, v in asdict(self).items()}

    @classmethod
    def from_info(cls, info: dict) -> Uncertainty:
        return cls(**{k: float(info[f"unc_{k}"]) for k in cls.__dataclass_fields__})


def from_results(results: dict, n_atoms: int, *, relative_eps: float = 1.0) -> Uncertainty:
    """Uncertainty from a committee calculator's ``results``.

    Parameters
    ----------
    results
        Must hold ``forces`` (N, 3), ``forces_std`` (N,) and ``energy_std``.
    n_atoms
        Number of atoms N.
    relative_eps
        ε (eV/Å) of the relative metric.
    """
    fstd = np.asarray(results["forces_std"], dtype=float)
    fnorm = np.linalg.norm(np.asarray(results["forces"], dtype=float), axis=1)
    return Uncertainty(
        max_force_std=float(fstd.max()),
        mean_force_std=float(fstd.mean()),
        energy_std_per_atom=float(results["energy_std"]) / n_atoms,
        max_rel_force_std=float((fstd / (fnorm + relative_eps)).max()),
    )


def zone(value: float, cfg: UncertaintyConfig) -> Zone:
    """Trust-window zone of a metric value (NaN counts as rejected)."""
    if not np.isfinite(value) or value >= cfg.hi:
        return Zone.REJECTED
    return Zone.TRUSTED if value < cfg.lo else Zone.CANDIDATE


def frame_zone(frame: Atoms, cfg: UncertaintyConfig) -> Zone:
    """Zone of an explored frame: rejected when its walker found it broken."""
    if frame.info.get("broken"):
        return Zone.REJECTED
    return zone(frame.info[f"unc_{cfg.metric}"], cfg)


def broken_structure(atoms: Atoms, cfg: UncertaintyConfig) -> str | None:
    """Why ``atoms`` is unphysical, or None.

    Checks non-finite positions, atoms closer than ``min_distance_A``, and atoms
    with no neighbour within ``max_isolation_A`` (flown off). Single atoms are
    never isolated.
    """
    if not np.isfinite(atoms.positions).all():
        return "non-finite positions"
    if len(atoms) < 2:
        return None
    i, d = neighbor_list("id", atoms, cfg.max_isolation_A)
    if len(d) and d.min() < cfg.min_distance_A:
        return f"atoms closer than {cfg.min_distance_A} Å (min {d.min():.3f} Å)"
    lonely = np.setdiff1d(np.arange(len(atoms)), i)
    if len(lonely):
        return (f"atom {int(lonely[0])} ({atoms[int(lonely[0])].symbol}) has no neighbour within "
                f"{cfg.max_isolation_A} Å")
    return None
