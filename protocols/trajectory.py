"""MD trajectories as arrays: reading ASE ``.traj``/extxyz files and unwrapping positions.

Every analysis in :mod:`alearn.protocols` takes an :class:`MDTrajectory`, whether
it came from :func:`alearn.protocols.run_md` or from a file the user brings.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms

from alearn.errors import ConfigError

from .units import ASE_VELOCITY_TO_A_PER_FS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MDTrajectory:
    """Unwrapped positions (and velocities) of an MD run, sampled at a uniform interval.

    Parameters
    ----------
    symbols
        Chemical symbol per atom, length N.
    masses_amu
        Atomic masses in amu, shape (N,).
    positions_A
        Unwrapped Cartesian positions in Å, shape (F, N, 3): an atom that
        leaves the cell keeps moving continuously instead of re-entering.
    cells_A
        Cell vectors (rows) in Å, shape (F, 3, 3).
    time_fs
        Simulation time of each frame in fs, shape (F,), uniformly spaced.
    velocities_A_fs
        Velocities in Å/fs, shape (F, N, 3), or None when the source has no
        momenta (Green–Kubo then cannot be used).
    temperature_K
        Thermostat temperature recorded in the file, or None.
    source
        Where the data came from (a file name or ``"arrays"``), used in messages.
    """

    symbols: tuple[str, ...]
    masses_amu: np.ndarray
    positions_A: np.ndarray
    cells_A: np.ndarray
    time_fs: np.ndarray
    velocities_A_fs: np.ndarray | None = None
    temperature_K: float | None = None
    source: str = "arrays"

    def __post_init__(self) -> None:
        n_frames, n_atoms = self.positions_A.shape[:2]
        if self.positions_A.shape != (n_frames, n_atoms, 3) or n_atoms != len(self.symbols):
            raise ConfigError(
                f"{self.source}: positions have shape {self.positions_A.shape}, expected "
                f"(n_frames, {len(self.symbols)}, 3) for {len(self.symbols)} symbols"
            )
        if self.cells_A.shape != (n_frames, 3, 3) or self.time_fs.shape != (n_frames,):
            raise ConfigError(
                f"{self.source}: cells {self.cells_A.shape} / times {self.time_fs.shape} do not "
                f"match {n_frames} frames; expected ({n_frames}, 3, 3) and ({n_frames},)"
            )
        vel = self.velocities_A_fs
        if vel is not None and vel.shape != self.positions_A.shape:
            raise ConfigError(
                f"{self.source}: velocities shape {self.velocities_A_fs.shape} differs from "
                f"positions shape {self.positions_A.shape}"
            )
        if n_frames < 2:
            raise ConfigError(f"{self.source}: a trajectory needs at least 2 frames, "
                              f"got {n_frames}")
        _check_uniform_spacing(self.time_fs, self.source)

    @classmethod
    def from_arrays(
        cls,
        symbols: list[str] | tuple[str, ...],
        positions_A: np.ndarray,
        cells_A: np.ndarray,
        *,
        frame_interval_fs: float,
        velocities_A_fs: np.ndarray | None = None,
        masses_amu: np.ndarray | None = None,
        temperature_K: float | None = None,
        unwrap: bool = True,
    ) -> MDTrajectory:
        """Build a trajectory from arrays (for example from another MD code).

        Parameters
        ----------
        symbols
            Chemical symbols, length N.
        positions_A
            Positions in Å, shape (F, N, 3); wrapped or unwrapped.
        cells_A
            Cell in Å, shape (3, 3) (constant) or (F, 3, 3).
        frame_interval_fs
            Time between consecutive frames in fs.
        velocities_A_fs
            Optional velocities in Å/fs, shape (F, N, 3).
        masses_amu
            Masses in amu, shape (N,); defaults to ASE's atomic masses.
        temperature_K
            Temperature of the run, if known.
        unwrap
            Undo periodic wrapping (see :func:`unwrap_positions`). Harmless on
            already unwrapped input.
        """
        positions = np.asarray(positions_A, dtype=float)
        cells = np.asarray(cells_A, dtype=float)
        if cells.shape == (3, 3):
            cells = np.broadcast_to(cells, (positions.shape[0], 3, 3)).copy()
        if masses_amu is None:
            masses_amu = Atoms(symbols=list(symbols)).get_masses()
        if unwrap:
            positions = unwrap_positions(positions, cells)
        time = np.arange(positions.shape[0]) * float(frame_interval_fs)
        vel = None if velocities_A_fs is None else np.asarray(velocities_A_fs, dtype=float)
        return cls(tuple(symbols), np.asarray(masses_amu, float), positions, cells, time, vel,
                   temperature_K)

    @property
    def n_frames(self) -> int:
        """Number of frames F."""
        return int(self.positions_A.shape[0])

    @property
    def n_atoms(self) -> int:
        """Number of atoms N."""
        return int(self.positions_A.shape[1])

    @property
    def frame_interval_fs(self) -> float:
        """Time between consecutive frames in fs."""
        return float(self.time_fs[1] - self.time_fs[0])

    @property
    def duration_fs(self) -> float:
        """Time spanned by the frames, ``(F - 1) * frame_interval_fs``, in fs."""
        return float(self.time_fs[-1] - self.time_fs[0])

    @property
    def volume_A3(self) -> float:
        """Mean cell volume over the frames in Å³."""
        return float(np.mean(np.abs(np.linalg.det(self.cells_A))))

    @property
    def species(self) -> tuple[str, ...]:
        """Distinct chemical symbols in order of first appearance."""
        return tuple(dict.fromkeys(self.symbols))

    def indices(self, species: str) -> np.ndarray:
        """Indices of the atoms of one species, shape (N_s,)."""
        idx = np.flatnonzero(np.asarray(self.symbols) == species)
        if idx.size == 0:
            raise ConfigError(
                f"{self.source}: no atoms of species {species!r}; species present: {self.species}"
            )
        return idx

    def time_slice(self, start_fs: float = 0.0, stop_fs: float | None = None) -> MDTrajectory:
        """Frames with ``start_fs <= time - time[0] <= stop_fs`` (e.g. to drop equilibration)."""
        rel = self.time_fs - self.time_fs[0]
        keep = rel >= start_fs - 1e-9
        if stop_fs is not None:
            keep &= rel <= stop_fs + 1e-9
        vel = None if self.velocities_A_fs is None else self.velocities_A_fs[keep]
        return replace(self, positions_A=self.positions_A[keep], cells_A=self.cells_A[keep],
                       time_fs=self.time_fs[keep], velocities_A_fs=vel)


def unwrap_positions(positions_A: np.ndarray, cells_A: np.ndarray) -> np.ndarray:
    """Undo periodic wrapping by following each atom from frame to frame.

    Between consecutive frames the displacement is reduced to its minimum
    image in fractional coordinates of the later cell, then accumulated. This
    is exact as long as no atom moves more than half a cell width between two
    stored frames (store frames often enough), and is a no-op on already
    unwrapped positions. Variable cells (NPT) are handled frame by frame.

    Parameters
    ----------
    positions_A
        Positions in Å, shape (F, N, 3).
    cells_A
        Cell vectors (rows) in Å, shape (F, 3, 3).

    Returns
    -------
    numpy.ndarray
        Unwrapped positions in Å, shape (F, N, 3), equal to the input at frame 0.
    """
    steps = np.diff(positions_A, axis=0)
    inv = np.linalg.inv(cells_A[1:])
    frac = np.einsum("fnj,fjk->fnk", steps, inv)
    steps = steps - np.einsum("fnj,fjk->fnk", np.round(frac), cells_A[1:])
    out = np.empty_like(positions_A)
    out[0] = positions_A[0]
    np.cumsum(steps, axis=0, out=out[1:])
    out[1:] += positions_A[0]
    return out


def load_trajectory(
    path: str | os.PathLike,
    *,
    frame_interval_fs: float | None = None,
    start: int = 0,
    stop: int | None = None,
    stride: int = 1,
) -> MDTrajectory:
    """Read an ASE trajectory or extxyz file into an unwrapped :class:`MDTrajectory`.

    Parameters
    ----------
    path
        ASE ``.traj`` or extended XYZ (any format ``ase.io.read`` knows).
    frame_interval_fs
        Time between stored frames in fs. Needed when the frames carry no
        ``time_fs`` info (files written by :func:`run_md` do); when both are
        present they must agree.
    start, stop, stride
        Frame selection, as in ``frames[start:stop:stride]``.

    Returns
    -------
    MDTrajectory
        Positions unwrapped, velocities in Å/fs when the file has momenta.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"trajectory file {path} does not exist")
    frames = _FrameArrays()
    # parallel=False: under MPI every rank reads the file itself (no collective broadcast)
    for atoms in ase.io.iread(path, index=slice(start, stop, stride), parallel=False):
        frames.add(atoms, path)
    if len(frames.positions) < 2:
        raise ConfigError(f"{path}: needs at least 2 frames in [{start}:{stop}:{stride}], "
                          f"found {len(frames.positions)}")
    positions, cells = np.stack(frames.positions), np.stack(frames.cells)
    time = _frame_times(frames.times, path, frame_interval_fs, stride)
    velocities = (np.stack(frames.velocities) * ASE_VELOCITY_TO_A_PER_FS
                  if len(frames.velocities) == len(frames.positions) else None)
    log.info("read %d frames of %d atoms from %s", len(positions), len(frames.symbols), path)
    return MDTrajectory(frames.symbols, frames.masses, unwrap_positions(positions, cells), cells,
                        time, velocities, frames.temperature, str(path))


class _FrameArrays:
    """Per-frame arrays collected while streaming a file (no Atoms objects kept)."""

    def __init__(self) -> None:
        self.symbols: tuple[str, ...] = ()
        self.masses = np.empty(0)
        self.temperature: float | None = None
        self.positions: list[np.ndarray] = []
        self.cells: list[np.ndarray] = []
        self.velocities: list[np.ndarray] = []
        self.times: list[float | None] = []

    def add(self, atoms: Atoms, path: Path) -> None:
        symbols = tuple(atoms.get_chemical_symbols())
        if not self.positions:
            self.symbols, self.masses = symbols, atoms.get_masses()
            temp = atoms.info.get("temperature_K")
            self.temperature = None if temp is None else float(temp)
        elif symbols != self.symbols:
            raise ConfigError(f"{path}: frame {len(self.positions)} has different atoms than "
                              "frame 0; a trajectory must keep the same atoms in the same order")
        self.positions.append(atoms.get_positions())
        self.cells.append(atoms.cell.array.copy())
        if "momenta" in atoms.arrays:
            self.velocities.append(atoms.get_velocities())
        time = atoms.info.get("time_fs")
        self.times.append(None if time is None else float(time))


def _frame_times(stored: list[float | None], path: Path, frame_interval_fs: float | None,
                 stride: int) -> np.ndarray:
    if all(t is not None for t in stored):
        time = np.asarray(stored, dtype=float)
        expected = None if frame_interval_fs is None else frame_interval_fs * stride
        if expected is not None and not np.isclose(time[1] - time[0], expected):
            raise ConfigError(
                f"{path}: frames record {(time[1] - time[0]) / stride:g} fs between stored frames "
                f"but frame_interval_fs={frame_interval_fs:g} was given; drop the argument or "
                "fix it"
            )
        return time
    if frame_interval_fs is None:
        raise ConfigError(
            f"{path}: frames carry no 'time_fs' info; pass frame_interval_fs (the time between "
            "consecutive frames in the file, in fs)"
        )
    return np.arange(len(stored)) * float(frame_interval_fs) * stride


def _check_uniform_spacing(time_fs: np.ndarray, source: str) -> None:
    dt = np.diff(time_fs)
    if np.any(dt <= 0) or not np.allclose(dt, dt[0], rtol=1e-6, atol=1e-9):
        bad = int(np.argmax(~np.isclose(dt, dt[0], rtol=1e-6, atol=1e-9) | (dt <= 0)))
        raise ConfigError(
            f"{source}: frames are not uniformly spaced in time (Δt = {dt[0]:g} fs at the start, "
            f"{dt[bad]:g} fs after frame {bad}); analyse uniform segments separately"
        )
