"""Active learning vs random frames vs ab initio MD: oracle calls to a force-RMSE target,
errors beyond the walkers' conditions, MD stability and calibration.

Systems (``--system``; the oracle is xTB, a *test oracle*, so the benchmark runs on
2 cores):

* ``cluster``: Li+(H2O)3 (charge +1), GFN2-xTB, the demo campaign (committee of 4 small
  MACE models, walkers at 300 and 400 K);
* ``electrolyte``: Li+ F- in 16 waters, 8.6 Å periodic box (50 atoms), GFN1-xTB, the
  electrolyte example's campaign (examples/electrolyte/campaign_xtb.yaml: committee of
  3, walkers at 330, 360 and 400 K, MD bootstrap). Its MD lengths are shorter (xTB costs
  about 25x more per step than on the cluster): see ``SYSTEMS``.

What is compared:

* **Held-out test sets** (xTB Langevin MD, never trained on): the main set is six
  trajectories in the walkers' range (the cluster: two each at 300, 350 and 400 K; the
  electrolyte: two at each walker temperature); two each at +150 K and +250 K above the
  hottest walker; and a **rare-event** set: frames of xTB MD at 1000 K in which a water of
  Li's first shell at the start has left it (Li–O > 2.6 Å) but is still within 4.5 Å, see
  al_conditions.is_rare_event.
* **Active learning**: the system's campaign (walkers that go on from where they stopped,
  FPS from the trust window), run for ``--seeds`` campaign seeds; committee-mean force
  RMSE after every iteration vs labels (bootstrap + selected, validation included) =
  oracle calls.
* **Random** (``--draws`` runs): the campaign's loop with random selection. The same
  bootstrap labels and first committee (of the first seed's campaign), then per iteration
  ``max_selected`` frames drawn at random from plain xTB MD at the walkers' temperatures,
  and the same training (member seeds, subsets, warm start). Only which frames differ.
* **Ab initio MD** (the user's realistic alternative): the same plain xTB MD, time-ordered,
  one frame every ``--aimd-stride`` steps of each trajectory, added in MD order at the
  campaign's rate with the same training. Every MD step up to the last frame used (on each
  trajectory) is an oracle call, plus the bootstrap labels.

The target is 1.05 x the RMSE active learning (first seed) reaches at its last iteration
on the main set. Routes stop at the target (after at least the campaign's label count)
or at ``--max-factor`` x the campaign's labels. Then: equal-label RMSE ratio active/random
on every test set (``per_condition``); MD stability of each final committee
(``--stability-walkers`` x ``--stability-ps`` at the hottest walker temperature, with the
campaign's walker and stop rules); Spearman of per-atom spread vs error and the
miscalibration area before/after the stored calibration. Prints one JSON line (written to
benchmarks/results/al_efficiency.json, al_efficiency_electrolyte.json for the
electrolyte, except with ``--reduced``) and three plots.
``--reduced`` is an end-to-end check in minutes (2 iterations, few epochs, short MD, one
draw, tiny stability run): its figures mean nothing and its plots go to ``--workdir``.

    python benchmarks/al_efficiency.py [--system cluster|electrolyte] [--workdir DIR]
        [--iterations N] [--draws N]
        [--seeds N] [--aimd-stride N] [--stability-walkers N] [--stability-ps PS]
        [--max-factor F] [--jobs N] [--reuse] [--reduced]

``--jobs`` (default 2, one per core here) runs the independent parts side by side in
spawned processes: the seeds' campaigns, the held-out and pool MD trajectories, the
random draws with the AIMD route, and the committees' stability runs (a committee's
walkers step together, one forward pass for all). The figures do not depend on it
(every part has its own seeds); run with OMP_NUM_THREADS=1.
"""

from __future__ import annotations

import argparse
import functools
import math
import multiprocessing
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from al_conditions import (
    calibration_quality,
    first_shell,
    is_rare_event,
    plot_learning_curves,
    plot_stability,
    stability_specs,
    stability_stops,
    stability_summary,
)
from ase import Atoms
from learning_curves import force_rmse_meV_A, labels_to_reach, langevin_frames
from result_line import emit

from alearn import Campaign, report
from alearn.calculators import CommitteeCalculator
from alearn.config import CampaignConfig, XTBSettings, config_from_dict
from alearn.dataset import row_to_ref_atoms
from alearn.electronic_states import oracle_calculator
from alearn.parallel import Workers
from alearn.seeding import derive_seed
from alearn.selection import assign_splits
from alearn.trained_committee import committee_calculator
from alearn.training import CommitteeData, stress_in_loss, train_committee

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
RARE = "rare events"


@dataclass(frozen=True)
class Scale:
    """Lengths of the MD runs and trainings (the full run, or ``--reduced``)."""

    test_steps: int = 1500  # per test trajectory (0.5 fs steps)
    test_interval: int = 25
    pool_steps: int = 2000  # plain xTB MD per walker temperature (random and AIMD routes)
    rare_runs: int = 4
    rare_steps: int = 4000
    rare_temperature_K: float = 1000.0
    walker_steps: int | None = None  # None: the campaign's
    epochs: tuple[int, int] | None = None  # (max_num_epochs, warm_start_epochs); None: its


@dataclass(frozen=True)
class System:
    """One system of the benchmark: its campaign, oracle, main test set and MD lengths."""

    label: str  # as the result line and the plots name it
    config: Path  # the campaign (structure, walkers, committee, seed)
    main_temperatures_K: tuple[float, ...]  # one held-out trajectory each
    scale: Scale
    reduced: Scale
    oracle: dict | None = None  # replaces the campaign's oracle section (None: keeps it)
    results_name: str = "al_efficiency"  # benchmarks/results/<results_name>.json

    @property
    def main(self) -> str:
        """The name of the main test set (the walkers' range)."""
        return f"{min(self.main_temperatures_K):.0f}-{max(self.main_temperatures_K):.0f} K"


SYSTEMS = {
    "cluster": System(
        label="Li+(H2O)3", config=EXAMPLES / "demo" / "campaign.yaml",
        main_temperatures_K=(350, 300, 400, 350, 300, 400), scale=Scale(),
        reduced=Scale(test_steps=200, pool_steps=400, rare_runs=1, rare_steps=1500,
                      walker_steps=100, epochs=(4, 2)),
        oracle={"kind": "xtb", "isolation": "inline",
                "xtb": XTBSettings(method="GFN2-xTB", charge=1.0).model_dump()}),
    # 50 atoms: xTB MD costs ~0.5 s a step here, so the held-out and pool MD are shorter
    "electrolyte": System(
        label="Li+F- + 16 H2O (8.6 Å periodic box)",
        config=EXAMPLES / "electrolyte" / "campaign_xtb.yaml",
        main_temperatures_K=(330, 360, 400, 330, 360, 400),
        scale=Scale(test_steps=600, test_interval=20, pool_steps=1000, rare_runs=2,
                    rare_steps=2000),
        reduced=Scale(test_steps=40, test_interval=10, pool_steps=140, rare_runs=1,
                      rare_steps=200, walker_steps=40, epochs=(4, 2)),
        results_name="al_efficiency_electrolyte"),
}


class ForceScores:
    """Force RMSE (meV/Å, committee mean) of member models on the named test sets, each
    computed once; :meth:`prefetch` computes many side by side."""

    def __init__(self, tests: dict[str, list[Atoms]]) -> None:
        self.tests = tests
        self.known: dict[tuple[tuple[Path, ...], str], float] = {}

    def __call__(self, models: list[Path], name: str) -> float:
        key = (tuple(models), name)
        if key not in self.known:
            self.known[key] = force_rmse_meV_A(key[0], self.tests[name])
        return self.known[key]

    def prefetch(self, wanted: list[tuple[list[Path], str]], jobs: int) -> None:
        """Compute the (models, test set) pairs of ``wanted`` not known yet, ``jobs`` at a
        time."""
        missing = list(dict.fromkeys((tuple(m), name) for m, name in wanted))
        missing = [key for key in missing if key not in self.known]
        values = side_by_side([functools.partial(force_rmse_meV_A, models, self.tests[name])
                               for models, name in missing], jobs)
        self.known.update(zip(missing, values))


def side_by_side(calls: list[Callable[[], object]], jobs: int) -> list:
    """The results of ``calls`` (independent parts of the benchmark: picklable callables), in
    order, run ``jobs`` at a time in spawned processes (each with its own torch and xTB
    state; set OMP_NUM_THREADS=1); ``jobs`` 1 runs them here, one after another. The
    results do not depend on ``jobs``: every part draws from its own seeds."""
    if jobs <= 1 or len(calls) <= 1:
        return [call() for call in calls]
    with ProcessPoolExecutor(min(jobs, len(calls)),
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_call, calls))


def _call(call: Callable[[], object]) -> object:
    return call()


def al_config(system: System, max_iterations: int, seed_offset: int, scale: Scale) -> dict:
    """The system's campaign, seed + ``seed_offset``, run for ``max_iterations``."""
    cfg = yaml.safe_load(system.config.read_text())
    cfg["seed"] += seed_offset
    if system.oracle is not None:
        cfg["oracle"] = system.oracle
    cfg["stop"] = {"accurate_ratio": 1.0, "max_iterations": max_iterations}
    md = cfg["systems"][0]["md"]
    md["start_from"] = "previous"  # walkers explore on, as in a long run
    if scale.walker_steps:
        md["steps"] = scale.walker_steps
    if scale.epochs:
        training = cfg["committee"]["training"]
        training["max_num_epochs"], training["warm_start_epochs"] = scale.epochs
    return cfg


def oracle_md(cfg: CampaignConfig, start: Atoms, *, temperature_K: float, steps: int,
              interval: int, seed: int) -> list[Atoms]:
    """Frames of Langevin MD on the campaign's oracle (a fresh calculator), labeled with
    REF_energy/REF_forces."""
    return langevin_frames(start, oracle_calculator(cfg), temperature_K=temperature_K, steps=steps,
                           interval=interval, seed=seed)


def active_committees(system: System, workdir: Path, max_iterations: int, seed_offset: int,
                      scale: Scale) -> tuple[list, Campaign]:
    """Run (or, when finished, reopen) the campaign in ``workdir/active_seed<seed>``;
    (labels, member models) per training."""
    cfg = config_from_dict(al_config(system, max_iterations, seed_offset, scale),
                           source="al_efficiency", base_dir=system.config.parent)
    campaign = Campaign(cfg, workdir / f"active_seed{cfg.seed}")
    campaign.run()
    stages = campaign.stages
    committees = []
    for it in stages.iterations():
        if stages.done(it, "train"):
            labels = campaign.ds.db.count(f"iteration<{it}", status="labeled")
            committees.append((labels, sorted((stages.iter_dir(it) / "committee")
                                              .glob("member_*.model"))))
    return committees, campaign


def seed_models(system: System, workdir: Path, max_iterations: int, seed_offset: int,
                scale: Scale) -> list:
    """:func:`active_committees` without the campaign (for :func:`side_by_side`)."""
    return active_committees(system, workdir, max_iterations, seed_offset, scale)[0]


def grown_chain(campaign: Campaign, frames: Iterator[Atoms], rng: np.random.Generator, *,
                out_dir: Path, min_labels: int, max_labels: int,
                reached: Callable[[list[Path]], bool]) -> list[tuple[int, list[Path], list]]:
    """The campaign's loop with the frames of ``frames`` instead of its selection;
    (labels, member models, frames added so far) per training.

    Everything but the choice of frames is the campaign's: the same bootstrap labels and
    first committee, ``max_selected`` new frames per iteration, the same validation rule
    (splits drawn with ``rng``), and the same training (member seeds, subsets, warm start
    from the previous iteration). Goes on until ``reached(models)`` with at least
    ``min_labels``, ``max_labels``, or the end of ``frames``; models of a previous run
    are reused.
    """
    cfg = campaign.cfg
    boot = [row_to_ref_atoms(r) for r in campaign.ds.rows(iteration=0, status="labeled")]
    train = [a for a in boot if a.info["split"] == "train"]
    valid = [a for a in boot if a.info["split"] == "valid"]
    models = sorted((campaign.stages.iter_dir(1) / "committee").glob("member_*.model"))
    added: list[Atoms] = []
    chain = [(len(boot), models, [])]
    step = cfg.systems[0].max_selected
    it = 1
    while len(boot) + len(added) + step <= max_labels and not (
            len(boot) + len(added) >= min_labels and reached(models)):
        picks = [frame for _, frame in zip(range(step), frames)]
        if len(picks) < step:
            break
        it += 1
        added += picks
        for frame, split in zip(picks, assign_splits(step, cfg.validation.fraction, rng,
                                                     at_least_one=False)):
            (valid if split == "valid" else train).append(frame)
        data = CommitteeData(train=train, valid=valid, atomic_numbers=campaign.atomic_numbers,
                             has_stress=stress_in_loss(cfg, campaign.starts.values()),
                             target=campaign.target, e0s=campaign.e0s)
        models, _ = train_committee(cfg.committee, data, out_dir=out_dir / f"iter_{it:03d}",
                                    seed=cfg.seed, iteration=it, previous=models,
                                    workers=Workers())
        chain.append((len(boot) + len(added), models, list(added)))
    return chain


def route_chain(cfg: CampaignConfig, workdir: Path, draw: int | None, source: list, *,
                stride: int, main_set: list[Atoms], target: float, min_labels: int,
                max_labels: int, out_dir: Path) -> tuple[list, dict[tuple[Path, ...], float]]:
    """:func:`grown_chain` of one route, from the finished campaign in ``workdir`` (opened
    here, so that the routes can run side by side): random draw ``draw`` (frames drawn
    from the pool ``source``), or with ``draw`` None the AIMD route (``source`` the
    trajectories, every ``stride``-th step). Stops once the force RMSE on ``main_set``
    reaches ``target``; also returns the RMSEs on ``main_set`` it computed, by models."""
    campaign = Campaign(cfg, workdir)
    campaign.validate()
    if draw is None:
        rng = np.random.default_rng(derive_seed(cfg.seed, "aimd-baseline"))
        frames = aimd_frames(source, stride)
    else:
        rng = np.random.default_rng(derive_seed(cfg.seed, "random-baseline", draw))
        frames = random_frames(source, rng)
    main_rmse: dict[tuple[Path, ...], float] = {}

    def reached(models: list[Path]) -> bool:
        main_rmse[tuple(models)] = force_rmse_meV_A(models, main_set)
        return main_rmse[tuple(models)] <= target

    chain = grown_chain(campaign, frames, rng, out_dir=out_dir, min_labels=min_labels,
                        max_labels=max_labels, reached=reached)
    return chain, main_rmse


def random_frames(pool: list[Atoms], rng: np.random.Generator) -> Iterator[Atoms]:
    """The pool in a random order (the permutation is drawn first, as before)."""
    return iter([pool[k] for k in rng.permutation(len(pool))])


def aimd_frames(trajectories: list[list[Atoms]], stride: int) -> Iterator[Atoms]:
    """Every ``stride``-th step of each trajectory, in MD order (trajectories interleaved:
    run side by side)."""
    kept = [f for traj in trajectories for f in traj if f.info["md_step"] % stride == 0]
    return iter(sorted(kept, key=lambda f: (f.info["md_step"], f.info["trajectory"])))


def aimd_oracle_calls(n_boot: int, added: list[Atoms]) -> int:
    """Bootstrap labels plus every MD step up to the last frame used on each trajectory."""
    last: dict[int, int] = {}
    for f in added:
        last[f.info["trajectory"]] = max(last.get(f.info["trajectory"], 0), f.info["md_step"])
    return n_boot + sum(last.values())


def test_sets(system: System, cfg: CampaignConfig, start: Atoms, hottest_K: float,
              scale: Scale, jobs: int) -> dict[str, list[Atoms]]:
    """Held-out oracle trajectories (never trained on): one per main temperature (the
    walkers' range); two each at +150 K and +250 K; the rare-event frames (a water of
    the start's first shell leaving it). ``jobs`` trajectories run side by side."""
    def run(temperature_K: float, seed: int, steps: int = scale.test_steps,
            interval: int = scale.test_interval) -> Callable[[], list[Atoms]]:
        return functools.partial(oracle_md, cfg, start, temperature_K=temperature_K,
                                 steps=steps, interval=interval, seed=seed)

    runs = {system.main: [run(t, 101 + k) for k, t in enumerate(system.main_temperatures_K)]}
    for k, delta in enumerate((150, 250)):
        runs[f"+{delta} K ({hottest_K + delta:.0f} K)"] = [
            run(hottest_K + delta, 551 + 100 * k + j) for j in range(2)]
    runs[RARE] = [run(scale.rare_temperature_K, 901 + j, scale.rare_steps, 10)
                  for j in range(scale.rare_runs)]
    done = iter(side_by_side([call for calls in runs.values() for call in calls], jobs))
    sets = {name: [frame for _ in calls for frame in next(done)] for name, calls in runs.items()}
    shell = first_shell(start)
    sets[RARE] = [frame for frame in sets[RARE] if is_rare_event(frame, shell)]
    return sets


def efficiency(active: list, randoms: list[list], target: float) -> dict:
    """Labels each method needs for ``target``, their ratio (against the mean over the
    random draws, given only when every draw reached the target), and both RMSEs at
    active learning's final label count."""
    n_last = active[-1][0]
    n_active = labels_to_reach(active, target)
    per_draw = [labels_to_reach(curve, target) for curve in randoms]
    n_random = None if None in per_draw else float(np.mean(per_draw))
    return {"target_rmse_meV_A": round(target, 1),
            "labels_active": None if n_active is None else round(n_active, 1),
            "labels_random": None if n_random is None else round(n_random, 1),
            "ratio_active_over_random": (None if not (n_active and n_random)
                                         else round(n_active / n_random, 3)),
            "random_reached_target": f"{len(per_draw) - per_draw.count(None)} of "
                                     f"{len(per_draw)} draws",
            "labels_random_per_draw": [None if n is None else round(n, 1) for n in per_draw],
            "labels_at_comparison": n_last}


def at_labels(curve: list[tuple[int, float]], n: int) -> float | None:
    """The curve's RMSE at ``n`` labels: its (last) point there, else interpolated log-log
    between the points around ``n`` (a campaign may select fewer than ``max_selected``
    frames in an iteration, so the routes' label counts need not meet); None outside."""
    exact = [r for m, r in curve if m == n]
    if exact:
        return exact[-1]
    for (n0, r0), (n1, r1) in zip(curve[:-1], curve[1:]):
        if n0 < n < n1:
            frac = (math.log(n) - math.log(n0)) / (math.log(n1) - math.log(n0))
            return math.exp(math.log(r0) + frac * (math.log(r1) - math.log(r0)))
    return None


def per_condition(active: list, randoms: list[list], quality: dict, n_frames: int) -> dict:
    """Equal-label RMSE ratio active/random (at active learning's last label count, per
    draw and of the mean), and the final committees' calibration quality."""
    n_last = active[-1][0]
    r_active = active[-1][1]
    r_random = [at_labels(curve, n_last) for curve in randoms]
    ratios = [None if r is None else round(r_active / r, 3) for r in r_random]
    known = [r for r in r_random if r is not None]
    return {"n_frames": n_frames, "labels": n_last, "rmse_active_meV_A": round(r_active, 1),
            "rmse_random_meV_A_per_draw": [None if r is None else round(r, 1) for r in r_random],
            "ratio_active_over_random": round(r_active / np.mean(known), 3) if known else None,
            "ratio_per_draw": ratios, **quality}


def curve_points(curve) -> list[list[float]]:
    return [[n, round(r, 1)] for n, r in curve]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", choices=sorted(SYSTEMS), default="cluster")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="default runs/<results name> (runs/<results name>_reduced)")
    parser.add_argument("--img-dir", type=Path, default=Path("docs/img"))
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--draws", type=int, default=3, help="random-selection runs")
    parser.add_argument("--seeds", type=int, default=1, help="campaign seeds (active route)")
    parser.add_argument("--aimd-stride", type=int, default=20,
                        help="ab initio MD route: label every N-th MD step")
    parser.add_argument("--max-factor", type=float, default=4.0,
                        help="random and AIMD routes stop at this x the campaign's labels")
    parser.add_argument("--stability-walkers", type=int, default=5)
    parser.add_argument("--stability-ps", type=float, default=5.0)
    parser.add_argument("--jobs", type=int, default=2,
                        help="independent parts (seeds, MD trajectories, random draws and "
                        "the AIMD route, stability committees) run this many at a time")
    parser.add_argument("--reuse", action="store_true",
                        help="keep the models of a previous run in --workdir (re-evaluate)")
    parser.add_argument("--reduced", action="store_true",
                        help="end-to-end check in minutes; does not write the results file")
    args = parser.parse_args(argv)
    if args.workdir is None:
        name = SYSTEMS[args.system].results_name
        args.workdir = Path(f"runs/{name}_reduced" if args.reduced else f"runs/{name}")
    if args.reduced:
        args.iterations, args.draws, args.seeds = 2, 1, 1
        args.stability_walkers, args.stability_ps = 2, 0.05
        args.img_dir = args.workdir / "img"
    return args


def walker_trajectories(cfg: CampaignConfig, start: Atoms, temperatures: list[float],
                        scale: Scale, jobs: int) -> list[list[Atoms]]:
    """Plain oracle MD at the walkers' temperatures, a frame every 10 steps, each frame
    tagged with its ``trajectory`` index (the random pool and the AIMD route)."""
    trajectories = side_by_side(
        [functools.partial(oracle_md, cfg, start, temperature_K=temperature,
                           steps=scale.pool_steps, interval=10, seed=202 + k)
         for k, temperature in enumerate(temperatures)], jobs)
    for k, frames in enumerate(trajectories):
        for frame in frames:
            frame.info["trajectory"] = k
    return trajectories


def final_quality(calc, tests: dict[str, list[Atoms]]) -> dict[str, dict]:
    return {name: calibration_quality(calc, frames) if frames else {}
            for name, frames in tests.items()}


def reliability(calc, frames: list[Atoms], path: Path, note: str) -> None:
    """Reliability diagram of a calibrated committee on ``frames``."""
    from alearn.calibration import predict_validation

    errors = predict_validation(calc, frames).resolved()
    report.reliability_diagram(errors.forces_std,
                               calc.calibration.forces_err_est(errors.forces_std),
                               errors.force_err, path, note=note, atoms="held-out test atoms")


def seed_summary(active_runs: list, target: float, rmse, main: str) -> dict:
    """Labels to ``target`` and final RMSE on the ``main`` set per campaign seed, and means."""
    per_seed = []
    for seed, models in active_runs:
        curve = [(n, rmse(m, main)) for n, m in models]
        n = labels_to_reach(curve, target)
        per_seed.append({"seed": seed, "labels_to_target": None if n is None else round(n, 1),
                         "final_labels": curve[-1][0], "final_rmse_meV_A": round(curve[-1][1], 1),
                         "curve": curve_points(curve)})
    reached = [s["labels_to_target"] for s in per_seed if s["labels_to_target"] is not None]
    return {"per_seed": per_seed,
            "mean_labels_to_target": round(float(np.mean(reached)), 1) if reached else None,
            "seeds_reaching_target": f"{len(reached)} of {len(per_seed)}",
            "mean_final_rmse_meV_A": round(float(np.mean([s["final_rmse_meV_A"]
                                                          for s in per_seed])), 1)}


def stability_runs(committees: dict[str, Callable], cfg: CampaignConfig, start: Atoms,
                   args: argparse.Namespace, *, temperature_K: float) -> dict[str, dict]:
    """MD stability of each committee (built by its callable in the process that runs its
    walkers): the same ``--stability-walkers`` walkers for every committee, stepped
    together; ``--jobs`` committees at a time."""
    steps = round(args.stability_ps * 1000 / cfg.systems[0].md.timestep_fs)
    specs = stability_specs(cfg, walkers=args.stability_walkers, steps=steps,
                            temperature_K=temperature_K)
    stops = side_by_side([functools.partial(stability_stops, make, cfg, start, specs)
                          for make in committees.values()], args.jobs)
    return {tag: stability_summary(s, tag) for tag, s in zip(committees, stops)}


def main() -> None:
    args = parse_args()
    system = SYSTEMS[args.system]
    main_set = system.main
    scale = system.reduced if args.reduced else system.scale
    t0 = time.perf_counter()
    if not args.reuse:
        shutil.rmtree(args.workdir, ignore_errors=True)
    side_by_side([functools.partial(seed_models, system, args.workdir, args.iterations, k,
                                    scale) for k in range(args.seeds)], args.jobs)
    active_runs, campaigns = [], []
    for k in range(args.seeds):  # reopened: every campaign has finished
        models, campaign = active_committees(system, args.workdir, args.iterations, k, scale)
        active_runs.append((campaign.cfg.seed, models))
        campaigns.append(campaign)
    campaign, active_models = campaigns[0], active_runs[0][1]
    cfg = campaign.cfg
    start = campaign.starts[cfg.systems[0].name]
    walkers = cfg.systems[0].md
    hottest = max(walkers.temperature_K)
    tests = test_sets(system, cfg, start, hottest, scale, args.jobs)
    names = [name for name, frames in tests.items() if frames]
    rmse = ForceScores(tests)
    rmse.prefetch([(m, name) for name in names for _, m in active_models]
                  + [(m, main_set) for _, runs in active_runs for _, m in runs], args.jobs)
    active = {name: [(n, rmse(m, name)) for n, m in active_models] for name in names}
    target = 1.05 * active[main_set][-1][1]
    n_last = active_models[-1][0]
    max_labels = int(args.max_factor * n_last)
    trajectories = walker_trajectories(cfg, start, list(walkers.temperature_K), scale,
                                       args.jobs)
    pool = [frame for traj in trajectories for frame in traj]
    route = functools.partial(route_chain, cfg, campaign.workdir, stride=args.aimd_stride,
                              main_set=tests[main_set], target=target, max_labels=max_labels)
    routes = side_by_side(
        [functools.partial(route, d, pool, min_labels=n_last,
                           out_dir=args.workdir / f"random_{d}") for d in range(args.draws)]
        + [functools.partial(route, None, trajectories, min_labels=0,
                             out_dir=args.workdir / "aimd")], args.jobs)
    *chains, aimd_chain = [chain for chain, _ in routes]
    rmse.known.update({(models, main_set): r for _, main_rmse in routes
                       for models, r in main_rmse.items()})
    rmse.prefetch([(m, name) for chain in chains for _, m, _ in chain for name in names]
                  + [(m, main_set) for _, m, _ in aimd_chain], args.jobs)
    n_boot = aimd_chain[0][0]
    aimd = [(aimd_oracle_calls(n_boot, added), rmse(m, main_set))
            for _, m, added in aimd_chain]
    curves = {name: (active[name], [[(n, rmse(m, name)) for n, m, _ in chain]
                                    for chain in chains])
              for name in active}
    calls_active = labels_to_reach(active[main_set], target)
    calls_aimd = labels_to_reach(aimd, target)

    active_calc = committee_calculator(active_models[-1][1][0].parent, cfg)
    quality = {"active": final_quality(active_calc, tests),
               "random": [final_quality(CommitteeCalculator(chain[-1][1]), tests)
                          for chain in chains]}
    conditions = {}
    for name in active:
        q = dict(quality["active"][name])
        q["spearman_random_per_draw"] = [r[name].get("spearman") for r in quality["random"]]
        conditions[name] = per_condition(*curves[name], q, len(tests[name]))
    conditions.update({name: {"n_frames": 0} for name, frames in tests.items() if not frames})

    stability = stability_runs(
        {"active": functools.partial(committee_calculator, active_models[-1][1][0].parent, cfg,
                                     drive="member"),
         **{f"random {d}": functools.partial(CommitteeCalculator, chain[-1][1], drive="member")
            for d, chain in enumerate(chains)}},
        cfg, start, args, temperature_K=hottest)
    random_stable = [v["fraction_stable"] for k, v in stability.items() if k != "active"]

    img = args.img_dir
    name = system.results_name
    plots = {"learning_curves": str(img / f"{name}.png"),
             "reliability": str(img / f"{name}_reliability.png"),
             "stability": str(img / f"{name}_stability.png")}
    plot_learning_curves(Path(plots["learning_curves"]),
                         {"active": [[(n, rmse(m, main_set)) for n, m in runs]
                                     for _, runs in active_runs],
                          "random": curves[main_set][1], "aimd": aimd, "target": target},
                         {k: v for k, v in curves.items() if k != main_set}, main_set,
                         f"{system.label}, {cfg.oracle.xtb.method} oracle, committee of "
                         f"{cfg.committee.size} MACE")
    reliability(active_calc, tests[main_set], Path(plots["reliability"]),
                f"final active committee, {main_set}")
    plot_stability(Path(plots["stability"]),
                   {k: v["fraction_stable"] for k, v in stability.items()},
                   f"{args.stability_walkers} walkers x {args.stability_ps} ps at {hottest:.0f} K")
    emit({
        "benchmark": "al_efficiency", "oracle": cfg.oracle.xtb.method, "system": system.label,
        "reduced": args.reduced, "random_draws": args.draws, "seeds": args.seeds,
        "test": f"{len(tests[main_set])} frames of {len(system.main_temperatures_K)} "
                f"held-out xTB trajectories at {main_set}",
        **efficiency(active[main_set], curves[main_set][1], target),
        "oracle_calls_active": None if calls_active is None else round(calls_active, 1),
        "oracle_calls_aimd": None if calls_aimd is None else round(calls_aimd, 1),
        "aimd_over_active": (round(calls_aimd / calls_active, 2)
                             if calls_aimd and calls_active else None),
        "aimd_reached_target": calls_aimd is not None,
        "aimd_stride_steps": args.aimd_stride, "aimd_max_calls_tried": aimd[-1][0],
        "per_condition": conditions,
        "spearman": {name: c.get("spearman") for name, c in conditions.items()},
        "md_stability_active": stability["active"]["fraction_stable"],
        "md_stability_random": round(float(np.mean(random_stable)), 3),
        "md_stability_random_per_draw": random_stable,
        "stability_run": {"walkers": args.stability_walkers, "ps": args.stability_ps,
                          "temperature_K": hottest, "issue_asks": "10 walkers x 20 ps",
                          "stops": {k: v["stops"] for k, v in stability.items()}},
        "active_seeds": seed_summary(active_runs, target, rmse, main_set),
        "curve_active": curve_points(active[main_set]),
        "curves_random": [curve_points(c) for c in curves[main_set][1]],
        "curve_aimd_oracle_calls": curve_points(aimd),
        "rare_event_criterion": "a water of Li's first shell at the start (Li-O <= 2.3 A) "
                                "beyond 2.6 A, all of them within 4.5 A, xTB MD at "
                                f"{scale.rare_temperature_K:.0f} K",
        "plots": plots, "wall_s": round(time.perf_counter() - t0, 1),
    }, name, write=not args.reduced)


if __name__ == "__main__":
    main()
