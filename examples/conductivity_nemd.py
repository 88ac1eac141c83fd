"""Conductivity from field-driven (non-equilibrium) MD at several field strengths.

Each field |E| gets a resumable run with the force q E added to the
calculator's forces and a thermostat on the velocities relative to each
species' drift (so the current is not damped). The steady-state current gives
σ(E) = <J>/|E|; the script reports where σ stops being independent of E
(the end of linear response) and plots σ(E), optionally next to an
equilibrium result.

Demo with the molten-LiF test potential (a few minutes)::

    python examples/conductivity_nemd.py \\
        --structure benchmarks/conductivity.py:melted_lif \\
        --calculator benchmarks/conductivity.py:lif_test_potential \\
        --charges Li=1 F=-1 --temperature 1300 --fields 0.05 0.1 0.2 --ps 10 \\
        --equilibrium out_emd/emd_1300K.json --workdir out_nemd

Start from an equilibrated structure at the same temperature (e.g. the last
frame of a ``conductivity_emd.py`` run: ``--structure out_emd/emd_1300K.traj``).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from conductivity_emd import load_calculator, load_structure, parse_charges

from alearn.protocols import Estimate, MDOptions, NEMDOptions, nemd_conductivity, plot_nemd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--structure", required=True)
    parser.add_argument("--calculator", required=True)
    parser.add_argument("--charges", nargs="+", required=True, help="SYMBOL=CHARGE (e)")
    parser.add_argument("--temperature", type=float, required=True, help="K")
    parser.add_argument("--fields", type=float, nargs="+", required=True, help="|E| in V/Å")
    parser.add_argument("--direction", type=float, nargs=3, default=[0.0, 0.0, 1.0])
    parser.add_argument("--ps", type=float, default=15.0, help="run length per field, ps")
    parser.add_argument("--discard-ps", type=float, default=2.0, help="transient, ps")
    parser.add_argument("--timestep-fs", type=float, default=1.0)
    parser.add_argument("--equilibrium", type=Path,
                        help="JSON from conductivity_emd/analyze, to compare σ_EH")
    parser.add_argument("--workdir", type=Path, default=Path("conductivity_nemd"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    interval = 20
    steps = int(round(args.ps * 1000 / args.timestep_fs / interval)) * interval
    md = MDOptions(temperature_K=args.temperature, timestep_fs=args.timestep_fs, n_steps=steps,
                   interval_steps=interval, thermostat="peculiar_bussi", thermostat_time_fs=100.0)
    result = nemd_conductivity(load_structure(args.structure), load_calculator(args.calculator),
                               parse_charges(args.charges), args.workdir,
                               field_strengths_V_A=args.fields, direction=args.direction,
                               md_options=md,
                               options=NEMDOptions(discard_fs=args.discard_ps * 1000.0))
    print(result)
    result.to_json(args.workdir / "nemd.json")
    equilibrium = None
    if args.equilibrium is not None:
        data = json.loads(args.equilibrium.read_text())
        equilibrium = Estimate.from_dict(data["einstein_helfand"]["sigma_S_m"])
    plot_nemd(result, args.workdir / "nemd.png", equilibrium=equilibrium)


if __name__ == "__main__":
    main()
