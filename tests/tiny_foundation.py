"""A tiny stand-in foundation model: a MACE model trained with mace-torch on EMT data of
four fcc metals (Cu, Ag, Au, Ni), in seconds. Public foundation models cannot be
downloaded here; this one has the same file format and is fine-tuned the same way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase.build import bulk
from ase.calculators.emt import EMT

from alearn.config import CommitteeConfig
from alearn.state import write_extxyz
from alearn.training import MemberJob, train_member

ELEMENTS = {"Cu": 3.61, "Ag": 4.09, "Au": 4.08, "Ni": 3.52}  # fcc lattice constants (Å)
R_MAX_A = 4.0


def emt_frames(n_per_element: int, seed: int) -> list:
    """Rattled, strained fcc cells (4 atoms) of each element, labeled by EMT."""
    rng = np.random.default_rng(seed)
    frames = []
    for symbol, a0 in ELEMENTS.items():
        for _ in range(n_per_element):
            atoms = bulk(symbol, "fcc", a=a0 * rng.uniform(0.96, 1.04), cubic=True)
            atoms.rattle(0.1, seed=int(rng.integers(2**31)))
            atoms.calc = EMT()
            frame = atoms.copy()
            frame.info["REF_energy"] = atoms.get_potential_energy()
            frame.arrays["REF_forces"] = atoms.get_forces()
            frames.append(frame)
    return frames


def train_tiny_foundation(folder: Path, *, epochs: int = 5) -> Path:
    """Train the stand-in foundation in ``folder``; returns ``folder/foundation.model``."""
    folder.mkdir(parents=True, exist_ok=True)
    write_extxyz(emt_frames(6, seed=11), folder / "foundation_train.xyz")
    cfg = CommitteeConfig.model_validate({
        "size": 2, "model": {"num_channels": 8, "r_max": R_MAX_A},
        "training": {"max_num_epochs": epochs, "batch_size": 4, "e0s": "average"}})
    job = MemberJob(index=0, seed=5, train_file=folder / "foundation_train.xyz",
                    valid_file=None, model_path=folder / "foundation.model", init_model=None,
                    epochs=epochs)
    train_member(cfg, job, atomic_numbers=[28, 29, 47, 79], has_stress=False, e0s="average")
    return job.model_path
