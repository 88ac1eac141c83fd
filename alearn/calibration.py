"""Calibration of the committee's spread against its errors on the validation frames.

After each training the committee predicts the validation frames and its
spread is mapped to the error it actually makes there. Definitions (per atom
i of all validation frames, M atoms in all):

``ΔF_i``
    F̄_i − F_ref,i, the committee mean's force error (eV/Å, a 3-vector).
``σ_i``
    the raw spread ``forces_std`` = sqrt(mean_k |F_ik − F̄_i|²) (eV/Å).
expected error ``forces_err_est``
    the root mean square of |ΔF_i| expected at σ_i (eV/Å): a Gaussian error
    model with per-component variance err_est_i² / 3, isotropic.

Fits (the practice of Kellner & Ceriotti 2024 and of aims-PAX: rescale the
committee's variance by a factor fitted on validation data):

scale
    err_est = s·σ. Maximum likelihood of the Gaussian model, ΔF_ic ~ N(0, s²σ_i²/3)
    for the 3M components, gives s² = (1/M) Σ_i |ΔF_i|² / σ_i². Atoms with
    σ_i ≤ 1e-6 eV/Å (numerical noise, e.g. atoms of a symmetric structure
    whose forces vanish) are left out of fits, metrics and plot. The energy
    gets its own factor, s_E² = mean over frames of ΔE² / σ_E² (ΔE, σ_E in
    eV; frames with σ_E ≤ 1e-6 eV left out).
isotonic
    err_est = sqrt(g(σ)), g the non-decreasing least-squares fit of |ΔF_i|² to
    σ_i (scikit-learn's IsotonicRegression), stored as a table of knots and
    interpolated by :class:`alearn.calculators.committee.CommitteeCalibration`.
    Used when ``uncertainty.calibration: isotonic`` and there are at least
    ``uncertainty.isotonic_min_atoms`` (default 200) validation atoms; with
    fewer, the scale factor. The scale factor is fitted and stored either way.

The fit is written to ``iter_NNN/committee/calibration.json`` and read back by
:func:`alearn.trained_committee.committee_calculator`. The numbers of the fit (on the
same validation frames, so "after" is in-sample) go into the train marker:
see :func:`calibration_metrics`.

Adaptive ``lo`` (``uncertainty.adaptive_lo``): a moving target in the spirit
of aims-PAX, whose threshold follows the running mean of the uncertainty seen
in MD. Here the target follows the committee's validation error: selection in
iteration n uses lo_n = min(lo, max(lo_min, factor × RMSE_n)), RMSE_n =
sqrt(mean_i |ΔF_i|²) of committee n (eV/Å). The stop criterion keeps counting
frames below the configured ``lo``; see :func:`selection_window`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from alearn import report
from alearn.calculators.committee import CommitteeCalibration
from alearn.config import UncertaintyConfig
from alearn.state import write_json_atomic

log = logging.getLogger(__name__)

CALIBRATION_FILE = "calibration.json"
#: spreads at or below this (eV/Å or eV) are numerical noise: left out of fits and metrics
MIN_SPREAD = 1e-6


@dataclass(frozen=True)
class ValidationErrors:
    """A committee's predictions on the validation frames.

    Attributes
    ----------
    ref_forces, pred_forces
        (M, 3) reference and committee-mean forces of all M atoms (eV/Å).
    forces_std
        (M,) raw per-atom spread σ_i (eV/Å).
    energy_err, energy_std
        (F,) committee-mean minus reference energy and energy spread per frame (eV).
    n_atoms
        (F,) atoms per frame.
    numbers
        (M,) atomic numbers of the atoms (None: not recorded).
    """

    ref_forces: np.ndarray
    pred_forces: np.ndarray
    forces_std: np.ndarray
    energy_err: np.ndarray
    energy_std: np.ndarray
    n_atoms: np.ndarray
    numbers: np.ndarray | None = None

    @property
    def force_err(self) -> np.ndarray:
        """(M,) |ΔF_i| per atom (eV/Å)."""
        return np.linalg.norm(self.pred_forces - self.ref_forces, axis=1)

    def resolved(self) -> ValidationErrors:
        """The same with only the atoms whose spread is above ``MIN_SPREAD`` (energies
        unchanged)."""
        keep = np.isfinite(self.forces_std) & (self.forces_std > MIN_SPREAD)
        return ValidationErrors(self.ref_forces[keep], self.pred_forces[keep],
                                self.forces_std[keep], self.energy_err, self.energy_std,
                                self.n_atoms,
                                None if self.numbers is None else self.numbers[keep])


def predict_validation(calc, valid: Sequence[Atoms]) -> ValidationErrors:
    """Evaluate a committee(-based) calculator on frames with ``REF_energy`` and
    ``REF_forces``; the raw spread is read from ``forces_std`` and ``energy_std``."""
    ref, pred, std, de, se = [], [], [], [], []
    for atoms in valid:
        work = atoms.copy()
        work.calc = calc
        de.append(work.get_potential_energy() - atoms.info["REF_energy"])
        ref.append(np.asarray(atoms.arrays["REF_forces"], dtype=float))
        pred.append(np.asarray(calc.results["forces"], dtype=float))
        std.append(np.asarray(calc.results["forces_std"], dtype=float))
        se.append(float(calc.results["energy_std"]))
    empty3 = np.zeros((0, 3))
    return ValidationErrors(
        ref_forces=np.concatenate(ref) if ref else empty3,
        pred_forces=np.concatenate(pred) if pred else empty3,
        forces_std=np.concatenate(std) if std else np.zeros(0),
        energy_err=np.array(de, dtype=float), energy_std=np.array(se, dtype=float),
        n_atoms=np.array([len(a) for a in valid], dtype=int),
        numbers=np.concatenate([a.numbers for a in valid]) if valid else np.zeros(0, int))


def fit_scale(err: np.ndarray, std: np.ndarray) -> float:
    """Maximum-likelihood s with err_est = s·std (see the module docstring).

    Parameters
    ----------
    err
        (M,) error magnitudes |ΔF_i| (eV/Å), or |ΔE| per frame (eV).
    std
        (M,) spreads in the same units.

    Returns
    -------
    s = sqrt(mean(err² / std²)) over the entries with std > 1e-6; 1.0 with none.
    """
    err, std = np.asarray(err, dtype=float), np.asarray(std, dtype=float)
    use = (std > MIN_SPREAD) & np.isfinite(err) & np.isfinite(std)
    if not use.any():
        return 1.0
    return float(np.sqrt(np.mean((err[use] / std[use]) ** 2)))


def fit_isotonic(err: np.ndarray, std: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The isotonic table: knots of σ (eV/Å) and sqrt of the non-decreasing fit of
    err² to σ at them (eV/Å), both increasing, shapes (K,)."""
    from sklearn.isotonic import IsotonicRegression

    err, std = np.asarray(err, dtype=float), np.asarray(std, dtype=float)
    use = (std > MIN_SPREAD) & np.isfinite(err) & np.isfinite(std)
    iso = IsotonicRegression(increasing=True, out_of_bounds="clip").fit(std[use], err[use] ** 2)
    return (tuple(float(x) for x in iso.X_thresholds_),
            tuple(float(np.sqrt(max(y, 0.0))) for y in iso.y_thresholds_))


def fit_calibration(errors: ValidationErrors,
                    ucfg: UncertaintyConfig) -> tuple[CommitteeCalibration, str]:
    """Calibration of a committee from its validation errors, and the force method
    used (``"scale"`` or ``"isotonic"``)."""
    force_scale = fit_scale(errors.force_err, errors.forces_std)
    energy_scale = fit_scale(np.abs(errors.energy_err), errors.energy_std)
    n_fit = int(np.sum(errors.forces_std > MIN_SPREAD))
    if n_fit == 0:
        log.warning("calibration: no validation atom has a force spread above %g eV/Å "
                    "(no validation frames, or only symmetric ones with zero forces); "
                    "forces_err_est is the raw spread (scale 1)", MIN_SPREAD)
    if ucfg.calibration == "isotonic" and n_fit >= ucfg.isotonic_min_atoms:
        knots, values = fit_isotonic(errors.force_err, errors.forces_std)
        return CommitteeCalibration(force_scale, energy_scale, knots, values), "isotonic"
    if ucfg.calibration == "isotonic":
        log.info("calibration: %d validation atoms < uncertainty.isotonic_min_atoms = %d; "
                 "fitted a scale factor", n_fit, ucfg.isotonic_min_atoms)
    return CommitteeCalibration(force_scale, energy_scale), "scale"


def miscalibration_area(residuals: np.ndarray, sigma: np.ndarray, n_levels: int = 101) -> float:
    """Area between the observed and the expected coverage of Gaussian intervals.

    For each level p in [0, 1] the central interval ±Φ⁻¹((1+p)/2)·σ holds a
    fraction p of Gaussian residuals; the area is ∫₀¹ |observed(p) − p| dp
    (trapezoid rule on ``n_levels`` levels): 0 when calibrated, at most 0.5.

    Parameters
    ----------
    residuals
        (n,) residuals (e.g. force components, eV/Å).
    sigma
        (n,) predicted standard deviations of the residuals, same units.
    """
    from scipy.stats import norm

    r, s = np.abs(np.asarray(residuals, dtype=float)), np.asarray(sigma, dtype=float)
    if not len(r):
        return float("nan")
    z = r / np.maximum(s, np.finfo(float).tiny)
    levels = np.linspace(0.0, 1.0, n_levels)
    bounds = norm.ppf(0.5 + levels / 2)  # inf at p = 1
    observed = (z[None, :] <= bounds[:, None]).mean(axis=1)
    gap = np.abs(observed - levels)
    return float(np.sum((gap[1:] + gap[:-1]) / 2 * np.diff(levels)))


def force_miscalibration_area(errors: ValidationErrors, err_est: np.ndarray) -> float:
    """:func:`miscalibration_area` of the force components, with per-component
    σ = err_est_i / √3 for atom i (the isotropic model of the module docstring)."""
    sigma = np.repeat(np.asarray(err_est, dtype=float) / np.sqrt(3.0), 3)
    return miscalibration_area((errors.pred_forces - errors.ref_forces).ravel(), sigma)


def spearman(spread: np.ndarray, err: np.ndarray) -> float:
    """Spearman rank correlation of per-atom spread and per-atom error (NaN with
    fewer than 3 atoms or a constant input)."""
    from scipy.stats import spearmanr

    spread, err = np.asarray(spread, dtype=float), np.asarray(err, dtype=float)
    if len(spread) < 3 or np.ptp(spread) == 0 or np.ptp(err) == 0:
        return float("nan")
    return float(spearmanr(spread, err)[0])


def calibration_metrics(errors: ValidationErrors, cal: CommitteeCalibration) -> dict[str, float]:
    """Quality of the spread on the validation atoms.

    Returns
    -------
    ``spearman_force``: rank correlation of σ_i and |ΔF_i|;
    ``miscalibration_area_raw`` and ``miscalibration_area``: of the raw spread
    and of the calibrated expected error (in-sample), see
    :func:`force_miscalibration_area`.
    """
    return {"spearman_force": spearman(errors.forces_std, errors.force_err),
            "miscalibration_area_raw": force_miscalibration_area(errors, errors.forces_std),
            "miscalibration_area": force_miscalibration_area(
                errors, cal.forces_err_est(errors.forces_std))}


def adaptive_lo(ucfg: UncertaintyConfig, rmse_forces_meV_A: float | None) -> float:
    """lo = min(lo, max(lo_min, factor × RMSE)) (eV/Å), RMSE = sqrt(mean_i |ΔF_i|²)
    = √3 × the per-component validation RMSE ``rmse_forces_meV_A``; the
    configured lo when adaptive_lo is off or the RMSE is unknown (NaN, None)."""
    if not ucfg.adaptive_lo or rmse_forces_meV_A is None or not np.isfinite(rmse_forces_meV_A):
        return ucfg.lo
    rmse_atom = np.sqrt(3.0) * float(rmse_forces_meV_A) / 1000.0
    return float(min(ucfg.lo, max(ucfg.lo_min, ucfg.adaptive_lo_factor * rmse_atom)))


def selection_window(ucfg: UncertaintyConfig, train_marker: dict | None) -> UncertaintyConfig:
    """The trust window that selects an iteration's frames: ``lo`` from
    :func:`adaptive_lo` with the committee's validation RMSE in its train marker."""
    lo = adaptive_lo(ucfg, (train_marker or {}).get("rmse_forces_meV_A"))
    return ucfg if lo == ucfg.lo else ucfg.model_copy(update={"lo": lo})


def validate_and_calibrate(calc, valid: Sequence[Atoms], iter_dir: Path,
                           ucfg: UncertaintyConfig, *, committee_dir: Path | None = None,
                           report_dir: Path | None = None, who: str = "committee"
                           ) -> dict[str, float | str]:
    """After training: validation RMSE and parity plot, the calibration written to
    ``committee_dir/calibration.json`` (default ``iter_dir/committee``), its metrics and
    reliability diagram (``report_dir/reliability.png``, default ``iter_dir/report``).
    ``who`` names the committee in the log. Returns the train marker's metrics."""
    committee_dir = committee_dir or iter_dir / "committee"
    report_dir = report_dir or iter_dir / "report"
    every = predict_validation(calc, valid)
    metrics: dict[str, float | str] = dict(report.validation_metrics(every, report_dir, who=who))
    errors = every.resolved()
    cal, method = fit_calibration(errors, ucfg)
    info = {"method": method, "n_valid_frames": len(errors.n_atoms),
            "n_atoms_used": len(errors.forces_std),
            "definition": "forces_err_est: expected RMS of |F_mean - F_ref| per atom (eV/Å); "
                          "see alearn.calibration"}
    write_json_atomic(committee_dir / CALIBRATION_FILE, {**cal.as_dict(), **info})
    quality = calibration_metrics(errors, cal)
    if len(errors.forces_std):
        report.reliability_diagram(errors.forces_std, cal.forces_err_est(errors.forces_std),
                                   errors.force_err, report_dir / "reliability.png",
                                   note=f"s = {cal.force_scale:.3g} ({method}), "
                                        f"ρ = {quality['spearman_force']:.2f}")
    metrics.update(quality, calib_method=method, calib_n_atoms=len(errors.forces_std),
                   calib_force_scale=cal.force_scale,
                   calib_energy_scale=cal.energy_scale,
                   lo_effective=adaptive_lo(ucfg, float(metrics["rmse_forces_meV_A"])))
    return metrics
