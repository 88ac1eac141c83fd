"""Fast exploration (issue 18): the same sampled frames and statistics as the reference path
(mace-torch's own calculator), a member driving with the committee judged on sampled frames,
the bound on how late a walker is stopped, and walkers stepped together."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes

from alearn.calculators import CommitteeCalculator
from alearn.calculators.committee import committee_results
from alearn.config import MDConfig, UncertaintyConfig
from alearn.exploration import WalkerSpec, run_walker
from alearn.uncertainty import from_results
from alearn.walker_batch import run_walkers

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from md_models import water_cluster  # noqa: E402

WINDOW = {"lo": 0.02, "hi": 2.0}  # the tiny campaign's


class MaceTorchCommittee(Calculator):
    """The reference path: mace-torch's own MACECalculator evaluates every member (its
    AtomicData, DataLoader and batch), alearn's committee_results makes the statistics."""

    implemented_properties = ["energy", "forces", "energy_std", "forces_std"]

    def __init__(self, model_paths):
        from mace.calculators import MACECalculator

        super().__init__()
        self.mace = MACECalculator(model_paths=[str(p) for p in model_paths], device="cpu",
                                   default_dtype="float64")

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.mace.calculate(self.atoms)
        r = self.mace.results
        self.results = committee_results(np.asarray(r["energy_comm"]), r["forces_comm"], None)


def _cu():
    return bulk("Cu", cubic=True).repeat((2, 1, 1))


def _spec(walker: int = 0, *, temperature_K: float = 1000.0, **md) -> WalkerSpec:
    settings = {"steps": 20, "sample_interval": 4, "timestep_fs": 2.0, **md}
    return WalkerSpec(system="cu", walker=walker, iteration=1, temperature_K=temperature_K,
                      seed=11 + walker, md=MDConfig(**settings))


def _assert_same_frames(ours, reference):
    assert ours.stop_reason == reference.stop_reason
    assert len(ours.frames) == len(reference.frames) > 1
    for a, b in zip(ours.frames, reference.frames):
        assert a.info["md_step"] == b.info["md_step"]
        np.testing.assert_allclose(a.positions, b.positions, atol=1e-9)
        for key in [k for k in b.info if k.startswith("unc_")] + ["pred_energy"]:
            assert a.info[key] == pytest.approx(b.info[key], abs=1e-9), key


def test_mean_driven_exploration_matches_the_reference_path(tiny_models):
    """A tiny EMT campaign's committee: the fast calculator's walker samples the frames and
    statistics that mace-torch's own calculator gives."""
    ucfg = UncertaintyConfig(**WINDOW, drive="mean")
    ours = run_walker(_cu(), CommitteeCalculator(tiny_models), _spec(), ucfg)
    reference = run_walker(_cu(), MaceTorchCommittee(tiny_models), _spec(), ucfg)
    _assert_same_frames(ours, reference)


def test_member_driven_frames_carry_the_full_committee_statistics(tiny_models):
    """The driver moves the atoms (the trajectory of member 0 alone); each sampled frame's
    statistics are the full committee's (the reference path's) at its positions."""
    ucfg = UncertaintyConfig(**WINDOW, drive="member")
    driven = run_walker(_cu(), CommitteeCalculator(tiny_models), _spec(), ucfg)
    alone = run_walker(_cu(), CommitteeCalculator(tiny_models[:1]), _spec(),
                       UncertaintyConfig(**WINDOW, drive="mean"))
    assert [f.info["md_step"] for f in driven.frames] == list(range(0, 21, 4))
    reference = MaceTorchCommittee(tiny_models)
    for frame, single in zip(driven.frames, alone.frames):
        np.testing.assert_allclose(frame.positions, single.positions, atol=1e-9)
        reference.calculate(frame, ["forces"])
        expected = from_results(reference.results, len(frame)).as_info()
        for key, value in expected.items():
            assert frame.info[key] == pytest.approx(value, abs=1e-9), key


def _metric_per_step(committee, start, spec_md, ucfg) -> tuple[list[float], int | None]:
    """The member-driven walker's metric at every step, and the step its structure broke."""
    every = run_walker(start, committee, _spec(**{**spec_md, "sample_interval": 1}), ucfg)
    broken = [f.info["md_step"] for f in every.frames if f.info.get("broken")]
    return [f.info["unc_max_force_std"] for f in every.frames], (broken or [None])[0]


def test_checks_between_samples_bound_how_late_a_walker_stops(untrained_committee):
    """check_interval: the walker stops at the first step whose committee metric reaches hi;
    a broken structure stops it at once; sampled frames stay those of sample_interval."""
    committee = CommitteeCalculator(untrained_committee)
    start, md = water_cluster(3, seed=2), {"steps": 30, "timestep_fs": 1.0}  # breaks by 30
    loose = UncertaintyConfig(lo=0.0, hi=1e6, drive="member")
    metric, broken_at = _metric_per_step(committee, start, md, loose)
    assert broken_at is not None and broken_at == len(metric) - 1
    # a step after the first samples, not a multiple of 5, with a metric above all before it
    crossing = next(s for s in range(6, broken_at) if s % 5 and metric[s] > max(metric[:s]))
    hi = 0.5 * (metric[crossing] + max(metric[:crossing]))
    checked = UncertaintyConfig(lo=0.0, hi=hi, drive="member", check_interval=1)
    result = run_walker(start, committee, _spec(**md, sample_interval=5), checked)
    assert result.steps == crossing and "≥ hi" in result.stop_reason
    assert [f.info["md_step"] for f in result.frames] == [*range(0, crossing, 5), crossing]
    assert result.frames[-1].info["unc_max_force_std"] == pytest.approx(metric[crossing])
    unchecked = run_walker(start, committee, _spec(**md, sample_interval=5),
                           UncertaintyConfig(lo=0.0, hi=hi, drive="member"))
    assert unchecked.steps != crossing  # without checks nobody judges that step
    interval = 7 if broken_at % 7 else 6
    guarded = run_walker(start, committee, _spec(**md, sample_interval=interval), loose)
    assert guarded.steps == broken_at and "structure broken" in guarded.stop_reason
    assert [f.info["md_step"] for f in guarded.frames] == [*range(0, broken_at, interval),
                                                            broken_at]
    assert guarded.frames[-1].info["broken"]


def test_walkers_stepped_together_sample_what_they_sample_alone(tiny_models):
    """(The mean-driven case is checked at the calculator level in test_batched.py.)"""
    starts = [_cu() for _ in range(3)]
    specs = [_spec(w, temperature_K=t) for w, t in enumerate((500.0, 1000.0, 1500.0))]
    ucfg = UncertaintyConfig(**WINDOW, drive="member")
    committee = CommitteeCalculator(tiny_models)
    alone = run_walkers(starts, committee, specs, ucfg, batch=False)
    saved = []
    together = run_walkers(starts, committee, specs, ucfg, on_done=saved.append)
    assert sorted(r.spec.walker for r in saved) == [0, 1, 2]
    for a, b in zip(together, alone):
        _assert_same_frames(a, b)


def test_a_failure_outside_the_md_stops_the_other_walkers(untrained_committee):
    """Saving one walker fails: the others stop at their next step, unsaved, and the error
    is raised."""
    starts = [water_cluster(1, seed=k) for k in range(2)]
    specs = [_spec(0, steps=3, timestep_fs=0.5), _spec(1, steps=100_000, timestep_fs=0.5)]
    saved = []

    def save(result):
        saved.append(result.spec.walker)
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        run_walkers(starts, CommitteeCalculator(untrained_committee), specs,
                    UncertaintyConfig(lo=0.0, hi=1e6), on_done=save)
    assert saved == [0]
