"""Δ-ML baselines: a cheap method under the committee.

With a ``baseline:`` section the committee learns the *difference* target −
baseline, and production runs use baseline + committee
(:class:`alearn.calculators.DeltaCalculator`). This module builds the
baseline calculator from a :class:`alearn.config.BaselineConfig`, checks
before any DFT runs that the baseline can treat a structure, evaluates it,
and writes the ``BASE_*`` and ``DELTA_*`` keys of a labeled frame.

Kinds
-----
``xtb``         GFN1/GFN2/IPEA1-xTB via tblite (charge and unpaired electrons
                passed through); molecules or 3D-periodic cells, H–Rn.
``gpaw``        GPAW in a cheap setting (default LCAO/dzp), e.g. under an
                expensive GPAW PW target. Keywords come from
                :func:`alearn.calculators.gpaw_presets.gpaw_parameters`.
``emt``         ASE's EMT (tests and demos only).
``calculator``  any ASE calculator, ``module:Class`` plus keyword arguments.

``d3`` adds DFT-D3 dispersion (the ``dftd3`` package) to any of them through
ASE's :class:`~ase.calculators.mixing.SumCalculator`.

Data keys (mace-torch conventions)
----------------------------------
``BASE_energy`` / ``DELTA_energy`` (eV) in ``atoms.info``; ``BASE_forces`` /
``DELTA_forces`` (eV/Å, shape (N, 3)) in ``atoms.arrays``; ``BASE_stress`` /
``DELTA_stress`` (eV/Å³, Voigt order xx yy zz yz xz xy, shape (6,)) in
``atoms.info``, for 3D-periodic frames, like ``REF_stress`` written by
:func:`alearn.dataset.row_to_ref_atoms`. ``baseline_hash`` in ``atoms.info``
records which baseline settings produced the ``BASE_*`` values.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from ase import Atoms
from ase.calculators.calculator import (
    Calculator,
    PropertyNotImplementedError,
    all_changes,
)
from ase.calculators.mixing import SumCalculator
from ase.stress import full_3x3_to_voigt_6_stress

from alearn.config import BaselineConfig, D3Settings, GPAWSettings, OracleConfig
from alearn.errors import ConfigError, LabelFailed
from alearn.oracles.base import settings_hash
from alearn.oracles.xtb import MAX_Z as XTB_MAX_Z

if TYPE_CHECKING:
    from ase.calculators.calculator import BaseCalculator

log = logging.getLogger(__name__)

__all__ = [
    "D3_MAX_Z",
    "TARGET_KEYS",
    "BaselineResult",
    "GPAWBaseline",
    "add_baseline",
    "baseline_charge",
    "baseline_hash",
    "baseline_settings",
    "check_baseline",
    "compute_baseline",
    "delta_frame",
    "make_baseline",
    "oracle_charge",
]

# simple-dftd3 has reference C6 coefficients up to Lr (Z = 103); measured with
# dftd3 1.7: Rf gives 0 dispersion and Og crashes the library.
D3_MAX_Z = 103

#: extxyz keys (energy, forces, stress) a committee trains on, per learning mode.
TARGET_KEYS: dict[str, tuple[str, str, str]] = {
    "direct": ("REF_energy", "REF_forces", "REF_stress"),
    "delta": ("DELTA_energy", "DELTA_forces", "DELTA_stress"),
}


class BaselineResult(NamedTuple):
    """The baseline's values for one structure.

    Attributes
    ----------
    energy
        Energy (eV); for GPAW the free energy, whose gradient the forces are.
    forces
        Forces (eV/Å), shape (N, 3).
    stress
        Stress (eV/Å³), Voigt shape (6,), for 3D-periodic structures; else None.
    """

    energy: float
    forces: np.ndarray
    stress: np.ndarray | None


# --------------------------------------------------------------------------- calculators
class GPAWBaseline(Calculator):
    """GPAW whose keywords follow the structure (k-points, spin, dipole layer).

    ``gpaw_parameters`` depends on the cell, ``pbc`` and electron count, so the
    GPAW calculator is (re)built on the first call and whenever those keywords
    change; between MD steps it is kept and reuses its density. The energy is
    GPAW's free energy (consistent with the forces). Stress in PW mode only.

    Parameters
    ----------
    settings
        GPAW settings (preset + overrides), e.g. ``BaselineConfig.gpaw``.
    communicator
        MPI communicator for GPAW (default: GPAW's world).
    txt
        GPAW's text output (None: discarded).
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, settings: GPAWSettings, *, communicator: Any = None,
                 txt: Any = None) -> None:
        super().__init__()
        self.settings = settings
        self.communicator = communicator
        self.txt = txt
        self._gpaw: Any = None
        self._params: dict[str, Any] | None = None

    def _calculator(self, atoms: Atoms) -> tuple[Any, dict[str, Any]]:
        from alearn.calculators.gpaw_presets import gpaw_parameters

        params = gpaw_parameters(self.settings, atoms)
        if self._gpaw is None or params != self._params:
            from gpaw import GPAW

            self._gpaw = GPAW(**params, txt=self.txt, communicator=self.communicator)
            self._params = params
        return self._gpaw, params

    def calculate(self, atoms: Atoms | None = None, properties: Sequence[str] = ("energy",),
                  system_changes: Sequence[str] = all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        from alearn.calculators.gpaw_presets import stress_supported
        from alearn.oracles.gpaw import prepare_atoms

        gpaw, params = self._calculator(self.atoms)
        work = prepare_atoms(self.atoms, params)
        work.calc = gpaw
        energy = float(work.get_potential_energy(force_consistent=True))
        self.results = {"energy": energy, "free_energy": energy}
        if "forces" in properties or "stress" in properties:
            self.results["forces"] = np.array(work.get_forces(apply_constraint=False))
        if "stress" in properties:
            mode = params["mode"]["name"]
            if not (work.pbc.all() and stress_supported(mode)):
                raise PropertyNotImplementedError(
                    f"GPAW gives the stress for 3D-periodic cells in PW mode only "
                    f"(mode {mode!r}, pbc={work.pbc.tolist()})")
            self.results["stress"] = np.array(work.get_stress(voigt=True,
                                                              apply_constraint=False))


def _d3_calculator(d3: D3Settings) -> Calculator:
    from dftd3.ase import DFTD3

    return DFTD3(method=d3.method, damping=d3.damping)


def _base_calculator(cfg: BaselineConfig, communicator: Any) -> BaseCalculator:
    if cfg.kind == "xtb":
        from alearn.oracles.xtb import xtb_calculator

        return xtb_calculator(cfg.xtb)
    if cfg.kind == "emt":
        from ase.calculators.emt import EMT

        return EMT()
    if cfg.kind == "gpaw":
        return GPAWBaseline(cfg.gpaw, communicator=communicator)
    if cfg.kind == "calculator":
        from alearn.oracles.generic import import_object

        factory = import_object(cfg.calculator.import_path, "baseline.calculator.import_path")
        return factory(**cfg.calculator.kwargs)
    raise ConfigError(f"baseline.kind: unknown kind {cfg.kind!r}; use xtb, gpaw, emt or "
                      "calculator")


def make_baseline(cfg: BaselineConfig, *, communicator: Any = None) -> BaseCalculator:
    """The baseline as one ASE calculator.

    Parameters
    ----------
    cfg
        The ``baseline:`` section.
    communicator
        MPI communicator for a GPAW baseline (default: GPAW's world).

    Returns
    -------
    An ASE calculator giving ``energy`` (eV), ``forces`` (eV/Å) and, for
    3D-periodic cells where the method has it, ``stress`` (eV/Å³). With
    ``cfg.d3`` set: ``SumCalculator([baseline, DFTD3(...)])``.
    """
    base = _base_calculator(cfg, communicator)
    if cfg.d3 is None:
        return base
    return SumCalculator([base, _d3_calculator(cfg.d3)])


# --------------------------------------------------------------------------- checks
def _symbols_above(atoms: Atoms, max_z: int) -> list[str]:
    from ase.data import chemical_symbols

    return sorted({chemical_symbols[z] for z in atoms.numbers if z > max_z})


def _check_xtb(cfg: BaselineConfig, atoms: Atoms, where: str) -> None:
    heavy = _symbols_above(atoms, XTB_MAX_Z)
    if heavy:
        raise ConfigError(
            f"{where}: baseline.kind 'xtb' has no parameters for {heavy} (GFN-xTB covers "
            f"H–Rn, Z ≤ {XTB_MAX_Z}); use baseline.kind: gpaw or calculator for this "
            "structure, or remove the baseline: section.")
    settings = cfg.xtb
    charge = settings.charge
    if abs(charge - round(charge)) < 1e-9:
        n_electrons = int(atoms.numbers.sum()) - round(charge)
        if (n_electrons - settings.uhf) % 2:
            options = [u for u in (settings.uhf - 1, settings.uhf + 1) if u >= 0]
            raise ConfigError(
                f"{where}: {n_electrons} electrons (baseline.xtb.charge = {charge:g}) cannot "
                f"have baseline.xtb.uhf = {settings.uhf} unpaired electrons; set "
                f"baseline.xtb.uhf to {' or '.join(map(str, options))}, or fix "
                "baseline.xtb.charge.")
    if atoms.pbc.any() and not atoms.pbc.all():
        raise ConfigError(
            f"{where}: baseline.kind 'xtb' (tblite) treats molecules or 3D-periodic cells, not "
            f"pbc={atoms.pbc.tolist()}; make the system fully periodic or non-periodic, or use "
            "baseline.kind: gpaw.")
    if cfg.d3 is not None:
        log.warning("%s: baseline.d3 is set with baseline.kind 'xtb', but %s already includes "
                    "dispersion (D3 in GFN1, D4 in GFN2): it is counted twice", where,
                    settings.method)


def _check_emt(cfg: BaselineConfig, atoms: Atoms, where: str) -> None:
    from ase.calculators.emt import parameters

    unsupported = sorted(set(atoms.get_chemical_symbols()) - set(parameters))
    if unsupported:
        raise ConfigError(
            f"{where}: baseline.kind 'emt' has no parameters for {unsupported}; EMT supports "
            f"{sorted(parameters)}. Use baseline.kind: xtb, gpaw or calculator.")


def _check_gpaw(cfg: BaselineConfig, atoms: Atoms, where: str) -> None:
    from alearn.calculators.gpaw_presets import resolved_settings, stress_supported
    from alearn.oracles.gpaw import GPAWOracle

    try:
        GPAWOracle(cfg.gpaw).check(atoms, where)
    except ConfigError as err:
        # the oracle's messages name keys 'gpaw.x'; here they live under 'baseline.gpaw.x'
        text = str(err)
        head, tail = (where, text[len(where):]) if text.startswith(where) else ("", text)
        tail = re.sub(r"(?<![\w.])gpaw\.(?=\w)", "baseline.gpaw.", tail)
        raise ConfigError(head + tail.replace("gpaw preset", "baseline.gpaw.preset")) from None
    mode = resolved_settings(cfg.gpaw)["mode"]
    if atoms.pbc.all() and not stress_supported(mode):
        raise ConfigError(
            f"{where}: a 3D-periodic structure needs the baseline's stress (the committee "
            f"learns DELTA_stress), but GPAW has none in mode {mode!r}; set "
            "baseline.gpaw.mode: pw.")


def _check_calculator(cfg: BaselineConfig, atoms: Atoms, where: str) -> None:
    from alearn.oracles.generic import import_object

    factory = import_object(cfg.calculator.import_path, f"{where}: baseline.calculator.import_path")
    checker = getattr(factory, "check_atoms", None)
    if checker is not None:
        checker(atoms, f"{where} (baseline.calculator)")


def _check_d3(d3: D3Settings, atoms: Atoms, where: str) -> None:
    heavy = _symbols_above(atoms, D3_MAX_Z)
    if heavy:
        raise ConfigError(
            f"{where}: baseline.d3 (DFT-D3) has no reference dispersion coefficients for "
            f"{heavy} (Z > {D3_MAX_Z}); remove baseline.d3.")
    from dftd3 import interface

    damping = {"d3bj": interface.RationalDampingParam, "d3zero": interface.ZeroDampingParam,
               "d3bjm": interface.ModifiedRationalDampingParam,
               "d3zerom": interface.ModifiedZeroDampingParam,
               "d3op": interface.OptimizedPowerDampingParam}[d3.damping]
    try:
        damping(method=d3.method)
    except RuntimeError as err:
        raise ConfigError(
            f"{where}: baseline.d3: dftd3 has no '{d3.damping}' parameters for "
            f"baseline.d3.method = {d3.method!r} ({err}); choose a functional it knows "
            "(e.g. pbe, revpbe, b3lyp) or another baseline.d3.damping.") from None


_CHECKS = {"xtb": _check_xtb, "emt": _check_emt, "gpaw": _check_gpaw,
           "calculator": _check_calculator}


def baseline_charge(cfg: BaselineConfig) -> float | None:
    """Total charge (e) the baseline is run with; None when unknown (``calculator``)."""
    return {"xtb": cfg.xtb.charge, "gpaw": cfg.gpaw.charge, "emt": 0.0}.get(cfg.kind)


def oracle_charge(cfg: OracleConfig) -> float | None:
    """Total charge (e) the oracle labels with; None when unknown (``calculator``)."""
    return {"xtb": cfg.xtb.charge, "gpaw": cfg.gpaw.charge, "emt": 0.0}.get(cfg.kind)


def _check_charge(cfg: BaselineConfig, target_charge: float, where: str) -> None:
    charge = baseline_charge(cfg)
    if charge is None or abs(charge - target_charge) < 1e-9:
        return
    if cfg.kind == "emt":
        raise ConfigError(f"{where}: the oracle labels a system of charge {target_charge:g} "
                          "but baseline.kind 'emt' treats neutral systems only; use "
                          "baseline.kind: xtb or gpaw with its charge set.")
    raise ConfigError(
        f"{where}: the oracle labels charge {target_charge:g} but baseline.{cfg.kind}.charge "
        f"is {charge:g}; set baseline.{cfg.kind}.charge: {target_charge:g} (otherwise the "
        "committee has to learn an ionization energy).")


def check_baseline(cfg: BaselineConfig, atoms: Atoms, where: str, *,
                   target_charge: float | None = None) -> None:
    """Raise if the baseline cannot treat ``atoms``; cheap, runs before any DFT.

    Parameters
    ----------
    cfg
        The ``baseline:`` section.
    atoms
        A structure of the campaign (start structure or initial data frame).
    where
        Names the structure in messages, e.g. ``"systems[li_water]"``.
    target_charge
        The oracle's total charge (e), see :func:`oracle_charge`; when given,
        a baseline with another charge is rejected.

    Raises
    ------
    ConfigError
        Unsupported element (xTB: Z > 86; EMT's elements; D3: Z > 103; GPAW:
        no PAW setup), charge/unpaired-electron parity, periodicity the method
        cannot treat (tblite: 1D/2D), a GPAW mode without stress for a
        3D-periodic cell, unknown D3 parameters, or a charge that differs from
        the oracle's. The message names the structure, the ``baseline.`` key
        and the element, and says what to change.
    """
    label = f"{where} (baseline.kind: {cfg.kind})"
    if target_charge is not None:
        _check_charge(cfg, target_charge, label)
    _CHECKS[cfg.kind](cfg, atoms, label)
    if cfg.d3 is not None:
        _check_d3(cfg.d3, atoms, label)


# --------------------------------------------------------------------------- provenance
def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def baseline_settings(cfg: BaselineConfig) -> dict[str, Any]:
    """JSON-ready settings and code versions that decide the baseline's values.

    Only the section of the chosen ``kind`` enters (plus ``d3``), so changing
    an unused section does not invalidate stored ``BASE_*`` values.
    """
    out: dict[str, Any] = {"kind": cfg.kind}
    if cfg.kind == "xtb":
        out.update(xtb=cfg.xtb.model_dump(mode="json"), tblite=_version("tblite"))
    elif cfg.kind == "gpaw":
        from alearn.calculators.gpaw_presets import resolved_settings

        out.update(gpaw=resolved_settings(cfg.gpaw), gpaw_version=_version("gpaw"),
                   gpaw_data=_version("gpaw-data"))
    elif cfg.kind == "emt":
        out.update(ase=_version("ase"))
    else:
        out.update(calculator=cfg.calculator.model_dump(mode="json"))
    if cfg.d3 is not None:
        out.update(d3=cfg.d3.model_dump(mode="json"), dftd3=_version("dftd3"))
    return out


def baseline_hash(cfg: BaselineConfig) -> str:
    """Short hash of :func:`baseline_settings` (stored as ``baseline_hash``)."""
    return settings_hash(baseline_settings(cfg))


# --------------------------------------------------------------------------- values
def compute_baseline(cfg: BaselineConfig, atoms: Atoms, *,
                     calc: BaseCalculator | None = None) -> BaselineResult:
    """Evaluate the baseline on ``atoms`` (not modified).

    Parameters
    ----------
    cfg
        The ``baseline:`` section.
    atoms
        The structure.
    calc
        A calculator from :func:`make_baseline` to reuse (faster for many
        frames); a new one is built when None.

    Raises
    ------
    LabelFailed
        When the baseline calculation fails (e.g. xTB SCF not converged): a
        frame without a baseline cannot be used for Δ-learning.
    """
    calc = calc if calc is not None else make_baseline(cfg)
    work = atoms.copy()
    work.calc = calc
    try:
        energy = float(work.get_potential_energy())
        forces = np.array(work.get_forces(apply_constraint=False), dtype=float)
        stress = (np.array(work.get_stress(voigt=True, apply_constraint=False), dtype=float)
                  if work.pbc.all() else None)
    except Exception as err:  # noqa: BLE001 - any failure is recorded with its cause
        raise LabelFailed(f"baseline {cfg.kind} failed on {work.get_chemical_formula()}: "
                          f"{type(err).__name__}: {err}") from err
    return BaselineResult(energy=energy, forces=forces, stress=stress)


def _voigt(stress: Any) -> np.ndarray:
    stress = np.asarray(stress, dtype=float)
    return full_3x3_to_voigt_6_stress(stress) if stress.shape == (3, 3) else stress.reshape(6)


def _frame_name(atoms: Atoms) -> str:
    ident = ", ".join(f"{k}={atoms.info[k]}" for k in ("system", "db_id") if k in atoms.info)
    return f"frame {atoms.get_chemical_formula()}" + (f" ({ident})" if ident else "")


def delta_frame(atoms: Atoms, base: BaselineResult, *, baseline_hash: str | None = None
                ) -> Atoms:
    """A copy of a labeled frame with ``BASE_*`` and ``DELTA_* = REF_* − BASE_*``.

    Parameters
    ----------
    atoms
        Frame with ``REF_energy`` (info), ``REF_forces`` (arrays) and, for
        3D-periodic frames, ``REF_stress`` (info, Voigt (6,) or (3, 3)).
    base
        The baseline's values for this frame (:func:`compute_baseline`).
    baseline_hash
        Provenance of ``base`` (:func:`baseline_hash`), stored in ``info``.

    Returns
    -------
    Atoms
        A copy with ``BASE_energy``, ``DELTA_energy`` (eV) in ``info``,
        ``BASE_forces``, ``DELTA_forces`` (eV/Å, (N, 3)) in ``arrays`` and,
        when the frame has ``REF_stress``, ``BASE_stress``, ``DELTA_stress``
        (eV/Å³, Voigt (6,)) in ``info``.

    Raises
    ------
    ValueError
        When the frame has no ``REF_energy``/``REF_forces``, the baseline's
        forces have another shape, or the frame has ``REF_stress`` but the
        baseline gave no stress.
    """
    name = _frame_name(atoms)
    if "REF_energy" not in atoms.info or "REF_forces" not in atoms.arrays:
        raise ValueError(f"{name}: no REF_energy (info) or REF_forces (arrays); label it first")
    forces = np.asarray(base.forces, dtype=float)
    if forces.shape != (len(atoms), 3):
        raise ValueError(f"{name}: baseline forces have shape {forces.shape}, "
                         f"expected ({len(atoms)}, 3)")
    out = atoms.copy()
    out.calc = None
    out.info["BASE_energy"] = float(base.energy)
    out.info["DELTA_energy"] = float(atoms.info["REF_energy"]) - float(base.energy)
    out.arrays["BASE_forces"] = forces.copy()
    out.arrays["DELTA_forces"] = np.asarray(atoms.arrays["REF_forces"], dtype=float) - forces
    if atoms.info.get("REF_stress") is not None:
        if base.stress is None:
            raise ValueError(f"{name}: has REF_stress but the baseline gave no stress; use a "
                             "baseline with stress for 3D-periodic cells (e.g. "
                             "baseline.gpaw.mode: pw)")
        out.info["BASE_stress"] = _voigt(base.stress)
        out.info["DELTA_stress"] = _voigt(atoms.info["REF_stress"]) - out.info["BASE_stress"]
    if baseline_hash is not None:
        out.info["baseline_hash"] = baseline_hash
    return out


def add_baseline(frames: Sequence[Atoms], cfg: BaselineConfig, *,
                 calc: BaseCalculator | None = None) -> list[Atoms]:
    """``BASE_*``/``DELTA_*`` for frames that lack them or carry another baseline's.

    Frames whose ``baseline_hash`` matches ``cfg`` are returned as they are,
    so switching a campaign from direct to Δ-learning recomputes only the
    (cheap) baseline where it is missing, never the target.

    Returns
    -------
    New list of frames (copies where the baseline was added).

    Raises
    ------
    LabelFailed
        When the baseline fails on a frame (see :func:`compute_baseline`).
    """
    wanted = baseline_hash(cfg)
    calc = calc if calc is not None else make_baseline(cfg)
    out = []
    for atoms in frames:
        if atoms.info.get("baseline_hash") == wanted and "DELTA_forces" in atoms.arrays:
            out.append(atoms)
            continue
        out.append(delta_frame(atoms, compute_baseline(cfg, atoms, calc=calc),
                               baseline_hash=wanted))
    return out
