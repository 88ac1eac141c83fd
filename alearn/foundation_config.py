"""The config sections of fine-tuning from a foundation model (``committee.finetuning``).

Part of the campaign schema (:mod:`alearn.config`, which re-exports every name
here); the user guide is docs/foundation.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from alearn.reference_config import _Strict


class ReplayConfig(_Strict):
    """Data the foundation model was trained on (or frames it labeled), replayed in a second
    head while the members are fine-tuned (mace-torch's multihead replay fine-tuning)."""

    file: Path = Field(description="extxyz file; relative to the YAML file")
    energy_key: str = Field("energy", description="the file's energy key (info)")
    forces_key: str = Field("forces", description="the file's forces key (arrays)")
    stress_key: str = Field("stress", description="the file's stress key (info)")


class FineTuningConfig(_Strict):
    """How the members are fine-tuned from ``committee.foundation_model``."""

    replay: ReplayConfig | None = Field(
        None, description="multihead replay fine-tuning (mace-torch's --multiheads_finetuning "
        "with this --pt_train_file): keeps the foundation's other chemistry; every iteration "
        "then fine-tunes from the foundation again. Default: naive fine-tuning, warm-started "
        "from the previous iteration's members")
    readout: Literal["keep", "perturb", "reinit"] = Field(
        "perturb", description="committee diversity: each member starts from the foundation "
        "with its readout weights as they are (keep), with Gaussian noise of readout_noise "
        "times their RMS per weight tensor (perturb), or drawn afresh (reinit), by the "
        "member's seed")
    readout_noise: float = Field(0.1, gt=0, description="see readout: perturb")
