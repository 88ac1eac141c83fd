"""The λ windows: MD on the mixed potential and the block-averaged energy gap.

Window λ runs :func:`~alearn.protocols.run_md` on U_λ = (1 − λ) U_ox + λ U_red
(:class:`~alearn.calculators.coupled.CoupledCalculator`, ASE's linear
combination) and stores, in every frame's ``info``, both states' energies
(``state_energies_eV``: [U_ox, U_red]) and, when the states are committees,
the larger of their spreads (``max_force_std_eV_A``). A window's file is
``window_<λ>.traj``; like any :func:`run_md` trajectory it is resumed where it
stopped. The energy gap is ΔE = U_red − U_ox (eV).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator
from ase.io import read

from alearn.calculators.coupled import CoupledCalculator

from ..md import MDRun, run_md
from ..results import Estimate
from .options import TIOptions

__all__ = ["STATE_ENERGIES", "WindowResult", "analyse_window", "run_window", "window_path"]

#: frame ``info`` key: [U_ox, U_red] (eV)
STATE_ENERGIES = "state_energies_eV"
SPREAD = "max_force_std_eV_A"


def window_path(workdir: str | os.PathLike, lam: float) -> Path:
    """The trajectory of window ``lam`` in ``workdir``."""
    return Path(workdir) / f"window_{lam:.6f}.traj"


def _frame_info(atoms: Atoms) -> dict[str, Any]:
    results = atoms.calc.results
    info: dict[str, Any] = {STATE_ENERGIES: [float(e) for e in results["state_energies"]]}
    if "forces_std" in results:
        info[SPREAD] = float(np.max(results["forces_std"]))
    return info


def run_window(start: Atoms, ox: BaseCalculator, red: BaseCalculator, lam: float,
               path: str | os.PathLike, *, options: TIOptions, index: int) -> MDRun:
    """Run (or resume) window ``lam`` from ``start``.

    Parameters
    ----------
    start
        Starting structure (momenta kept when set).
    ox, red
        The two states' calculators (U_ox at λ = 0, U_red at λ = 1).
    lam
        λ in [0, 1].
    path
        Trajectory file (``*.traj``).
    options
        The integration's settings (``options.md`` runs the window).
    index
        The window's number: its seed is ``md.seed + 1000 (index + 1)``.
    """
    calc = CoupledCalculator([ox, red], lam)
    md = replace(options.md, seed=options.md.seed + 1000 * (index + 1))
    return run_md(start, calc, path, options=md, extra_info={"coupling_lambda": float(lam)},
                  frame_info=_frame_info)


@dataclass(frozen=True)
class WindowResult:
    """The energy gap sampled in one window.

    Parameters
    ----------
    lam
        λ of the window.
    gap_eV
        ⟨ΔE⟩_λ = ⟨U_red − U_ox⟩ over the production frames, with its block standard error.
    gap_std_eV
        Standard deviation of ΔE over those frames (its thermal fluctuation).
    n_frames
        Production frames (after equilibration).
    path
        The trajectory.
    max_force_std_eV_A
        Largest committee force spread met in the production frames (either
        state), or None when the states are no committees.
    """

    lam: float
    gap_eV: Estimate
    gap_std_eV: float
    n_frames: int
    path: Path
    max_force_std_eV_A: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"lambda": self.lam, "gap_eV": self.gap_eV.to_dict(),
                "gap_std_eV": self.gap_std_eV, "n_frames": self.n_frames, "path": str(self.path),
                "max_force_std_eV_A": self.max_force_std_eV_A}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WindowResult:
        return cls(float(d["lambda"]), Estimate.from_dict(d["gap_eV"]), float(d["gap_std_eV"]),
                   int(d["n_frames"]), Path(d["path"]), d.get("max_force_std_eV_A"))


def production_frames(path: str | os.PathLike, equilibration_steps: int) -> list[Atoms]:
    """The frames of a window after ``equilibration_steps``."""
    return [f for f in read(path, index=":") if int(f.info["step"]) > equilibration_steps]


def state_energies(frames: Sequence[Atoms]) -> np.ndarray:
    """[U_ox, U_red] of each frame (eV), shape (F, 2)."""
    return np.array([f.info[STATE_ENERGIES] for f in frames], dtype=float)


def analyse_window(path: str | os.PathLike, lam: float, *, options: TIOptions) -> WindowResult:
    """⟨ΔE⟩ of window ``lam`` from its trajectory, block-averaged over its production frames."""
    frames = production_frames(path, options.equilibration_steps)
    if len(frames) < 2 * options.n_blocks:
        raise ValueError(f"{path}: {len(frames)} production frames, too few for "
                         f"{options.n_blocks} blocks; is the window complete?")
    energies = state_energies(frames)
    gaps = energies[:, 1] - energies[:, 0]
    blocks = [b.mean() for b in np.array_split(gaps, options.n_blocks)]
    spreads = [f.info[SPREAD] for f in frames if SPREAD in f.info]
    return WindowResult(float(lam), Estimate.from_blocks(blocks), float(gaps.std(ddof=1)),
                        len(frames), Path(path), max(spreads) if spreads else None)
