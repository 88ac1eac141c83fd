"""What a screen found: one summary per candidate, the ranked table, and the flagged
candidates as start structures of an alearn campaign. Only reads the database.

Ranking: by σ at the target temperature (Arrhenius, with two or more MD
temperatures) or else σ at the hottest temperature, highest first, among the
candidates that passed every stage; the others follow, unranked, with the
stage that stopped them. ``flagged`` marks a candidate whose committee left
its trust window (``zone`` candidate or rejected) in any stage: its numbers
are extrapolations, and it belongs in the next campaign.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from ase import Atoms

from alearn.config import UncertaintyConfig
from alearn.state import atomic_path, write_text_atomic
from alearn.uncertainty import Zone, metric_name

from ..results import format_table
from .hull import HullPhase, e_above_hull
from .store import ScreenStore

__all__ = ["CandidateSummary", "export_flagged", "ranked_table", "summarize"]


@dataclass(frozen=True)
class CandidateSummary:
    """One candidate's results (NaN where a stage did not run). Energies in eV/atom,
    σ in S/m, E_a in eV; ``uncertainty`` is the trust metric's largest value over its
    stages (the window's units)."""

    name: str
    formula: str
    origin: str
    outcome: str
    stage: str
    reason: str | None
    zone: str
    flagged_stages: tuple[str, ...]
    uncertainty: float
    e_above_hull_eV_atom: float = math.nan
    e_hull_err_eV_atom: float = math.nan
    e_above_hull_all_eV_atom: float = math.nan
    sigma_hot_S_m: float = math.nan
    sigma_hot_err_S_m: float = math.nan
    temperature_hot_K: float = math.nan
    sigma_target_S_m: float = math.nan
    activation_energy_eV: float = math.nan
    rank: int | None = None
    stage_uncertainty: dict[str, float] = field(default_factory=dict)

    @property
    def flagged(self) -> bool:
        return bool(self.flagged_stages)

    @property
    def sigma_key(self) -> float:
        """The ranking value: σ at the target temperature, else at the hottest."""
        return self.sigma_target_S_m if math.isfinite(self.sigma_target_S_m) \
            else self.sigma_hot_S_m

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["flagged"] = self.flagged
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in out.items()}


def _num(row: Any, key: str) -> float:
    value = None if row is None else row.get(key)
    return float(value) if value is not None else math.nan


def _one(name: str, rows: dict[str, Any], queue: tuple[str, str, str | None], metric: str,
         raw_metric: str) -> CandidateSummary:
    state, stage, outcome = queue
    staged = {s: r for s, r in rows.items() if s != "input"}
    last = rows.get(stage) if state == "done" else None
    flagged = tuple(s for s, r in staged.items() if r.get("zone") in ("candidate", "rejected"))
    zones = [Zone[r.get("zone").upper()] for r in staged.values()
             if r.get("zone") not in (None, "n/a")]
    unc = {s: r.get(f"unc_{metric}", r.get(f"unc_{raw_metric}")) for s, r in staged.items()}
    unc = {s: float(v) for s, v in unc.items() if v is not None}
    stab, trans = rows.get("stability"), rows.get("transport")
    hot = next((r for s, r in sorted(staged.items()) if s.startswith("md_")
                and r.get("temperature_K") == _num(trans, "temperature_hot_K")), None)
    return CandidateSummary(
        name=name, formula=rows["input"].formula, origin=rows["input"].get("origin", ""),
        outcome=outcome if state == "done" else state, stage=stage,
        reason=None if last is None else last.get("reason"),
        zone=max(zones).name.lower() if zones else "n/a", flagged_stages=flagged,
        uncertainty=max(unc.values(), default=math.nan),
        e_above_hull_eV_atom=_num(stab, "e_above_hull_eV_atom"),
        e_hull_err_eV_atom=_num(stab, "e_hull_err_eV_atom"),
        sigma_hot_S_m=_num(trans, "sigma_hot_S_m"),
        sigma_hot_err_S_m=_num(hot, "sigma_err_S_m"),
        temperature_hot_K=_num(trans, "temperature_hot_K"),
        sigma_target_S_m=_num(trans, "sigma_target_S_m"),
        activation_energy_eV=_num(trans, "activation_energy_eV"), stage_uncertainty=unc)


def _hull_of_all(store: ScreenStore, summaries: list[CandidateSummary]) -> list[CandidateSummary]:
    """Add each relaxed candidate's energy above the hull of the references and of all
    relaxed candidates together (those whose relaxation passed)."""
    phases = {}
    for row in store.rows(stage="relax"):
        if row.get("status") == "passed":
            phases[row.get("item")] = HullPhase.from_atoms(row.get("item"), row.toatoms(),
                                                           row.get("energy_eV"))
    out = []
    for s in summaries:
        value = e_above_hull(phases[s.name], list(phases.values()))[0] \
            if s.name in phases else math.nan
        out.append(CandidateSummary(**{**asdict(s), "e_above_hull_all_eV_atom": value}))
    return out


def summarize(store: ScreenStore, ucfg: UncertaintyConfig) -> list[CandidateSummary]:
    """Every candidate's summary, ranked (see the module docstring)."""
    by_item: dict[str, dict[str, Any]] = {}
    for row in store.rows(kind="candidate"):
        by_item.setdefault(row.get("item"), {})[row.get("stage")] = row
    queue = store.queue_states("candidate")
    metric = metric_name(ucfg)
    summaries = [_one(name, rows, queue[name], metric, ucfg.metric)
                 for name, rows in by_item.items() if name in queue and "input" in rows]
    summaries = _hull_of_all(store, summaries)
    ranked = sorted((s for s in summaries if s.outcome == "passed"
                     and math.isfinite(s.sigma_key)), key=lambda s: -s.sigma_key)
    order = {s.name: k + 1 for k, s in enumerate(ranked)}
    rest = sorted((s for s in summaries if s.name not in order), key=lambda s: s.name)
    return [CandidateSummary(**{**asdict(s), "rank": order.get(s.name)})
            for s in ranked] + rest


def _f(value: float, fmt: str, scale: float = 1.0) -> str:
    return format(value * scale, fmt) if math.isfinite(value) else "n/a"


def ranked_table(summaries: Sequence[CandidateSummary]) -> str:
    """The ranked table: one line per candidate (σ in mS/cm ± its block standard error,
    energies in meV/atom ± the committee's energy error per atom)."""
    rows = []
    for s in summaries:
        sigma = _f(s.sigma_key, ".3g", 10.0)
        if math.isfinite(s.sigma_hot_err_S_m) and not math.isfinite(s.sigma_target_S_m):
            sigma += f" ± {_f(s.sigma_hot_err_S_m, '.2g', 10.0)}"
        e_hull = _f(s.e_above_hull_eV_atom, ".0f", 1000.0)
        if math.isfinite(s.e_above_hull_eV_atom) and math.isfinite(s.e_hull_err_eV_atom):
            e_hull += f" ± {_f(s.e_hull_err_eV_atom, '.0f', 1000.0)}"
        rows.append([str(s.rank or "-"), s.name, s.formula, e_hull,
                     _f(s.e_above_hull_all_eV_atom, ".0f", 1000.0),
                     _f(s.temperature_hot_K, ".0f"), sigma,
                     _f(s.activation_energy_eV, ".2f"), _f(s.uncertainty, ".3f"),
                     ("FLAG " if s.flagged else "") + s.zone,
                     s.outcome if s.outcome != "passed" else "passed",
                     (s.reason or "")[:60]])
    header = ["rank", "candidate", "formula", "E_hull meV/at", "E_hull(all)", "T K",
              "σ mS/cm", "E_a eV", "max unc", "trust", "outcome", "why stopped"]
    return format_table(rows, header)


# --------------------------------------------------------------------------- export
def _campaign_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _flagged_structure(store: ScreenStore, s: CandidateSummary) -> Atoms:
    """The structure where the committee was least sure: the flagged stage's structure
    (relaxed, or the last MD frame), else the input."""
    rows = store.stage_rows(s.name)
    worst = max(s.flagged_stages, key=lambda st: s.stage_uncertainty.get(st, -1.0))
    row = rows.get(worst)
    atoms = row.toatoms() if row is not None and row.natoms else rows["input"].toatoms()
    atoms.info = {"name": s.name, "flagged_stage": worst, "zone": s.zone,
                  "uncertainty": s.uncertainty}
    return atoms


def export_flagged(store: ScreenStore, summaries: Sequence[CandidateSummary], path: Path, *,
                   temperature_K: float = 800.0) -> tuple[int, Path]:
    """Write the flagged candidates to ``path`` (extxyz, one frame each) and a campaign
    ``systems:`` snippet beside it (``path`` with ``.yaml``); returns (count, snippet)."""
    import ase.io

    flagged = [s for s in summaries if s.flagged]
    frames = [_flagged_structure(store, s) for s in flagged]
    with atomic_path(path) as tmp:
        ase.io.write(tmp, frames, format="extxyz", parallel=False)
    systems = [{"name": _campaign_name(s.name), "structure": path.name, "index": k,
                "walkers": 1, "max_selected": 4,
                "md": {"ensemble": "npt", "temperature_K": float(temperature_K),
                       "timestep_fs": 1.0, "steps": 300, "sample_interval": 10}}
               for k, s in enumerate(flagged)]
    snippet = path.with_suffix(".yaml")
    head = ("# Candidates of a screen whose committee left its trust window: add these to "
            "the\n# systems: of a campaign (alearn run) to label and learn them; structures "
            f"in {path.name}\n")
    write_text_atomic(snippet, head + yaml.safe_dump({"systems": systems}, sort_keys=False))
    return len(frames), snippet
