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
``charge``           the total charge it runs with.

``gpaw`` is the product method; ``xtb`` and ``emt`` are cheap stand-ins for
tests and demos (xTB is also a useful baseline).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from alearn.methods.base import Keys, Method

if TYPE_CHECKING:
    from alearn.config import BaselineConfig, OracleConfig

__all__ = ["KINDS", "Keys", "Method", "method", "provenance", "section", "total_charge"]

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
