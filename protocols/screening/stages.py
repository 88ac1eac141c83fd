"""The stages of a candidate, cheap first, each able to reject it.

``relax``
    committee relaxation of positions and cell (:meth:`Evaluator.relax`); rejected
    when the committee cannot evaluate it, the structure breaks, the volume
    changes by more than ``max_volume_change``, or (optionally) it does not converge.
``stability``
    energy above the hull of the reference phases whose own relaxation passed
    (:mod:`.hull`), rejected above ``max_e_above_hull_eV_atom``; without
    references only the energy is recorded.
``md_<T>K``
    NVT MD (Bussi) at each temperature, hottest first, after ``equilibration_steps``
    left out of the analysis; self-diffusion of the
    mobile ions from the MSD and their Nernst–Einstein conductivity σ (S/m) with
    :mod:`alearn.protocols.transport`; rejected when σ is below ``min_sigma_S_m``
    after the hottest run.
``transport``
    Arrhenius fit of σ over the temperatures (two or more), σ and E_a at the
    target temperature.

Every stage records the committee's uncertainty and its trust-window zone
(:mod:`alearn.uncertainty`): ``trusted`` below ``lo``, ``candidate`` in
``[lo, hi)`` (out of the training domain: flagged, exported for a campaign),
``rejected`` at or above ``hi`` (the values are meaningless: the candidate is
rejected as well as flagged).
"""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from ase import Atoms

from alearn.config import UncertaintyConfig
from alearn.uncertainty import Uncertainty, Zone, broken_structure, metric_value, zone

from ..md import MDOptions
from ..results import to_jsonable
from ..trajectory import load_trajectory
from ..transport import (
    FitWindow,
    TransportOptions,
    arrhenius_fit,
    nernst_einstein,
    self_diffusion,
)
from .config import MDStageConfig, RelaxStageConfig, StabilityStageConfig
from .evaluator import Evaluator
from .hull import HullPhase, e_above_hull

log = logging.getLogger(__name__)

__all__ = ["StageOutcome", "md_stage", "md_stage_name", "relax_stage", "stability_stage",
           "stage_names", "transport_stage"]

Status = Literal["passed", "rejected", "failed"]


@dataclass(frozen=True)
class StageOutcome:
    """What one stage found for one candidate (one database row).

    Attributes
    ----------
    stage
        The stage's name.
    status
        ``passed`` (goes on), ``rejected`` (stops here, by a criterion) or ``failed``
        (stops here: the stage could not be computed).
    reason
        Why rejected or failed; None when passed.
    values
        Scalar results with units in their names (energy_per_atom_eV, sigma_S_m, ...).
    uncertainty
        The committee's uncertainty metrics (``unc_*``, see :mod:`alearn.uncertainty`).
    zone
        ``trusted``, ``candidate`` or ``rejected`` (the trust window), or ``n/a``.
    atoms
        The structure the stage leaves (relaxed, or the last MD frame), or None.
    data
        Detailed, JSON-ready results (e.g. the transport analysis).
    """

    stage: str
    status: Status
    reason: str | None = None
    values: dict[str, float | int | str | bool] = field(default_factory=dict)
    uncertainty: dict[str, float] = field(default_factory=dict)
    zone: str = "n/a"
    atoms: Atoms | None = field(default=None, repr=False)
    data: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def flagged(self) -> bool:
        """True when the committee was outside its trust window here."""
        return self.zone in ("candidate", "rejected")

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (without the structure)."""
        return to_jsonable({"stage": self.stage, "status": self.status, "reason": self.reason,
                            "values": self.values, "uncertainty": self.uncertainty,
                            "zone": self.zone, "data": self.data})


def md_stage_name(temperature_K: float) -> str:
    return f"md_{temperature_K:g}K"


def stage_names(md: MDStageConfig | None) -> list[str]:
    """The stages in the order they run."""
    names = ["relax", "stability"]
    if md is not None:
        names += [md_stage_name(t) for t in md.temperatures_K] + ["transport"]
    return names


def _zone_name(info: dict[str, float], ucfg: UncertaintyConfig) -> str:
    return Zone(zone(metric_value(info, ucfg), ucfg)).name.lower()


# --------------------------------------------------------------------------- relax
def relax_stage(structures: Sequence[Atoms], evaluator: Evaluator, cfg: RelaxStageConfig,
                ucfg: UncertaintyConfig) -> list[StageOutcome]:
    """Relax a batch of candidates; one outcome each (see the module docstring)."""
    return [_relax_outcome(start, relax, cfg, ucfg)
            for start, relax in zip(structures, evaluator.relax(structures, cfg), strict=True)]


def _relax_outcome(start: Atoms, relax, cfg: RelaxStageConfig,
                   ucfg: UncertaintyConfig) -> StageOutcome:
    if relax.error is not None:
        return StageOutcome("relax", "failed", f"the committee cannot evaluate it: "
                            f"{relax.error}", zone="rejected", atoms=start)
    info = relax.final.as_info()
    zone_name = _zone_name(info, ucfg)
    dv = relax.atoms.get_volume() / start.get_volume() - 1.0
    values = {"energy_eV": relax.energy_eV, "energy_per_atom_eV": relax.energy_eV / len(start),
              "steps": relax.steps, "converged": relax.converged, "volume_change": dv,
              "volume_A3": relax.atoms.get_volume(), "n_atoms": len(start)}
    data = {"path_max": relax.path_max, "cell": relax.atoms.cell.cellpar()}
    broken = broken_structure(relax.atoms, ucfg)
    reason = None
    if zone_name == "rejected":
        reason = (f"committee uncertainty at or above hi ({ucfg.hi:g}): outside the "
                  "committee's domain")
    elif broken:
        reason = f"the structure broke: {broken}"
    elif abs(dv) > cfg.max_volume_change:
        reason = f"volume changed by {dv:+.0%} (more than {cfg.max_volume_change:.0%})"
    elif cfg.reject_unconverged and not relax.converged:
        reason = f"not converged to {cfg.fmax_eV_A:g} eV/Å in {cfg.max_steps} steps"
    return StageOutcome("relax", "rejected" if reason else "passed", reason, values, info,
                        zone_name, relax.atoms, data)


# --------------------------------------------------------------------------- stability
def stability_stage(name: str, relax: StageOutcome, references: Sequence[HullPhase],
                    cfg: StabilityStageConfig, ucfg: UncertaintyConfig) -> StageOutcome:
    """Energy above the hull of ``references`` of a relaxed candidate (eV/atom); the
    committee's energy spread per atom is its error bar."""
    atoms = relax.atoms
    phase = HullPhase.from_atoms(name, atoms, float(relax.values["energy_eV"]))
    values: dict[str, Any] = {"energy_per_atom_eV": phase.energy_per_atom_eV}
    energy_err = relax.uncertainty.get("unc_energy_err_est_per_atom",
                                       relax.uncertainty.get("unc_energy_std_per_atom", 0.0))
    values["e_hull_err_eV_atom"] = float(energy_err)
    if not references:
        return StageOutcome("stability", "passed", None, values, relax.uncertainty, relax.zone,
                            atoms, {"hull": "of the candidates (in the report)"})
    e_hull, mixture = e_above_hull(phase, references)
    values["e_above_hull_eV_atom"] = e_hull
    data = {"decomposition": mixture, "references": [r.name for r in references]}
    limit = cfg.max_e_above_hull_eV_atom
    reason = None
    if math.isnan(e_hull):
        data["note"] = "no mixture of the references has this composition"
    elif limit is not None and e_hull > limit:
        reason = (f"{e_hull * 1000:.0f} meV/atom above the hull of the references (limit "
                  f"{limit * 1000:.0f}; decomposes to {' + '.join(mixture)})")
    return StageOutcome("stability", "rejected" if reason else "passed", reason, values,
                        relax.uncertainty, relax.zone, atoms, data)


# --------------------------------------------------------------------------- MD
def md_seed(seed: int, name: str, temperature_K: float) -> int:
    """The MD seed of a candidate at a temperature: the same on every rank and rerun."""
    return int(zlib.crc32(f"{seed}:{name}:{temperature_K:g}".encode()))


def md_stage(name: str, relaxed: Atoms, temperature_K: float, evaluator: Evaluator,
             cfg: MDStageConfig, ucfg: UncertaintyConfig, *, charges: dict[str, float],
             folder: Path, seed: int, hottest: bool) -> StageOutcome:
    """Short MD of one candidate at ``temperature_K``; diffusion and σ of its mobile ions."""
    stage = md_stage_name(temperature_K)
    mobile = [s for s in cfg.mobile_ions if s in relaxed.get_chemical_symbols()]
    if not mobile:
        return StageOutcome(stage, "rejected", f"no mobile ions ({', '.join(cfg.mobile_ions)})")
    options = MDOptions(temperature_K=temperature_K, timestep_fs=cfg.timestep_fs,
                        n_steps=cfg.equilibration_steps + cfg.steps,
                        interval_steps=cfg.interval_steps,
                        thermostat="bussi", thermostat_time_fs=cfg.thermostat_time_fs,
                        seed=md_seed(seed, name, temperature_K))
    path = folder / f"{stage}.traj"
    evaluator.md(relaxed, path, options)
    traj = load_trajectory(path, start=cfg.equilibration_steps // cfg.interval_steps)
    frames = _frames(path, cfg.uncertainty_every)
    unc = evaluator.uncertainty(frames)
    info, spread = _md_uncertainty(unc, ucfg)
    zone_name = _zone_name(info, ucfg)
    diffusion = self_diffusion(traj, options=_transport_options(traj, cfg))
    values: dict[str, Any] = {"temperature_K": temperature_K, "volume_A3": traj.volume_A3,
                              "duration_fs": traj.duration_fs,
                              "mean_temperature_K": _mean_temperature(path, cfg), **spread}
    sigma = nernst_einstein({s: diffusion[s] for s in mobile}, charges,
                            volume_A3=traj.volume_A3, temperature_K=temperature_K)
    for s in mobile:
        values[f"D_{s}_cm2_s"] = diffusion[s].D_cm2_s.value
        values[f"D_{s}_err_cm2_s"] = diffusion[s].D_cm2_s.stderr
    values.update(sigma_S_m=sigma.value, sigma_err_S_m=sigma.stderr, mobile=",".join(mobile))
    data = {"diffusion": {s: diffusion[s].to_dict() for s in mobile},
            "sigma_S_m": sigma.to_dict(), "trajectory": str(path)}
    broken = broken_structure(frames[-1], ucfg)
    reason = None
    if zone_name == "rejected":
        reason = f"committee uncertainty at or above hi ({ucfg.hi:g}) in the MD: outside " \
                 "the committee's domain"
    elif broken:
        reason = f"the structure broke in the MD: {broken}"
    elif hottest and cfg.min_sigma_S_m is not None and sigma.value < cfg.min_sigma_S_m:
        reason = f"σ = {sigma.value:.3g} S/m at {temperature_K:g} K, below {cfg.min_sigma_S_m:g}"
    return StageOutcome(stage, "rejected" if reason else "passed", reason, values, info,
                        zone_name, frames[-1], data)


def _transport_options(traj, cfg: MDStageConfig) -> TransportOptions:
    """Blocks and the MSD fit window (``cfg.fit_window`` of a block's lags, in fs)."""
    lag_end_fs = (traj.n_frames // cfg.n_blocks - 1) * traj.frame_interval_fs
    start, end = cfg.fit_window
    window = FitWindow(start * lag_end_fs, end * lag_end_fs)
    return TransportOptions(n_blocks=cfg.n_blocks, diffusion_window=window)


def _mean_temperature(path: Path, cfg: MDStageConfig) -> float:
    """The instantaneous temperature averaged over the production frames (K)."""
    import ase.io

    frames = ase.io.read(str(path), index=f"{cfg.equilibration_steps // cfg.interval_steps}:",
                         parallel=False)
    return float(np.mean([f.info["temperature_inst_K"] for f in frames]))


def _frames(path: Path, every: int) -> list[Atoms]:
    import ase.io

    frames = ase.io.read(str(path), index=f"::{every}", parallel=False)
    for atoms in frames:
        atoms.calc = None
    return frames


def _md_uncertainty(unc: Sequence[Uncertainty],
                    ucfg: UncertaintyConfig) -> tuple[dict[str, float], dict[str, float]]:
    """The largest value of each metric over the frames, and the fraction of frames
    outside the trust window (``frac_untrusted``)."""
    rows = [asdict(u) for u in unc]
    info = {f"unc_{k}": float(max(r[k] for r in rows)) for k in rows[0]
            if rows[0][k] is not None}
    per_frame = np.array([metric_value(u.as_info(), ucfg) for u in unc])
    return info, {"frac_untrusted": float(np.mean(per_frame >= ucfg.lo)),
                  "n_frames_checked": len(unc)}


# --------------------------------------------------------------------------- transport
def transport_stage(md: Sequence[StageOutcome], cfg: MDStageConfig) -> StageOutcome:
    """σ at the target temperature: the Arrhenius fit of the MD stages' σ (two or more
    temperatures), else σ at the one temperature; the worst zone of the MD stages."""
    worst = max((Zone[o.zone.upper()] for o in md if o.zone != "n/a"), default=Zone.TRUSTED)
    unc = {k: max(o.uncertainty.get(k, 0.0) for o in md) for o in md for k in o.uncertainty}
    temps = [float(o.values["temperature_K"]) for o in md]
    sig = [float(o.values["sigma_S_m"]) for o in md]
    err = [float(o.values["sigma_err_S_m"]) for o in md]
    values: dict[str, Any] = {"sigma_hot_S_m": sig[0], "temperature_hot_K": temps[0]}
    data: dict[str, Any] = {}
    if len(md) >= 2 and all(s > 0 and e > 0 for s, e in zip(sig, err, strict=True)):
        fit = arrhenius_fit(temps, sig, err, target_temperature_K=cfg.target_temperature_K)
        values.update(activation_energy_eV=fit.activation_energy_eV.value,
                      activation_energy_err_eV=fit.activation_energy_eV.stderr,
                      sigma_target_S_m=fit.extrapolated.value,
                      target_temperature_K=cfg.target_temperature_K)
        data["arrhenius"] = fit.to_dict()
    elif len(md) >= 2:
        data["note"] = "no Arrhenius fit: a σ or its error is not positive (run longer)"
    return StageOutcome("transport", "passed", None, values, unc, worst.name.lower(), None, data)
