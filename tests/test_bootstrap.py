"""Bootstrap frames: rattled copies and short MD on a cheap calculator (alearn.bootstrap)."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, fcc111
from ase.calculators.calculator import CalculationFailed, Calculator, all_changes
from ase.calculators.emt import EMT
from ase.collections import s22

import alearn.bootstrap as bootstrap
from alearn import Campaign
from alearn.bootstrap import campaign_frames, md_frames, md_runs, perturbed_copies
from alearn.bootstrap_calculator import check_md_calculator, md_calculator, md_start
from alearn.config import BootstrapConfig, UncertaintyConfig, config_from_dict
from alearn.dataset import Dataset
from alearn.errors import AlearnError, ConfigError
from alearn.seeding import derive_seed
from conftest import TINY, deep_update, write_campaign

UCFG = UncertaintyConfig()
FAST_MD = {"timestep_fs": 2.0, "equilibration_steps": 10, "sample_interval": 10}


def _cu() -> Atoms:
    return bulk("Cu", cubic=True).repeat((2, 1, 1))


def _water_dimer() -> Atoms:
    return s22["Water_dimer"].copy()


def _boot(n: int = 8, **md) -> BootstrapConfig:
    return BootstrapConfig(method="md", n_per_system=n, md={**FAST_MD, **md})


def _rms(frame: Atoms, ref: Atoms) -> float:
    """RMS displacement (Å) of ``frame`` from ``ref``, minimum image in ``ref``'s cell."""
    if not ref.pbc.any():
        return float(np.sqrt(((frame.positions - ref.positions) ** 2).sum(1).mean()))
    ds = frame.get_scaled_positions(wrap=False) - ref.get_scaled_positions(wrap=False)
    ds -= np.round(ds)
    return float(np.sqrt(((ds @ ref.cell.array) ** 2).sum(1).mean()))


def _same(a: Atoms, b: Atoms) -> bool:
    return np.array_equal(a.positions, b.positions) and np.array_equal(a.cell, b.cell)


# --------------------------------------------------------------------------- rattle (default)
def test_rattle_stays_the_default_and_dumps_as_before():
    cfg = BootstrapConfig()
    assert cfg.method == "rattle"
    # method/md are left out of a rattle dump: workdirs started before they existed resume
    assert set(cfg.model_dump()) == {"n_per_system", "rattle_std_A", "strain_max"}
    assert set(_boot().model_dump()) >= {"method", "md"}
    copies = perturbed_copies(_cu(), cfg, np.random.default_rng(0))
    assert len(copies) == 8 and _same(copies[0], _cu())


# --------------------------------------------------------------------------- md on EMT Cu
def test_md_runs_share_the_frames_over_cells_and_temperatures():
    runs = md_runs(_cu(), _boot(n=8), np.random.default_rng(0))
    assert [(r.cell, r.temperature_K, r.n_frames) for r in runs] == [
        (0, 300, 2), (0, 500, 2), (1, 300, 2), (1, 500, 1)]
    assert _same(runs[0].start, _cu()) and not np.allclose(runs[2].start.cell, _cu().cell)
    molecule = md_runs(_water_dimer(), _boot(n=4), np.random.default_rng(0))
    assert [(r.cell, r.n_frames) for r in molecule] == [(0, 2), (0, 1)]  # no strain
    assert len(md_runs(_cu(), _boot(n=3), np.random.default_rng(0))) == 2


def test_md_frames_are_distinct_reproducible_and_start_with_the_start():
    cu = _cu()
    frames = md_frames(cu, _boot(), EMT, np.random.default_rng(1), ucfg=UCFG)
    assert len(frames) == 8 and _same(frames[0], cu)
    assert all(f.calc is None and not f.constraints and "momenta" not in f.arrays
               for f in frames)
    pairs = [_rms(a, b) for i, a in enumerate(frames) for b in frames[i + 1:]]
    assert min(pairs) > 0.02  # no two frames alike
    assert sum(not np.allclose(f.cell, cu.cell) for f in frames) == 3  # the strained runs
    again = md_frames(cu, _boot(), EMT, np.random.default_rng(1), ucfg=UCFG)
    assert all(_same(a, b) for a, b in zip(frames, again))
    other = md_frames(cu, _boot(), EMT, np.random.default_rng(2), ucfg=UCFG)
    assert not any(_same(a, b) for a, b in zip(frames[1:], other[1:]))


def test_broken_frames_are_not_taken(monkeypatch):
    calls: list[int] = []
    flagged: list[np.ndarray] = []
    real = bootstrap.broken_structure

    def second_and_third_broken(atoms: Atoms, ucfg: UncertaintyConfig) -> str | None:
        calls.append(1)
        if len(calls) in (2, 3):
            flagged.append(atoms.positions.copy())
            return "flagged by the test"
        return real(atoms, ucfg)

    monkeypatch.setattr(bootstrap, "broken_structure", second_and_third_broken)
    frames = md_frames(_cu(), _boot(), EMT, np.random.default_rng(1), ucfg=UCFG)
    assert len(flagged) == 2 and len(frames) == 8 and len(calls) == 9
    for f in frames:
        assert not any(np.allclose(f.positions, p) for p in flagged)


class _Explode(Calculator):
    """Pushes every atom away from the centre with 20 eV/Å: a cluster flies apart."""

    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        r = self.atoms.positions - self.atoms.positions.mean(0)
        self.results = {"energy": 0.0,
                        "forces": 20.0 * r / np.linalg.norm(r, axis=1, keepdims=True)}


class _Fails(Calculator):
    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        raise CalculationFailed("SCF did not converge")


def test_md_that_breaks_the_structure_or_fails_names_the_section():
    cluster = Atoms("Cu4", positions=[[0, 0, 0], [2.5, 0, 0], [0, 2.5, 0], [0, 0, 2.5]])
    with pytest.raises(AlearnError, match=r"systems\[c\]: initial_data\.bootstrap\.md: .* "
                       "broken .* does not hold the structure together"):
        md_frames(cluster, _boot(n=3), _Explode, np.random.default_rng(0), ucfg=UCFG,
                  where="systems[c]")
    with pytest.raises(AlearnError, match=r"initial_data\.bootstrap\.md: MD at 300 K .* "
                       "CalculationFailed: SCF did not converge"):
        md_frames(_cu(), _boot(n=3), _Fails, np.random.default_rng(0), ucfg=UCFG)


# --------------------------------------------------------------------------- md on GFN1-xTB water
def test_xtb_water_frames_spread_further_than_rattled_copies():
    pytest.importorskip("tblite")
    from tblite.ase import TBLite

    dimer = _water_dimer()

    def calc() -> TBLite:
        return TBLite(method="GFN1-xTB", verbosity=0)

    boot = _boot(n=6, timestep_fs=1.0, equilibration_steps=20, sample_interval=20)
    frames = md_frames(dimer, boot, calc, np.random.default_rng(3), ucfg=UCFG)
    assert len(frames) == 6 and _same(frames[0], dimer)
    again = md_frames(dimer, boot, calc, np.random.default_rng(3), ucfg=UCFG)
    assert all(_same(a, b) for a, b in zip(frames, again))
    rattled = perturbed_copies(dimer, BootstrapConfig(n_per_system=6), np.random.default_rng(3))
    md_rms = np.mean([_rms(f, dimer) for f in frames[1:]])
    rattle_rms = np.mean([_rms(f, dimer) for f in rattled[1:]])
    assert md_rms > 1.5 * rattle_rms
    assert not any(bootstrap.broken_structure(f, UCFG) for f in frames)


# --------------------------------------------------------------------------- configuration
def _cfg(bootstrap_section: dict, **top) -> dict:
    return deep_update({**TINY, **top}, {"initial_data": {"bootstrap": bootstrap_section}})


@pytest.mark.parametrize(("section", "top", "fragment"), [
    ({"method": "md"}, {}, "add e.g. initial_data.bootstrap.md.calculator: {kind: xtb}"),
    ({"md": {"temperatures_K": [300]}}, {}, "initial_data.bootstrap.md is set but "
     "initial_data.bootstrap.method is rattle"),
    ({"method": "md", "md": {"calculator": {"kind": "emt"}, "temperatures_K": []}}, {},
     "initial_data.bootstrap.md.temperatures_K': empty list"),
    ({"method": "md", "md": {"calculator": {"kind": "emt"}, "temperatures_K": [300, -5]}}, {},
     "temperatures are absolute"),
    ({"method": "md", "md": {"calculator": {"kind": "emt"}, "steps": 10}}, {},
     "initial_data.bootstrap.md.steps': unknown key"),
    ({"method": "md", "md": {"calculator": {"kind": "calculator"}}}, {},
     "initial_data.bootstrap.md.calculator'"),
    ({"method": "mdd"}, {}, "initial_data.bootstrap.method'"),
])
def test_config_errors_name_the_key(section, top, fragment):
    with pytest.raises(ConfigError) as err:
        config_from_dict(_cfg(section, **top), source="c.yaml")
    assert fragment in str(err.value)


def test_the_cheap_calculator_is_md_calculator_else_the_baseline():
    with_baseline = config_from_dict(_cfg({"method": "md"}, baseline={"kind": "emt"}))
    assert isinstance(md_calculator(with_baseline), EMT)
    own = config_from_dict(_cfg({"method": "md", "md": {"calculator": {
        "kind": "calculator", "calculator": {"import_path": "ase.calculators.lj:LennardJones"}}}},
        baseline={"kind": "emt"}))
    assert type(md_calculator(own)).__name__ == "LennardJones"
    bad = config_from_dict(_cfg({"method": "md", "md": {"calculator": {
        "kind": "calculator", "calculator": {"import_path": "no_such_module:Calc"}}}}))
    with pytest.raises(ConfigError, match=r"initial_data\.bootstrap\.md\.calculator \(used by "
                       r"initial_data\.bootstrap\.md\).*cannot import"):
        md_calculator(bad)


def test_md_calculator_is_checked_against_the_structure_and_the_oracle_charge():
    cfg = config_from_dict(_cfg({"method": "md", "md": {"calculator": {
        "kind": "xtb", "xtb": {"charge": 1, "uhf": 1}}}},
        oracle={"kind": "xtb", "isolation": "inline"}))
    with pytest.raises(ConfigError, match=r"systems\[w\]: the oracle labels charge 0 but "
                       r"initial_data\.bootstrap\.md\.calculator\.xtb\.charge is 1"):
        check_md_calculator(cfg, _water_dimer(), "systems[w]")
    slab = _water_dimer()
    slab.pbc, slab.cell = (True, True, False), [10, 10, 10]
    plain = config_from_dict(_cfg({"method": "md", "md": {"calculator": {"kind": "xtb"}}}))
    with pytest.raises(ConfigError, match=r"initial_data\.bootstrap\.md\.calculator\.kind: gpaw"):
        check_md_calculator(plain, slab, "systems[w]")


def test_a_slab_runs_its_xtb_bootstrap_periodic_along_z_and_keeps_its_pbc():
    """tblite treats only 3D-periodic cells: a slab with enough vacuum runs periodic along z,
    unstrained, and its frames get the slab's pbc back for the oracle (dipole correction)."""
    pytest.importorskip("tblite")
    cfg = config_from_dict(_cfg({"method": "md", "n_per_system": 3, "strain_max": 0.05, "md": {
        **FAST_MD, "calculator": {"kind": "xtb"}, "strained_cells": 1}}))
    slab = _water_dimer()
    slab.cell, slab.pbc = [8, 8, 14], (True, True, False)
    slab.center()
    assert md_start(cfg, slab).pbc.all() and not slab.pbc[2]
    frames = campaign_frames(cfg, {"w": slab}, np.random.default_rng(0))
    assert len(frames) == 3 and len({f.positions.tobytes() for f, _ in frames}) == 3
    for frame, _ in frames:
        assert frame.pbc.tolist() == [True, True, False]
        np.testing.assert_array_equal(frame.cell, slab.cell)  # the vacuum is not strained
    thin = slab.copy()
    thin.cell = [8, 8, 6]  # ~3 Å of vacuum between the images: xTB would see them
    thin.center()
    assert md_start(cfg, thin) is thin
    with pytest.raises(ConfigError, match=r"calculator\.kind: gpaw"):
        check_md_calculator(cfg, md_start(cfg, thin), "systems[w]")


# --------------------------------------------------------------------------- in a campaign
def test_a_campaign_labels_the_md_frames(tmp_path):
    config = write_campaign(tmp_path, {"initial_data": {"bootstrap": {
        "method": "md", "md": {**FAST_MD, "calculator": {"kind": "emt"}}}}})
    campaign = Campaign(config, tmp_path / "work")
    campaign.validate()
    campaign.workdir.mkdir()
    campaign._initial_data()
    rng = np.random.default_rng(derive_seed(campaign.cfg.seed, "initial"))
    expected = [a for a, _ in campaign_frames(campaign.cfg, campaign.starts, rng)]
    rows = Dataset(campaign.workdir / "dataset.db").rows(iteration=0)
    assert len(rows) == 6 and {(r.source, r.status) for r in rows} == {("bootstrap", "labeled")}
    for row, frame in zip(rows, expected):
        np.testing.assert_array_equal(row.toatoms().positions, frame.positions)


def test_validate_checks_the_cheap_calculator_before_any_work(tmp_path):
    """A slab with 2 Å of vacuum: xTB cannot run it, and validate says so before the
    isolated atoms or any MD are computed."""
    config = write_campaign(tmp_path, {"initial_data": {"bootstrap": {
        "method": "md", "md": {**FAST_MD, "calculator": {"kind": "xtb"}}}}})
    fcc111("Cu", (2, 2, 2), vacuum=1.0).write(tmp_path / "cu.xyz")  # pbc T, T, F
    campaign = Campaign(config, tmp_path / "work")
    with pytest.raises(ConfigError, match=r"systems\[cu\]: .*not pbc=\[True, True, False\]"):
        campaign.validate()
    assert not campaign.workdir.exists()
