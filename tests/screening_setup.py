"""Tiny screens for the tests: Cu cells screened by the tiny EMT-trained committee
(conftest's ``tiny_models``), small enough to run in seconds."""

from __future__ import annotations

from pathlib import Path

import yaml
from ase.build import bulk

from conftest import deep_update

#: a screen of 8-atom Cu cells: the parent, a vacancy, and Ag substitutions the
#: committee (trained on Cu only) cannot evaluate
SCREEN = {
    "seed": 3,
    "candidates": {
        "parents": [{"file": "cu.xyz"}],
        "charges": {"Cu": 1.0, "Ag": 1.0},
        "substitutions": [
            {"name": "V", "vacancies": {"Cu": 1}, "allow_charge_change": True},
            {"name": "Ag2", "site": "Cu", "by": "Ag", "count": 2, "max_orderings": 2},
        ],
    },
    "stages": {
        "relax": {"fmax_eV_A": 0.1, "max_steps": 15, "probes": 1},
        "stability": {"references": [{"file": "cu.xyz"}],
                      "max_e_above_hull_eV_atom": 5.0},
        "md": {"temperatures_K": [1200, 900], "mobile_ions": ["Cu"], "steps": 50,
               "equilibration_steps": 10,
               "interval_steps": 5, "n_blocks": 2, "timestep_fs": 2.0},
    },
    "uncertainty": {"lo": 0.05, "hi": 5.0},
}


def write_screen(folder: Path, models: list[Path], changes: dict | None = None) -> Path:
    """Write cu.xyz and screen.yaml (SCREEN updated with ``changes``) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    bulk("Cu", cubic=True).repeat((2, 1, 1)).write(folder / "cu.xyz")
    data = deep_update(SCREEN, {"committee": {"models": [str(p) for p in models]}})
    path = folder / "screen.yaml"
    path.write_text(yaml.safe_dump(deep_update(data, changes or {})))
    return path
