"""The config sections of a multi-state campaign: ``states:`` and ``coupling:``.

Part of the campaign schema (:mod:`alearn.config` re-exports every name here).
A campaign that declares electronic states labels every selected structure once
per state (same atoms, the state's total charge and unpaired electrons), trains
one committee per state and explores along the coupling path between them
(:mod:`alearn.electronic_states`). Without ``states:`` nothing changes: the
sections are left out of the dumped config, so digests of existing workdirs stay
the same.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from alearn.reference_config import OracleConfig, _Strict


class StateConfig(_Strict):
    """One electronic state of the campaign's atoms (e.g. the oxidised form of a couple)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="e.g. ox, red")
    charge: int = Field(description="total charge (e) of the system in this state")
    unpaired_electrons: int = Field(
        0, ge=0, description="2S: 0 for a closed shell, 1 for a doublet (an odd electron "
        "count needs at least 1: spin polarisation)")


class CouplingConfig(_Strict):
    """Where exploration walkers sit on the coupling path between the states.

    The path coordinate runs from 0 (the first state) to n_states − 1 (the
    last); at ``k + λ`` (0 ≤ λ ≤ 1) the walker moves on ``(1 − λ) U_k + λ U_{k+1}``
    of the two states' committees. Walker ``w`` of every system explores at
    ``lambdas[w % len(lambdas)]``.
    """

    lambdas: list[float] = Field(
        default_factory=lambda: [0.0, 0.5, 1.0],
        description="path positions of the walkers, cycled over a system's walkers")

    @field_validator("lambdas")
    @classmethod
    def _some(cls, value: list[float]) -> list[float]:
        if not value:
            raise ValueError("empty list; give at least one path position, e.g. [0, 0.5, 1]")
        return value


def check_states(states: list[StateConfig] | None, coupling: CouplingConfig | None,
                 *, oracle: OracleConfig, has_baseline: bool, has_initial_file: bool) -> None:
    """Raise ValueError (a config error) when the states section cannot work.

    The states must be two or more with unique names, consecutive charges one
    electron apart, an oracle that takes a charge (xtb, gpaw), no Δ-ML baseline
    and no user-labeled initial data (both single-state for now); the coupling
    positions must lie on the path.
    """
    if states is None:
        if coupling is not None:
            raise ValueError("coupling: is set but there is no states: section; remove "
                             "coupling or declare the states")
        return
    names = [s.name for s in states]
    if len(states) < 2:
        raise ValueError("states: declare at least two electronic states (e.g. ox and red), "
                         "or remove the section for a single-state campaign")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"states: names must be unique; repeated: {dupes}")
    for a, b in zip(states, states[1:]):
        if abs(a.charge - b.charge) != 1:
            raise ValueError(
                f"states[{a.name}].charge = {a.charge} and states[{b.name}].charge = {b.charge}: "
                "neighbouring states of a redox couple differ by one electron; fix the charges "
                "(order the states along the couple, e.g. ox then red)")
    if oracle.kind not in ("xtb", "gpaw"):
        raise ValueError(f"states: oracle.kind {oracle.kind!r} cannot set a total charge per "
                         "state; use oracle.kind xtb or gpaw")
    section = getattr(oracle, oracle.kind)
    spin_key = "uhf" if oracle.kind == "xtb" else "spinpol"
    default = type(section)()
    # compared with the defaults, not the keys given: a dumped config.yaml lists them all
    clash = [k for k in ("charge", spin_key) if getattr(section, k) != getattr(default, k)]
    if clash:
        raise ValueError(f"states: oracle.{oracle.kind}.{' and '.join(clash)} is set, but each "
                         "state sets its own charge and spin (states[].charge, "
                         f"states[].unpaired_electrons); remove oracle.{oracle.kind}.{clash[0]}")
    if has_baseline:
        raise ValueError("states: a Δ-ML baseline is not supported with several states yet; "
                         "remove baseline: (learn the oracle directly)")
    if has_initial_file:
        raise ValueError("states: initial_data.file is not supported with several states yet "
                         "(its labels carry no state); bootstrap the initial data instead")
    top = len(states) - 1
    outside = [x for x in (coupling or CouplingConfig()).lambdas if not 0.0 <= x <= top]
    if outside:
        raise ValueError(f"coupling.lambdas {outside} lie off the path [0, {top}] of "
                         f"{len(states)} states")
