"""Where a campaign's wall time goes: training, exploration, labeling, everything else.

Runs a small campaign (xTB test oracle on Li+(H2O)3 by default, or any YAML
given) from scratch and splits its wall time with the stage markers. The
"everything else" share (orchestration, I/O, database, selection, reports)
must stay under 5 %. Prints one JSON line.

    python benchmarks/campaign_profile.py [--config FILE.yaml] [--workdir DIR]
        [--mean-driven]

``--mean-driven`` explores as before issue 18 (every member at every step,
walkers one after another: ``uncertainty.drive: mean``,
``committee.inference.batch_walkers: false``), for exploration's share before
and after on the same code.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import yaml
from result_line import emit

from alearn import Campaign
from alearn.config import config_from_dict
from alearn.state import Stages

HERE = Path(__file__).resolve().parent
DEMO = HERE.parent / "examples" / "demo"


def default_config() -> dict:
    """The demo campaign with the xTB test oracle in place of GPAW (fast)."""
    cfg = yaml.safe_load((DEMO / "campaign.yaml").read_text())
    cfg["oracle"] = {"kind": "xtb", "xtb": {"method": "GFN1-xTB", "charge": 1.0},
                     "isolation": "process"}
    cfg["stop"] = {"accurate_ratio": 0.99, "max_iterations": 3}
    return cfg


def profile(workdir: Path) -> dict:
    """Sum stage times from the markers of a finished campaign."""
    stages = Stages(workdir)
    split = {"training": 0.0, "exploration": 0.0, "labeling": 0.0, "selection": 0.0}
    names = {"train": "training", "explore": "exploration", "label": "labeling",
             "init": "labeling", "select": "selection"}
    for it in stages.iterations():
        for stage, key in names.items():
            info = stages.done(it, stage)
            if info:
                split[key] += info["wall_s"]
    return split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--workdir", type=Path, default=Path("runs/campaign_profile"))
    parser.add_argument("--mean-driven", action="store_true",
                        help="explore with the committee mean, walkers one at a time")
    args = parser.parse_args()
    data = yaml.safe_load(args.config.read_text()) if args.config else default_config()
    if args.mean_driven:
        data.setdefault("uncertainty", {})["drive"] = "mean"
        data.setdefault("committee", {}).setdefault("inference", {})["batch_walkers"] = False
    if args.config:
        cfg = config_from_dict(data, source=str(args.config),
                               base_dir=args.config.resolve().parent)
    else:
        cfg = config_from_dict(data, source="demo+xtb", base_dir=DEMO)
    shutil.rmtree(args.workdir, ignore_errors=True)
    t0 = time.perf_counter()
    result = Campaign(cfg, args.workdir).run()
    total = time.perf_counter() - t0
    split = profile(args.workdir)
    # Selection (descriptors + FPS) and set-up are orchestration: they count as "other".
    other = total - split["training"] - split["exploration"] - split["labeling"]
    emit({
        "benchmark": "campaign_profile", "oracle": cfg.oracle.kind, "status": result.status,
        "explore_drive": cfg.uncertainty.drive,
        "batch_walkers": cfg.committee.inference.batch_walkers,
        "iterations": result.iterations, "labels": result.n_labeled,
        "wall_s": round(total, 1),
        **{f"{k}_s": round(v, 1) for k, v in split.items()},
        "other_s": round(other, 1),
        **{f"{k}_pct": round(100 * v / total, 1) for k, v in split.items() if k != "selection"},
        "other_pct": round(100 * other / total, 2),
        "target_other_pct": 5.0,
    }, __file__)


if __name__ == "__main__":
    main()
