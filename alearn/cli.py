"""The ``alearn`` command: run, status, export."""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

from alearn.errors import AlearnError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="alearn", description="Active learning of MACE force fields "
                                "against DFT. Docs: README.md, docs/config.md")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a campaign, or resume it if WORKDIR holds one")
    run.add_argument("config", type=Path, help="campaign YAML file")
    run.add_argument("--workdir", type=Path, default=None,
                     help="work directory (default: runs/<config name>)")
    run.add_argument("-v", "--verbose", action="store_true")
    status = sub.add_parser("status", help="print where a campaign stands")
    status.add_argument("workdir", type=Path)
    export = sub.add_parser("export", help="write the labeled data as extxyz (REF_* keys)")
    export.add_argument("workdir", type=Path)
    export.add_argument("-o", "--output", type=Path, required=True)
    export.add_argument("--split", choices=["train", "valid"], default=None)
    return p


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    if isinstance(value, dict):
        return ",".join(f"{k}:{v}" for k, v in value.items()) or "-"
    return str(value)


COLUMNS = [("iteration", "iter"), ("dataset", "data"), ("labeled", "lab"), ("failed", "fail"),
           ("pending", "pend"), ("per_rank", "by rank"), ("trusted", "<lo"),
           ("candidate", "window"), ("rejected", ">=hi"), ("accurate_ratio", "acc.ratio"),
           ("rmse_E_meV_atom", "E meV/at"), ("rmse_F_meV_A", "F meV/Å"), ("train_s", "train s"),
           ("explore_s", "explore s"), ("label_s", "label s"), ("init_s", "init s")]


def print_status(workdir: Path) -> None:
    from alearn.report import campaign_status, iteration_table

    if not (workdir / "campaign.json").is_file():
        raise AlearnError(f"{workdir}: not a campaign work directory (no campaign.json)")
    state = campaign_status(workdir)
    rows = iteration_table(workdir)
    print(f"campaign {workdir}: {state.get('status')}")
    table = [[h for _, h in COLUMNS]] + [[_fmt(r.get(k)) for k, _ in COLUMNS] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    for row in table:
        print("  ".join(cell.rjust(w) for cell, w in zip(row, widths)))
    print("columns: data = labeled frames so far; <lo / window / >=hi = explored frames per "
          "trust-window zone; E/F = committee validation RMSE; times in seconds")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "run":
            from alearn.campaign import Campaign

            workdir = args.workdir or Path("runs") / args.config.stem
            result = Campaign(args.config, workdir).run()
            if result.workdir and _is_writer():
                print(f"campaign {result.status} after {result.iterations} iterations: "
                      f"{result.n_labeled} labels ({result.n_failed} failed) in {result.workdir}")
        elif args.command == "status":
            print_status(args.workdir)
        elif args.command == "export":
            from alearn.dataset import Dataset

            if not (args.workdir / "dataset.db").is_file():
                raise AlearnError(f"{args.workdir}: no dataset.db; is this a campaign workdir?")
            n = Dataset(args.workdir / "dataset.db").export(args.output, split=args.split)
            print(f"wrote {n} labeled frames to {args.output}")
    except AlearnError as err:
        print(f"alearn: error: {err}", file=sys.stderr)
        return 2
    return 0


def _is_writer() -> bool:
    from alearn.parallel import Workers

    return Workers.from_environment().is_writer


if __name__ == "__main__":
    sys.exit(main())
