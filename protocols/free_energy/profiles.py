"""The result type of every free-energy estimator here: F along a collective variable.

F is in eV on a grid of bins; ``stderr_eV`` is one standard error. F is defined
up to a constant: estimators store it with its minimum at 0 unless shifted
(:meth:`FreeEnergyProfile.shifted`, e.g. to zero in the bulk, which the
Smoluchowski model wants). Differences between two regions (barriers) carry
errors from the block profiles when the estimator kept them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from alearn.errors import ConfigError
from alearn.state import write_json_atomic

from ..results import Estimate, to_jsonable_finite
from ..units import KB_EV_PER_K


@dataclass(frozen=True)
class FreeEnergyProfile:
    """F(s) on bins of a collective variable s.

    Parameters
    ----------
    bin_edges
        Bin edges in the CV's unit (Å for heights and distances), shape (n + 1,).
    F_eV
        Free energy per bin in eV, shape (n,); NaN where there are no samples.
    stderr_eV
        One standard error per bin in eV, shape (n,) (NaN where unknown).
    temperature_K
        Temperature in K.
    method
        ``"histogram"``, ``"umbrella-mbar"`` or ``"transition-matrix"``.
    cv
        What s is (for labels), e.g. ``"height of Li above the Cu plane (Å)"``.
    counts
        Samples per bin, shape (n,), or None.
    blocks_eV
        Per-block profiles on the same constant offset as ``F_eV``, shape
        (n_blocks, n), or None. Their spread is the error bar.
    """

    bin_edges: np.ndarray
    F_eV: np.ndarray
    stderr_eV: np.ndarray
    temperature_K: float
    method: str
    cv: str = "s"
    counts: np.ndarray | None = None
    blocks_eV: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = self.bin_edges.size - 1
        if self.F_eV.shape != (n,) or self.stderr_eV.shape != (n,):
            raise ConfigError(f"FreeEnergyProfile: {n} bins but F has shape {self.F_eV.shape} "
                              f"and stderr {self.stderr_eV.shape}")

    @property
    def centers(self) -> np.ndarray:
        """Bin centres, shape (n,)."""
        return 0.5 * (self.bin_edges[1:] + self.bin_edges[:-1])

    @property
    def kT_eV(self) -> float:
        """k_B T in eV."""
        return KB_EV_PER_K * self.temperature_K

    @property
    def F_kT(self) -> np.ndarray:
        """F in units of k_B T, shape (n,)."""
        return self.F_eV / self.kT_eV

    @property
    def stderr_kT(self) -> np.ndarray:
        """Standard error in units of k_B T, shape (n,)."""
        return self.stderr_eV / self.kT_eV

    def at(self, s: np.ndarray | float) -> np.ndarray:
        """F in eV interpolated linearly at ``s`` (sampled bins only; constant beyond)."""
        ok = np.isfinite(self.F_eV)
        return np.interp(s, self.centers[ok], self.F_eV[ok])

    def shifted(self, zero_range: tuple[float, float]) -> FreeEnergyProfile:
        """The same profile with the mean F over bins centred in ``zero_range`` set to 0."""
        inside = self._bins_in(zero_range)
        offset = float(np.nanmean(self.F_eV[inside]))
        blocks = None
        if self.blocks_eV is not None:
            blocks = self.blocks_eV - np.nanmean(self.blocks_eV[:, inside], axis=1)[:, None]
        return replace(self, F_eV=self.F_eV - offset, blocks_eV=blocks)

    def difference(self, low_range: tuple[float, float],
                   high_range: tuple[float, float]) -> Estimate:
        """``max F`` in ``high_range`` minus ``min F`` in ``low_range`` (a barrier), in eV.

        With block profiles, the error is the standard error over blocks of the
        same difference (each block's extrema at the bins chosen on the whole
        data); otherwise the two bins' errors in quadrature.
        """
        low, high = self._bins_in(low_range), self._bins_in(high_range)
        i = low[np.nanargmin(self.F_eV[low])]
        j = high[np.nanargmax(self.F_eV[high])]
        value = float(self.F_eV[j] - self.F_eV[i])
        if self.blocks_eV is not None:
            per_block = self.blocks_eV[:, j] - self.blocks_eV[:, i]
            nb = int(np.isfinite(per_block).sum())
            return Estimate(value, float(np.nanstd(per_block, ddof=1) / np.sqrt(nb)), nb)
        return Estimate(value, float(np.hypot(self.stderr_eV[i], self.stderr_eV[j])), 0)

    def _bins_in(self, s_range: tuple[float, float]) -> np.ndarray:
        c = self.centers
        idx = np.flatnonzero((c >= s_range[0]) & (c <= s_range[1]) & np.isfinite(self.F_eV))
        if idx.size == 0:
            raise ConfigError(f"FreeEnergyProfile ({self.cv}): no sampled bin centred in "
                              f"{s_range}; sampled range {self.sampled_range()}")
        return idx

    def sampled_range(self) -> tuple[float, float]:
        """(lowest, highest) bin centre with a finite F."""
        c = self.centers[np.isfinite(self.F_eV)]
        return (float(c.min()), float(c.max())) if c.size else (np.nan, np.nan)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN as null), with F also in k_B T."""
        return to_jsonable_finite({
            "cv": self.cv, "method": self.method, "temperature_K": self.temperature_K,
            "bin_edges": self.bin_edges, "centers": self.centers, "F_eV": self.F_eV,
            "stderr_eV": self.stderr_eV, "F_kT": self.F_kT, "stderr_kT": self.stderr_kT,
            "counts": self.counts, "blocks_eV": self.blocks_eV})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FreeEnergyProfile:
        """Inverse of :meth:`to_dict`."""
        def arr(key: str) -> np.ndarray | None:
            return None if data.get(key) is None else np.array(data[key], dtype=float)

        return cls(arr("bin_edges"), arr("F_eV"), arr("stderr_eV"), float(data["temperature_K"]),
                   data["method"], data.get("cv", "s"), arr("counts"), arr("blocks_eV"))

    def to_json(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_dict` to ``path`` atomically."""
        write_json_atomic(path, self.to_dict())


def bin_edges(low: float, high: float, width: float) -> np.ndarray:
    """Equal bins of ``width`` covering ``[low, high]`` (the last edge at or above ``high``)."""
    if not high > low or width <= 0:
        raise ConfigError(f"bin_edges: need low < high and width > 0, got {low}, {high}, {width}")
    n = int(np.ceil((high - low) / width - 1e-9))
    return low + width * np.arange(n + 1)
