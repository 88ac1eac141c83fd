"""Non-equilibrium MD under a uniform electric field: the runs.

The field adds ``q_i E`` to the forces
(:class:`~alearn.calculators.efield.ElectricFieldCalculator`); each run is
analysed by :func:`~alearn.protocols.transport.field_response.field_response`
and the fields together by
:func:`~alearn.protocols.transport.field_response.linear_response`.

The default thermostat for field-driven runs is
:class:`~alearn.protocols.thermostats.PeculiarBussi`, which thermostats the
velocities relative to each species' drift and so removes the Joule heat
without damping the current.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator

from alearn.calculators.efield import ElectricFieldCalculator
from alearn.errors import ConfigError

from ..md import MDOptions, MDRun, run_md
from ..trajectory import load_trajectory
from .field_response import NEMDOptions, NEMDResult, field_response, linear_response

log = logging.getLogger(__name__)


def run_nemd(
    atoms: Atoms,
    calculator: BaseCalculator,
    charges: Mapping[str, float],
    path: str | os.PathLike,
    *,
    field_V_A: Sequence[float],
    options: MDOptions,
) -> MDRun:
    """Run (or resume) MD with the field force ``q E`` added to ``calculator``'s forces.

    Parameters
    ----------
    atoms
        Starting structure (ideally equilibrated without field).
    calculator
        Interatomic calculator; it is wrapped, not modified.
    charges
        Charge per species in e.
    path
        Trajectory file (resumed if it has frames).
    field_V_A
        Field vector in V/Å.
    options
        MD settings; use ``thermostat="peculiar_bussi"`` (a warning is logged
        otherwise, since other thermostats damp the drift).
    """
    if options.thermostat != "peculiar_bussi":
        log.warning("run_nemd: thermostat %r acts on the full velocities and damps the field-"
                    "driven drift; use 'peculiar_bussi' unless the friction is physical",
                    options.thermostat)
    field_calc = ElectricFieldCalculator(calculator, dict(charges), field_V_A)
    info = {"field_V_A": [float(x) for x in field_V_A]}
    return run_md(atoms, field_calc, path, options=options, extra_info=info)


def nemd_conductivity(
    atoms: Atoms,
    calculator: BaseCalculator,
    charges: Mapping[str, float],
    workdir: str | os.PathLike,
    *,
    field_strengths_V_A: Sequence[float],
    direction: Sequence[float] = (0.0, 0.0, 1.0),
    md_options: MDOptions,
    options: NEMDOptions | None = None,
) -> NEMDResult:
    """Field-driven runs at several field strengths, their σ, and the linear-response check.

    Each field gets its own resumable trajectory ``workdir/nemd_E<|E|>.traj``
    and its own random stream (seed offset by the field index).

    Parameters
    ----------
    atoms
        Equilibrated starting structure (shared by all fields).
    calculator
        Interatomic calculator.
    charges
        Charge per species in e.
    workdir
        Folder for the trajectories.
    field_strengths_V_A
        Field magnitudes |E| in V/Å (> 0).
    direction
        Field direction (normalised here).
    md_options
        MD settings (``thermostat="peculiar_bussi"`` recommended).
    options
        Analysis settings (defaults: ``NEMDOptions()``).
    """
    options = options or NEMDOptions()
    unit = np.asarray(direction, dtype=float)
    if unit.shape != (3,) or not np.linalg.norm(unit) > 0:
        raise ConfigError(f"nemd_conductivity: direction={direction!r} must be a non-zero 3-vector")
    unit = unit / np.linalg.norm(unit)
    workdir = Path(workdir)
    responses = []
    for k, strength in enumerate(field_strengths_V_A):
        if strength <= 0:
            raise ConfigError(f"nemd_conductivity: field strength {strength} V/Å must be > 0")
        path = workdir / f"nemd_E{strength:.6g}.traj"
        opts = replace(md_options, seed=md_options.seed + 1000 * (k + 1))
        run_nemd(atoms, calculator, charges, path, field_V_A=strength * unit, options=opts)
        responses.append(field_response(load_trajectory(path), charges, strength * unit,
                                        options=options))
    return linear_response(responses, n_sigma=options.n_sigma)
