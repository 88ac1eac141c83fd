"""A trained committee folder, loaded for inference.

:func:`committee_calculator` turns the members a campaign trained (checked
against the hashes in ``train.done.json``, :mod:`alearn.model_provenance`) and
their ``calibration.json`` into one calculator, on the baseline when the
campaign learned a Δ (:func:`with_baseline`). Training itself is
:mod:`alearn.training`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from alearn.errors import AlearnError
from alearn.model_provenance import recorded_hashes, verify_models
from alearn.state import read_json

if TYPE_CHECKING:
    from alearn.config import CampaignConfig


def committee_calculator(folder: Path, cfg: CampaignConfig, *, drive: str = "mean"):
    """The committee in ``folder`` (with its ``calibration.json`` when there is one), run as
    ``cfg.committee.inference`` says and driving MD with ``drive`` (see
    :class:`~alearn.calculators.CommitteeCalculator`), wrapped with the baseline when
    ``cfg`` has one."""
    from alearn.calculators.committee import (
        CommitteeCalculator,
        CommitteeCalibration,
        ModelFileError,
    )

    models = [folder / f"member_{k}.model" for k in range(cfg.committee.size)]
    marker = folder.parent / "train.done.json"
    if marker.is_file():  # a committee the campaign finished: its files as it wrote them
        verify_models(models, recorded_hashes(read_json(marker), folder), marker=marker)
    path = folder / "calibration.json"
    try:
        calibration = CommitteeCalibration.read(path) if path.is_file() else None
    except ValueError as err:
        raise AlearnError(f"{err}, or delete {folder.parent / 'train.done.json'} to train and "
                          "calibrate this committee again") from None
    inference = cfg.committee.inference
    try:
        committee = CommitteeCalculator(
            models, device=cfg.committee.device, calibration=calibration,
            dtype=None if inference.dtype == "model" else inference.dtype,
            compile_mode=inference.compile_mode, drive=drive)
    except (ModelFileError, FileNotFoundError) as err:
        raise AlearnError(f"{err}; delete {folder} and {folder.parent / 'train.done.json'}, "
                          "then rerun 'alearn run' to train this committee again") from None
    return with_baseline(committee, cfg)


def with_baseline(committee, cfg: CampaignConfig):
    """``committee`` on top of the campaign's baseline (a new one), or itself without one."""
    if cfg.baseline is None:
        return committee
    from alearn.baselines import make_baseline
    from alearn.calculators.delta import DeltaCalculator

    return DeltaCalculator(make_baseline(cfg.baseline), committee)
