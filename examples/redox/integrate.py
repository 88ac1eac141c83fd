"""The redox potential of a couple learned by a two-state campaign (docs/redox.md).

    alearn run examples/redox/campaign_xtb.yaml --workdir runs/fe_redox
    python examples/redox/integrate.py runs/fe_redox --out runs/fe_redox_ti

    alearn run examples/redox/campaign_gpaw.yaml --workdir runs/bq_gpaw
    python examples/redox/integrate.py runs/bq_gpaw --out runs/bq_gpaw_ti \
        --structure examples/redox/bq_water.xyz --fep-frames 20

1. thermodynamic integration on the two committees at 5 Gauss–Legendre nodes in λ
   plus the end points (resumable: run it again to finish an interrupted run);
2. free-energy perturbation to the oracle at each end state (a few frames each);
3. the potential against the SHE (absolute 4.44 V), written to ``redox.json`` with
   the figure ``energy_gap.png``.

The clusters are in vacuum: the number is a gas-phase microsolvated couple, not the
aqueous potential (see docs/redox.md for what is missing and how to add it).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ase.io import read

from alearn import load_committee, load_config
from alearn.electronic_states import oracle_calculator
from alearn.protocols import MDOptions
from alearn.protocols.redox import (
    TIOptions,
    end_state_correction,
    plot_energy_gap,
    redox_potential,
    thermodynamic_integration,
)

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path, help="the two-state campaign's workdir")
    parser.add_argument("--out", type=Path, default=Path("redox_ti"))
    parser.add_argument("--steps", type=int, default=2000, help="MD steps per window")
    parser.add_argument("--fep-frames", type=int, default=40)
    parser.add_argument("--structure", type=Path, default=HERE / "fe_h2o6.xyz",
                        help="start structure of every window (the campaign's structure)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    cfg = load_config(args.workdir / "config.yaml")  # the settings the campaign ran with
    start = read(args.structure)
    start.set_masses([2.0 if s == "H" else None for s in start.get_chemical_symbols()])
    # deuterium: classical configurational averages do not depend on the masses, and
    # heavier hydrogens allow a 1 fs time step
    options = TIOptions(md=MDOptions(temperature_K=300.0, timestep_fs=1.0, n_steps=args.steps,
                                     interval_steps=5, thermostat="langevin",
                                     thermostat_time_fs=100.0, seed=1),
                        equilibration_steps=args.steps // 5, n_nodes=5, n_blocks=5)
    ox, red = (load_committee(args.workdir, state=s) for s in ("ox", "red"))
    ti = thermodynamic_integration(start, ox, red, args.out, options=options)
    corrections = [end_state_correction(ti, s, oracle_calculator(cfg, s),
                                        n_frames=args.fep_frames,
                                        equilibration_steps=options.equilibration_steps)
                   for s in ("ox", "red")]
    result = redox_potential(ti, corrections=corrections)
    result.write_json(args.out / "redox.json")
    plot_energy_gap(ti, args.out / "energy_gap.png")
    print(result.summary())


if __name__ == "__main__":
    main()
