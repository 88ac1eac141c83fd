"""Fault-isolated labeling: one reference calculation in a worker process.

:func:`run_label` writes the structure and the oracle configuration to a
folder, starts ``python -m alearn.label_worker FOLDER`` (through
``mpirun -np RANKS`` or a user's launcher when ``ranks > 1``), waits with an
optional time limit and reads back the result that the worker wrote
atomically. Whatever happens to the worker (segfault, ``MPI_Abort``, a
non-zero exit, the time limit) becomes :class:`alearn.errors.LabelFailed`
with a reason and the tail of its stderr; the caller's process survives.

Files in the work folder
------------------------
``atoms.json``        the structure (ASE JSON)
``oracle.json``       ``OracleConfig.model_dump_json()``
``result.json``       written by rank 0 of the worker (temp file + ``os.replace``)
``worker.out/.err``   the worker's stdout and stderr
``process.json``      the worker's pid record while it runs (:mod:`alearn.children`)

The worker is a supervised child: it dies with the campaign process, and its
MPI ranks die with their launcher.

The worker imports only alearn's config and oracle modules, ASE and the
oracle's backend (never torch or MACE), so it starts in ~0.5 s. It runs with
the caller's interpreter and environment: modules named by a ``kind:
calculator`` oracle must be importable there (installed, or on PYTHONPATH).
"""

from __future__ import annotations

import json
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from alearn.children import die_with_parent, run_supervised
from alearn.config import OracleConfig
from alearn.errors import ConfigError, LabelFailed
from alearn.oracles.base import Label
from alearn.procenv import rank_from_environment, worker_env
from alearn.state import write_text_atomic

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_LAUNCHER", "main", "run_label", "worker_command"]

ATOMS_FILE = "atoms.json"
CONFIG_FILE = "oracle.json"
RESULT_FILE = "result.json"
STDOUT_FILE = "worker.out"
STDERR_FILE = "worker.err"

DEFAULT_LAUNCHER: tuple[str, ...] = ("mpirun", "-np", "{ranks}")
STDERR_TAIL_CHARS = 2000

# --------------------------------------------------------------------------- parent side
def worker_command(workdir: Path, *, ranks: int = 1,
                   launcher: Sequence[str] | None = None) -> list[str]:
    """The command line that starts the worker for ``workdir``.

    With ``ranks == 1`` and no ``launcher``, plain ``python -m alearn.label_worker``;
    otherwise ``launcher`` (default ``mpirun -np {ranks}``, ``{ranks}`` replaced)
    followed by it.
    """
    python = [sys.executable, "-m", "alearn.label_worker", str(workdir)]
    if ranks == 1 and launcher is None:
        return python
    template = DEFAULT_LAUNCHER if launcher is None else tuple(launcher)
    return [part.replace("{ranks}", str(ranks)) for part in template] + python


def run_label(oracle_config: OracleConfig, atoms: Atoms, *, workdir: Path, ranks: int = 1,
              timeout_s: float | None = None,
              launcher: Sequence[str] | None = None) -> Label:
    """Label ``atoms`` in a separate worker process.

    Parameters
    ----------
    oracle_config
        Rebuilt in the worker with :func:`alearn.oracles.make_oracle`.
    atoms
        Structure to label (not modified).
    workdir
        Folder for the exchange files and the worker's output (created; a
        previous result there is removed first).
    ranks
        MPI processes of the worker (> 1 goes through ``launcher``).
    timeout_s
        Wall-time limit (s) of the worker, start-up included; None: none.
    launcher
        Replaces ``mpirun -np {ranks}`` (e.g. ``["srun", "-n", "{ranks}"]``);
        default ``oracle_config.launcher``. Given with ``ranks == 1``, it is used
        too (a cluster that forbids plain processes on compute nodes).

    Returns
    -------
    Label

    Raises
    ------
    LabelFailed
        The oracle failed (its reason, attempts and log are passed on), or
        the worker crashed, was killed, exited non-zero or ran past
        ``timeout_s`` (the reason says which, with the tail of its stderr).
    ConfigError
        The worker could not build the oracle from ``oracle_config``.
    """
    if ranks < 1:
        raise ValueError(f"ranks must be ≥ 1, got {ranks}")
    launcher = launcher if launcher is not None else oracle_config.launcher
    workdir = Path(workdir).resolve()
    _write_inputs(workdir, oracle_config, atoms)
    command = worker_command(workdir, ranks=ranks, launcher=launcher)
    env = worker_env(parallel=ranks > 1 or launcher is not None)
    log.debug("starting label worker: %s", " ".join(command))
    rc, elapsed = _run(command, env=env, workdir=workdir, timeout_s=timeout_s)
    return _read_result(workdir, rc=rc, elapsed_s=elapsed, timeout_s=timeout_s)


def _write_inputs(workdir: Path, oracle_config: OracleConfig, atoms: Atoms) -> None:
    from ase.io.jsonio import encode

    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / RESULT_FILE).unlink(missing_ok=True)
    work = atoms.copy()
    work.calc = None
    write_text_atomic(workdir / ATOMS_FILE, encode(work))
    write_text_atomic(workdir / CONFIG_FILE, oracle_config.model_dump_json())


def _run(command: list[str], *, env: dict[str, str], workdir: Path,
         timeout_s: float | None) -> tuple[int | None, float]:
    """Run the worker as a supervised child; (exit code or None on timeout, seconds)."""
    with open(workdir / STDOUT_FILE, "wb") as out, open(workdir / STDERR_FILE, "wb") as err:
        try:
            return run_supervised(command, folder=workdir, env=env, stdout=out, stderr=err,
                                  timeout_s=timeout_s, cwd=workdir)
        except FileNotFoundError as exc:
            raise LabelFailed(f"cannot start the label worker ({command[0]!r} not found: "
                              f"{exc}); check the launcher or PATH") from None


def _exit_reason(rc: int | None, timeout_s: float | None, elapsed_s: float) -> str:
    if rc is None:
        return f"label worker exceeded the time limit of {timeout_s:g} s and was killed"
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        return f"label worker killed by {name} after {elapsed_s:.1f} s"
    return f"label worker exited with code {rc} after {elapsed_s:.1f} s"


def _stderr_tail(workdir: Path) -> str:
    try:
        text = (workdir / STDERR_FILE).read_bytes()[-STDERR_TAIL_CHARS:]
    except OSError:
        return ""
    return text.decode(errors="replace").strip()


def _read_result(workdir: Path, *, rc: int | None, elapsed_s: float,
                 timeout_s: float | None) -> Label:
    result_path = workdir / RESULT_FILE
    result = _load_json(result_path) if result_path.is_file() else None
    if rc != 0 or result is None:
        reason = _exit_reason(rc, timeout_s, elapsed_s)
        if rc == 0:
            reason = f"label worker exited without writing {result_path}"
        if rc is not None and rc > 128 and rc - 128 in {s.value for s in signal.Signals}:
            reason += f" (exit code {rc} = 128 + {signal.Signals(rc - 128).name})"
        tail = _stderr_tail(workdir)
        if tail:
            reason += f"; stderr tail ({workdir / STDERR_FILE}):\n{tail}"
        if result is not None and result.get("status") == "failed":
            reason += f"; the oracle reported: {result.get('reason')}"
        raise LabelFailed(reason, attempts=(result or {}).get("attempts"),
                          log_text=(result or {}).get("log_text"))
    return _label_from_result(result, result_path)


def _label_from_result(result: dict[str, Any], path: Path) -> Label:
    status = result.get("status")
    if status == "ok":
        return Label.from_json(result)
    if status == "config_error":
        raise ConfigError(result["reason"])
    if status == "failed":
        raise LabelFailed(result["reason"], attempts=result.get("attempts"),
                          log_text=result.get("log_text"))
    raise LabelFailed(f"{path}: unexpected result status {status!r}: {result.get('reason')}")


def _load_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        log.warning("%s: unreadable result (%s)", path, err)
        return None


# --------------------------------------------------------------------------- worker side
def _result_of(workdir: Path) -> dict[str, Any]:
    from ase.io.jsonio import decode

    from alearn.oracles import make_oracle

    try:
        config = OracleConfig.model_validate_json((workdir / CONFIG_FILE).read_text())
        atoms = decode((workdir / ATOMS_FILE).read_text())
        oracle = make_oracle(config)
    except ConfigError as err:
        return {"status": "config_error", "reason": str(err)}
    try:
        label = oracle.label(atoms)
    except LabelFailed as err:
        return {"status": "failed", "reason": err.reason, "attempts": err.attempts,
                "log_text": err.log_text}
    return {"status": "ok", **label.to_json()}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m alearn.label_worker WORKDIR``.

    Every rank computes; rank 0 writes ``result.json`` atomically. An
    unexpected exception propagates (non-zero exit: the parent reports it
    with the traceback from stderr).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        sys.stderr.write("usage: python -m alearn.label_worker WORKDIR\n")
        return 2
    die_with_parent()  # the campaign, or the MPI launcher of this worker's ranks
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    workdir = Path(args[0])
    result = _result_of(workdir)
    if rank_from_environment() == 0:
        write_text_atomic(workdir / RESULT_FILE, json.dumps(result, default=_json_default))
    return 0


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"not JSON-serializable: {type(obj).__name__}")


if __name__ == "__main__":
    sys.exit(main())
