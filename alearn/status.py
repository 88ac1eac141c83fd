"""What ``alearn status`` shows: a one-line summary, the per-iteration table, JSON.

Only reads. The running stage comes from the workdir's lock file (which live
run holds it, since when) and the stage markers (the first one missing is
the stage in progress). Figures that cannot be measured show as ``n/a``
(e.g. a force RMSE on validation frames whose reference forces are all zero);
a stage not done yet shows ``-``.
"""

from __future__ import annotations

import math
import textwrap
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from alearn.lock import live_holder
from alearn.progress import format_duration
from alearn.state import Stages

__all__ = ["CampaignSummary", "Column", "render_table", "summarize", "to_jsonable"]

#: stages of an iteration, in the order a campaign runs them
ITERATION_STAGES = ("train", "explore", "select", "label")
STAGE_WORDS = {"init": "initial labels", "train": "training", "explore": "exploring",
               "select": "selecting", "label": "labeling"}
#: a force RMSE below this (meV/Å) was measured on zero forces (older markers): n/a
MEANINGLESS_RMSE_meV_A = 1e-3


@dataclass(frozen=True)
class CampaignSummary:
    """Where a campaign stands.

    Attributes
    ----------
    status
        ``campaign.json``'s status: ``running`` (or stopped while running),
        ``converged``, ``max_iterations``, ``label_budget``.
    running
        A live run holds the workdir now.
    iteration
        The latest iteration with a folder.
    labeled, failed, pending, excluded
        Rows of the dataset by status.
    trusted, trusted_iteration
        Fraction of explored frames below ``lo`` in the latest exploration (the
        lowest over systems), and its iteration; None before any.
    stage, stage_iteration, stage_for_s
        The stage in progress (or interrupted), its iteration and how long it has
        run (s; None when nothing runs).
    holder
        The running run's lock record (host, pid, started, ranks), or None.
    """

    workdir: str
    status: str
    running: bool
    iteration: int
    labeled: int
    failed: int
    pending: int
    excluded: int
    trusted: float | None
    trusted_iteration: int | None
    stage: str | None
    stage_iteration: int | None
    stage_for_s: float | None
    holder: dict | None

    def to_json(self) -> dict[str, Any]:
        return to_jsonable(asdict(self))

    def line(self) -> str:
        """The summary in one line."""
        parts = [f"iteration {self.iteration}",
                 f"{self.labeled} labels ({self.failed} failed, {self.pending} pending"
                 + (f", {self.excluded} excluded)" if self.excluded else ")")]
        if self.trusted is not None:
            parts.append(f"trusted {100 * self.trusted:.0f}% (iteration {self.trusted_iteration})")
        parts.append(self._state())
        return " · ".join(parts)

    def _state(self) -> str:
        where = "" if self.stage is None else \
            f"{STAGE_WORDS[self.stage]}, iteration {self.stage_iteration}"
        if self.running:
            since = "" if self.stage_for_s is None else f" for {format_duration(self.stage_for_s)}"
            who = self.holder or {}
            return f"running: {where}{since} (pid {who.get('pid')} on {who.get('host')})"
        if self.status == "running":
            return f"stopped while {where or 'running'}; resume with 'alearn run'"
        return f"finished: {self.status}"


def next_stage(stages: Stages) -> tuple[str, int]:
    """The first stage (name, iteration) without a done-marker, in the campaign's order."""
    if not stages.done(0, "init"):
        return "init", 0
    last = max([0, *stages.iterations()])
    for it in range(1, last + 1):
        for stage in ITERATION_STAGES:
            if not (stages.iter_dir(it) / f"{stage}.done.json").is_file():
                return stage, it
    return "train", last + 1


def _latest_marker_time(workdir: Path) -> float | None:
    times = [p.stat().st_mtime for p in workdir.glob("iter_[0-9][0-9][0-9]/*.done.json")]
    return max(times) if times else None


def summarize(workdir: Path, state: dict, rows: list[dict]) -> CampaignSummary:
    """The summary of a campaign from its state file's content ``state`` and its
    iteration table ``rows`` (:func:`alearn.report.iteration_table`)."""
    holder = live_holder(workdir)
    stage, stage_it = next_stage(Stages(workdir))
    running = holder is not None
    stage_for_s = None
    if running:
        began = [t for t in (_latest_marker_time(workdir), holder.get("started_unix"))
                 if isinstance(t, (int, float))]
        stage_for_s = time.time() - max(began) if began else None
    elif state.get("status") != "running":
        stage = stage_it = None
    explored = [r for r in rows if r.get("accurate_ratio") is not None]
    total = {k: sum(int(r.get(k) or 0) for r in rows)
             for k in ("labeled", "failed", "pending", "excluded")}
    return CampaignSummary(
        workdir=str(workdir), status=str(state.get("status")), running=running,
        iteration=max([0, *(r["iteration"] for r in rows)]), **total,
        trusted=explored[-1]["accurate_ratio"] if explored else None,
        trusted_iteration=explored[-1]["iteration"] if explored else None,
        stage=stage, stage_iteration=stage_it, stage_for_s=stage_for_s, holder=holder)


# --------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Column:
    """A column of the table: the row key, its header and what it means."""

    key: str
    header: str
    legend: str = ""


def _zones(row: dict) -> Any:
    if row.get("trusted") is None:
        return None
    return f"{row['trusted']}/{row['candidate']}/{row['rejected']}"


COLUMNS = [
    Column("iteration", "iter"),
    Column("dataset", "data", "labeled frames so far"),
    Column("labeled", "lab", "labels, failed, pending (selected, not labeled yet) per iteration"),
    Column("failed", "fail"),
    Column("pending", "pend"),
    Column("zones", "<lo/win/≥hi", "explored frames below lo / in the trust window / at or "
           "above hi"),
    Column("accurate_ratio", "trusted", "share of explored frames below lo (lowest system)"),
    Column("rmse_E_meV_atom", "E meV/at", "committee validation RMSE of energy per atom and of "
           "force components (n/a: not measurable, e.g. all reference forces zero)"),
    Column("rmse_F_meV_A", "F meV/Å"),
    Column("train_s", "train", "wall time of each stage (train: kept = the previous "
           "iteration's committee, no new training data)"),
    Column("explore_s", "explore"),
    Column("label_s", "label"),
]
WIDE_COLUMNS = COLUMNS[:5] + [
    Column("excluded", "excl", "labels excluded as absurd (labels.*)"),
    Column("per_rank", "by rank", "labels computed per MPI rank"),
] + COLUMNS[5:9] + [
    Column("calib_force_scale", "F scale", "calibration factor (expected error / spread)"),
    Column("spearman_force", "rho", "Spearman rank correlation of per-atom spread and error"),
    Column("miscalibration_area_raw", "miscal raw", "miscalibration area of the spread / of "
           "the calibrated error (0 = calibrated, 0.5 worst)"),
    Column("miscalibration_area", "miscal"),
    Column("lo_effective", "lo sel", "lo used for selection (uncertainty.adaptive_lo)"),
    Column("md_next", "next MD", "how the next iteration softens exploration after selecting "
           "nothing (dt = timestep, T = temperature factors)"),
] + COLUMNS[9:] + [Column("init_s", "init")]

_PERCENT = {"accurate_ratio"}
_SECONDS = {"train_s", "explore_s", "label_s", "init_s"}
_CALIBRATION = {"calib_force_scale", "spearman_force", "miscalibration_area_raw",
                "miscalibration_area"}
_MEASURED = {"rmse_E_meV_atom", "rmse_F_meV_A", *_CALIBRATION}


def _short_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    minutes = int(round(seconds)) // 60
    return f"{minutes}m{int(round(seconds)) % 60:02d}s" if minutes < 60 else \
        f"{minutes // 60}h{minutes % 60:02d}m"


def cell(row: dict, key: str) -> str:
    """One cell of the table: ``-`` for a stage not done, ``n/a`` for a figure that
    could not be measured."""
    value = _zones(row) if key == "zones" else row.get(key)
    trained = "train_s" in row
    if key in _MEASURED and trained and (value is None or _nan(value) or (
            key == "rmse_F_meV_A" and value < MEANINGLESS_RMSE_meV_A) or (
            key in _CALIBRATION and row.get("calib_n_atoms") == 0)):
        return "n/a"  # e.g. a calibration fitted on no atom (its scale 1 is a default)
    if value is None or _nan(value) or value == {}:
        return "-"
    if key == "train_s" and row.get("carried_over_from") is not None:
        return "kept"
    if key in _PERCENT:
        return f"{100 * value:.0f}%"
    if key in _SECONDS:
        return _short_duration(float(value))
    if isinstance(value, dict):
        return ",".join(f"{k}:{v}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def _nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def render_table(rows: list[dict], *, wide: bool = False, width: int = 100) -> list[str]:
    """The table's lines (header first) and a legend wrapped to ``width`` columns."""
    columns = WIDE_COLUMNS if wide else COLUMNS
    table = [[c.header for c in columns]] + [[cell(r, c.key) for c in columns] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    lines = ["  ".join(text.rjust(w) for text, w in zip(line, widths)).rstrip()
             for line in table]
    legend = "; ".join(f"{c.header}: {c.legend}" for c in columns if c.legend)
    legend += "; times: s, m(in), h" + ("" if wide else "; more columns: --wide")
    return lines + textwrap.wrap(legend, width=width)


def to_jsonable(obj: Any) -> Any:
    """``obj`` with NaN and infinities as None (strict JSON)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    return obj
