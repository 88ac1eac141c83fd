"""What an iteration that selected nothing for a system changes for the next one.

A system whose walkers produced no frame to label (every frame trusted but
the campaign not converged, walkers that break or cross ``hi`` before their
first sample, only repeats of known structures) would repeat the same work
with the same data. Instead each such iteration moves the system one rung
down a ladder, and the next iteration explores more gently:

1. and 2. halve the timestep (twice at most: down to a quarter),
3. and on: lower the walkers' temperature by 20 % per rung (down to 40 %).

The rung is stored in the iteration's ``select.done.json`` (``md_adjustments``)
and read back by the next iteration's walkers, so a resumed campaign explores
exactly as the uninterrupted one. An iteration that selects frames climbs one
rung back towards the configured MD: a campaign converges only at the declared
conditions (:mod:`alearn.conditions`), so a cooled system must be heated again
once its committee has learned from the gentler MD.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from alearn.config import MDConfig

#: rungs that halve the timestep before the temperature is lowered
TIMESTEP_RUNGS = 2
TEMPERATURE_STEP = 0.8
TEMPERATURE_FLOOR = 0.4


@dataclass(frozen=True)
class MDAdjustment:
    """How far a system's exploration MD has been softened (rung 0: as configured)."""

    rung: int = 0

    @property
    def timestep_factor(self) -> float:
        """Multiplies ``md.timestep_fs``."""
        return 0.5 ** min(self.rung, TIMESTEP_RUNGS)

    @property
    def temperature_factor(self) -> float:
        """Multiplies every walker's temperature (K)."""
        return max(TEMPERATURE_FLOOR, TEMPERATURE_STEP ** max(0, self.rung - TIMESTEP_RUNGS))

    def softened(self) -> MDAdjustment:
        """The next rung down."""
        return MDAdjustment(rung=self.rung + 1)

    def recovered(self) -> MDAdjustment:
        """One rung back up towards the configured MD (itself at rung 0)."""
        return self if self.rung == 0 else MDAdjustment(rung=self.rung - 1)

    def apply(self, md: MDConfig) -> MDConfig:
        """``md`` with the adjusted timestep."""
        if self.rung == 0:
            return md
        return md.model_copy(update={"timestep_fs": md.timestep_fs * self.timestep_factor})

    def describe(self, md: MDConfig) -> str:
        """E.g. ``"timestep 0.25 fs (configured 0.5), temperature × 0.8"``."""
        text = f"timestep {md.timestep_fs * self.timestep_factor:g} fs (configured " \
               f"{md.timestep_fs:g})"
        if self.temperature_factor < 1:
            text += f", temperature × {self.temperature_factor:g}"
        return text

    def as_json(self) -> dict:
        return {**asdict(self), "timestep_factor": self.timestep_factor,
                "temperature_factor": self.temperature_factor}

    @classmethod
    def from_json(cls, data: dict | None) -> MDAdjustment:
        return cls(rung=int((data or {}).get("rung", 0)))


def next_adjustments(current: dict[str, MDAdjustment], selected: dict[str, int]
                     ) -> dict[str, MDAdjustment]:
    """System → adjustment for the next iteration: one rung softer where ``selected``
    (system → frames selected this iteration) is 0, one rung back up elsewhere."""
    return {system: (current.get(system, MDAdjustment()).softened() if n == 0
                     else current.get(system, MDAdjustment()).recovered())
            for system, n in selected.items()}


def adjustments_in(marker: dict | None) -> dict[str, MDAdjustment]:
    """System → adjustment recorded in a ``select.done.json`` marker (none: {})."""
    return {name: MDAdjustment.from_json(data)
            for name, data in (marker or {}).get("md_adjustments", {}).items()}
