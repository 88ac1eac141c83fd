"""The ``alearn`` command: run, status, export."""

from __future__ import annotations

import argparse
import errno
import logging
import math
import os
import signal
import sqlite3
import sys
from pathlib import Path

from alearn.errors import AlearnError, CampaignInterrupted

#: exit code of a run stopped by a signal: 128 + the signal's number (as a shell reports it)
EXIT_SIGNAL = 128


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="alearn", description="Active learning of MACE force fields "
                                "against DFT. Docs: README.md, docs/config.md")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a campaign, or resume it if WORKDIR holds one")
    run.add_argument("config", type=Path, help="campaign YAML file")
    run.add_argument("--workdir", type=Path, default=None,
                     help="work directory (default: runs/<config name>)")
    run.add_argument("--retry-failed", action="store_true",
                     help="label the structures whose labels failed again (e.g. after "
                          "raising oracle.timeout_s)")
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
           ("excluded", "excl"), ("pending", "pend"), ("per_rank", "by rank"), ("trusted", "<lo"),
           ("candidate", "window"), ("rejected", ">=hi"), ("accurate_ratio", "acc.ratio"),
           ("rmse_E_meV_atom", "E meV/at"), ("rmse_F_meV_A", "F meV/Å"),
           ("calib_force_scale", "F scale"), ("spearman_force", "rho"),
           ("miscalibration_area_raw", "miscal raw"), ("miscalibration_area", "miscal"),
           ("lo_effective", "lo sel"), ("md_next", "next MD"), ("train_s", "train s"),
           ("explore_s", "explore s"), ("label_s", "label s"), ("init_s", "init s")]


def campaign_workdir(workdir: Path) -> Path:
    """``workdir`` if it holds a campaign (a ``campaign.json``), else an AlearnError."""
    if not workdir.exists():
        raise AlearnError(f"{workdir}: no such directory; give the --workdir of a campaign")
    if not workdir.is_dir():
        raise AlearnError(f"{workdir}: is a file, not a campaign work directory")
    if not (workdir / "campaign.json").is_file():
        raise AlearnError(f"{workdir}: not a campaign work directory (no campaign.json)")
    return workdir


def print_status(workdir: Path) -> None:
    """Print a campaign's state and per-iteration table; reads, never writes."""
    from alearn.report import campaign_status, iteration_table

    state = campaign_status(campaign_workdir(workdir))
    rows = iteration_table(workdir)
    print(f"campaign {workdir}: {state.get('status')}")
    if not (workdir / "dataset.db").exists():
        print("no dataset yet (no dataset.db): nothing has been labeled")
    table = [[h for _, h in COLUMNS]] + [[_fmt(r.get(k)) for k, _ in COLUMNS] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    for row in table:
        print("  ".join(cell.rjust(w) for cell, w in zip(row, widths)))
    print("columns: data = labeled frames so far; <lo / window / >=hi = explored frames per "
          "trust-window zone; E/F = committee validation RMSE; F scale = calibration "
          "factor (expected error / spread); rho = Spearman rank correlation of per-atom "
          "spread and error; miscal raw / miscal = miscalibration area of the spread / of the "
          "calibrated error (0 = calibrated, 0.5 worst); lo sel = lo used for selection "
          "(uncertainty.adaptive_lo); excl = labels excluded as absurd (labels.*); next MD = "
          "how the next iteration softens exploration after selecting nothing (dt = "
          "timestep, T = temperature factors); times in seconds")


def check_output_file(path: Path) -> None:
    """Refuse an output path that cannot be written, before any work."""
    if path.is_dir():
        raise AlearnError(f"{path}: is a directory; give a file name, e.g. {path / 'data.xyz'}")
    parent = path.parent
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise AlearnError(f"{path}: cannot write it, its folder {parent} {what}; create the "
                          "folder first or give another path")
    if not os.access(parent, os.W_OK):
        raise AlearnError(f"{path}: cannot write it, its folder {parent} is not writable; "
                          "give another path")


def export(workdir: Path, output: Path, *, split: str | None) -> int:
    """Write a campaign's labeled frames to ``output`` (extxyz); returns the count."""
    from alearn.dataset import Dataset
    from alearn.report import dataset_error, open_dataset_read_only

    db_path = campaign_workdir(workdir) / "dataset.db"
    if not db_path.exists():
        raise AlearnError(f"{workdir}: no dataset.db yet; the campaign has labeled nothing")
    check_output_file(output)
    open_dataset_read_only(db_path)  # a damaged file is named, and never initialized
    try:
        return Dataset(db_path).export(output, split=split)
    except sqlite3.DatabaseError as err:
        raise dataset_error(db_path, err) from None
    except OSError as err:
        raise AlearnError(f"cannot write {output}: {err.strerror or err}; check the path and "
                          "its permissions (or free disk space)") from None


def _run(args: argparse.Namespace) -> int:
    from alearn.campaign import Campaign

    workdir = args.workdir or Path("runs") / args.config.stem
    try:
        result = Campaign(args.config, workdir, retry_failed=args.retry_failed).run()
    except CampaignInterrupted as stop:
        print(f"alearn: stopped by {stop.signal_name}: its trainers and label workers were "
              f"ended and nothing unfinished is marked done; resume with: alearn run "
              f"{args.config} --workdir {workdir}", file=sys.stderr)
        return EXIT_SIGNAL + signal.Signals[stop.signal_name]
    if result.workdir and _is_writer():
        print(f"campaign {result.status} after {result.iterations} iterations: "
              f"{result.n_labeled} labels ({result.n_failed} failed) in {result.workdir}")
    return 0


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "run":
        return _run(args)
    if args.command == "status":
        print_status(args.workdir)
    elif args.command == "export":
        n = export(args.workdir, args.output, split=args.split)
        print(f"wrote {n} labeled frames to {args.output}")
    return 0


# Errors of the file system that are the user's to fix, even without a file name.
_USER_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT}


def os_error_message(err: OSError) -> str:
    """One line for an OSError about a file: which file, why, what to do."""
    why = err.strerror or str(err)
    if err.filename is None:
        return f"{why}; check the paths and their permissions (or free disk space)"
    name = err.filename if err.filename2 is None else f"{err.filename} -> {err.filename2}"
    return f"cannot write {name}: {why}; check the path and its permissions (or free disk space)"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return _dispatch(args)
    except KeyboardInterrupt:  # Ctrl-C before a campaign's own handler was in place
        print("alearn: interrupted; nothing was changed that a rerun cannot redo",
              file=sys.stderr)
        return EXIT_SIGNAL + signal.SIGINT
    except AlearnError as err:
        print(f"alearn: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        if err.filename is None and err.errno not in _USER_ERRNOS:
            raise  # not about a file the user named: a bug, keep the traceback
        print(f"alearn: error: {os_error_message(err)}", file=sys.stderr)
        return 2


def _is_writer() -> bool:
    from alearn.parallel import Workers

    return Workers.from_environment().is_writer


if __name__ == "__main__":
    sys.exit(main())
