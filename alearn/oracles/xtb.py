"""tblite xTB (GFN1/GFN2) as a *test oracle* and Δ-ML baseline."""

from __future__ import annotations

from typing import Any

from ase import Atoms

from alearn.config import XTBSettings
from alearn.errors import ConfigError, LabelFailed
from alearn.oracles.base import Label, label_with_calculator

# GFN1/GFN2-xTB parametrize H-Rn (Z = 1-86).
MAX_Z = 86


def xtb_calculator(settings: XTBSettings):
    """A tblite ASE calculator for ``settings``."""
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


def check_xtb(atoms: Atoms, where: str, settings: XTBSettings) -> None:
    """Raise ConfigError if xTB cannot treat ``atoms`` with ``settings``."""
    heavy = sorted({s for s, z in zip(atoms.get_chemical_symbols(), atoms.numbers) if z > MAX_Z})
    if heavy:
        raise ConfigError(f"{where}: xTB has no parameters for {heavy} (Z > {MAX_Z}).")
    n_electrons = int(atoms.numbers.sum() - round(settings.charge))
    if (n_electrons - settings.uhf) % 2:
        raise ConfigError(
            f"{where}: {n_electrons} electrons (charge {settings.charge}) cannot have "
            f"{settings.uhf} unpaired electrons; set xtb.uhf to an odd/even value to match "
            "(valence-only counting may differ, but parity is the same)."
        )
    if atoms.pbc.any() and not atoms.pbc.all():
        raise ConfigError(
            f"{where}: tblite supports molecules or 3D-periodic cells, "
            f"not pbc={atoms.pbc.tolist()}."
        )


class XTBOracle:
    """GFN-xTB via tblite. A cheap stand-in for DFT in tests and demos."""

    name = "xtb"

    def __init__(self, settings: XTBSettings | None = None) -> None:
        self._settings = settings or XTBSettings()

    def settings(self) -> dict[str, Any]:
        import tblite

        return {"kind": "xtb", "tblite": getattr(tblite, "__version__", "?"),
                **self._settings.model_dump(mode="json")}

    def check(self, atoms: Atoms, where: str) -> None:
        check_xtb(atoms, where, self._settings)

    def label(self, atoms: Atoms) -> Label:
        try:
            return label_with_calculator(atoms, xtb_calculator(self._settings))
        except Exception as err:  # noqa: BLE001 - recorded as a failed label
            raise LabelFailed(f"xTB failed: {type(err).__name__}: {err}") from err
