"""Campaign configuration: typed, validated once at the edge.

A campaign is described by one YAML file. :func:`load_config` parses it into a
:class:`CampaignConfig` (pydantic, ``extra="forbid"``) and turns every problem
into a :class:`ConfigError` that names the file and the key. Library code only
ever sees the typed objects.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from ase.data import chemical_symbols
from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from alearn.errors import ConfigError
from alearn.foundation_config import FineTuningConfig, ReplayConfig  # noqa: F401 - re-exported
from alearn.initial_data_config import (  # noqa: F401 - part of the schema, re-exported
    BootstrapCalculatorConfig,
    BootstrapConfig,
    BootstrapMDConfig,
    InitialDataConfig,
)
from alearn.reference_config import (  # noqa: F401 - part of the schema, re-exported
    BaselineConfig,
    CalculatorSettings,
    D3Settings,
    EMTSettings,
    GPAWSettings,
    OracleConfig,
    XTBSettings,
    _Strict,
)
from alearn.states_config import CouplingConfig, StateConfig, check_states
from alearn.systems_config import (  # noqa: F401 - part of the schema, re-exported
    MDConfig,
    RampConfig,
    SystemConfig,
)


# --------------------------------------------------------------------------- data
class LabelChecksConfig(_Strict):
    """Labels outside these limits are kept but never trained on (alearn.label_checks)."""

    max_force_eV_A: float = Field(
        50.0, gt=0, description="an atom's reference force above this: label excluded")
    max_energy_above_min_eV_atom: float = Field(
        1.0, gt=0, description="energy per atom this far above the system's lowest label: "
        "label excluded")


class ValidationConfig(_Strict):
    fraction: float = Field(0.1, ge=0, lt=1, description="labels held out for validation")


# --------------------------------------------------------------------------- committee
class ModelConfig(_Strict):
    """MACE architecture (mace-torch's names)."""

    num_channels: int = Field(16, gt=0)
    max_L: int = Field(0, ge=0, le=3)
    r_max: float = Field(4.5, gt=0)
    num_interactions: int = Field(2, ge=1)
    correlation: int = Field(3, ge=1)
    num_radial_basis: int = Field(8, gt=0)
    default_dtype: Literal["float32", "float64"] = "float64"


class TrainingConfig(_Strict):
    """mace-torch training settings."""

    max_num_epochs: int = Field(60, gt=0)
    warm_start_epochs: int | None = Field(
        None, gt=0, description="epochs when warm-starting (default: max_num_epochs // 2)"
    )
    batch_size: int = Field(4, gt=0)
    lr: float = Field(0.01, gt=0)
    energy_weight: float = Field(1.0, ge=0)
    forces_weight: float = Field(100.0, ge=0)
    stress_weight: float = Field(1.0, ge=0)
    stress: Literal["auto", "yes", "no"] = Field(
        "auto", description="train on the stress: 'auto' where a system explores NPT (the "
        "barostat needs it), 'yes' for every 3D-periodic campaign, 'no' never")
    patience: int = Field(50, gt=0)
    resume_after_s: float = Field(
        300.0, ge=0, description="a member killed after training this long (s) resumes from "
        "its last checkpoint; a shorter attempt is redone from scratch (bit-reproducible)")
    e0s: Literal["isolated", "average", "estimated", "foundation"] | dict[str, float] = Field(
        "isolated", description="per-element reference energies: 'isolated' (free-atom "
        "energies from the oracle, minus the baseline's for Δ-ML; computed once, stored in "
        "<workdir>/e0s.json, see alearn.e0s), 'average' (mace-torch's least-squares fit, "
        "refitted at every training), or per-element eV, e.g. {H: -13.6, O: -2041.8}; a "
        "mapping must cover every element of the systems. With committee.foundation_model "
        "also 'estimated' (the default there: the foundation's E0s corrected by mace-torch's "
        "least-squares fit of oracle − foundation energies on the first training frames) or "
        "'foundation' (the foundation's own E0s); see docs/foundation.md")

    @field_validator("e0s")
    @classmethod
    def _element_symbols(cls, value: str | dict[str, float]) -> str | dict[str, float]:
        if isinstance(value, dict):
            unknown = sorted(k for k in value if k not in chemical_symbols[1:])
            if unknown:
                raise ValueError(f"unknown element symbols {unknown}; use symbols such as "
                                 "'H', 'O', 'Cu' (case matters)")
        return value


class InferenceConfig(_Strict):
    """How the committee is evaluated in exploration MD (training is not affected)."""

    dtype: Literal["model", "float32", "float64"] = Field(
        "model", description="precision of the members in MD: as trained, or converted")
    compile_mode: Literal["default", "reduce-overhead", "max-autotune"] | None = Field(
        None, description="torch.compile the members (mace-torch's compile preparation; once "
        "per committee and rank, a minute or more per member on a CPU; eager if it fails)")
    batch_walkers: bool = Field(
        False, description="step a rank's walkers together, one forward pass for all (the "
        "same frames to rounding; off: bitwise the same whatever the rank count or a resume)")


class CommitteeConfig(_Strict):
    size: int = Field(4, ge=2)
    subsampling: Literal["bootstrap", "kfold", "none"] = "bootstrap"
    warm_start: bool = True
    device: Literal["cpu", "cuda"] = "cpu"
    threads_per_member: int = Field(
        1, ge=1, description="torch threads of one member's training; members train "
        "concurrently to fill the cores. Fixed, so results do not depend on the rank count")
    model: ModelConfig = ModelConfig()
    training: TrainingConfig = TrainingConfig()
    foundation_model: Path | None = Field(
        None, description="a mace-torch model file to fine-tune every member from (relative "
        "to the YAML file; never downloaded): the members take its architecture, r_max and "
        "weights; of committee.model only default_dtype applies (docs/foundation.md)")
    finetuning: FineTuningConfig = FineTuningConfig()

    @model_validator(mode="before")
    @classmethod
    def _estimated_e0s_by_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("foundation_model") is not None:
            training = data.get("training")
            if training is None or (isinstance(training, dict) and "e0s" not in training):
                data = {**data, "training": {**(training or {}), "e0s": "estimated"}}
        return data

    @model_validator(mode="after")
    def _foundation_settings(self) -> CommitteeConfig:
        e0s = self.training.e0s
        if self.foundation_model is None:
            if self.finetuning != FineTuningConfig():
                raise ValueError("committee.finetuning is set but there is no "
                                 "committee.foundation_model to fine-tune from")
            if e0s in ("estimated", "foundation"):
                raise ValueError(f"committee.training.e0s '{e0s}' takes the E0s of "
                                 "committee.foundation_model, which is not set; use 'isolated'")
        elif e0s == "average":
            raise ValueError(
                "committee.training.e0s 'average' with a foundation model: mace-torch refits "
                "it for every member and replaces it with the foundation's E0s when the "
                "systems hold all of the foundation's elements; use 'estimated' (the "
                "default), 'foundation', 'isolated' or a mapping")
        return self
    inference: InferenceConfig = InferenceConfig()


# --------------------------------------------------------------------------- AL logic
Metric = Literal["max_force_std", "mean_force_std", "energy_std_per_atom", "max_rel_force_std"]


class UncertaintyConfig(_Strict):
    """Trust window on one metric: below ``lo`` trusted, at or above ``hi`` unphysical.

    With ``units: calibrated``, ``lo`` and ``hi`` are expected errors (the
    calibrated counterpart of ``metric``, see :mod:`alearn.calibration`).
    """

    metric: Metric = "max_force_std"
    lo: float = Field(0.05, ge=0)
    hi: float = Field(0.5, gt=0)
    relative_eps_eV_A: float = Field(1.0, gt=0, description="ε in std/(|F|+ε)")
    min_distance_factor: float = Field(
        0.65, gt=0, lt=1, description="two atoms closer than this fraction of the sum of their "
        "covalent radii: structure broken (O-H 0.63 Å, Cu-Cu 1.72 Å at 0.65)")
    max_isolation_A: float = Field(
        4.0, gt=0, description="an atom with no neighbour this close has flown off"
    )
    units: Literal["raw", "calibrated"] = Field(
        "raw", description="compare lo/hi with the raw spread, or with the expected error "
        "from the committee's calibration (docs/config.md#calibrated-uncertainty)")
    calibration: Literal["scale", "isotonic"] = Field(
        "scale", description="fit of spread to validation error: one scale factor, or a "
        "monotone (isotonic) map when there are isotonic_min_atoms validation atoms")
    isotonic_min_atoms: int = Field(
        200, ge=10, description="fewer validation atoms: the scale factor is fitted instead")
    drive: Literal["member", "mean"] = Field(
        "member", description="forces that move exploration walkers: one member's (the full "
        "committee only on sampled frames and checks: a step costs about one model) or the "
        "committee mean (every member at every step)")
    check_interval: int | None = Field(
        None, gt=0, description="with drive: member, also evaluate the full committee every "
        "this many steps between sampled frames and stop a walker there once it reaches hi "
        "(none: on sampled frames only)")
    adaptive_lo: bool = Field(
        False, description="lower lo for selection to adaptive_lo_factor × the validation "
        "per-atom force RMSE (not below lo_min); needs units: calibrated and a force metric")
    adaptive_lo_factor: float = Field(2.0, gt=0, description="see adaptive_lo")
    lo_min: float = Field(0.0, ge=0, description="the lowest lo adaptive_lo sets")

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "min_distance_A" in data:
            raise ValueError("uncertainty.min_distance_A was replaced by "
                             "uncertainty.min_distance_factor (a fraction of the sum of the two "
                             "atoms' covalent radii, default 0.65): one floor cannot fit H-O and "
                             "Cu-Cu alike")
        return data

    @model_validator(mode="after")
    def _window(self) -> UncertaintyConfig:
        if self.hi <= self.lo:
            raise ValueError(f"uncertainty.hi ({self.hi}) must be above uncertainty.lo ({self.lo})")
        if self.lo_min > self.lo:
            raise ValueError(f"uncertainty.lo_min ({self.lo_min}) must not be above "
                             f"uncertainty.lo ({self.lo}): adaptive_lo only lowers lo")
        if self.adaptive_lo and (self.units != "calibrated" or self.metric not in
                                 ("max_force_std", "mean_force_std")):
            raise ValueError("uncertainty.adaptive_lo compares lo with the validation force "
                             "error (eV/Å): it needs uncertainty.units: calibrated and metric "
                             "max_force_std or mean_force_std")
        return self


class SelectionConfig(_Strict):
    method: Literal["fps", "kmeans", "random"] = "fps"
    before_crossing: int = Field(
        2, ge=0, description="per walker that crossed hi or broke the structure, its last "
        "frames before that are candidates too (0: window frames only)")
    duplicate_tol_A: float = Field(
        0.01, gt=0, description="a frame whose positions all lie this close to a structure "
        "already in the dataset (or another candidate) is not selected")


class StopConfig(_Strict):
    accurate_ratio: float = Field(0.99, gt=0, le=1)
    max_iterations: int = Field(5, ge=1)
    max_labels: int | None = Field(None, ge=1, description="label budget (incl. bootstrap)")


class CampaignConfig(_Strict):
    """Everything a campaign needs; built by :func:`load_config`."""

    seed: int = 0
    systems: Annotated[list[SystemConfig], Field(min_length=1)]
    oracle: OracleConfig
    initial_data: InitialDataConfig = InitialDataConfig()
    labels: LabelChecksConfig = LabelChecksConfig()
    validation: ValidationConfig = ValidationConfig()
    committee: CommitteeConfig = CommitteeConfig()
    uncertainty: UncertaintyConfig = UncertaintyConfig()
    selection: SelectionConfig = SelectionConfig()
    stop: StopConfig = StopConfig()
    baseline: BaselineConfig | None = Field(None, description="Δ-ML: learn target − baseline")
    states: list[StateConfig] | None = Field(
        None, description="electronic states of the same atoms (a redox couple): one label "
        "and one committee per state (alearn.electronic_states, docs/redox.md)")
    coupling: CouplingConfig | None = Field(
        None, description="with states: the walkers' positions on the coupling path")
    dataset: str | None = Field(
        None, description="where the labeled data live: omitted, WORKDIR/dataset.db (SQLite); "
        "or a PostgreSQL database, postgresql://user[:password]@host[:port]/dbname (one "
        "database or schema per campaign)")
    base_dir: Path = Field(Path("."), description="where relative paths point (YAML's folder)")

    @model_validator(mode="after")
    def _unique_names(self) -> CampaignConfig:
        names = [s.name for s in self.systems]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"system names must be unique; repeated: {dupes}")
        npt = [s.name for s in self.systems if s.md.ensemble == "npt"]
        if npt and self.committee.training.stress == "no":
            raise ValueError(f"committee.training.stress is 'no' but systems {npt} explore NPT, "
                             "whose barostat follows the committee's stress; use 'auto'")
        return self

    @field_validator("dataset")
    @classmethod
    def _server_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("give a PostgreSQL URL, postgresql://user@host:port/dbname, or "
                             "leave dataset out for WORKDIR/dataset.db (SQLite)")
        return value

    @model_validator(mode="after")
    def _foundation(self) -> CampaignConfig:
        calc = self.initial_data.bootstrap.md.calculator
        if calc is not None and calc.kind == "foundation" and \
                self.committee.foundation_model is None:
            raise ValueError("initial_data.bootstrap.md.calculator kind 'foundation' runs MD with "
                             "committee.foundation_model, which is not set; set it, or choose "
                             "another kind (xtb, emt, gpaw, calculator)")
        if self.committee.foundation_model is not None and self.baseline is not None:
            raise ValueError("committee.foundation_model and baseline: both set; a foundation "
                             "model predicts whole energies, not a correction to a baseline; "
                             "remove one of them")
        return self

    @model_validator(mode="after")
    def _bootstrap_md_calculator(self) -> CampaignConfig:
        boot = self.initial_data.bootstrap
        if boot.method == "md" and boot.md.calculator is None and self.baseline is None:
            raise ValueError(
                "initial_data.bootstrap.method: md runs MD on a cheap calculator, but there is "
                "no initial_data.bootstrap.md.calculator and no baseline: section; add e.g. "
                "initial_data.bootstrap.md.calculator: {kind: xtb} (GFN1-xTB) or {kind: emt}, "
                "or set method: rattle")
        return self

    @model_validator(mode="after")
    def _states(self) -> CampaignConfig:
        check_states(self.states, self.coupling, oracle=self.oracle,
                     has_baseline=self.baseline is not None,
                     has_initial_file=self.initial_data.file is not None)
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> Any:
        # without states the sections are left out: digests of older workdirs stay the same
        data = handler(self)
        if isinstance(data, dict):
            for key in ("states", "coupling"):
                if key in data and data[key] is None:
                    del data[key]
        return data

    def resolve(self, path: Path) -> Path:
        """A path from the config, relative to the YAML file's folder."""
        return path if path.is_absolute() else (self.base_dir / path)

    def digest(self, *sections: str) -> str:
        """Short hash of the given sections (all when none), for change detection."""
        data = self.model_dump(mode="json", exclude={"base_dir"})
        if sections:
            data = {k: data[k] for k in sections}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _key(loc: tuple, data: Any) -> str:
    """``systems.0.md.x`` → ``systems[<name>].md.x`` (the index when there is no name);
    the same for ``states``."""
    parts = [str(p) for p in loc]
    if len(loc) >= 2 and loc[0] in ("systems", "states") and isinstance(loc[1], int):
        systems = data.get(loc[0]) if isinstance(data, dict) else None
        entry = systems[loc[1]] if isinstance(systems, list) and loc[1] < len(systems) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        parts[:2] = [f"{loc[0]}[{name if isinstance(name, str) else loc[1]}]"]
    return ".".join(parts) or "(top level)"


def _format_errors(err: ValidationError, source: str, data: Any = None) -> str:
    """One line for one problem; a header and one line per problem for several."""
    problems = []
    for e in err.errors():
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see docs/config.md for the keys)"
        elif e["type"] == "missing":
            msg = "required key is missing"
        elif e["type"] == "value_error" and "error" in e.get("ctx", {}):
            msg = str(e["ctx"]["error"])
        problems.append(f"key '{_key(e['loc'], data)}': {msg}")
    head = f"{source}: invalid campaign configuration"
    if len(problems) == 1:
        return f"{head}: {problems[0]}"
    return "\n".join([head] + [f"  - {p}" for p in problems])


def config_from_dict(data: dict[str, Any], *, source: str = "<dict>", base_dir: Path | None = None
                     ) -> CampaignConfig:
    """Validate a plain mapping into a :class:`CampaignConfig` (errors name ``source``)."""
    return validate_mapping(CampaignConfig, data, source=source, base_dir=base_dir,
                            describe=lambda err, d: _format_errors(err, source, d))


def validate_mapping(model: type[BaseModel], data: Any, *, source: str, base_dir: Path | None,
                     describe: Callable[[ValidationError, dict], str]) -> Any:
    """``model`` validated from the mapping ``data`` (with ``base_dir`` added when given);
    one ConfigError naming ``source`` (``describe`` words the validation errors)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys, "
                          f"got {type(data).__name__}")
    if base_dir is not None:
        data = {**data, "base_dir": base_dir}
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(describe(err, data)) from None


def load_config(path: str | Path) -> CampaignConfig:
    """Read and validate a campaign YAML file.

    Raises
    ------
    ConfigError
        If the file is missing, is not valid YAML, or does not match the schema.
    """
    path = Path(path)
    return config_from_dict(read_yaml(path, "campaign"), source=str(path),
                            base_dir=path.resolve().parent)


def read_yaml(path: Path, what: str) -> Any:
    """The YAML document in ``path`` (a ``what`` file), or one ConfigError naming it."""
    if not path.is_file():
        raise ConfigError(f"{path}: {what} file not found")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
