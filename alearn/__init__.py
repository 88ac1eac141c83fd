"""alearn: grow MACE force fields by active learning against DFT (GPAW).

Public API
----------
Campaign          run or resume an active-learning campaign (YAML or config object)
load_config       read and validate a campaign YAML file
load_committee    the latest trained committee of a workdir as an ASE calculator
"""

from __future__ import annotations

from pathlib import Path

from alearn.config import CampaignConfig, load_config
from alearn.errors import AlearnError, CampaignStopped, ConfigError, LabelFailed

__all__ = ["AlearnError", "Campaign", "CampaignConfig", "CampaignStopped", "ConfigError",
           "LabelFailed", "load_committee", "load_config"]
__version__ = "0.1.0"


def __getattr__(name: str):
    # Campaign pulls in torch/mace lazily: `import alearn` stays cheap for workers.
    if name == "Campaign":
        from alearn.campaign import Campaign

        return Campaign
    raise AttributeError(name)


def load_committee(workdir: str | Path, *, device: str = "cpu"):
    """The committee of the latest trained iteration of ``workdir``.

    Returns
    -------
    :class:`alearn.calculators.CommitteeCalculator`.
    """
    from alearn.calculators.committee import CommitteeCalculator
    from alearn.state import Stages

    stages = Stages(Path(workdir))
    trained = [it for it in stages.iterations() if stages.done(it, "train")]
    if not trained:
        raise FileNotFoundError(f"{workdir}: no trained committee yet (run 'alearn run' first)")
    models = sorted((stages.iter_dir(trained[-1]) / "committee").glob("member_*.model"),
                    key=lambda p: int(p.stem.split("_")[1]))
    return CommitteeCalculator(models, device=device)
