"""Δ-ML baselines: a cheap method under the committee.

With a ``baseline:`` section the committee learns the *difference* target −
baseline, and production runs use baseline + committee
(:class:`alearn.calculators.DeltaCalculator`). A baseline is a reference
method's calculator (:mod:`alearn.methods`: ``xtb``, ``gpaw``, ``emt``,
``calculator``), optionally plus DFT-D3 dispersion (the ``dftd3`` package)
through ASE's :class:`~ase.calculators.mixing.SumCalculator`. This module adds
what is Δ-specific: the checks of a baseline against the oracle, its
provenance hash, and the ``BASE_*`` and ``DELTA_*`` keys of labeled frames.

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
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from ase import Atoms
from ase.calculators.mixing import SumCalculator
from ase.stress import full_3x3_to_voigt_6_stress

from alearn.config import BaselineConfig, D3Settings
from alearn.errors import ConfigError, LabelFailed
from alearn.methods import Keys, method, section, total_charge
from alearn.methods.base import package_version, symbols_above
from alearn.oracles.base import label_with_calculator, settings_hash

if TYPE_CHECKING:
    from ase.calculators.calculator import BaseCalculator, Calculator

    from alearn.dataset import Dataset

log = logging.getLogger(__name__)

__all__ = [
    "D3_MAX_Z",
    "BaselineResult",
    "add_baseline",
    "baseline_hash",
    "baseline_settings",
    "check_baseline",
    "compute_baseline",
    "delta_frame",
    "ensure_baselines",
    "make_baseline",
    "with_current_baseline",
]

# simple-dftd3 has reference C6 coefficients up to Lr (Z = 103); measured with
# dftd3 1.7: Rf gives 0 dispersion and Og crashes the library.
D3_MAX_Z = 103


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


def _keys(cfg: BaselineConfig) -> Keys:
    """Messages name the baseline's keys: ``baseline.xtb.uhf``, ``baseline.kind 'xtb'``."""
    return Keys(prefix=f"baseline.{cfg.kind}", subject=f"baseline.kind '{cfg.kind}'")


# --------------------------------------------------------------------------- calculators
def _d3_calculator(d3: D3Settings) -> Calculator:
    from dftd3.ase import DFTD3

    return DFTD3(method=d3.method, damping=d3.damping)


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
    The method's calculator (:mod:`alearn.methods`), giving ``energy`` (eV),
    ``forces`` (eV/Å) and, for 3D-periodic cells where the method has it,
    ``stress`` (eV/Å³). With ``cfg.d3`` set: ``SumCalculator([baseline, DFTD3(...)])``.
    """
    base = method(cfg.kind).make_calculator(section(cfg), keys=_keys(cfg),
                                            communicator=communicator)
    if cfg.d3 is None:
        return base
    return SumCalculator([base, _d3_calculator(cfg.d3)])


# --------------------------------------------------------------------------- checks
def _check_d3(cfg: BaselineConfig, atoms: Atoms, where: str) -> None:
    d3 = cfg.d3
    if cfg.kind == "xtb":
        log.warning("%s: baseline.d3 is set with baseline.kind 'xtb', but %s already includes "
                    "dispersion (D3 in GFN1, D4 in GFN2): it is counted twice", where,
                    cfg.xtb.method)
    heavy = symbols_above(atoms, D3_MAX_Z)
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


def _check_charge(cfg: BaselineConfig, target_charge: float, where: str) -> None:
    charge = total_charge(cfg)
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


def _check_stress(cfg: BaselineConfig, atoms: Atoms, where: str) -> None:
    """A 3D-periodic frame's committee learns DELTA_stress: the baseline must give stress."""
    if cfg.kind != "gpaw" or not atoms.pbc.all():
        return
    from alearn.methods.gpaw_presets import resolved_settings, stress_supported

    mode = resolved_settings(cfg.gpaw)["mode"]
    if not stress_supported(mode):
        raise ConfigError(
            f"{where}: a 3D-periodic structure needs the baseline's stress (the committee "
            f"learns DELTA_stress), but GPAW has none in mode {mode!r}; set "
            "baseline.gpaw.mode: pw.")


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
        The oracle's total charge (e), see :func:`alearn.methods.total_charge`;
        when given, a baseline with another charge is rejected.

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
    method(cfg.kind).check_atoms(atoms, label, section(cfg), keys=_keys(cfg))
    _check_stress(cfg, atoms, label)
    if cfg.d3 is not None:
        _check_d3(cfg, atoms, label)


# --------------------------------------------------------------------------- provenance
def baseline_settings(cfg: BaselineConfig) -> dict[str, Any]:
    """JSON-ready settings and code versions that decide the baseline's values.

    Only the section of the chosen ``kind`` enters (nested under its name; a
    code version of the same name becomes ``<kind>_version``), plus ``d3``, so
    changing an unused section does not invalidate stored ``BASE_*`` values.
    """
    module, settings = method(cfg.kind), section(cfg)
    out: dict[str, Any] = {"kind": cfg.kind}
    fields = module.settings_dict(settings)
    if fields:
        out[cfg.kind] = fields
    out.update({f"{name}_version" if name == cfg.kind else name: value
                for name, value in module.code_versions(settings).items()})
    if cfg.d3 is not None:
        out.update(d3=cfg.d3.model_dump(mode="json"), dftd3=package_version("dftd3"))
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
    try:
        values = label_with_calculator(atoms, calc)
    except Exception as err:  # noqa: BLE001 - any failure is recorded with its cause
        raise LabelFailed(f"baseline {cfg.kind} failed on {atoms.get_chemical_formula()}: "
                          f"{type(err).__name__}: {err}") from err
    return BaselineResult(energy=values.energy, forces=values.forces, stress=values.stress)


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


# --------------------------------------------------------------------------- the campaign's data
def ensure_baselines(ds: Dataset, cfg: BaselineConfig) -> int:
    """Compute the baseline where a labeled row lacks it for the current settings.

    Rows whose stored baseline has another :func:`baseline_hash` (or none) get
    the baseline's values recorded with ``ds.record_baseline``; the target
    labels are never recomputed. A failure is logged and recorded on the row
    (the frame is then left out of Δ training).

    Parameters
    ----------
    ds
        The campaign's dataset (written: call on the writer rank only).
    cfg
        The ``baseline:`` section.

    Returns
    -------
    int
        Number of rows processed (computed or failed).
    """
    wanted = baseline_hash(cfg)
    rows = [r for r in ds.rows(status="labeled")
            if r.data.get("baseline", {}).get("hash") != wanted]
    calc = make_baseline(cfg) if rows else None
    for row in rows:
        try:
            base = compute_baseline(cfg, row.toatoms(), calc=calc)
            ds.record_baseline(row.id, baseline_hash=wanted, energy=base.energy,
                               forces=base.forces, stress=base.stress)
        except LabelFailed as err:
            log.warning("baseline failed on row %d: %s (frame left out)", row.id, err)
            ds.record_baseline(row.id, baseline_hash=wanted, failed=str(err))
    return len(rows)


def with_current_baseline(frames: list[Atoms], cfg: BaselineConfig | None) -> list[Atoms]:
    """The frames a committee trains on: all for direct learning (``cfg`` None),
    else those whose ``info["baseline_hash"]`` is :func:`baseline_hash` of ``cfg``."""
    if cfg is None:
        return frames
    wanted = baseline_hash(cfg)
    return [a for a in frames if a.info.get("baseline_hash") == wanted]
