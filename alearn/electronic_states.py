"""Electronic states of a campaign: one label and one committee per state.

A campaign with ``states:`` (:class:`alearn.config.StateConfig`) treats the same
atoms in several electronic states, e.g. the oxidised and reduced forms of a
redox couple. Every selected structure is labeled once per state (the state's
charge and unpaired electrons set on the oracle), one committee is trained per
state on its labels, walkers explore along the coupling path on the λ-mixed
committees (:class:`alearn.calculators.coupled.CoupledCalculator`), and a frame
counts as trusted only when *every* state's committee trusts it (the larger
uncertainty decides).

Dataset
-------
One row per (structure, state): the rows of a structure are inserted together
(same split, iteration, walker, step) and differ by their ``state`` key, their
label and their ``oracle_hash``. Every row is an ordinary row to the labeling
machinery (journal, retries, failures, exclusion), so provenance says which
state each oracle call was for. A single-state campaign is the one state named
None: no ``state`` key, ``committee/`` folders and labels exactly as before.

Workdir
-------
``iter_NNN/committee_<state>/`` and ``iter_NNN/report/<state>/`` per state;
``train.done.json`` holds, at its top level, the numbers of the state whose
committee has the larger validation force error, and all states under ``states``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ase import Atoms

from alearn.config import CampaignConfig, CouplingConfig, OracleConfig, StateConfig
from alearn.dataset import Candidate
from alearn.errors import ConfigError
from alearn.oracles import Oracle, settings_hash

log = logging.getLogger(__name__)

__all__ = ["ElectronicState", "campaign_states", "check_structure", "committee_folder",
           "oracle_calculator", "path_committee", "per_state",
           "state_committee", "state_oracle_config", "train_summary", "walker_lambda"]


@dataclass(frozen=True)
class ElectronicState:
    """One electronic state of a campaign and the oracle that labels it.

    Attributes
    ----------
    name
        The state's name; None for a single-state campaign.
    config
        Its ``states:`` entry (None for a single-state campaign).
    oracle_config
        The campaign's oracle with this state's charge and spin.
    oracle
        The oracle built from ``oracle_config``.
    oracle_hash
        :func:`alearn.oracles.settings_hash` of its settings.
    """

    name: str | None
    config: StateConfig | None
    oracle_config: OracleConfig
    oracle: Oracle
    oracle_hash: str

    @property
    def selection(self) -> dict[str, str]:
        """Dataset key selecting this state's rows ({} for a single state)."""
        return {} if self.name is None else {"state": self.name}

    @property
    def committee_label(self) -> str:
        """How the log names this state's committee."""
        return "committee" if self.name is None else f"committee of state {self.name}"

    def committee_dir(self, iter_dir: Path) -> Path:
        """Where this state's committee of an iteration lives."""
        return iter_dir / committee_folder(self.name)

    def report_dir(self, iter_dir: Path) -> Path:
        """Where this state's validation figures of an iteration go."""
        return iter_dir / "report" if self.name is None else iter_dir / "report" / self.name


def committee_folder(state: str | None) -> str:
    """Folder name of a state's committee in ``iter_NNN/`` (``committee`` for None)."""
    return "committee" if state is None else f"committee_{state}"


def state_oracle_config(oracle: OracleConfig, state: StateConfig) -> OracleConfig:
    """``oracle`` with the total charge and spin of ``state``.

    xTB gets ``charge`` and ``uhf``; GPAW gets ``charge`` and, with unpaired
    electrons, ``spinpol`` (a doublet: one Bohr magneton spread over the atoms
    to start from), and with more than one the total moment held fixed at their
    number (``magmom_muB``: a high-spin Fe(III) stays a sextet).

    Raises
    ------
    ConfigError
        For an oracle kind without a charge.
    """
    where = f"states[{state.name}]"
    if oracle.kind == "xtb":
        section = oracle.xtb.model_copy(update={"charge": float(state.charge),
                                                "uhf": state.unpaired_electrons})
        return oracle.model_copy(update={"xtb": section})
    if oracle.kind == "gpaw":
        section = oracle.gpaw.model_copy(update={
            "charge": float(state.charge),
            "spinpol": True if state.unpaired_electrons else None,
            "magmom_muB": (float(state.unpaired_electrons) if state.unpaired_electrons > 1
                           else None)})
        return oracle.model_copy(update={"gpaw": section})
    raise ConfigError(f"{where}: oracle.kind {oracle.kind!r} cannot set a total charge; "
                      "use xtb or gpaw")


def oracle_calculator(cfg: CampaignConfig, state: str | None = None):
    """An ASE calculator of the campaign's oracle method in electronic state ``state`` (its
    charge and spin), e.g. the reference of a redox integration's end-state correction or
    of a direct integration; with ``state`` None, the oracle as configured (MD on the
    reference method, held-out labels).

    Raises
    ------
    ConfigError
        When the campaign has no state of that name.
    """
    from alearn.methods import method, section

    if state is None:
        return method(cfg.oracle.kind).make_calculator(section(cfg.oracle))
    names = [s.name for s in cfg.states or []]
    if state not in names:
        raise ConfigError(f"no electronic state {state!r}; the campaign's states are {names}")
    oc = state_oracle_config(cfg.oracle, cfg.states[names.index(state)])
    return method(oc.kind).make_calculator(section(oc))


def campaign_states(cfg: CampaignConfig, make_oracle: Callable[[OracleConfig], Oracle]
                    ) -> list[ElectronicState]:
    """The campaign's states in path order (one state named None without ``states:``)."""
    if not cfg.states:
        oracle = make_oracle(cfg.oracle)
        return [ElectronicState(None, None, cfg.oracle, oracle,
                                settings_hash(oracle.settings()))]
    states = []
    for s in cfg.states:
        oc = state_oracle_config(cfg.oracle, s)
        oracle = make_oracle(oc)
        states.append(ElectronicState(s.name, s, oc, oracle, settings_hash(oracle.settings())))
    return states


def check_structure(states: Sequence[ElectronicState], atoms: Atoms, where: str) -> None:
    """Raise ConfigError (naming ``where`` and the state) when a state cannot label ``atoms``.

    Checks, per state: the electron count against the unpaired electrons (an
    odd count needs spin polarisation, ``states[].unpaired_electrons``), then
    the oracle's own checks with the state's charge and spin.
    """
    for state in states:
        if state.config is not None:
            _check_electrons(state.config, atoms, where)
        state.oracle.check(atoms, where if state.name is None else f"{where}, state {state.name}")


def _check_electrons(state: StateConfig, atoms: Atoms, where: str) -> None:
    n_electrons = int(atoms.numbers.sum()) - state.charge
    key = f"states[{state.name}].unpaired_electrons"
    if n_electrons < 1 or state.unpaired_electrons > n_electrons:
        raise ConfigError(f"{where}: state {state.name} has {n_electrons} electrons "
                          f"(charge {state.charge}), too few for {key} = "
                          f"{state.unpaired_electrons}; fix the charge")
    if (n_electrons - state.unpaired_electrons) % 2:
        parity = "odd" if n_electrons % 2 else "even"
        hint = ("needs spin polarisation: set it to 1 (a doublet) or another odd number"
                if n_electrons % 2 else "must be even (0 for a closed shell)")
        raise ConfigError(f"{where}: state {state.name} has {n_electrons} electrons (an {parity} "
                          f"count, charge {state.charge}) and {key} = "
                          f"{state.unpaired_electrons}; an {parity} count {hint}. Nothing was "
                          "computed.")


def per_state(states: Sequence[ElectronicState], candidates: Sequence[Candidate]
              ) -> list[Candidate]:
    """One candidate per (structure, state), a structure's states together; unchanged for
    a single-state campaign."""
    if len(states) == 1 and states[0].name is None:
        return list(candidates)
    return [replace(c, state=s.name) for c in candidates for s in states]


def walker_lambda(cfg: CampaignConfig, walker: int) -> float | None:
    """Path position of ``walker`` (0-based) of every system; None without states."""
    if not cfg.states:
        return None
    lambdas = (cfg.coupling or CouplingConfig()).lambdas
    return float(lambdas[walker % len(lambdas)])


def state_committee(state: ElectronicState, iter_dir: Path, cfg: CampaignConfig):
    """The committee of ``state`` in the iteration folder ``iter_dir``."""
    from alearn.trained_committee import committee_calculator

    return committee_calculator(state.committee_dir(iter_dir), cfg)


def path_committee(states: Sequence[ElectronicState], iter_dir: Path, cfg: CampaignConfig,
                   coupling_lambda: float | None = None):
    """The committee of a single-state campaign; for several states, theirs mixed at path
    position ``coupling_lambda`` (default 0: the first state) by a
    :class:`~alearn.calculators.coupled.CoupledCalculator`."""
    if len(states) == 1:
        return state_committee(states[0], iter_dir, cfg)
    from alearn.calculators.coupled import CoupledCalculator

    return CoupledCalculator([state_committee(s, iter_dir, cfg) for s in states],
                             coupling_lambda or 0.0)


def train_summary(states: Sequence[ElectronicState], trained: Sequence[dict[str, Any]]
                  ) -> dict[str, Any]:
    """The train marker's numbers: a single state's as they are; for several, those of the
    state with the largest validation force RMSE at the top level and all under ``states``."""
    if len(states) == 1 and states[0].name is None:
        return dict(trained[0])
    def force_rmse(i: int) -> float:
        value = trained[i].get("rmse_forces_meV_A")
        return float(value) if value is not None and math.isfinite(value) else -math.inf

    worst = max(range(len(states)), key=force_rmse)
    return {**trained[worst], "worst_state": states[worst].name,
            "states": {s.name: t for s, t in zip(states, trained)}}
