"""Direct vs Δ-learning: learning curves on a small electrolyte cluster.

System: Li⁺(H₂O)₃ (10 atoms, total charge +1, no cell).
Target: GPAW LCAO/dzp, PBE (the alearn GPAW oracle, preset ``molecule``).
Baseline: GFN2-xTB via tblite (charge +1), the Δ-ML baseline of ``alearn.baselines``.

Frames come from two independent xTB-driven Langevin MD runs at 400 K: one is
the pool the training labels are drawn from (random order, nested budgets),
the other the held-out test trajectory. Every frame is labeled by the target
and the baseline. For each budget a MACE model is trained with mace-torch's
trainer (``alearn.training.train_member``) either on ``REF_*`` (direct) or
on ``DELTA_*`` = ``REF_*`` − ``BASE_*`` (Δ), identical in architecture,
epochs, seed and frames. The test error is the force RMSE (over all
Cartesian components) of the model (direct) or baseline + model (Δ) against
the target.

Prints one JSON line::

    {"rmse_direct_meV_A": ..., "rmse_delta_meV_A": ..., "budget": 64,
     "target_rmse_meV_A": ..., "labels_direct": ..., "labels_delta": ..., ...}

``labels_*`` are the labels each method needs to reach ``target_rmse_meV_A``
(the direct model's RMSE at the largest budget, unless ``--target-rmse``),
interpolated log-log between budgets; null when not reached.

Run (50 min on the shared 2-core machine: 10 min GPAW, 40 min training; results are
cached in ``--workdir``)::

    OMP_NUM_THREADS=1 python benchmarks/delta_learning.py --plot docs/img/delta_learning.png
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import molecule
from ase.io import read
from ase.optimize import BFGS
from learning_curves import force_rmse_meV_A, labels_to_reach, langevin_frames
from result_line import emit

from alearn.baselines import add_baseline, baseline_hash, make_baseline
from alearn.config import BaselineConfig, CommitteeConfig, GPAWSettings
from alearn.training import MemberJob, train_member, write_extxyz

log = logging.getLogger("delta_learning")

CHARGE = 1.0
TARGET = GPAWSettings(preset="molecule", mode="lcao", basis="dzp", xc="PBE", charge=CHARGE)
BASELINE = BaselineConfig(kind="xtb", xtb={"method": "GFN2-xTB", "charge": CHARGE})
VACUUM_A = 3.5
MODEL = {"num_channels": 32, "max_L": 0, "r_max": 5.0, "num_interactions": 2,
         "correlation": 3, "num_radial_basis": 8, "default_dtype": "float64"}


# --------------------------------------------------------------------------- structures
def li_water_cluster(n_water: int = 3, r_li_o: float = 1.95) -> Atoms:
    """Li⁺ with ``n_water`` waters in a plane around it, O towards Li."""
    atoms = Atoms("Li", positions=[[0.0, 0.0, 0.0]])
    for k in range(n_water):
        phi = 2 * math.pi * k / n_water
        direction = np.array([math.cos(phi), math.sin(phi), 0.0])
        water = molecule("H2O")
        water.translate(-water.positions[0])
        water.rotate((0, 0, -1), direction)  # H atoms point away from Li
        water.translate(r_li_o * direction)
        atoms += water
    return atoms


def md_frames(start: Atoms, *, seed: int, steps: int, interval: int,
              temperature_K: float = 400.0) -> list[Atoms]:
    """Langevin MD on the baseline (GFN2-xTB); a frame every ``interval`` steps."""
    frames = []
    for md in langevin_frames(start, make_baseline(BASELINE), temperature_K=temperature_K,
                              steps=steps, interval=interval, seed=seed):
        frame = Atoms(md.numbers, md.positions)  # the target labels it
        frame.center(vacuum=VACUUM_A)
        frame.info["md_step"] = md.info["md_step"]
        frames.append(frame)
    return frames


# --------------------------------------------------------------------------- labels
def _label_one(atoms: Atoms) -> tuple[float, np.ndarray, float]:
    from alearn.oracles.gpaw import GPAWOracle

    oracle = GPAWOracle(TARGET)
    oracle.check(atoms, "benchmark frame")
    t0 = time.perf_counter()
    label = oracle.label(atoms)
    return label.energy, label.forces, time.perf_counter() - t0


def label_frames(frames: list[Atoms], workers: int) -> tuple[list[Atoms], float]:
    """REF_* from GPAW (``workers`` processes), then BASE_*/DELTA_* from the baseline."""
    # spawn: GPAW must not inherit the OpenMP/BLAS state of the xTB runs of this process
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(_label_one, frames))
    labeled = []
    for atoms, (energy, forces, _) in zip(frames, results, strict=True):
        atoms = atoms.copy()
        atoms.info["REF_energy"] = energy
        atoms.arrays["REF_forces"] = forces
        labeled.append(atoms)
    return add_baseline(labeled, BASELINE), float(np.mean([r[2] for r in results]))


def dataset(workdir: Path, *, pool_size: int, n_test: int, workers: int) -> dict:
    """Pool and test frames with REF/BASE/DELTA (cached in ``workdir``)."""
    cache = workdir / "frames.json"
    pool_file, test_file = workdir / "pool.xyz", workdir / "test.xyz"
    if cache.is_file():
        meta = json.loads(cache.read_text())
        if meta["pool_size"] >= pool_size and meta["n_test"] >= n_test:
            return {**meta, "pool": read(pool_file, ":")[:pool_size],
                    "test": read(test_file, ":")[:n_test]}
    t0 = time.perf_counter()
    start = li_water_cluster()
    start.calc = make_baseline(BASELINE)
    BFGS(start, logfile=None).run(fmax=0.02, steps=200)
    pool = md_frames(start, seed=1, steps=20 * pool_size, interval=20)
    test = md_frames(start, seed=2, steps=20 * n_test, interval=20)
    md_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    frames, label_s = label_frames(pool + test, workers)
    pool, test = frames[:pool_size], frames[pool_size:]
    write_extxyz(pool, pool_file)
    write_extxyz(test, test_file)
    meta = {"pool_size": pool_size, "n_test": n_test, "md_s": md_s,
            "labels_wall_s": time.perf_counter() - t0, "target_s_per_label": label_s,
            "baseline_hash": baseline_hash(BASELINE)}
    cache.write_text(json.dumps(meta))
    return {**meta, "pool": pool, "test": test}


# --------------------------------------------------------------------------- training
def epochs_for(n_train: int, batch_size: int, steps: int) -> int:
    """Epochs giving about ``steps`` optimizer steps (at least 40)."""
    return max(40, math.ceil(steps / math.ceil(n_train / batch_size)))


def train(workdir: Path, frames: list[Atoms], *, learn: str, seed: int, steps: int) -> Path:
    """One MACE model on ``frames`` (cached); returns the model file."""
    out = workdir / f"{learn}_n{len(frames)}_s{seed}"
    model = out / "model.model"
    if model.is_file():
        return model
    out.mkdir(parents=True, exist_ok=True)
    cfg = CommitteeConfig(model=MODEL, training={"batch_size": 4, "patience": 10_000,
                                                 "max_num_epochs": 1, "e0s": "average"})
    write_extxyz(frames, out / "train.xyz")
    # No label is held out (all of the budget trains); mace-torch picks the epoch by
    # the loss on the first 8 training frames.
    write_extxyz(frames[:8], out / "valid.xyz")
    job = MemberJob(index=0, seed=seed, train_file=out / "train.xyz",
                    valid_file=out / "valid.xyz", model_path=model, init_model=None,
                    epochs=epochs_for(len(frames), 4, steps))
    wall = train_member(cfg, job, atomic_numbers=[1, 3, 8], has_stress=False, threads=1,
                        target={"direct": "REF", "delta": "DELTA"}[learn])
    (out / "wall_s.txt").write_text(f"{wall:.1f}\n")
    return model


# --------------------------------------------------------------------------- analysis
def plot(path: Path, budgets: list[int], curves: dict[str, np.ndarray], reference: dict,
         target: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

    fig, ax = plt.subplots(figsize=(5.2, 3.9), dpi=150)
    styles = {"direct": ("o-", "C0", "direct (learn PBE)"),
              "delta": ("s-", "C3", "Δ (learn PBE − GFN2-xTB)")}
    for learn, values in curves.items():
        marker, color, name = styles[learn]
        mean = values.mean(axis=0)
        ax.plot(budgets, mean, marker, color=color, label=name)
        if values.shape[0] > 1:
            ax.fill_between(budgets, values.min(axis=0), values.max(axis=0), color=color,
                            alpha=0.2, lw=0)
    ax.axhline(target, color="0.5", ls=":", lw=1, label=f"common target ({target:.0f})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(FixedLocator(budgets))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(ScalarFormatter())
    ax.text(0.97, 0.97, f"GFN2-xTB alone: {reference['baseline']:.0f} meV/Å\n"
            f"RMS of PBE forces: {reference['zero']:.0f} meV/Å", transform=ax.transAxes,
            ha="right", va="top", fontsize=8, color="0.3")
    ax.set_xlabel("DFT labels (training frames)")
    ax.set_ylabel("force RMSE on held-out MD (meV/Å)")
    ax.set_title("Li⁺(H₂O)₃, target PBE (GPAW LCAO/dzp)", fontsize=10)
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", type=Path, default=Path("runs/delta_learning"))
    p.add_argument("--budgets", type=int, nargs="+", default=[8, 16, 32, 64])
    p.add_argument("--n-test", type=int, default=30)
    p.add_argument("--seeds", type=int, default=2, help="models per budget and method")
    p.add_argument("--steps", type=int, default=1200, help="optimizer steps per model")
    p.add_argument("--workers", type=int, default=2, help="parallel GPAW labels / trainings")
    p.add_argument("--target-rmse", type=float, default=None, help="meV/Å (default: direct "
                                                                  "at the largest budget)")
    p.add_argument("--plot", type=Path, default=None, help="PNG of the learning curves")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    t_start = time.perf_counter()
    budgets = sorted(args.budgets)
    args.workdir.mkdir(parents=True, exist_ok=True)
    data = dataset(args.workdir, pool_size=budgets[-1], n_test=args.n_test,
                   workers=args.workers)
    log.info("frames ready: %d pool, %d test", len(data["pool"]), len(data["test"]))
    order = np.random.default_rng(0).permutation(len(data["pool"]))
    jobs = [(learn, n, seed) for seed in range(1, args.seeds + 1) for n in budgets
            for learn in ("direct", "delta")]

    def run(job: tuple[str, int, int]) -> Path:
        learn, n, seed = job
        frames = [data["pool"][i] for i in order[:n]]
        return train(args.workdir, frames, learn=learn, seed=seed, steps=args.steps)

    t_train = time.perf_counter()
    with ThreadPoolExecutor(args.workers) as pool:  # each training is a subprocess
        models = dict(zip(jobs, pool.map(run, jobs), strict=True))
    train_s = time.perf_counter() - t_train
    # evaluated one after another: mace-torch's graph building sets torch's global
    # default dtype (scoped), which is not thread-safe
    rmses = {}
    for (learn, n, seed), model in models.items():
        rmses[(learn, n, seed)] = force_rmse_meV_A(
            [model], data["test"], baseline_key="BASE_forces" if learn == "delta" else None)
        log.info("%s n=%d seed=%d: %.1f meV/Å", learn, n, seed, rmses[(learn, n, seed)])
    curves = {learn: np.array([[rmses[(learn, n, s)] for n in budgets]
                               for s in range(1, args.seeds + 1)])
              for learn in ("direct", "delta")}
    mean = {learn: curves[learn].mean(axis=0) for learn in curves}
    test = data["test"]
    ref = np.array([a.arrays["REF_forces"] for a in test])
    base = np.array([a.arrays["BASE_forces"] for a in test])
    reference = {"baseline": 1000 * float(np.sqrt(np.mean((base - ref) ** 2))),
                 "zero": 1000 * float(np.sqrt(np.mean(ref ** 2)))}
    target = args.target_rmse if args.target_rmse is not None else float(mean["direct"][-1])
    if args.plot is not None:
        plot(args.plot, budgets, curves, reference, target)
    need = {learn: labels_to_reach(list(zip(budgets, mean[learn])), target)
            for learn in mean}
    result = {
        "benchmark": "delta_learning",
        "system": "Li+(H2O)3, charge +1",
        "target": "GPAW LCAO/dzp PBE",
        "baseline": "GFN2-xTB (tblite)",
        "budget": budgets[-1],
        "rmse_direct_meV_A": round(float(mean["direct"][-1]), 1),
        "rmse_delta_meV_A": round(float(mean["delta"][-1]), 1),
        "target_rmse_meV_A": round(target, 1),
        "labels_direct": None if need["direct"] is None else round(need["direct"], 1),
        "labels_delta": None if need["delta"] is None else round(need["delta"], 1),
        "budgets": budgets,
        "curve_direct_meV_A": [round(float(x), 1) for x in mean["direct"]],
        "curve_delta_meV_A": [round(float(x), 1) for x in mean["delta"]],
        "seeds": args.seeds,
        "rmse_baseline_alone_meV_A": round(reference["baseline"], 1),
        "rms_target_forces_meV_A": round(reference["zero"], 1),
        "n_test_frames": len(test),
        "target_s_per_label": round(data["target_s_per_label"], 2),
        "labels_wall_s": round(data["labels_wall_s"], 1),
        "train_wall_s_sum": round(sum(float((m.parent / "wall_s.txt").read_text())
                                      for m in models.values()), 1),
        "train_wall_s": round(train_s, 1),
        "wall_s": round(time.perf_counter() - t_start, 1),
    }
    (args.workdir / "result.json").write_text(json.dumps(result, indent=1))
    emit(result, __file__)
    return result


if __name__ == "__main__":
    main()
