"""Block-averaged correlation curves (MSD, current ACF, running integrals) kept for plots."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Curve:
    """A correlation curve averaged over blocks.

    Parameters
    ----------
    lag_fs
        Lags in fs, shape (L,).
    mean
        Block mean, shape (L,).
    stderr
        Standard error over blocks, shape (L,).
    unit
        Unit of ``mean`` and ``stderr``.
    """

    lag_fs: np.ndarray
    mean: np.ndarray
    stderr: np.ndarray
    unit: str

    @classmethod
    def from_blocks(cls, lag_fs: np.ndarray, blocks: np.ndarray, unit: str) -> Curve:
        """Curve from per-block data of shape (n_blocks, L)."""
        n = blocks.shape[0]
        return cls(lag_fs, blocks.mean(axis=0), blocks.std(axis=0, ddof=1) / np.sqrt(n), unit)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"lag_fs": self.lag_fs, "mean": self.mean, "stderr": self.stderr, "unit": self.unit}
