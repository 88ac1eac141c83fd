"""A campaign's work directory: who runs in it, its state file, its frozen settings,
and the checks that a misused or damaged workdir needs before any work is done.

One run at a time holds the workdir (:func:`hold`, a :class:`alearn.lock.WorkdirLock`);
it first ends whatever a killed run left running there, and on SIGTERM or
SIGINT it ends its children before it stops (:func:`stop_on_signals`).

``campaign.json`` holds the digest of the *frozen* settings (those whose change
would make the data inconsistent: the systems, the oracle's physics, the
initial data, the validation split, and the electronic states where there are
any) and the campaign's status; ``config.yaml`` the settings in force. The
oracle's *policy* keys (time limit, isolation, ranks, launcher, failure limit)
do not change a label's value and may change between runs, e.g. to retry
failed labels with a longer time limit.

A lost or damaged ``campaign.json`` is rebuilt from ``config.yaml`` (the frozen
sections cannot have changed there), so the check on changed settings is
never skipped; with both gone, a workdir that holds data is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from alearn.children import end_recorded
from alearn.config import CampaignConfig, config_from_dict
from alearn.errors import CampaignInterrupted, ConfigError
from alearn.lock import WorkdirBusy, WorkdirLock
from alearn.state import read_json, write_json_atomic, write_text_atomic

if TYPE_CHECKING:
    from alearn.parallel import Workers

log = logging.getLogger(__name__)

__all__ = ["FROZEN_SECTIONS", "ORACLE_POLICY_KEYS", "check_dataset_present",
           "check_workdir_path", "frozen_digest", "hold", "open_workdir", "stop_on_signals",
           "write_status"]

FROZEN_SECTIONS = ("systems", "oracle", "initial_data", "validation")
ORACLE_POLICY_KEYS = ("timeout_s", "isolation", "ranks_per_label", "launcher",
                      "max_failure_fraction")
STATE_FILE = "campaign.json"
CONFIG_FILE = "config.yaml"


def frozen_digest(cfg: CampaignConfig, *, exclude_defaults: bool = True) -> str:
    """Short hash of the frozen settings (oracle policy keys left out).

    Keys at their default values are left out too, so that a key added to the
    schema later (with a default that keeps the old behaviour) does not make an
    existing workdir look changed."""
    data = cfg.model_dump(mode="json", include=set(FROZEN_SECTIONS),
                          exclude_defaults=exclude_defaults)
    data.setdefault("oracle", {})
    for key in ORACLE_POLICY_KEYS:
        data["oracle"].pop(key, None)
    if cfg.states:  # frozen too; left out when absent, so older digests stay the same
        data["states"] = [s.model_dump(mode="json") for s in cfg.states]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _digests(cfg: CampaignConfig) -> set[str]:
    # older workdirs hold the digest of every key (before: also of the policy keys);
    # no such workdir has states: that digest would not cover them
    digests = {frozen_digest(cfg), frozen_digest(cfg, exclude_defaults=False)}
    return digests if cfg.states else digests | {cfg.digest(*FROZEN_SECTIONS)}


def check_workdir_path(workdir: Path) -> None:
    """Raise ConfigError if ``workdir`` is a file or cannot be written."""
    if workdir.exists() and not workdir.is_dir():
        raise ConfigError(f"--workdir {workdir}: is a file, not a folder; choose another "
                          "--workdir")
    existing = workdir
    while not existing.exists():
        existing = existing.parent
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"--workdir {workdir}: {existing} is not writable (permissions or "
                          "a read-only file system); choose a writable --workdir")


def _has_data(workdir: Path) -> bool:
    return any((workdir / name).exists() for name in ("dataset.db", "labels")) or \
        any(workdir.glob("iter_[0-9][0-9][0-9]"))


def _read_state(workdir: Path) -> dict[str, Any] | None:
    path = workdir / STATE_FILE
    if not path.is_file():
        return None
    try:
        state = read_json(path)
        if isinstance(state, dict) and "frozen_digest" in state:
            return state
    except (OSError, ValueError):
        pass
    log.warning("%s is damaged; rebuilding it from %s", path, workdir / CONFIG_FILE)
    return None


def _rebuilt_digests(workdir: Path) -> set[str]:
    """The frozen digests of the settings the campaign ran with, from ``config.yaml``."""
    path = workdir / CONFIG_FILE
    try:
        cfg = config_from_dict(yaml.safe_load(path.read_text()), source=str(path))
    except (OSError, yaml.YAMLError, ConfigError) as err:
        raise ConfigError(
            f"{workdir}: {STATE_FILE} is missing or damaged and {path} cannot be read "
            f"({type(err).__name__}), so the settings this campaign was started with are "
            "unknown; restore one of them, or start a new --workdir") from None
    return _digests(cfg)


def open_workdir(workdir: Path, cfg: CampaignConfig, *, writer: bool) -> bool:
    """Check that ``cfg`` may run in ``workdir``, and record it there (writer rank).

    Returns
    -------
    True when a campaign is resumed, False for a new one.

    Raises
    ------
    ConfigError
        When the frozen settings differ from those the campaign was started with.
    """
    state = _read_state(workdir)
    resuming = state is not None or _has_data(workdir)
    if resuming:
        started = {state["frozen_digest"]} if state else _rebuilt_digests(workdir)
        if state and not started & _digests(cfg) and (workdir / CONFIG_FILE).is_file():
            # written before a key was added to the schema: compare with the settings
            # in config.yaml read by today's schema
            with contextlib.suppress(ConfigError):
                started |= _rebuilt_digests(workdir)
        if not started & _digests(cfg):
            raise ConfigError(
                f"{workdir}: this campaign was started with different "
                f"{'/'.join(FROZEN_SECTIONS)} settings (see {workdir / CONFIG_FILE}); resume "
                "with the same settings, or start a new --workdir")
        log.info("resuming campaign in %s", workdir)
    if writer:
        write_status(workdir, cfg, "running")
        write_text_atomic(workdir / CONFIG_FILE,
                          yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    return resuming


def write_status(workdir: Path, cfg: CampaignConfig, status: str, **extra: Any) -> None:
    """Write ``campaign.json``: the frozen digest, the status and ``extra`` fields."""
    write_json_atomic(workdir / STATE_FILE,
                      {"frozen_digest": frozen_digest(cfg), "status": status, **extra})


def check_dataset_present(workdir: Path, *, init_done: bool, url: str | None = None) -> None:
    """Refuse to run when the dataset (``dataset.db``, or the database at ``url``) is gone
    but the campaign had written data.

    The label journal keeps each label's values but not its structure, so the
    rows cannot be rebuilt from it; carrying on would relabel everything and
    mark nothing consistently.
    """
    if url:
        from alearn.database import redact, server_has_dataset

        if not server_has_dataset(url) and init_done:  # unreachable: an error before any work
            raise ConfigError(f"dataset {redact(url)} holds no dataset, but this campaign "
                              "already has data (initial data marked done); restore the "
                              "database from a backup, or start a new --workdir")
        return
    if (workdir / "dataset.db").is_file():
        return
    journal = sorted((workdir / "labels").glob("row_*.json"))
    if init_done or journal:
        raise ConfigError(
            f"{workdir / 'dataset.db'} is missing, but this campaign already has data "
            f"({len(journal)} labels in {workdir / 'labels'}"
            f"{', initial data marked done' if init_done else ''}); restore dataset.db "
            "from a backup, or start a new --workdir")


@contextlib.contextmanager
def hold(workdir: Path, workers: Workers) -> Iterator[None]:
    """Hold ``workdir``'s lock (the writer rank, for all ranks) and end leftover children.

    Raises
    ------
    WorkdirBusy
        On every rank, when another run holds the workdir.
    """
    lock = WorkdirLock(workdir, ranks=workers.size) if workers.is_writer \
        else contextlib.nullcontext()
    refused = None
    try:
        lock.__enter__()
    except WorkdirBusy as err:
        refused = str(err)
    refused = workers.bcast(refused)
    if refused:
        raise WorkdirBusy(refused)
    try:
        if workers.is_writer:
            end_recorded(workdir)  # a killed run's trainers and label workers
        workers.barrier()
        yield
    finally:
        lock.__exit__(None, None, None)


@contextlib.contextmanager
def stop_on_signals(workdir: Path, stopping: threading.Event) -> Iterator[None]:
    """On SIGTERM or SIGINT: set ``stopping``, end the children recorded in ``workdir``,
    and raise :class:`CampaignInterrupted` in the main thread (elsewhere: no handler)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        stopping.set()
        end_recorded(workdir, grace_s=0.5)
        raise CampaignInterrupted(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
