"""Bootstrap: the first frames of a campaign, labeled by the oracle before any committee.

Two methods (``initial_data.bootstrap.method``), both giving ``n_per_system``
frames per system, the unperturbed start structure first:

``rattle``
    Copies with Gaussian noise on the positions and, for 3D-periodic cells,
    a random strain (:func:`perturbed_copies`). Cheap, but the copies are
    near-identical: a committee trained on them agrees with itself far from
    the start structure, and in condensed phases its walkers run off.
``md``
    Frames of short Langevin NVT runs on a *cheap* calculator (the
    ``initial_data.bootstrap.md.calculator`` section, else the campaign's
    Δ-ML ``baseline``), one run per temperature and, for 3D-periodic cells,
    per cell (the start cell and ``strained_cells`` random strains); each
    run equilibrates, then gives a frame every ``sample_interval`` steps
    (:func:`md_frames`). Broken frames (:func:`alearn.uncertainty.broken_structure`)
    are not taken: the run starts again from its start with new velocities.
    The calculator may be the committee's foundation model (``kind: foundation``,
    as aims-PAX starts); with ``md.oversample`` k > 1 the runs give k times the
    frames and farthest-point sampling in the foundation's descriptor space keeps
    the most diverse (:func:`most_diverse`).

Randomness (strains, velocities, Langevin noise) comes from the generator
passed in, so a campaign with a fixed seed gets the same frames.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from ase import Atoms, units
from ase.constraints import FixCom
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from ase.parallel import DummyMPI
from threadpoolctl import threadpool_limits

from alearn.bootstrap_calculator import KEY, check_md_calculator, md_calculator, md_start
from alearn.config import BootstrapConfig, BootstrapMDConfig, UncertaintyConfig
from alearn.dataset import Candidate
from alearn.errors import AlearnError
from alearn.progress import Task
from alearn.selection import assign_splits
from alearn.uncertainty import broken_structure

if TYPE_CHECKING:
    from collections.abc import Callable

    from ase.calculators.calculator import BaseCalculator

    from alearn.config import CampaignConfig

log = logging.getLogger(__name__)

__all__ = ["MDRun", "bootstrap_frames", "campaign_frames", "initial_candidates", "md_frames",
           "md_runs", "most_diverse", "perturbed_copies"]

# Runs are serial, on the writer rank: no random numbers broadcast over MPI ranks.
SERIAL = DummyMPI()


# --------------------------------------------------------------------------- dispatch
def campaign_frames(cfg: CampaignConfig, starts: dict[str, Atoms], rng: np.random.Generator
                    ) -> list[tuple[Atoms, str]]:
    """The bootstrap frames of every system, each with its system's name.

    Parameters
    ----------
    cfg
        The campaign's configuration (``initial_data.bootstrap``, and for
        method ``md`` the cheap calculator and ``uncertainty``).
    starts
        Validated start structures by system name, in the config's order.
    rng
        Source of all randomness (systems drawn from it in order).

    Raises
    ------
    ConfigError, AlearnError
        See :func:`~alearn.bootstrap_calculator.check_md_calculator`,
        :func:`~alearn.bootstrap_calculator.md_calculator`, :func:`md_frames`.
    """
    boot = cfg.initial_data.bootstrap
    if not boot.runs_md:
        return [(a, name) for name, start in starts.items()
                for a in bootstrap_frames(start, boot, rng, where=f"systems[{name}]")]
    runs = {name: md_start(cfg, start) for name, start in starts.items()}
    for name, start in runs.items():
        check_md_calculator(cfg, start, f"systems[{name}]")
    calc = md_calculator(cfg)  # one that cannot be built fails here, before any MD
    make_calc = partial(md_calculator, cfg)
    if boot.md.calculator is not None and boot.md.calculator.kind == "foundation":
        make_calc = partial(_same, calc)  # a model keeps no state between runs
    frames = []
    for name, start in starts.items():
        # a slab run periodic along z (md_start) is not strained: that would change its vacuum
        own = boot
        if runs[name] is not start:
            log.info("systems[%s]: bootstrap MD on xTB with the slab periodic along z too",
                     name)
            own = boot.model_copy(update={"strain_max": 0.0})
        for a in bootstrap_frames(runs[name], own, rng, make_calc=make_calc,
                                  ucfg=cfg.uncertainty, where=f"systems[{name}]"):
            a.pbc = start.pbc
            frames.append((a, name))
    return frames


def initial_candidates(cfg: CampaignConfig, starts: dict[str, Atoms], user_frames: list[Atoms],
                       rng: np.random.Generator) -> list[Candidate]:
    """The campaign's first rows to label: the user's frames (``initial_data.file``) when
    given, else the bootstrap frames of :func:`campaign_frames`; split train/valid by
    ``validation.fraction`` (at least one valid frame of three or more)."""
    if user_frames:
        frames = [(a, str(a.info.get("system", "user"))) for a in user_frames]
        source = "user"
    else:
        frames = campaign_frames(cfg, starts, rng)
        source = "bootstrap"
    splits = assign_splits(len(frames), cfg.validation.fraction, rng, at_least_one=True)
    return [Candidate(atoms=a, system=name, source=source, iteration=0, split=s)
            for (a, name), s in zip(frames, splits)]


def bootstrap_frames(atoms: Atoms, cfg: BootstrapConfig, rng: np.random.Generator, *,
                     make_calc: Callable[[], BaseCalculator] | None = None,
                     ucfg: UncertaintyConfig | None = None, where: str = "system"
                     ) -> list[Atoms]:
    """The ``cfg.n_per_system`` bootstrap frames of one start structure.

    Parameters
    ----------
    atoms
        The start structure (not modified); it is the first frame.
    cfg
        The ``initial_data.bootstrap`` section; ``cfg.method`` chooses.
    rng
        Source of all randomness.
    make_calc
        Method ``md``: builds the cheap calculator (e.g. :func:`md_calculator`).
    ucfg
        Method ``md``: what counts as a broken frame (default settings when None).
    where
        Names the system in messages, e.g. ``"systems[water]"``.

    Returns
    -------
    list of Atoms
        ``cfg.n_per_system`` frames, none with a calculator.
    """
    if cfg.method == "rattle":
        return perturbed_copies(atoms, cfg, rng)
    if cfg.n_per_system == 1:
        return [atoms.copy()]
    if make_calc is None:
        raise ValueError("bootstrap method md needs make_calc (e.g. md_calculator)")
    ucfg = ucfg or UncertaintyConfig()
    if cfg.md.oversample == 1:
        return md_frames(atoms, cfg, make_calc, rng, ucfg=ucfg, where=where)
    pool_size = 1 + (cfg.n_per_system - 1) * cfg.md.oversample
    pool = md_frames(atoms, cfg.model_copy(update={"n_per_system": pool_size}), make_calc, rng,
                     ucfg=ucfg, where=where)
    return most_diverse(pool, cfg.n_per_system, make_calc().descriptors, rng)


def most_diverse(frames: list[Atoms], n: int, descriptors: Callable[[Atoms], np.ndarray],
                 rng: np.random.Generator) -> list[Atoms]:
    """The first frame and the ``n - 1`` others that farthest-point sampling picks in the
    (standardized) descriptor space, starting from the first, in the order of ``frames``."""
    from alearn.selection import select

    features = np.array([descriptors(f) for f in frames])
    first = np.zeros(len(frames))
    first[0] = 1.0  # FPS starts from the most "uncertain" frame: the start structure
    picks = select(features, first, n, method="fps", rng=rng)
    return [frames[i] for i in sorted(int(i) for i in picks)]


def _same(calc: BaseCalculator) -> BaseCalculator:
    return calc


def _strained(atoms: Atoms, strain_max: float, rng: np.random.Generator) -> Atoms:
    """A copy with a random symmetric strain, each component within ±``strain_max``."""
    eps = rng.uniform(-strain_max, strain_max, (3, 3))
    new = atoms.copy()
    new.set_cell(new.cell @ (np.eye(3) + 0.5 * (eps + eps.T)), scale_atoms=True)
    return new


def perturbed_copies(atoms: Atoms, cfg: BootstrapConfig, rng: np.random.Generator) -> list[Atoms]:
    """Rattled (and, for periodic cells, randomly strained) copies of ``atoms``.

    The first copy is the unperturbed structure itself; the others have
    Gaussian noise of ``cfg.rattle_std_A`` (Å) on every position and, for
    3D-periodic cells, a random strain of at most ``cfg.strain_max``.
    """
    copies = [atoms.copy()]
    for _ in range(cfg.n_per_system - 1):
        new = atoms.copy()
        if atoms.pbc.all() and cfg.strain_max > 0:
            new = _strained(new, cfg.strain_max, rng)
        new.positions += rng.normal(0.0, cfg.rattle_std_A, new.positions.shape)
        copies.append(new)
    return copies


# --------------------------------------------------------------------------- MD frames
@dataclass(frozen=True)
class MDRun:
    """One bootstrap MD run.

    Attributes
    ----------
    start
        Where the run starts: the start structure or a strained copy.
    temperature_K
        Langevin thermostat temperature (K), also of the initial velocities.
    n_frames
        Frames the run gives.
    cell
        0 for the start cell, 1, 2, ... for the strained cells.
    """

    start: Atoms
    temperature_K: float
    n_frames: int
    cell: int


def md_runs(atoms: Atoms, cfg: BootstrapConfig, rng: np.random.Generator) -> list[MDRun]:
    """The runs that give the ``cfg.n_per_system - 1`` MD frames of ``atoms``.

    One run per cell and temperature (cells outermost): the start cell and,
    for 3D-periodic structures with ``strain_max > 0``, ``md.strained_cells``
    random strains. The frames are shared out as evenly as possible, the
    first runs taking the rest; runs with no frame are left out.
    """
    cells = [atoms.copy()]
    if atoms.pbc.all() and cfg.strain_max > 0:
        cells += [_strained(atoms, cfg.strain_max, rng) for _ in range(cfg.md.strained_cells)]
    pairs = [(c, cell, t) for c, cell in enumerate(cells) for t in cfg.md.temperatures_K]
    n, k = divmod(cfg.n_per_system - 1, len(pairs))
    runs = [MDRun(start=cell, temperature_K=t, n_frames=n + (i < k), cell=c)
            for i, (c, cell, t) in enumerate(pairs)]
    return [r for r in runs if r.n_frames > 0]


def md_frames(atoms: Atoms, cfg: BootstrapConfig, make_calc: Callable[[], BaseCalculator],
              rng: np.random.Generator, *, ucfg: UncertaintyConfig,
              where: str = "system") -> list[Atoms]:
    """The start structure and ``cfg.n_per_system - 1`` frames of short MD on a cheap method.

    Parameters
    ----------
    atoms
        The start structure (not modified).
    cfg
        The ``initial_data.bootstrap`` section (``md``, ``n_per_system``, ``strain_max``).
    make_calc
        Builds the cheap calculator (energy in eV, forces in eV/Å). Every run
        (and restart) gets a new one, so that no state (e.g. xTB's previous
        wavefunction as a guess) carries over and a run depends on the seed
        alone. It runs with ``cfg.md.threads`` OpenMP/BLAS threads.
    rng
        Source of the strains, initial velocities and Langevin noise.
    ucfg
        Decides which frames are broken (:func:`alearn.uncertainty.broken_structure`).
    where
        Names the system in messages.

    Returns
    -------
    list of Atoms
        ``cfg.n_per_system`` frames; the first is a copy of ``atoms``. Periodic
        frames are wrapped into the cell; no velocities, calculator or constraints.

    Raises
    ------
    AlearnError
        When the MD fails (calculator error) or a run breaks the structure more
        often than it has frames to give; the message names
        ``initial_data.bootstrap.md`` and what to change.
    """
    frames = [atoms.copy()]
    t0 = time.perf_counter()
    make_calc()  # loads the calculator's libraries, so that the thread limit reaches them
    with threadpool_limits(limits=cfg.md.threads), \
            Task(f"bootstrap MD {where}", cfg.n_per_system - 1, unit="frame") as progress:
        for run in md_runs(atoms, cfg, rng):
            frames += _run_frames(run, cfg.md, make_calc, rng, ucfg, where,
                                  on_frame=progress.update)
    log.info("%s: %d bootstrap frames from MD in %.1f s", where, len(frames),
             time.perf_counter() - t0)
    return frames


def _dynamics(run: MDRun, md: BootstrapMDConfig, make_calc: Callable[[], BaseCalculator],
              rng: np.random.Generator) -> Langevin:
    """Langevin NVT from ``run.start`` with fresh Maxwell-Boltzmann velocities."""
    atoms = run.start.copy()
    atoms.calc = make_calc()
    thermalize_momenta(atoms, run.temperature_K, rng=rng, comm=SERIAL)
    Stationary(atoms)
    atoms.set_constraint(FixCom())  # ASE's fixcm=True flag does not sample NVT exactly
    return Langevin(atoms, md.timestep_fs * units.fs, temperature_K=run.temperature_K,
                    friction=md.friction_per_fs / units.fs, fixcm=False, rng=rng, comm=SERIAL)


def _frame(atoms: Atoms) -> Atoms:
    """A copy without constraints and velocities (per-atom arrays such as
    ``initial_magmoms`` kept), wrapped into the cell along periodic axes."""
    frame = atoms.copy()
    frame.set_constraint()
    frame.arrays.pop("momenta", None)
    if frame.pbc.any():
        frame.wrap()
    return frame


def _steps(dyn: Langevin, n: int, run: MDRun, where: str) -> None:
    """``n`` steps of ``dyn``; AlearnError naming the bootstrap when they fail."""
    try:
        dyn.run(n)
    except Exception as err:  # noqa: BLE001 - any calculator failure, reported with its cause
        raise AlearnError(
            f"{where}: {KEY}: MD at {run.temperature_K:g} K (cell {run.cell}) failed after "
            f"{dyn.nsteps} steps: {type(err).__name__}: {err}. Check the cheap calculator "
            f"({KEY}.calculator or baseline:), lower {KEY}.temperatures_K or "
            f"{KEY}.timestep_fs, or set initial_data.bootstrap.method: rattle") from err


def _run_frames(run: MDRun, md: BootstrapMDConfig, make_calc: Callable[[], BaseCalculator],
                rng: np.random.Generator, ucfg: UncertaintyConfig, where: str, *,
                on_frame: Callable[[], None] | None = None) -> list[Atoms]:
    """The ``run.n_frames`` unbroken frames of one run (restarted after a broken one);
    ``on_frame()`` is called for each (progress)."""
    frames: list[Atoms] = []
    n_broken = 0
    dyn = _dynamics(run, md, make_calc, rng)
    _steps(dyn, md.equilibration_steps, run, where)
    while len(frames) < run.n_frames:
        _steps(dyn, md.sample_interval, run, where)
        problem = broken_structure(dyn.atoms, ucfg)
        if problem is None:
            frames.append(_frame(dyn.atoms))
            if on_frame is not None:
                on_frame()
            continue
        n_broken += 1
        log.info("%s: bootstrap MD at %g K: frame broken (%s); restarting the run",
                 where, run.temperature_K, problem)
        if n_broken > run.n_frames:
            raise AlearnError(
                f"{where}: {KEY}: {n_broken} frames of the MD at {run.temperature_K:g} K were "
                f"broken (last: {problem}); the cheap calculator does not hold the structure "
                f"together. Lower {KEY}.temperatures_K or {KEY}.timestep_fs, choose another "
                f"{KEY}.calculator, or set initial_data.bootstrap.method: rattle")
        dyn = _dynamics(run, md, make_calc, rng)
        _steps(dyn, md.equilibration_steps, run, where)
    log.info("%s: bootstrap MD at %g K (cell %d): %d frames (%d broken, not taken)",
             where, run.temperature_K, run.cell, len(frames), n_broken)
    return frames
