"""Check a screen's committee against its oracle on the screen's own structures.

The committee of a screen is trained on other cells (the GPAW version on 2×2×1
cells, the screen's candidates are 2×2×2): this labels the structure that
chosen candidates left at one stage (the last MD frame by default, where the
forces are not zero) with the committee campaign's oracle, and prints the
committee's error beside its own uncertainty (largest per-atom force spread,
and the calibrated expected error when the campaign has a calibration).

::

    python examples/screening/check_against_oracle.py runs/screening-gpaw \\
        --campaign runs/screening-gpaw-committee --stage md_650K \\
        --candidates Li3OCl-VLiCl Li3OCl.Br50~0 --out runs/screening-gpaw/oracle_check.json

One JSON line per candidate goes to standard output and, with ``--out``, all
of them to one file.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import ase.db
import numpy as np
from ase.units import GPa

from alearn import load_committee
from alearn.config import load_config
from alearn.electronic_states import oracle_calculator


def left_structure(screen: Path, candidate: str, stage: str):
    """The structure ``candidate`` left at ``stage`` in the screen's database."""
    with ase.db.connect(screen / "screen.db") as db:
        rows = list(db.select(item=candidate, stage=stage))
    if not rows:
        raise SystemExit(f"alearn: error: {screen / 'screen.db'}: no row for candidate "
                         f"{candidate!r} at stage {stage!r}; see `ase db {screen / 'screen.db'} "
                         f"stage={stage}` for the candidates that reached it")
    return rows[-1].toatoms()


def compare(atoms, committee, oracle) -> dict:
    """Committee against oracle on ``atoms``: errors, and the committee's own spread."""
    mine = atoms.copy()
    mine.calc = committee
    e_model, f_model, s_model = (mine.get_potential_energy(), mine.get_forces(),
                                 mine.get_stress())
    spread = committee.results["forces_std"]
    expected = committee.results.get("forces_err_est")
    ref = atoms.copy()
    ref.calc = oracle
    start = time.perf_counter()
    e_ref, f_ref, s_ref = ref.get_potential_energy(), ref.get_forces(), ref.get_stress()
    n = len(atoms)
    return {
        "formula": atoms.get_chemical_formula(), "atoms": n,
        "oracle_s": round(time.perf_counter() - start, 1),
        "energy_oracle_eV_atom": e_ref / n, "energy_model_eV_atom": e_model / n,
        "energy_error_meV_atom": 1000 * (e_model - e_ref) / n,
        "force_rmse_meV_A": 1000 * float(np.sqrt(((f_model - f_ref) ** 2).mean())),
        "force_rms_oracle_meV_A": 1000 * float(np.sqrt((f_ref ** 2).mean())),
        "max_atom_force_error_eV_A": float(np.linalg.norm(f_model - f_ref, axis=1).max()),
        "max_force_std_eV_A": float(spread.max()),
        "max_expected_force_error_eV_A": None if expected is None else float(expected.max()),
        "pressure_error_GPa": float(-(s_model[:3] - s_ref[:3]).mean() / GPa),
        "pressure_oracle_GPa": float(-s_ref[:3].mean() / GPa),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("screen", type=Path, help="the screen's work directory")
    parser.add_argument("--campaign", type=Path, required=True,
                        help="work directory of the campaign that trained the committee")
    parser.add_argument("--stage", default="md_650K", help="stage whose structure is checked")
    parser.add_argument("--candidates", nargs="+", required=True)
    parser.add_argument("--out", type=Path, help="write all results to this JSON file")
    args = parser.parse_args()
    structures = {c: left_structure(args.screen, c, args.stage) for c in args.candidates}
    committee = load_committee(args.campaign)
    oracle = oracle_calculator(load_config(args.campaign / "config.yaml"))
    results = []
    for name, atoms in structures.items():
        result = {"candidate": name, "stage": args.stage, **compare(atoms, committee, oracle)}
        print(json.dumps(result), flush=True)
        results.append(result)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
