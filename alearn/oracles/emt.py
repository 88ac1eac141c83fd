"""ASE's EMT potential as a *test oracle* (fast, for tests and demos only)."""

from __future__ import annotations

from typing import Any

import ase
from ase import Atoms
from ase.calculators.emt import EMT, parameters

from alearn.config import EMTSettings
from alearn.errors import ConfigError, LabelFailed
from alearn.oracles.base import Label, label_with_calculator


class EMTOracle:
    """Effective-medium theory (ASE). Not a substitute for DFT."""

    name = "emt"

    def __init__(self, settings: EMTSettings | None = None) -> None:
        self._settings = settings or EMTSettings()

    def settings(self) -> dict[str, Any]:
        return {"kind": "emt", "ase": ase.__version__}

    def check(self, atoms: Atoms, where: str) -> None:
        unsupported = sorted(set(atoms.get_chemical_symbols()) - set(parameters))
        if unsupported:
            raise ConfigError(
                f"{where}: EMT has no parameters for {unsupported}; it supports "
                f"{sorted(parameters)}. Use oracle.kind: gpaw or xtb for these elements."
            )

    def label(self, atoms: Atoms) -> Label:
        try:
            return label_with_calculator(atoms, EMT())
        except Exception as err:  # noqa: BLE001 - any failure becomes a recorded label failure
            raise LabelFailed(f"EMT failed: {type(err).__name__}: {err}") from err
