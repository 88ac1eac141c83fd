"""Label throughput of GPAW workers on a 2-core machine: labels per hour.

Labels a batch of small GPAW structures (rattled H2O molecules in a box, PW)
through :func:`alearn.label_worker.run_label` in three layouts:

* ``serial``        one worker at a time, 1 rank each;
* ``groups_of_1``   as many concurrent 1-rank workers as ``--groups``
                    (two groups of one on a 2-core machine);
* ``group_of_2``    one worker at a time, ``mpirun -np 2`` each.

Every worker runs with one BLAS/OpenMP thread per rank (``worker_env``), so
the layouts do not oversubscribe the cores. Prints one JSON line with the
wall times, labels per hour, speedups over ``serial`` and the largest energy
difference between layouts (a sanity check: all must agree).

Usage::

    python benchmarks/label_throughput.py [--n 8] [--ecut 350] [--groups 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import molecule
from result_line import emit

from alearn.config import GPAWSettings, OracleConfig
from alearn.label_worker import run_label


def structures(n: int, *, vacuum_A: float, seed: int = 0) -> list[Atoms]:
    """``n`` rattled H2O molecules (0.05 Å) centered in a box with ``vacuum_A``."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        atoms = molecule("H2O")
        atoms.positions += rng.normal(0.0, 0.05, atoms.positions.shape)
        atoms.center(vacuum=vacuum_A)
        out.append(atoms)
    return out


def run_layout(config: OracleConfig, batch: list[Atoms], root: Path, *, workers: int,
               ranks: int) -> tuple[float, list[float]]:
    """Label ``batch`` with ``workers`` concurrent workers of ``ranks`` ranks each."""
    def one(item: tuple[int, Atoms]) -> float:
        i, atoms = item
        return run_label(config, atoms, workdir=root / f"label_{i}", ranks=ranks,
                         timeout_s=600).energy

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        energies = list(pool.map(one, enumerate(batch)))
    return time.perf_counter() - t0, energies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8, help="structures in the batch")
    parser.add_argument("--ecut", type=float, default=350.0, help="PW cutoff (eV)")
    parser.add_argument("--vacuum", type=float, default=3.0, help="vacuum around H2O (Å)")
    parser.add_argument("--groups", type=int, default=2, help="concurrent 1-rank workers")
    args = parser.parse_args()

    config = OracleConfig(kind="gpaw", gpaw=GPAWSettings(preset="molecule", mode="pw",
                                                         ecut_eV=args.ecut))
    batch = structures(args.n, vacuum_A=args.vacuum)
    load_before = os.getloadavg()[0]  # other work on the machine distorts the figures
    layouts = {"serial": (1, 1), f"groups_of_1x{args.groups}": (args.groups, 1),
               "group_of_2": (1, 2)}
    results: dict[str, dict[str, float]] = {}
    energies: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="alearn-bench-") as tmp:
        for name, (workers, ranks) in layouts.items():
            wall, energies[name] = run_layout(config, batch, Path(tmp) / name,
                                              workers=workers, ranks=ranks)
            results[name] = {"wall_s": round(wall, 2),
                             "labels_per_hour": round(3600 * len(batch) / wall, 1)}
    base = results["serial"]["labels_per_hour"]
    for r in results.values():
        r["speedup"] = round(r["labels_per_hour"] / base, 3)
    ref = np.array(energies["serial"])
    spread = max(float(np.abs(np.array(e) - ref).max()) for e in energies.values())
    import gpaw

    emit({
        "benchmark": "label_throughput", "system": f"H2O, PW {args.ecut:g} eV, "
        f"vacuum {args.vacuum:g} Å", "n_labels": len(batch), "cores": os.cpu_count(),
        "gpaw": gpaw.__version__, "layouts": results,
        "max_energy_difference_eV": spread,
        "load_average_1min_before": round(load_before, 2),
        "target_groups_speedup_met": results[f"groups_of_1x{args.groups}"]["speedup"] >= 1.7,
    }, __file__)


if __name__ == "__main__":
    main()
