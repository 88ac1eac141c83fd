"""Calibration of the committee spread: fits, metrics, calibrated/adaptive trust window."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import read

from alearn import load_committee
from alearn.calculators.committee import CommitteeCalibration, committee_results
from alearn.calibration import (
    ValidationErrors,
    adaptive_lo,
    calibration_metrics,
    fit_calibration,
    fit_scale,
    miscalibration_area,
    selection_window,
    spearman,
)
from alearn.config import UncertaintyConfig
from alearn.state import write_json_atomic
from alearn.uncertainty import Zone, frame_zone, from_results
from conftest import alearn_cli

TRUE_SCALE = 2.5


def synthetic(n_atoms: int, scale: float, *, seed: int = 0,
              rms_of=lambda std: std) -> ValidationErrors:
    """Validation atoms whose force error components are N(0, (scale·rms_of(std))² / 3)."""
    rng = np.random.default_rng(seed)
    std = rng.lognormal(np.log(0.05), 0.6, n_atoms)
    err = rng.normal(size=(n_atoms, 3)) * (scale * rms_of(std) / np.sqrt(3))[:, None]
    ref = rng.normal(size=(n_atoms, 3))
    n_frames = n_atoms // 10
    energy_std = rng.lognormal(np.log(0.1), 0.3, n_frames)
    return ValidationErrors(ref_forces=ref, pred_forces=ref + err, forces_std=std,
                            energy_err=rng.normal(size=n_frames) * 1.5 * energy_std,
                            energy_std=energy_std, n_atoms=np.full(n_frames, 10))


def test_scale_recovers_a_known_factor():
    errors = synthetic(20000, TRUE_SCALE)
    cal, method = fit_calibration(errors, UncertaintyConfig())
    assert method == "scale" and cal.isotonic_std_eV_A is None
    assert cal.force_scale == pytest.approx(TRUE_SCALE, rel=0.02)
    assert cal.energy_scale == pytest.approx(1.5, rel=0.05)
    np.testing.assert_allclose(cal.forces_err_est(errors.forces_std),
                               cal.force_scale * errors.forces_std)
    assert fit_scale(np.ones(3), np.zeros(3)) == 1.0  # no usable spread: no rescaling


def test_isotonic_is_monotone_and_follows_a_nonlinear_error():
    def rms_of(std):
        return 0.02 + 20 * std ** 2

    errors = synthetic(5000, 1.0, rms_of=rms_of)
    cfg = UncertaintyConfig(calibration="isotonic", isotonic_min_atoms=200)
    cal, method = fit_calibration(errors, cfg)
    assert method == "isotonic"
    knots, values = np.array(cal.isotonic_std_eV_A), np.array(cal.isotonic_err_eV_A)
    assert np.all(np.diff(knots) > 0) and np.all(np.diff(values) >= 0)
    grid = np.linspace(0, 2 * knots[-1], 500)  # beyond both ends of the table
    est = cal.forces_err_est(grid)
    assert np.all(np.diff(est) >= -1e-12) and np.all(est >= 0)
    mid = np.quantile(errors.forces_std, [0.3, 0.5, 0.7])
    np.testing.assert_allclose(cal.forces_err_est(mid), rms_of(mid), rtol=0.25)
    few = synthetic(100, 1.0)
    assert fit_calibration(few, cfg)[1] == "scale"  # fewer than isotonic_min_atoms


def test_metrics_on_synthetic_errors():
    errors = synthetic(5000, TRUE_SCALE)
    cal = CommitteeCalibration(force_scale=TRUE_SCALE)
    metrics = calibration_metrics(errors, cal)
    assert metrics["miscalibration_area"] < 0.02
    assert metrics["miscalibration_area_raw"] > 0.15  # spread 2.5× too small
    assert 0 < metrics["spearman_force"] < 1
    std = np.linspace(0.01, 1, 50)
    assert spearman(std, std ** 2 + 0.3) == pytest.approx(1.0)
    assert spearman(std, -std) == pytest.approx(-1.0)
    assert np.isnan(miscalibration_area(np.zeros(0), np.zeros(0)))


def test_calibrated_units_in_the_trust_window():
    forces = np.zeros((2, 2, 3))
    forces[0, 1], forces[1, 1] = [0.01, 0, 0], [-0.01, 0, 0]
    results = committee_results(np.array([0.0, 0.0]), forces, None)
    results["forces_err_est"] = 10 * results["forces_std"]
    results["energy_err_est"] = 0.0
    unc = from_results(results, 2)
    assert unc.max_force_err_est == pytest.approx(10 * unc.max_force_std)
    frame = bulk("Cu")
    frame.info.update(unc.as_info())
    assert frame.info["unc_max_force_err_est"] == pytest.approx(0.1)
    raw = UncertaintyConfig(lo=0.05, hi=0.5)
    calibrated = raw.model_copy(update={"units": "calibrated"})
    assert frame_zone(frame, raw) is Zone.TRUSTED  # spread 0.01 < lo
    assert frame_zone(frame, calibrated) is Zone.CANDIDATE  # expected error 0.1 ≥ lo
    del frame.info["unc_max_force_err_est"]  # an uncalibrated committee's frame
    assert frame_zone(frame, calibrated) is Zone.TRUSTED
    assert unc.from_info(unc.as_info()) == unc


def test_adaptive_lo_rule():
    cfg = UncertaintyConfig(units="calibrated", adaptive_lo=True, adaptive_lo_factor=2.0,
                            lo=0.3, lo_min=0.05, hi=1.0)
    per_atom = np.sqrt(3) * 0.050  # 50 meV/Å per component
    assert adaptive_lo(cfg, 50.0) == pytest.approx(2 * per_atom)
    assert adaptive_lo(cfg, 500.0) == 0.3  # never above the configured lo
    assert adaptive_lo(cfg, 5.0) == 0.05  # never below lo_min
    assert adaptive_lo(cfg, float("nan")) == 0.3
    window = selection_window(cfg, {"rmse_forces_meV_A": 50.0})
    assert window.lo == pytest.approx(2 * per_atom) and window.hi == 1.0
    assert selection_window(cfg, None) is cfg
    off = cfg.model_copy(update={"adaptive_lo": False})
    assert adaptive_lo(off, 50.0) == 0.3
    with pytest.raises(ValueError, match="units: calibrated"):
        UncertaintyConfig(adaptive_lo=True)
    with pytest.raises(ValueError, match="lo_min"):
        UncertaintyConfig(lo=0.1, lo_min=0.2)


def test_forces_err_est_through_the_calculators(tiny_models, tmp_path):
    from alearn.calculators import CommitteeCalculator, DeltaCalculator

    atoms = bulk("Cu", cubic=True).repeat((2, 1, 1))
    atoms.rattle(0.1, seed=3)
    plain = CommitteeCalculator(tiny_models)
    plain.calculate(atoms, ["forces"])
    assert "forces_err_est" not in plain.results
    path = tmp_path / "calibration.json"
    write_json_atomic(path, CommitteeCalibration(force_scale=2.5, energy_scale=1.5).as_dict())
    calc = CommitteeCalculator(tiny_models, calibration=path)
    calc.calculate(atoms, ["forces"])
    r = calc.results
    np.testing.assert_allclose(r["forces_std"], plain.results["forces_std"])  # stays raw
    np.testing.assert_allclose(r["forces_err_est"], 2.5 * r["forces_std"])
    assert r["energy_err_est"] == pytest.approx(1.5 * r["energy_std"])
    delta = DeltaCalculator(EMT(), calc)
    delta.calculate(atoms, ["forces"])
    np.testing.assert_allclose(delta.results["forces_err_est"], 2.5 * r["forces_std"])


def test_a_campaign_calibrates_every_committee(finished_campaign):
    markers = sorted(finished_campaign.glob("iter_*/train.done.json"))
    assert markers
    for marker in markers:
        info = json.loads(marker.read_text())
        cal = json.loads((marker.parent / "committee" / "calibration.json").read_text())
        assert info["calib_force_scale"] > 0
        assert cal["force_scale"] == pytest.approx(info["calib_force_scale"])
        for key in ("spearman_force", "miscalibration_area", "miscalibration_area_raw"):
            assert key in info
        assert info["lo_effective"] == 0.02  # adaptive_lo off: the configured lo
        # atoms of a symmetric frame (zero forces, zero spread) give no plot
        plot = marker.parent / "report" / "reliability.png"
        assert plot.is_file() == (info["calib_n_atoms"] > 0)
    assert any((m.parent / "report" / "reliability.png").is_file() for m in markers)
    frames = read(finished_campaign / "iter_001" / "explore" / "cu_w0.xyz", ":")
    assert all("unc_max_force_err_est" in f.info for f in frames)
    calc = load_committee(finished_campaign)
    atoms = bulk("Cu", cubic=True).repeat((2, 1, 1))
    atoms.calc = calc
    atoms.get_forces()
    scale = json.loads(markers[-1].read_text())["calib_force_scale"]
    np.testing.assert_allclose(calc.results["forces_err_est"], scale * calc.results["forces_std"])
    status = alearn_cli("status", str(finished_campaign), "--wide")
    assert status.returncode == 0 and "F scale" in status.stdout and "miscal" in status.stdout
