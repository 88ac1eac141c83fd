"""Exploration: MD walkers driven by one committee member (or the mean), and their records.

With ``md.uncertainty_bias`` τ > 0 a walker moves on Ē − τ σ_E instead
(:class:`alearn.calculators.biased.UncertaintyBiasedCalculator`); its frames
record the unbiased committee (``pred_energy``, ``unc_*``) and the bias energy.

Each walker runs ASE dynamics (Langevin NVT, or Langevin-BAOAB NPT with a
Langevin-Hoover barostat) from its system's start structure, with velocities
drawn from its own seeded generator. Every ``sample_interval`` steps an
observer records the frame with its committee uncertainty. A walker stops
early when a frame reaches the ``hi`` end of the trust window or the structure
breaks (non-finite positions, atoms too close, an atom flown off); the event is
recorded with the frames.

The forces that move the atoms are those of one member (``uncertainty.drive:
member``, as DP-GEN does: a step costs one model) or the committee mean
(``drive: mean``: every member at every step). With a member driving, the full
committee is evaluated on the sampled frames (their statistics are those of
``drive: mean`` at the same positions), every ``uncertainty.check_interval``
steps if set, and at any step where the structure breaks or the forces are not
finite (checked every step, cheaply). So a walker that leaves the trusted
region is stopped at most ``min(sample_interval, check_interval)`` steps after
it crosses ``hi`` (as with ``drive: mean``, where only sampled frames are
judged), and at the step its structure breaks.

Records: each walker's frames go to ``<stem>.xyz`` and its summary (steps,
stop reason, wall time) to ``<stem>.json`` in the iteration's ``explore/``
folder; the summary is written last and marks the walker done.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator, all_changes
from ase.constraints import FixCom
from ase.io import read
from ase.md.langevin import Langevin
from ase.md.langevinbaoab import LangevinBAOAB
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from ase.parallel import DummyMPI

from alearn.calculators.biased import UncertaintyBiasedCalculator, unbiased_results
from alearn.conditions import at_condition, by_condition
from alearn.config import MDConfig, UncertaintyConfig
from alearn.state import read_json, write_extxyz, write_json_atomic
from alearn.uncertainty import (
    Zone,
    broken_structure,
    frame_zone,
    from_results,
    metric_name,
    metric_value,
    zone,
)

log = logging.getLogger(__name__)
# Walkers are independent: under mpirun ASE would otherwise broadcast random numbers
# from rank 0 over ase.parallel.world, pairing up the walkers of different ranks.
SERIAL = DummyMPI()


@dataclass(frozen=True)
class WalkerSpec:
    """One walker of one iteration."""

    system: str
    walker: int
    iteration: int
    temperature_K: float
    seed: int
    md: MDConfig
    coupling_lambda: float | None = None  # path position (electronic states), else None
    pressure_bar: float | None = None  # NPT; None: the walker's md.pressure_bar

    @property
    def stem(self) -> str:
        """File name (without suffix) of the walker's frames and summary."""
        return f"{self.system}_w{self.walker}"


@dataclass
class WalkerResult:
    """Frames sampled by a walker (each with ``unc_*`` info) and how it ended."""

    spec: WalkerSpec
    frames: list[Atoms] = field(default_factory=list)
    steps: int = 0
    stop_reason: str | None = None
    wall_s: float = 0.0


def make_dynamics(atoms: Atoms, spec: WalkerSpec, rng: np.random.Generator):
    """ASE dynamics for the walker's ensemble."""
    md = spec.md
    dt = md.timestep_fs * units.fs
    if md.ensemble == "npt":
        pressure = spec.pressure_bar if spec.pressure_bar is not None \
            else md.target_pressure_bar(spec.walker)
        if not atoms.pbc.all():
            raise ValueError(f"system '{spec.system}': NPT needs a 3D-periodic cell")
        return LangevinBAOAB(atoms, dt, temperature_K=spec.temperature_K,
                             externalstress=-pressure * units.bar, hydrostatic=True,
                             T_tau=1.0 / md.friction_per_fs * units.fs,
                             P_tau=md.barostat_tau_fs * units.fs, rng=rng, comm=SERIAL)
    # Centre of mass fixed by a FixCom constraint (set by run_walker): ASE's
    # fixcm=True flag does not sample the NVT distribution exactly.
    return Langevin(atoms, dt, temperature_K=spec.temperature_K,
                    friction=md.friction_per_fs / units.fs, fixcm=False, rng=rng, comm=SERIAL)


def _snapshot(atoms: Atoms, results: dict, spec: WalkerSpec, step: int,
              ucfg: UncertaintyConfig) -> Atoms:
    frame = atoms.copy()
    frame.calc = None
    frame.set_constraint()
    bias = results.get("bias_energy")
    results = unbiased_results(results)
    unc = from_results(results, len(atoms), relative_eps=ucfg.relative_eps_eV_A)
    frame.info.update(unc.as_info(), system=spec.system, walker=spec.walker, md_step=step,
                      iteration=spec.iteration, temperature_K=spec.temperature_K,
                      pred_energy=float(results["energy"]))
    if spec.coupling_lambda is not None:
        frame.info["coupling_lambda"] = spec.coupling_lambda
    if bias is not None:
        frame.info["bias_energy"] = float(bias)
    return frame


def drivable_committee(calc: Calculator):
    """The committee inside ``calc`` that can drive MD with one member (a
    :class:`~alearn.calculators.CommitteeCalculator`, alone or as a Δ-ML
    calculator's ``committee``), or None."""
    for candidate in (calc, getattr(calc, "committee", None)):
        if callable(getattr(candidate, "driving", None)):
            return candidate
    return None


def committee_results_at(atoms: Atoms, calc: Calculator, committee) -> dict:
    """The full committee's results (means and spreads) at ``atoms``, whatever drives the MD.

    With a member-driven committee, the other members are evaluated here (the
    driver's outputs are reused) and the calculator's cache is dropped after,
    so the dynamics go on with the driver's forces.
    """
    if committee is None or committee.drive == "mean":
        return calc.results
    with committee.driving("mean"):
        _forget_results(calc)
        calc.calculate(atoms, ["energy", "forces"], all_changes)
        results = dict(calc.results)
    _forget_results(calc)
    return results


def _forget_results(calc: Calculator) -> None:
    """Drop ``calc``'s cached results, as ASE's ``Calculator.reset`` does (a Δ-ML sum is
    a ``BaseCalculator``, which has no ``reset``)."""
    calc.atoms = None
    calc.results = {}


def run_walker(start: Atoms, calc: Calculator, spec: WalkerSpec,
               ucfg: UncertaintyConfig, *,
               on_sample: Callable[[int, float], None] | None = None) -> WalkerResult:
    """Run one walker; never raises for a blown-up trajectory (it is recorded).
    ``on_sample(step, uncertainty)`` is called for each sampled frame (progress).

    With ``ucfg.drive == "member"`` (and a committee that supports it) one member
    drives the dynamics; the full committee is evaluated on the sampled frames,
    every ``ucfg.check_interval`` steps, and at any step whose structure is broken.
    An uncertainty-biased walker (``md.uncertainty_bias``) needs the full committee
    at every step: it is driven by the biased mean whatever ``ucfg.drive`` says.
    """
    committee = drivable_committee(calc)
    drive = ucfg.drive if committee is not None and spec.md.uncertainty_bias <= 0 else "mean"
    with committee.driving(drive) if committee is not None else nullcontext():
        if spec.md.uncertainty_bias > 0:
            calc = UncertaintyBiasedCalculator(calc, strength=spec.md.uncertainty_bias)
            committee = None  # the biased results hold the committee's at every step
        return _run_walker(start, calc, committee, spec, ucfg, on_sample)


def _run_walker(start: Atoms, calc: Calculator, committee, spec: WalkerSpec,
                ucfg: UncertaintyConfig,
                on_sample: Callable[[int, float], None] | None) -> WalkerResult:
    result = WalkerResult(spec=spec)
    t0 = time.perf_counter()
    rng = np.random.default_rng(spec.seed)
    atoms = start.copy()
    atoms.calc = calc
    thermalize_momenta(atoms, spec.temperature_K, rng=rng, comm=SERIAL)
    Stationary(atoms)
    if spec.md.ensemble == "nvt":
        atoms.set_constraint(FixCom())
    dyn = make_dynamics(atoms, spec, rng)

    def record(keep: bool) -> None:
        """Evaluate the committee here; keep the frame if asked or if the walker stops."""
        results = committee_results_at(atoms, calc, committee)
        frame = _snapshot(atoms, results, spec, dyn.nsteps, ucfg)
        broken = broken_structure(atoms, ucfg)
        value = metric_value(frame.info, ucfg)
        if on_sample is not None:
            on_sample(dyn.nsteps, value)
        if broken:
            result.stop_reason = f"structure broken at step {dyn.nsteps}: {broken}"
            frame.info["broken"] = True
        elif zone(value, ucfg) is Zone.REJECTED:
            result.stop_reason = (f"{metric_name(ucfg)} = {value:.3g} ≥ hi = {ucfg.hi} "
                                  f"at step {dyn.nsteps}")
        if keep or result.stop_reason:
            result.frames.append(frame)

    dyn.attach(lambda: record(keep=True), interval=spec.md.sample_interval)
    if committee is not None and committee.drive == "member":
        dyn.attach(lambda: _guard(atoms, calc, dyn.nsteps, spec, ucfg, record), interval=1)
    try:
        for _ in dyn.irun(spec.md.steps):
            if result.stop_reason:
                break
    except Exception as err:  # noqa: BLE001 - MD blowing up is an event, not a crash
        result.stop_reason = f"MD failed at step {dyn.nsteps}: {type(err).__name__}: {err}"
    result.steps = dyn.nsteps
    result.wall_s = time.perf_counter() - t0
    if result.stop_reason:
        log.info("walker %s/%d stopped: %s", spec.system, spec.walker, result.stop_reason)
    return result


def _guard(atoms: Atoms, calc: Calculator, step: int, spec: WalkerSpec, ucfg: UncertaintyConfig,
           record) -> None:
    """Between sampled frames of a member-driven walker: the full committee every
    ``check_interval`` steps, and at once where the structure breaks or the driver's
    forces are not finite (a frame is kept only when the walker stops there)."""
    if step % spec.md.sample_interval == 0:
        return  # a sampled frame: recorded anyway
    due = ucfg.check_interval is not None and step % ucfg.check_interval == 0
    if (due or not np.isfinite(calc.results["forces"]).all()
            or broken_structure(atoms, ucfg) is not None):
        record(keep=False)


# --------------------------------------------------------------------------- records
def save_walker(out: Path, result: WalkerResult) -> None:
    """Write a walker's frames, then its summary (the summary marks it done)."""
    spec = result.spec
    write_extxyz(result.frames, out / f"{spec.stem}.xyz")
    write_json_atomic(out / f"{spec.stem}.json",
                      {"steps": result.steps, "stop_reason": result.stop_reason,
                       "wall_s": result.wall_s, "n_frames": len(result.frames),
                       "temperature_K": spec.temperature_K, "timestep_fs": spec.md.timestep_fs,
                       **({} if spec.coupling_lambda is None
                          else {"coupling_lambda": spec.coupling_lambda})})


def walker_done(out: Path, spec: WalkerSpec) -> bool:
    """True when the walker's records are complete and readable in ``out``.

    Damaged records (a file that does not parse) are removed, with a warning,
    so that the walker runs again.
    """
    summary, frames = out / f"{spec.stem}.json", out / f"{spec.stem}.xyz"
    if not summary.is_file():
        return False
    try:
        read_json(summary)
        _read_frames(frames)
    except Exception as err:  # noqa: BLE001 - any parse error means: run the walker again
        log.warning("walker records %s are damaged (%s: %s); running the walker again",
                    frames, type(err).__name__, err)
        summary.unlink(missing_ok=True)
        frames.unlink(missing_ok=True)
        return False
    return True


def walker_frames(out: Path, specs: Sequence[WalkerSpec]) -> list[Atoms]:
    """The frames the walkers ``specs`` sampled, in order (missing files: none)."""
    frames: list[Atoms] = []
    for spec in specs:
        path = out / f"{spec.stem}.xyz"
        if path.is_file():
            frames += _read_frames(path)
    return frames


def _read_frames(path: Path) -> list[Atoms]:
    # a walker whose MD failed at once sampled nothing: an empty file
    return read(str(path), index=":", parallel=False) if path.stat().st_size else []


def zone_summary(frames: Sequence[Atoms], stops: Sequence[str | None],
                 ucfg: UncertaintyConfig) -> dict:
    """Counts of frames per trust-window zone, the trusted fraction and the stops."""
    zones = [frame_zone(f, ucfg) for f in frames]
    n = len(zones)
    counts = {z.name.lower(): sum(1 for x in zones if x is z) for z in Zone}
    return {"n_frames": n, **counts, "accurate_ratio": counts["trusted"] / n if n else 0.0,
            "stopped_walkers": [s for s in stops if s]}


def system_summary(out: Path, specs: Sequence[WalkerSpec], ucfg: UncertaintyConfig) -> dict:
    """:func:`zone_summary` of one system's walkers, read from their records.

    With walkers at several conditions (:mod:`alearn.conditions`), ``conditions``
    holds each one's trusted fraction and ``accurate_ratio`` is the lowest;
    ``at_conditions`` says whether every walker ran at its own condition."""
    stops = [read_json(out / f"{s.stem}.json")["stop_reason"] for s in specs]
    summary = zone_summary(walker_frames(out, specs), stops, ucfg)
    if not specs:
        return summary
    by_walker = {s.walker: s for s in specs}
    md = specs[0].md
    ratios = by_condition(list(by_walker), md, lambda ws: zone_summary(
        walker_frames(out, [by_walker[w] for w in ws]), [], ucfg)["accurate_ratio"])
    if len(ratios) > 1:
        summary.update(conditions=ratios, accurate_ratio=min(ratios.values()))
    summary["at_conditions"] = all(at_condition(s.md, s.walker, s.temperature_K, s.pressure_bar)
                                   for s in specs)
    return summary


def continue_from(start: Atoms, frames: Sequence[Atoms], ucfg: UncertaintyConfig,
                  committee: Calculator | None = None, *, tries: int = 5) -> Atoms:
    """``start`` moved to the last trusted or candidate frame of ``frames`` (positions and
    cell: NPT walkers carry their cell on); ``start`` itself when there is none.

    With ``committee`` (the committee the walker will run on), the frames are judged
    again by it, from the last backwards (at most ``tries`` of them): a retrained
    committee often finds the very last frame of its predecessor at or above ``hi``,
    and a walker started there would stop at step 0 and sample nothing.
    """
    usable = [f for f in frames if frame_zone(f, ucfg) is not Zone.REJECTED]
    for frame in usable[::-1][:tries if committee is not None else 1]:
        atoms = start.copy()
        atoms.positions = frame.positions
        atoms.cell = frame.cell
        if committee is None or _zone_under(atoms, committee, ucfg) is not Zone.REJECTED:
            return atoms
    return start


def _zone_under(atoms: Atoms, committee: Calculator, ucfg: UncertaintyConfig) -> Zone:
    """Zone of ``atoms`` under ``committee`` (rejected when broken)."""
    if broken_structure(atoms, ucfg):
        return Zone.REJECTED
    atoms.calc = committee
    try:
        atoms.get_forces()
        info = from_results(committee.results, len(atoms),
                            relative_eps=ucfg.relative_eps_eV_A).as_info()
    finally:
        atoms.calc = None
    return zone(metric_value(info, ucfg), ucfg)
