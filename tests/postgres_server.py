"""A throwaway PostgreSQL server for the tests (Debian's ``postgresql`` package).

The cluster is initialised in a fresh temporary folder and listens on a free
loopback port only; it is stopped and removed afterwards. PostgreSQL refuses
to run as root, so as root it runs as the package's ``postgres`` system user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _bindir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unavailable() -> str | None:
    """Why no server can be started here, or None."""
    if _bindir() is None:
        return "no PostgreSQL binaries (initdb): scripts/setup.sh installs Debian's postgresql"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without a 'postgres' user to run the server as"
    return None


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Start a server; yield the URL of its maintenance database ``postgres``."""
    bindir = _bindir()
    folder = Path(tempfile.mkdtemp(prefix="alearn-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, user="postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    data = folder / "data"

    def run(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, timeout=120)

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "alearn", "-E",
            "UTF8", "--no-sync")
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w",
            "-t", "60", "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off", "start")
        yield f"postgresql://alearn@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m",
                            "immediate", "-w", "stop"], capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


def new_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the server; its URL."""
    import psycopg2

    con = psycopg2.connect(server_url)
    try:
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        con.close()
    return server_url.rsplit("/", 1)[0] + f"/{name}"
