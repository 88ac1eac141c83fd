"""The ``alearn`` command: run, status, export, report (exit codes: :class:`Exit`)."""

from __future__ import annotations

import argparse
import enum
import errno
import json
import os
import signal
import sys
from pathlib import Path

from alearn.console import PROGRESS_INTERVAL_S, setup_console
from alearn.errors import AlearnError, CampaignInterrupted, CampaignStopped


class Exit(enum.IntEnum):
    """The exit codes of ``alearn`` (see docs/cli.md)."""

    #: the command did its work (a campaign finished: converged, max_iterations, label_budget)
    OK = 0
    #: a bug: an unexpected error, with its traceback
    INTERNAL = 1
    #: a user error: bad arguments, configuration, work directory or file (one error line)
    USAGE = 2
    #: the campaign stopped at a limit it must not pass (oracle.max_failure_fraction, too
    #: few training frames); fix the cause, then resume ('alearn run' again)
    STOPPED = 3
    #: another run holds the work directory
    BUSY = 4
    #: stopped by a signal N: 128 + N (130 Ctrl-C/SIGINT, 143 SIGTERM); resume with 'alearn run'
    SIGNAL = 128


EXIT_SIGNAL = Exit.SIGNAL
EPILOG = """exit codes:
  0    done (a campaign finished: converged, max_iterations or label_budget)
  1    internal error (a bug: please report it with the traceback)
  2    user error: bad arguments, configuration, work directory or file
  3    stopped at a limit (oracle.max_failure_fraction, too few training frames):
       fix the cause, then run again to resume
  4    another run holds the work directory
  128+N  stopped by signal N (130: Ctrl-C, 143: SIGTERM); run again to resume
docs: README.md, docs/cli.md, docs/config.md"""


def _verbosity_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_mutually_exclusive_group()
    group.add_argument("-v", "--verbose", action="count", default=0,
                       help="more detail: -v alearn's debug messages and library warnings, "
                            "-vv also other libraries' messages")
    group.add_argument("-q", "--quiet", action="store_true",
                       help="only warnings and errors on the terminal, no progress "
                            "(alearn.log still gets everything)")
    return common


def _parser() -> argparse.ArgumentParser:
    from alearn import __version__

    common = _verbosity_options()
    p = argparse.ArgumentParser(
        prog="alearn", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Active learning of MACE force fields against DFT (GPAW).")
    p.add_argument("--version", action="version", version=f"alearn {__version__}",
                   help="print alearn's version and exit")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           help="what to do; 'alearn COMMAND --help' for its options")
    run = sub.add_parser("run", parents=[common], epilog=EPILOG,
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         help="run a campaign, or resume it if WORKDIR holds one",
                         description="Run a campaign, or resume it where it stopped.")
    run.add_argument("config", type=Path, help="campaign YAML file (see docs/config.md)")
    run.add_argument("--workdir", type=Path, default=None,
                     help="work directory (default: runs/<config name>)")
    run.add_argument("--retry-failed", action="store_true",
                     help="label the structures whose labels failed again (e.g. after "
                          "raising oracle.timeout_s)")
    run.add_argument("--progress-interval", type=float, default=PROGRESS_INTERVAL_S,
                     metavar="SECONDS",
                     help="seconds between two progress lines of a task when the terminal "
                          "is not a TTY (batch jobs, mpirun) and in alearn.log; 0: at every "
                          f"step (default {PROGRESS_INTERVAL_S:g})")
    status = sub.add_parser("status", parents=[common], help="print where a campaign stands",
                            description="Print where a campaign stands; only reads.")
    status.add_argument("workdir", type=Path, help="the campaign's work directory")
    view = status.add_mutually_exclusive_group()
    view.add_argument("--wide", action="store_true",
                      help="all columns (calibration, per-rank counts, MD adjustments); wider "
                           "than 100 columns")
    view.add_argument("--json", action="store_true",
                      help="the summary and every iteration's figures as JSON, for scripts")
    export = sub.add_parser("export", parents=[common],
                            help="write the labeled data to a file (extxyz: REF_* keys)",
                            description="Write the labeled frames to a file in a format "
                                        "ASE writes.")
    export.add_argument("workdir", type=Path, help="the campaign's work directory")
    export.add_argument("-o", "--output", type=Path, required=True,
                        help="file to write; its extension must fit --format")
    export.add_argument("--format", default=None, metavar="FORMAT",
                        help="an ASE format that holds several frames (default: from the "
                             "extension; extxyz keeps REF_* keys and provenance; e.g. extxyz, "
                             "traj, db, json, xsf)")
    export.add_argument("--split", choices=["train", "valid"], default=None,
                        help="only the training or the validation frames (default: both)")
    report = sub.add_parser("report", parents=[common],
                            help="write a campaign report: one self-contained HTML file",
                            description="Write one HTML file with the status table, every "
                                        "iteration's plots, the dataset and its failures; it "
                                        "needs no server and no network.")
    report.add_argument("workdir", type=Path, help="the campaign's work directory")
    report.add_argument("-o", "--output", type=Path, default=None,
                        help="HTML file to write (default: WORKDIR/report.html)")
    _screen_parsers(sub, common)
    return p


SCREEN_EPILOG = """exit codes:
  0    done (every candidate screened, or what is left is held by another live job)
  1    internal error (a bug: please report it with the traceback)
  2    user error: bad arguments, configuration, work directory, file or database
  4    another run holds the work directory
  128+N  stopped by signal N (130: Ctrl-C, 143: SIGTERM); run again to resume
docs: docs/screening.md"""


def _screen_parsers(sub, common: argparse.ArgumentParser) -> None:
    """``alearn screen`` and ``alearn screen-report`` (docs/screening.md)."""
    screen = sub.add_parser("screen", parents=[common], epilog=SCREEN_EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter,
                            help="screen candidate structures with a committee, or resume a "
                                 "screen (works under mpirun)",
                            description="Generate candidates, relax them, price their "
                                        "stability and run hot MD for their conductivity, "
                                        "with the committee's uncertainty; resumes where it "
                                        "stopped. See docs/screening.md.")
    screen.add_argument("config", type=Path, help="screen YAML file (see docs/screening.md)")
    screen.add_argument("--workdir", type=Path, default=None,
                        help="work directory (default: runs/<config name>)")
    report = sub.add_parser("screen-report", parents=[common],
                            help="print a screen's ranked table and write its plots",
                            description="Rank the screened candidates, write the plots (σ "
                                        "against stability, uncertainty) and optionally export "
                                        "the flagged ones for a campaign; only reads.")
    report.add_argument("workdir", type=Path, help="the screen's work directory")
    report.add_argument("-o", "--output", type=Path, default=None,
                        help="folder for the plots (default: WORKDIR/report)")
    report.add_argument("--json", action="store_true",
                        help="every candidate's results as JSON instead of the table")
    report.add_argument("--export-flagged", type=Path, default=None, metavar="FILE.extxyz",
                        help="write the flagged candidates (outside the trust window) to "
                             "this extxyz file and a campaign systems: snippet beside it "
                             "(FILE.yaml)")


def campaign_workdir(workdir: Path) -> Path:
    """``workdir`` if it holds a campaign (a ``campaign.json``), else an AlearnError."""
    if not workdir.exists():
        raise AlearnError(f"{workdir}: no such directory; give the --workdir of a campaign")
    if not workdir.is_dir():
        raise AlearnError(f"{workdir}: is a file, not a campaign work directory")
    if not (workdir / "campaign.json").is_file():
        raise AlearnError(f"{workdir}: not a campaign work directory (no campaign.json)")
    return workdir


def print_status(workdir: Path, *, wide: bool = False, as_json: bool = False) -> None:
    """Print a campaign's summary line and per-iteration table (or JSON); only reads."""
    from alearn.report import campaign_status, iteration_table
    from alearn.status import render_table, summarize, to_jsonable

    state = campaign_status(campaign_workdir(workdir))
    rows = iteration_table(workdir)
    summary = summarize(workdir, state, rows)
    if as_json:
        print(json.dumps({"summary": summary.to_json(), "iterations": to_jsonable(rows)},
                         indent=1, allow_nan=False))
        return
    print(f"{workdir}: {summary.line()}")
    if not any("dataset" in r for r in rows):
        print("no dataset yet: nothing has been labeled")
    for line in render_table(rows, wide=wide):
        print(line)


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


def export(workdir: Path, output: Path, *, split: str | None, fmt: str | None = None) -> int:
    """Write a campaign's labeled frames to ``output`` (format ``fmt``, default from the
    extension); returns the count."""
    from alearn.database import redact
    from alearn.dataset import Dataset
    from alearn.export import export_format
    from alearn.report import open_workdir_dataset, reading_dataset

    campaign_workdir(workdir)
    check_output_file(output)
    fmt = export_format(output, fmt)
    # a damaged file is named, and never initialized
    where, db = open_workdir_dataset(workdir)
    if db is None:
        what = where.name if isinstance(where, Path) else f"tables in {redact(where)}"
        raise AlearnError(f"{workdir}: no dataset yet (no {what}); the campaign has labeled "
                          "nothing")
    try:
        with reading_dataset(where):
            dataset = Dataset(where)
            frames = dataset.labeled_atoms(split)
        return dataset.export_frames(frames, output, fmt=fmt)
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
    return Exit.OK


def _report(workdir: Path, output: Path | None) -> None:
    from alearn.report_page import write_report

    output = output or campaign_workdir(workdir) / "report.html"
    campaign_workdir(workdir)
    check_output_file(output)
    write_report(workdir, output)
    print(f"wrote {output}")


def _screen(args: argparse.Namespace) -> int:
    from alearn.protocols.screening.cli import screen

    try:
        summary = screen(args.config, args.workdir)
    except CampaignInterrupted as stop:
        workdir = args.workdir or Path("runs") / args.config.stem
        print(f"alearn: stopped by {stop.signal_name}: this run's claimed candidates were put "
              f"back in the queue; resume with: alearn screen {args.config} --workdir "
              f"{workdir}", file=sys.stderr)
        return EXIT_SIGNAL + signal.Signals[stop.signal_name]
    if _is_writer():
        print(f"screen {'finished' if summary.finished else 'stopped'}: {summary.line()} in "
              f"{summary.workdir}")
    return Exit.OK


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "run":
        return _run(args)
    if args.command == "screen":
        return _screen(args)
    if args.command == "screen-report":
        from alearn.protocols.screening.cli import screen_report

        screen_report(args.workdir, output=args.output, as_json=args.json,
                      export=args.export_flagged)
    if args.command == "status":
        print_status(args.workdir, wide=args.wide, as_json=args.json)
    elif args.command == "export":
        n = export(args.workdir, args.output, split=args.split, fmt=args.format)
        print(f"wrote {n} labeled frames to {args.output}")
    elif args.command == "report":
        _report(args.workdir, args.output)
    return Exit.OK


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
    """The ``alearn`` command; returns its exit code (:class:`Exit`)."""
    from alearn.lock import WorkdirBusy
    from alearn.procenv import rank_from_environment

    args = _parser().parse_args(argv)
    setup_console(-1 if args.quiet else args.verbose, rank=rank_from_environment(),
                  interval_s=getattr(args, "progress_interval", PROGRESS_INTERVAL_S))
    try:
        return _dispatch(args)
    except BrokenPipeError:  # the reader went away (e.g. 'alearn status --json | head')
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return Exit.OK
    except KeyboardInterrupt:  # Ctrl-C before a campaign's own handler was in place
        print("alearn: interrupted; nothing was changed that a rerun cannot redo",
              file=sys.stderr)
        return EXIT_SIGNAL + signal.SIGINT
    except CampaignStopped as err:
        print(f"alearn: stopped: {err}", file=sys.stderr)
        return Exit.STOPPED
    except WorkdirBusy as err:
        print(f"alearn: error: {err}", file=sys.stderr)
        return Exit.BUSY
    except AlearnError as err:
        print(f"alearn: error: {err}", file=sys.stderr)
        return Exit.USAGE
    except OSError as err:
        if err.filename is None and err.errno not in _USER_ERRNOS:
            raise  # not about a file the user named: a bug, keep the traceback
        print(f"alearn: error: {os_error_message(err)}", file=sys.stderr)
        return Exit.USAGE


def _is_writer() -> bool:
    from alearn.parallel import Workers

    return Workers.from_environment().is_writer


if __name__ == "__main__":
    sys.exit(main())
