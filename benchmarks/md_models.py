"""Untrained MACE models of a campaign's architecture, and the structures the MD benchmarks use.

The models are mace-torch's own ``ScaleShiftMACE`` built with the hyperparameters
``alearn`` passes to ``mace_run_train`` (:class:`alearn.config.ModelConfig`
defaults: 16 channels, L = 0, two interactions, correlation 3, r_max 4.5 Å),
with seeded random weights and saved with ``torch.save`` like a trained member.
Their cost per step is that of a trained model of the same size; their forces
are smooth but not physical (fine for timing, agreement checks and energy
conservation, not for structure).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from ase.build import molecule


def tiny_mace(atomic_numbers: Sequence[int], *, seed: int, r_max: float = 4.5,
              num_channels: int = 16, correlation: int = 3, dtype: torch.dtype = torch.float64,
              codegen: bool = True) -> torch.nn.Module:
    """A seeded, untrained ScaleShiftMACE for ``atomic_numbers`` (sorted, unique).

    ``codegen=False`` builds it without e3nn's TorchScript code generation (as
    mace-torch's compile preparation does): much faster to build and to run
    the first time, a little slower per step after (for tests)."""
    import mace.modules  # noqa: F401 - first: sets up torch.load for e3nn's constants
    from e3nn import o3
    from mace.modules import ScaleShiftMACE, interaction_classes
    from mace.modules.blocks import NonLinearReadoutBlock
    from mace.tools.compile import disable_e3nn_codegen

    zs = sorted({int(z) for z in atomic_numbers})
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        with nullcontext() if codegen else disable_e3nn_codegen():
            model = ScaleShiftMACE(
                r_max=r_max, num_bessel=8, num_polynomial_cutoff=5, max_ell=3,
                interaction_cls=interaction_classes["RealAgnosticResidualInteractionBlock"],
                interaction_cls_first=interaction_classes["RealAgnosticResidualInteractionBlock"],
                num_interactions=2, num_elements=len(zs),
                hidden_irreps=o3.Irreps(f"{num_channels}x0e"), MLP_irreps=o3.Irreps("16x0e"),
                gate=torch.nn.functional.silu, atomic_energies=np.zeros(len(zs)),
                avg_num_neighbors=12.0, atomic_numbers=zs, correlation=correlation,
                radial_type="bessel", radial_MLP=[64, 64, 64], atomic_inter_scale=1.0,
                atomic_inter_shift=0.0,
                readout_cls=NonLinearReadoutBlock, heads=["Default"])
    finally:
        torch.random.set_rng_state(generator_state)
    return model.to(dtype).eval()


def save_committee(folder: Path, atomic_numbers: Sequence[int], *, size: int,
                   dtype: torch.dtype = torch.float64, seed: int = 0, num_channels: int = 16,
                   correlation: int = 3, codegen: bool = True) -> list[Path]:
    """Write ``size`` untrained members ``member_<k>.model`` into ``folder``; their paths.

    One model is built; the others are copies with every weight perturbed by seeded
    Gaussian noise (10 % of the weight tensor's spread): as different as members
    trained from different seeds, and far quicker to make."""
    folder.mkdir(parents=True, exist_ok=True)
    first = tiny_mace(atomic_numbers, seed=seed, dtype=dtype, num_channels=num_channels,
                      correlation=correlation, codegen=codegen)
    generator = torch.Generator().manual_seed(seed)
    paths = []
    for k in range(size):
        member = copy.deepcopy(first)
        if k:
            with torch.no_grad():
                for param in member.parameters():
                    if param.numel() > 1 and param.is_floating_point():
                        noise = torch.randn(param.shape, generator=generator, dtype=param.dtype)
                        param += 0.1 * param.std() * noise
        path = folder / f"member_{k}.model"
        torch.save(member, path)
        paths.append(path)
    return paths

def water_cluster(n_molecules: int, *, seed: int = 0, spacing_A: float = 3.1) -> Atoms:
    """``n_molecules`` randomly oriented waters on a cubic grid (no cell, no pbc)."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(n_molecules ** (1 / 3)))
    atoms = Atoms()
    for k in range(n_molecules):
        w = molecule("H2O")
        w.rotate(rng.uniform(0, 360), rng.normal(size=3) + 1e-3, center="COP")
        w.translate(spacing_A * np.array(np.unravel_index(k, (side,) * 3), dtype=float))
        atoms += w
    atoms.center(vacuum=5.0)
    atoms.pbc = False
    return atoms


def electrolyte_box(n_waters: int, n_pairs: int, *, seed: int = 0,
                    spacing_A: float = 3.1) -> Atoms:
    """A periodic box of ``n_waters`` waters and ``n_pairs`` Li+/F- ions on a cubic grid
    (about liquid density for the default spacing)."""
    rng = np.random.default_rng(seed)
    n_sites = n_waters + 2 * n_pairs
    side = int(np.ceil(n_sites ** (1 / 3)))
    sites = rng.permutation(side ** 3)[:n_sites]
    kinds = ["Li"] * n_pairs + ["F"] * n_pairs + ["H2O"] * n_waters
    atoms = Atoms(cell=np.eye(3) * side * spacing_A, pbc=True)
    for site, kind in zip(sites, kinds):
        unit = molecule("H2O") if kind == "H2O" else Atoms(kind)
        if kind == "H2O":
            unit.rotate(rng.uniform(0, 360), rng.normal(size=3) + 1e-3, center="COP")
        unit.translate(spacing_A * (np.array(np.unravel_index(site, (side,) * 3)) + 0.5))
        atoms += unit
    return atoms
