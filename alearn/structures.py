"""Start structures and initial data: read and validate before any expensive work.

The bootstrap frames made from the start structures are in :mod:`alearn.bootstrap`.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.io import read

from alearn.config import CampaignConfig, SystemConfig, UncertaintyConfig
from alearn.errors import ConfigError
from alearn.uncertainty import broken_structure


def read_start(cfg: CampaignConfig, system: SystemConfig) -> Atoms:
    """Read and validate the start structure of ``system``.

    Raises
    ------
    ConfigError
        Missing or unreadable file, PBC asked without a cell, overlapping or
        isolated atoms. The message names the system, the file and what to do.
    """
    path = cfg.resolve(system.structure)
    where = f"systems[{system.name}].structure ({path})"
    if not path.is_file():
        raise ConfigError(f"{where}: file not found; paths are relative to the YAML file")
    try:
        atoms = read(str(path), index=system.index, parallel=False)
    except Exception as err:  # noqa: BLE001 - any reader error is a user-facing input error
        raise ConfigError(f"{where}: ASE cannot read frame {system.index}: {err}") from None
    if system.pbc is not None:
        atoms.pbc = system.pbc
    check_structure(atoms, where, cfg.uncertainty)
    return atoms


def check_structure(atoms: Atoms, where: str, ucfg: UncertaintyConfig) -> None:
    """Reject structures that cannot be simulated (raises ConfigError naming ``where``)."""
    if len(atoms) == 0:
        raise ConfigError(f"{where}: the structure has no atoms")
    for axis in np.flatnonzero(atoms.pbc):
        if np.linalg.norm(atoms.cell[axis]) < 1e-6:
            raise ConfigError(f"{where}: periodic along axis {axis} but the cell vector is zero; "
                              "give the file a cell (extxyz Lattice=...) or set pbc: false")
    if atoms.pbc.any() and abs(atoms.cell.volume) < 1e-6 and atoms.pbc.all():
        raise ConfigError(f"{where}: periodic cell with zero volume")
    problem = broken_structure(atoms, ucfg)
    if problem:
        raise ConfigError(f"{where}: {problem}. Fix the structure, or adjust "
                          "uncertainty.min_distance_factor / uncertainty.max_isolation_A")


def read_initial_frames(cfg: CampaignConfig) -> list[Atoms]:
    """The labeled frames of ``initial_data.file``, checked for the energy and force keys."""
    idc = cfg.initial_data
    path = cfg.resolve(idc.file)
    if not path.is_file():
        raise ConfigError(f"initial_data.file ({path}): file not found")
    try:
        frames = read(str(path), index=":", parallel=False)
    except Exception as err:  # noqa: BLE001
        raise ConfigError(f"initial_data.file ({path}): ASE cannot read it: {err}") from None
    for i, atoms in enumerate(frames):
        if idc.energy_key not in atoms.info or idc.forces_key not in atoms.arrays:
            raise ConfigError(
                f"initial_data.file ({path}), frame {i}: missing '{idc.energy_key}' (info) "
                f"or '{idc.forces_key}' (arrays); set initial_data.energy_key/forces_key "
                "to the names used in the file")
    return frames
