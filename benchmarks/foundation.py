"""Fine-tuning from a foundation model vs training from scratch: labels to a force-RMSE target.

No public foundation weights can be fetched here, so the benchmark makes a stand-in:

* **Foundation**: a MACE model (32 channels, L = 0, r_max 4.5 Å, as the demo's
  committee) trained with mace-torch on GFN1-xTB frames of related chemistry the
  benchmark generates: water clusters (H2O)2-5, Li+(H2O)n for n = 1, 2, 4,
  Na+(H2O)1-4 and F-(H2O)1-3, each from short Langevin MD at several
  temperatures. Li+(H2O)3, the new system, is not among them. E0s: GFN1-xTB
  isolated atoms.
* **New system**: Li+(H2O)3 (charge +1), oracle GFN1-xTB (a *test oracle*).
  Held-out test set: three xTB MD trajectories at 300, 350 and 400 K, never
  trained on.
* **Scratch**: the demo campaign (committee of 4, rattled bootstrap, MD walkers
  at 300 and 400 K, FPS selection) with smaller budgets (8 bootstrap labels,
  4 per iteration).
* **Foundation**: the same campaign with ``committee.foundation_model`` (members
  fine-tuned by mace-torch, E0s estimated, readout perturbed per member) and
  the bootstrap frames from MD on the foundation itself (``kind: foundation``,
  oversampled 4x, FPS in its descriptor space).

After every training the committee mean's force RMSE on the test set is recorded
against the labels spent. The target is the RMSE the scratch campaign reaches at
its last iteration (x 1.05); ``labels_scratch`` and ``labels_foundation`` are the
labels each curve needs to reach it (interpolated log-log between trainings).

Committee diversity: on the held-out frames, the Spearman correlation of each
atom's force spread with its force error (and the mean spread against the RMSE)
of the final committees, and, on the foundation campaign's first training data,
of three committees fine-tuned with ``committee.finetuning.readout`` keep,
perturb (the campaign's) and reinit.

Prints one JSON line (benchmarks/results/foundation.json).

    python benchmarks/foundation.py [--workdir DIR] [--iterations N] [--reuse]
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import time
from pathlib import Path

import numpy as np
import yaml
from ase import Atoms
from ase.io import read, write
from ase.optimize import BFGS
from learning_curves import force_rmse_meV_A, labels_to_reach, langevin_frames
from result_line import emit

from alearn import Campaign
from alearn.calibration import predict_validation, spearman
from alearn.config import CommitteeConfig, XTBSettings, config_from_dict
from alearn.finetuning import start_files
from alearn.foundation import inspect_foundation
from alearn.methods import isolated_atom
from alearn.methods.xtb import make_calculator as xtb_calculator
from alearn.parallel import Workers
from alearn.training import CommitteeData, MemberJob, train_committee, train_member

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo"
GFN1 = "GFN1-xTB"
#: (ion or None, charge, ion-O distance Å, water counts) of the foundation's chemistry
FOUNDATION_SYSTEMS = ((None, 0, 0.0, (2, 3, 4, 5)), ("Li", 1, 1.95, (1, 2, 4)),
                      ("Na", 1, 2.35, (1, 2, 3, 4)), ("F", -1, 2.65, (1, 2, 3)))
FOUNDATION_TEMPERATURES_K = (250.0, 400.0, 600.0)
ARCHITECTURE = {"num_channels": 32, "max_L": 0, "r_max": 4.5}


# --------------------------------------------------------------------------- structures
def _rotation_to(u: np.ndarray) -> np.ndarray:
    """A rotation matrix taking the z axis to the unit vector ``u``."""
    z = np.array([0.0, 0.0, 1.0])
    v, c = np.cross(z, u), float(np.dot(z, u))
    if np.linalg.norm(v) < 1e-12:
        return np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1 + c)


def _directions(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` well-spread unit vectors (a Fibonacci sphere), randomly rotated."""
    k = np.arange(n) + 0.5
    polar, azimuth = np.arccos(1 - 2 * k / n), np.pi * (1 + 5**0.5) * k
    dirs = np.stack([np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth),
                     np.cos(polar)], axis=1)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return dirs @ q.T


def cluster(ion: str | None, charge: int, distance_A: float, n_water: int,
            rng: np.random.Generator) -> Atoms:
    """An ion (or none) with ``n_water`` waters around it: O towards a cation, one H
    towards an anion; a bare water cluster on a sphere of O-O ~ 2.8 Å."""
    bond, half = 0.957, np.radians(104.5) / 2
    atoms = Atoms() if ion is None else Atoms(ion, positions=[[0, 0, 0]])
    radius = distance_A if ion else max(1.45, 2.8 / (2 * np.sin(np.pi / max(n_water, 2))))
    for u in _directions(n_water, rng):
        if charge < 0:  # H1 on the O→ion line
            local = [[0, 0, 0], [0, 0, -bond],
                     [bond * np.sin(2 * half), 0, -bond * np.cos(2 * half)]]
        else:  # O towards the ion (or the cluster centre), H pointing away
            spin = rng.uniform(0, 2 * np.pi) if ion is None else 0.0
            local = [[0, 0, 0], [bond * np.sin(half) * np.cos(spin),
                                 bond * np.sin(half) * np.sin(spin), bond * np.cos(half)],
                     [-bond * np.sin(half) * np.cos(spin), -bond * np.sin(half) * np.sin(spin),
                      bond * np.cos(half)]]
        rot = _rotation_to(u)
        atoms += Atoms("OHH", positions=np.array(local) @ rot.T + radius * u)
    atoms.center(vacuum=6.0)
    return atoms


def xtb(charge: float):
    return xtb_calculator(XTBSettings(method=GFN1, charge=float(charge)))


def foundation_frames(rng: np.random.Generator, *, frames_per_run: int) -> list[Atoms]:
    """The foundation's data: each system relaxed briefly, then Langevin MD at each of
    :data:`FOUNDATION_TEMPERATURES_K` (a frame every 25 steps of 0.5 fs after 100)."""
    frames = []
    for ion, charge, distance, counts in FOUNDATION_SYSTEMS:
        for n_water in counts:
            atoms = cluster(ion, charge, distance, n_water, rng)
            atoms.calc = xtb(charge)
            BFGS(atoms, logfile=None).run(fmax=0.1, steps=60)
            start = Atoms(atoms.numbers, atoms.positions, cell=atoms.cell)
            for temperature in FOUNDATION_TEMPERATURES_K:
                run = langevin_frames(start, xtb(charge), temperature_K=temperature,
                                      steps=100 + 25 * frames_per_run, interval=25,
                                      seed=int(rng.integers(2**31)))
                frames += run[-frames_per_run:]
    return frames


def train_foundation(frames: list[Atoms], folder: Path, *, epochs: int) -> Path:
    """The stand-in foundation (mace-torch, :data:`ARCHITECTURE`, GFN1 isolated-atom E0s)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    order = rng.permutation(len(frames))
    n_valid = len(frames) // 10
    write(folder / "train.xyz", [frames[i] for i in order[n_valid:]])
    write(folder / "valid.xyz", [frames[i] for i in order[:n_valid]])
    symbols = sorted({s for a in frames for s in a.get_chemical_symbols()})
    e0s = {}
    for symbol in symbols:
        atom, settings = isolated_atom("xtb", XTBSettings(method=GFN1), symbol)
        atom.calc = xtb_calculator(settings)
        e0s[symbol] = float(atom.get_potential_energy())
    cfg = CommitteeConfig.model_validate({
        "size": 2, "model": ARCHITECTURE,
        "training": {"max_num_epochs": epochs, "batch_size": 8, "lr": 0.005,
                     "patience": epochs}})
    job = MemberJob(index=0, seed=11, train_file=folder / "train.xyz",
                    valid_file=folder / "valid.xyz", model_path=folder / "foundation.model",
                    init_model=None, epochs=epochs)
    from ase.data import atomic_numbers

    train_member(cfg, job, atomic_numbers=[atomic_numbers[s] for s in symbols],
                 has_stress=False, threads=1, e0s=e0s, resume_after_s=1e9)
    return job.model_path


# --------------------------------------------------------------------------- campaigns
def campaign_config(iterations: int, foundation: Path | None, *, epochs: int = 60) -> dict:
    cfg = yaml.safe_load((DEMO / "campaign.yaml").read_text())
    cfg["oracle"] = {"kind": "xtb", "xtb": {"method": GFN1, "charge": 1.0},
                     "isolation": "inline"}
    cfg["systems"][0]["md"].update(steps=200, start_from="previous")
    cfg["systems"][0]["max_selected"] = 4
    cfg["initial_data"] = {"bootstrap": {"n_per_system": 8, "rattle_std_A": 0.05}}
    cfg["committee"]["model"] = dict(ARCHITECTURE)
    cfg["committee"]["training"].update(max_num_epochs=epochs,
                                        warm_start_epochs=max(1, epochs // 2))
    cfg["stop"] = {"accurate_ratio": 1.0, "max_iterations": iterations}
    if foundation is not None:
        del cfg["committee"]["model"]  # the foundation's architecture (the same one)
        cfg["committee"]["foundation_model"] = str(foundation)
        cfg["initial_data"]["bootstrap"] = {
            "method": "md", "n_per_system": 8,
            "md": {"calculator": {"kind": "foundation"}, "oversample": 4,
                   "temperatures_K": [300.0, 400.0], "timestep_fs": 0.5,
                   "equilibration_steps": 100, "sample_interval": 20}}
    return cfg


def run_campaign(workdir: Path, iterations: int, foundation: Path | None, *, epochs: int
                 ) -> tuple[list, Campaign]:
    """Run (or reopen) a campaign; (labels, member models) per training."""
    cfg = config_from_dict(campaign_config(iterations, foundation, epochs=epochs),
                           source=str(workdir), base_dir=DEMO)
    campaign = Campaign(cfg, workdir)
    campaign.run()
    stages, committees = campaign.stages, []
    for it in stages.iterations():
        if stages.done(it, "train"):
            labels = campaign.ds.db.count(f"iteration<{it}", status="labeled")
            committees.append((labels, sorted((stages.iter_dir(it) / "committee")
                                              .glob("member_*.model"))))
    return committees, campaign


def spread_quality(models: list[Path], test: list[Atoms]) -> dict:
    """Spearman ρ of per-atom force spread σ_i and error |ΔF_i| on ``test``; the mean of
    σ_i and the RMS of |ΔF_i| (per atom, not per component; meV/Å)."""
    from alearn.calculators import CommitteeCalculator

    errors = predict_validation(CommitteeCalculator(models), test)
    return {"spearman": round(spearman(errors.forces_std, errors.force_err), 3),
            "mean_spread_per_atom_meV_A": round(1000 * float(errors.forces_std.mean()), 1),
            "rms_error_per_atom_meV_A": round(
                1000 * float(np.sqrt(np.mean(errors.force_err ** 2))), 1)}


def diversity_study(campaign: Campaign, workdir: Path, test: list[Atoms]) -> dict:
    """Committees fine-tuned on the campaign's first training data with each readout mode."""
    from alearn.dataset import row_to_ref_atoms

    boot = [row_to_ref_atoms(r) for r in campaign.ds.rows(iteration=0, status="labeled")]
    data = CommitteeData(train=[a for a in boot if a.info["split"] == "train"],
                         valid=[a for a in boot if a.info["split"] == "valid"],
                         atomic_numbers=campaign.atomic_numbers, has_stress=False,
                         target=campaign.target, e0s=campaign.e0s)
    out = {}
    for mode in ("keep", "perturb", "reinit"):
        if mode == "perturb":
            models = sorted((campaign.stages.iter_dir(1) / "committee").glob("member_*.model"))
        else:
            cfg = campaign.cfg.model_copy(update={"committee": campaign.cfg.committee.model_copy(
                update={"finetuning": campaign.cfg.committee.finetuning.model_copy(
                    update={"readout": mode})})})
            folder = workdir / f"readout_{mode}"
            start = start_files(cfg, campaign.foundation, campaign.e0s, out_dir=folder,
                                seed=cfg.seed, iteration=1)
            models, _ = train_committee(cfg.committee, data, out_dir=folder, seed=cfg.seed,
                                        iteration=1, previous=None, workers=Workers(),
                                        start=start)
        out[mode] = spread_quality(models, test)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("runs/foundation"))
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--foundation-frames", type=int, default=6,
                        help="frames per (system, temperature) of the foundation's data")
    parser.add_argument("--foundation-epochs", type=int, default=80)
    parser.add_argument("--epochs", type=int, default=60,
                        help="committee training epochs (warm starts: half)")
    parser.add_argument("--reuse", action="store_true",
                        help="keep what a previous run left in --workdir")
    args = parser.parse_args()
    t0 = time.perf_counter()
    if not args.reuse:
        shutil.rmtree(args.workdir, ignore_errors=True)
    folder = args.workdir / "foundation"
    data_file = folder / "frames.xyz"
    if not data_file.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        write(data_file, foundation_frames(np.random.default_rng(2026),
                                           frames_per_run=args.foundation_frames))
    frames = read(data_file, ":")
    t_data = time.perf_counter() - t0
    model = folder / "foundation.model"
    if not model.is_file():
        train_foundation(frames, folder, epochs=args.foundation_epochs)
    t_found = time.perf_counter() - t0 - t_data
    start = read(DEMO / "li_water3.xyz")
    test = [f for k, t in enumerate((300.0, 350.0, 400.0))
            for f in langevin_frames(start, xtb(1), temperature_K=t, steps=1000, interval=25,
                                     seed=301 + k)]
    rmse = functools.cache(lambda models: force_rmse_meV_A(models, test))
    scratch_models, _ = run_campaign(args.workdir / "scratch", args.iterations, None,
                                     epochs=args.epochs)
    found_models, found = run_campaign(args.workdir / "from_foundation", args.iterations,
                                       model.resolve(), epochs=args.epochs)
    scratch = [(n, rmse(tuple(m))) for n, m in scratch_models]
    fine = [(n, rmse(tuple(m))) for n, m in found_models]
    target = 1.05 * scratch[-1][1]
    n_scratch, n_found = labels_to_reach(scratch, target), labels_to_reach(fine, target)
    info = inspect_foundation(model)
    emit({
        "benchmark": "foundation", "oracle": GFN1, "system": "Li+(H2O)3",
        "test": "3 held-out xTB trajectories at 300/350/400 K, 120 frames",
        "foundation": {"frames": len(frames), "systems": "(H2O)2-5, Li+(H2O)1,2,4, "
                       "Na+(H2O)1-4, F-(H2O)1-3 at 250/400/600 K",
                       "architecture": {**ARCHITECTURE, "hidden_irreps": info.hidden_irreps},
                       "zero_shot_rmse_meV_A": round(rmse((model,)), 1),
                       "data_wall_s": round(t_data, 1), "train_wall_s": round(t_found, 1)},
        "target_rmse_meV_A": round(target, 1),
        "labels_scratch": None if n_scratch is None else round(n_scratch, 1),
        "labels_foundation": None if n_found is None else round(n_found, 1),
        "ratio_scratch_over_foundation": (None if not (n_scratch and n_found)
                                          else round(n_scratch / n_found, 2)),
        "curve_scratch": [[n, round(r, 1)] for n, r in scratch],
        "curve_foundation": [[n, round(r, 1)] for n, r in fine],
        "spread_error_final": {"foundation": spread_quality(found_models[-1][1], test),
                               "scratch": spread_quality(scratch_models[-1][1], test)},
        "readout_modes_first_committee": diversity_study(found, args.workdir, test),
        "wall_s": round(time.perf_counter() - t0, 1),
        "iterations": args.iterations,
        "load_average_1min_at_end": round(os.getloadavg()[0], 1),
    }, __file__)


if __name__ == "__main__":
    main()
