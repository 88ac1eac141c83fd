"""Oracles: reference methods (:mod:`alearn.methods`) that label structures.

The product oracle is GPAW (:mod:`alearn.oracles.gpaw`, with an SCF retry
ladder). ``emt`` and ``xtb`` are *test oracles*: cheap stand-ins for fast tests
and demos; ``calculator`` is any ASE calculator (:mod:`alearn.oracles.plain`).
"""

from __future__ import annotations

from alearn.config import OracleConfig
from alearn.oracles.base import Label, Oracle, label_with_calculator, settings_hash

__all__ = ["Label", "Oracle", "label_with_calculator", "make_oracle", "settings_hash"]


def make_oracle(config: OracleConfig, *, communicator=None) -> Oracle:
    """Build the oracle described by ``config`` (imports the backend lazily).

    ``communicator`` is the MPI communicator of a GPAW oracle (default: GPAW's world).
    """
    if config.kind == "gpaw":
        from alearn.oracles.gpaw import GPAWOracle

        return GPAWOracle(config.gpaw, communicator=communicator)
    from alearn.oracles.plain import CalculatorOracle, EMTOracle, XTBOracle

    plain = {"emt": EMTOracle, "xtb": XTBOracle, "calculator": CalculatorOracle}
    if config.kind not in plain:
        raise ValueError(f"unknown oracle kind {config.kind!r}")
    return plain[config.kind](getattr(config, config.kind))
