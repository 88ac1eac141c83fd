"""Fault injection: SIGKILL a small campaign at random moments, resume, compare.

A tiny campaign (EMT Cu, the *test oracle*, labeled in worker processes; two
tiny MACE members) is run once without interruption, then again with
``alearn run`` killed by SIGKILL at ``--kills`` random moments (each run is
started and killed after a delay drawn uniformly from 1 s to an eighth of the
uninterrupted run's wall time, until the kills are spent or the campaign ends;
then it is resumed to its end). After every kill, the
campaign's own processes that are still alive are counted (any live process
whose command line names the workdir: trainers and label workers).

Prints one JSON line, also written to ``benchmarks/results/fault_injection.json``:

``kills``            kills made
``orphans_found``    processes of the campaign alive 5 s after a kill (summed)
``labels_lost``      labels journaled or recorded before a kill but missing or
                     different at the end (must be 0)
``labels_repeated``  reference calculations beyond the uninterrupted run's
                     (at most one per kill: the one in flight)
``identical``        final dataset (every row's status, split, provenance,
                     positions, energy) and committee weights equal the
                     uninterrupted run's

    python benchmarks/fault_injection.py [--kills 20] [--seed 0] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from result_line import emit

from alearn.dataset import Dataset

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# The tests' tiny campaign (EMT Cu, 2 tiny members), labeled in worker processes by
# tests/slow_calculators.py:SlowEMT (EMT that logs each calculation), so that kills
# land in labeling, exploration and training alike.
sys.path.insert(0, str(REPO / "tests"))
from conftest import write_campaign  # noqa: E402

ORACLE = {"oracle": {"kind": "calculator", "isolation": "process",
                     "calculator": {"import_path": "slow_calculators:SlowEMT",
                                    "kwargs": {"delay_s": 0.2}}}}


def write_config(folder: Path) -> Path:
    return write_campaign(folder, ORACLE)


def environment(calc_log: Path) -> dict[str, str]:
    pythonpath = os.pathsep.join(p for p in (str(REPO / "tests"), os.environ.get("PYTHONPATH"))
                                 if p)
    return {**os.environ, "PYTHONPATH": pythonpath, "ALEARN_TEST_CALC_LOG": str(calc_log)}


def command(config: Path, workdir: Path) -> list[str]:
    return [sys.executable, "-m", "alearn.cli", "run", str(config), "--workdir", str(workdir)]


def campaign_processes(workdir: Path) -> list[int]:
    """Live processes whose command line names ``workdir``."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit() or (entry / "stat").read_text().split()[2] == "Z":
                continue
            if str(workdir).encode() in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except (OSError, IndexError):
            continue
    return pids


def orphans_after_kill(workdir: Path, settle_s: float = 5.0) -> int:
    """Processes of the campaign still alive ``settle_s`` after its kill (then ended)."""
    deadline = time.monotonic() + settle_s
    while campaign_processes(workdir) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = campaign_processes(workdir)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(left)


def labels_so_far(workdir: Path) -> dict[int, float]:
    """Row id → label energy, from the journal and the database (what must survive)."""
    labels = {}
    for path in (workdir / "labels").glob("row_*.json"):
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # half-written entries cannot exist (atomic), but a reader may race
        if entry.get("label"):
            labels[entry["row_id"]] = entry["label"]["energy"]
    if (workdir / "dataset.db").is_file():
        for row in Dataset(workdir / "dataset.db").rows(status="labeled"):
            labels[row.id] = float(row.energy)
    return labels


def rows(workdir: Path) -> list[tuple]:
    out = []
    for r in Dataset(workdir / "dataset.db").rows():
        out.append((r.id, r.status, r.split, r.iteration, r.walker, r.md_step,
                    np.round(r.positions, 10).tobytes(), r.get("energy")))
    return out


def final_weights(workdir: Path) -> list[dict]:
    last = sorted(workdir.glob("iter_*/train.done.json"))[-1].parent / "committee"
    return [torch.load(p, weights_only=False).state_dict()
            for p in sorted(last.glob("member_*.model"))]


def same_weights(a: list[dict], b: list[dict]) -> bool:
    return len(a) == len(b) and all(
        x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x) for x, y in zip(a, b))


def run_to_end(config: Path, workdir: Path, env: dict) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(command(config, workdir), env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"campaign failed: {proc.stderr[-3000:]}")
    return time.perf_counter() - t0


def kill_repeatedly(config: Path, workdir: Path, env: dict, *, kills: int, max_delay_s: float,
                    rng: np.random.Generator) -> dict:
    """Start and SIGKILL the campaign ``kills`` times; what was seen after the kills."""
    seen: dict[int, float] = {}
    made = orphans = 0
    while made < kills:
        proc = subprocess.Popen(command(config, workdir), env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=rng.uniform(1.0, max_delay_s))
            break  # finished before the kill: no more moments to kill at
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        made += 1
        orphans += orphans_after_kill(workdir)
        seen.update(labels_so_far(workdir))
    return {"kills": made, "orphans_found": orphans, "seen": seen}


def fault_injection(root: Path, *, kills: int, seed: int) -> dict:
    """Run the uninterrupted and the killed campaign under ``root``; the figures."""
    shutil.rmtree(root, ignore_errors=True)
    ref_log, run_log = root / "ref_calcs.txt", root / "run_calcs.txt"
    ref_cfg, run_cfg = write_config(root / "ref"), write_config(root / "killed")
    ref_work, run_work = root / "ref" / "work", root / "killed" / "work"
    t_ref = run_to_end(ref_cfg, ref_work, environment(ref_log))
    rng = np.random.default_rng(seed)
    killed = kill_repeatedly(run_cfg, run_work, environment(run_log), kills=kills,
                             max_delay_s=max(2.0, t_ref / 8), rng=rng)
    run_to_end(run_cfg, run_work, environment(run_log))
    final = labels_so_far(run_work)
    lost = sum(1 for row_id, energy in killed["seen"].items() if final.get(row_id) != energy)
    n_ref = len(ref_log.read_text().splitlines())
    n_run = len(run_log.read_text().splitlines())
    return {"kills": killed["kills"], "orphans_found": killed["orphans_found"],
            "labels_lost": lost, "labels_repeated": n_run - n_ref,
            "identical": rows(run_work) == rows(ref_work) and
            same_weights(final_weights(run_work), final_weights(ref_work)),
            "labels": n_ref, "uninterrupted_s": round(t_ref, 1), "seed": seed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=Path("runs/fault_injection"))
    args = parser.parse_args()
    emit(fault_injection(args.workdir.resolve(), kills=args.kills, seed=args.seed), __file__)


if __name__ == "__main__":
    main()
