"""Ionic conductivity from equilibrium MD at one or several temperatures (+ Arrhenius).

For each temperature: production MD with any ASE calculator (resumable: re-run
the same command to continue), then self-diffusion, Einstein–Helfand,
Green–Kubo and Nernst–Einstein conductivities with block-averaged error bars.
With two or more temperatures, an Arrhenius fit extrapolates σ to 300 K.

Demo with the molten-LiF test potential of the benchmark (about 4 min on 2 cores;
the first ``--discard-ps`` of each run equilibrate at its temperature)::

    python examples/conductivity_emd.py \\
        --structure benchmarks/conductivity.py:melted_lif \\
        --calculator benchmarks/conductivity.py:lif_test_potential \\
        --charges Li=1 F=-1 --temperatures 1200 1400 1600 --ps 22 --blocks 4 --workdir out_emd

With a trained committee (``alearn run`` work directory) and your structure::

    python examples/conductivity_emd.py --structure start.xyz --calculator committee:WORKDIR \\
        --charges Li=1 P=5 F=-1 ... --temperatures 500 600 700 --ps 200

``--calculator`` and ``--structure`` take ``file.py:function`` or
``module:function`` (called without arguments); ``--structure`` also takes any
file ASE can read, and ``--calculator committee:DIR`` loads the latest committee.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
from pathlib import Path

from ase import Atoms
from ase.io import read

from alearn.protocols import (
    MDOptions,
    NPTOptions,
    TransportOptions,
    analyze_transport,
    arrhenius_from_results,
    load_trajectory,
    plot_arrhenius,
    plot_green_kubo,
    plot_msd,
    run_md,
)


def load_object(spec: str):
    """Call ``file.py:function`` or ``module:function`` (no arguments) and return the result."""
    target, _, name = spec.rpartition(":")
    if not target or not name:
        raise SystemExit(f"--calculator/--structure {spec!r}: expected 'file.py:function' "
                         "or 'module:function'")
    if target.endswith(".py"):
        module_spec = importlib.util.spec_from_file_location(Path(target).stem, target)
        if module_spec is None or not Path(target).exists():
            raise SystemExit(f"{target} does not exist")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    return getattr(module, name)()


def load_calculator(spec: str):
    """``committee:WORKDIR`` (latest alearn committee) or a factory spec."""
    if spec.startswith("committee:"):
        from alearn import load_committee

        return load_committee(spec.split(":", 1)[1])
    return load_object(spec)


def load_structure(spec: str) -> Atoms:
    """A structure file (first frame) or a factory spec."""
    return read(spec) if Path(spec).exists() else load_object(spec)


def parse_charges(items: list[str]) -> dict[str, float]:
    """``["Li=1", "F=-1"]`` -> ``{"Li": 1.0, "F": -1.0}``."""
    out = {}
    for item in items:
        symbol, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--charges {item!r}: use SYMBOL=CHARGE, e.g. Li=1 F=-1")
        out[symbol] = float(value)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--structure", required=True)
    parser.add_argument("--calculator", required=True)
    parser.add_argument("--charges", nargs="+", required=True, help="SYMBOL=CHARGE (e)")
    parser.add_argument("--temperatures", type=float, nargs="+", required=True, help="K")
    parser.add_argument("--ps", type=float, default=20.0, help="production length per T, ps")
    parser.add_argument("--timestep-fs", type=float, default=1.0)
    parser.add_argument("--interval", type=int, default=4, help="steps between frames")
    parser.add_argument("--npt-ps", type=float, default=0.0,
                        help="NPT equilibration first (needs stress), ps")
    parser.add_argument("--discard-ps", type=float, default=2.0,
                        help="initial part of production left out of the analysis, ps")
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=Path("conductivity_emd"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    atoms, calc = load_structure(args.structure), load_calculator(args.calculator)
    charges = parse_charges(args.charges)
    results = []
    for k, temp in enumerate(args.temperatures):
        steps = int(round(args.ps * 1000 / args.timestep_fs / args.interval)) * args.interval
        npt = (NPTOptions(n_steps=int(args.npt_ps * 1000 / args.timestep_fs))
               if args.npt_ps > 0 else None)
        opts = MDOptions(temperature_K=temp, timestep_fs=args.timestep_fs, n_steps=steps,
                         interval_steps=args.interval, seed=k, npt=npt)
        path = args.workdir / f"emd_{temp:g}K.traj"
        run_md(atoms, calc, path, options=opts)
        traj = load_trajectory(path).time_slice(args.discard_ps * 1000)
        result = analyze_transport(traj, charges, options=TransportOptions(n_blocks=args.blocks))
        print(result, "\n")
        result.to_json(args.workdir / f"emd_{temp:g}K.json")
        plot_msd(result, args.workdir / f"msd_{temp:g}K.png")
        if result.green_kubo is not None:
            plot_green_kubo(result.green_kubo, args.workdir / f"green_kubo_{temp:g}K.png",
                            einstein_helfand=result.einstein_helfand.sigma_S_m)
        results.append(result)
    if len(results) >= 2:
        fit = arrhenius_from_results(results, method="einstein_helfand")
        print(fit)
        fit.to_json(args.workdir / "arrhenius.json")
        plot_arrhenius(fit, args.workdir / "arrhenius.png")


if __name__ == "__main__":
    main()
