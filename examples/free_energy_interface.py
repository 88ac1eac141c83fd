"""F(z), D(z) and the continuum transport numbers of species above an electrode.

From a campaign's committee (or any ASE calculator) to production MD of an
electrode/electrolyte interface (resumable: re-run the same command to
continue), then for each followed species: the free-energy profile F(z) above
the electrode plane, D⊥(z) and D∥(z) with block errors, the 1-D Smoluchowski
model built from them (first-passage times, resistance, flux) next to the same
numbers counted in the MD, and figures. Optionally umbrella sampling of one ion
along z (MBAR), and the bulk D of the transport protocol from a bulk MD.

With an alearn campaign (e.g. the Cu(111)/water/Li⁺ example)::

    python examples/free_energy_interface.py --calculator committee:CAMPAIGN_DIR \\
        --structure interface.xyz --electrode Cu --species Li O --temperature 330 \\
        --ps 200 --discard-ps 20 --bulk-range 7 10 --between 2.5 6 \\
        --bulk-trajectory bulk_md.traj --workdir fe_out

An existing trajectory instead of new MD: ``--trajectory md.traj`` (extxyz too;
``--frame-interval-fs`` when the frames carry no time). Umbrella sampling of atom
``I`` from 1.5 to 8 Å in 14 windows: ``--umbrella-atom I --umbrella-range 1.5 8
--umbrella-windows 14 --umbrella-spring 2 --umbrella-ps 20``.

``--calculator``/``--structure`` take ``committee:DIR``, ``file.py:function`` or
``module:function`` as in ``examples/conductivity_emd.py``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
from ase.io import read
from conductivity_emd import load_calculator, load_structure  # shared example helpers

from alearn.protocols import (
    ElectrodePlane,
    MDOptions,
    TransportOptions,
    heights_above_plane,
    load_trajectory,
    run_md,
    self_diffusion,
)
from alearn.protocols.free_energy import (
    HeightAbovePlane,
    InterfaceOptions,
    UmbrellaWindows,
    bin_edges,
    continuum_numbers,
    displaced_starts,
    followed_atoms,
    free_energy_figure,
    interface_figure,
    interface_profiles,
    run_umbrella,
    save_figure,
    umbrella_profile,
)
from alearn.state import write_json_atomic

log = logging.getLogger("free_energy_interface")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--structure", help="interface structure (needed for MD and umbrella)")
    p.add_argument("--calculator", help="committee:DIR or file.py:function")
    p.add_argument("--trajectory", type=Path, help="analyse this MD instead of running one")
    p.add_argument("--frame-interval-fs", type=float)
    p.add_argument("--electrode", help="electrode species (plane: its top layer)")
    p.add_argument("--electrode-tag", type=int, help="electrode atoms by ASE tag")
    p.add_argument("--electrode-indices", type=int, nargs="+")
    p.add_argument("--species", nargs="+", default=[], help="species to follow, e.g. Li O")
    p.add_argument("--indices", type=int, nargs="+", help="atoms to follow (instead of species)")
    p.add_argument("--temperature", type=float, default=300.0, help="K")
    p.add_argument("--ps", type=float, default=50.0, help="production MD, ps")
    p.add_argument("--timestep-fs", type=float, default=1.0)
    p.add_argument("--interval", type=int, default=10, help="steps between frames")
    p.add_argument("--discard-ps", type=float, default=5.0)
    p.add_argument("--bin-width", type=float, default=0.1, help="Å")
    p.add_argument("--lag-frames", type=int, default=25,
                   help="transition-matrix lag; aim at D·lag/bin² >= 5 (docs/free_energy.md)")
    p.add_argument("--parallel-bin-width", type=float, default=1.0, help="Å")
    p.add_argument("--parallel-fit-lags", type=int, nargs=2, default=(10, 40),
                   help="frames; after the ballistic regime, before most particles leave a bin")
    p.add_argument("--blocks", type=int, default=5)
    p.add_argument("--bulk-range", type=float, nargs=2, help="bulk-like heights (Å)")
    p.add_argument("--between", type=float, nargs=2, help="a b (Å) for the continuum numbers; "
                   "default: the 20 and 80 %% quantiles of the heights")
    p.add_argument("--concentrations", type=float, nargs=2, default=(1.0, 0.0), help="mol/L")
    p.add_argument("--bulk-trajectory", type=Path, help="bulk MD for the bulk D (transport)")
    p.add_argument("--umbrella-atom", type=int)
    p.add_argument("--umbrella-range", type=float, nargs=2, default=(1.5, 8.0))
    p.add_argument("--umbrella-windows", type=int, default=14)
    p.add_argument("--umbrella-spring", type=float, default=2.0, help="eV/Å²")
    p.add_argument("--umbrella-ps", type=float, default=10.0, help="per window")
    p.add_argument("--umbrella-discard-ps", type=float, default=2.0, help="per window")
    p.add_argument("--workdir", type=Path, default=Path("free_energy_interface"))
    return p.parse_args()


def electrode_plane(args: argparse.Namespace) -> ElectrodePlane:
    if args.electrode_indices:
        return ElectrodePlane(indices=tuple(args.electrode_indices))
    if args.electrode_tag is not None:
        return ElectrodePlane(tag=args.electrode_tag)
    if args.electrode:
        return ElectrodePlane(symbol=args.electrode)
    raise SystemExit("give the electrode: --electrode SYMBOL, --electrode-tag or "
                     "--electrode-indices")


def production(args: argparse.Namespace, calc) -> Path:
    if args.trajectory is not None:
        return args.trajectory
    if not (args.structure and calc is not None):
        raise SystemExit("give --structure and --calculator to run MD, or --trajectory")
    steps = int(round(args.ps * 1000 / args.timestep_fs / args.interval)) * args.interval
    opts = MDOptions(temperature_K=args.temperature, timestep_fs=args.timestep_fs,
                     n_steps=steps, interval_steps=args.interval)
    path = args.workdir / "interface.traj"
    run_md(load_structure(args.structure), calc, path, options=opts)
    return path


def bulk_diffusion(args: argparse.Namespace, labels: list[str]) -> dict:
    """Bulk D (Å²/fs, transport protocol's Einstein estimate) of the followed species."""
    if args.bulk_trajectory is None:
        return {}
    traj = load_trajectory(args.bulk_trajectory).time_slice(args.discard_ps * 1000)
    result = self_diffusion(traj, options=TransportOptions(n_blocks=args.blocks))
    return {s: result[s].D_A2_fs for s in labels if s in result}


def analyse(args: argparse.Namespace, path: Path, plane: ElectrodePlane) -> dict:
    # the structure file keeps tags and other per-atom data a trajectory may have dropped
    reference = load_structure(args.structure) if args.structure else read(path, index=0)
    traj = load_trajectory(path, frame_interval_fs=args.frame_interval_fs).time_slice(
        args.discard_ps * 1000)
    options = InterfaceOptions(
        bin_width_A=args.bin_width, n_blocks=args.blocks, lag_frames=args.lag_frames,
        parallel_bin_width_A=args.parallel_bin_width,
        parallel_fit_lags_frames=tuple(args.parallel_fit_lags),
        bulk_range_A=tuple(args.bulk_range) if args.bulk_range else None)
    targets = [("species", s) for s in args.species] or [("indices", tuple(args.indices))]
    results, summary = [], {}
    for kind, what in targets:
        res = interface_profiles(traj, reference, plane, temperature_K=args.temperature,
                                 options=options, **{kind: what})
        idx, _ = followed_atoms(reference, **{kind: what})
        z = heights_above_plane(traj, idx, plane, reference)
        a, b = args.between or np.quantile(z, [0.2, 0.8])
        numbers = continuum_numbers(res.model(), z, traj.frame_interval_fs, float(a), float(b),
                                    bulk_range_A=options.bulk_range_A,
                                    concentrations_mol_L=tuple(args.concentrations))
        print(f"\n{res.label}: {res.n_atoms} atoms, heights {z.min():.3g}–{z.max():.3g} Å")
        print(numbers)
        res.to_json(args.workdir / f"profiles_{res.label.replace(' ', '_')}.json")
        summary[res.label] = {"profiles_summary": res.summary(), "continuum": numbers.to_dict()}
        results.append(res)
    bulk = bulk_diffusion(args, [r.label for r in results])
    for label, d in bulk.items():
        summary[label]["bulk_D_A2_fs_transport"] = d.to_dict()
    save_figure(interface_figure(results, bulk_D_A2_fs=bulk), args.workdir / "interface.png")
    return summary


def umbrella(args: argparse.Namespace, calc, plane: ElectrodePlane) -> dict | None:
    if args.umbrella_atom is None:
        return None
    if calc is None or not args.structure:
        raise SystemExit("umbrella sampling needs --calculator and --structure")
    atoms = load_structure(args.structure)
    cv = HeightAbovePlane(args.umbrella_atom, plane, atoms)
    windows = UmbrellaWindows.evenly_spaced(*args.umbrella_range, args.umbrella_windows,
                                            args.umbrella_spring)
    steps = int(round(args.umbrella_ps * 1000 / args.timestep_fs / args.interval)) * args.interval
    opts = MDOptions(temperature_K=args.temperature, timestep_fs=args.timestep_fs,
                     n_steps=steps, interval_steps=args.interval, thermostat="langevin",
                     thermostat_time_fs=100.0)
    folder = args.workdir / "umbrella"
    run_umbrella(displaced_starts(atoms, cv, windows), calc, cv, folder, windows=windows,
                 md_options=opts)
    lo, hi = args.umbrella_range
    result = umbrella_profile(folder, cv, bin_edges=bin_edges(lo - 0.5, hi + 0.5, args.bin_width),
                              temperature_K=args.temperature,
                              discard_fs=args.umbrella_discard_ps * 1000)
    result.to_json(folder / "umbrella_mbar.json")
    save_figure(free_energy_figure([result.profile]), folder / "umbrella_F.png")
    return {"min_neighbour_overlap": float(result.neighbour_overlap.min()),
            "F_kT": result.profile.to_dict()["F_kT"]}


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args.workdir.mkdir(parents=True, exist_ok=True)
    if not args.species and not args.indices:
        raise SystemExit("give --species (e.g. Li O) or --indices of the atoms to follow")
    calc = load_calculator(args.calculator) if args.calculator else None
    plane = electrode_plane(args)
    summary = analyse(args, production(args, calc), plane)
    summary["umbrella"] = umbrella(args, calc, plane)
    write_json_atomic(args.workdir / "summary.json", summary)
    print(f"\nwrote {args.workdir}/summary.json, profiles_*.json, interface.png")


if __name__ == "__main__":
    main()
