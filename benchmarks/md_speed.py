"""Cost of one MD step: mace-torch's MACECalculator against alearn's committee paths.

Side by side, same models, same structures (a 12-atom water cluster, a 96-atom
periodic Li+F- electrolyte box and a ~400-atom one), with one torch thread and
with all, the median over repeated steps (positions moved a little before each,
as in MD) of:

* ``mace_single_ms``, ``mace_single_compiled_ms``, ``mace_committee4_ms``:
  mace-torch's ``MACECalculator`` with one member, the same compiled
  (``compile_mode="default"``), and all four members;
* ``alearn_committee4_ms``: :class:`CommitteeCalculator`, every member at every step;
* ``alearn_explore_step_ms``: exploration as the campaign runs it (one member
  drives, the full committee on every 10th step, ``uncertainty.drive: member``),
  averaged over a sampling interval;
* ``alearn_production_ms``: one member (``drive="member"``) compiled, for
  protocols; ``alearn_production_eager_ms`` and ``alearn_production_f32_ms``
  (eager float64, compiled float32) beside it;
* ``sequential_8_walkers_ms_per_walker``, ``batched_8_walkers_ms_per_walker``:
  8 member-driven Langevin walkers one after another, and stepped together
  (:class:`BatchedCommittee`, one forward pass per step), per walker-step
  (and the same with float32 members, ``..._f32_...``);
* ``compile_s``: first-step time of the compiled calculators (compilation, with
  an empty inductor cache; mace-torch's compiled calculator is timed as it is,
  its forces inexact with more than one thread, see docs/benchmarks.md);
* ``nve_drift``: total-energy drift of a short NVE run (VelocityVerlet,
  0.5 fs) per atom per ps, eager float64, eager float32 and compiled, on the
  96-atom box.

The members are untrained ScaleShiftMACE models of a campaign's default
architecture (16 channels, L = 0, two interactions, correlation 3, r_max 4.5 Å,
float64; benchmarks/md_models.py), or a trained committee (``--committee DIR``
with ``member_*.model`` for H, Li, O, F). Prints one JSON line (also written to
benchmarks/results/md_speed.json).

    python benchmarks/md_speed.py                 # the full run (tens of minutes)
    python benchmarks/md_speed.py --quick         # a check that it works (12 atoms)
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

# compile times from scratch: a fresh inductor cache (set before torch reads it)
os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="md_speed_inductor_")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from ase import Atoms, units  # noqa: E402
from ase.md.langevin import Langevin  # noqa: E402
from ase.md.velocitydistribution import thermalize_momenta  # noqa: E402
from ase.md.verlet import VelocityVerlet  # noqa: E402
from md_models import electrolyte_box, save_committee, water_cluster  # noqa: E402
from result_line import emit  # noqa: E402

from alearn.calculators import CommitteeCalculator  # noqa: E402
from alearn.calculators.batched import BatchedCommittee  # noqa: E402
from alearn.config import UncertaintyConfig  # noqa: E402
from alearn.exploration import committee_results_at  # noqa: E402
from alearn.uncertainty import broken_structure  # noqa: E402

ELEMENTS = [1, 3, 8, 9]
SAMPLE_INTERVAL = 10


def structures(quick: bool) -> dict[str, Atoms]:
    found = {"water_12": water_cluster(4), "electrolyte_96": electrolyte_box(30, 3),
             "electrolyte_400": electrolyte_box(128, 8)}
    return {"water_12": found["water_12"]} if quick else found


class Mover:
    """Moves a structure a little before each step (fresh neighbour lists, as in MD)."""

    def __init__(self, atoms: Atoms, seed: int = 0) -> None:
        self.atoms = atoms.copy()
        self.rng = np.random.default_rng(seed)

    def __call__(self) -> Atoms:
        self.atoms.positions += self.rng.normal(0.0, 0.002, self.atoms.positions.shape)
        return self.atoms


def median_ms(step: Callable[[], None], repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return round(1e3 * float(np.median(times)), 3)


def force_step(calc, atoms: Atoms) -> Callable[[], None]:
    mover = Mover(atoms)
    return lambda: calc.calculate(mover(), ["energy", "forces"])


def explore_block(calc: CommitteeCalculator, atoms: Atoms) -> Callable[[], None]:
    """One sampling interval of a member-driven walker: the driver and the cheap structure
    check every step, the full committee on the last (as alearn.exploration does)."""
    mover, ucfg = Mover(atoms), UncertaintyConfig()

    def block() -> None:
        for _ in range(SAMPLE_INTERVAL):
            calc.calculate(mover(), ["energy", "forces"])
            broken_structure(calc.atoms, ucfg)
        committee_results_at(calc.atoms, calc, calc)

    return block


def first_step_s(calc, atoms: Atoms) -> float:
    t0 = time.perf_counter()
    calc.calculate(atoms, ["energy", "forces"])
    return round(time.perf_counter() - t0, 1)


def walkers_ms(committee: CommitteeCalculator, atoms: Atoms, *, n: int, steps: int,
               together: bool) -> float:
    """Wall time per walker-step of ``n`` member-driven Langevin walkers."""
    starts = [Mover(atoms, seed=k)() for k in range(n)]

    def run(start: Atoms, calc, seed: int) -> None:
        work = start.copy()
        work.calc = calc
        Langevin(work, 0.5 * units.fs, temperature_K=300, friction=0.01 / units.fs,
                 rng=np.random.default_rng(seed)).run(steps)

    t0 = time.perf_counter()
    if not together:
        for k, start in enumerate(starts):
            run(start, committee, k)
    else:
        hub = BatchedCommittee(committee)
        clients = [hub.client() for _ in starts]

        def one(k: int) -> None:
            try:
                run(starts[k], clients[k], k)
            finally:
                clients[k].close()

        threads = [threading.Thread(target=one, args=(k,)) for k in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return round(1e3 * (time.perf_counter() - t0) / (n * (steps + 1)), 3)


def nve_drift(calc, atoms: Atoms, steps: int) -> float:
    """Slope of the total energy of an NVE run, eV per atom per ps."""
    work = atoms.copy()
    thermalize_momenta(work, 300, rng=np.random.default_rng(0))
    work.calc = calc
    dyn = VelocityVerlet(work, 0.5 * units.fs)
    energies = []
    dyn.attach(lambda: energies.append(work.get_total_energy()), interval=1)
    dyn.run(steps)
    t_ps = 0.5e-3 * np.arange(len(energies))
    return float(np.polyfit(t_ps, np.asarray(energies) / len(work), 1)[0])


def drifts(paths: list[Path], atoms: Atoms, compiled: CommitteeCalculator, steps: int) -> dict:
    """NVE drift of one member driving: eager float64, eager float32, compiled."""
    calcs = {"eager_float64": CommitteeCalculator(paths, drive="member"),
             "eager_float32": CommitteeCalculator(paths, drive="member", dtype="float32"),
             "compiled_" + str(compiled.dtype).removeprefix("torch."): compiled}
    return {"atoms": len(atoms), "steps": steps, "timestep_fs": 0.5,
            **{f"{k}_eV_per_atom_ps": nve_drift(c, atoms, steps) for k, c in calcs.items()}}


def one_setting(paths: list[Path], atoms: Atoms, *, repeats: int, walker_steps: int,
                compiled: dict) -> dict:
    """All figures for one structure at the current thread count."""
    from mace.calculators import MACECalculator

    out: dict[str, float] = {}
    mace1 = MACECalculator(model_paths=[str(paths[0])], device="cpu")
    out["mace_single_ms"] = median_ms(force_step(mace1, atoms), repeats)
    mace4 = MACECalculator(model_paths=[str(p) for p in paths], device="cpu")
    out["mace_committee4_ms"] = median_ms(force_step(mace4, atoms), repeats)
    out.update(mace_compiled_ms(compiled, atoms, repeats))
    committee = CommitteeCalculator(paths)
    out["alearn_committee4_ms"] = median_ms(force_step(committee, atoms), repeats)
    driven = CommitteeCalculator(paths, drive="member")
    out["alearn_explore_step_ms"] = round(median_ms(explore_block(driven, atoms),
                                                    max(3, repeats // 4)) / SAMPLE_INTERVAL, 3)
    out["alearn_production_eager_ms"] = median_ms(force_step(driven, atoms), repeats)
    out["alearn_production_ms"] = median_ms(force_step(compiled["alearn"], atoms), repeats)
    out["alearn_production_f32_ms"] = median_ms(force_step(compiled["alearn_f32"], atoms),
                                                repeats)
    out["alearn_production_still_compiled"] = bool(
        compiled["alearn"].members.compiled and compiled["alearn_f32"].members.compiled)
    for suffix, calc in (("", driven),
                         ("_f32", CommitteeCalculator(paths, drive="member", dtype="float32"))):
        for mode, together in (("sequential", False), ("batched", True)):
            out[f"{mode}_8_walkers{suffix}_ms_per_walker"] = walkers_ms(
                calc, atoms, n=8, steps=walker_steps, together=together)
    return out


def mace_compiled_ms(compiled: dict, atoms: Atoms, repeats: int) -> dict:
    """mace-torch's compiled calculator, timed where it runs: it compiles again for every
    new graph size (no padding), so dynamo's limit of 8 entries ends it in MD of a box
    whose neighbour count changes; once failed, it is not tried again."""
    if compiled.get("mace_failed"):
        return {"mace_single_compiled_ms": None,
                "mace_single_compiled_failed": compiled["mace_failed"]}
    try:
        with torch._dynamo.config.patch(recompile_limit=8):  # mace-torch's default
            return {"mace_single_compiled_ms": median_ms(force_step(compiled["mace"], atoms),
                                                         repeats)}
    except Exception as err:  # noqa: BLE001 - recorded: part of what is measured
        compiled["mace_failed"] = f"{type(err).__name__}: {str(err).splitlines()[0][:160]}"
        return {"mace_single_compiled_ms": None,
                "mace_single_compiled_failed": compiled["mace_failed"]}


def compiled_calculators(paths: list[Path], atoms: Atoms) -> tuple[dict, dict]:
    """mace-torch's and alearn's compiled calculators for ``atoms``, and their compile time
    (the first step)."""
    from mace.calculators import MACECalculator

    calcs = {"mace": MACECalculator(model_paths=[str(paths[0])], device="cpu",
                                    compile_mode="default"),
             "alearn": CommitteeCalculator(paths, drive="member", compile_mode="default"),
             "alearn_f32": CommitteeCalculator(paths, drive="member", compile_mode="default",
                                               dtype="float32")}
    # one cache entry per compiled model and size (alearn raises torch's limit of 8 when it
    # compiles; set here first so that mace-torch's calculator gets its entry too)
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
    seconds = {}
    for name, calc in calcs.items():
        try:
            seconds[f"{name}_compile_s"] = first_step_s(calc, Mover(atoms, seed=99)())
        except Exception as err:  # noqa: BLE001 - recorded: part of what is measured
            seconds[f"{name}_compile_s"] = None
            calcs[f"{name}_failed"] = f"{type(err).__name__}: {str(err).splitlines()[0][:160]}"
    return calcs, seconds


def targets(results: dict) -> dict:
    """The issue's targets, judged on the one-thread figures."""
    verdict = {}
    for name, threads in results.items():
        r = threads["threads_1"]
        verdict[name] = {
            "explore_over_single": round(r["alearn_explore_step_ms"] / r["mace_single_ms"], 3),
            "explore_target_1.3": r["alearn_explore_step_ms"] <= 1.3 * r["mace_single_ms"],
            "production_speedup": round(r["mace_single_ms"] / r["alearn_production_ms"], 3),
            "production_no_slower_than_compiled":
                None if r["mace_single_compiled_ms"] is None
                else r["alearn_production_ms"] <= r["mace_single_compiled_ms"],
            "production_f32_speedup": round(r["mace_single_ms"] / r["alearn_production_f32_ms"],
                                            3),
            "batched_8_throughput_ratio": round(r["sequential_8_walkers_ms_per_walker"]
                                                / r["batched_8_walkers_ms_per_walker"], 3),
            "batched_8_f32_throughput_ratio": round(
                r["sequential_8_walkers_f32_ms_per_walker"]
                / r["batched_8_walkers_f32_ms_per_walker"], 3),
        }
    return verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="12 atoms, one thread, few steps: checks that the script works")
    parser.add_argument("--committee", type=Path, default=None,
                        help="folder with trained member_*.model (default: untrained members)")
    args = parser.parse_args()
    repeats, walker_steps, nve_steps = (3, 2, 10) if args.quick else (20, 20, 2000)
    all_threads = os.cpu_count() or 1
    thread_counts = [1] if args.quick else sorted({1, all_threads})
    drift_on = "water_12" if args.quick else "electrolyte_96"
    with tempfile.TemporaryDirectory() as tmp:
        paths = (sorted(args.committee.glob("member_*.model"))[:4] if args.committee
                 else save_committee(Path(tmp), ELEMENTS, size=4))
        results: dict[str, dict] = {}
        compile_s: dict[str, dict] = {}
        for name, atoms in structures(args.quick).items():
            torch.set_num_threads(1)
            compiled, compile_s[name] = compiled_calculators(paths, atoms)
            results[name] = {}
            for threads in thread_counts:
                torch.set_num_threads(threads)
                results[name][f"threads_{threads if threads == 1 else 'all'}"] = one_setting(
                    paths, atoms, repeats=repeats, walker_steps=walker_steps, compiled=compiled)
            if name == drift_on:
                torch.set_num_threads(1)
                drift = drifts(paths, atoms, compiled["alearn"], nve_steps)
    emit({"benchmark": "md_speed", "quick": args.quick,
          "models": str(args.committee) if args.committee else
          "untrained ScaleShiftMACE x4 (16 ch, L=0, 2 interactions, correlation 3, "
          "r_max 4.5, float64)",
          "cpu": platform.processor() or platform.machine(), "cores": all_threads,
          "torch": torch.__version__, "atoms": {k: len(v) for k, v in structures(
              args.quick).items()}, "results": results, "compile_s": compile_s,
          "nve_drift": drift, "targets": targets(results)}, __file__)


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(os.environ["TORCHINDUCTOR_CACHE_DIR"], ignore_errors=True)
