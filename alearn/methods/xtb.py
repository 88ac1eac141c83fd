"""GFN-xTB (GFN1, GFN2, IPEA1) through tblite: a test oracle and a Δ-ML baseline.

GFN-xTB parametrizes H–Rn (Z ≤ 86); tblite treats molecules and 3D-periodic
cells. The total charge and the number of unpaired electrons are passed on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ase import Atoms

from alearn.errors import ConfigError
from alearn.methods.base import Keys, atom_in_box, hund_moment, package_version, symbols_above
from alearn.methods.base import settings_json as settings_dict

if TYPE_CHECKING:
    from ase.calculators.calculator import BaseCalculator

    from alearn.config import XTBSettings

__all__ = ["KEYS", "MAX_Z", "charge", "check_atoms", "code_versions", "isolated_atom",
           "make_calculator", "settings_dict"]

#: GFN1/GFN2-xTB parametrize H–Rn (Z = 1–86).
MAX_Z = 86
KEYS = Keys(prefix="xtb", subject="xTB")


def make_calculator(settings: XTBSettings, *, keys: Keys = KEYS,
                    communicator: Any = None) -> BaseCalculator:
    """A tblite ASE calculator for ``settings`` (``keys``, ``communicator``: unused)."""
    from tblite.ase import TBLite

    return TBLite(
        method=settings.method,
        charge=settings.charge,
        multiplicity=settings.uhf + 1,
        accuracy=settings.accuracy,
        electronic_temperature=settings.electronic_temperature_K,
        max_iterations=settings.max_iterations,
        verbosity=0,
    )


def check_atoms(atoms: Atoms, where: str, settings: XTBSettings, *, keys: Keys = KEYS) -> None:
    """Raise ConfigError if xTB cannot treat ``atoms``: an element above Rn, a molecule
    whose electron count does not fit the unpaired electrons, or 1D/2D periodicity.

    The parity check is for molecules and clusters only: a periodic cell with an odd
    electron count (a metal slab with water) runs spin-paired with Fermi smearing
    (``electronic_temperature_K``), as it should.
    """
    heavy = symbols_above(atoms, MAX_Z)
    if heavy:
        raise ConfigError(
            f"{where}: {keys.subject} has no parameters for {heavy} (GFN-xTB covers H–Rn, "
            f"Z ≤ {MAX_Z}); use {keys.kind}: gpaw or calculator for this structure.")
    total = settings.charge
    if not atoms.pbc.any() and abs(total - round(total)) < 1e-9:
        n_electrons = int(atoms.numbers.sum()) - round(total)
        if (n_electrons - settings.uhf) % 2:
            options = [u for u in (settings.uhf - 1, settings.uhf + 1) if u >= 0]
            raise ConfigError(
                f"{where}: {n_electrons} electrons ({keys.key('charge')} = {total:g}) cannot "
                f"have {keys.key('uhf')} = {settings.uhf} unpaired electrons; set "
                f"{keys.key('uhf')} to {' or '.join(map(str, options))}, or fix "
                f"{keys.key('charge')}.")
    if atoms.pbc.any() and not atoms.pbc.all():
        raise ConfigError(
            f"{where}: {keys.subject} (tblite) treats molecules or 3D-periodic cells, not "
            f"pbc={atoms.pbc.tolist()}; make the system fully periodic or non-periodic, or use "
            f"{keys.kind}: gpaw.")


def code_versions(settings: XTBSettings) -> dict[str, Any]:
    """The tblite version."""
    return {"tblite": package_version("tblite")}


def charge(settings: XTBSettings) -> float:
    """Total charge (e): ``settings.charge``."""
    return settings.charge


def isolated_atom(settings: XTBSettings, symbol: str) -> tuple[Atoms, XTBSettings]:
    """The free neutral atom ``symbol`` (non-periodic) and ``settings`` with charge 0
    and ``uhf`` its Hund's-rule unpaired electrons (1 for H: a doublet)."""
    uhf = round(hund_moment(symbol))
    return atom_in_box(symbol, periodic=False), settings.model_copy(
        update={"charge": 0.0, "uhf": uhf})
