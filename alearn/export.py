"""``alearn export``: the labeled frames in any format ASE writes that holds several
frames.

extxyz (the default for ``.xyz``) keeps mace-torch's keys (``REF_energy``,
``REF_forces``, ``REF_stress``, ``BASE_*``/``DELTA_*``) and the provenance in
``info``; other formats get the labels as the frames' energy, forces and stress
(ASE's own names), as far as the format stores them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from ase.io.formats import filetype, ioformats

from alearn.errors import AlearnError

__all__ = ["export_format", "export_formats", "write_frames"]

#: formats ASE writes with several frames that are no data files (images, video,
#: databases on a server, folders, Python source)
_NOT_DATA = {"gif", "mp4", "mysql", "postgresql", "bundletrajectory", "py", "findsym"}


def export_formats() -> dict[str, list[str]]:
    """The formats ``alearn export`` writes: name → the file extensions that fit it."""
    return {name: _extensions(name) for name, fmt in sorted(ioformats.items())
            if fmt.can_write and not fmt.single and name not in _NOT_DATA}


def _extensions(name: str) -> list[str]:
    fmt = ioformats[name]
    return sorted(set(fmt.extensions) | ({name} if name.isalnum() else set()))


def export_format(output: Path, fmt: str | None) -> str:
    """The format to write ``output`` in: ``fmt`` (checked against the file's extension),
    or the one its extension names.

    Raises
    ------
    AlearnError
        For an unknown format, one that holds one frame only, an extension that does
        not fit the format, or no format and an unknown extension.
    """
    formats = export_formats()
    listed = ", ".join(formats)
    suffix = output.suffix.lstrip(".").lower()
    if fmt is None:
        try:
            fmt = filetype(str(output), read=False)
        except (ValueError, KeyError):
            fmt = None
        if fmt not in formats:
            raise AlearnError(f"{output}: cannot tell the format from the extension "
                              f"'.{suffix}'; give --format, one of: {listed}")
        return fmt
    if fmt not in ioformats or not ioformats[fmt].can_write:
        raise AlearnError(f"--format {fmt}: not a format ASE writes; use one of: {listed}")
    if fmt not in formats:
        raise AlearnError(f"--format {fmt}: holds one structure only (or is no data file); "
                          f"use one that holds several: {listed}")
    allowed = formats[fmt]
    if allowed and suffix not in allowed:
        raise AlearnError(f"{output}: the extension '.{suffix}' does not fit --format {fmt}; "
                          f"name the file *.{allowed[0]}"
                          + (f" (or *.{', *.'.join(allowed[1:])})" if len(allowed) > 1 else ""))
    return fmt


def write_frames(frames: Sequence[Atoms], path: str | Path, fmt: str) -> None:
    """Write labeled frames (``REF_*`` keys) to ``path`` in format ``fmt``."""
    if fmt != "extxyz":
        frames = [_with_labels(a) for a in frames]
    write(str(path), list(frames), format=fmt, parallel=False)


def _with_labels(atoms: Atoms) -> Atoms:
    """A copy carrying its reference label as ASE results (energy, forces, stress)."""
    out = atoms.copy()
    results = {"energy": atoms.info["REF_energy"], "forces": atoms.arrays["REF_forces"]}
    if "REF_stress" in atoms.info:
        results["stress"] = atoms.info["REF_stress"]
    out.calc = SinglePointCalculator(out, **results)
    return out
