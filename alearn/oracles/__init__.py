"""Reference methods ("oracles") that label structures.

The product oracle is GPAW (:mod:`alearn.oracles.gpaw`). ``emt`` and ``xtb``
are *test oracles*: cheap stand-ins for fast tests and demos.
"""

from __future__ import annotations

from alearn.config import OracleConfig
from alearn.oracles.base import Label, Oracle, label_with_calculator, settings_hash

__all__ = ["Label", "Oracle", "label_with_calculator", "make_oracle", "settings_hash"]


def make_oracle(config: OracleConfig, *, communicator=None) -> Oracle:
    """Build the oracle described by ``config`` (imports the backend lazily).

    ``communicator`` is the MPI communicator of a GPAW oracle (default: GPAW's world).
    """
    if config.kind == "emt":
        from alearn.oracles.emt import EMTOracle

        return EMTOracle(config.emt)
    if config.kind == "xtb":
        from alearn.oracles.xtb import XTBOracle

        return XTBOracle(config.xtb)
    if config.kind == "gpaw":
        from alearn.oracles.gpaw import GPAWOracle

        return GPAWOracle(config.gpaw, communicator=communicator)
    if config.kind == "calculator":
        from alearn.oracles.generic import CalculatorOracle

        return CalculatorOracle(config.calculator)
    raise ValueError(f"unknown oracle kind {config.kind!r}")
