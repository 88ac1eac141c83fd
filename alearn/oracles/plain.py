"""Oracles that label with one calculation of their method's calculator, no retries.

``emt`` and ``xtb`` are *test oracles* (cheap stand-ins for DFT in tests and
demos); ``calculator`` is any ASE calculator given by import path.
"""

from __future__ import annotations

from typing import Any

from ase import Atoms

from alearn.config import CalculatorSettings, EMTSettings, XTBSettings
from alearn.errors import LabelFailed
from alearn.methods import Keys, method, provenance
from alearn.oracles.base import Label, label_with_calculator

__all__ = ["CalculatorOracle", "EMTOracle", "PlainOracle", "XTBOracle"]


class PlainOracle:
    """Method ``name`` labeling with one call of its calculator (no retry ladder).

    Parameters
    ----------
    settings
        The method's section of :class:`alearn.config.OracleConfig`.
    """

    name: str
    #: how failure reasons name the method
    title: str

    def __init__(self, settings: Any) -> None:
        self._settings = settings
        self._method = method(self.name)
        self._keys = Keys(prefix=f"oracle.{self.name}", subject=self.title)

    def settings(self) -> dict[str, Any]:
        """Kind, code versions and settings (:func:`alearn.methods.provenance`)."""
        return provenance(self.name, self._settings)

    def check(self, atoms: Atoms, where: str) -> None:
        """Raise ConfigError naming ``where`` if the method cannot treat ``atoms``."""
        self._method.check_atoms(atoms, where, self._settings, keys=self._keys)

    def label(self, atoms: Atoms) -> Label:
        """Energy (eV), forces (eV/Å) and, for 3D-periodic cells, stress (eV/Å³).

        Raises
        ------
        LabelFailed
            On any error of the calculation, naming the exception.
        """
        try:
            calc = self._method.make_calculator(self._settings, keys=self._keys)
            return label_with_calculator(atoms, calc)
        except Exception as err:  # noqa: BLE001 - any failure becomes a recorded label failure
            raise LabelFailed(f"{self.title} failed: {type(err).__name__}: {err}") from err


class EMTOracle(PlainOracle):
    """Effective-medium theory (ASE). Not a substitute for DFT."""

    name = "emt"
    title = "EMT"

    def __init__(self, settings: EMTSettings | None = None) -> None:
        super().__init__(settings or EMTSettings())


class XTBOracle(PlainOracle):
    """GFN-xTB via tblite. A cheap stand-in for DFT in tests and demos."""

    name = "xtb"
    title = "xTB"

    def __init__(self, settings: XTBSettings | None = None) -> None:
        super().__init__(settings or XTBSettings())


class CalculatorOracle(PlainOracle):
    """Labels with ``import_path(**kwargs)``, a plain ASE calculator.

    Raises
    ------
    ConfigError
        At construction, when ``settings.import_path`` cannot be imported.
    """

    name = "calculator"

    def __init__(self, settings: CalculatorSettings) -> None:
        self.title = settings.import_path
        super().__init__(settings)
        from alearn.methods.calculator import import_object

        import_object(settings.import_path, self._keys.key("import_path"))
