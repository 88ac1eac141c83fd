"""The ``initial_data:`` section of a campaign: a labeled file and the bootstrap
(rattled copies, or short MD on a cheap calculator) that seed the first committee.

Part of the campaign schema (:mod:`alearn.config` re-exports every name here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_serializer, model_validator

from alearn.reference_config import BaselineConfig, _Strict
from alearn.systems_config import _positive_temperatures


class BootstrapCalculatorConfig(BaselineConfig):
    """The bootstrap MD's calculator: a cheap method in the ``baseline:`` schema, or
    ``kind: foundation``, the committee's foundation model (``committee.foundation_model``)."""

    kind: Literal["xtb", "gpaw", "calculator", "emt", "foundation"]

    @model_validator(mode="after")
    def _no_d3_on_a_foundation(self) -> BootstrapCalculatorConfig:
        if self.kind == "foundation" and self.d3 is not None:
            raise ValueError("kind 'foundation' runs the foundation model as it is; remove d3")
        return self


class BootstrapMDConfig(_Strict):
    """Short Langevin NVT runs of each start structure on a cheap calculator."""

    calculator: BootstrapCalculatorConfig | None = Field(
        None, description="the cheap method, in the baseline: schema (kind xtb, emt, gpaw or "
        "calculator), or {kind: foundation} (committee.foundation_model); default: the "
        "campaign's baseline")
    oversample: int = Field(
        1, ge=1, description="kind foundation: run this many times the frames needed and keep "
        "the most diverse (farthest-point sampling in the foundation's descriptor space)")
    temperatures_K: tuple[float, ...] = Field(
        (300.0, 500.0), description="one run per temperature (and per cell)")
    strained_cells: int = Field(
        1, ge=0, description="3D-periodic systems: cells strained at random (within "
        "strain_max) run beside the start cell, each at every temperature")
    timestep_fs: float = Field(1.0, gt=0, le=5)
    friction_per_fs: float = Field(0.01, gt=0)
    equilibration_steps: int = Field(50, ge=0, description="steps before a run's first frame")
    sample_interval: int = Field(20, gt=0, description="steps between two frames of a run")
    threads: int = Field(
        1, ge=1, description="OpenMP/BLAS threads of the cheap calculator; with 1 a seed gives "
        "the same frames every time (threaded xTB sums differ in the last bits, and MD "
        "trajectories then diverge)")

    @field_validator("temperatures_K")
    @classmethod
    def _temperatures(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value:
            raise ValueError("empty list; give at least one temperature (K), e.g. [300, 500]")
        _positive_temperatures(list(value))
        return value

    @model_validator(mode="after")
    def _oversample_needs_descriptors(self) -> BootstrapMDConfig:
        if self.oversample > 1 and (self.calculator is None or
                                    self.calculator.kind != "foundation"):
            raise ValueError("oversample picks frames in the foundation model's descriptor "
                             "space: it needs calculator: {kind: foundation}; remove oversample")
        return self


class BootstrapConfig(_Strict):
    """The first frames, labeled by the oracle: rattled copies or short MD on a cheap method."""

    method: Literal["rattle", "md"] = Field(
        "rattle", description="rattle: rattled and strained copies; md: frames of short MD "
        "on a cheap calculator (condensed phases, see "
        "docs/config.md#bootstrap-for-condensed-phases)")
    n_per_system: int = Field(8, ge=1, description="frames per system, the start included")
    rattle_std_A: float = Field(0.05, ge=0, description="method rattle: position noise")
    strain_max: float = Field(0.02, ge=0, lt=0.5, description="max |strain| (periodic cells)")
    md: BootstrapMDConfig = BootstrapMDConfig()

    @model_validator(mode="after")
    def _md_only_with_method_md(self) -> BootstrapConfig:
        if self.method == "rattle" and "md" in self.model_fields_set:
            raise ValueError("initial_data.bootstrap.md is set but initial_data.bootstrap."
                             "method is rattle; set method: md to use it, or remove md")
        return self

    @property
    def runs_md(self) -> bool:
        """Method md with frames beyond the start structure: the cheap calculator runs."""
        return self.method == "md" and self.n_per_system > 1

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> Any:
        # rattle dumps as before method/md existed: workdirs started then still resume
        data = handler(self)
        if self.method == "rattle" and isinstance(data, dict):
            data.pop("method", None)
            data.pop("md", None)
        return data


class InitialDataConfig(_Strict):
    file: Path | None = Field(None, description="labeled extxyz; relative to the YAML file")
    energy_key: str = "REF_energy"
    forces_key: str = "REF_forces"
    stress_key: str = "REF_stress"
    bootstrap: BootstrapConfig = BootstrapConfig()
