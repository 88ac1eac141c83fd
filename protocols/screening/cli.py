"""The ``alearn screen`` and ``alearn screen-report`` commands (called by :mod:`alearn.cli`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from alearn.errors import AlearnError

from .config import ScreenConfig, load_screen_config, screen_config_from_dict
from .runner import CONFIG_FILE, STATE_FILE, ScreenSummary, open_store, run_screen

__all__ = ["screen", "screen_report", "screen_workdir"]


def screen(config: Path, workdir: Path | None) -> ScreenSummary:
    """Run or resume the screen of ``config`` in ``workdir`` (default runs/<config name>)."""
    cfg = load_screen_config(config)
    return run_screen(cfg, workdir or Path("runs") / config.stem)


def screen_workdir(workdir: Path) -> ScreenConfig:
    """The settings of the screen in ``workdir``, or an AlearnError saying what is wrong."""
    if not workdir.is_dir():
        what = "is a file" if workdir.exists() else "no such directory"
        raise AlearnError(f"{workdir}: {what}; give the --workdir of a screen")
    path = workdir / CONFIG_FILE
    if not (workdir / STATE_FILE).is_file() or not path.is_file():
        raise AlearnError(f"{workdir}: not a screen work directory (no {STATE_FILE} and "
                          f"{CONFIG_FILE}); run 'alearn screen' there first")
    try:
        return screen_config_from_dict(yaml.safe_load(path.read_text()), source=str(path))
    except yaml.YAMLError as err:
        raise AlearnError(f"{path}: damaged ({err}); restore it from the screen's YAML "
                          "file") from None


def screen_report(workdir: Path, *, output: Path | None, as_json: bool,
                  export: Path | None) -> None:
    """Print the ranked table (or JSON), write the figures, export the flagged candidates."""
    from alearn.cli import check_output_file
    from alearn.plots import save

    from .plots import sigma_vs_stability_figure, uncertainty_figure
    from .report import export_flagged, ranked_table, summarize

    cfg = screen_workdir(workdir)
    if export is not None:
        check_output_file(export)
    store = open_store(workdir)
    summaries = summarize(store, cfg.uncertainty)
    counts = store.counts()
    folder = output or workdir / "report"
    save(sigma_vs_stability_figure(summaries), folder / "sigma_vs_stability.png")
    save(uncertainty_figure(summaries, cfg.uncertainty), folder / "uncertainty.png")
    if as_json:
        print(json.dumps({"counts": counts, "candidates": [s.to_json() for s in summaries]},
                         indent=1))
    else:
        print(f"{workdir}: {ScreenSummary(workdir, counts).line()}; "
              f"{sum(s.flagged for s in summaries)} flagged (outside the trust window)")
        print(ranked_table(summaries))
        print(f"figures: {folder / 'sigma_vs_stability.png'}, {folder / 'uncertainty.png'}",
              file=sys.stderr)
    if export is not None:
        hot = cfg.stages.md.temperatures_K[0] if cfg.stages.md else 800.0
        n, snippet = export_flagged(store, summaries, export, temperature_K=hot)
        print(f"wrote {n} flagged candidates to {export} and a campaign snippet to {snippet}",
              file=sys.stderr)
