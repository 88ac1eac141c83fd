"""Screening throughput: candidates per core-second for each stage and the whole pipeline,
and the speedup of ``mpirun -np 2`` over one rank.

Screens the anti-perovskite family of examples/screening/screen_xtb.yaml with a
trained committee (its campaign's work directory, ``--campaign``), twice: one
rank, then ``mpirun -np 2`` (one torch thread per rank, so each rank is one
core), each in a fresh work directory. Per stage, the throughput is the
number of candidates that ran the stage over the core-seconds they took (the
``wall_s`` of each stage row in the screen's database; one core per rank);
the pipeline's is the candidates over the core-seconds from the first claim
(reference phases included) to the last stage row. ``mpi_speedup`` is the ratio
of those spans, one rank over two. ``batched_speedup``: the committee (every member,
forces and stress) on the relaxed candidates one structure per call, over all of them
as one graph in one call (best of 5 repeats each). ``two_process_ceiling``: the same
committee evaluations in one process alone and in two at once (throughput ratio; what
two ranks can gain on this machine at best, 2.0 on ideal hardware).

Prints one JSON line (benchmarks/result_line.py) and writes it to
benchmarks/results/screening.json; with ``--reduced`` (a few candidates, short MD:
to check that the script works) it only prints, with ``"reduced": true``.

Usage (on an idle machine)::

    alearn run examples/screening/campaign_xtb.yaml --workdir runs/screening-committee
    python benchmarks/screening.py --campaign runs/screening-committee
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml
from result_line import emit

from alearn.protocols.screening.store import ScreenStore

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "screening"
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMP_NUM_THREADS": "1"}


def screen_config(campaign: Path, folder: Path, *, steps: int, reduced: bool) -> Path:
    """The example screen with ``campaign``'s committee and ``steps`` MD steps at 800 K."""
    data = yaml.safe_load((EXAMPLE / "screen_xtb.yaml").read_text())
    data["committee"]["campaign"] = str(campaign.resolve())
    for source in (data["candidates"]["parents"] + data["stages"]["stability"]["references"]):
        source["file"] = str(EXAMPLE / source["file"])
    md = data["stages"]["md"]  # frames for every block of the analysis: 5 per block at least
    md.update(steps=steps, uncertainty_every=2,
              interval_steps=max(1, min(md["interval_steps"], steps // (5 * md["n_blocks"]))))
    data["stages"]["stability"]["max_e_above_hull_eV_atom"] = None  # every candidate runs MD
    if reduced:
        data["candidates"]["parents"][0]["index"] = "1"  # the vacancy parent only
        data["candidates"]["substitutions"] = data["candidates"]["substitutions"][:2]
        data["stages"]["relax"]["max_steps"] = 20
        data["stages"]["md"].update(equilibration_steps=20, interval_steps=5, n_blocks=2)
    path = folder / "screen.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def run(config: Path, work: Path, ranks: int) -> None:
    command = [sys.executable, "-m", "alearn.cli", "screen", "-q", str(config), "--workdir",
               str(work)]
    if ranks > 1:
        command = ["mpirun", "-np", str(ranks), *command]
    proc = subprocess.run(command, capture_output=True, text=True,
                          env={**os.environ, **MPI_ENV})
    if proc.returncode != 0:
        raise SystemExit(f"screen with {ranks} rank(s) failed:\n{proc.stderr[-3000:]}")


def measure(work: Path, ranks: int) -> dict[str, float]:
    """Per-stage candidates per core-second and the pipeline's, from the database."""
    from ase.db.core import T2000, YEAR

    store = ScreenStore(work / "screen.db")
    stage_s: dict[str, float] = defaultdict(float)
    stage_n: dict[str, int] = defaultdict(int)
    atoms = []
    for row in store.rows(kind="candidate"):
        stage = row.get("stage")
        if stage == "input":
            atoms.append(row.natoms)
            continue
        key = "md" if stage.startswith("md_") else stage
        stage_s[key] += float(row.get("wall_s"))
        stage_n[key] += 1
    # the span covers the reference phases' relaxations too: with one rank they run before
    # the first candidate is claimed, with two ranks alongside the first candidates
    ends = [T2000 + row.mtime * YEAR for kind in ("candidate", "reference")
            for row in store.rows(kind=kind) if row.get("stage") != "input"]
    span_s = max(ends) - min(store.claim_times("candidate") + store.claim_times("reference"))
    out = {f"{k}_per_core_s": stage_n[k] / stage_s[k] for k in stage_s if stage_s[k] > 0}
    out["pipeline_per_core_s"] = len(atoms) / (span_s * ranks)
    out["span_s"] = span_s
    out["n_candidates"] = len(atoms)
    out["mean_atoms"] = sum(atoms) / len(atoms)
    return out


def relaxed_structures(work: Path) -> list:
    """The candidates whose relaxation passed in the screen of ``work``."""
    return [row.toatoms() for row in ScreenStore(work / "screen.db").rows(
        kind="candidate", stage="relax") if row.get("status") == "passed"]


def batched_speedup(campaign: Path, work: Path, repeats: int = 5) -> dict[str, float]:
    """Seconds per structure of the committee one structure per call and all relaxed
    candidates in one call (every member, forces and stress), and their ratio."""
    import torch

    from alearn import load_committee

    torch.set_num_threads(1)
    structures = relaxed_structures(work)
    members = load_committee(campaign).members
    builder = members.graph_builder()

    def best(batches: list[list]) -> float:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for batch in batches:
                members.evaluate(builder.build(batch), stress=True)
            times.append(time.perf_counter() - t0)
        return min(times) / len(structures)

    best([[s] for s in structures])  # warm-up: first calls allocate
    loop = best([[s] for s in structures])
    batched = best([structures])
    return {"loop_s_per_structure": loop, "batched_s_per_structure": batched,
            "batched_structures": len(structures), "batched_speedup": loop / batched}


def probe(campaign: Path, work: Path, calls: int) -> None:
    """One process's part of :func:`concurrency_ceiling`: ``calls`` committee evaluations
    of one relaxed candidate on one thread, timed."""
    import torch

    from alearn import load_committee

    torch.set_num_threads(1)
    atoms = relaxed_structures(work)[0]
    members = load_committee(campaign).members
    builder = members.graph_builder()
    members.evaluate(builder.build([atoms]), stress=True)
    t0 = time.perf_counter()
    for _ in range(calls):
        members.evaluate(builder.build([atoms]), stress=True)
    print("probe_s", time.perf_counter() - t0)


def concurrency_ceiling(campaign: Path, work: Path, calls: int = 200) -> dict[str, float]:
    """What two ranks can gain on this machine at best: the same committee evaluations in
    one process alone and in two processes at once (throughput ratio, 2.0 = perfect)."""
    def start() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, __file__, "--campaign", str(campaign),
                                 "--probe-work", str(work), "--probe-calls", str(calls)],
                                stdout=subprocess.PIPE, text=True,
                                env={**os.environ, **MPI_ENV})

    def seconds(process: subprocess.Popen) -> float:
        out = process.communicate()[0]
        return float(next(line.split()[1] for line in out.splitlines()
                          if line.startswith("probe_s ")))

    alone = seconds(start())
    pair = [start(), start()]
    together = max(seconds(p) for p in pair)
    return {"probe_alone_s": alone, "probe_two_at_once_s": together,
            "two_process_ceiling": 2 * alone / together}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaign", type=Path, required=True,
                        help="campaign work directory with a trained committee for the "
                             "family (examples/screening/campaign_xtb.yaml)")
    parser.add_argument("--steps", type=int, default=500, help="MD steps per candidate")
    parser.add_argument("--reduced", action="store_true",
                        help="a few candidates and short runs: checks the script, records "
                             "nothing")
    parser.add_argument("--probe-work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--probe-calls", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe_work:
        probe(args.campaign, args.probe_work, args.probe_calls)
        return
    steps = 100 if args.reduced else args.steps
    with tempfile.TemporaryDirectory(prefix="screen-bench-") as tmp:
        folder = Path(tmp)
        config = screen_config(args.campaign, folder, steps=steps, reduced=args.reduced)
        t0 = time.perf_counter()
        run(config, folder / "one", 1)
        one = measure(folder / "one", 1)
        batched = batched_speedup(args.campaign, folder / "one")
        ceiling = concurrency_ceiling(args.campaign, folder / "one")
        run(config, folder / "two", 2)
        two = measure(folder / "two", 2)
        wall = time.perf_counter() - t0
    result = {"benchmark": "screening", "system": "Li3OCl-family anti-perovskites (2x2x2)",
              "committee": str(args.campaign), "md_steps": steps, "md_temperature_K": 800,
              **{k: round(v, 6) for k, v in one.items()},
              "span_2_ranks_s": round(two["span_s"], 2),
              "mpi_speedup": round(one["span_s"] / two["span_s"], 3),
              **{k: round(v, 4) for k, v in {**batched, **ceiling}.items()},
              "wall_s": round(wall, 1),
              "cpu_count": os.cpu_count(),
              "load_average_1min": round(os.getloadavg()[0], 2)}
    if args.reduced:
        print(json.dumps({**result, "reduced": True}))
    else:
        emit(result, __file__)


if __name__ == "__main__":
    main()
