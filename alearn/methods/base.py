"""What a reference-method module provides, and the helpers the methods share.

A method module (``alearn.methods.gpaw``, ``xtb``, ``emt``, ``calculator``)
is one reference method, used as the oracle that labels structures
(:mod:`alearn.oracles`) and as a Δ-ML baseline (:mod:`alearn.baselines`).
It satisfies :class:`Method`; its checks name config keys through
:class:`Keys`, so that the same check speaks of ``baseline.xtb.uhf`` under a
baseline and of ``oracle.xtb.uhf`` under an oracle.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, Protocol

from ase import Atoms
from ase.data import atomic_numbers, chemical_symbols, ground_state_magnetic_moments

if TYPE_CHECKING:
    from ase.calculators.calculator import BaseCalculator
    from pydantic import BaseModel

__all__ = ["ATOM_BOX_A", "Keys", "Method", "atom_in_box", "hund_moment", "package_version",
           "settings_json", "symbols_above"]

#: Edges (Å) of the box around an isolated atom (:func:`atom_in_box`): 10 Å, a little
#: unequal so that no cubic symmetry ties the occupations of a partly filled shell
#: (GPAW's own recipe for atomization energies).
ATOM_BOX_A = (10.0, 10.0001, 10.0002)


@dataclass(frozen=True)
class Keys:
    """How a check's messages name the method and its config keys.

    Attributes
    ----------
    prefix
        The method's settings section as messages name it: ``"baseline.xtb"``,
        ``"oracle.xtb"``; ``"gpaw"`` (the GPAW oracle's messages name keys
        relative to ``oracle:``, e.g. ``gpaw.spinpol``).
    subject
        How messages name the method itself: ``"xTB"``, ``"baseline.kind 'xtb'"``.
    """

    prefix: str
    subject: str

    def key(self, name: str) -> str:
        """The full name of setting ``name``, e.g. ``"baseline.xtb.uhf"``."""
        return f"{self.prefix}.{name}"

    @property
    def kind(self) -> str:
        """The key that chooses the method: ``"baseline.kind"`` for ``"baseline.xtb"``."""
        head, _, _ = self.prefix.rpartition(".")
        return f"{head}.kind" if head else "kind"


class Method(Protocol):
    """What a method module provides (``settings`` is its section of the config,
    e.g. :class:`alearn.config.XTBSettings`).

    Optional: ``isolated_atom(settings, symbol) -> (Atoms, settings)``, the free
    neutral atom and the settings that compute it (charge 0, the Hund's-rule spin,
    no k-points), for the isolated-atom energies of :mod:`alearn.e0s`; without it,
    the atom of :func:`atom_in_box` (non-periodic) with ``settings`` unchanged.
    """

    KEYS: Keys

    def make_calculator(self, settings: Any, *, keys: Keys = ..., communicator: Any = None
                        ) -> BaseCalculator:
        """An ASE calculator giving ``energy`` (eV), ``forces`` (eV/Å) and, for
        3D-periodic cells where the method has it, ``stress`` (eV/Å³)."""

    def check_atoms(self, atoms: Atoms, where: str, settings: Any, *, keys: Keys = ...) -> None:
        """Raise :class:`alearn.errors.ConfigError` starting with ``where`` if the
        method cannot treat ``atoms``. Cheap: runs before any expensive work."""

    def settings_dict(self, settings: Any) -> dict[str, Any]:
        """JSON-ready settings that decide the method's values (for provenance)."""

    def code_versions(self, settings: Any) -> dict[str, Any]:
        """Versions of the code and data the values depend on (for provenance)."""

    def charge(self, settings: Any) -> float | None:
        """Total charge (e) the method runs with; None when unknown."""


def package_version(distribution: str) -> str | None:
    """Installed version of ``distribution`` (e.g. ``"gpaw-data"``), or None."""
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def settings_json(settings: BaseModel) -> dict[str, Any]:
    """A settings section as a JSON-ready dict (``settings_dict`` of most methods)."""
    return settings.model_dump(mode="json")


def symbols_above(atoms: Atoms, max_z: int) -> list[str]:
    """Sorted chemical symbols of ``atoms`` with atomic number above ``max_z``."""
    return sorted({chemical_symbols[z] for z in atoms.numbers if z > max_z})


def hund_moment(symbol: str) -> float:
    """Spin moment (μ_B, = unpaired electrons) of the free atom's ground state by
    Hund's rules (``ase.data.ground_state_magnetic_moments``), e.g. 1 for H, 2 for O."""
    return float(ground_state_magnetic_moments[atomic_numbers[symbol]])


def atom_in_box(symbol: str, *, periodic: bool) -> Atoms:
    """One neutral atom ``symbol`` centred in an :data:`ATOM_BOX_A` box.

    Its initial magnetic moment is :func:`hund_moment`; ``periodic`` sets ``pbc``
    (True for plane waves, False where the method allows an isolated system).
    """
    atoms = Atoms(symbol, cell=ATOM_BOX_A, pbc=periodic)
    atoms.center()
    atoms.set_initial_magnetic_moments([hund_moment(symbol)])
    return atoms
