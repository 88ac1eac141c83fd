"""Active learning vs random selection: labels needed to reach a force-RMSE target.

System: Li+(H2O)3 (charge +1), oracle GFN2-xTB (a *test oracle*, so the
benchmark runs in minutes on 2 cores).

* **Held-out test sets**: separate xTB Langevin MD runs (750 fs, a frame
  every 12.5 fs), never used in training. The main set is six trajectories in
  the walkers' range, two each at 300, 350 and 400 K (360 frames); two more
  at 450 and 550 K measure how far each dataset carries beyond that range.
* **Active learning**: the demo campaign (committee of 4 small MACE models,
  MD walkers at 300 and 400 K that go on from where they stopped in the previous
  iteration, FPS selection from the trust window), evaluated
  after every iteration: committee-mean force RMSE on the test set vs labels
  spent (bootstrap + selected, validation frames included).
* **Random**: plain xTB MD at the walkers' temperatures (1 ps each); the same number of
  frames drawn at random (plus the same bootstrap frames), the same committee
  trained from scratch on them, the same test set.

The target is the RMSE active learning reaches at its last iteration (times
1.05) on the main set. Prints one JSON line with ``labels_active``,
``labels_random`` and their ratio (and the same for the sets beyond the
range), and writes the learning-curve plot. ``--reuse`` keeps the trained
models of a previous run and only re-evaluates them.

    python benchmarks/al_efficiency.py [--workdir DIR] [--plot PNG] [--iterations N] [--reuse]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import yaml
from ase import Atoms
from ase.io import read
from learning_curves import force_rmse_meV_A, labels_to_reach, langevin_frames

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
    cfg["systems"][0]["md"]["start_from"] = "previous"  # walkers explore on, as in a long run
    return cfg


def xtb_md(start: Atoms, *, temperature_K: float, steps: int, interval: int, seed: int
           ) -> list[Atoms]:
    """Frames of Langevin MD on GFN2-xTB, labeled with REF_energy/REF_forces."""
    return langevin_frames(start, xtb_calculator(XTB), temperature_K=temperature_K,
                           steps=steps, interval=interval, seed=seed)


def active_committees(workdir: Path, max_iterations: int) -> tuple[list, Campaign]:
    """Run (or, when finished, reopen) the campaign; (labels, member models) per training."""
    cfg = config_from_dict(al_config(max_iterations), source="al_efficiency", base_dir=DEMO)
    campaign = Campaign(cfg, workdir)
    campaign.run()
    stages, ds = Stages(workdir), Dataset(workdir / "dataset.db")
    committees = []
    for it in stages.iterations():
        if stages.done(it, "train"):
            labels = ds.db.count(f"iteration<{it}", status="labeled")
            committees.append((labels, sorted((stages.iter_dir(it) / "committee")
                                              .glob("member_*.model"))))
    return committees, campaign


def random_committee(campaign: Campaign, pool: list[Atoms], bootstrap: list[Atoms],
                     n_labels: int, workdir: Path, seed: int) -> list[Path]:
    """Committee trained from scratch on bootstrap + random pool frames (n_labels in all);
    reused when a previous run with the same seed left all its members."""
    out = workdir / f"random_{n_labels}"
    rng = np.random.default_rng(seed)
    extra = [pool[i] for i in rng.choice(len(pool), n_labels - len(bootstrap), replace=False)]
    frames = bootstrap + extra
    n_valid = max(1, round(campaign.cfg.validation.fraction * len(frames)))
    order = rng.permutation(len(frames))
    valid = [frames[i] for i in order[:n_valid]]
    train = [frames[i] for i in order[n_valid:]]
    jobs, subsets = plan_committee(campaign.cfg.committee, n_train=len(train), out_dir=out,
                                   seed=seed, iteration=1, previous=None)
    if all(job.model_path.is_file() for job in jobs):
        return [job.model_path for job in jobs]
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    write_extxyz(valid, out / "valid.xyz")
    for job, idx in zip(jobs, subsets):
        write_extxyz([train[i] for i in idx], job.train_file)
    workers = Workers()
    workers.map(lambda job: train_member(campaign.cfg.committee, job,
                                         atomic_numbers=campaign.atomic_numbers,
                                         has_stress=False), jobs, concurrency=workers.threads)
    return [job.model_path for job in jobs]


def test_sets(start: Atoms) -> dict[str, list[Atoms]]:
    """Held-out xTB trajectories (750 fs each, never trained on): the walkers' range
    300-400 K, two per temperature, as the main set; 450 and 550 K beyond it."""
    def run(temperature_K: float, seed: int) -> list[Atoms]:
        return xtb_md(start, temperature_K=temperature_K, steps=1500, interval=25, seed=seed)

    in_range = [frame for k, t in enumerate((350, 300, 400, 350, 300, 400))
                for frame in run(t, 101 + k)]
    return {"300-400 K": in_range, "450 K": run(450, 551), "550 K": run(550, 651)}


def efficiency(active: list, random: list) -> dict:
    """Labels each method needs for 1.05 x active learning's final RMSE, and their ratio."""
    target = 1.05 * active[-1][1]
    n_active, n_random = labels_to_reach(active, target), labels_to_reach(random, target)
    return {"target_rmse_meV_A": round(target, 1),
            "labels_active": None if n_active is None else round(n_active, 1),
            "labels_random": None if n_random is None else round(n_random, 1),
            "ratio_active_over_random": (None if not (n_active and n_random)
                                         else round(n_active / n_random, 3)),
            "random_reached_target": n_random is not None,
            "curve_active": [[n, round(r, 1)] for n, r in active],
            "curve_random": [[n, round(r, 1)] for n, r in random]}


def plot(path: Path, curves: dict[str, tuple[list, list]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=120)
    for (name, (active, random)), color in zip(curves.items(), ("C0", "C1", "C3")):
        ax.plot(*zip(*active), "o-", color=color, label=f"active, test {name}")
        ax.plot(*zip(*random), "s--", color=color, alpha=0.6, label=f"random, test {name}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("labels (xTB calculations)")
    ax.set_ylabel("force RMSE on held-out MD (meV/Å)")
    ax.set_title("Li+(H2O)3, GFN2-xTB oracle, committee of 4 MACE")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("runs/al_efficiency"))
    parser.add_argument("--plot", type=Path, default=Path("docs/img/al_efficiency.png"))
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--reuse", action="store_true",
                        help="keep the models of a previous run in --workdir (re-evaluate)")
    args = parser.parse_args()
    t0 = time.perf_counter()
    if not args.reuse:
        shutil.rmtree(args.workdir, ignore_errors=True)
    start = read(DEMO / "li_water3.xyz")
    active, campaign = active_committees(args.workdir / "active", args.iterations)
    walkers = campaign.cfg.systems[0].md  # plain MD at the walkers' temperatures
    pool = [frame for k, temperature in enumerate(walkers.temperature_K)
            for frame in xtb_md(start, temperature_K=temperature, steps=2000, interval=10,
                                seed=202 + k)]
    boot = [row_to_ref_atoms(r) for r in campaign.ds.rows(iteration=0, status="labeled")]
    last = active[-1][0]
    budgets = sorted({n for n, _ in active} | {2 * last, 3 * last})
    random = [(n, random_committee(campaign, pool, boot, n, args.workdir, seed=n))
              for n in budgets if n >= len(boot) and n - len(boot) <= len(pool)]
    curves = {name: ([(n, force_rmse_meV_A(m, test)) for n, m in active],
                     [(n, force_rmse_meV_A(m, test)) for n, m in random])
              for name, test in test_sets(start).items()}
    plot(args.plot, curves)
    results = {name: efficiency(*pair) for name, pair in curves.items()}
    main_set = results.pop("300-400 K")
    print(json.dumps({
        "benchmark": "al_efficiency", "oracle": "GFN2-xTB", "system": "Li+(H2O)3",
        "test": "6 held-out xTB trajectories at 300-400 K, 360 frames", **main_set,
        "beyond_explored_range": results, "wall_s": round(time.perf_counter() - t0, 1),
    }))


if __name__ == "__main__":
    main()
