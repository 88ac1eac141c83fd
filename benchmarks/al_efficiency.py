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
* **Random** (``--draws`` runs, 3 by default): the campaign's own loop with random
  selection. The same bootstrap labels and first committee, then per iteration the
  campaign's ``max_selected`` frames, drawn at random from plain xTB MD at the walkers'
  temperatures (1 ps each), and the same training: member seeds, subsets, and warm start
  from the previous iteration. Only which frames are labeled differs. A run stops when it
  reaches the target on the main set, or at 3x the campaign's labels.

The target is the RMSE active learning reaches at its last iteration (times 1.05) on the
main set. Prints one JSON line with ``labels_active``, ``labels_random`` (mean over the
draws) and their ratio, the same for the sets beyond the range (where a draw stops when it
reaches the main target, so it may not reach theirs), and writes the learning-curve plot.
``--reuse`` keeps the trained models of a previous run and only re-evaluates them.

    python benchmarks/al_efficiency.py [--workdir DIR] [--plot PNG] [--iterations N]
                                       [--draws N] [--reuse]
"""

from __future__ import annotations

import argparse
import functools
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml
from ase import Atoms
from ase.io import read
from learning_curves import force_rmse_meV_A, labels_to_reach, langevin_frames
from result_line import emit

from alearn import Campaign
from alearn.config import XTBSettings, config_from_dict
from alearn.dataset import row_to_ref_atoms
from alearn.methods.xtb import make_calculator as xtb_calculator
from alearn.parallel import Workers
from alearn.seeding import derive_seed
from alearn.selection import assign_splits
from alearn.training import CommitteeData, train_committee

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo"
XTB = XTBSettings(method="GFN2-xTB", charge=1.0)
MAIN = "300-400 K"  # the test set of the walkers' range


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
    stages = campaign.stages
    committees = []
    for it in stages.iterations():
        if stages.done(it, "train"):
            labels = campaign.ds.db.count(f"iteration<{it}", status="labeled")
            committees.append((labels, sorted((stages.iter_dir(it) / "committee")
                                              .glob("member_*.model"))))
    return committees, campaign


def random_campaign(campaign: Campaign, pool: list[Atoms], *, draw: int, max_labels: int,
                    workdir: Path, reached: Callable[[list[Path]], bool]) -> list:
    """The campaign's loop with random selection; (labels, member models) per training.

    Everything but the choice of frames is the campaign's: the same bootstrap labels and
    first committee, ``max_selected`` new frames per iteration (drawn at random from plain
    MD, ``draw`` picks the permutation), the same validation rule, and the same training
    (member seeds, subsets, warm start from the previous iteration). Goes on until
    ``reached(models)`` or ``max_labels``; models of a previous run are reused.
    """
    cfg = campaign.cfg
    boot = [row_to_ref_atoms(r) for r in campaign.ds.rows(iteration=0, status="labeled")]
    train = [a for a in boot if a.info["split"] == "train"]
    valid = [a for a in boot if a.info["split"] == "valid"]
    models = sorted((campaign.stages.iter_dir(1) / "committee").glob("member_*.model"))
    chain = [(len(boot), models)]
    rng = np.random.default_rng(derive_seed(cfg.seed, "random-baseline", draw))
    order = iter(rng.permutation(len(pool)))
    step = cfg.systems[0].max_selected
    it = 1
    while len(train) + len(valid) + step <= max_labels and not reached(models):
        it += 1
        picks = [pool[next(order)] for _ in range(step)]
        for frame, split in zip(picks, assign_splits(step, cfg.validation.fraction, rng,
                                                     at_least_one=False)):
            (valid if split == "valid" else train).append(frame)
        data = CommitteeData(train=train, valid=valid, atomic_numbers=campaign.atomic_numbers,
                             has_stress=False, target=campaign.target, e0s=campaign.e0s)
        models, _ = train_committee(cfg.committee, data,
                                    out_dir=workdir / f"random_{draw}" / f"iter_{it:03d}",
                                    seed=cfg.seed, iteration=it, previous=models,
                                    workers=Workers())
        chain.append((len(train) + len(valid), models))
    return chain


def test_sets(start: Atoms) -> dict[str, list[Atoms]]:
    """Held-out xTB trajectories (750 fs each, never trained on): the walkers' range
    300-400 K, two per temperature, as the main set; 450 and 550 K beyond it."""
    def run(temperature_K: float, seed: int) -> list[Atoms]:
        return xtb_md(start, temperature_K=temperature_K, steps=1500, interval=25, seed=seed)

    in_range = [frame for k, t in enumerate((350, 300, 400, 350, 300, 400))
                for frame in run(t, 101 + k)]
    return {MAIN: in_range, "450 K": run(450, 551), "550 K": run(550, 651)}


def efficiency(active: list, randoms: list[list]) -> dict:
    """Labels each method needs for 1.05 x active learning's final RMSE, their ratio
    (against the mean over the random draws, given only when every draw reached the
    target), and both RMSEs at active learning's final label count."""
    target = 1.05 * active[-1][1]
    n_last = active[-1][0]
    n_active = labels_to_reach(active, target)
    per_draw = [labels_to_reach(curve, target) for curve in randoms]
    n_random = None if None in per_draw else float(np.mean(per_draw))
    at_last = [r for curve in randoms for n, r in curve if n == n_last]
    return {"target_rmse_meV_A": round(target, 1),
            "labels_active": None if n_active is None else round(n_active, 1),
            "labels_random": None if n_random is None else round(n_random, 1),
            "ratio_active_over_random": (None if not (n_active and n_random)
                                         else round(n_active / n_random, 3)),
            "random_reached_target": f"{len(per_draw) - per_draw.count(None)} of "
                                     f"{len(per_draw)} draws",
            "labels_random_per_draw": [None if n is None else round(n, 1) for n in per_draw],
            f"rmse_at_{n_last}_labels": {"active": round(active[-1][1], 1),
                                         "random_mean": round(float(np.mean(at_last)), 1)},
            "curve_active": [[n, round(r, 1)] for n, r in active],
            "curves_random": [[[n, round(r, 1)] for n, r in curve] for curve in randoms]}


def plot(path: Path, curves: dict[str, tuple[list, list[list]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=120)
    for (name, (active, randoms)), color in zip(curves.items(), ("C0", "C1", "C3")):
        ax.plot(*zip(*active), "o-", color=color, label=f"active, test {name}")
        for k, curve in enumerate(randoms):
            ax.plot(*zip(*curve), "s--", color=color, alpha=0.45, markersize=3,
                    label=f"random ({len(randoms)} draws), test {name}" if k == 0 else None)
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):  # plain numbers on the log axes
        axis.set_major_formatter(ScalarFormatter())
        axis.set_minor_formatter(ScalarFormatter())
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
    parser.add_argument("--draws", type=int, default=3, help="random-selection runs")
    parser.add_argument("--reuse", action="store_true",
                        help="keep the models of a previous run in --workdir (re-evaluate)")
    args = parser.parse_args()
    t0 = time.perf_counter()
    if not args.reuse:
        shutil.rmtree(args.workdir, ignore_errors=True)
    start = read(DEMO / "li_water3.xyz")
    tests = test_sets(start)
    rmse = functools.cache(lambda models, name: force_rmse_meV_A(models, tests[name]))
    active_models, campaign = active_committees(args.workdir / "active", args.iterations)
    active = {name: [(n, rmse(tuple(m), name)) for n, m in active_models] for name in tests}
    target = 1.05 * active[MAIN][-1][1]
    walkers = campaign.cfg.systems[0].md  # plain MD at the walkers' temperatures
    pool = [frame for k, temperature in enumerate(walkers.temperature_K)
            for frame in xtb_md(start, temperature_K=temperature, steps=2000, interval=10,
                                seed=202 + k)]
    chains = [random_campaign(campaign, pool, draw=d, max_labels=3 * active_models[-1][0],
                              workdir=args.workdir,
                              reached=lambda m: rmse(tuple(m), MAIN) <= target)
              for d in range(args.draws)]
    curves = {name: (active[name], [[(n, rmse(tuple(m), name)) for n, m in chain]
                                    for chain in chains])
              for name in tests}
    plot(args.plot, curves)
    results = {name: efficiency(*pair) for name, pair in curves.items()}
    emit({
        "benchmark": "al_efficiency", "oracle": "GFN2-xTB", "system": "Li+(H2O)3",
        "test": f"6 held-out xTB trajectories at {MAIN}, 360 frames", "random_draws": args.draws,
        **results.pop(MAIN), "beyond_explored_range": results,
        "wall_s": round(time.perf_counter() - t0, 1),
    }, __file__)


if __name__ == "__main__":
    main()
