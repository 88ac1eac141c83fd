"""The cheap calculator of the ``md`` bootstrap, and the structure it runs.

``initial_data.bootstrap.md.calculator`` when given, else the campaign's Δ-ML
``baseline``: built as a baseline is (:func:`md_calculator`), checked against
each start structure and the oracle's charge before any work
(:func:`check_md_calculator`), and given a structure it can treat
(:func:`md_start`: xTB treats only 3D-periodic cells, so a slab with enough
vacuum runs periodic along z).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from alearn.errors import ConfigError
from alearn.methods import Keys, method, section, total_charge

if TYPE_CHECKING:
    from ase import Atoms
    from ase.calculators.calculator import BaseCalculator

    from alearn.config import BaselineConfig, CampaignConfig

log = logging.getLogger(__name__)

__all__ = ["KEY", "MIN_SLAB_GAP_A", "check_md_calculator", "md_calculator", "md_start"]

KEY = "initial_data.bootstrap.md"
# Vacuum between a slab's periodic images (Å) for xTB's 3D-periodic bootstrap MD.
MIN_SLAB_GAP_A = 6.0


def md_start(cfg: CampaignConfig, atoms: Atoms) -> Atoms:
    """The structure the bootstrap MD runs: ``atoms``, or for a slab (periodic in-plane,
    not along z) under an xTB cheap calculator, which treats only 3D-periodic cells, a copy
    periodic along z as well when the vacuum between the slab's images is at least
    ``MIN_SLAB_GAP_A`` (the frames get the slab's ``pbc`` back for the oracle)."""
    bcfg, _ = _calculator_section(cfg)
    slab = bool(atoms.pbc[0] and atoms.pbc[1] and not atoms.pbc[2])
    if bcfg.kind != "xtb" or not slab:
        return atoms
    z = atoms.positions[:, 2]
    gap = float(atoms.cell[2, 2] - (z.max() - z.min()))
    if gap < MIN_SLAB_GAP_A or abs(atoms.cell[2, :2]).max() > 1e-6 or z.min() < 0 \
            or z.max() > atoms.cell[2, 2]:
        return atoms  # check_md_calculator then says xTB cannot treat the slab
    periodic = atoms.copy()
    periodic.pbc = True
    return periodic


def _calculator_section(cfg: CampaignConfig) -> tuple[BaselineConfig, str]:
    """The cheap method's section and its key: ``md.calculator``, else ``baseline``."""
    md = cfg.initial_data.bootstrap.md
    if md.calculator is not None:
        return md.calculator, f"{KEY}.calculator"
    if cfg.baseline is not None:
        return cfg.baseline, "baseline"
    raise ConfigError(f"initial_data.bootstrap.method: md needs a cheap calculator: add "
                      f"{KEY}.calculator (e.g. {{kind: xtb}}) or a baseline: section")


def md_calculator(cfg: CampaignConfig) -> BaseCalculator:
    """The cheap calculator of the ``md`` bootstrap, built as a baseline is.

    ``initial_data.bootstrap.md.calculator`` when given, else the campaign's
    ``baseline`` (with its D3 term, if any). A GPAW calculator runs on one
    rank (the bootstrap runs on the writer rank only). ``kind: foundation``: the
    committee's foundation model (:func:`alearn.foundation.foundation_calculator`).

    Raises
    ------
    ConfigError
        When neither section is there, or the calculator cannot be built
        (e.g. tblite not installed); the message names the section.
    """
    from alearn.baselines import make_baseline

    bcfg, key = _calculator_section(cfg)
    if bcfg.kind == "foundation":
        from alearn.foundation import foundation_calculator

        return foundation_calculator(cfg)
    try:
        communicator = None
        if bcfg.kind == "gpaw":
            from gpaw.mpi import serial_comm as communicator
        return make_baseline(bcfg, communicator=communicator)
    except ConfigError as err:
        raise ConfigError(f"{key} (used by {KEY}): {err}") from None
    except Exception as err:  # noqa: BLE001 - any failure here is the user's set-up
        raise ConfigError(
            f"{key} (used by {KEY}): cannot build the {bcfg.kind} calculator: "
            f"{type(err).__name__}: {err}; install what it needs, choose another "
            f"{key}.kind, or set initial_data.bootstrap.method: rattle") from None


def check_md_calculator(cfg: CampaignConfig, atoms: Atoms, where: str) -> None:
    """Raise ConfigError if ``md.calculator`` cannot treat ``atoms`` or runs another
    charge than the oracle (one of the states' charges, with ``states:``; a ``baseline``
    is checked by the campaign itself).

    Cheap: run it before any MD.
    """
    md = cfg.initial_data.bootstrap.md
    if md.calculator is None:
        return
    bcfg, key = md.calculator, f"{KEY}.calculator"
    if bcfg.kind == "foundation":  # elements: checked with the foundation (preflight)
        log.info("%s: bootstrap MD on the foundation model (%s), which takes no charge "
                 "or spin", where, cfg.committee.foundation_model)
        return
    keys = Keys(prefix=f"{key}.{bcfg.kind}", subject=f"{key}.kind '{bcfg.kind}'")
    method(bcfg.kind).check_atoms(atoms, where, section(bcfg), keys=keys)
    mine, target = total_charge(bcfg), total_charge(cfg.oracle)
    targets = [float(s.charge) for s in cfg.states] if cfg.states else [target]
    if mine is None or None in targets or any(abs(mine - t) < 1e-9 for t in targets):
        return
    wanted = " or ".join(f"{t:g}" for t in targets)
    if bcfg.kind == "emt":
        log.warning("%s: the oracle labels charge %s but %s.kind 'emt' is neutral; the "
                    "bootstrap MD samples the neutral system", where, wanted, key)
        return
    raise ConfigError(f"{where}: the oracle labels charge {wanted} but {keys.key('charge')} "
                      f"is {mine:g}; set {keys.key('charge')}: {targets[0]:g} so that the "
                      "bootstrap MD samples the same system")
