"""Shared by the learning-curve benchmarks: MD frames to learn from, test errors, and
labels to a target."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator
from ase.constraints import FixCom
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary, thermalize_momenta


def langevin_frames(start: Atoms, calc: Calculator, *, temperature_K: float, steps: int,
                    interval: int, seed: int, timestep_fs: float = 0.5,
                    friction_per_fs: float = 0.02) -> list[Atoms]:
    """Frames of Langevin MD on ``calc`` (centre of mass fixed), one every ``interval`` steps.

    Each frame carries ``md_step`` and ``calc``'s energy and forces as ``REF_energy`` and
    ``REF_forces``. The forces are the calculator's own: ``FixCom`` projects the forces the
    dynamics sees (mass-weighted, by up to 1 eV/Å here), which are not labels.
    """
    atoms = start.copy()
    atoms.calc = calc
    rng = np.random.default_rng(seed)
    thermalize_momenta(atoms, temperature_K, rng=rng)
    Stationary(atoms)
    atoms.set_constraint(FixCom())
    dyn = Langevin(atoms, timestep_fs * units.fs, temperature_K=temperature_K,
                   friction=friction_per_fs / units.fs, fixcm=False, rng=rng)
    frames = []
    for step in range(1, steps + 1):
        dyn.run(1)
        if step % interval == 0:
            frame = Atoms(atoms.numbers, atoms.positions, cell=atoms.cell)
            frame.info.update(md_step=step, REF_energy=atoms.get_potential_energy())
            frame.arrays["REF_forces"] = atoms.get_forces(apply_constraint=False)
            frames.append(frame)
    return frames


def force_rmse_meV_A(model_paths: Sequence[Path], test: list[Atoms], *,
                     baseline_key: str | None = None) -> float:
    """Force RMSE (meV/Å, over all Cartesian components) of the committee mean of
    ``model_paths`` against ``REF_forces``; with ``baseline_key`` (Δ-learning) the frames'
    ``arrays[baseline_key]`` is added to the prediction first."""
    from alearn.calculators import CommitteeCalculator

    calc = CommitteeCalculator(list(model_paths))
    errors = []
    for atoms in test:
        work = Atoms(atoms.numbers, atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
        calc.calculate(work, ["forces"])
        pred = calc.results["forces"]
        if baseline_key is not None:
            pred = pred + atoms.arrays[baseline_key]
        errors.append(pred - atoms.arrays["REF_forces"])
    return 1000 * float(np.sqrt(np.mean(np.square(errors))))


def labels_to_reach(curve: list[tuple[int, float]], target: float) -> float | None:
    """Labels where the (labels, RMSE) curve first reaches ``target``, interpolated
    log-log between points; None when it never does."""
    if curve and curve[0][1] <= target:
        return float(curve[0][0])
    for (n0, r0), (n1, r1) in zip(curve[:-1], curve[1:]):
        if r1 <= target < r0:
            frac = (math.log(r0) - math.log(target)) / (math.log(r0) - math.log(r1))
            return math.exp(math.log(n0) + frac * (math.log(n1) - math.log(n0)))
    return None
