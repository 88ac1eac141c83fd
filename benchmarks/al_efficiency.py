"""Active learning vs random selection: labels needed to reach a force-RMSE target.

System: Li+(H2O)3 (charge +1), oracle GFN2-xTB (a *test oracle*, so the
benchmark runs in minutes on 2 cores).

* **Held-out test set**: frames of a separate xTB Langevin MD run (350 K),
  never used in training.
* **Active learning**: an alearn campaign (committee of 4 tiny MACE models,
  MD walkers at 300 and 500 K, FPS selection from the trust window), evaluated
  after every iteration: committee-mean force RMSE on the test set vs labels
  spent (bootstrap + selected, validation frames included).
* **Random**: plain xTB MD at the walkers' temperatures; the same number of
  frames drawn at random (plus the same bootstrap frames), the same committee
  trained from scratch on them, the same test set.

The target is the RMSE active learning reaches at its last iteration (times
1.05). Prints one JSON line with ``labels_active``, ``labels_random`` and
their ratio, and writes the learning-curve plot.

    python benchmarks/al_efficiency.py [--workdir DIR] [--plot PNG] [--iterations N]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from pathlib import Path

import numpy as np
import yaml
from ase import Atoms, units
from ase.constraints import FixCom
from ase.io import read
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

from alearn import Campaign
from alearn.config import XTBSettings, config_from_dict
from alearn.dataset import Dataset, row_to_ref_atoms
from alearn.oracles.xtb import xtb_calculator
from alearn.parallel import Workers
from alearn.state import Stages
from alearn.training import plan_committee, train_member, write_extxyz

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo"
XTB = XTBSettings(method="GFN2-xTB", charge=1.0)


def al_config(max_iterations: int) -> dict:
    cfg = yaml.safe_load((DEMO / "campaign.yaml").read_text())
    cfg["oracle"] = {"kind": "xtb", "xtb": XTB.model_dump(), "isolation": "inline"}
    cfg["stop"] = {"accurate_ratio": 1.0, "max_iterations": max_iterations}
    return cfg


def xtb_md(start: Atoms, *, temperature_K: float, steps: int, interval: int, seed: int
           ) -> list[Atoms]:
    """Frames of Langevin MD on GFN2-xTB, labeled with REF_energy/REF_forces."""
    atoms = start.copy()
    atoms.calc = xtb_calculator(XTB)
    rng = np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)
    Stationary(atoms)
    atoms.set_constraint(FixCom())
    dyn = Langevin(atoms, 0.5 * units.fs, temperature_K=temperature_K, friction=0.02 / units.fs,
                   fixcm=False, rng=rng)
    frames = []
    for step in range(1, steps + 1):
        dyn.run(1)
        if step % interval == 0:
            frame = Atoms(atoms.numbers, atoms.positions, cell=atoms.cell)
            frame.info["REF_energy"] = atoms.get_potential_energy()
            frame.arrays["REF_forces"] = atoms.get_forces()
            frames.append(frame)
    return frames


def rmse_meV_A(model_paths: list[Path], test: list[Atoms]) -> float:
    from alearn.calculators import CommitteeCalculator

    calc = CommitteeCalculator(model_paths)
    errors = []
    for atoms in test:
        calc.calculate(Atoms(atoms.numbers, atoms.positions, cell=atoms.cell), ["forces"])
        errors.append(calc.results["forces"] - atoms.arrays["REF_forces"])
    return 1000 * float(np.sqrt(np.mean(np.square(errors))))


def active_curve(workdir: Path, test: list[Atoms], max_iterations: int) -> tuple[list, Campaign]:
    cfg = config_from_dict(al_config(max_iterations), source="al_efficiency", base_dir=DEMO)
    campaign = Campaign(cfg, workdir)
    campaign.run()
    stages, ds = Stages(workdir), Dataset(workdir / "dataset.db")
    curve = []
    for it in stages.iterations():
        if stages.done(it, "train"):
            labels = ds.db.count(f"iteration<{it}", status="labeled")
            models = sorted((stages.iter_dir(it) / "committee").glob("member_*.model"))
            curve.append((labels, rmse_meV_A(models, test)))
    return curve, campaign


def random_point(campaign: Campaign, pool: list[Atoms], bootstrap: list[Atoms], n_labels: int,
                 test: list[Atoms], workdir: Path, seed: int) -> float:
    """Committee trained from scratch on bootstrap + random pool frames (n_labels in all)."""
    rng = np.random.default_rng(seed)
    extra = [pool[i] for i in rng.choice(len(pool), n_labels - len(bootstrap), replace=False)]
    frames = bootstrap + extra
    n_valid = max(1, round(campaign.cfg.validation.fraction * len(frames)))
    order = rng.permutation(len(frames))
    valid = [frames[i] for i in order[:n_valid]]
    train = [frames[i] for i in order[n_valid:]]
    out = workdir / f"random_{n_labels}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    jobs, subsets = plan_committee(campaign.cfg.committee, n_train=len(train), out_dir=out,
                                   seed=seed, iteration=1, previous=None)
    write_extxyz(valid, out / "valid.xyz")
    for job, idx in zip(jobs, subsets):
        write_extxyz([train[i] for i in idx], job.train_file)
    workers = Workers()
    workers.map(lambda job: train_member(campaign.cfg.committee, job,
                                         atomic_numbers=campaign.atomic_numbers,
                                         has_stress=False), jobs, concurrency=workers.threads)
    return rmse_meV_A([j.model_path for j in jobs], test)


def labels_to_reach(curve: list[tuple[int, float]], target: float) -> float | None:
    """Labels where the curve first reaches ``target`` (log-log interpolation)."""
    for (n0, r0), (n1, r1) in zip(curve[:-1], curve[1:]):
        if r0 <= target:
            return float(n0)
        if r1 <= target:
            frac = (math.log(r0) - math.log(target)) / (math.log(r0) - math.log(r1))
            return math.exp(math.log(n0) + frac * (math.log(n1) - math.log(n0)))
    return float(curve[-1][0]) if curve and curve[-1][1] <= target else None


def plot(path: Path, active: list, random: list, target: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4), dpi=120)
    for curve, name, style in ((active, "active learning", "o-"),
                               (random, "random frames from MD", "s--")):
        ax.plot([n for n, _ in curve], [r for _, r in curve], style, label=name)
    ax.axhline(target, color="0.4", lw=0.8, ls=":", label=f"target {target:.0f} meV/Å")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("labels (xTB calculations)")
    ax.set_ylabel("force RMSE on held-out MD (meV/Å)")
    ax.set_title("Li+(H2O)3, GFN2-xTB oracle, committee of 4 MACE")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("runs/al_efficiency"))
    parser.add_argument("--plot", type=Path, default=Path("docs/img/al_efficiency.png"))
    parser.add_argument("--iterations", type=int, default=8)
    args = parser.parse_args()
    t0 = time.perf_counter()
    shutil.rmtree(args.workdir, ignore_errors=True)
    start = read(DEMO / "li_water3.xyz")
    test = xtb_md(start, temperature_K=350, steps=1500, interval=25, seed=101)
    active, campaign = active_curve(args.workdir / "active", test, args.iterations)
    pool = (xtb_md(start, temperature_K=300, steps=2000, interval=10, seed=202)
            + xtb_md(start, temperature_K=500, steps=2000, interval=10, seed=203))
    boot = [row_to_ref_atoms(r) for r in campaign.ds.rows(iteration=0, status="labeled")]
    target = 1.05 * active[-1][1]
    budgets = sorted({n for n, _ in active} | {2 * active[-1][0], 3 * active[-1][0]})
    random = [(n, random_point(campaign, pool, boot, n, test, args.workdir, seed=n))
              for n in budgets if n >= len(boot) and n - len(boot) <= len(pool)]
    n_active, n_random = labels_to_reach(active, target), labels_to_reach(random, target)
    plot(args.plot, active, random, target)
    print(json.dumps({
        "benchmark": "al_efficiency", "oracle": "GFN2-xTB", "system": "Li+(H2O)3",
        "target_rmse_meV_A": round(target, 1),
        "labels_active": None if n_active is None else round(n_active, 1),
        "labels_random": None if n_random is None else round(n_random, 1),
        "ratio_active_over_random": (None if not (n_active and n_random)
                                     else round(n_active / n_random, 3)),
        "random_reached_target": n_random is not None,
        "curve_active": [[n, round(r, 1)] for n, r in active],
        "curve_random": [[n, round(r, 1)] for n, r in random],
        "wall_s": round(time.perf_counter() - t0, 1),
    }))


if __name__ == "__main__":
    main()
