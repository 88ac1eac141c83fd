"""Everything measured on one equilibrium trajectory: :func:`analyze_transport`.

Self-diffusion (:mod:`.diffusion`), Einstein–Helfand (:mod:`.einstein_helfand`),
Green–Kubo (:mod:`.green_kubo`) and Nernst–Einstein (:mod:`.nernst_einstein`)
conductivities and the Haven ratio ``H_R = σ_NE / σ_EH``, all in S/m (1 S/m =
10 mS/cm) or cm²/s with block-averaging error bars, gathered in a
:class:`TransportResult`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alearn.state import write_json_atomic

from ..results import Estimate, format_table, ratio, to_jsonable
from ..trajectory import MDTrajectory
from .collective import CollectiveConductivity
from .diffusion import SelfDiffusion, self_diffusion
from .einstein_helfand import einstein_helfand
from .fitting import FitWindow
from .green_kubo import green_kubo
from .nernst_einstein import nernst_einstein
from .options import TransportOptions
from .readers import atom_charges, resolve_temperature

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TransportResult:
    """Everything :func:`analyze_transport` measured on one trajectory.

    Prints as a table (``print(result)``) and saves as JSON (:meth:`to_json`).
    Conductivities are in S/m, diffusion coefficients in cm²/s; every value
    carries a standard error from block averaging.
    """

    source: str
    temperature_K: float
    volume_A3: float
    n_frames: int
    frame_interval_fs: float
    duration_fs: float
    n_blocks: int
    charges: dict[str, float]
    diffusion: dict[str, SelfDiffusion]
    einstein_helfand: CollectiveConductivity
    green_kubo: CollectiveConductivity | None
    nernst_einstein_S_m: Estimate
    haven_ratio: Estimate

    def to_dict(self, include_curves: bool = False) -> dict[str, Any]:
        """JSON-ready dict of all results (curves only with ``include_curves``)."""
        gk = None if self.green_kubo is None else self.green_kubo.to_dict(include_curves)
        return {
            "source": self.source, "temperature_K": self.temperature_K,
            "volume_A3": self.volume_A3, "n_frames": self.n_frames,
            "frame_interval_fs": self.frame_interval_fs, "duration_fs": self.duration_fs,
            "n_blocks": self.n_blocks, "charges_e": dict(self.charges),
            "diffusion": {s: d.to_dict(include_curves) for s, d in self.diffusion.items()},
            "einstein_helfand": self.einstein_helfand.to_dict(include_curves),
            "green_kubo": gk,
            "nernst_einstein_S_m": self.nernst_einstein_S_m.to_dict(),
            "haven_ratio": self.haven_ratio.to_dict(),
        }

    def to_json(self, path: str | os.PathLike, *, include_curves: bool = False) -> None:
        """Write :meth:`to_dict` to ``path`` atomically."""
        write_json_atomic(path, to_jsonable(self.to_dict(include_curves)))

    def __str__(self) -> str:
        head = (f"Transport from {self.source}: {self.n_frames} frames every "
                f"{self.frame_interval_fs:g} fs ({self.duration_fs / 1000:.4g} ps), "
                f"T = {self.temperature_K:g} K, V = {self.volume_A3:.5g} Å³, "
                f"{self.n_blocks} blocks (errors: 1 standard error)")
        return head + "\n" + format_table(self._rows(), ["quantity", "value ± stderr", "unit",
                                                         "in mS/cm", "window (fs)", "window"])

    def _rows(self) -> list[list[str]]:
        rows = [[f"D({s})", f"{d.D_cm2_s}", "cm²/s", "", _win(d.window), d.window_source]
                for s, d in self.diffusion.items()]
        for name, res in (("σ Einstein–Helfand", self.einstein_helfand),
                          ("σ Green–Kubo", self.green_kubo)):
            if res is not None:
                rows.append([name, f"{res.sigma_S_m}", "S/m", f"{res.sigma_mS_cm}",
                             _win(res.window), res.window_source])
        ne = self.nernst_einstein_S_m
        rows.append(["σ Nernst–Einstein", f"{ne}", "S/m", f"{ne.scaled(10.0)}", "", ""])
        rows.append(["Haven ratio σ_NE/σ_EH", f"{self.haven_ratio}", "1", "", "", ""])
        return rows


def _win(w: FitWindow) -> str:
    return f"{w.start_fs:.5g}–{w.end_fs:.5g}"


def analyze_transport(
    traj: MDTrajectory,
    charges: Mapping[str, float],
    *,
    temperature_K: float | None = None,
    options: TransportOptions | None = None,
) -> TransportResult:
    """Self-diffusion, Einstein–Helfand, Green–Kubo and Nernst–Einstein conductivities, Haven ratio.

    Green–Kubo is skipped (None) when the trajectory has no velocities.

    Parameters
    ----------
    traj
        Unwrapped trajectory (see :func:`load_trajectory`).
    charges
        Charge per species in e, e.g. ``{"Li": 1.0, "F": -1.0}``.
    temperature_K
        Temperature in K; defaults to the one recorded in the trajectory.
    options
        Blocks and fit windows (defaults: ``TransportOptions()``).

    Returns
    -------
    TransportResult
    """
    options = options or TransportOptions()
    atom_charges(traj, charges)  # fail early on a missing charge
    temp = resolve_temperature(traj, temperature_K)
    diffusion = self_diffusion(traj, options=options)
    window = _eh_default_window(diffusion, {s: float(charges[s]) for s in traj.species})
    eh = einstein_helfand(traj, charges, temperature_K=temp, options=options,
                          default_window=window)
    gk = None
    if traj.velocities_A_fs is not None:
        gk_default = window if options.eh_window is None else (options.eh_window, "user")
        gk = green_kubo(traj, charges, temperature_K=temp, options=options,
                        default_window=gk_default)
    else:
        log.info("%s: no velocities, skipping Green–Kubo", traj.source)
    ne = nernst_einstein(diffusion, charges, volume_A3=traj.volume_A3, temperature_K=temp)
    return TransportResult(traj.source, temp, traj.volume_A3, traj.n_frames,
                           traj.frame_interval_fs, traj.duration_fs, options.n_blocks,
                           {s: float(charges[s]) for s in traj.species}, diffusion, eh, gk, ne,
                           ratio(ne, eh.sigma_S_m))


def _eh_default_window(diffusion: Mapping[str, SelfDiffusion],
                       charges: Mapping[str, float]) -> tuple[FitWindow, str] | None:
    """Latest start (and common end) among the charged species' detected or user windows."""
    good = [d.window for s, d in diffusion.items()
            if charges[s] != 0.0 and d.window_source in ("auto", "user")]
    if not good:
        return None
    start = max(w.start_fs for w in good)
    end = max(w.end_fs for w in good)
    return FitWindow(start, end), "from species"

