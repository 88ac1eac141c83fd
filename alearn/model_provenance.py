"""Which model files a campaign used: their SHA-256, recorded and checked.

A campaign loads model files (pickled ``torch.nn.Module``\\ s, whose loading runs
code, see :mod:`alearn.calculators.model_files`) only from two kinds of path:

* the file the configuration names, ``committee.foundation_model`` (its hash is
  recorded in ``<workdir>/foundation.json``, :mod:`alearn.foundation`), and
* the files it wrote itself: ``iter_NNN/committee/member_k.model``. Their hashes
  go into the iteration's train marker (``models_sha256``, member file name →
  hash), as do those of the files the members started from (``start_sha256``:
  the previous iteration's members, or the foundation's start copies).

Before a committee is loaded (:func:`alearn.trained_committee.committee_calculator`) and
before its members are warm-started from, the files are hashed again and compared
with the marker: a replaced file stops the campaign with a message naming it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from alearn.calculators.model_files import sha256_file
from alearn.errors import AlearnError

__all__ = ["ModelFileChanged", "models_sha256", "verify_models"]


class ModelFileChanged(AlearnError):
    """A model file differs from the one the campaign recorded; the message names it."""


def models_sha256(paths: Sequence[Path]) -> dict[str, str]:
    """File name → SHA-256 of each of ``paths`` (names are unique within a committee)."""
    return {Path(p).name: sha256_file(p) for p in paths}


def verify_models(paths: Sequence[Path], recorded: Mapping[str, str] | None, *,
                  marker: Path) -> None:
    """Raise :class:`ModelFileChanged` if a file's hash differs from ``recorded``.

    Parameters
    ----------
    paths
        Model files about to be loaded.
    recorded
        File name → SHA-256 from ``marker`` (None or missing names: not checked,
        e.g. a committee trained before hashes were recorded).
    marker
        The marker holding ``recorded``, named in the message.
    """
    if not recorded:
        return
    for path in paths:
        expected = recorded.get(Path(path).name)
        if expected is None or not Path(path).is_file():
            continue
        actual = sha256_file(path)
        if actual != expected:
            raise ModelFileChanged(
                f"{path}: sha256 {actual} differs from {expected}, recorded in {marker} when "
                "the campaign wrote it: the file was replaced. Restore it, or delete "
                f"{Path(path).parent} and {marker} to train this committee again; then "
                "rerun 'alearn run'")


def recorded_hashes(marker: dict, folder: Path) -> dict[str, str] | None:
    """The member hashes a train marker recorded for the committee in ``folder``: those of
    the folder's electronic state (``committee_<state>``, under ``states``) where the
    campaign has states, else the marker's own ``models_sha256``."""
    state = folder.name.removeprefix("committee_") if folder.name != "committee" else None
    return ((marker.get("states") or {}).get(state) or marker).get("models_sha256")
