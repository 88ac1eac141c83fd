"""Production MD for transport: NVT (optionally after NPT equilibration), resumable.

:func:`run_md` writes an ASE trajectory with *unwrapped* positions (ASE's
integrators never wrap atoms back into the cell, and frames are written from
the integrator's own positions) and momenta every ``interval_steps`` steps.
Each frame's ``info`` records ``step``, ``time_fs``, ``temperature_K`` (target),
``timestep_fs``, ``interval_steps``, ``thermostat``, ``epot_eV`` and
``temperature_inst_K``, plus what an optional ``frame_info`` callback returns
(e.g. each electronic state's energy under a λ-mixed calculator). Calling
:func:`run_md` again with the same file continues from the last frame up to
``n_steps`` (a crashed or stopped run is finished by re-running the same command).

Under MPI every process that calls :func:`run_md` reads and writes its own file
(ASE's default of writing on rank 0 only and broadcasting reads is switched
off), so independent runs can be dealt to ranks (umbrella windows, fields);
give each rank its own path.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import ase.io
import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import BaseCalculator, PropertyNotImplementedError
from ase.io.trajectory import Trajectory
from ase.md.bussi import Bussi
from ase.md.langevin import Langevin
from ase.md.md import MolecularDynamics
from ase.md.nptberendsen import NPTBerendsen
from ase.md.verlet import VelocityVerlet
from ase.parallel import DummyMPI

from alearn.errors import ConfigError

from .thermostats import PeculiarBussi

log = logging.getLogger(__name__)

ThermostatName = Literal["bussi", "langevin", "peculiar_bussi", "nve"]
_THERMOSTATS = ("bussi", "langevin", "peculiar_bussi", "nve")


@dataclass(frozen=True)
class NPTOptions:
    """Isotropic Berendsen NPT equilibration before production (not written to the trajectory).

    Berendsen coupling relaxes the density quickly and robustly but does not
    sample the NPT ensemble; it is used here only to find the volume. The
    production cell is the average cell over the last ``average_fraction``
    of the equilibration.

    Parameters
    ----------
    n_steps
        Equilibration steps.
    pressure_bar
        Target pressure in bar.
    barostat_time_fs
        Pressure relaxation time in fs.
    compressibility_per_bar
        Estimated isothermal compressibility in 1/bar (sets the coupling
        strength; ~1e-6 for ionic solids, ~5e-5 for liquids).
    average_fraction
        Fraction of the equilibration over which the cell is averaged.
    """

    n_steps: int
    pressure_bar: float = 1.0
    barostat_time_fs: float = 1000.0
    compressibility_per_bar: float = 1e-6
    average_fraction: float = 0.5

    def __post_init__(self) -> None:
        if self.n_steps < 1 or not 0.0 < self.average_fraction <= 1.0:
            raise ConfigError(f"NPTOptions: n_steps={self.n_steps} must be >= 1 and "
                              f"average_fraction={self.average_fraction} in (0, 1]")


@dataclass(frozen=True)
class MDOptions:
    """Settings of a production MD run.

    Parameters
    ----------
    temperature_K
        Target temperature in K.
    timestep_fs
        Integration time step in fs.
    n_steps
        Total number of production steps (a resumed run stops here too);
        a multiple of ``interval_steps``.
    interval_steps
        Write a frame every this many steps.
    thermostat
        ``"bussi"`` (stochastic velocity rescaling, global; default: barely
        perturbs the dynamics, so transport coefficients are reliable),
        ``"langevin"`` (per-atom friction 1/``thermostat_time_fs``; damps
        diffusion for large friction), ``"peculiar_bussi"`` (for field-driven
        MD, see :class:`~alearn.protocols.thermostats.PeculiarBussi`) or
        ``"nve"``.
    thermostat_time_fs
        Bussi relaxation time, or 1/γ for Langevin, in fs.
    seed
        Seed of the random streams (initial velocities, thermostat noise).
        A run resumed at step s uses the stream seeded by ``(seed, s)``.
    npt
        Optional NPT equilibration before production.
    """

    temperature_K: float
    timestep_fs: float
    n_steps: int
    interval_steps: int = 10
    thermostat: ThermostatName = "bussi"
    thermostat_time_fs: float = 100.0
    seed: int = 0
    npt: NPTOptions | None = None

    def __post_init__(self) -> None:
        if self.thermostat not in _THERMOSTATS:
            raise ConfigError(f"MDOptions.thermostat={self.thermostat!r}; "
                              f"use one of {_THERMOSTATS}")
        if self.interval_steps < 1 or self.n_steps % self.interval_steps:
            raise ConfigError(
                f"MDOptions: n_steps={self.n_steps} must be a multiple of "
                f"interval_steps={self.interval_steps} (>= 1) so frames stay evenly spaced"
            )
        if self.temperature_K <= 0 or self.timestep_fs <= 0 or self.thermostat_time_fs <= 0:
            raise ConfigError("MDOptions: temperature_K, timestep_fs and thermostat_time_fs "
                              "must be positive")


@dataclass(frozen=True)
class MDRun:
    """What :func:`run_md` did.

    Parameters
    ----------
    path
        Trajectory file.
    n_frames
        Frames in the file now.
    start_step
        Step at which this call started (0 for a fresh run).
    final_step
        Last step written.
    resumed
        True when an existing trajectory was continued.
    """

    path: Path
    n_frames: int
    start_step: int
    final_step: int
    resumed: bool


def run_md(
    atoms: Atoms,
    calculator: BaseCalculator,
    path: str | os.PathLike,
    *,
    options: MDOptions,
    extra_info: Mapping[str, Any] | None = None,
    frame_info: Callable[[Atoms], Mapping[str, Any]] | None = None,
    comm: Any = None,
) -> MDRun:
    """Run (or resume) production MD and write frames to an ASE trajectory.

    Parameters
    ----------
    atoms
        Starting structure (not modified; the run works on a copy). Momenta,
        if set, are kept; otherwise drawn from Maxwell–Boltzmann at the target
        temperature with zero total momentum.
    calculator
        Any ASE calculator (committee, Δ-ML sum, field wrapper, ...).
    path
        Trajectory file (``*.traj``). If it holds frames, the run resumes from the
        last one. ASE's trajectory format updates its frame count only after a
        frame is complete, so a run killed mid-write leaves a readable file.
    options
        Run settings; must match those recorded in an existing file.
    extra_info
        Additional JSON-able values stored in every frame's ``info``.
    frame_info
        Called with the MD's atoms (calculator attached, results of the frame's
        positions) when a frame is written; the JSON-able values it returns go
        into that frame's ``info``.
    comm
        The MPI communicator of the run: None (default) or ``ase.parallel.DummyMPI()``
        for a run of this process alone (independent runs on the ranks of
        ``mpirun``: each writes its own file, draws its own random numbers); ASE's
        ``world`` for one MD over all ranks (e.g. with a GPAW calculator: rank 0
        writes the file).

    Returns
    -------
    MDRun
    """
    path = Path(path)
    if path.suffix != ".traj":
        raise ConfigError(f"run_md writes an ASE trajectory; name the file *.traj, not {path}")
    last = _last_frame(path)
    work = atoms.copy()
    work.calc = calculator
    extra = _FrameInfo(extra_info or {}, frame_info)
    if last is None:
        _start_fresh(work, path, options, extra, comm)
        step = 0
    else:
        step = _restore(work, last, path, options)
    start = step
    if step >= options.n_steps:
        log.info("%s already holds %d steps; nothing to do", path, step)
    else:
        step = _production(work, path, options, step, extra, comm)
    n_frames = _count_frames(path)
    return MDRun(path, n_frames, start, step, last is not None)


@dataclass(frozen=True)
class _FrameInfo:
    """What goes into every frame's ``info`` besides the run's own keys."""

    static: Mapping[str, Any]
    callback: Callable[[Atoms], Mapping[str, Any]] | None = None

    def of(self, atoms: Atoms) -> dict[str, Any]:
        return {**self.static, **(self.callback(atoms) if self.callback else {})}


def _start_fresh(work: Atoms, path: Path, options: MDOptions, extra: _FrameInfo,
                 comm: Any = None) -> None:
    rng = _rng(options.seed, 0)
    if not work.has("momenta") or np.allclose(work.get_momenta(), 0.0):
        work.set_momenta(maxwell_boltzmann_momenta(work.get_masses(), options.temperature_K, rng))
    if options.npt is not None:
        equilibrate_npt(work, options, options.npt)  # deterministic: no communicator
    path.parent.mkdir(parents=True, exist_ok=True)
    with Trajectory(path, "w", master=_master(comm)) as traj:
        _write_frame(traj, work, 0, options, extra)


def _restore(work: Atoms, last: Atoms, path: Path, options: MDOptions) -> int:
    if last.get_chemical_symbols() != work.get_chemical_symbols():
        raise ConfigError(f"{path}: the trajectory holds other atoms than the structure given; "
                          "use a new trajectory file for a new system")
    info = last.info
    recorded = {"timestep_fs": options.timestep_fs, "interval_steps": options.interval_steps,
                "temperature_K": options.temperature_K, "thermostat": options.thermostat}
    for key, want in recorded.items():
        if key not in info or info[key] != want:
            raise ConfigError(
                f"{path}: cannot resume: the file records {key}={info.get(key)!r} but the options "
                f"say {want!r}; restore the original options or write to a new file"
            )
    work.set_cell(last.cell)
    work.set_positions(last.get_positions())
    work.set_momenta(last.get_momenta())
    step = int(info["step"])
    log.info("resuming %s from step %d", path, step)
    return step


def _production(work: Atoms, path: Path, options: MDOptions, step: int,
                extra: _FrameInfo, comm: Any = None) -> int:
    dyn = make_dynamics(work, options, _rng(options.seed, step), comm=comm)
    n_chunks = (options.n_steps - step) // options.interval_steps
    report = max(1, n_chunks // 10)
    with Trajectory(path, "a", master=_master(comm)) as traj:
        for k in range(n_chunks):
            dyn.run(options.interval_steps)
            step += options.interval_steps
            _write_frame(traj, work, step, options, extra)
            if (k + 1) % report == 0:
                log.info("%s: step %d / %d, T = %.1f K", path.name, step, options.n_steps,
                         work.get_temperature())
    return step


def maxwell_boltzmann_momenta(masses_amu: np.ndarray, temperature_K: float,
                              rng: np.random.Generator) -> np.ndarray:
    """Momenta (ASE units, shape (N, 3)) drawn at ``temperature_K``, total momentum removed."""
    m = np.asarray(masses_amu, dtype=float)[:, None]
    p = rng.standard_normal((m.shape[0], 3)) * np.sqrt(m * units.kB * temperature_K)
    return p - m * (p.sum(axis=0) / m.sum())


def _master(comm: Any) -> bool:
    """Whether this process writes the trajectory (None: its own run, it writes)."""
    return True if comm is None else comm.rank == 0


def _comm_kw(comm: Any) -> dict[str, Any]:
    """The communicator for ASE's integrators. None gives a serial one: ASE's default
    would broadcast the thermostat noise from MPI rank 0, which ties together runs
    that ranks make independently (umbrella windows, screening candidates) and
    deadlocks when they differ in length."""
    return {"comm": DummyMPI() if comm is None else comm}


def make_dynamics(atoms: Atoms, options: MDOptions, rng: np.random.Generator, *,
                  comm: Any = None) -> MolecularDynamics:
    """The ASE integrator for ``options.thermostat`` (time units converted from fs);
    ``comm`` as in :func:`run_md`."""
    kw = _comm_kw(comm)
    dt = options.timestep_fs * units.fs
    tau = options.thermostat_time_fs * units.fs
    temp = options.temperature_K
    if options.thermostat == "nve":
        return VelocityVerlet(atoms, dt, **kw)
    if options.thermostat == "langevin":
        return Langevin(atoms, dt, temperature_K=temp, friction=1.0 / tau, fixcm=False, rng=rng,
                        **kw)
    if options.thermostat == "peculiar_bussi":
        return PeculiarBussi(atoms, dt, temp, tau, rng=rng, **kw)
    return Bussi(atoms, dt, temp, tau, rng=rng, **kw)


def equilibrate_npt(atoms: Atoms, options: MDOptions, npt: NPTOptions) -> None:
    """Berendsen NPT, then set the cell to its average over the last part (in place)."""
    dyn = NPTBerendsen(atoms, options.timestep_fs * units.fs, temperature_K=options.temperature_K,
                       pressure_au=npt.pressure_bar * units.bar,
                       taut=options.thermostat_time_fs * units.fs,
                       taup=npt.barostat_time_fs * units.fs,
                       compressibility_au=npt.compressibility_per_bar / units.bar)
    n_avg = max(1, int(round(npt.average_fraction * npt.n_steps)))
    cells: list[np.ndarray] = []
    try:
        dyn.run(npt.n_steps - n_avg)
        dyn.attach(lambda: cells.append(atoms.cell.array.copy()), interval=1)
        dyn.run(n_avg)
    except PropertyNotImplementedError as err:
        raise ConfigError("NPT equilibration needs the stress from the calculator, which "
                          f"{type(atoms.calc).__name__} does not provide; set npt=None and "
                          "choose the volume yourself") from err
    mean_cell = np.mean(cells, axis=0)
    log.info("NPT equilibration: volume %.4g Å³ (mean of %d steps)", abs(np.linalg.det(mean_cell)),
             len(cells))
    atoms.set_cell(mean_cell, scale_atoms=True)


def _write_frame(traj: Trajectory, work: Atoms, step: int, options: MDOptions,
                 extra: _FrameInfo) -> None:
    snap = Atoms(numbers=work.numbers, positions=work.get_positions(), cell=work.cell,
                 pbc=work.pbc, momenta=work.get_momenta(), masses=work.get_masses(),
                 tags=work.get_tags())
    epot = float(work.get_potential_energy())
    snap.info = {**extra.of(work), "step": step, "time_fs": step * options.timestep_fs,
                 "temperature_K": options.temperature_K, "timestep_fs": options.timestep_fs,
                 "interval_steps": options.interval_steps, "thermostat": options.thermostat,
                 "epot_eV": epot,
                 "temperature_inst_K": float(work.get_temperature())}
    traj.write(snap)


def _last_frame(path: Path) -> Atoms | None:
    if not path.exists() or path.stat().st_size == 0:
        return None
    try:
        return ase.io.read(path, index=-1, parallel=False)  # every rank reads for itself
    except (StopIteration, IndexError):
        return None


def _count_frames(path: Path) -> int:
    with Trajectory(path, "r") as traj:
        return len(traj)


def _rng(seed: int, step: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(step)])
