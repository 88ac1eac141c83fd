"""The conditions a campaign must serve, and when they count as explored.

Each walker of a system has a *condition*: its ``md.temperature_K`` (and, for
NPT, ``md.pressure_bar``), the conditions the production runs will use. A
``md.ramp`` reaches them over the first iterations, and :mod:`alearn.stalls` may
cool a system whose walkers keep failing. A campaign converges only when, in
one iteration, every walker explored at its own condition and every condition
of every system reached ``stop.accurate_ratio``: trusted frames of a cold walker
cannot hide a hot walker's untrusted ones, and a campaign never converges at
gentler conditions than those declared.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence

from alearn.config import MDConfig

__all__ = ["at_condition", "by_condition", "condition_label", "converged"]


def condition_label(md: MDConfig, walker: int) -> str:
    """E.g. ``"400 K"`` or ``"650 K, 1000 bar"`` (NPT): walker ``walker``'s condition."""
    label = f"{md.target_temperature_K(walker):g} K"
    if md.ensemble == "npt":
        label += f", {md.target_pressure_bar(walker):g} bar"
    return label


def at_condition(md: MDConfig, walker: int, temperature_K: float,
                 pressure_bar: float | None) -> bool:
    """True when a walker ran at its own condition (not ramped towards it, not cooled).

    The older ``md.temperature_ramp_K`` declares no end condition: always True."""
    if md.temperature_ramp_K is not None:
        return True
    ok = math.isclose(temperature_K, md.target_temperature_K(walker), rel_tol=1e-9)
    if md.ensemble == "npt" and pressure_bar is not None:
        ok = ok and math.isclose(pressure_bar, md.target_pressure_bar(walker), rel_tol=1e-9,
                                 abs_tol=1e-9)
    return ok


def by_condition(walkers: Sequence[int], md: MDConfig,
                 ratio_of: Callable[[list[int]], float]) -> dict[str, float]:
    """Condition label → ``ratio_of(walkers at that condition)`` (the trusted fraction of
    their frames)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for w in walkers:
        groups[condition_label(md, w)].append(w)
    return {label: ratio_of(ws) for label, ws in groups.items()}


def converged(summaries: dict[str, dict], threshold: float) -> bool:
    """Every system's worst condition at ``threshold`` or above, explored as declared
    (``summaries``: system → its exploration summary, see
    :func:`alearn.exploration.system_summary`)."""
    return all(s["accurate_ratio"] >= threshold and s.get("at_conditions", True)
               for s in summaries.values())
