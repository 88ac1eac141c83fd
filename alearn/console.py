"""What the ``alearn`` command writes to the terminal: log lines and progress.

:func:`setup_console` installs one :class:`ConsoleHandler` on the root logger.
It decides how progress is shown (:mod:`alearn.progress` asks it through
:func:`progress_style`):

- on a terminal (the handler's stream is a TTY): tqdm bars, and log lines
  written through ``tqdm.write`` so that they do not break the bars;
- elsewhere (a pipe, ``mpirun``, a scheduler's log file): no bars, a one-line
  progress record every ``interval_s`` seconds instead.

Verbosity: ``-q`` (-1) warnings and errors only, no progress; default (0)
alearn's stage messages and progress; ``-v`` (1) alearn's details (DEBUG)
and library warnings (torch, e3nn: otherwise only in ``alearn.log``);
``-vv`` (2) also other libraries' messages.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import TextIO

__all__ = ["PROGRESS_INTERVAL_S", "ConsoleHandler", "ProgressStyle", "progress_style",
           "setup_console"]

#: default seconds between two progress records of one task (no terminal)
PROGRESS_INTERVAL_S = 30.0


@dataclass(frozen=True)
class ProgressStyle:
    """How progress is shown.

    Attributes
    ----------
    bars
        tqdm bars on the console (a terminal).
    interval_s
        Seconds between two progress records of one task (0: at every update).
    stream
        Where bars are drawn.
    """

    bars: bool
    interval_s: float
    stream: TextIO


class ConsoleHandler(logging.StreamHandler):
    """The terminal's log handler.

    Parameters
    ----------
    stream
        Where to write (standard error).
    verbosity
        -1 (quiet) to 2 (see the module docstring).
    interval_s
        Seconds between two progress records of one task.
    rank
        MPI rank of this process; lines of ranks above 0 start with ``[rank N]``.
    """

    def __init__(self, stream: TextIO, *, verbosity: int = 0,
                 interval_s: float = PROGRESS_INTERVAL_S, rank: int = 0) -> None:
        super().__init__(stream)
        self.verbosity = verbosity
        self.bars = verbosity >= 0 and _is_terminal(stream)
        self.interval_s = interval_s
        self.setLevel(logging.WARNING if verbosity < 0 else
                      logging.INFO if verbosity == 0 else logging.DEBUG)
        prefix = f"[rank {rank}] " if rank else ""
        self.setFormatter(_ConsoleFormatter(prefix))
        self.addFilter(self._shown)

    def _shown(self, record: logging.LogRecord) -> bool:
        if getattr(record, "progress", False) and self.bars:
            return False  # the bar shows it
        if record.name == "py.warnings":
            return self.verbosity >= 1
        if not (record.name == "alearn" or record.name.startswith("alearn.")):
            return record.levelno >= logging.WARNING or self.verbosity >= 2
        return True

    def emit(self, record: logging.LogRecord) -> None:
        if not self.bars:
            super().emit(record)
            return
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:  # noqa: BLE001 - logging's own contract: never raise
            self.handleError(record)


class _ConsoleFormatter(logging.Formatter):
    """``HH:MM:SS message``; warnings and errors say so."""

    def __init__(self, prefix: str) -> None:
        super().__init__(datefmt="%H:%M:%S")
        self.prefix = prefix

    def format(self, record: logging.LogRecord) -> str:
        level = "" if record.levelno == logging.INFO else f"{record.levelname}: "
        if record.levelno == logging.DEBUG:
            level = f"DEBUG {record.name}: "
        text = f"{self.formatTime(record, self.datefmt)} {self.prefix}{level}" \
               f"{record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def setup_console(verbosity: int = 0, *, interval_s: float = PROGRESS_INTERVAL_S,
                  rank: int = 0, stream: TextIO | None = None) -> ConsoleHandler:
    """Install the console handler on the root logger (replacing an earlier one).

    Python warnings go through logging (``py.warnings``): into ``alearn.log``,
    and onto the terminal with ``-v``.
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, ConsoleHandler)]:
        root.removeHandler(old)
    handler = ConsoleHandler(stream or sys.stderr, verbosity=verbosity, interval_s=interval_s,
                             rank=rank)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)
    logging.getLogger("alearn").setLevel(logging.DEBUG if verbosity >= 1 else logging.INFO)
    logging.captureWarnings(True)
    return handler


def progress_style() -> ProgressStyle:
    """How to show progress now: from the installed :class:`ConsoleHandler` (``-q``:
    no bars, and its level keeps the records off the terminal, not out of
    ``alearn.log``); without one (alearn used as a library), bars when standard
    error is a terminal."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, ConsoleHandler):
            return ProgressStyle(bars=handler.bars, interval_s=handler.interval_s,
                                 stream=handler.stream)
    return ProgressStyle(bars=_is_terminal(sys.stderr), interval_s=PROGRESS_INTERVAL_S,
                         stream=sys.stderr)
