"""A committee of MACE models as one ASE calculator.

The mean of the members is the prediction; their spread is the uncertainty.
The atomic graph is built once per structure (:mod:`alearn.calculators.graph`)
and shared by all members (:mod:`alearn.calculators.members`); the members can
run in float32 or compiled, and MD can be driven by one member while the
spread is computed only where asked for (``drive="member"``).
An optional :class:`CommitteeCalibration` turns the spread into an expected
error (fitted by :mod:`alearn.calibration`; evaluated here with plain NumPy).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from alearn.calculators.graph import GraphBuilder, ModelInputs
from alearn.calculators.members import (
    CommitteeModels,
    MemberOutputs,
    ModelFileError,
    Precision,
)

__all__ = ["CommitteeCalculator", "CommitteeCalibration", "CommitteeModels", "ModelFileError",
           "committee_results"]

Drive = Literal["mean", "member"]


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
        Ignored when ``models`` is given.
    device
        Torch device, e.g. ``"cpu"`` or ``"cuda"``.
    calibration
        A :class:`CommitteeCalibration` or the path of its ``calibration.json``
        (written next to the members by a campaign); None: spreads only.
    dtype
        ``"float32"`` or ``"float64"``: run the members in this precision (for
        MD; training keeps its own); None: as stored.
    compile_mode
        None, or a ``torch.compile`` mode (``"default"``): mace-torch's compile
        preparation, compiled once on first use (a minute or more per member on
        a CPU), eager again if compilation fails.
    models
        Already loaded (and perhaps compiled) :class:`CommitteeModels` to share
        between calculators; ``model_paths``, ``device``, ``dtype`` and
        ``compile_mode`` are then taken from it.
    drive
        ``"mean"``: energy, forces and stress are the committee means (every
        member evaluated at every call). ``"member"``: they are member
        ``driver``'s alone, unless a spread property (``energy_std``,
        ``forces_std``, ``forces_committee``, ...) is asked for in the same call,
        which evaluates the other members and gives the full committee results
        (cached like any result until the atoms change; ``reset()`` returns to
        the driver's at the same positions). For dynamics at the cost of one
        model (see :meth:`driving`).
    driver
        The member that drives with ``drive="member"``.

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

    The graph is built once per structure (vesin neighbour list, see
    :mod:`alearn.calculators.graph`) and shared by all members; member outputs
    are kept for the last structure, so asking for the full committee after a
    driver-only call evaluates only the other members.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress", "energy_std",
                              "forces_std", "forces_committee", "energies_committee",
                              "stresses_committee"]
    #: properties that need every member
    SPREAD = frozenset({"energy_std", "forces_std", "forces_committee", "energies_committee",
                        "stresses_committee", "forces_err_est", "energy_err_est"})

    def __init__(self, model_paths: Sequence[str | Path] = (), *, device: str = "cpu",
                 calibration: CommitteeCalibration | str | Path | None = None,
                 dtype: Precision | None = None, compile_mode: str | None = None,
                 models: CommitteeModels | None = None, drive: Drive = "mean",
                 driver: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        if models is None:
            if len(model_paths) < 1:
                raise ValueError("CommitteeCalculator needs at least one model path")
            models = CommitteeModels.load(model_paths, device=device, dtype=dtype,
                                          compile_mode=compile_mode)
        if isinstance(calibration, (str, Path)):
            calibration = CommitteeCalibration.read(calibration)
        self.calibration = calibration
        if calibration is not None:
            self.implemented_properties = [*type(self).implemented_properties,
                                           "forces_err_est", "energy_err_est"]
        self.members = models
        self.model_paths = [Path(p) for p in models.names]
        self.device = models.device
        self.r_max = models.r_max
        self.atomic_numbers = models.atomic_numbers
        self.dtype = models.dtype
        self.drive = _checked_drive(drive, driver, len(models))
        self.driver = driver
        self._builder = models.graph_builder()
        self._plain_builder = GraphBuilder(self.atomic_numbers, self.r_max, dtype=self.dtype,
                                           device=self.device)
        self._state: bytes | None = None
        self._inputs: ModelInputs | None = None
        self._done: dict[int, tuple[float, np.ndarray, np.ndarray | None]] = {}

    @property
    def models(self) -> list[torch.nn.Module]:
        """The members' (eager) mace-torch modules."""
        return self.members.models

    @contextmanager
    def driving(self, drive: Drive) -> Iterator[CommitteeCalculator]:
        """Use ``drive`` (``"mean"`` or ``"member"``) inside the block; cached ASE results
        are dropped on entry and exit (member outputs are kept)."""
        old = self.drive
        self.drive = _checked_drive(drive, self.driver, len(self.members))
        self.reset()
        try:
            yield self
        finally:
            self.drive = old
            self.reset()

    def batch(self, atoms: Atoms) -> dict[str, torch.Tensor]:
        """mace-torch's graph of ``atoms`` (one structure) as a dict of tensors."""
        return self._plain_builder.build([atoms]).data

    def calculate(self, atoms: Atoms | None = None, properties=None,
                  system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        periodic = bool(self.atoms.pbc.all())
        if self.drive == "member" and not self.SPREAD.intersection(properties or ()):
            energies, forces, stresses = self._member_outputs([self.driver], periodic)
            self.results = {"energy": float(energies[0]), "free_energy": float(energies[0]),
                            "forces": forces[0]}
            if periodic:
                self.results["stress"] = full_3x3_to_voigt_6_stress(stresses[0])
            return
        energies, forces, stresses = self._member_outputs(range(len(self.members)), periodic)
        self.results = committee_results(energies, forces, stresses)
        if self.calibration is not None:
            self.results["forces_err_est"] = self.calibration.forces_err_est(
                self.results["forces_std"])
            self.results["energy_err_est"] = self.calibration.energy_err_est(
                self.results["energy_std"])

    def _member_outputs(self, members: Iterable[int], stress: bool
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Energies (M,), forces (M, N, 3) and stresses (M, 3, 3) of ``members`` at
        ``self.atoms``; members already evaluated there are not evaluated again."""
        members = list(members)
        state = _state_key(self.atoms)
        if state != self._state:
            self._state, self._inputs, self._done = state, None, {}
        missing = [m for m in members
                   if m not in self._done or (stress and self._done[m][2] is None)]
        if missing:
            out = self._evaluate(missing, stress)
            for i, m in enumerate(missing):
                self._done[m] = (float(out.energies[i, 0]), out.forces[i],
                                 None if out.stress is None else out.stress[i, 0])
        done = [self._done[m] for m in members]
        return (np.array([d[0] for d in done]), np.array([d[1] for d in done]),
                np.array([d[2] for d in done]) if stress else None)

    def _evaluate(self, members: list[int], stress: bool) -> MemberOutputs:
        """Evaluate ``members`` at ``self.atoms`` (the graph is built once per structure)."""
        if self._builder.pad != self.members.compiled:  # compilation failed: unpadded now
            self._builder, self._inputs = self.members.graph_builder(), None
        if self._inputs is None:
            self._inputs = self._builder.build([self.atoms])
        return self.members.evaluate(self._inputs, members, stress=stress)

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


def _checked_drive(drive: str, driver: int, n_members: int) -> Drive:
    if drive not in ("mean", "member"):
        raise ValueError(f"drive={drive!r}: use 'mean' or 'member'")
    if not 0 <= driver < n_members:
        raise ValueError(f"driver={driver}: the committee has members 0..{n_members - 1}")
    return drive  # type: ignore[return-value]


def _state_key(atoms: Atoms) -> bytes:
    """What the members' outputs depend on: numbers, positions, cell and pbc."""
    return b"".join((atoms.numbers.tobytes(), atoms.positions.tobytes(),
                     atoms.cell.array.tobytes(), atoms.pbc.tobytes()))


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
