"""A committee of MACE models as one ASE calculator.

The mean of the members is the prediction; their spread is the uncertainty.
The atomic graph is built once per structure and shared by all members.
An optional :class:`CommitteeCalibration` turns the spread into an expected
error (fitted by :mod:`alearn.calibration`; evaluated here with plain NumPy).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class CommitteeCalibration:
    """Map from the committee's spread to its expected error.

    Parameters
    ----------
    force_scale
        s: ``forces_err_est = s * forces_std`` (dimensionless).
    energy_scale
        s_E: ``energy_err_est = s_E * energy_std`` (dimensionless).
    isotonic_std_eV_A, isotonic_err_eV_A
        Optional monotone table (knots, shape (M,) each, increasing): the
        expected error at a spread, interpolated linearly between knots and
        extrapolated in proportion to the spread beyond the first and last
        knots. When given, it replaces ``force_scale`` for the forces.

    Notes
    -----
    The expected error of atom i is the root mean square of |F̄_i - F_ref,i|
    (eV/Å) expected at its spread σ_i, in the units of ``forces_std``.
    """

    force_scale: float = 1.0
    energy_scale: float = 1.0
    isotonic_std_eV_A: tuple[float, ...] | None = None
    isotonic_err_eV_A: tuple[float, ...] | None = None

    def forces_err_est(self, forces_std: np.ndarray) -> np.ndarray:
        """Expected per-atom force error (eV/Å, shape (N,)) at ``forces_std`` (N,)."""
        std = np.asarray(forces_std, dtype=float)
        if self.isotonic_std_eV_A is None or self.isotonic_err_eV_A is None:
            return self.force_scale * std
        x = np.asarray(self.isotonic_std_eV_A, dtype=float)
        y = np.asarray(self.isotonic_err_eV_A, dtype=float)
        est = np.interp(std, x, y)
        low, high = std < x[0], std > x[-1]
        est[low] = y[0] * std[low] / x[0] if x[0] > 0 else y[0]
        est[high] = y[-1] * std[high] / x[-1]
        return est

    def energy_err_est(self, energy_std: float) -> float:
        """Expected energy error (eV) at ``energy_std`` (eV)."""
        return self.energy_scale * float(energy_std)

    @classmethod
    def read(cls, path: str | Path) -> CommitteeCalibration:
        """Read a ``calibration.json`` (keys ``force_scale``, ``energy_scale`` and,
        optionally, ``isotonic_std_eV_A``/``isotonic_err_eV_A``; others are ignored)."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            table = [data.get(k) for k in ("isotonic_std_eV_A", "isotonic_err_eV_A")]
            return cls(force_scale=float(data["force_scale"]),
                       energy_scale=float(data["energy_scale"]),
                       isotonic_std_eV_A=None if table[0] is None else tuple(table[0]),
                       isotonic_err_eV_A=None if table[1] is None else tuple(table[1]))
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"{path}: not a committee calibration ({type(err).__name__}: "
                             f"{err}); delete it to use the raw spread") from None

    def as_dict(self) -> dict[str, object]:
        """The JSON-ready fields (what :meth:`read` reads)."""
        return {"force_scale": self.force_scale, "energy_scale": self.energy_scale,
                "isotonic_std_eV_A": _as_list(self.isotonic_std_eV_A),
                "isotonic_err_eV_A": _as_list(self.isotonic_err_eV_A)}


def _as_list(values: Sequence[float] | None) -> list[float] | None:
    return None if values is None else [float(v) for v in values]


class CommitteeCalculator(Calculator):
    """Mean and spread of K MACE models.

    Parameters
    ----------
    model_paths
        Files written by mace-torch (``*.model``), all for the same elements.
    device
        Torch device, e.g. ``"cpu"`` or ``"cuda"``.
    calibration
        A :class:`CommitteeCalibration` or the path of its ``calibration.json``
        (written next to the members by a campaign); None: spreads only.

    Notes
    -----
    ``results`` holds ``energy`` (eV), ``forces`` (eV/Å, (N, 3)), ``stress``
    (eV/Å³, Voigt (6,), 3D-periodic cells only) as committee means, and
    ``energy_std`` (eV), ``forces_std`` (eV/Å, (N,): per atom
    sqrt(mean_k |F_ik - F̄_i|²)), ``energies_committee`` (K,),
    ``forces_committee`` (K, N, 3) and, for 3D-periodic cells,
    ``stresses_committee`` (K, 6). Spreads are population standard deviations.
    With a calibration, also ``forces_err_est`` (eV/Å, (N,): the expected
    per-atom error, see :class:`CommitteeCalibration`) and ``energy_err_est``
    (eV); ``forces_std`` and ``energy_std`` stay the raw spreads.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress", "energy_std",
                              "forces_std", "forces_committee", "energies_committee",
                              "stresses_committee"]

    def __init__(self, model_paths: Sequence[str | Path], *, device: str = "cpu",
                 calibration: CommitteeCalibration | str | Path | None = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if len(model_paths) < 1:
            raise ValueError("CommitteeCalculator needs at least one model path")
        if isinstance(calibration, (str, Path)):
            calibration = CommitteeCalibration.read(calibration)
        self.calibration = calibration
        if calibration is not None:
            self.implemented_properties = [*type(self).implemented_properties,
                                           "forces_err_est", "energy_err_est"]
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
        if self.calibration is not None:
            self.results["forces_err_est"] = self.calibration.forces_err_est(
                self.results["forces_std"])
            self.results["energy_err_est"] = self.calibration.energy_err_est(
                self.results["energy_std"])

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
        results["stresses_committee"] = full_3x3_to_voigt_6_stress(stresses)
    return results
