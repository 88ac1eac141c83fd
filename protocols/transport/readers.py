"""What the transport estimators read from a trajectory.

Drift-corrected positions and velocities, per-atom charges and the
temperature, each checked with an error message that names the trajectory.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from alearn.errors import ConfigError

from ..trajectory import MDTrajectory

log = logging.getLogger(__name__)


def analysis_positions(traj: MDTrajectory, remove_com_drift: bool) -> np.ndarray:
    """Unwrapped positions in Å, shape (F, N, 3), optionally in the centre-of-mass frame.

    The centre-of-mass displacement ``R(t) - R(0)`` (mass weighted, all atoms)
    is subtracted from every atom when ``remove_com_drift`` is set.
    """
    pos = traj.positions_A
    if not remove_com_drift:
        return pos
    m = traj.masses_amu
    com = np.einsum("n,fnk->fk", m, pos) / m.sum()
    return pos - (com - com[0])[:, None, :]


def analysis_velocities(traj: MDTrajectory, remove_com_drift: bool) -> np.ndarray:
    """Velocities in Å/fs, shape (F, N, 3), optionally minus the centre-of-mass velocity."""
    if traj.velocities_A_fs is None:
        raise ConfigError(
            f"{traj.source}: the trajectory has no velocities (momenta), which Green–Kubo needs; "
            "write momenta with the frames (run_md does) or use the Einstein–Helfand result"
        )
    vel = traj.velocities_A_fs
    if not remove_com_drift:
        return vel
    m = traj.masses_amu
    return vel - (np.einsum("n,fnk->fk", m, vel) / m.sum())[:, None, :]


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
