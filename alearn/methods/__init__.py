"""Reference methods, one module each: GPAW, xTB, EMT and any ASE calculator.

A method serves both as an *oracle* (it labels structures, :mod:`alearn.oracles`
adds the labeling policy) and as a Δ-ML *baseline* (:mod:`alearn.baselines`
adds D3 and the ``DELTA_*`` bookkeeping). Each module (``gpaw``, ``xtb``,
``emt``, ``calculator``, named as the config's ``kind``) provides, for its
section of the config (see :class:`~alearn.methods.base.Method`):

``make_calculator``  its ASE calculator;
``check_atoms``      its input checks, naming config keys through
                     :class:`~alearn.methods.base.Keys`;
``settings_dict``,   what decides its values, for provenance;
``code_versions``
``charge``           the total charge it runs with;
``isolated_atom``    (optional) the free neutral atom and the settings to compute
                     it with (:func:`isolated_atom`).

``gpaw`` is the product method; ``xtb`` and ``emt`` are cheap stand-ins for
tests and demos (xTB is also a useful baseline).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from alearn.methods.base import Keys, Method, atom_in_box

if TYPE_CHECKING:
    from ase import Atoms

    from alearn.config import BaselineConfig, OracleConfig

__all__ = ["KINDS", "Keys", "Method", "isolated_atom", "method", "provenance", "section",
           "total_charge"]

KINDS = ("gpaw", "xtb", "emt", "calculator")


def method(kind: str) -> Method:
    """The module of method ``kind`` (imported on first use).

    Raises
    ------
    ValueError
        When ``kind`` is not one of :data:`KINDS`.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown method kind {kind!r}; use one of {', '.join(KINDS)}")
    return importlib.import_module(f"alearn.methods.{kind}")  # type: ignore[return-value]


def section(cfg: OracleConfig | BaselineConfig) -> Any:
    """The settings of the chosen method, e.g. ``cfg.xtb`` when ``cfg.kind == "xtb"``."""
    return getattr(cfg, cfg.kind)


def provenance(kind: str, settings: Any) -> dict[str, Any]:
    """``kind``, code versions and settings in one flat JSON-ready dict.

    What an oracle records with every label (and hashes, see
    :func:`alearn.oracles.settings_hash`).
    """
    module = method(kind)
    return {"kind": kind, **module.code_versions(settings), **module.settings_dict(settings)}


def total_charge(cfg: OracleConfig | BaselineConfig) -> float | None:
    """Total charge (e) the configured method runs with; None when unknown
    (``calculator``)."""
    return method(cfg.kind).charge(section(cfg))


def isolated_atom(kind: str, settings: Any, symbol: str) -> tuple[Atoms, Any]:
    """The free neutral atom ``symbol`` and method ``kind``'s settings for it.

    The method module's ``isolated_atom`` where it has one (GPAW: spin-polarized with
    a fixed moment, Γ only; xTB: charge 0 and the unpaired electrons); otherwise the
    non-periodic atom of :func:`alearn.methods.base.atom_in_box` (initial magnetic
    moment by Hund's rules) and ``settings`` as they are.
    """
    hook = getattr(method(kind), "isolated_atom", None)
    if hook is not None:
        return hook(settings, symbol)
    return atom_in_box(symbol, periodic=False), settings
