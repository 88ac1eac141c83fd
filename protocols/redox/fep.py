"""Free-energy perturbation from the sampling model to a reference method at an end state.

With Δ_i = E_ref(x_i) − E_model(x_i) on frames x_i sampled with the model in
one state,

    ΔA_corr = A_ref − A_model = −kT ln ⟨exp(−β Δ)⟩_model   (Zwanzig),

and the couple's free energy at the reference level is

    ΔA_ref = ΔA_model + ΔA_corr(red) − ΔA_corr(ox).

The reference can be the oracle the models were trained on (the correction
then removes what the models still get wrong) or a *higher* level (a hybrid
functional, a finer GPAW setting) evaluated on a few frames: constant offsets
between the levels cancel between the two states, since both states hold the
same atoms.

Reliability: the average is carried by the frames with the largest weights
w_i = exp(−β Δ_i). Its effective sample size (Kish) n_eff = (Σ w)² / Σ w² is
reported, and the correction is flagged unreliable when n_eff is below
``min_effective_frames`` (the levels differ too much in how their energy
varies between frames: sample more frames, or correct in steps). The standard
error comes from blocks of consecutive frames: σ = kT σ(w̄)/w̄.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator

from alearn.state import read_json, write_json_atomic

from ..results import Estimate
from ..units import KB_EV_PER_K
from .ti import TIResult
from .windows import production_frames, state_energies, window_path

log = logging.getLogger(__name__)

__all__ = ["FEPCorrection", "end_state_correction", "fep_correction"]

_STATE_INDEX = {"ox": 0, "red": 1}


@dataclass(frozen=True)
class FEPCorrection:
    """A model → reference free-energy correction at one end state (eV).

    Parameters
    ----------
    state
        ``"ox"`` or ``"red"``.
    level
        Name of the reference (e.g. ``"oracle"``, ``"PBE0"``).
    dA_eV
        A_ref − A_model with its block standard error.
    mean_difference_eV, std_difference_eV
        Mean and standard deviation of Δ = E_ref − E_model over the frames.
    cumulant_eV
        Second-order cumulant estimate ⟨Δ⟩ − β var(Δ)/2 (close to ``dA_eV`` when Δ is
        Gaussian).
    n_frames
        Frames evaluated with the reference.
    effective_frames
        Kish effective sample size of the exponential average.
    reliable
        False when ``effective_frames`` is below the threshold asked for.
    """

    state: str
    level: str
    dA_eV: Estimate
    mean_difference_eV: float
    std_difference_eV: float
    cumulant_eV: float
    n_frames: int
    effective_frames: float
    reliable: bool

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "level": self.level, "dA_eV": self.dA_eV.to_dict(),
                "mean_difference_eV": self.mean_difference_eV,
                "std_difference_eV": self.std_difference_eV, "cumulant_eV": self.cumulant_eV,
                "n_frames": self.n_frames, "effective_frames": self.effective_frames,
                "reliable": self.reliable}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FEPCorrection:
        return cls(d["state"], d["level"], Estimate.from_dict(d["dA_eV"]),
                   float(d["mean_difference_eV"]), float(d["std_difference_eV"]),
                   float(d["cumulant_eV"]), int(d["n_frames"]), float(d["effective_frames"]),
                   bool(d["reliable"]))


def fep_correction(model_eV: Sequence[float], reference_eV: Sequence[float], *,
                   temperature_K: float, state: str, level: str = "oracle",
                   n_blocks: int = 5, min_effective_frames: float = 10.0) -> FEPCorrection:
    """ΔA_corr = −kT ln⟨exp(−β(E_ref − E_model))⟩ over frames sampled with the model.

    Parameters
    ----------
    model_eV, reference_eV
        The model's and the reference's energy of each frame (F,), eV; frames in
        the order they were sampled (blocks are consecutive frames).
    temperature_K
        Temperature of the sampling.
    state, level
        Recorded on the result.
    n_blocks
        Blocks for the standard error (at most F).
    min_effective_frames
        Below this effective sample size the result is flagged (and a warning logged).
    """
    model, ref = np.asarray(model_eV, dtype=float), np.asarray(reference_eV, dtype=float)
    if model.shape != ref.shape or model.size < 2:
        raise ValueError(f"need the same number (≥ 2) of model and reference energies, got "
                         f"{model.size} and {ref.size}")
    kt = KB_EV_PER_K * temperature_K
    diff = ref - model
    shift = diff.min()
    weights = np.exp(-(diff - shift) / kt)
    mean_w = weights.mean()
    dA = shift - kt * math.log(mean_w)
    blocks = [b.mean() for b in np.array_split(weights, min(n_blocks, weights.size))]
    stderr = kt * Estimate.from_blocks(blocks).stderr / mean_w
    n_eff = float(weights.sum() ** 2 / (weights**2).sum())
    reliable = n_eff >= min_effective_frames
    if not reliable:
        log.warning("FEP correction of state %s to %s: only %.1f effective frames of %d carry "
                    "the exponential average (threshold %g); the correction is unreliable: "
                    "evaluate more frames, or correct in smaller steps", state, level, n_eff,
                    diff.size, min_effective_frames)
    return FEPCorrection(state, level, Estimate(float(dA), float(stderr), len(blocks)),
                         float(diff.mean()), float(diff.std(ddof=1)),
                         float(diff.mean() - diff.var(ddof=1) / (2 * kt)), int(diff.size),
                         n_eff, reliable)


def end_state_correction(ti: TIResult, state: str, reference: BaseCalculator, *,
                         n_frames: int, equilibration_steps: int, level: str = "oracle",
                         workdir: str | os.PathLike | None = None, n_blocks: int = 5,
                         min_effective_frames: float = 10.0) -> FEPCorrection:
    """The FEP correction of ``state`` from frames of its end window (λ = 0 for ``ox``,
    1 for ``red``), the model energies read from the window's trajectory.

    ``n_frames`` frames, evenly spaced over the window's production part, are
    evaluated with ``reference``; each energy is stored at once in
    ``workdir/fep_<state>_<level>.json`` (default: the window's folder), so an
    interrupted correction resumes without repeating a reference calculation.
    """
    if state not in _STATE_INDEX:
        raise ValueError(f"state must be 'ox' or 'red', got {state!r}")
    window = ti.window(float(_STATE_INDEX[state]))
    frames = production_frames(window.path, equilibration_steps)
    picked = [frames[int(i)] for i in np.linspace(0, len(frames) - 1, min(n_frames, len(frames)))
              .round().astype(int)]
    model = state_energies(picked)[:, _STATE_INDEX[state]]
    cache = Path(workdir or window.path.parent) / f"fep_{state}_{level}.json"
    reference_eV = _reference_energies(picked, reference, cache)
    return fep_correction(model, reference_eV, temperature_K=ti.temperature_K, state=state,
                          level=level, n_blocks=n_blocks,
                          min_effective_frames=min_effective_frames)


def _reference_energies(frames: Sequence[Atoms], calc: BaseCalculator, cache: Path
                        ) -> list[float]:
    """Reference energies of ``frames`` (eV), resumed from and recorded in ``cache``."""
    stored = read_json(cache) if cache.is_file() else {"steps": [], "energies_eV": []}
    done = dict(zip(stored["steps"], stored["energies_eV"]))
    energies = []
    for frame in frames:
        step = int(frame.info["step"])
        if step not in done:
            work = frame.copy()
            work.calc = calc
            done[step] = float(work.get_potential_energy())
            write_json_atomic(cache, {"steps": list(done), "energies_eV": list(done.values())})
        energies.append(done[step])
    return energies


def window_frames(workdir: str | os.PathLike, lam: float, equilibration_steps: int
                  ) -> list[Atoms]:
    """Production frames of the window at ``lam`` in ``workdir`` (for a custom correction)."""
    return production_frames(window_path(workdir, lam), equilibration_steps)
