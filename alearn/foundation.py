"""The foundation model a committee is fine-tuned from: inspected, checked, recorded.

``committee.foundation_model`` names a mace-torch model file the user supplies
(nothing is downloaded). Before any work (:func:`check_foundation`, from
:mod:`alearn.preflight`) the file is loaded once, its SHA-256 computed, and it is
refused, with one message naming the key, when it is not a single-head MACE
model that mace-torch can fine-tune or lacks an element of the systems
(mace-torch 0.3.16 fine-tunes only the elements a foundation has: it copies
each element's weights from it, see docs/foundation.md).

``<workdir>/foundation.json`` records the file a campaign started from
(:func:`record_foundation`): its path, hash, architecture, own E0s and, with
``committee.training.e0s: estimated``, the E0s estimated for the campaign. A
resumed campaign whose file has another hash is refused.

E0s (:func:`foundation_reference_energies`): ``foundation`` takes the model's
own; ``estimated`` corrects them with mace-torch's
``estimate_e0s_from_foundation`` (least squares of oracle − foundation energy
over the element counts of the first training frames), computed once and kept
in ``foundation.json``, so that every member and every iteration uses the same.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ase import Atoms
from ase.data import atomic_numbers as z_of
from ase.data import chemical_symbols

from alearn.calculators.model_files import announce_load
from alearn.errors import AlearnError, ConfigError
from alearn.state import read_json, write_json_atomic

if TYPE_CHECKING:
    import torch

    from alearn.config import CampaignConfig
    from alearn.parallel import Workers

log = logging.getLogger(__name__)

__all__ = ["FOUNDATION_FILE", "FoundationModel", "check_foundation", "foundation_calculator",
           "foundation_reference_energies", "inspect_foundation", "load_model",
           "record_foundation"]

FOUNDATION_FILE = "foundation.json"
KEY = "committee.foundation_model"
#: model classes mace-torch 0.3.16's run_train fine-tunes (tools/model_script_utils.py)
FINE_TUNABLE = ("MACE", "ScaleShiftMACE")


@dataclass(frozen=True)
class FoundationModel:
    """What a foundation model file holds.

    Attributes
    ----------
    path, sha256, size_bytes
        The file, its SHA-256 and size.
    model_class
        e.g. ``ScaleShiftMACE``.
    r_max_A
        Cutoff radius (Å); the members inherit it.
    atomic_numbers
        Elements it covers (sorted).
    heads
        Its output heads (one for a model alearn fine-tunes).
    num_interactions, hidden_irreps, dtype
        Architecture, e.g. 2, ``"128x0e+128x1o"``, ``"float64"``.
    e0s_eV
        Its own per-element reference energies (element symbol → eV; first head).
    """

    path: Path
    sha256: str
    size_bytes: int
    model_class: str
    r_max_A: float
    atomic_numbers: tuple[int, ...]
    heads: tuple[str, ...]
    num_interactions: int
    hidden_irreps: str
    dtype: str
    e0s_eV: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready fields (``path`` as a string)."""
        return {**asdict(self), "path": str(self.path), "atomic_numbers":
                list(self.atomic_numbers), "heads": list(self.heads)}


def load_model(path: Path, *, device: str = "cpu", key: str = KEY) -> torch.nn.Module:
    """``torch.load`` a mace-torch model file (logged with its hash, see
    :func:`alearn.calculators.model_files.announce_load`).

    Raises
    ------
    ConfigError
        Naming ``key`` when the file is missing, unreadable or holds no ``torch.nn.Module``.
    """
    import torch

    if not Path(path).is_file():
        raise ConfigError(f"{key} ({path}): file not found; paths are relative to the YAML "
                          "file, and alearn downloads no models (see docs/foundation.md)")
    announce_load(path)
    try:
        model = torch.load(path, map_location=device, weights_only=False)
    except Exception as err:  # noqa: BLE001 - pickle, zip and torch errors alike
        raise ConfigError(f"{key} ({path}): not a readable mace-torch model file "
                          f"({type(err).__name__}: {err})") from None
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "atomic_numbers"):
        raise ConfigError(f"{key} ({path}): holds a {type(model).__name__}, not a MACE model")
    return model


def describe(model: torch.nn.Module, path: Path, sha256: str) -> FoundationModel:
    """The :class:`FoundationModel` of a loaded ``model`` read from ``path``."""
    zs = tuple(int(z) for z in model.atomic_numbers)
    energies = model.atomic_energies_fn.atomic_energies.detach().cpu().reshape(-1, len(zs))[0]
    return FoundationModel(
        path=Path(path), sha256=sha256, size_bytes=Path(path).stat().st_size,
        model_class=type(model).__name__, r_max_A=float(model.r_max),
        atomic_numbers=zs, heads=tuple(getattr(model, "heads", None) or ["Default"]),
        num_interactions=int(model.num_interactions),
        hidden_irreps=str(model.products[0].linear.__dict__["irreps_out"]),
        dtype=str(next(model.parameters()).dtype).removeprefix("torch."),
        e0s_eV={chemical_symbols[z]: float(e) for z, e in zip(zs, energies.tolist())})


def inspect_foundation(path: Path, *, key: str = KEY) -> FoundationModel:
    """Load ``path`` once and describe it (raises ConfigError as :func:`load_model`)."""
    from alearn.calculators.model_files import sha256_file

    model = load_model(path, key=key)
    return describe(model, path, sha256_file(path))


def check_foundation(cfg: CampaignConfig, atomic_numbers: Sequence[int]) -> FoundationModel | None:
    """Refuse a foundation model the committee cannot be fine-tuned from (preflight).

    Returns
    -------
    The foundation's description, or None when ``committee.foundation_model`` is unset.

    Raises
    ------
    ConfigError
        Missing or unreadable file, more than one head, a class mace-torch does not
        fine-tune, an element of the systems it lacks, or a missing replay file.
    """
    if cfg.committee.foundation_model is None:
        return None
    path = cfg.resolve(cfg.committee.foundation_model)
    info = inspect_foundation(path)
    where = f"{KEY} ({path})"
    if len(info.heads) > 1:
        raise ConfigError(
            f"{where}: has {len(info.heads)} heads {list(info.heads)}; alearn fine-tunes a "
            "single-head model. Extract the head you want with mace-torch's own tool, e.g. "
            f"'mace_select_head --head_name {info.heads[0]} -o one_head.model {path.name}', "
            "and name that file")
    if info.model_class not in FINE_TUNABLE:
        raise ConfigError(f"{where}: is a {info.model_class}; mace-torch fine-tunes "
                          f"{' and '.join(FINE_TUNABLE)} models")
    missing = sorted(set(atomic_numbers) - set(info.atomic_numbers))
    if missing:
        raise ConfigError(
            f"{where}: covers {[chemical_symbols[z] for z in info.atomic_numbers]} but not "
            f"{[chemical_symbols[z] for z in missing]}, which the systems contain. "
            "mace-torch 0.3.16 cannot add elements when fine-tuning (it copies each "
            "element's weights from the foundation); choose a foundation model that covers "
            "them (e.g. MACE-MP-0 or MACE-MPA-0: 89 elements), or train from scratch "
            "(remove committee.foundation_model)")
    replay = cfg.committee.finetuning.replay
    if replay is not None and not cfg.resolve(replay.file).is_file():
        raise ConfigError(f"committee.finetuning.replay.file ({cfg.resolve(replay.file)}): "
                          "file not found; paths are relative to the YAML file")
    log.info("foundation model %s: %s, r_max %.2f Å, %d interactions, %s, elements %s",
             path, info.model_class, info.r_max_A, info.num_interactions, info.hidden_irreps,
             "".join(chemical_symbols[z] for z in info.atomic_numbers))
    ignored = sorted(cfg.committee.model.model_fields_set - {"default_dtype"})
    if ignored:
        log.warning("committee.model.%s ignored: members fine-tuned from %s take its "
                    "architecture (r_max %.2f Å, %s); only default_dtype applies",
                    "/".join(ignored), path, info.r_max_A, info.hidden_irreps)
    return info


# --------------------------------------------------------------------------- provenance
def record_foundation(workdir: Path, info: FoundationModel) -> dict[str, Any]:
    """Write (or check) ``<workdir>/foundation.json``; return its content.

    Raises
    ------
    ConfigError
        When the campaign was started from a file with another SHA-256.
    """
    path = Path(workdir) / FOUNDATION_FILE
    stored = read_json(path) if path.is_file() else {}
    if stored and stored.get("sha256") != info.sha256:
        raise ConfigError(
            f"{KEY} ({info.path}): sha256 {info.sha256} differs from {stored.get('sha256')}, "
            f"the file this campaign started from ({stored.get('path')}, recorded in {path}); "
            "restore that file, or start a new --workdir")
    record = {**stored, **info.to_json()}
    if record != stored:
        write_json_atomic(path, record)
    return record


# --------------------------------------------------------------------------- E0s
def foundation_reference_energies(cfg: CampaignConfig, info: FoundationModel,
                                  symbols: Sequence[str], *, workdir: Path, workers: Workers,
                                  training_frames: Callable[[], Sequence[Atoms]]
                                  ) -> dict[str, float]:
    """E0s (element symbol → eV) for ``committee.training.e0s`` ``foundation`` or
    ``estimated`` (see the module docstring).

    ``training_frames`` gives the labeled training frames (``REF_energy``); it is
    called only when ``estimated`` E0s are not yet in ``foundation.json``.
    """
    mode = cfg.committee.training.e0s
    if mode == "foundation":
        return {s: info.e0s_eV[s] for s in symbols}
    path = Path(workdir) / FOUNDATION_FILE
    stored = None
    if workers.is_writer:
        record = read_json(path) if path.is_file() else {}
        stored = (record.get("estimated_e0s") or {}).get("e0s_eV")
        if stored is None or set(stored) != set(symbols):
            estimate = estimate_e0s(info, symbols, training_frames())
            record["estimated_e0s"] = estimate
            write_json_atomic(path, record)
            stored = estimate["e0s_eV"]
    stored = workers.bcast(stored)
    log.info("E0s (foundation E0s corrected on the first training frames, %s): %s", path,
             ", ".join(f"{s} {stored[s]:.6f} eV" for s in symbols))
    return {s: float(stored[s]) for s in symbols}


def estimate_e0s(info: FoundationModel, symbols: Sequence[str], frames: Sequence[Atoms]
                 ) -> dict[str, Any]:
    """mace-torch's ``estimate_e0s_from_foundation`` on ``frames`` (``REF_energy``, eV).

    Returns
    -------
    ``e0s_eV`` (element symbol → eV), ``n_frames`` and ``foundation_e0s_eV``.

    Raises
    ------
    AlearnError
        When no frame has an energy.
    """
    from mace.data import KeySpecification, config_from_atoms
    from mace.data.utils import estimate_e0s_from_foundation
    from mace.tools import AtomicNumberTable, torch_tools

    labeled = [a for a in frames if "REF_energy" in a.info]
    if not labeled:
        raise AlearnError("committee.training.e0s 'estimated' needs labeled training frames "
                          "with energies; none are there")
    model = load_model(info.path)
    keys = KeySpecification(info_keys={"energy": "REF_energy"}, arrays_keys={})
    configs = [config_from_atoms(a, key_specification=keys) for a in labeled]
    table = AtomicNumberTable(sorted(z_of[s] for s in symbols))
    own = {z_of[s]: e for s, e in info.e0s_eV.items()}
    with torch_tools.default_dtype(next(model.parameters()).dtype):
        e0s = estimate_e0s_from_foundation(model, own, configs, table)
    return {"e0s_eV": {chemical_symbols[z]: float(e) for z, e in e0s.items()},
            "n_frames": len(configs), "foundation_e0s_eV": {s: info.e0s_eV[s] for s in symbols}}


# --------------------------------------------------------------------------- MD
def foundation_calculator(cfg: CampaignConfig):
    """The foundation model as an ASE calculator (a one-member
    :class:`~alearn.calculators.committee.CommitteeCalculator`, on ``committee.device``)."""
    from alearn.calculators.committee import CommitteeCalculator, ModelFileError

    path = cfg.resolve(cfg.committee.foundation_model)
    try:
        return CommitteeCalculator([path], device=cfg.committee.device)
    except (ModelFileError, FileNotFoundError) as err:
        raise ConfigError(f"{KEY}: {err}") from None
