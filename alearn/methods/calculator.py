"""Any ASE calculator, given by import path and keyword arguments.

``import_path`` is ``module:attribute`` (e.g. ``ase.calculators.lj:LennardJones``);
the calculator is ``attribute(**kwargs)``. If the attribute has a
``check_atoms(atoms, where)`` callable, it is the method's input check.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ase import Atoms

from alearn.errors import ConfigError
from alearn.methods.base import Keys
from alearn.methods.base import settings_json as settings_dict

if TYPE_CHECKING:
    from ase.calculators.calculator import BaseCalculator

    from alearn.config import CalculatorSettings

__all__ = ["KEYS", "charge", "check_atoms", "code_versions", "import_object", "make_calculator",
           "settings_dict"]

KEYS = Keys(prefix="calculator", subject="the calculator")


def import_object(import_path: str, where: str = "import_path") -> Any:
    """Import ``module:attribute``; ConfigError naming ``where`` if it fails."""
    module_name, _, attr = import_path.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"{where}: cannot import {import_path!r}: {err}") from None


def make_calculator(settings: CalculatorSettings, *, keys: Keys = KEYS,
                    communicator: Any = None) -> BaseCalculator:
    """``import_path(**kwargs)`` (``communicator``: unused)."""
    return import_object(settings.import_path, keys.key("import_path"))(**settings.kwargs)


def check_atoms(atoms: Atoms, where: str, settings: CalculatorSettings, *,
                keys: Keys = KEYS) -> None:
    """Raise ConfigError if the import fails or the class's ``check_atoms`` rejects ``atoms``."""
    factory = import_object(settings.import_path, f"{where}: {keys.key('import_path')}")
    checker = getattr(factory, "check_atoms", None)
    if checker is not None:
        checker(atoms, where)


def code_versions(settings: CalculatorSettings) -> dict[str, Any]:
    """None known: the calculator's code is the user's."""
    return {}


def charge(settings: CalculatorSettings) -> None:
    """Unknown: the keyword arguments are the calculator's own."""
    return None
