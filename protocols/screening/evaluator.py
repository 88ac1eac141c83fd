"""How the stages evaluate the committee: the :class:`Evaluator` interface and its plain,
one-structure-at-a-time implementation on ASE (:class:`LoopEvaluator`).

The stages hand an evaluator a *batch* of structures (the candidates a worker
claimed together) and get one outcome per structure, so a batched backend
(many small structures in one model call, e.g. TorchSim's batched
relaxation and MD) can replace :class:`LoopEvaluator` without touching the
stages: it implements the same three methods.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS, FIRE, LBFGS
from ase.parallel import DummyMPI

from alearn.uncertainty import Uncertainty, from_results

from ..md import MDOptions, run_md
from .config import RelaxStageConfig

log = logging.getLogger(__name__)

__all__ = ["Evaluator", "LoopEvaluator", "Relaxation"]

_OPTIMIZERS = {"FIRE": FIRE, "BFGS": BFGS, "LBFGS": LBFGS}
# Candidates are independent: under mpirun each rank relaxes and runs MD on its own
# (ASE's default communicator would pair them up with rank 0's random numbers and files).
SERIAL = DummyMPI()


@dataclass(frozen=True)
class Relaxation:
    """A committee relaxation.

    Attributes
    ----------
    atoms
        The relaxed structure (the start structure when the relaxation failed).
    energy_eV
        Committee-mean energy of ``atoms`` (eV); NaN when it failed.
    steps
        Optimizer steps taken.
    converged
        True when the largest force (and the stress, with the cell) fell below fmax.
    final
        The committee's uncertainty on ``atoms`` and on its rattled copies (each
        metric's largest value; ``probe_rattle_A``), None when it failed.
    path_max
        Per metric, its largest value along the relaxation (None when it failed).
    error
        Why the committee could not evaluate the structure, or None.
    """

    atoms: Atoms
    energy_eV: float
    steps: int
    converged: bool
    final: Uncertainty | None
    path_max: dict[str, float] | None
    error: str | None = None


class Evaluator(Protocol):
    """What the stages need from a committee (see the module docstring)."""

    def uncertainty(self, structures: Sequence[Atoms]) -> list[Uncertainty]:
        """The committee's uncertainty on each structure."""

    def relax(self, structures: Sequence[Atoms], options: RelaxStageConfig) -> list[Relaxation]:
        """Relax each structure (positions, and the cell with ``options.cell``)."""

    def md(self, structure: Atoms, path: Path, options: MDOptions) -> None:
        """Run (or resume) MD of one structure into the ASE trajectory ``path``."""


def _rattled(atoms: Atoms, std_A: float, n: int, *, seed: int) -> list[Atoms]:
    """``n`` copies of ``atoms`` with Gaussian displacements of ``std_A`` (Å)."""
    if std_A <= 0:
        return []
    rng = np.random.default_rng(seed)
    copies = []
    for _ in range(n):
        probe = atoms.copy()
        probe.positions += rng.normal(0.0, std_A, probe.positions.shape)
        copies.append(probe)
    return copies


def _worst(measured: Sequence[Uncertainty]) -> Uncertainty:
    """Each metric's largest value over ``measured`` (None stays None)."""
    rows = [asdict(u) for u in measured]
    return Uncertainty(**{k: None if rows[0][k] is None else max(r[k] for r in rows)
                          for k in rows[0]})


class LoopEvaluator:
    """:class:`Evaluator` on an ASE committee calculator, one structure after another.

    Parameters
    ----------
    calculator
        A :class:`~alearn.calculators.CommitteeCalculator` (or a Δ-ML sum with one):
        its results hold ``forces_std`` and ``energy_std``.
    relative_eps_eV_A
        ε of the relative force metric (see :mod:`alearn.uncertainty`).
    """

    def __init__(self, calculator: BaseCalculator, *, relative_eps_eV_A: float = 1.0) -> None:
        self.calculator = calculator
        self.relative_eps_eV_A = relative_eps_eV_A

    def _measure(self, atoms: Atoms) -> Uncertainty:
        return from_results(self.calculator.results, len(atoms),
                            relative_eps=self.relative_eps_eV_A)

    def uncertainty(self, structures: Sequence[Atoms]) -> list[Uncertainty]:
        out = []
        for atoms in structures:
            work = atoms.copy()
            work.calc = self.calculator
            work.get_forces()
            out.append(self._measure(work))
        return out

    def relax(self, structures: Sequence[Atoms], options: RelaxStageConfig) -> list[Relaxation]:
        return [self._relax_one(atoms, options) for atoms in structures]

    def _relax_one(self, atoms: Atoms, options: RelaxStageConfig) -> Relaxation:
        work = atoms.copy()
        work.calc = self.calculator
        path_max: dict[str, float] = {}

        def record() -> None:
            for key, value in asdict(self._measure(work)).items():
                if value is not None:
                    path_max[key] = max(path_max.get(key, -np.inf), float(value))

        target = FrechetCellFilter(work) if options.cell else work
        opt = _OPTIMIZERS[options.optimizer](target, logfile=None, comm=SERIAL)
        opt.attach(record, interval=1)
        try:
            with warnings.catch_warnings():  # FrechetCellFilter's logm of near-unit cells
                warnings.filterwarnings("ignore", "logm result may be inaccurate")
                converged = bool(opt.run(fmax=options.fmax_eV_A, steps=options.max_steps))
        except ValueError as err:  # e.g. elements the committee was not trained on
            return Relaxation(atoms.copy(), float("nan"), 0, False, None, None, str(err))
        energy = float(work.get_potential_energy())
        final = self._measure(work)
        relaxed = work.copy()
        relaxed.calc = None
        probes = _rattled(relaxed, options.probe_rattle_A, options.probes, seed=0)
        final = _worst([final, *self.uncertainty(probes)])
        return Relaxation(relaxed, energy, int(opt.nsteps), converged, final, path_max)

    def md(self, structure: Atoms, path: Path, options: MDOptions) -> None:
        run_md(structure, self.calculator, path, options=options, comm=SERIAL)
