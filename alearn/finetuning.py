"""The files committee members are fine-tuned from: the foundation, made fit to start from.

Every member is trained by mace-torch's own fine-tuning (``run_train
--foundation_model=<start file>``, :mod:`alearn.training`). What it starts from
is prepared here, as files the campaign writes next to the members
(``iter_NNN/committee/member_k.start.model``, hashed into the train marker and
deleted once the committee is trained):

E0s written in
    mace-torch 0.3.16 copies every foundation tensor whose shape matches into the
    new model, the per-element E0s included. When the systems hold exactly the
    foundation's elements its E0s therefore replace the ``--E0s`` given (measured:
    E0s asked {Cu: -1, Ag: -2, Au: -3, Ni: -4}, the trained model held the
    foundation's); with fewer elements ``--E0s`` holds. The start file carries the
    campaign's E0s for its elements, so they hold either way. Not with replay
    (multihead fine-tuning): the replay head takes its E0s from the start file and
    must keep the foundation's; there the shapes differ and ``--E0s`` holds.
Readout diversity (``committee.finetuning.readout``)
    Members that start from the same weights and see similar data stay close to
    one another: their spread shrinks while their shared error (the
    foundation's) does not. ``perturb`` adds Gaussian noise of
    ``readout_noise`` × the tensor's RMS to each readout weight tensor,
    ``reinit`` draws the readout weights afresh (standard normal, e3nn's
    initialisation; biases zero), both from the member's own seed; ``keep``
    leaves them. The interaction layers, which carry the foundation's
    chemistry, are never touched. See docs/foundation.md for what each does to
    the spread and its correlation with the error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ase.data import atomic_numbers as z_of

from alearn.foundation import FoundationModel, load_model
from alearn.seeding import derive_seed
from alearn.state import atomic_path

if TYPE_CHECKING:
    import torch

    from alearn.config import CampaignConfig, ReplayConfig

log = logging.getLogger(__name__)

__all__ = ["FineTuneStart", "diversify_readout", "remove_written", "set_e0s", "start_files"]


@dataclass(frozen=True)
class FineTuneStart:
    """Where the members of a committee start from the foundation.

    Attributes
    ----------
    models
        The K start files (member k fine-tunes from ``models[k]``); some may be the
        foundation file itself.
    replay
        Replay data (``file`` resolved to an absolute path) for multihead
        fine-tuning, or None.
    written
        The start files written by the campaign (deleted after training).
    """

    models: tuple[Path, ...]
    replay: ReplayConfig | None = None
    written: tuple[Path, ...] = ()


def set_e0s(model: torch.nn.Module, e0s_eV: Mapping[str, float]) -> None:
    """Write per-element E0s (element symbol → eV) into every head of ``model``."""
    import torch

    zs = [int(z) for z in model.atomic_numbers]
    energies = model.atomic_energies_fn.atomic_energies
    with torch.no_grad():
        for symbol, value in e0s_eV.items():
            energies[..., zs.index(z_of[symbol])] = float(value)


def diversify_readout(model: torch.nn.Module, mode: str, *, noise: float, seed: int) -> None:
    """Perturb (``perturb``) or redraw (``reinit``) the readout weights of ``model`` in place.

    ``perturb``: w += noise · rms(w) · N(0, 1) per tensor; ``reinit``: weights
    N(0, 1), biases 0. ``keep``: nothing. Deterministic in ``seed``.
    """
    import torch

    if mode == "keep":
        return
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.readouts.named_parameters():
            draw = torch.randn(param.shape, generator=gen, dtype=param.dtype)
            if mode == "perturb":
                param.add_(noise * param.pow(2).mean().sqrt() * draw.to(param.device))
            elif name.endswith("bias"):
                param.zero_()
            else:
                param.copy_(draw)


def start_files(cfg: CampaignConfig, info: FoundationModel, e0s_eV: Mapping[str, float], *,
                out_dir: Path, seed: int, iteration: int) -> FineTuneStart:
    """Write (or reuse) the start files of the K members of iteration ``iteration``.

    Parameters
    ----------
    cfg
        The campaign's configuration (``committee.finetuning``, ``committee.size``).
    info
        The foundation model (:func:`alearn.foundation.check_foundation`).
    e0s_eV
        The campaign's E0s (element symbol → eV) for the systems' elements.
    out_dir
        The committee's folder (created if missing).
    seed, iteration
        Member k's readout is drawn from ``derive_seed(seed, "readout", iteration, k)``.

    Returns
    -------
    :class:`FineTuneStart`. A start file that exists is reused (it is
    deterministic), so a resumed training starts where the killed one did.
    """
    ft, size = cfg.committee.finetuning, cfg.committee.size
    replay = None if ft.replay is None else ft.replay.model_copy(
        update={"file": cfg.resolve(ft.replay.file).resolve()})
    write_e0s = replay is None and any(
        abs(info.e0s_eV[s] - e) > 1e-12 for s, e in e0s_eV.items())
    if ft.readout == "keep" and not write_e0s:
        return FineTuneStart(models=(info.path,) * size, replay=replay)
    names = [f"member_{k}.start.model" for k in range(size)] if ft.readout != "keep" \
        else ["foundation.start.model"] * size
    out_dir.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        path = out_dir / name
        if path.is_file():
            continue
        model = load_model(info.path)
        if write_e0s:
            set_e0s(model, e0s_eV)
        diversify_readout(model, ft.readout, noise=ft.readout_noise,
                          seed=derive_seed(seed, "readout", iteration, k))
        _save(model, path)
    paths = tuple(out_dir / n for n in names)
    log.info("iteration %d: members start from %s (readout %s%s)", iteration,
             ", ".join(sorted({p.name for p in paths})), ft.readout,
             ", E0s written in" if write_e0s else "")
    return FineTuneStart(models=paths, replay=replay, written=tuple(sorted(set(paths))))


def _save(model: torch.nn.Module, path: Path) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(model, tmp)


def remove_written(start: FineTuneStart | None, keep: Sequence[Path] = ()) -> None:
    """Delete the start files the campaign wrote (not ``keep``)."""
    if start is None:
        return
    for path in start.written:
        if path not in keep:
            path.unlink(missing_ok=True)
