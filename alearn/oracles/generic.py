"""Any ASE calculator as an oracle, given by import path and keyword arguments."""

from __future__ import annotations

import importlib
from typing import Any

from ase import Atoms

from alearn.config import CalculatorSettings
from alearn.errors import ConfigError, LabelFailed
from alearn.oracles.base import Label, label_with_calculator


def import_object(import_path: str, where: str = "import_path") -> Any:
    """Import ``module:attribute``; ConfigError naming ``where`` if it fails."""
    module_name, _, attr = import_path.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"{where}: cannot import {import_path!r}: {err}") from None


class CalculatorOracle:
    """Labels with ``import_path(**kwargs)``, a plain ASE calculator."""

    name = "calculator"

    def __init__(self, settings: CalculatorSettings) -> None:
        self._settings = settings
        self._factory = import_object(settings.import_path, "oracle.calculator.import_path")

    def settings(self) -> dict[str, Any]:
        return {"kind": "calculator", **self._settings.model_dump(mode="json")}

    def check(self, atoms: Atoms, where: str) -> None:
        checker = getattr(self._factory, "check_atoms", None)
        if checker is not None:
            checker(atoms, where)

    def label(self, atoms: Atoms) -> Label:
        try:
            return label_with_calculator(atoms, self._factory(**self._settings.kwargs))
        except Exception as err:  # noqa: BLE001 - recorded as a failed label
            raise LabelFailed(f"{self._settings.import_path} failed: "
                              f"{type(err).__name__}: {err}") from err
