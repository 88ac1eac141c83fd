"""The redox protocol against exact answers: displaced harmonic wells sampled with real ASE
Langevin MD (ASE's harmonic calculators), Gauss–Legendre convergence, the FEP correction
on Gaussian samples, resuming the windows, and the conversion to a potential."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.io import read
from ase.io.trajectory import Trajectory

from alearn.errors import ConfigError
from alearn.protocols import MDOptions
from alearn.protocols.redox import (
    DisplacedWells,
    FiniteSizeCorrection,
    PotentialReference,
    TIOptions,
    TIResult,
    end_state_correction,
    fep_correction,
    gauss_legendre,
    plot_energy_gap,
    redox_potential,
    thermodynamic_integration,
    window_lambdas,
)
from alearn.protocols.redox.windows import window_path
from alearn.protocols.units import KB_EV_PER_K

T = 300.0
KT = KB_EV_PER_K * T
MD = MDOptions(temperature_K=T, timestep_fs=10.0, n_steps=2000, interval_steps=5,
               thermostat="langevin", thermostat_time_fs=64.0, seed=11)
OPTIONS = TIOptions(md=MD, equilibration_steps=200, n_nodes=3, n_blocks=8)


def wells(k_red: float) -> DisplacedWells:
    """Two argon atoms in wells 1 Å apart in all (λ_r = 0.5 eV for equal wells)."""
    atoms = Atoms("Ar2", positions=[[0.0, 0.0, 0.0], [3.0, 0.0, 0.0]])
    shift = np.full((2, 3), 1.0 / math.sqrt(6.0))
    return DisplacedWells(atoms, shift, k_ox_eV_A2=1.0, k_red_eV_A2=k_red, dE0_eV=-0.3)


def within(estimate, exact: float, n_sigma: float = 3.0) -> bool:
    return abs(estimate.value - exact) <= n_sigma * estimate.stderr


@pytest.fixture(scope="module")
def equal_wells(tmp_path_factory) -> tuple[DisplacedWells, TIResult, object]:
    model = wells(1.0)
    folder = tmp_path_factory.mktemp("equal")
    return model, thermodynamic_integration(model.atoms, *model.calculators(), folder,
                                            options=OPTIONS), folder


@pytest.fixture(scope="module")
def unequal_wells(tmp_path_factory) -> tuple[DisplacedWells, TIResult, object]:
    model = wells(2.0)
    folder = tmp_path_factory.mktemp("unequal")
    return model, thermodynamic_integration(model.atoms, *model.calculators(), folder,
                                            options=OPTIONS), folder


# ----------------------------------------------------------------------------- exact answers
def test_exact_formulas_of_the_wells():
    equal, unequal = wells(1.0), wells(2.0)
    assert equal.reorganisation_eV(T) == pytest.approx(0.5)
    lam = np.linspace(0, 1, 5)
    np.testing.assert_allclose(equal.gap_eV(lam, T), -0.3 + 0.5 * (1 - 2 * lam))
    assert equal.dA_eV(T) == pytest.approx(-0.3)
    assert unequal.dA_eV(T) == pytest.approx(-0.3 + 3 * KT * math.log(2.0))
    # the calculators are the wells: ΔE at a displaced structure
    ox, red = unequal.calculators()
    atoms = unequal.atoms.copy()
    atoms.positions += 0.1
    atoms.calc = red
    e_red = atoms.get_potential_energy()
    atoms.calc = ox
    assert e_red - atoms.get_potential_energy() == pytest.approx(
        -0.3 + 0.5 * 2.0 * ((0.1 - 1 / math.sqrt(6)) ** 2 * 6) - 0.5 * 0.06)


def test_quadrature_converges_with_the_number_of_nodes():
    model = wells(4.0)  # strongly non-linear ⟨ΔE⟩_λ
    exact = model.dA_eV(T)
    errors = []
    for n in range(1, 8):
        nodes, weights = gauss_legendre(n)
        assert weights.sum() == pytest.approx(1.0)
        errors.append(abs(weights @ model.gap_eV(nodes, T) - exact))
    assert all(b < a for a, b in zip(errors, errors[1:]))
    assert errors[0] > 0.05 and errors[4] < 1e-3  # 5 nodes (the default): below 1 meV


@pytest.mark.slow
def test_equal_wells_reproduce_the_exact_answers(equal_wells):
    model, ti, _ = equal_wells
    assert [w.lam for w in ti.windows] == window_lambdas(OPTIONS) and len(ti.windows) == 5
    assert within(ti.dA_eV, model.dA_eV(T))
    assert within(ti.reorganisation_eV, model.reorganisation_eV(T))
    assert within(ti.dA_linear_eV, model.dA_eV(T))
    for w in ti.windows:
        assert within(w.gap_eV, float(model.gap_eV(w.lam, T))), w
        # ΔE = k (a − b)·x + const fluctuates with variance 2 λ_r kT
        assert w.gap_std_eV == pytest.approx(math.sqrt(2 * 0.5 * KT), rel=0.15)
    assert ti.linear_response and 0.0 < ti.dA_eV.stderr < 0.02


@pytest.mark.slow
def test_unequal_wells_reproduce_the_exact_answers(unequal_wells):
    model, ti, _ = unequal_wells
    assert within(ti.dA_eV, model.dA_eV(T))
    assert within(ti.reorganisation_eV, model.reorganisation_eV(T))
    for w in ti.windows:
        assert within(w.gap_eV, float(model.gap_eV(w.lam, T))), w
    # ⟨ΔE⟩_λ curves: linear response fails, and the end-point average misses ΔA
    assert not ti.linear_response and ti.fit.p_value < 1e-6
    assert abs(ti.dA_linear_eV.value - model.dA_eV(T)) > 10 * ti.dA_linear_eV.stderr


# ----------------------------------------------------------------------------- resume
@pytest.mark.slow
def test_interrupted_windows_are_resumed(equal_wells, tmp_path):
    model, ti, folder = equal_wells
    work = tmp_path / "ti"
    shutil.copytree(folder, work)
    mid = window_path(work, 0.5)
    frames = read(mid, index=":")
    with Trajectory(mid, "w") as traj:  # as if killed a third of the way through
        for frame in frames[: len(frames) // 3]:
            traj.write(frame)
    window_path(work, 1.0).unlink()
    untouched = window_path(work, 0.0).read_bytes()
    again = thermodynamic_integration(model.atoms, *model.calculators(), work, options=OPTIONS)
    assert window_path(work, 0.0).read_bytes() == untouched
    steps = [f.info["step"] for f in read(mid, index=":")]
    assert steps == list(range(0, MD.n_steps + 1, MD.interval_steps))
    assert again.window(0.0) == replace(ti.window(0.0), path=window_path(work, 0.0))
    assert within(again.dA_eV, model.dA_eV(T))
    assert json.loads((work / "ti.json").read_text())["dA_eV"] == again.dA_eV.to_dict()
    assert TIResult.from_dict(again.to_dict()).to_dict() == again.to_dict()


class _WithSpread(Calculator):
    """A state's calculator that reports a committee's spread (``forces_std``) too."""

    implemented_properties = ["energy", "free_energy", "forces", "energy_std", "forces_std"]

    def __init__(self, inner, spread_eV_A: float) -> None:
        super().__init__()
        self.inner, self.spread = inner, spread_eV_A

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        energy = self.inner.get_potential_energy(self.atoms)
        self.results = {"energy": energy, "free_energy": energy,
                        "forces": self.inner.get_forces(self.atoms), "energy_std": 0.01,
                        "forces_std": np.full(len(self.atoms), self.spread)}


def test_windows_where_the_committees_extrapolate_are_flagged(tmp_path, caplog):
    model = wells(1.0)
    ox, red = model.calculators()
    short = replace(OPTIONS, md=replace(MD, n_steps=400), equilibration_steps=40, n_nodes=1,
                    n_blocks=4)
    ti = thermodynamic_integration(model.atoms, _WithSpread(ox, 0.2), _WithSpread(red, 1.5),
                                   tmp_path, options=short)
    assert ti.extrapolating == (0.0, 0.5, 1.0)  # the larger spread of the two states
    assert "EXTRAPOLATE" in ti.summary() and "window λ = 0.5000" in caplog.text
    assert any("extrapolate" in w for w in redox_potential(ti).warnings)
    assert TIResult.from_dict(ti.to_dict()).extrapolating == ti.extrapolating
    assert plot_energy_gap(ti, tmp_path / "gap.png").stat().st_size > 0
    trusting = thermodynamic_integration(model.atoms, _WithSpread(ox, 0.2),
                                         _WithSpread(red, 1.5), tmp_path,
                                         options=replace(short, max_spread_eV_A=2.0))
    assert trusting.extrapolating == ()
    assert not any("extrapolate" in w for w in redox_potential(trusting).warnings)


def test_too_short_windows_are_refused():
    with pytest.raises(ConfigError, match="too few for 8 blocks"):
        TIOptions(md=replace(MD, n_steps=100), equilibration_steps=50, n_blocks=8)


# ----------------------------------------------------------------------------- FEP
def _gaussian_frames(k: float, n: int, rng: np.random.Generator, dof: int = 6) -> np.ndarray:
    return rng.normal(0.0, math.sqrt(KT / k), size=(n, dof))


def test_fep_correction_of_a_stiffer_reference_is_exact_within_errors():
    rng = np.random.default_rng(5)
    x = _gaussian_frames(1.0, 4000, rng)
    model = 0.5 * 1.0 * (x**2).sum(axis=1)
    reference = 0.2 + 0.5 * 1.3 * (x**2).sum(axis=1)  # another level: offset and curvature
    corr = fep_correction(model, reference, temperature_K=T, state="ox", n_blocks=10)
    exact = 0.2 + 0.5 * 6 * KT * math.log(1.3)
    assert within(corr.dA_eV, exact) and corr.reliable
    assert corr.effective_frames > 1000 and corr.n_frames == 4000
    assert corr.cumulant_eV == pytest.approx(exact, abs=0.01)


def test_fep_correction_warns_when_few_frames_carry_the_average(caplog):
    rng = np.random.default_rng(6)
    x = _gaussian_frames(1.0, 200, rng)
    model = 0.5 * (x**2).sum(axis=1)
    corr = fep_correction(model, 0.5 * 0.05 * (x**2).sum(axis=1), temperature_K=T,
                          state="red", min_effective_frames=50)
    assert not corr.reliable and corr.effective_frames < 50
    assert "unreliable" in caplog.text


@pytest.mark.slow
def test_end_state_corrections_from_the_windows(equal_wells, tmp_path):
    model, ti, _ = equal_wells
    # the "reference level": each state's well 0.05 eV higher and 10 % stiffer
    stiffer = replace(model, k_ox_eV_A2=1.1, k_red_eV_A2=1.1, dE0_eV=model.dE0_eV)
    ref_ox, ref_red = stiffer.calculators()
    corr = [end_state_correction(ti, s, calc, n_frames=300, equilibration_steps=200,
                                 workdir=tmp_path, level="stiffer")
            for s, calc in (("ox", ref_ox), ("red", ref_red))]
    exact = 0.5 * model.dof * KT * math.log(1.1)  # the same for both states
    for c in corr:
        assert within(c.dA_eV, exact) and c.reliable
    stored = json.loads((tmp_path / "fep_ox_stiffer.json").read_text())
    assert len(stored["energies_eV"]) == 300
    again = end_state_correction(ti, "ox", ref_ox, n_frames=300, equilibration_steps=200,
                                 workdir=tmp_path, level="stiffer")
    assert again == corr[0]
    result = redox_potential(ti, corrections=corr)
    assert result.dA_eV.value == pytest.approx(ti.dA_eV.value + corr[1].dA_eV.value
                                               - corr[0].dA_eV.value)
    assert within(result.dA_eV, stiffer.dA_eV(T))


# ----------------------------------------------------------------------------- potential
@pytest.mark.slow
def test_potential_against_the_she_and_a_computed_reference(equal_wells, tmp_path):
    _, ti, _ = equal_wells
    she = redox_potential(ti)
    assert she.absolute_potential_V.value == pytest.approx(-ti.dA_eV.value)
    assert she.potential_V.value == pytest.approx(-ti.dA_eV.value - 4.44)
    ref = PotentialReference.computed(replace(ti.dA_eV, value=ti.dA_eV.value + 0.2))
    computed = redox_potential(ti, reference=ref)
    assert computed.potential_V.value == pytest.approx(0.2)
    assert computed.potential_V.stderr == pytest.approx(math.sqrt(2) * ti.dA_eV.stderr)
    fs = FiniteSizeCorrection(charge_ox=3, charge_red=2, cell_length_A=10.0,
                              dielectric_constant=1.0)
    assert fs.energy_eV == pytest.approx(-5 * 2.837297 * 14.399645 / 20, rel=1e-5)
    corrected = redox_potential(ti, finite_size=fs)
    assert corrected.dA_eV.value == pytest.approx(ti.dA_eV.value + fs.energy_eV)
    data = json.loads(corrected.write_json(tmp_path / "redox.json").read_text())
    assert data["finite_size"]["energy_eV"] == pytest.approx(fs.energy_eV)
    assert data["potential_V"]["value"] == pytest.approx(corrected.potential_V.value)
    assert "U vs SHE" in corrected.summary()


@pytest.mark.slow
def test_the_figure_is_written(unequal_wells, tmp_path):
    model, ti, _ = unequal_wells
    path = plot_energy_gap(ti, tmp_path / "gap.png", exact=lambda lam: model.gap_eV(lam, T))
    assert path.stat().st_size > 10_000
