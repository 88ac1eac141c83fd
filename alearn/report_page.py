"""``alearn report``: one self-contained HTML page about a campaign.

The page needs no server and no network: plots are embedded as base64 PNG,
the style is inline, and a few lines of inline script only check that every
plot decoded (``data-rendered`` on each image, a count in ``#render-check``).
It holds the status summary and table, the learning curve, every iteration's
figures and plots, the dataset's composition and provenance, and the failed
and excluded labels with their reasons. Building it only reads the workdir.
"""

from __future__ import annotations

import base64
import html
import statistics
import time
from collections import Counter, defaultdict
from pathlib import Path

from alearn import __version__, plots
from alearn.report import (
    campaign_status,
    iteration_table,
    open_workdir_dataset,
    reading_dataset,
)
from alearn.state import Stages, write_text_atomic
from alearn.status import WIDE_COLUMNS, cell, summarize

__all__ = ["build_report", "write_report"]

#: the plots of an iteration (``iter_NNN/report/``) and their captions
ITERATION_PLOTS = {
    "parity_forces.png": "validation force parity (colour: committee spread)",
    "parity_forces_by_element.png": "validation force parity per element",
    "reliability.png": "calibration: predicted vs observed force error (reliability diagram)",
    "uncertainty_hist.png": "uncertainty of the explored frames, with the trust window",
}

_STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1200px;
 padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.5em;margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;
 margin-top:2em}h3{margin-bottom:.3em}
.summary{background:#f3f6fa;border-left:4px solid #4a7ab5;padding:.6em 1em;font-size:1.05em}
.meta{color:#666;font-size:.9em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:right;vertical-align:top}
th{background:#f0f0f0}td.text,th.text{text-align:left}
.plots{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
figure{margin:0;max-width:560px}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.8em;color:#555}
.legend{font-size:.8em;color:#555;max-width:1100px}
.none{color:#888;font-style:italic}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.8em}
"""

_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = document.querySelectorAll('img.plot'), ok = 0;
  imgs.forEach(function (img) {
    var good = img.complete && img.naturalWidth > 0;
    img.setAttribute('data-rendered', good ? 'yes' : 'no');
    if (good) { ok += 1; } else { img.alt = 'this plot could not be shown: ' + img.alt; }
  });
  document.getElementById('render-check').textContent =
    ok + ' of ' + imgs.length + ' plots rendered';
});
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _img(png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img class="plot" alt="{_e(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _table(header: list[str], rows: list[list[object]], *, text_columns: int = 1) -> str:
    """An HTML table; the first ``text_columns`` columns are left-aligned text."""
    def row(cells: list[object], tag: str) -> str:
        return "<tr>" + "".join(
            f'<{tag}{" class=text" if i < text_columns else ""}>{_e(c)}</{tag}>'
            for i, c in enumerate(cells)) + "</tr>"

    if not rows:
        return '<p class="none">none</p>'
    return "<table>" + row(header, "th") + "".join(row(r, "td") for r in rows) + "</table>"


# --------------------------------------------------------------------------- sections
def _status_section(rows: list[dict]) -> str:
    columns = WIDE_COLUMNS
    legend = "; ".join(f"<b>{_e(c.header)}</b>: {_e(c.legend)}" for c in columns if c.legend)
    return ("<h2>Status</h2>" + _table([c.header for c in columns],
                                        [[cell(r, c.key) for c in columns] for r in rows],
                                        text_columns=0)
            + f'<p class="legend">{legend}; "-": not done yet; "n/a": not measurable.</p>')


def _learning_section(rows: list[dict], target: float | None) -> str:
    fig = plots.learning_curve_figure(rows, target=target)
    body = _img(plots.png_bytes(fig), "learning curve: validation force RMSE and trusted "
                "fraction against the labeled training frames") if fig is not None else \
        '<p class="none">no committee trained yet</p>'
    return f"<h2>Learning curve</h2><div class=plots>{body}</div>"


def _rmse(value: object, column: str) -> str:
    """An RMSE as the status table shows it (``n/a`` when not measurable), with its unit."""
    text = cell({"train_s": 0.0, column: value}, column)
    unit = "meV/atom" if column == "rmse_E_meV_atom" else "meV/Å"
    return text if text in ("n/a", "-") else f"{text} {unit}"


def _iteration_facts(stages: Stages, it: int) -> list[str]:
    facts = []
    train = stages.done(it, "train")
    if train:
        by_element = train.get("rmse_forces_meV_A_by_element") or {}
        elements = ", ".join(f"{k} {_rmse(v, 'rmse_F_meV_A')}" for k, v in by_element.items())
        facts.append(f"trained on {train.get('n_train')} frames, validated on "
                     f"{train.get('n_valid', '?')}; RMSE E "
                     f"{_rmse(train.get('rmse_energy_meV_atom'), 'rmse_E_meV_atom')}, "
                     f"F {_rmse(train.get('rmse_forces_meV_A'), 'rmse_F_meV_A')}"
                     + (f" (per element: {elements})" if len(by_element) > 1 else ""))
    explore = stages.done(it, "explore")
    if explore:
        for name, s in explore.get("systems", {}).items():
            stops = s.get("stopped_walkers") or []
            facts.append(f"explored {name}: {s.get('n_frames')} frames, {s.get('trusted')} "
                         f"below lo, {s.get('candidate')} in the window, {s.get('rejected')} at "
                         f"or above hi" + (f"; stopped walkers: {'; '.join(stops)}"
                                           if stops else ""))
    select = stages.done(it, "select")
    if select:
        facts.append("selected " + ", ".join(f"{k}: {v}" for k, v in
                                              select.get("selected_per_system", {}).items()))
    return facts


def _iterations_section(workdir: Path) -> str:
    stages = Stages(workdir)
    parts = ["<h2>Iterations</h2>"]
    for it in stages.iterations():
        folder = stages.iter_dir(it) / "report"
        figures = [_img(path.read_bytes(), f"iteration {it}: {caption}")
                   for name, caption in ITERATION_PLOTS.items()
                   if (path := folder / name).is_file()]
        facts = _iteration_facts(stages, it)
        if not figures and not facts:
            continue
        parts.append(f"<h3>Iteration {it}</h3>")
        parts += [f"<ul>{''.join(f'<li>{_e(f)}</li>' for f in facts)}</ul>"] if facts else []
        parts.append(f"<div class=plots>{''.join(figures)}</div>")
    return "".join(parts)


def _dataset_section(workdir: Path) -> str:
    where, db = open_workdir_dataset(workdir)
    if db is None:
        return "<h2>Dataset</h2><p class=none>no dataset yet: nothing has been labeled</p>"
    with reading_dataset(where):
        rows = list(db.select())
    status = Counter(r.get("status") for r in rows)
    by_system: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        by_system[str(r.get("system"))][r.get("status")] += 1
    states = ["labeled", "failed", "excluded", "selected"]
    composition = _table(["system", *states, "atoms per frame"],
                         [[name, *(c.get(s, 0) for s in states),
                           _atoms_range([r for r in rows if str(r.get("system")) == name])]
                          for name, c in sorted(by_system.items())])
    labeled = [r for r in rows if r.get("status") == "labeled"]
    elements = Counter(sym for r in labeled for sym in r.symbols)
    formulas = Counter(r.formula for r in labeled)
    split = Counter(r.get("split") for r in labeled)
    source = Counter(r.get("source") for r in labeled)
    per_iteration = Counter((r.get("iteration"), r.get("source")) for r in labeled)
    provenance = _provenance(rows)
    return ("<h2>Dataset</h2>"
            f"<p>{len(rows)} structures: {status.get('labeled', 0)} labeled, "
            f"{status.get('failed', 0)} failed, {status.get('excluded', 0)} excluded, "
            f"{status.get('selected', 0)} pending. Labeled: "
            + _e(", ".join(f"{k} {v}" for k, v in sorted(split.items(), key=str)))
            + "; by source " + _e(", ".join(f"{k} {v}" for k, v in sorted(source.items(),
                                                                            key=str)))
            + ".</p><h3>Composition</h3>" + composition
            + "<p>Atoms in the labeled frames: "
            + _e(", ".join(f"{k} {v}" for k, v in elements.most_common())) + ". Formulas: "
            + _e(", ".join(f"{k} ×{v}" for k, v in formulas.most_common(12)))
            + (" …" if len(formulas) > 12 else "") + ".</p>"
            + "<h3>Labels per iteration</h3>"
            + _table(["iteration", "source", "labels"],
                     [[it, src, n] for (it, src), n in sorted(per_iteration.items(), key=str)],
                     text_columns=2)
            + "<h3>Provenance</h3>" + provenance + _failures(rows))


def _atoms_range(rows: list) -> str:
    sizes = [r.natoms for r in rows]
    return "-" if not sizes else str(min(sizes)) if min(sizes) == max(sizes) else \
        f"{min(sizes)}–{max(sizes)}"


def _provenance(rows: list) -> str:
    by_oracle: dict[tuple, list[float]] = defaultdict(list)
    for r in rows:
        if r.get("status") in ("labeled", "excluded", "failed"):
            by_oracle[(r.get("oracle"), r.get("oracle_hash"))].append(
                float(r.get("label_wall_s") or 0.0))
    table = _table(["oracle", "settings hash", "labels", "wall time median (s)", "max (s)"],
                   [[name, digest, len(t), f"{statistics.median(t):.3g}", f"{max(t):.3g}"]
                    for (name, digest), t in sorted(by_oracle.items(), key=str)],
                   text_columns=2)
    settings = next((r.data.get("oracle_settings") for r in rows
                     if r.get("status") == "labeled" and r.get("oracle") != "user"), None)
    shown = "" if not settings else \
        f"<details><summary>oracle settings</summary><pre>{_e(settings)}</pre></details>"
    return table + shown


def _failures(rows: list) -> str:
    failed = [[r.id, r.get("iteration"), r.get("system"), r.get("reason"),
               len(r.data.get("attempts", [])), f"{float(r.get('label_wall_s') or 0):.3g}"]
              for r in rows if r.get("status") == "failed"]
    excluded = [[r.id, r.get("iteration"), r.get("system"), r.get("reason")]
                for r in rows if r.get("status") == "excluded"]
    retried = sum(len(r.data.get("earlier_failures", [])) for r in rows)
    return ("<h3>Failed labels</h3>"
            + _table(["row", "iteration", "system", "reason", "attempts", "wall s"], failed,
                     text_columns=0)
            + "<h3>Excluded labels (absurd values, never trained on)</h3>"
            + _table(["row", "iteration", "system", "reason"], excluded, text_columns=0)
            + (f"<p>{retried} earlier failures were labeled again (--retry-failed).</p>"
               if retried else ""))


def build_report(workdir: Path) -> str:
    """The report page of the campaign in ``workdir``, as HTML text (only reads).

    Raises
    ------
    AlearnError
        Naming a damaged state file, marker or dataset.
    """
    import yaml

    workdir = Path(workdir)
    state = campaign_status(workdir)
    rows = iteration_table(workdir)
    summary = summarize(workdir, state, rows)
    config_path = workdir / "config.yaml"
    config_text = config_path.read_text() if config_path.is_file() else ""
    try:
        target = (yaml.safe_load(config_text) or {}).get("stop", {}).get("accurate_ratio")
    except (yaml.YAMLError, AttributeError):
        target = None
    config = f"<h2>Configuration</h2><details><summary>config.yaml</summary><pre>" \
             f"{_e(config_text)}</pre></details>" if config_text else ""
    title = f"alearn campaign {workdir.resolve().name}"
    return (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{_e(title)}</title>"
            f"<meta name=viewport content='width=device-width, initial-scale=1'>"
            f"<style>{_STYLE}</style></head><body>"
            f"<h1>{_e(title)}</h1><p class=meta>{_e(workdir.resolve())} · report written "
            f"{_e(time.strftime('%Y-%m-%d %H:%M %Z'))} by alearn {_e(__version__)} · "
            f"<span id=render-check>plots not checked (scripts off)</span></p>"
            f"<p class=summary>{_e(summary.line())}</p>"
            + _status_section(rows) + _learning_section(rows, target)
            + _dataset_section(workdir) + _iterations_section(workdir)
            + config + f"<script>{_SCRIPT}</script></body></html>")


def write_report(workdir: Path, output: Path) -> None:
    """Write :func:`build_report`'s page to ``output`` (atomically)."""
    write_text_atomic(output, build_report(workdir))
