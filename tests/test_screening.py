"""Screening with a real (tiny, EMT-trained) committee: each stage, the out-of-domain flag,
`alearn screen` / `alearn screen-report`, resume after SIGKILL, and `mpirun -np 2`."""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import ase.io
import numpy as np
import pytest
import yaml
from ase.build import bulk

from alearn.calculators import CommitteeCalculator
from alearn.config import UncertaintyConfig, config_from_dict
from alearn.protocols.screening.config import MDStageConfig, RelaxStageConfig, StabilityStageConfig
from alearn.protocols.screening.evaluator import LoopEvaluator
from alearn.protocols.screening.hull import HullPhase
from alearn.protocols.screening.stages import (
    md_stage,
    relax_stage,
    stability_stage,
    transport_stage,
)
from alearn.protocols.screening.store import ScreenStore
from alearn.protocols.trajectory import load_trajectory
from alearn.protocols.transport import FitWindow, TransportOptions, nernst_einstein, self_diffusion
from alearn.uncertainty import from_results
from conftest import alearn_cli
from screening_setup import write_screen

MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMPI_MCA_rmaps_base_oversubscribe": "1", "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def evaluator(tiny_models):
    return LoopEvaluator(CommitteeCalculator(tiny_models))


def _cu_vacancy():
    atoms = bulk("Cu", cubic=True).repeat((2, 1, 1))
    del atoms[3]
    atoms.rattle(0.05, seed=1)
    return atoms


def test_relax_stage_relaxes_records_uncertainty_and_flags_by_the_window(evaluator):
    start = _cu_vacancy()
    window = UncertaintyConfig(lo=1e-6, hi=50.0)
    out = relax_stage([start], evaluator, RelaxStageConfig(fmax_eV_A=0.05, max_steps=60,
                                                           probes=0), window)[0]
    assert out.status == "passed" and out.values["steps"] >= 1
    relaxed = out.atoms.copy()
    relaxed.calc = evaluator.calculator
    assert np.abs(relaxed.get_forces()).max() < np.abs(_forces(evaluator, start)).max()
    # the recorded uncertainty is the committee's on the relaxed structure
    relaxed.get_forces()
    direct = from_results(evaluator.calculator.results, len(relaxed))
    assert out.uncertainty["unc_max_force_std"] == pytest.approx(direct.max_force_std)
    # the same value in three windows: trusted, candidate (flagged), rejected
    value = direct.max_force_std
    zones = []
    for lo, hi in ((value * 2, value * 4), (value / 2, value * 2), (value / 4, value / 2)):
        res = relax_stage([start], evaluator, RelaxStageConfig(fmax_eV_A=0.05, max_steps=60,
                                                               probes=0),
                          UncertaintyConfig(lo=lo, hi=hi))[0]
        zones.append((res.zone, res.flagged, res.status))
    assert zones == [("trusted", False, "passed"), ("candidate", True, "passed"),
                     ("rejected", True, "rejected")]


def _forces(evaluator, atoms):
    work = atoms.copy()
    work.calc = evaluator.calculator
    return work.get_forces()


def test_elements_outside_the_committee_fail_and_are_flagged(evaluator):
    silver = bulk("Ag", cubic=True)
    out = relax_stage([silver], evaluator, RelaxStageConfig(), UncertaintyConfig())[0]
    assert out.status == "failed" and out.flagged and out.zone == "rejected"
    assert "trained without elements ['Ag']" in out.reason


def test_stability_is_the_energy_above_the_references(evaluator):
    window = UncertaintyConfig(lo=0.05, hi=50.0)
    relax = RelaxStageConfig(max_steps=40, probes=0)
    bulk_cu, vacancy = relax_stage([bulk("Cu", cubic=True), _cu_vacancy()], evaluator, relax,
                                   window)
    ref = HullPhase.from_atoms("Cu", bulk_cu.atoms, bulk_cu.values["energy_eV"])
    out = stability_stage("v", vacancy, [ref], StabilityStageConfig(
        max_e_above_hull_eV_atom=None), window)
    expected = vacancy.values["energy_eV"] / len(vacancy.atoms) - ref.energy_per_atom_eV
    assert out.values["e_above_hull_eV_atom"] == pytest.approx(expected, abs=1e-9)
    assert out.data["decomposition"] == ["Cu"]
    strict = stability_stage("v", vacancy, [ref], StabilityStageConfig(
        max_e_above_hull_eV_atom=expected / 2), window)
    assert strict.status == "rejected" and "above the hull" in strict.reason


def test_md_stage_is_the_transport_analysis_of_its_trajectory(evaluator, tmp_path):
    cfg = MDStageConfig(temperatures_K=[1500, 1000], mobile_ions=["Cu"], steps=60,
                        equilibration_steps=10, interval_steps=5, n_blocks=2, timestep_fs=2.0)
    window = UncertaintyConfig(lo=0.05, hi=50.0)
    start = _cu_vacancy()
    outs = [md_stage("v", start, t, evaluator, cfg, window, charges={"Cu": 1.0},
                     folder=tmp_path, seed=0, hottest=k == 0)
            for k, t in enumerate(cfg.temperatures_K)]
    for out, temp in zip(outs, cfg.temperatures_K, strict=True):
        traj = load_trajectory(tmp_path / f"md_{temp:g}K.traj", start=2)  # production only
        assert traj.n_frames == 13 and traj.temperature_K == temp
        span = (traj.n_frames // 2 - 1) * traj.frame_interval_fs
        diff = self_diffusion(traj, options=TransportOptions(
            n_blocks=2, diffusion_window=FitWindow(0.1 * span, 0.5 * span)))
        sigma = nernst_einstein({"Cu": diff["Cu"]}, {"Cu": 1.0}, volume_A3=traj.volume_A3,
                                temperature_K=temp)
        assert out.values["sigma_S_m"] == sigma.value
        assert out.values["D_Cu_cm2_s"] == diff["Cu"].D_cm2_s.value
        # uncertainty: the largest over the written frames
        frames = ase.io.read(tmp_path / f"md_{temp:g}K.traj", ":")
        worst = max(from_results(_results(evaluator, f), len(f)).max_force_std for f in frames)
        assert out.uncertainty["unc_max_force_std"] == pytest.approx(worst)
    trans = transport_stage(outs, cfg)
    assert trans.values["sigma_hot_S_m"] == outs[0].values["sigma_S_m"]
    if all(o.values["sigma_S_m"] > 0 for o in outs):
        assert math.isfinite(trans.values["activation_energy_eV"])
    # rerunning a finished MD stage reads its trajectory again: the same result
    again = md_stage("v", start, 1500, evaluator, cfg, window, charges={"Cu": 1.0},
                     folder=tmp_path, seed=0, hottest=True)
    assert again.values == outs[0].values


def _results(evaluator, atoms):
    work = atoms.copy()
    work.calc = evaluator.calculator
    work.get_forces()
    return evaluator.calculator.results


# --------------------------------------------------------------------------- the command
def _one_row_per_stage(store: ScreenStore) -> Counter:
    counts = Counter((r.get("item"), r.get("stage")) for r in store.rows())
    assert max(counts.values()) == 1, [k for k, v in counts.items() if v > 1]
    return counts


@pytest.mark.slow
def test_screen_and_report_end_to_end(tiny_models, tmp_path):
    config = write_screen(tmp_path, tiny_models)
    work = tmp_path / "work"
    proc = alearn_cli("screen", str(config), "--workdir", str(work), env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "screen finished: 4 candidates" in proc.stdout
    store = ScreenStore(work / "screen.db")
    _one_row_per_stage(store)
    states = store.queue_states()
    assert {k: v[0] for k, v in states.items()} == dict.fromkeys(states, "done")
    # the Ag orderings: the committee never saw Ag, they fail at the relaxation, flagged
    assert states["cu.Ag2~0"][1:] == ("relax", "failed")
    assert states["cu"][1:] == ("transport", "passed")
    cu_stab = store.stage_rows("cu")["stability"]
    assert abs(cu_stab.get("e_above_hull_eV_atom")) < 1e-9  # the reference itself
    # the largest cells are queued first: the 7-atom vacancy cell is claimed last
    claimed = sorted(store.rows(kind="candidate", stage="relax"), key=lambda row: row.id)
    assert [row.get("item") for row in claimed][-1] == "cu.V"
    # a second run finds nothing to do
    again = alearn_cli("screen", str(config), "--workdir", str(work))
    assert again.returncode == 0 and len(store.rows()) == len(_one_row_per_stage(store))
    # the report: ranked table, figures, exported flagged candidates
    out = tmp_path / "flagged.extxyz"
    rep = alearn_cli("screen-report", str(work), "--export-flagged", str(out))
    assert rep.returncode == 0, rep.stderr[-3000:]
    lines = rep.stdout.splitlines()
    assert lines[0].startswith(f"{work}: 4 candidates:")
    assert lines[1].split()[:2] == ["rank", "candidate"]
    ranked = [ln.split()[1] for ln in lines[3:] if ln.split()[0] != "-"]
    assert set(ranked) == {"cu", "cu.V"}
    assert "FLAG" in next(ln for ln in lines if ln.split()[1] == "cu.Ag2~0")
    for png in ("sigma_vs_stability.png", "uncertainty.png"):
        assert (work / "report" / png).stat().st_size > 10_000
    flagged = ase.io.read(out, ":")
    assert {a.info["name"] for a in flagged} >= {"cu.Ag2~0", "cu.Ag2~1"}
    snippet = yaml.safe_load(out.with_suffix(".yaml").read_text())
    campaign = {"systems": snippet["systems"], "oracle": {"kind": "emt"}}
    cfg = config_from_dict(campaign, base_dir=tmp_path)  # a campaign takes it as it is
    assert [s.structure for s in cfg.systems] == [Path(out.name)] * len(flagged)
    js = alearn_cli("screen-report", str(work), "--json")
    assert '"rank": 1' in js.stdout
    # one-line errors
    bad = alearn_cli("screen-report", str(tmp_path))
    assert bad.returncode == 2 and bad.stderr.startswith("alearn: error:") and \
        "not a screen work directory" in bad.stderr


def _frames_in(path: Path) -> int:
    from ase.io.trajectory import Trajectory

    try:
        with Trajectory(path) as traj:
            return len(traj)
    except Exception:  # noqa: BLE001 - not there yet, or being written
        return 0


def _wait_for(predicate, what: str, proc: subprocess.Popen, timeout_s: float = 900) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert proc.poll() is None, f"the screen ended before {what}: {proc.stderr.read()}"
        assert time.monotonic() < deadline, f"no {what} within {timeout_s} s"
        time.sleep(0.2)


@pytest.mark.slow
def test_resume_after_sigkill_loses_and_repeats_no_candidate(tiny_models, tmp_path):
    config = write_screen(tmp_path, tiny_models, {"claim": {"batch": 2}})
    work = tmp_path / "work"
    proc = subprocess.Popen([sys.executable, "-m", "alearn.cli", "screen", str(config),
                             "--workdir", str(work)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    traj = work / "md" / "cu" / "md_1200K.traj"
    _wait_for(lambda: _frames_in(traj) >= 3, "MD frames", proc)
    os.kill(proc.pid, signal.SIGKILL)  # in the middle of an MD stage
    proc.wait()
    store = ScreenStore(work / "screen.db")
    before = {k: v for k, v in store.queue_states().items()}
    assert any(state == "running" for state, _, _ in before.values())
    relaxed = {r.get("item"): r.get("energy_eV") for r in store.rows(stage="relax")}
    rerun = alearn_cli("screen", str(config), "--workdir", str(work),
                       env={"OMP_NUM_THREADS": "1"})
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "released" in (work / "alearn.log").read_text()
    counts = _one_row_per_stage(store)
    states = store.queue_states()
    assert len(states) == 4 and all(s[0] == "done" for s in states.values())
    assert counts[("cu", "transport")] == 1
    # the stages done before the kill were not redone
    assert {r.get("item"): r.get("energy_eV") for r in store.rows(stage="relax")
            if r.get("item") in relaxed} == relaxed
    attempts = dict(store._run("SELECT item, attempts FROM screen_queue"))
    assert attempts["cu"] == 2 and attempts["ref.cu"] == 1


@pytest.mark.mpi
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("mpirun") is None, reason="needs mpirun")
def test_two_mpi_ranks_share_the_candidates(tiny_models, tmp_path):
    config = write_screen(tmp_path, tiny_models, {"claim": {"poll_s": 0.05}})
    work = tmp_path / "work"
    proc = subprocess.run(["mpirun", "-np", "2", sys.executable, "-m", "alearn.cli", "screen",
                           str(config), "--workdir", str(work)], capture_output=True, text=True,
                          timeout=3600, env={**os.environ, **MPI_ENV})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("screen finished") == 1  # rank 0 reports
    store = ScreenStore(work / "screen.db")
    _one_row_per_stage(store)
    assert all(s[0] == "done" for s in store.queue_states().values())
    ranks = Counter(r.get("rank") for r in store.rows() if r.get("stage") != "input")
    assert set(ranks) == {0, 1}, ranks


@pytest.mark.postgres
@pytest.mark.slow
def test_a_screen_on_postgres_is_shared_by_work_directories(tiny_models, tmp_path,
                                                          postgres_url):
    from postgres_server import new_database

    url = new_database(postgres_url, "screen")
    config = write_screen(tmp_path, tiny_models, {
        "database": url, "candidates": {"substitutions": [
            {"name": "V", "vacancies": {"Cu": 1}, "allow_charge_change": True}]},
        "stages": {"md": None}})
    first = alearn_cli("screen", str(config), "--workdir", str(tmp_path / "a"),
                       env={"OMP_NUM_THREADS": "1"})
    assert first.returncode == 0, first.stderr[-3000:]
    assert not (tmp_path / "a" / "screen.db").exists()  # the rows are on the server
    store = ScreenStore(url)
    _one_row_per_stage(store)
    assert store.counts() == {"passed": 2}
    # a job in another work directory (another node) joins the same queue: all done
    second = alearn_cli("screen", str(config), "--workdir", str(tmp_path / "b"))
    assert second.returncode == 0 and "2 candidates: 2 passed" in second.stdout
    report = alearn_cli("screen-report", str(tmp_path / "b"))
    assert report.returncode == 0 and "cu.V" in report.stdout
    # another screen in the same database is refused, in one line
    other = write_screen(tmp_path / "other", tiny_models, {"database": url, "seed": 9})
    refused = alearn_cli("screen", str(other), "--workdir", str(tmp_path / "c"))
    assert refused.returncode == 2
    assert "holds a screen with other settings" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
