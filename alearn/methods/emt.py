"""ASE's EMT potential: a test oracle and baseline (fast, for tests and demos only).

EMT has parameters for Ag, Al, Au, C, Cu, H, N, Ni, O, Pd and Pt and treats
neutral systems only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ase import Atoms
from ase.calculators.emt import EMT, parameters

from alearn.errors import ConfigError
from alearn.methods.base import Keys, package_version
from alearn.methods.base import settings_json as settings_dict

if TYPE_CHECKING:
    from alearn.config import EMTSettings

__all__ = ["KEYS", "charge", "check_atoms", "code_versions", "make_calculator", "settings_dict"]

KEYS = Keys(prefix="emt", subject="EMT")


def make_calculator(settings: EMTSettings, *, keys: Keys = KEYS, communicator: Any = None
                    ) -> EMT:
    """ASE's EMT (``settings`` has no fields; ``keys``, ``communicator``: unused)."""
    return EMT()


def check_atoms(atoms: Atoms, where: str, settings: EMTSettings, *, keys: Keys = KEYS) -> None:
    """Raise ConfigError if ``atoms`` has an element EMT has no parameters for."""
    unsupported = sorted(set(atoms.get_chemical_symbols()) - set(parameters))
    if unsupported:
        raise ConfigError(
            f"{where}: {keys.subject} has no parameters for {unsupported}; EMT supports "
            f"{sorted(parameters)}. Use {keys.kind}: xtb, gpaw or calculator.")


def code_versions(settings: EMTSettings) -> dict[str, Any]:
    """The ASE version (EMT's parameters ship with ASE)."""
    return {"ase": package_version("ase")}


def charge(settings: EMTSettings) -> float:
    """Total charge (e): 0, EMT treats neutral systems only."""
    return 0.0
