"""Umbrella sampling runs: one restrained MD per window, resumable, spread over MPI ranks.

Window k runs :func:`alearn.protocols.run_md` with a
:class:`~alearn.protocols.free_energy.restraint.HarmonicRestraint` centred at
``centers[k]`` and writes ``workdir/window_<k>.traj``; calling
:func:`run_umbrella` again continues every unfinished window (a killed run is
finished by re-running the same call). Windows are dealt round-robin over the
ranks of an ``mpirun`` (:class:`alearn.parallel.Workers`); each rank runs its
windows one after the other. ``workdir/umbrella.json`` records the windows, and
a rerun with other windows is refused. The analysis is :func:`umbrella_profile`
(:mod:`.mbar`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator

from alearn.errors import ConfigError
from alearn.parallel import Workers
from alearn.state import write_json_atomic

from ..md import MDOptions, MDRun, run_md
from .collective_variables import CollectiveVariable
from .restraint import HarmonicRestraint

log = logging.getLogger(__name__)

MANIFEST = "umbrella.json"


@dataclass(frozen=True)
class UmbrellaWindows:
    """Restraint centres and force constant.

    Parameters
    ----------
    centers
        Centres s0 of the windows (CV unit).
    spring
        Force constant k in eV per (CV unit)², the same for all windows. Neighbouring
        windows overlap when the spacing Δs is about the width sqrt(kT/k) of a window
        or less: k ≈ kT/Δs² (0.65 eV/Å² for Δs = 0.2 Å at 300 K). Where F is steeper
        than k Δs per unit, a window slides off its centre; raise k there.
    """

    centers: tuple[float, ...]
    spring: float

    def __post_init__(self) -> None:
        if len(self.centers) < 2 or self.spring <= 0:
            raise ConfigError(f"UmbrellaWindows: need >= 2 centres and spring > 0, got "
                              f"{len(self.centers)} centres, spring={self.spring}")

    @classmethod
    def evenly_spaced(cls, low: float, high: float, n: int, spring: float) -> UmbrellaWindows:
        """``n`` centres from ``low`` to ``high`` inclusive."""
        return cls(tuple(float(c) for c in np.linspace(low, high, n)), float(spring))

    def to_dict(self) -> dict[str, Any]:
        return {"centers": list(self.centers), "spring": self.spring}


def window_path(workdir: str | os.PathLike, k: int) -> Path:
    """Trajectory file of window ``k``."""
    return Path(workdir) / f"window_{k:03d}.traj"


def displaced_starts(atoms: Atoms, cv: CollectiveVariable,
                     windows: UmbrellaWindows) -> list[Atoms]:
    """One start per window: ``atoms`` with the CV moved to the window's centre.

    Works for CVs with a ``displaced(atoms, value)`` method (heights above a plane,
    distances). Check the starts for overlaps (e.g. an ion pushed into a water
    molecule); equilibrate and discard the first part of each window.
    """
    if not hasattr(cv, "displaced"):
        raise ConfigError(f"{type(cv).__name__} cannot place atoms at a CV value; give one "
                          "start structure per window (starts=...)")
    return [cv.displaced(atoms, c) for c in windows.centers]


def run_umbrella(
    starts: Atoms | Sequence[Atoms],
    calculator: BaseCalculator,
    cv: CollectiveVariable,
    workdir: str | os.PathLike,
    *,
    windows: UmbrellaWindows,
    md_options: MDOptions,
    workers: Workers | None = None,
) -> list[MDRun]:
    """Run (or resume) the restrained MD of every window.

    Parameters
    ----------
    starts
        One structure for all windows, or one per window (see :func:`displaced_starts`).
    calculator
        The physical calculator; each window wraps it in a :class:`HarmonicRestraint`.
        Under MPI every rank needs its own (load it on every rank).
    cv
        The collective variable.
    workdir
        Folder of the window trajectories and ``umbrella.json``.
    windows
        Centres and force constant.
    md_options
        MD settings shared by the windows (``n_steps`` per window); window k uses
        seed ``md_options.seed + 1000 (k + 1)``. Use a thermostat that samples the
        canonical ensemble (``"langevin"`` or ``"bussi"``).
    workers
        MPI ranks to spread the windows over (default: from the environment,
        serial without ``mpirun``).

    Returns
    -------
    list of MDRun
        One per window, in window order, on every rank.
    """
    atoms_list = [starts] * len(windows.centers) if isinstance(starts, Atoms) else list(starts)
    if len(atoms_list) != len(windows.centers):
        raise ConfigError(f"run_umbrella: {len(atoms_list)} start structures for "
                          f"{len(windows.centers)} windows; give one, or one per window")
    workers = workers or Workers.from_environment()
    workdir = Path(workdir)
    if workers.is_writer:
        _check_manifest(workdir, windows, cv, md_options)
    workers.barrier()

    def one(k: int) -> MDRun:
        restrained = HarmonicRestraint(calculator, cv, windows.centers[k], windows.spring)
        opts = replace(md_options, seed=md_options.seed + 1000 * (k + 1))
        info = {"umbrella_window": k, "umbrella_center": windows.centers[k],
                "umbrella_spring": windows.spring}
        run = run_md(atoms_list[k], restrained, window_path(workdir, k), options=opts,
                     extra_info=info)
        log.info("umbrella window %d (s0 = %g): %d frames", k, windows.centers[k], run.n_frames)
        return run

    return workers.map(one, list(range(len(windows.centers))), desc="umbrella windows")


def _check_manifest(workdir: Path, windows: UmbrellaWindows, cv: CollectiveVariable,
                    md_options: MDOptions) -> None:
    path = workdir / MANIFEST
    record = {"windows": windows.to_dict(), "cv": cv.label,
              "temperature_K": md_options.temperature_K}
    if path.exists():
        old = json.loads(path.read_text())
        if old != record:
            raise ConfigError(f"{path}: this folder holds umbrella windows {old}, not {record}; "
                              "use the same windows and CV to resume, or a new folder")
        return
    workdir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, record)


def read_windows(workdir: str | os.PathLike) -> UmbrellaWindows:
    """The windows recorded in ``workdir/umbrella.json``."""
    path = Path(workdir) / MANIFEST
    if not path.exists():
        raise ConfigError(f"{path} does not exist; run run_umbrella first")
    data = json.loads(path.read_text())["windows"]
    return UmbrellaWindows(tuple(data["centers"]), float(data["spring"]))
