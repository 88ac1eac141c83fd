"""Result type of the collective (charge) conductivity estimators.

Einstein–Helfand (:mod:`.einstein_helfand`) and Green–Kubo (:mod:`.green_kubo`)
measure the same quantity and report it as a :class:`CollectiveConductivity`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..results import Estimate
from ..units import S_PER_M_TO_MS_PER_CM
from .curves import Curve
from .fitting import FitWindow


@dataclass(frozen=True)
class CollectiveConductivity:
    """A collective (charge) conductivity estimate.

    Parameters
    ----------
    method
        ``"einstein-helfand"`` or ``"green-kubo"``.
    sigma_S_m
        σ in S/m (mean over blocks ± standard error).
    window
        Einstein–Helfand: MSD fit window. Green–Kubo: plateau window over
        which the running integral is averaged.
    window_source
        ``"user"``, ``"auto"`` or ``"fallback"``.
    blocks_S_m
        σ of each block in S/m.
    curve
        Einstein–Helfand: MSD of the total charge displacement in e²Å².
        Green–Kubo: running integral σ(τ) in S/m. None when not kept.
    acf
        Green–Kubo only: ``<J(0)·J(t)>`` in e²Å²/fs².
    """

    method: str
    sigma_S_m: Estimate
    window: FitWindow
    window_source: str
    blocks_S_m: tuple[float, ...]
    curve: Curve | None = field(default=None, repr=False)
    acf: Curve | None = field(default=None, repr=False)

    @property
    def sigma_mS_cm(self) -> Estimate:
        """σ in mS/cm."""
        return self.sigma_S_m.scaled(S_PER_M_TO_MS_PER_CM)

    def to_dict(self, include_curves: bool = False) -> dict[str, Any]:
        """JSON-ready dict; curves only with ``include_curves``."""
        out = {"method": self.method, "sigma_S_m": self.sigma_S_m.to_dict(),
               "sigma_mS_cm": self.sigma_mS_cm.to_dict(), "window_fs": self.window.to_dict(),
               "window_source": self.window_source, "blocks_S_m": list(self.blocks_S_m)}
        if include_curves and self.curve is not None:
            out["curve"] = self.curve.to_dict()
        if include_curves and self.acf is not None:
            out["acf"] = self.acf.to_dict()
        return out
