"""Labels that are physically absurd: kept with their reason, never trained on.

An oracle can return a perfectly converged label for a structure that no
simulation at the campaign's conditions visits (two atoms pressed together by
an overconfident committee: forces of 150 eV/Å, energies tens of eV above the
start). Trained on with a large forces weight such a label ruins every
member. After each labeling stage every labeled row is checked:

* an atom's reference force above ``labels.max_force_eV_A``, or
* an energy per atom more than ``labels.max_energy_above_min_eV_atom`` above
  the lowest labeled energy per atom of the same system (and electronic state),

and such a row gets status ``excluded`` with its ``reason``. It stays in the
database (``alearn export`` leaves it out; the row shows it in ``ase db``).
"""

from __future__ import annotations

import logging

import numpy as np

from alearn.config import LabelChecksConfig
from alearn.dataset import Dataset

log = logging.getLogger(__name__)


def absurd_reason(energy_above_min_eV_atom: float, max_force_eV_A: float,
                  cfg: LabelChecksConfig) -> str | None:
    """Why a label is absurd (a sentence naming the limit's key), or None."""
    if not (np.isfinite(max_force_eV_A) and max_force_eV_A <= cfg.max_force_eV_A):
        return (f"largest reference force {max_force_eV_A:.1f} eV/Å is above "
                f"labels.max_force_eV_A = {cfg.max_force_eV_A:g}")
    if not (np.isfinite(energy_above_min_eV_atom)
            and energy_above_min_eV_atom <= cfg.max_energy_above_min_eV_atom):
        return (f"energy {energy_above_min_eV_atom:.2f} eV/atom above the system's lowest label "
                f"is above labels.max_energy_above_min_eV_atom = "
                f"{cfg.max_energy_above_min_eV_atom:g}")
    return None


def exclude_absurd_labels(ds: Dataset, cfg: LabelChecksConfig) -> list[int]:
    """Mark labeled rows with absurd labels ``excluded``; returns their ids."""
    rows = ds.rows(status="labeled")
    per_atom = {r.id: r.energy / r.natoms for r in rows}
    lowest: dict[tuple, float] = {}
    for r in rows:  # the lowest finite energy per atom of each system (and state)
        if np.isfinite(per_atom[r.id]):
            key = (r.system, r.get("state"))
            lowest[key] = min(lowest.get(key, np.inf), per_atom[r.id])
    excluded = []
    for r in rows:
        fmax = float(np.linalg.norm(r.forces, axis=1).max())
        above = per_atom[r.id] - lowest.get((r.system, r.get("state")), np.nan)
        reason = absurd_reason(above, fmax, cfg)
        if reason:
            ds.exclude(r.id, reason)
            excluded.append(r.id)
            log.warning("label of row %d (system %s, iteration %d) excluded from training: %s",
                        r.id, r.system, r.iteration, reason)
    return excluded
