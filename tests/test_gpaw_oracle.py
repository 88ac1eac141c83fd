"""GPAW presets, checks, labels and the SCF retry ladder (alearn.oracles.gpaw)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, fcc111, molecule
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT

from alearn.config import GPAWSettings
from alearn.errors import ConfigError, LabelFailed
from alearn.methods.gpaw import missing_paw_files, prepare_atoms
from alearn.methods.gpaw_presets import (
    gpaw_parameters,
    kpts_from_density,
    needs_spin,
    resolved_settings,
)
from alearn.oracles import Oracle, make_oracle
from alearn.oracles.gpaw import GPAWOracle, retry_plan

gpaw = pytest.importorskip("gpaw")

# small, fast settings: H2O in a ~5 x 6.5 x 5.6 Å box runs in ~1 s
FAST_LCAO = GPAWSettings(mode="lcao", min_vacuum_A=2.0)
FAST_PW = GPAWSettings(mode="pw", ecut_eV=300.0, min_vacuum_A=2.0)


def _water(vacuum: float = 2.5) -> Atoms:
    atoms = molecule("H2O")
    atoms.center(vacuum=vacuum)
    return atoms


def _oh() -> Atoms:
    atoms = Atoms("OH", positions=[[0, 0, 0], [0, 0, 0.98]])  # no initial moments
    atoms.center(vacuum=3.0)
    return atoms


def _al_slab() -> Atoms:
    return fcc111("Al", (1, 1, 3), vacuum=5.0)


# --------------------------------------------------------------------------- presets
def test_odd_electron_count_switches_spin_on():
    assert needs_spin(_oh()) and not needs_spin(_water())
    assert gpaw_parameters(GPAWSettings(), _oh())["spinpol"] is True
    assert gpaw_parameters(GPAWSettings(), _water())["spinpol"] is False
    # H2O+ (charge counted) and OH- (closed shell)
    assert gpaw_parameters(GPAWSettings(charge=1), _water())["spinpol"] is True
    params = gpaw_parameters(GPAWSettings(charge=-1), _oh())
    assert params["spinpol"] is False and params["charge"] == -1
    # an explicit choice wins
    assert gpaw_parameters(GPAWSettings(spinpol=True), _water())["spinpol"] is True


def test_metal_presets_stay_spin_paired_for_odd_electron_counts():
    """A smeared Cu slab with one H (an odd count) is not an open shell: spin-paired in the
    interface and slab presets unless asked; the bulk preset keeps the parity rule."""
    slab = fcc111("Cu", size=(2, 2, 3), vacuum=5.0)
    slab += Atoms("H", positions=[slab.positions[-1] + [0, 0, 1.5]])
    slab.pbc = (True, True, False)
    assert needs_spin(slab)
    for preset in ("interface", "slab"):
        assert gpaw_parameters(GPAWSettings(preset=preset), slab)["spinpol"] is False
        asked = GPAWSettings(preset=preset, spinpol=True)
        assert gpaw_parameters(asked, slab)["spinpol"] is True
    cell = slab.copy()
    cell.pbc = True
    assert gpaw_parameters(GPAWSettings(preset="bulk"), cell)["spinpol"] is True


def test_odd_electrons_seed_initial_moments():
    atoms = _oh()
    work = prepare_atoms(atoms, gpaw_parameters(GPAWSettings(), atoms))
    assert work.get_initial_magnetic_moments().sum() == pytest.approx(1.0)
    assert not atoms.get_initial_magnetic_moments().any()  # the input is untouched


def test_slab_has_dipole_correction_and_one_kz():
    slab = _al_slab()
    params = gpaw_parameters(GPAWSettings(preset="slab"), slab)
    assert params["poissonsolver"] == {"dipolelayer": "xy"}
    size = params["kpts"]["size"]
    assert size[2] == 1 and size[0] == size[1] > 1
    assert params["kpts"]["gamma"] is True
    assert params["occupations"] == {"name": "fermi-dirac", "width": 0.1}
    off = gpaw_parameters(GPAWSettings(preset="slab", dipole_correction=False), slab)
    assert "poissonsolver" not in off


def test_interface_periodic_along_z_has_no_dipole_and_one_kz():
    cell = _al_slab()
    cell.pbc = True
    params = gpaw_parameters(GPAWSettings(preset="interface"), cell)
    assert "poissonsolver" not in params
    assert params["kpts"]["size"][2] == 1


def test_bulk_kpoints_from_density():
    cu = bulk("Cu", "fcc", a=3.6)
    recip = np.linalg.norm(cu.cell.reciprocal(), axis=1)
    expected = [math.ceil(2 * math.pi * b * 3.5) for b in recip]
    params = gpaw_parameters(GPAWSettings(preset="bulk"), cu)
    assert params["kpts"]["size"] == expected
    assert params["mode"] == {"name": "pw", "ecut": 600.0}
    denser = gpaw_parameters(GPAWSettings(preset="bulk", kpt_density_per_A=6.0), cu)
    assert all(d > e for d, e in zip(denser["kpts"]["size"], expected, strict=True))
    given = gpaw_parameters(GPAWSettings(preset="bulk", kpts=(3, 3, 3)), cu)
    assert given["kpts"]["size"] == [3, 3, 3]
    # a longer axis gets fewer points
    assert kpts_from_density(cu.repeat((1, 1, 2)), 3.5)[2] < expected[2]


def test_molecule_and_electrolyte_are_gamma_only():
    assert gpaw_parameters(GPAWSettings(), _water())["kpts"]["size"] == [1, 1, 1]
    box = _water()
    box.pbc = True
    assert gpaw_parameters(GPAWSettings(preset="electrolyte"), box)["kpts"]["size"] == [1, 1, 1]


def test_user_settings_override_the_preset_key_by_key():
    settings = GPAWSettings(preset="bulk", ecut_eV=350.0, smearing_eV=0.02, xc="LDA",
                            maxiter=77, convergence={"density": 1e-5},
                            extra={"symmetry": "off", "nbands": "120%"})
    params = gpaw_parameters(settings, bulk("Cu"))
    assert params["mode"]["ecut"] == 350.0 and params["xc"] == "LDA"
    assert params["occupations"]["width"] == 0.02 and params["maxiter"] == 77
    assert params["convergence"] == {"energy": 5e-4, "density": 1e-5, "forces": 1e-3}
    assert params["symmetry"] == "off" and params["nbands"] == "120%"
    assert resolved_settings(settings)["ecut_eV"] == 350.0


# --------------------------------------------------------------------------- checks
def test_check_accepts_good_structures():
    GPAWOracle(FAST_LCAO).check(_water(), "h2o")
    GPAWOracle(GPAWSettings(preset="slab")).check(_al_slab(), "slab")
    GPAWOracle(GPAWSettings(preset="bulk")).check(bulk("Cu"), "cu")


def test_check_element_without_paw_setup():
    atoms = Atoms("OgH", positions=[[0, 0, 0], [0, 0, 2.0]])
    atoms.center(vacuum=3.0)
    with pytest.raises(ConfigError, match=r"systems\[0\].*Og.*PAW"):
        GPAWOracle(GPAWSettings()).check(atoms, "systems[0]")
    # Tc has no file in gpaw-data; PBEsol has no setups at all
    assert "Tc" in missing_paw_files({"Tc", "O"}, "PBE")
    with pytest.raises(ConfigError, match="PBEsol"):
        GPAWOracle(GPAWSettings(xc="PBEsol")).check(_water(3.0), "h2o")


def test_check_unknown_functional():
    with pytest.raises(ConfigError, match="h2o.*functional"):
        GPAWOracle(GPAWSettings(xc="NoSuchXC")).check(_water(3.0), "h2o")


def test_check_pbc_without_cell():
    atoms = molecule("H2O")
    atoms.pbc = True
    with pytest.raises(ConfigError, match="frame 7.*periodic along x.*no length"):
        GPAWOracle(GPAWSettings(preset="electrolyte")).check(atoms, "frame 7")
    with pytest.raises(ConfigError, match="no cell along x"):
        GPAWOracle(GPAWSettings()).check(molecule("H2O"), "frame 8")


def test_check_preset_geometry():
    box = _water()
    box.pbc = True
    with pytest.raises(ConfigError, match="w.*'molecule' expects pbc=False"):
        GPAWOracle(GPAWSettings()).check(box, "w")
    with pytest.raises(ConfigError, match="'electrolyte' expects pbc=True"):
        GPAWOracle(GPAWSettings(preset="electrolyte")).check(_water(), "w")
    with pytest.raises(ConfigError, match="only .* Å .*along x"):
        GPAWOracle(GPAWSettings()).check(_water(vacuum=1.0), "w")
    thin = fcc111("Al", (1, 1, 3), vacuum=1.5)
    with pytest.raises(ConfigError, match="along z.*'slab' needs 4.0"):
        GPAWOracle(GPAWSettings(preset="slab")).check(thin, "slab")
    periodic = _al_slab()
    periodic.pbc = True
    with pytest.raises(ConfigError, match="'slab' expects pbc=\\(True, True, False\\)"):
        GPAWOracle(GPAWSettings(preset="slab")).check(periodic, "slab")
    with pytest.raises(ConfigError, match="kpts .* non-periodic z"):
        GPAWOracle(GPAWSettings(preset="slab", kpts=(2, 2, 2))).check(_al_slab(), "slab")


def test_check_spin_and_stress_settings():
    with pytest.raises(ConfigError, match="odd but gpaw.spinpol is false"):
        GPAWOracle(GPAWSettings(spinpol=False)).check(_oh(), "oh")
    with pytest.raises(ConfigError, match="PW mode only"):
        GPAWOracle(GPAWSettings(preset="bulk", mode="lcao")).check(bulk("Cu"), "cu")


def test_settings_name_the_gpaw_version():
    oracle = make_oracle_gpaw(FAST_PW)
    assert isinstance(oracle, Oracle) and oracle.name == "gpaw"
    settings = oracle.settings()
    assert settings["gpaw"] == gpaw.__version__
    assert settings["ecut_eV"] == 300.0 and settings["preset"] == "molecule"
    assert "gpaw_data" in settings


def make_oracle_gpaw(settings: GPAWSettings) -> GPAWOracle:
    from alearn.config import OracleConfig

    oracle = make_oracle(OracleConfig(kind="gpaw", gpaw=settings))
    assert isinstance(oracle, GPAWOracle)
    return oracle


# --------------------------------------------------------------------------- ladder (fake GPAW)
class _NotConverging(Calculator):
    implemented_properties = ["energy", "free_energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        raise gpaw.KohnShamConvergenceError("did not converge")


def _fake_gpaw(converges_when):
    """A stand-in for gpaw.GPAW: EMT when ``converges_when(kwargs)``, else no SCF."""
    def factory(**kwargs):
        return EMT() if converges_when(kwargs) else _NotConverging()
    return factory


def _h2() -> Atoms:
    atoms = Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.75]])
    atoms.center(vacuum=3.0)
    return atoms


def test_ladder_plan_is_cumulative_and_mode_specific():
    pw_plan = retry_plan(gpaw_parameters(GPAWSettings(), _water()))
    assert [name for name, _, _ in pw_plan] == [
        "initial", "more_iterations", "damped_mixing", "smearing", "eigensolver"]
    last = pw_plan[-1][2]
    assert last["maxiter"] == 300 and last["mixer"]["beta"] == 0.02
    assert last["occupations"]["width"] == 0.1 and last["eigensolver"]["name"] == "davidson"
    lcao = retry_plan(gpaw_parameters(FAST_LCAO, _water()))
    assert lcao[-1][0] == "msr1_mixing" and lcao[-1][2]["mixer"]["name"] == "msr1"
    # already smeared enough: that rung is skipped
    slab = retry_plan(gpaw_parameters(GPAWSettings(preset="slab"), _al_slab()))
    assert "smearing" not in [name for name, _, _ in slab]


def test_ladder_reaches_a_later_rung(monkeypatch):
    monkeypatch.setattr(gpaw, "GPAW", _fake_gpaw(lambda kw: "eigensolver" in kw))
    label = GPAWOracle(GPAWSettings()).label(_h2())
    assert [a["rung"] for a in label.attempts] == [
        "initial", "more_iterations", "damped_mixing", "smearing", "eigensolver"]
    assert [a["ok"] for a in label.attempts] == [False] * 4 + [True]
    assert "KohnShamConvergenceError" in label.attempts[0]["error"]
    assert "parameters" in label.attempts[0]
    assert all(a["wall_s"] >= 0 for a in label.attempts)
    assert label.log_text.count("==== attempt") == 5


def test_ladder_exhausted_raises_label_failed(monkeypatch):
    monkeypatch.setattr(gpaw, "GPAW", _fake_gpaw(lambda kw: False))
    with pytest.raises(LabelFailed, match="SCF not converged after 5 attempts") as info:
        GPAWOracle(GPAWSettings()).label(_h2())
    assert len(info.value.attempts) == 5 and not any(a["ok"] for a in info.value.attempts)
    assert info.value.log_text


def test_other_gpaw_errors_fail_at_once(monkeypatch):
    def broken(**kwargs):
        raise MemoryError("out of memory in the eigensolver")

    monkeypatch.setattr(gpaw, "GPAW", broken)
    with pytest.raises(LabelFailed, match="MemoryError: out of memory") as info:
        GPAWOracle(GPAWSettings()).label(_h2())
    assert len(info.value.attempts) == 1


# --------------------------------------------------------------------------- real GPAW
@pytest.mark.gpaw
@pytest.mark.parametrize("settings", [FAST_LCAO, FAST_PW], ids=["lcao", "pw"])
def test_label_small_molecule(settings):
    atoms = _water()
    before = atoms.copy()
    oracle = GPAWOracle(settings)
    oracle.check(atoms, "h2o")
    label = oracle.label(atoms)
    assert np.isfinite(label.energy)
    assert label.forces.shape == (3, 3) and label.stress is None
    assert abs(label.forces.sum(axis=0)).max() < 0.05  # no net force on a free molecule
    assert len(label.attempts) == 1 and label.attempts[0]["ok"]
    assert label.attempts[0]["iterations"] > 3
    assert "iter:" in label.log_text
    assert atoms == before and atoms.calc is None


@pytest.mark.gpaw
def test_label_radical_is_spin_polarized():
    label = GPAWOracle(GPAWSettings(mode="lcao", min_vacuum_A=2.0)).label(_oh())
    assert "Components: 2" in label.log_text or "spin" in label.log_text.lower()
    assert label.attempts[0]["parameters"]["spinpol"] is True


@pytest.mark.gpaw
def test_a_state_with_two_unpaired_electrons_keeps_its_fixed_moment():
    """O2 in a redox state with two unpaired electrons (the triplet ground state): GPAW
    runs with the total moment fixed at 2 μB, and the triplet lies below the
    spin-paired singlet, as it must (PBE: about 1 eV)."""
    from alearn.config import OracleConfig, StateConfig
    from alearn.electronic_states import state_oracle_config
    from alearn.methods.gpaw import GPAWCalculator

    o2 = Atoms("O2", positions=[[0, 0, 0], [0, 0, 1.23]])
    o2.center(vacuum=2.5)
    oracle = OracleConfig(kind="gpaw", gpaw=FAST_LCAO)
    triplet = state_oracle_config(oracle, StateConfig(name="ox", charge=0,
                                                      unpaired_electrons=2)).gpaw
    assert triplet.magmom_muB == 2.0 and triplet.spinpol
    params = gpaw_parameters(triplet, o2)
    assert params["occupations"]["fixmagmom"] and params["spinpol"]
    assert prepare_atoms(o2, params, 2.0).get_initial_magnetic_moments().sum() == \
        pytest.approx(2.0)
    energies = {}
    for name, settings in (("triplet", triplet), ("singlet", FAST_LCAO)):
        calc = GPAWCalculator(settings)
        energies[name] = calc.get_potential_energy(o2.copy())
        if name == "triplet":
            assert calc._gpaw.get_magnetic_moment() == pytest.approx(2.0, abs=1e-3)
    assert 0.3 < energies["singlet"] - energies["triplet"] < 2.5, energies
    # the label provenance names the fixed moment (label hashes of other settings unchanged)
    assert resolved_settings(triplet)["magmom_muB"] == 2.0
    assert "magmom_muB" not in resolved_settings(FAST_LCAO)


@pytest.mark.gpaw
def test_a_molecule_that_drifted_to_the_cell_face_is_labeled_centred():
    """A cluster drifts in MD; GPAW refuses atoms at a non-periodic face, so the label is
    computed with the atoms centred in the same cell: same forces, energy within the
    grid's egg-box effect."""
    from alearn.methods.gpaw import GPAWCalculator

    water = _water(vacuum=3.0)
    drifted = water.copy()
    drifted.positions[:, 2] += 2.9  # 0.1 Å from the upper face along z
    assert prepare_atoms(drifted, {}).positions == pytest.approx(water.positions)
    energies, forces = [], []
    for atoms in (water, drifted):
        calc = GPAWCalculator(GPAWSettings(mode="lcao", min_vacuum_A=2.0))
        energies.append(calc.get_potential_energy(atoms.copy()))
        forces.append(calc.get_forces(atoms.copy()))
    assert energies[1] == pytest.approx(energies[0], abs=1e-6)
    assert forces[1] == pytest.approx(forces[0], abs=1e-6)


@pytest.mark.gpaw
def test_label_bulk_has_stress():
    si = bulk("Si", "diamond", a=5.43)
    label = GPAWOracle(GPAWSettings(preset="bulk", ecut_eV=250.0, kpts=(2, 2, 2))).label(si)
    assert label.stress is not None and label.stress.shape == (6,)
    assert abs(label.forces).max() < 0.01  # perfect crystal


@pytest.mark.gpaw
def test_retry_ladder_recovers_real_scf():
    # 5 iterations are too few for H2O (converges in 9); the ladder's first rung doubles
    # them; the label equals a normal one.
    atoms = _water()
    reference = GPAWOracle(FAST_LCAO).label(atoms)
    hard = GPAWOracle(FAST_LCAO.model_copy(update={"maxiter": 5})).label(atoms)
    assert not hard.attempts[0]["ok"] and hard.attempts[0]["iterations"] == 5
    assert "KohnShamConvergenceError" in hard.attempts[0]["error"]
    assert [a["rung"] for a in hard.attempts] == ["initial", "more_iterations"]
    assert hard.attempts[1]["ok"] and hard.attempts[1]["changed"] == {"maxiter": 10}
    assert hard.energy == pytest.approx(reference.energy, abs=2e-3)


@pytest.mark.gpaw
def test_forces_match_finite_differences():
    settings = FAST_PW.model_copy(update={"convergence": {"energy": 1e-7, "density": 1e-6}})
    oracle = GPAWOracle(settings)
    atoms = _water()
    atoms.positions[1] += [0.05, 0.0, 0.03]  # off equilibrium: a sizeable force
    force = oracle.label(atoms).forces[1, 2]
    delta = 0.01
    energies = []
    for sign in (1, -1):
        moved = atoms.copy()
        moved.positions[1, 2] += sign * delta
        energies.append(oracle.label(moved).energy)
    numeric = -(energies[0] - energies[1]) / (2 * delta)
    assert force == pytest.approx(numeric, abs=0.05)
