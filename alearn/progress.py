"""Progress of the long stages: training members, MD walkers, labels.

A :class:`Task` is one long piece of work with a count (epochs, MD steps,
labels). How it shows is decided by the console (:mod:`alearn.console`):

- on a terminal: a tqdm bar with the task's current figures;
- otherwise (``mpirun``, a scheduler): a one-line record (logger
  ``alearn.progress``) at most every ``interval_s`` seconds, also while
  nothing changes (a heartbeat: a slow task is not a stuck one);
- always: the records in ``alearn.log`` (with timestamps), and one line
  when the task ends.

The stages feed their tasks from small hooks: :func:`training_progress`
follows the results file mace-torch appends one JSON line to after each
validation (``<scratch>/results/*_train.txt``); :func:`walker_progress`
gives ``run_walker`` a callback for each sampled frame;
:class:`LabelProgress` counts finished and failed labels and times the
running ones.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from alearn.console import progress_style

if TYPE_CHECKING:
    from alearn.config import UncertaintyConfig
    from alearn.exploration import WalkerSpec

__all__ = ["LabelProgress", "MaceResults", "Task", "format_duration", "training_progress",
           "walker_progress"]

log = logging.getLogger("alearn.progress")

#: seconds between two looks at a training's results file
POLL_S = 0.5


def format_duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``2 h 07 min``."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Task:
    """A counted piece of work shown as a bar or as periodic records.

    Parameters
    ----------
    desc
        What it is, e.g. ``member 0 (iteration 2)``.
    total
        The count it runs to (epochs, steps, labels).
    unit
        What is counted (``epoch``, ``step``, ``label``).
    live
        Figures computed anew at each refresh (e.g. how long the running label
        has run): name → text.
    enabled
        False: no bar and no records (e.g. an MPI rank that only helps).
    """

    def __init__(self, desc: str, total: int, *, unit: str,
                 live: Callable[[], Mapping[str, str]] | None = None,
                 enabled: bool = True) -> None:
        self.desc, self.total, self.unit = desc, int(total), unit
        self.n = 0
        self.fields: dict[str, str] = {}
        self.enabled = enabled
        self._live = live
        self._lock = threading.RLock()
        self._t0 = time.monotonic()
        style = progress_style()
        self.interval_s = style.interval_s
        self._last_record = self._t0
        self._bar = None
        if enabled and style.bars:
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, desc=desc, unit=unit, leave=False,
                             file=style.stream, dynamic_ncols=True, mininterval=0.5)
        self._stop = threading.Event()
        self._ticker = None
        if enabled:
            self._ticker = threading.Thread(target=self._tick, daemon=True,
                                            name=f"alearn-progress {desc}")
            self._ticker.start()

    # ------------------------------------------------------------------ feeding
    def update(self, n: int = 1, *, to: int | None = None,
               fields: Mapping[str, str] | None = None) -> None:
        """Count ``n`` more (or set the count ``to``), and set some figures."""
        if not self.enabled:
            return
        with self._lock:
            new = self.n + n if to is None else int(to)
            if self._bar is not None and new != self.n:
                self._bar.update(new - self.n)
            self.n = new
            if fields:
                self.fields.update(fields)
            self._show()
            self._record_if_due()

    def line(self) -> str:
        """The task's state in one line."""
        with self._lock:
            figures = {**self.fields, **(self._live() if self._live else {})}
            parts = [f"{self.unit} {self.n}/{self.total}"]
            parts += [f"{k} {v}" for k, v in figures.items()]
            parts.append(f"{format_duration(time.monotonic() - self._t0)} elapsed")
            return f"{self.desc}: {', '.join(parts)}"

    def close(self, summary: str | None = None, *, level: int = logging.INFO) -> None:
        """End the task: remove the bar, stop the heartbeat, log ``summary`` (default:
        the task's last state)."""
        if not self.enabled:
            return
        self._stop.set()
        if self._ticker is not None and self._ticker is not threading.current_thread():
            self._ticker.join()
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
            log.log(level, summary or self.line())
        self.enabled = False

    @property
    def elapsed_s(self) -> float:
        """Seconds since the task began."""
        return time.monotonic() - self._t0

    def __enter__(self) -> Task:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ showing
    def _show(self) -> None:
        """Redraw the bar (elapsed time, figures)."""
        if self._bar is not None:
            figures = {**self.fields, **(self._live() if self._live else {})}
            self._bar.set_postfix_str(", ".join(f"{k} {v}" for k, v in figures.items()),
                                      refresh=False)
            self._bar.refresh()

    def _record_if_due(self) -> None:
        """Log the task's line when ``interval_s`` has passed since the last one."""
        now = time.monotonic()
        if now - self._last_record >= self.interval_s:
            self._last_record = now
            log.info(self.line(), extra={"progress": True})

    def _tick(self) -> None:
        """Heartbeat: the bar's clock moves on, and a record comes also while nothing
        changes (with ``interval_s`` 0 records come from updates only)."""
        tick = 1.0 if self.interval_s <= 0 else min(1.0, self.interval_s)
        while not self._stop.wait(tick):
            with self._lock:
                if self._stop.is_set():
                    return
                self._show()
                if self.interval_s > 0:
                    self._record_if_due()


#: values below this are numerical zeros (a zero-force validation set's force RMSE in
#: eV/Å, a symmetric frame's spread): shown as 0
TINY = 1e-9


def _fmt(value: float | None, scale: float = 1.0, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return "0" if abs(value) < TINY else f"{value * scale:.{digits}g}"


# --------------------------------------------------------------------------- training
class MaceResults:
    """Follows mace-torch's results file (``<results>/*_train.txt``: one JSON object per
    line; ``mode: eval`` lines after each validation, with ``epoch`` (None for the
    one before training), ``loss``, ``rmse_e_per_atom`` (eV) and ``rmse_f`` (eV/Å))."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._offsets: dict[Path, int] = {}
        self.epoch: int | None = None  # the last validated epoch (0-based)
        self.last: dict = {}

    def poll(self) -> bool:
        """Read the lines written since the last call; True when a validation came."""
        came = False
        for path in sorted(self.folder.glob("*_train.txt")):
            try:
                with open(path, encoding="utf-8") as fh:
                    fh.seek(self._offsets.get(path, 0))
                    text = fh.read()
            except OSError:
                continue
            complete = text[: text.rfind("\n") + 1]  # a line being written waits
            self._offsets[path] = self._offsets.get(path, 0) + len(complete.encode())
            for line in complete.splitlines():
                came |= self._take(line)
        return came

    def _take(self, line: str) -> bool:
        try:
            entry = json.loads(line)
        except ValueError:
            return False
        if not isinstance(entry, dict) or entry.get("mode") != "eval":
            return False
        if entry.get("epoch") is not None:
            self.epoch = int(entry["epoch"])
        self.last = entry
        return True

    def figures(self) -> dict[str, str]:
        """The last validation's loss and RMSEs, as text."""
        if not self.last:
            return {}
        rmse_f = self.last.get("rmse_f")
        forces = "n/a (zero forces)" if rmse_f is not None and abs(rmse_f) < TINY else \
            f"{_fmt(rmse_f, 1000)} meV/Å"
        return {"valid loss": _fmt(self.last.get("loss")),
                "RMSE E": f"{_fmt(self.last.get('rmse_e_per_atom'), 1000)} meV/atom",
                "RMSE F": forces}


@contextlib.contextmanager
def training_progress(scratch: Path, *, member: int, epochs: int,
                      iteration: int | None = None) -> Iterator[MaceResults]:
    """Show a member's training while inside: epoch of epochs and the last validation
    figures, read by a thread from mace-torch's results file in ``scratch``."""
    where = f" (iteration {iteration})" if iteration is not None else ""
    task = Task(f"member {member}{where}", epochs, unit="epoch")
    results = MaceResults(scratch / "results")
    stop = threading.Event()

    def feed() -> None:
        if results.poll():
            task.update(to=0 if results.epoch is None else results.epoch + 1,
                        fields=results.figures())

    def follow() -> None:
        while not stop.wait(POLL_S):
            feed()

    thread = threading.Thread(target=follow, daemon=True, name=f"alearn-train {member}")
    thread.start()
    try:
        yield results
    finally:
        stop.set()
        thread.join()
        feed()
        done = 0 if results.epoch is None else results.epoch + 1
        early = f" (stopped early, of {epochs})" if 0 < done < epochs else ""
        figures = ", ".join(f"{k} {v}" for k, v in results.figures().items())
        task.close(f"member {member}{where}: trained {done} epochs{early}"
                   f"{', ' + figures if figures else ''} in "
                   f"{format_duration(task.elapsed_s)}")


# --------------------------------------------------------------------------- exploration
@contextlib.contextmanager
def walker_progress(spec: WalkerSpec, ucfg: UncertaintyConfig
                    ) -> Iterator[Callable[[int, float], None]]:
    """A callback ``on_sample(step, uncertainty)`` for one walker's MD while inside:
    MD step of steps and the current and largest uncertainty (the value compared
    with ``lo``/``hi``)."""
    from alearn.uncertainty import metric_name

    name, steps = f"{spec.system}/{spec.walker} ({spec.temperature_K:.0f} K)", spec.md.steps
    metric, lo, hi = metric_name(ucfg), ucfg.lo, ucfg.hi
    task = Task(f"walker {name}", steps, unit="step")
    seen: list[float] = []

    def on_sample(step: int, value: float) -> None:
        seen.append(float(value))
        task.update(to=step, fields={"unc": _fmt(value), "max": _fmt(max(seen))})

    try:
        yield on_sample
    finally:
        peak = f", {metric} last {_fmt(seen[-1])}, max {_fmt(max(seen))} (lo {lo:g}, " \
               f"hi {hi:g})" if seen else ""
        task.close(f"walker {name}: {task.n}/{steps} MD steps{peak} in "
                   f"{format_duration(task.elapsed_s)}")


# --------------------------------------------------------------------------- labeling
class LabelProgress:
    """Labels done and failed of ``total``, and how long the running ones have run.

    Parameters
    ----------
    total
        Labels this process computes.
    oracle
        The oracle's name (shown).
    enabled
        False on ranks that only help another rank's calculation.
    """

    def __init__(self, total: int, *, oracle: str, enabled: bool = True) -> None:
        self.failed = 0
        self._running: dict[int, float] = {}
        self._lock = threading.Lock()
        self.task = Task(f"labels ({oracle})", total, unit="label", live=self._live,
                         enabled=enabled)

    def started(self, row_id: int) -> None:
        with self._lock:
            self._running[row_id] = time.monotonic()

    def finished(self, row_id: int, *, failed: bool) -> None:
        with self._lock:
            self._running.pop(row_id, None)
            self.failed += failed
        self.task.update(fields={"failed": str(self.failed)})

    def _live(self) -> dict[str, str]:
        with self._lock:
            if not self._running:
                return {}
            row, start = min(self._running.items(), key=lambda kv: kv[1])
            more = f" (+{len(self._running) - 1} more)" if len(self._running) > 1 else ""
            return {"running": f"row {row} for {format_duration(time.monotonic() - start)}"
                               f"{more}"}

    def close(self) -> None:
        t = self.task
        t.close(f"{t.desc}: {t.n - self.failed} labeled, {self.failed} failed of {t.total} in "
                f"{format_duration(t.elapsed_s)}")
