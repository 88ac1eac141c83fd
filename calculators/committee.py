"""A committee of MACE models as one ASE calculator.

The mean of the members is the prediction; their spread is the uncertainty.
The atomic graph is built once per structure and shared by all members.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress


class ModelFileError(ValueError):
    """A model file cannot be read as a MACE model; the message names the file."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)


def _load_model(path: Path, device: str) -> torch.nn.Module:
    if not Path(path).is_file():
        raise FileNotFoundError(f"committee model not found: {path}")
    try:
        model = torch.load(path, map_location=device, weights_only=False)
    except Exception as err:  # noqa: BLE001 - pickle, zip and torch errors alike
        raise ModelFileError(path, f"not a readable model file ({type(err).__name__}: "
                                   f"{err})") from None
    if not isinstance(model, torch.nn.Module):
        raise ModelFileError(path, f"holds a {type(model).__name__}, not a MACE model")
    for param in model.parameters():
        param.requires_grad = False
    return model.eval()


class CommitteeCalculator(Calculator):
    """Mean and spread of K MACE models.

    Parameters
    ----------
    model_paths
        Files written by mace-torch (``*.model``), all for the same elements.
    device
        Torch device, e.g. ``"cpu"`` or ``"cuda"``.

    Notes
    -----
    ``results`` holds ``energy`` (eV), ``forces`` (eV/Å, (N, 3)), ``stress``
    (eV/Å³, Voigt (6,), 3D-periodic cells only) as committee means, and
    ``energy_std`` (eV), ``forces_std`` (eV/Å, (N,): per atom
    sqrt(mean_k |F_ik - F̄_i|²)), ``energies_committee`` (K,) and
    ``forces_committee`` (K, N, 3). Spreads are population standard deviations.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress", "energy_std",
                              "forces_std", "forces_committee", "energies_committee"]

    def __init__(self, model_paths: Sequence[str | Path], *, device: str = "cpu",
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if len(model_paths) < 1:
            raise ValueError("CommitteeCalculator needs at least one model path")
        self.model_paths = [Path(p) for p in model_paths]
        self.device = device
        self.models = [_load_model(p, device) for p in self.model_paths]
        first = self.models[0]
        self.r_max = float(first.r_max)
        self.atomic_numbers = [int(z) for z in first.atomic_numbers]
        self.dtype = next(first.parameters()).dtype
        for path, model in zip(self.model_paths, self.models):
            if [int(z) for z in model.atomic_numbers] != self.atomic_numbers:
                raise ValueError(f"{path}: elements differ from {self.model_paths[0]}")
            if float(model.r_max) != self.r_max:
                raise ValueError(f"{path}: r_max differs from {self.model_paths[0]}")
        from mace.tools import AtomicNumberTable

        self._z_table = AtomicNumberTable(self.atomic_numbers)
        self._heads = getattr(first, "heads", ["Default"])

    def _check_elements(self, atoms: Atoms) -> None:
        unknown = sorted(set(atoms.numbers.tolist()) - set(self.atomic_numbers))
        if unknown:
            from ase.data import chemical_symbols

            raise ValueError(f"the committee was trained without elements "
                             f"{[chemical_symbols[z] for z in unknown]}")

    def batch(self, atoms: Atoms) -> dict[str, torch.Tensor]:
        """mace-torch's graph of ``atoms`` (one structure) as a dict of tensors."""
        from mace import data as mace_data
        from mace.tools import torch_geometric, torch_tools

        self._check_elements(atoms)
        # Build in the models' dtype (scoped; restored on exit) so positions
        # never pass through float32.
        with torch_tools.default_dtype(self.dtype):
            config = mace_data.config_from_atoms(
                atoms, key_specification=mace_data.KeySpecification())
            graph = mace_data.AtomicData.from_config(
                config, z_table=self._z_table, cutoff=self.r_max, heads=self._heads)
        loader = torch_geometric.dataloader.DataLoader([graph], batch_size=1, shuffle=False)
        return next(iter(loader)).to(self.device).to_dict()

    def calculate(self, atoms: Atoms | None = None, properties=None,
                  system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        periodic = bool(self.atoms.pbc.all())
        batch = self.batch(self.atoms)
        energies, forces, stresses = [], [], []
        for model in self.models:
            out = model(dict(batch), compute_stress=periodic, training=False)
            energies.append(out["energy"].detach().cpu().numpy()[0])
            forces.append(out["forces"].detach().cpu().numpy())
            if periodic:
                stresses.append(out["stress"].detach().cpu().numpy()[0])
        self.results = committee_results(np.array(energies), np.array(forces),
                                         np.array(stresses) if periodic else None)

    def descriptors(self, atoms: Atoms) -> np.ndarray:
        """Invariant node features of the first member, averaged over atoms.

        Returns
        -------
        Array of shape (F,): a structural fingerprint for diversity selection.
        """
        from mace.modules.utils import extract_invariant

        model = self.models[0]
        out = model(self.batch(atoms), training=False)
        feats = out["node_feats"]
        num_layers = int(model.num_interactions)
        irreps_out = model.products[0].linear.__dict__["irreps_out"]
        l_max, num_features = irreps_out.lmax, irreps_out.dim // (irreps_out.lmax + 1) ** 2
        inv = extract_invariant(feats, num_layers=num_layers, num_features=num_features,
                                l_max=l_max)
        return inv.detach().cpu().numpy().mean(axis=0)


def committee_results(energies: np.ndarray, forces: np.ndarray,
                      stresses: np.ndarray | None) -> dict[str, object]:
    """Committee mean and spread.

    Parameters
    ----------
    energies
        (K,) member energies (eV).
    forces
        (K, N, 3) member forces (eV/Å).
    stresses
        (K, 3, 3) member stresses (eV/Å³), or None for non-periodic structures.
    """
    mean_forces = forces.mean(axis=0)
    results: dict[str, object] = {
        "energy": float(energies.mean()),
        "free_energy": float(energies.mean()),
        "forces": mean_forces,
        "energy_std": float(energies.std()),
        "forces_std": np.sqrt(((forces - mean_forces) ** 2).sum(axis=2).mean(axis=0)),
        "energies_committee": energies,
        "forces_committee": forces,
    }
    if stresses is not None:
        results["stress"] = full_3x3_to_voigt_6_stress(stresses.mean(axis=0))
    return results
