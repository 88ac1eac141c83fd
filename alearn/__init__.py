"""alearn: grow MACE force fields by active learning against DFT (GPAW).

Public API
----------
Campaign          run or resume an active-learning campaign (YAML or config object)
load_config       read and validate a campaign YAML file
load_committee    the latest trained committee of a workdir as an ASE calculator
"""

from __future__ import annotations

import os
from pathlib import Path

from alearn.procenv import launched_by_mpi

if launched_by_mpi():
    # GPAW (imported early, by ASE's calculator plugins) refuses to run inside a
    # launcher unless told which MPI to use; share mpi4py's. Must precede any ASE import.
    os.environ.setdefault("GPAW_MPI_BACKEND", "mpi4py")

from alearn.config import CampaignConfig, config_from_dict, load_config  # noqa: E402
from alearn.errors import AlearnError, CampaignStopped, ConfigError, LabelFailed  # noqa: E402

__all__ = ["AlearnError", "Campaign", "CampaignConfig", "CampaignStopped", "ConfigError",
           "LabelFailed", "load_committee", "load_config"]
__version__ = "0.1.0"


def __getattr__(name: str):
    # Campaign pulls in torch/mace lazily: `import alearn` stays cheap for workers.
    if name == "Campaign":
        from alearn.campaign import Campaign

        return Campaign
    raise AttributeError(name)


def load_committee(workdir: str | Path, *, device: str = "cpu", dtype: str | None = None,
                   compile_mode: str | None = None, drive: str = "mean",
                   state: str | None = None):
    """The committee of the latest trained iteration of ``workdir``.

    Parameters
    ----------
    device
        ``"cpu"`` or ``"cuda"``.
    dtype
        ``"float32"`` or ``"float64"`` to run the members in (None: as trained).
    compile_mode
        A ``torch.compile`` mode (``"default"``) for long MD runs: compiled once, on the
        first step (a minute or more per member on a CPU).
    drive
        ``"mean"``: forces are the committee mean. ``"member"``: production MD at the
        cost of one model (member 0's forces; the spread is computed only when asked for).
    state
        For a campaign with electronic states (``states:``): the state whose
        committee to load (e.g. ``"ox"``); required there, not allowed otherwise.

    Returns
    -------
    :class:`alearn.calculators.CommitteeCalculator`, or a
    :class:`alearn.calculators.DeltaCalculator` (baseline + committee) when the
    campaign learned a Δ over a baseline.
    """
    import yaml

    from alearn.state import Stages
    from alearn.trained_committee import committee_calculator

    workdir = Path(workdir)
    stages = Stages(workdir)
    trained = stages.last_done("train")
    if trained is None:
        raise FileNotFoundError(f"{workdir}: no trained committee yet (run 'alearn run' first)")
    data = yaml.safe_load((workdir / "config.yaml").read_text())
    cfg = config_from_dict(data, source=str(workdir / "config.yaml"))
    inference = cfg.committee.inference.model_copy(
        update={"dtype": dtype or "model", "compile_mode": compile_mode})
    cfg = cfg.model_copy(update={"committee": cfg.committee.model_copy(
        update={"device": device, "inference": inference})})
    names = [s.name for s in cfg.states or []]
    if (state is None) != (not names) or (state is not None and state not in names):
        raise ConfigError(f"{workdir}: load_committee(state={state!r}): "
                          + (f"the campaign's states are {names}; name one" if names
                             else "this campaign has no electronic states; leave state out"))
    from alearn.electronic_states import committee_folder

    return committee_calculator(stages.iter_dir(trained) / committee_folder(state), cfg,
                                drive=drive)
