"""Committee training with mace-torch's own trainer (``mace.cli.run_train``).

Each member runs ``python -m mace.cli.run_train`` in a supervised child process
(:mod:`alearn.children`: it dies with the campaign): mace-torch sets global torch
state (default dtype, seeds) that must not leak into the campaign process. Each
attempt works in a scratch folder of its own (:mod:`alearn.attempts`). A member
is done only when its ``.model`` file has been moved into place atomically; a
resumed campaign retrains an unfinished member from scratch with the same seed
(the same result as without the kill) or, after a long training, resumes it
from its last checkpoint.

Members differ by seed and by training subset (bootstrap resample, k-fold, or
all data), so their disagreement estimates the model error.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from ase import Atoms

from alearn.attempts import new_attempt
from alearn.children import run_supervised
from alearn.config import CommitteeConfig
from alearn.errors import AlearnError
from alearn.procenv import worker_env
from alearn.progress import training_progress
from alearn.seeding import derive_seed
from alearn.state import write_extxyz

if TYPE_CHECKING:
    from alearn.config import BaselineConfig, CampaignConfig, ReplayConfig
    from alearn.finetuning import FineTuneStart
    from alearn.parallel import Workers

log = logging.getLogger(__name__)

#: per-element reference energies: ``"average"`` or element symbol → eV
E0s = str | Mapping[str, float]


@dataclass(frozen=True)
class Target:
    """What a committee learns.

    Attributes
    ----------
    key_prefix
        Prefix of the extxyz keys trained on: ``REF`` (the reference itself) or
        ``DELTA`` (reference − baseline, Δ-ML).
    tag
        ``direct``, or ``delta:<baseline settings hash>``; stored with a trained
        committee, so a committee trained for another target is recognised.
    """

    key_prefix: str
    tag: str

    @classmethod
    def for_baseline(cls, baseline: BaselineConfig | None) -> Target:
        """The target of a campaign with (or without) a ``baseline:`` section."""
        if baseline is None:
            return cls("REF", "direct")
        from alearn.baselines import baseline_hash

        return cls("DELTA", f"delta:{baseline_hash(baseline)}")


class TrainingFailed(AlearnError):
    """mace-torch training of a committee member failed; the message has its log tail."""


@dataclass(frozen=True)
class MemberJob:
    """Everything needed to train one committee member.

    Attributes
    ----------
    index
        Member number, 0-based.
    seed
        mace-torch's ``--seed``.
    train_file, valid_file
        extxyz files with ``REF_*`` keys.
    model_path
        Where the finished model is placed (atomically).
    init_model
        Weights to start from (mace-torch's ``--foundation_model``): the previous
        iteration's member (warm start), a foundation model's start file
        (:mod:`alearn.finetuning`), or None for a fresh model.
    epochs
        ``--max_num_epochs``.
    replay
        Replay data for multihead fine-tuning from ``init_model`` (absolute
        ``file``), or None.
    """

    index: int
    seed: int
    train_file: Path
    valid_file: Path | None
    model_path: Path
    init_model: Path | None
    epochs: int
    replay: ReplayConfig | None = None


def member_subsets(n_frames: int, size: int, method: str, rng: np.random.Generator
                   ) -> list[np.ndarray]:
    """Indices of the training frames each member sees.

    Parameters
    ----------
    n_frames
        Number of training frames.
    size
        Number of members K.
    method
        ``"bootstrap"`` (resample with replacement), ``"kfold"`` (member k leaves
        out fold k), or ``"none"`` (all frames; members differ by seed only).
    rng
        Source of randomness.

    Returns
    -------
    list of K integer arrays, sorted.
    """
    if method == "none" or n_frames < 2:
        return [np.arange(n_frames) for _ in range(size)]
    if method == "bootstrap":
        return [np.sort(rng.integers(0, n_frames, n_frames)) for _ in range(size)]
    folds = np.array_split(rng.permutation(n_frames), size)
    return [np.sort(np.concatenate([f for j, f in enumerate(folds) if j != k]))
            for k in range(size)]


def e0s_argument(cfg: CommitteeConfig, e0s: E0s | None = None) -> str:
    """mace-torch's ``--E0s``: ``"average"``, or ``{Z: eV}`` from a mapping symbol → eV.

    Parameters
    ----------
    cfg
        The committee's settings; ``cfg.training.e0s`` is used when ``e0s`` is None.
    e0s
        The reference energies to train with (:func:`alearn.e0s.reference_energies`):
        ``"average"`` or element symbol → energy (eV).

    Raises
    ------
    AlearnError
        For ``"isolated"``: those energies must be computed first and given as a mapping.
    """
    e0s = cfg.training.e0s if e0s is None else e0s
    if isinstance(e0s, str):
        if e0s != "average":
            raise AlearnError(
                f"committee.training.e0s is {e0s!r}: compute the isolated-atom energies "
                "first (alearn.e0s.reference_energies) and pass them as e0s={symbol: eV}, "
                "or set committee.training.e0s to 'average' or a mapping")
        return e0s
    from ase.data import atomic_numbers as z_of

    return str({z_of[s]: float(e) for s, e in sorted(e0s.items(), key=lambda i: z_of[i[0]])})


def mace_arguments(cfg: CommitteeConfig, job: MemberJob, *, atomic_numbers: Sequence[int],
                   has_stress: bool, scratch: Path, target: str = "REF",
                   e0s: E0s | None = None) -> list[str]:
    """Command-line arguments of ``mace.cli.run_train`` for one member.

    ``target`` is the key prefix learned: ``REF`` (direct) or ``DELTA`` (Δ-ML);
    ``e0s`` the reference energies (see :func:`e0s_argument`), fixed for a mapping,
    so a warm start keeps them.
    """
    model, train = cfg.model, cfg.training
    args = {
        "name": f"member_{job.index}",
        "seed": job.seed,
        "work_dir": scratch,
        "train_file": job.train_file,
        "E0s": e0s_argument(cfg, e0s),
        "atomic_numbers": str(sorted(atomic_numbers)),
        # ScaleShiftMACE: the mean interaction energy per atom (energy minus the E0s,
        # large with isolated-atom E0s) is a fitted shift, not left to the readout
        "model": "ScaleShiftMACE",
        "num_channels": model.num_channels,
        "max_L": model.max_L,
        "r_max": model.r_max,
        "num_interactions": model.num_interactions,
        "correlation": model.correlation,
        "num_radial_basis": model.num_radial_basis,
        "default_dtype": model.default_dtype,
        "max_num_epochs": job.epochs,
        "patience": train.patience,
        "batch_size": train.batch_size,
        "valid_batch_size": max(train.batch_size, 8),
        "lr": train.lr,
        "energy_weight": train.energy_weight,
        "forces_weight": train.forces_weight,
        "loss": "stress" if has_stress else "weighted",
        "energy_key": f"{target}_energy",
        "forces_key": f"{target}_forces",
        "stress_key": f"{target}_stress",
        "device": cfg.device,
        "plot": False,
        "log_level": "INFO",
    }
    if has_stress:
        args["stress_weight"] = train.stress_weight
    if job.valid_file is not None:
        args["valid_file"] = job.valid_file
    if job.init_model is not None:
        args["foundation_model"] = job.init_model
        args["multiheads_finetuning"] = job.replay is not None
    if job.init_model is not None and job.replay is not None:
        replay = job.replay
        args["pt_train_file"] = replay.file
        args["heads"] = {"Default": {}, "pt_head": {
            "energy_key": replay.energy_key, "forces_key": replay.forces_key,
            "stress_key": replay.stress_key}}
    return [f"--{k}={v}" for k, v in args.items()] + ["--save_cpu"]


def train_member(cfg: CommitteeConfig, job: MemberJob, *, atomic_numbers: Sequence[int],
                 has_stress: bool, threads: int = 1, target: str = "REF",
                 resume_after_s: float = 300.0, e0s: E0s | None = None) -> float:
    """Train one member with mace-torch; place the model atomically.

    An earlier attempt that trained at least ``resume_after_s`` seconds is
    resumed from its checkpoint (see :mod:`alearn.attempts`). ``e0s``: the
    reference energies (default ``cfg.training.e0s``; see :func:`e0s_argument`).

    Returns
    -------
    Wall time of the training (s).

    Raises
    ------
    TrainingFailed
        When mace-torch exits with an error (the message has its log tail).
    """
    scratch, restart = new_attempt(job.model_path.parent, f"member_{job.index}",
                                   resume_after_s=resume_after_s)
    argv = mace_arguments(cfg, job, atomic_numbers=atomic_numbers,
                          has_stress=has_stress, scratch=scratch, target=target, e0s=e0s)
    # No inherited MPI launcher variables (the campaign may run under mpirun), and a
    # fixed thread count: results then do not depend on how many ranks there are.
    env = worker_env(parallel=False, threads=threads)
    command = [sys.executable, "-m", "mace.cli.run_train", *argv]
    with open(scratch / "mace_train.log", "a") as out, \
            training_progress(scratch, member=job.index, epochs=job.epochs):
        rc, elapsed = run_supervised(command + (["--restart_latest"] if restart else []),
                                     folder=scratch, env=env, stdout=out,
                                     stderr=subprocess.STDOUT)
    trained = scratch / f"member_{job.index}.model"
    if rc != 0 or not trained.is_file():
        tail = (scratch / "mace_train.log").read_text()[-3000:]
        raise TrainingFailed(
            f"mace-torch training of member {job.index} failed (exit {rc}); "
            f"full log: {scratch / 'mace_train.log'}\n...{tail}")
    os.replace(trained, job.model_path)
    shutil.move(scratch / "mace_train.log", job.model_path.with_suffix(".log"))
    shutil.rmtree(scratch, ignore_errors=True)
    return elapsed


def write_committee_data(jobs: Sequence[MemberJob], subsets: Sequence[np.ndarray],
                         train: Sequence[Atoms], valid: Sequence[Atoms]) -> None:
    """Each member's training subset to its ``train_file``, and the shared validation
    frames (when there are any) to the members' ``valid_file``."""
    if valid:
        write_extxyz(valid, jobs[0].valid_file)
    for job, idx in zip(jobs, subsets):
        write_extxyz([train[i] for i in idx], job.train_file)


def plan_committee(cfg: CommitteeConfig, *, n_train: int, out_dir: Path, seed: int,
                   iteration: int, previous: Sequence[Path] | None,
                   start: FineTuneStart | None = None) -> tuple[list[MemberJob],
                                                                list[np.ndarray]]:
    """Jobs and training-frame subsets of the K members of one iteration.

    Members warm-start from ``previous`` (when ``cfg.warm_start``), else fine-tune
    from ``start`` (a foundation model, :mod:`alearn.finetuning`), else train afresh.
    """
    rng = np.random.default_rng(derive_seed(seed, "subsets", iteration))
    subsets = member_subsets(n_train, cfg.size, cfg.subsampling, rng)
    warm = cfg.warm_start and previous is not None and len(previous) == cfg.size
    epochs = cfg.training.max_num_epochs
    if warm:
        epochs = cfg.training.warm_start_epochs or max(1, epochs // 2)
    inits: Sequence[Path | None] = [None] * cfg.size
    if warm:
        inits = [Path(p) for p in previous]
    elif start is not None:
        inits = list(start.models)
    jobs = [
        MemberJob(index=k, seed=derive_seed(seed, "member", iteration, k) % (2**31 - 1),
                  train_file=out_dir / f"member_{k}_train.xyz",
                  valid_file=out_dir / "valid.xyz",
                  model_path=out_dir / f"member_{k}.model",
                  init_model=inits[k], epochs=epochs,
                  replay=start.replay if start is not None and not warm else None)
        for k in range(cfg.size)
    ]
    return jobs, subsets


@dataclass(frozen=True)
class CommitteeData:
    """The frames a committee is trained on, and what it learns from them.

    Attributes
    ----------
    train, valid
        Labeled frames (``REF_*``, and ``DELTA_*`` for Δ-ML).
    atomic_numbers
        Elements the models cover (all the campaign's systems).
    has_stress
        Train on stress too (3D-periodic systems).
    target
        What is learned.
    e0s
        Per-element reference energies: element symbol → eV (fixed), or
        ``"average"`` (fitted by mace-torch); None: ``committee.training.e0s``.
    """

    train: Sequence[Atoms]
    valid: Sequence[Atoms]
    atomic_numbers: Sequence[int]
    has_stress: bool
    target: Target
    e0s: E0s | None = None

    def sha256(self) -> str:
        """A digest of everything training reads here: frames (cell, arrays, info: labels,
        splits, database ids), elements, stress, target and E0s; equal digests, same data."""
        h = hashlib.sha256(repr((sorted(self.atomic_numbers), self.has_stress,
                                 self.target.tag, self.e0s)).encode())
        for split, frames in (("train", self.train), ("valid", self.valid)):
            h.update(split.encode())
            for a in frames:
                for chunk in _frame_bytes(a):
                    h.update(chunk)
        return h.hexdigest()


def _frame_bytes(atoms: Atoms) -> Iterator[bytes]:
    yield np.ascontiguousarray(atoms.cell.array).tobytes() + atoms.pbc.tobytes()
    for store in (atoms.arrays, atoms.info):
        for key in sorted(store):
            value = store[key]
            yield key.encode()
            yield (np.ascontiguousarray(value).tobytes() if isinstance(value, np.ndarray)
                   else repr(value).encode())


def stress_in_loss(cfg: CampaignConfig, starts: Iterable[Atoms]) -> bool:
    """Stress in the loss: asked for (``committee.training.stress``), or, by default,
    where a system explores NPT; never for a structure that is not 3D-periodic."""
    choice = cfg.committee.training.stress
    periodic = all(a.pbc.all() for a in starts)
    npt = any(s.md.ensemble == "npt" for s in cfg.systems)
    return periodic and (choice == "yes" or (choice == "auto" and npt))


def carry_over(previous_dir: Path, out_dir: Path) -> None:
    """The committee of ``previous_dir`` (models, data files, calibration) copied to
    ``out_dir``: an iteration whose training data did not change since the previous
    training keeps that committee instead of training it again."""
    shutil.copytree(previous_dir, out_dir, dirs_exist_ok=True)


def train_committee(cfg: CommitteeConfig, data: CommitteeData, *, out_dir: Path, seed: int,
                    iteration: int, previous: Sequence[Path] | None, workers: Workers,
                    start: FineTuneStart | None = None) -> tuple[list[Path], list[float]]:
    """Plan, write the data of, and train the K members of one iteration's committee.

    Members whose model file already exists are not trained again, so a
    resumed campaign trains only what a kill interrupted. Under MPI the writer
    rank writes the data files and members are dealt over the ranks. ``start``:
    the foundation's start files, used when there are no ``previous`` members
    to warm-start from (see :func:`plan_committee`).

    Returns
    -------
    The K model paths, and the wall times (s) of the members trained now.
    """
    jobs, subsets = plan_committee(cfg, n_train=len(data.train), out_dir=out_dir, seed=seed,
                                   iteration=iteration, previous=previous, start=start)
    if workers.is_writer:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_committee_data(jobs, subsets, data.train, data.valid)
    workers.barrier()
    if not data.valid:
        jobs = [replace(job, valid_file=None) for job in jobs]
    todo = workers.bcast([job for job in jobs if not job.model_path.is_file()])
    threads = cfg.threads_per_member
    if todo and workers.is_writer:
        log.info("iteration %d: training %d committee members (%d epochs) on %d frames",
                 iteration, len(todo), todo[0].epochs, len(data.train))
    times = workers.map(
        lambda job: train_member(cfg, job, atomic_numbers=data.atomic_numbers,
                                 has_stress=data.has_stress, threads=threads,
                                 target=data.target.key_prefix,
                                 resume_after_s=cfg.training.resume_after_s, e0s=data.e0s),
        todo, desc="training", concurrency=max(1, workers.threads // threads))
    if todo and workers.is_writer:
        n_atoms = sum(len(a) for a in data.train) / max(1, len(data.train))
        log.info("iteration %d: %d members trained on %d frames (%.0f atoms each, stress %s) "
                 "in %s s: %.1f s per epoch", iteration, len(todo), len(data.train), n_atoms,
                 "on" if data.has_stress else "off", "/".join(f"{t:.0f}" for t in times),
                 sum(times) / sum(job.epochs for job in todo))
    return [job.model_path for job in jobs], times
