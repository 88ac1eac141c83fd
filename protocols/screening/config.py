"""The screen's configuration (``screen.yaml``): typed, validated once at the edge.

:func:`load_screen_config` parses the YAML file into a :class:`ScreenConfig`
(pydantic, ``extra="forbid"``); every problem becomes one
:class:`~alearn.errors.ConfigError` naming the file and the key. See
docs/screening.md for every key.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from ase.data import chemical_symbols
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alearn.config import UncertaintyConfig, read_yaml, validate_mapping

__all__ = ["CandidatesConfig", "CommitteeSource", "FileSource", "MDStageConfig",
           "RelaxStageConfig", "ScreenConfig", "StabilityStageConfig", "Substitution",
           "load_screen_config"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_symbols(symbols: list[str], where: str) -> None:
    unknown = [s for s in symbols if s not in chemical_symbols[1:]]
    if unknown:
        raise ValueError(f"{where}: unknown element symbols {unknown}; use symbols such as "
                         "'Li', 'Cl' (case matters)")


class CommitteeSource(_Strict):
    """The committee that screens: a campaign's latest, or model files."""

    campaign: Path | None = Field(None, description="an alearn campaign work directory: its "
                                  "latest trained committee (with its calibration)")
    models: list[Path] | None = Field(None, description="MACE model files (instead of campaign)")
    calibration: Path | None = Field(None, description="with models: a calibration.json")
    device: Literal["cpu", "cuda"] = "cpu"

    @model_validator(mode="after")
    def _one_source(self) -> CommitteeSource:
        if (self.campaign is None) == (self.models is None):
            raise ValueError("give either committee.campaign (a campaign work directory) or "
                             "committee.models (model files)")
        if self.calibration is not None and self.models is None:
            raise ValueError("committee.calibration goes with committee.models (a campaign "
                             "brings its own calibration)")
        return self


class FileSource(_Strict):
    """Structures from a file ASE reads: CIF, extxyz, an ASE database (``.db``), ..."""

    file: Path = Field(description="relative to the YAML file")
    index: str = Field(":", description="frames to read, ASE's syntax (':' all, '0', '2:5')")
    format: str | None = Field(None, description="ASE format (default: from the extension)")
    repeat: tuple[int, int, int] = Field((1, 1, 1), description="supercell of each structure")


class Substitution(_Strict):
    """One substitution rule.

    Full: ``replace: {Li: Na}`` turns every Li into Na. Partial: ``site: Cl,
    by: Br`` with ``count`` or ``fraction`` of the Cl sites, each
    symmetry-distinct ordering a candidate (up to ``max_orderings``, lowest
    Ewald energy first). Aliovalent: ``vacancies: {Li: 1}`` also empties sites
    (charge compensation, checked with ``charges``).
    """

    name: str = Field(pattern=r"^[A-Za-z0-9_]+$", description="label in candidate names")
    replace: dict[str, str] | None = Field(None, description="full substitution, A: B")
    site: str | None = Field(None, description="partial: the species whose sites are replaced")
    by: str | None = Field(None, description="partial: the new species")
    count: int | None = Field(None, ge=1, description="partial: sites replaced per cell")
    fraction: float | None = Field(None, gt=0, le=1, description="partial: fraction of the "
                                   "site's sites replaced (rounded to a whole count)")
    vacancies: dict[str, int] = Field(default_factory=dict, description="sites emptied per "
                                      "cell, by species, e.g. {Li: 1}")
    lattice_scale: float = Field(1.0, gt=0.5, lt=2.0, description="isotropic scale of the "
                                 "cell (a start for the relaxation)")
    apply_to: Literal["parents", "all"] = Field(
        "parents", description="the parents only, or also the candidates of the rules before")
    max_orderings: int = Field(5, ge=1, description="symmetry-distinct orderings kept")
    allow_charge_change: bool = Field(False, description="skip the charge-neutrality check "
                                      "(metals, or a deliberately charged defect)")

    @model_validator(mode="after")
    def _kind(self) -> Substitution:
        partial = self.site is not None or self.by is not None
        if self.replace is not None and partial:
            raise ValueError(f"substitution {self.name}: give replace (full) or site/by "
                             "(partial), not both")
        if self.replace is None and not partial and not self.vacancies:
            raise ValueError(f"substitution {self.name}: give replace, site/by, or vacancies")
        if partial and (self.site is None or self.by is None):
            raise ValueError(f"substitution {self.name}: a partial substitution needs both "
                             "site and by")
        if partial and (self.count is None) == (self.fraction is None):
            raise ValueError(f"substitution {self.name}: give count or fraction (one of them)")
        symbols = [*(self.replace or {}).keys(), *(self.replace or {}).values(),
                   *[s for s in (self.site, self.by) if s], *self.vacancies]
        _check_symbols(symbols, f"substitution {self.name}")
        return self

    @property
    def orders_sites(self) -> bool:
        """True when the rule picks sites (partial or vacancies): orderings follow."""
        return self.site is not None or bool(self.vacancies)


class DedupConfig(_Strict):
    """pymatgen StructureMatcher tolerances for the deduplication of candidates."""

    ltol: float = Field(0.2, gt=0, description="fractional length tolerance")
    stol: float = Field(0.3, gt=0, description="site tolerance (fraction of (V/N)^(1/3))")
    angle_tol: float = Field(5.0, gt=0, description="degrees")
    symprec: float = Field(0.01, gt=0, description="Å, spglib's tolerance for the parents' "
                           "symmetry operations (orderings)")


class CandidatesConfig(_Strict):
    """Where candidates come from: parents and substitution rules, and files."""

    parents: list[FileSource] = Field(default_factory=list)
    substitutions: list[Substitution] = Field(default_factory=list)
    include_parents: bool = Field(True, description="screen the parents themselves too")
    files: list[FileSource] = Field(default_factory=list, description="candidates as they are")
    charges: dict[str, float] = Field(
        default_factory=dict, description="formal charges (e) per element: charge neutrality "
        "of substitutions and the Nernst–Einstein σ of the mobile ions")
    max_enumerated: int = Field(200_000, ge=1, description="site configurations enumerated "
                                "per rule and structure at most")
    dedup: DedupConfig = DedupConfig()

    @model_validator(mode="after")
    def _something(self) -> CandidatesConfig:
        if not self.parents and not self.files:
            raise ValueError("candidates: give parents (with substitutions) or files")
        names = [s.name for s in self.substitutions]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"candidates.substitutions: names must be unique; repeated {dupes}")
        _check_symbols(list(self.charges), "candidates.charges")
        return self


class RelaxStageConfig(_Strict):
    """Committee relaxation of positions (and cell), the first stage."""

    optimizer: Literal["FIRE", "BFGS", "LBFGS"] = "FIRE"
    fmax_eV_A: float = Field(0.05, gt=0)
    max_steps: int = Field(200, ge=1)
    cell: bool = Field(True, description="relax the cell too (ASE's FrechetCellFilter)")
    max_volume_change: float = Field(0.3, gt=0, description="reject when |ΔV/V| exceeds this")
    reject_unconverged: bool = Field(False, description="reject when fmax is not reached "
                                     "within max_steps")
    probe_rattle_A: float = Field(
        0.05, ge=0, description="the relaxed structure's uncertainty is also measured on "
        "copies rattled by this much (Å): in a symmetric structure every member's forces "
        "vanish, so their spread says nothing; 0: no probes")
    probes: int = Field(2, ge=0, description="rattled copies measured")


class StabilityStageConfig(_Strict):
    """Energy above the convex hull (eV/atom): of references, or of the candidates."""

    references: list[FileSource] = Field(
        default_factory=list, description="competing phases, relaxed by the committee first; "
        "none: the hull of the relaxed candidates themselves (in the report)")
    max_e_above_hull_eV_atom: float | None = Field(
        0.1, ge=0, description="reject above this (None: never reject)")


class MDStageConfig(_Strict):
    """Short hot MD for the mobile ions' diffusion (hottest temperature first)."""

    temperatures_K: list[float] = Field(default_factory=lambda: [1000.0], min_length=1)
    mobile_ions: list[str] = Field(default_factory=lambda: ["Li", "Na"],
                                   description="species whose diffusion is measured")
    timestep_fs: float = Field(1.0, gt=0, le=5)
    steps: int = Field(2000, ge=10, description="production steps (analysed)")
    equilibration_steps: int = Field(
        200, ge=0, description="steps before production, left out of the analysis: the "
        "velocities drawn at T share their energy with the positions and the thermostat "
        "brings T back (a multiple of interval_steps)")
    interval_steps: int = Field(10, ge=1, description="steps between two frames")
    thermostat_time_fs: float = Field(50.0, gt=0)
    n_blocks: int = Field(4, ge=2, description="blocks of the MSD error bar")
    fit_window: tuple[float, float] = Field(
        (0.1, 0.5), description="MSD fit window as fractions of a block's longest lag: short "
        "hot runs have too few frames for the automatic window of the transport analysis")
    uncertainty_every: int = Field(1, ge=1, description="committee uncertainty of every n-th "
                                   "written frame")
    min_sigma_S_m: float | None = Field(
        None, ge=0, description="reject after the hottest run when σ is below this")
    target_temperature_K: float = Field(300.0, gt=0, description="Arrhenius extrapolation "
                                        "(with two or more temperatures)")

    @field_validator("temperatures_K")
    @classmethod
    def _hottest_first(cls, value: list[float]) -> list[float]:
        if any(t <= 0 for t in value):
            raise ValueError("temperatures are absolute and must be above 0 K")
        if len(set(value)) != len(value):
            raise ValueError("repeated temperatures")
        return sorted(value, reverse=True)

    @model_validator(mode="after")
    def _whole_frames(self) -> MDStageConfig:
        if self.steps % self.interval_steps or self.equilibration_steps % self.interval_steps:
            raise ValueError(f"md.steps ({self.steps}) and md.equilibration_steps "
                             f"({self.equilibration_steps}) must be multiples of "
                             f"md.interval_steps ({self.interval_steps})")
        if self.steps // self.interval_steps < 5 * self.n_blocks:
            raise ValueError("md.steps / md.interval_steps frames must be at least 5 times "
                             "md.n_blocks; run longer or write frames more often")
        if not 0 <= self.fit_window[0] < self.fit_window[1] <= 1:
            raise ValueError("md.fit_window: need 0 <= start < end <= 1 (fractions)")
        _check_symbols(self.mobile_ions, "md.mobile_ions")
        return self


class StagesConfig(_Strict):
    relax: RelaxStageConfig = RelaxStageConfig()
    stability: StabilityStageConfig = StabilityStageConfig()
    md: MDStageConfig | None = MDStageConfig()


class ClaimConfig(_Strict):
    """How workers take candidates from the shared queue."""

    batch: int = Field(1, ge=1, description="candidates claimed (and evaluated) together")
    heartbeat_s: float = Field(30.0, gt=0, description="seconds between two heartbeats")
    stale_after_s: float = Field(600.0, gt=0, description="a worker on another host with no "
                                 "heartbeat for this long is gone: its candidates are "
                                 "released")
    poll_s: float = Field(2.0, gt=0, description="seconds between two looks at a queue that "
                          "others are still working on")


class ScreenConfig(_Strict):
    """Everything a screen needs; built by :func:`load_screen_config`."""

    seed: int = 0
    committee: CommitteeSource
    candidates: CandidatesConfig
    stages: StagesConfig = StagesConfig()
    uncertainty: UncertaintyConfig = UncertaintyConfig()
    database: str | None = Field(
        None, description="omitted: WORKDIR/screen.db (SQLite); or a PostgreSQL URL, "
        "postgresql://user@host:port/dbname, for a screen shared by jobs on several nodes")
    claim: ClaimConfig = ClaimConfig()
    base_dir: Path = Field(Path("."), description="where relative paths point (YAML's folder)")

    @field_validator("database")
    @classmethod
    def _server_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("give a PostgreSQL URL, postgresql://user@host:port/dbname, or "
                             "leave database out for WORKDIR/screen.db (SQLite)")
        return value

    def resolve(self, path: Path) -> Path:
        """A path from the config, relative to the YAML file's folder."""
        return path if path.is_absolute() else (self.base_dir / path)

    def digest(self) -> str:
        """Hash of what makes two screens the same: candidates, committee, stages, window."""
        data = self.model_dump(mode="json", include={"seed", "committee", "candidates",
                                                     "stages", "uncertainty"})
        data["committee"].pop("device", None)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _format(err: ValidationError, source: str) -> str:
    problems = []
    for e in err.errors():
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see docs/screening.md for the keys)"
        elif e["type"] == "missing":
            msg = "required key is missing"
        elif e["type"] == "value_error" and "error" in e.get("ctx", {}):
            msg = str(e["ctx"]["error"])
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        problems.append(f"key '{key}': {msg}")
    head = f"{source}: invalid screen configuration"
    return f"{head}: {problems[0]}" if len(problems) == 1 else "\n".join(
        [head] + [f"  - {p}" for p in problems])


def screen_config_from_dict(data: dict, *, source: str = "<dict>",
                            base_dir: Path | None = None) -> ScreenConfig:
    """Validate a mapping into a :class:`ScreenConfig` (errors name ``source``)."""
    return validate_mapping(ScreenConfig, data, source=source, base_dir=base_dir,
                            describe=lambda err, _: _format(err, source))


def load_screen_config(path: str | Path) -> ScreenConfig:
    """Read and validate a screen YAML file.

    Raises
    ------
    ConfigError
        If the file is missing, is not valid YAML, or does not match the schema.
    """
    path = Path(path)
    return screen_config_from_dict(read_yaml(path, "screen"), source=str(path),
                                   base_dir=path.resolve().parent)
