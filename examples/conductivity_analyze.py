"""Transport analysis of an existing trajectory (ASE .traj or extxyz, wrapped or not).

Self-diffusion per species, Einstein–Helfand, Green–Kubo (if the file has
momenta) and Nernst–Einstein conductivities, Haven ratio; a table on screen,
``transport.json`` and PNG figures in ``--out``.

Example::

    python examples/conductivity_analyze.py md.extxyz --charges Li=0.8 P=1.2 F=-0.4 \\
        --temperature 600 --frame-interval-fs 10 --discard-ps 5 --out analysis/

Files written by ``alearn.protocols.run_md`` record time and temperature, so
``--temperature`` and ``--frame-interval-fs`` can be left out for them.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from conductivity_emd import parse_charges  # shared with the other example scripts

from alearn.protocols import (
    FitWindow,
    TransportOptions,
    analyze_transport,
    load_trajectory,
    plot_green_kubo,
    plot_msd,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trajectory", type=Path)
    parser.add_argument("--charges", nargs="+", required=True, help="SYMBOL=CHARGE (e)")
    parser.add_argument("--temperature", type=float, help="K (if not recorded in the file)")
    parser.add_argument("--frame-interval-fs", type=float,
                        help="time between frames in the file (if not recorded)")
    parser.add_argument("--stride", type=int, default=1, help="use every n-th frame")
    parser.add_argument("--discard-ps", type=float, default=0.0, help="equilibration to drop")
    parser.add_argument("--window-fs", type=float, nargs=2, metavar=("START", "END"),
                        help="MSD fit window for all species and Einstein–Helfand (default: "
                             "detected)")
    parser.add_argument("--gk-window-fs", type=float, nargs=2, metavar=("START", "END"),
                        help="Green–Kubo plateau window (default: the Einstein–Helfand one)")
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("transport"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    traj = load_trajectory(args.trajectory, frame_interval_fs=args.frame_interval_fs,
                           stride=args.stride).time_slice(args.discard_ps * 1000.0)
    window = FitWindow(*args.window_fs) if args.window_fs else None
    options = TransportOptions(n_blocks=args.blocks, diffusion_window=window, eh_window=window,
                               gk_window=FitWindow(*args.gk_window_fs) if args.gk_window_fs
                               else None)
    result = analyze_transport(traj, parse_charges(args.charges), temperature_K=args.temperature,
                               options=options)
    print(result)
    result.to_json(args.out / "transport.json", include_curves=True)
    plot_msd(result, args.out / "msd.png")
    if result.green_kubo is not None:
        plot_green_kubo(result.green_kubo, args.out / "green_kubo.png",
                        einstein_helfand=result.einstein_helfand.sigma_S_m)
    print(f"\nwrote {args.out}/transport.json and figures")


if __name__ == "__main__":
    main()
