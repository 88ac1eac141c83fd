"""Adiabatic electron affinity of bare p-benzoquinone with the GPAW settings of
``campaign_gpaw.yaml`` (PBE, LCAO dzp, h = 0.2 Å): both states relaxed with BFGS.

Compared with the measured gas-phase value (1.860 ± 0.005 eV, anion photoelectron
spectroscopy), it separates the functional's and basis' share of the couple's error
from the solvation's (docs/redox.md).

    python examples/redox/gas_phase_ea.py    # prints one JSON line
"""

from __future__ import annotations

import json
from pathlib import Path

from ase.optimize import BFGS
from build_bq_water import benzoquinone  # this folder

from alearn import load_config
from alearn.config import StateConfig
from alearn.electronic_states import state_oracle_config
from alearn.methods.gpaw import GPAWCalculator

HERE = Path(__file__).resolve().parent


def relaxed_energy(atoms, state: StateConfig, oracle) -> float:
    """The state's energy (eV) at its BFGS minimum, with the campaign's labeling
    calculator (the same keywords and initial moments as its labels)."""
    atoms = atoms.copy()
    atoms.calc = GPAWCalculator(state_oracle_config(oracle, state).gpaw)
    BFGS(atoms, logfile=None).run(fmax=0.03, steps=100)
    return float(atoms.get_potential_energy())


def main() -> None:
    cfg = load_config(HERE / "campaign_gpaw.yaml")
    molecule = benzoquinone()
    molecule.center(vacuum=5.0)
    energies = {s.name: relaxed_energy(molecule, s, cfg.oracle) for s in cfg.states}
    result = {"energies_eV": energies, "adiabatic_ea_eV": energies["ox"] - energies["red"],
              "experiment_eV": 1.860, "settings": cfg.oracle.gpaw.model_dump()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
