"""Checks that need more than the config file, run before anything is labeled.

The schema (:mod:`alearn.config`) checks each key on its own. What is checked
here depends on the systems' structures or on the machine: whether the
committee can be trained at all with the settings given. Without these checks
the problems surface at the first committee training, after the initial data
(possibly hours of DFT) has been labeled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ase.data import chemical_symbols

from alearn.config import CampaignConfig
from alearn.errors import ConfigError
from alearn.foundation import FoundationModel, check_foundation


def check_before_labels(cfg: CampaignConfig, *, atomic_numbers: Sequence[int],
                        n_initial_frames: int | None) -> FoundationModel | None:
    """Refuse settings with which the first committee training would fail.

    Parameters
    ----------
    cfg
        The campaign's configuration.
    atomic_numbers
        Elements of the campaign's systems (atomic numbers).
    n_initial_frames
        Frames of the initial data: the number in ``initial_data.file`` when it
        is given, else ``initial_data.bootstrap.n_per_system`` × the number of
        systems. None skips the check of the training-set size (e.g. when a
        resumed campaign's initial data is already labeled).

    Returns
    -------
    The foundation model (``committee.foundation_model``) as checked by
    :func:`alearn.foundation.check_foundation` (file, heads, elements), or None.

    Raises
    ------
    ConfigError
        Naming the key to change, for the first problem found.
    """
    check_device(cfg.committee.device)
    check_e0s(cfg.committee.training.e0s, atomic_numbers)
    if n_initial_frames is not None:
        check_initial_training_size(cfg, n_initial_frames)
    return check_foundation(cfg, atomic_numbers)


def check_device(device: str) -> None:
    """``committee.device: cuda`` needs a GPU that torch can use.

    Without this check, mace-torch fails when the first member is trained.
    """
    if device != "cuda":
        return
    import torch

    if not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}"
        raise ConfigError(
            f"committee.device is 'cuda' but torch {torch.__version__} ({build}) sees no usable "
            "GPU; set committee.device: cpu, or run where a GPU is visible (check "
            "nvidia-smi and CUDA_VISIBLE_DEVICES)")


def check_e0s(e0s: str | dict[str, float], atomic_numbers: Sequence[int]) -> None:
    """A mapping ``committee.training.e0s`` must give every element of the systems.

    Without this check, mace-torch stops at the first training: it has no
    isolated-atom energy for an element of its atomic-number table.
    """
    if isinstance(e0s, str):  # 'average'; unknown symbols are refused by the schema
        return
    missing = [chemical_symbols[z] for z in sorted(set(atomic_numbers))
               if chemical_symbols[z] not in e0s]
    if missing:
        raise ConfigError(
            f"committee.training.e0s has no energy for {missing}, which the systems contain; "
            f"add the isolated-atom energies (eV) of {missing}, or use e0s: average")


def min_training_frames(n_frames: int, valid_fraction: float) -> int:
    """The fewest training frames ``n_frames`` initial frames can leave.

    :func:`alearn.selection.assign_splits` holds out ``floor(fraction·n + u)``
    frames (``u`` uniform in [0, 1)), and at least one of three or more when
    ``fraction > 0``; at most ``ceil(fraction·n)`` or that one frame, which is
    what is counted here (a conservative count).
    """
    n_valid = math.ceil(valid_fraction * n_frames)
    if valid_fraction > 0 and n_frames >= 3:
        n_valid = max(n_valid, 1)
    return n_frames - min(n_valid, n_frames)


def smallest_member_set(cfg: CampaignConfig, n_frames: int) -> int:
    """The fewest frames a committee member can train on with ``n_frames`` initial
    frames: :func:`min_training_frames`, less the left-out fold with
    ``committee.subsampling: kfold`` (bootstrap resamples as many as there are)."""
    n_train = min_training_frames(n_frames, cfg.validation.fraction)
    if cfg.committee.subsampling == "kfold" and n_train >= 2:
        return n_train - math.ceil(n_train / cfg.committee.size)
    return n_train


def check_initial_training_size(cfg: CampaignConfig, n_initial_frames: int) -> None:
    """Each member of the first committee needs at least
    ``committee.training.batch_size`` training frames, and the committee two.

    Without this check: mace-torch's ``run_train`` (0.3.16) logs "Batch size
    (B) is larger than the number of training data (N)" and goes on; its
    training loader drops the incomplete last batch (``drop_last=True``), so it
    has no batch at all, and ``run_train`` then dies computing the average
    number of neighbours ("torch.cat(): expected a non-empty list of
    Tensors"). The campaign stops at its first training, after every initial
    frame was labeled. (Measured with 3 training frames and batch size 4.)
    Labels that fail leave even fewer frames; this check cannot foresee those.
    """
    batch = cfg.committee.training.batch_size
    n_train = min_training_frames(n_initial_frames, cfg.validation.fraction)
    n_member = smallest_member_set(cfg, n_initial_frames)
    if n_train >= 2 and n_member >= batch:
        return
    split = f"the validation split (validation.fraction {cfg.validation.fraction})"
    if n_train < 2:
        raise ConfigError(
            f"{_initial_source(cfg, n_initial_frames)} leave as few as {n_train} training "
            f"frames after {split}, fewer than the two a committee needs; "
            f"{_more_frames_hint(cfg, 2)}")
    what = f"{n_train} training frames after {split}"
    if n_member < n_train:
        what = f"{what}, {n_member} per member with committee.subsampling kfold"
    raise ConfigError(
        f"{_initial_source(cfg, n_initial_frames)} leave as few as {what}, fewer than "
        f"committee.training.batch_size ({batch}): mace-torch would have no full batch to "
        f"train on, and the campaign would stop after labeling them; "
        f"{_more_frames_hint(cfg, batch)}, or set committee.training.batch_size to at most "
        f"{n_member}")


def _initial_source(cfg: CampaignConfig, n_frames: int) -> str:
    if cfg.initial_data.file is not None:
        return f"the {n_frames} frames of initial_data.file ({cfg.initial_data.file})"
    n_systems = len(cfg.systems)
    return (f"initial_data.bootstrap.n_per_system ({cfg.initial_data.bootstrap.n_per_system}) "
            f"× {n_systems} system{'s' if n_systems > 1 else ''} = {n_frames} initial frames")


def _more_frames_hint(cfg: CampaignConfig, need: int) -> str:
    def enough(n: int) -> bool:
        return (min_training_frames(n, cfg.validation.fraction) >= 2
                and smallest_member_set(cfg, n) >= need)

    if cfg.initial_data.file is not None:
        return f"put at least {next(n for n in range(1, 10**6) if enough(n))} frames in " \
               "initial_data.file"
    n_systems = len(cfg.systems)
    per = next(k for k in range(1, 10**6) if enough(k * n_systems))
    return f"set initial_data.bootstrap.n_per_system to at least {per}"
