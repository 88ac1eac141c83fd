"""Where a campaign's dataset lives, and opening it: a SQLite file (the default,
``WORKDIR/dataset.db``) or a PostgreSQL database (``dataset: postgresql://...``).

Both are ASE databases; PostgreSQL goes through ASE's own backend (package
``ase-db-backends``, driver ``psycopg2``). A server suits work directories on
file systems without reliable locks (some network file systems) and campaigns
whose data others read while they run. Every write is one transaction on
both: :class:`PostgreSQLDataset` adds the rollback that ASE's PostgreSQL
connection lacks, so a failed write leaves nothing behind.

One database (or schema: ``?options=-csearch_path%3Dname``) holds one
campaign: the first run binds it to its work directory (:func:`claim`), and
any other campaign is refused there.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from alearn.errors import AlearnError, ConfigError
from alearn.state import read_json, write_json_atomic

__all__ = ["DATABASE_ERRORS", "SERVER_SCHEMES", "claim", "connect", "is_server",
           "location", "redact", "server_has_dataset", "workdir_location"]

SERVER_SCHEMES = ("postgresql://", "postgres://")
SQLITE_FILE = "dataset.db"
#: the campaign id that binds a server's database to its work directory
CLAIM_FILE = "dataset_claim.json"


def _driver_errors() -> tuple[type[BaseException], ...]:
    try:
        import psycopg2
    except ImportError:
        return ()
    return (psycopg2.Error,)


#: errors of reading or writing a dataset, on either backend
DATABASE_ERRORS: tuple[type[BaseException], ...] = (sqlite3.DatabaseError, *_driver_errors())


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())


def is_server(where: str | Path) -> bool:
    """True for a PostgreSQL URL, False for a file."""
    return isinstance(where, str) and where.startswith(SERVER_SCHEMES)


def redact(where: str | Path) -> str:
    """``where`` without a password (for messages and logs)."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", str(where))


def location(workdir: Path, url: str | None) -> str | Path:
    """The dataset of a campaign in ``workdir``: the server ``url``, or the SQLite file."""
    return url if url else Path(workdir) / SQLITE_FILE


def workdir_location(workdir: Path) -> str | Path:
    """The dataset of an existing campaign, from its ``config.yaml`` (the settings in
    force); the SQLite file when the file is missing or names no server."""
    try:
        data = yaml.safe_load((Path(workdir) / "config.yaml").read_text())
        url = data.get("dataset") if isinstance(data, dict) else None
    except (OSError, yaml.YAMLError):
        url = None
    return location(workdir, url if isinstance(url, str) and is_server(url) else None)


def connect(where: str | Path):
    """The ASE database at ``where`` (created on first write)."""
    import ase.db

    if not is_server(where):
        # serial=True: every rank reads for itself (ASE would otherwise broadcast from
        # rank 0, a collective call that deadlocks when one rank reads alone).
        return ase.db.connect(str(where), serial=True)
    return _postgres_class()(where, serial=True)


def _postgres_class():
    try:
        from ase_db_backends.postgresql import Connection, PostgreSQLDatabase
    except ImportError as err:
        raise ConfigError(f"dataset: a PostgreSQL dataset needs the package ase-db-backends "
                          f"(and psycopg2): pip install ase-db-backends ({err})") from None

    class _Connection(Connection):
        def rollback(self) -> None:
            self.con.rollback()

    class PostgreSQLDataset(PostgreSQLDatabase):
        """ASE's PostgreSQL database whose transactions roll back on an error."""

        def _connect(self):
            import psycopg2

            return _Connection(psycopg2.connect(self.filename))

    return PostgreSQLDataset


def server_has_dataset(url: str) -> bool:
    """True when the database at ``url`` holds ASE's tables (only reads).

    Raises
    ------
    AlearnError
        When the server cannot be reached (the message names it, without password).
    """
    import psycopg2

    try:
        with contextlib.closing(psycopg2.connect(url)) as con, con.cursor() as cur:
            cur.execute("SELECT to_regclass('systems') IS NOT NULL")
            return bool(cur.fetchone()[0])
    except psycopg2.Error as err:
        raise AlearnError(f"dataset {redact(url)}: cannot be read ({_one_line(err)}); check "
                          "that the server runs and the URL (user, host, port, database)") \
            from None


def claim(db: Any, workdir: Path) -> None:
    """Bind a server's database to the campaign in ``workdir``, or refuse another's.

    The first use draws a campaign id, writes it to ``WORKDIR/dataset_claim.json``
    (so a moved work directory keeps it) and to the database's metadata. Later
    runs must bring the same id.

    Raises
    ------
    ConfigError
        When the database holds the data of another campaign, or the work directory
        lost its claim file.
    """
    path = Path(workdir) / CLAIM_FILE
    mine = read_json(path).get("campaign_id") if path.is_file() else None
    meta = db.metadata
    held = meta.get("alearn_campaign_id")
    if held is not None and held != mine:
        lost = "" if mine else f" (and {path} is missing: restore it if this is that campaign)"
        raise ConfigError(
            f"dataset {redact(db.filename)}: holds the data of another campaign, started in "
            f"{meta.get('alearn_workdir')}{lost}; give each campaign its own database, or "
            "schema (?options=-csearch_path%3D<name>)")
    if mine is None:
        mine = uuid.uuid4().hex
        write_json_atomic(path, {"campaign_id": mine, "dataset": redact(db.filename)})
    if held is None:
        db.metadata = {**meta, "alearn_campaign_id": mine,
                       "alearn_workdir": str(Path(workdir).resolve())}


@contextlib.contextmanager
def naming_errors(where: str | Path, fix: str) -> Iterator[None]:
    """Turn a database error into an AlearnError naming ``where`` and saying ``fix``."""
    try:
        yield
    except DATABASE_ERRORS as err:
        raise AlearnError(f"{redact(where)}: cannot be used ({_one_line(err)}); {fix}") \
            from None
