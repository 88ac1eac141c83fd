"""The numbers a continuum transport model needs, from the Smoluchowski model and from MD.

:func:`continuum_numbers` puts side by side, for a region between two heights
a (near the electrode) and b (towards the bulk): the mean first-passage times
both ways, the equilibrium transition rate, the resistance ``∫ e^{βF}/D dz``
and the steady-state flux under a concentration difference — each predicted
by :class:`~.smoluchowski.SmoluchowskiModel` and, where it can be counted,
measured directly in the trajectory (:mod:`.passages`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from alearn.errors import ConfigError
from alearn.state import write_json_atomic

from ..results import Estimate, format_table, to_jsonable_finite
from . import passages
from .smoluchowski import SmoluchowskiModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ContinuumNumbers:
    """Model vs MD for the region between ``a_A`` and ``b_A``.

    ``model`` and ``md`` map a quantity name to an :class:`Estimate`:
    ``mfpt_a_to_b_fs``, ``mfpt_b_to_a_fs``, ``transition_rate_per_ns`` (both ways),
    ``resistance_s_m`` (MD only with a bulk range) and, model only,
    ``flux_mol_m2_s`` for ``concentrations_mol_L`` held at a and b. An MD value is
    missing (with a logged warning) when the run saw too few passages for it.
    """

    a_A: float
    b_A: float
    concentrations_mol_L: tuple[float, float]
    model: dict[str, Estimate]
    md: dict[str, Estimate]

    def relative_differences(self) -> dict[str, float]:
        """(model - MD) / MD for every quantity both have."""
        return {k: (self.model[k].value - v.value) / v.value for k, v in self.md.items()
                if k in self.model and v.value != 0}

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable_finite({
            "a_A": self.a_A, "b_A": self.b_A, "concentrations_mol_L": self.concentrations_mol_L,
            "model": {k: v.to_dict() for k, v in self.model.items()},
            "md": {k: v.to_dict() for k, v in self.md.items()},
            "relative_differences": self.relative_differences()})

    def to_json(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_dict` to ``path`` atomically."""
        write_json_atomic(path, self.to_dict())

    def __str__(self) -> str:
        rows = [[k, f"{v}", f"{self.md[k]}" if k in self.md else "",
                 f"{self.relative_differences().get(k, np.nan):+.1%}" if k in self.md else ""]
                for k, v in self.model.items()]
        head = (f"Smoluchowski model vs MD between a = {self.a_A:g} Å and b = {self.b_A:g} Å "
                f"(flux for c = {self.concentrations_mol_L} mol/L at a, b)")
        return head + "\n" + format_table(rows, ["quantity", "model", "MD", "model/MD - 1"])


def continuum_numbers(
    model: SmoluchowskiModel,
    z_A: np.ndarray,
    frame_interval_fs: float,
    a_A: float,
    b_A: float,
    *,
    bulk_range_A: tuple[float, float] | None = None,
    concentrations_mol_L: tuple[float, float] = (1.0, 0.0),
) -> ContinuumNumbers:
    """Model predictions and MD counts for the region [a, b].

    Parameters
    ----------
    model
        F(z) (zero in the bulk for a meaningful resistance and flux) and D⊥(z).
    z_A
        The heights the model was built from, shape (F, M).
    frame_interval_fs
        Time between frames in fs.
    a_A, b_A
        The two heights, a < b.
    bulk_range_A
        Bulk region with F = 0, for the MD-measured resistance.
    concentrations_mol_L
        (c_a, c_b) held at a and b for the flux.
    """
    model_numbers = {
        "mfpt_a_to_b_fs": model.mfpt_fs(a_A, b_A),
        "mfpt_b_to_a_fs": model.mfpt_fs(b_A, a_A),
        "transition_rate_per_ns": model.transition_rate_per_ns(a_A, b_A),
        "resistance_s_m": model.resistance_s_m(a_A, b_A),
        "flux_mol_m2_s": model.steady_state_flux(a_A, b_A, *concentrations_mol_L),
    }
    counts = {
        "mfpt_a_to_b_fs": lambda: passages.mean_first_passage_fs(z_A, frame_interval_fs, a_A,
                                                                 b_A),
        "mfpt_b_to_a_fs": lambda: passages.mean_first_passage_fs(z_A, frame_interval_fs, b_A,
                                                                 a_A),
        "transition_rate_per_ns": lambda: passages.transition_rate(z_A, frame_interval_fs, a_A,
                                                                   b_A),
    }
    if bulk_range_A is not None:
        counts["resistance_s_m"] = lambda: passages.resistance_from_transitions(
            z_A, frame_interval_fs, a_A, b_A, bulk_range_A)
    md = {}
    for name, count in counts.items():
        try:
            md[name] = count()
        except ConfigError as err:  # too few events in a short run: the model still stands
            log.warning("continuum_numbers: no MD value for %s (%s)", name, err)
    return ContinuumNumbers(a_A, b_A, tuple(concentrations_mol_L), model_numbers, md)
