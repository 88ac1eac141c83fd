"""Model files: their SHA-256, and a logged notice before one is unpickled.

A mace-torch ``.model`` file is a pickled ``torch.nn.Module``: ``torch.load(path,
weights_only=False)`` runs whatever code the file's pickle names. A campaign loads
model files only from paths its configuration names (``committee.foundation_model``)
or that it wrote itself, and records their hashes (:mod:`alearn.model_provenance`).
Code that loads a model from any other path (e.g. a user's
``CommitteeCalculator(model_paths=[...])``) says so in the log, with the file's
hash, through :func:`announce_load`.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

log = logging.getLogger(__name__)

__all__ = ["announce_load", "sha256_file"]

_CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of the file at ``path`` (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def announce_load(path: str | Path) -> str:
    """Log that ``path`` is about to be unpickled by ``torch.load``; return its SHA-256.

    The first time a process loads a file (path, size and modification time) the
    record is INFO (logger ``alearn.calculators.model_files``): it names the file,
    its size and the start of its hash, so that a log shows which files ran code
    in the process. Later loads of the same, unchanged file are DEBUG records (a
    campaign loads its committee several times an iteration) and are not hashed
    again.
    """
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    sha = _SEEN.get(key)
    if sha is not None:
        log.debug("torch.load %s (sha256 %s..., loaded before)", path, sha[:16])
        return sha
    sha = _SEEN[key] = sha256_file(path)
    log.info("torch.load %s (%.1f MB, sha256 %s...): unpickling runs code from the file; "
             "load only model files you trust", path, stat.st_size / 1e6, sha[:16])
    return sha


#: (resolved path, size, mtime in ns) → SHA-256 of the files announced in this process
_SEEN: dict[tuple[str, int, int], str] = {}
