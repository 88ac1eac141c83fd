"""The ``systems:`` section of a campaign: start structures and their exploration MD.

Part of the campaign schema (:mod:`alearn.config` re-exports every name here).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, field_validator, model_validator

from alearn.reference_config import _Strict


def _per_walker(value, walker: int):
    """``value[walker]`` for a per-walker list, else the one value for all walkers."""
    return value[walker] if isinstance(value, list) else value


def _positive_temperatures(values: list[float]) -> None:
    bad = [t for t in values if not (math.isfinite(t) and t > 0)]
    if bad:
        raise ValueError(f"temperatures are absolute and must be above 0 K; got {bad}")


class RampConfig(_Strict):
    """A schedule over iterations: walkers start at gentler conditions and reach their
    own (the production conditions) after ``iterations`` iterations."""

    iterations: int = Field(ge=1, description="iterations to reach the walkers' "
                            "temperature_K (and pressure_bar): iteration iterations+1 "
                            "explores at them")
    from_temperature_K: float = Field(gt=0, description="temperature of iteration 1")
    from_pressure_bar: float | None = Field(
        None, description="pressure of iteration 1 (NPT); default: no pressure ramp")


StartFrom = Literal["structure", "previous"]


class MDConfig(_Strict):
    """Exploration MD of one system's walkers.

    ``temperature_K`` and ``pressure_bar`` are the conditions the model must serve
    (one value for all walkers, or one per walker); ``ramp`` reaches them over the
    first iterations, and the campaign converges only once every condition has
    been explored as declared (:mod:`alearn.conditions`).
    """

    ensemble: Literal["nvt", "npt"] = "nvt"
    temperature_K: float | list[float] = Field(
        300.0, description="one value for all walkers, or a list with one per walker")
    temperature_ramp_K: tuple[float, float] | None = Field(
        None, description="(first, last): temperature scaled linearly over all "
        "max_iterations (older form of ramp; the stop criterion does not wait for it)")
    ramp: RampConfig | None = Field(
        None, description="reach temperature_K/pressure_bar over the first iterations")
    timestep_fs: float = Field(0.5, gt=0, le=10)
    steps: int = Field(200, gt=0)
    start_from: StartFrom | list[StartFrom] = Field(
        "structure", description="each iteration's walker starts from the system's structure, "
        "or from the last trusted or candidate frame of its predecessor in the previous "
        "iteration (explores further every iteration; the structure when there is none); "
        "one value for all walkers, or a list with one per walker (e.g. [previous, "
        "previous, structure]: one walker goes back to the start every iteration)")
    sample_interval: int = Field(10, gt=0)
    friction_per_fs: float = Field(0.01, gt=0)
    pressure_bar: float | list[float] = Field(
        1.0, description="NPT: one value for all walkers, or a list with one per walker")
    barostat_tau_fs: float = Field(1000.0, gt=0)
    uncertainty_bias: float = Field(
        0.0, ge=0, description="hyperactive learning: walkers move on Ē − τ·σ_E (σ_E the "
        "committee's energy spread), τ = this value; pushes them to where the members "
        "disagree (rare events). Frames record the unbiased committee; labels are the "
        "oracle's. 0: off (see docs/config.md#uncertainty-biased-exploration)")

    @field_validator("temperature_K")
    @classmethod
    def _temperatures(cls, value: float | list[float]) -> float | list[float]:
        values = value if isinstance(value, list) else [value]
        if not values:
            raise ValueError("empty list; give one temperature (K) for all walkers or one "
                             "per walker")
        _positive_temperatures(values)
        return value

    @field_validator("start_from", mode="before")
    @classmethod
    def _known_starts(cls, value: object) -> object:
        values = value if isinstance(value, list) else [value]
        bad = [v for v in values if v not in get_args(StartFrom)]
        if bad:
            raise ValueError(f"unknown start {bad}; use 'structure' or 'previous', or a list "
                             "with one of them per walker")
        return value

    @field_validator("temperature_ramp_K")
    @classmethod
    def _ramp(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None:
            _positive_temperatures(list(value))
        return value

    @model_validator(mode="after")
    def _one_schedule(self) -> MDConfig:
        if self.ramp is not None and self.temperature_ramp_K is not None:
            raise ValueError("md.ramp and md.temperature_ramp_K both set; keep md.ramp (it "
                             "ends at temperature_K, and the campaign converges only there)")
        return self

    def target_temperature_K(self, walker: int) -> float:
        """The temperature (K) walker ``walker`` (0-based) must reach: its condition."""
        return _per_walker(self.temperature_K, walker)

    def target_pressure_bar(self, walker: int) -> float:
        """The pressure (bar, NPT) walker ``walker`` must reach."""
        return _per_walker(self.pressure_bar, walker)

    def walker_start_from(self, walker: int) -> StartFrom:
        """Where walker ``walker`` (0-based) starts each iteration: ``structure`` or
        ``previous``."""
        return _per_walker(self.start_from, walker)

    def ramp_fraction(self, iteration: int) -> float:
        """How far (0–1) ``ramp`` has come in ``iteration`` (1-based); 1 without one."""
        if self.ramp is None:
            return 1.0
        return min(1.0, (iteration - 1) / self.ramp.iterations)

    def walker_temperature_K(self, walker: int, iteration: int, n_iterations: int) -> float:
        """Temperature (K) of ``walker`` (0-based) in ``iteration`` (1-based) of
        ``n_iterations``. A list holds one temperature per walker (checked by
        :class:`SystemConfig`)."""
        if self.temperature_ramp_K is not None:
            first, last = self.temperature_ramp_K
            frac = 0.0 if n_iterations <= 1 else (iteration - 1) / (n_iterations - 1)
            return first + frac * (last - first)
        target = self.target_temperature_K(walker)
        if self.ramp is None:
            return target
        return self.ramp.from_temperature_K + self.ramp_fraction(iteration) * (
            target - self.ramp.from_temperature_K)

    def walker_pressure_bar(self, walker: int, iteration: int) -> float:
        """Pressure (bar) of ``walker`` in ``iteration`` (NPT), ramped like the
        temperature when ``ramp.from_pressure_bar`` is set."""
        target = self.target_pressure_bar(walker)
        if self.ramp is None or self.ramp.from_pressure_bar is None:
            return target
        start = self.ramp.from_pressure_bar
        return start + self.ramp_fraction(iteration) * (target - start)


class SystemConfig(_Strict):
    """One start structure and how to explore it."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    structure: Path = Field(description="ASE-readable file; relative to the YAML file")
    index: int = Field(0, description="frame of the file to use")
    pbc: bool | tuple[bool, bool, bool] | None = Field(None, description="override the file's")
    walkers: int = Field(1, ge=1)
    md: MDConfig = MDConfig()
    max_selected: int = Field(8, ge=1, description="labels per iteration for this system")

    @model_validator(mode="after")
    def _one_condition_per_walker(self) -> SystemConfig:
        where = f"systems[{self.name}]"
        for key, what in (("temperature_K", "temperature"), ("pressure_bar", "pressure"),
                          ("start_from", "start")):
            whats = what + "s"
            values = getattr(self.md, key)
            if isinstance(values, list) and len(values) != self.walkers:
                raise ValueError(
                    f"{where}.md.{key} lists {len(values)} {whats} but {where}.walkers is "
                    f"{self.walkers}; give one {what} per walker (a list of {self.walkers}), "
                    f"one value for all walkers, or set walkers: {len(values)}")
        return self
