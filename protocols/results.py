"""Small result types shared by the protocols: estimates with errors, tables, JSON-ready data.

Results are written with :func:`alearn.state.write_json_atomic` after
:func:`to_jsonable`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Estimate:
    """A value with its standard error.

    Parameters
    ----------
    value
        Best estimate (for block estimates: the mean over blocks).
    stderr
        One standard error of ``value``, in the same unit. For block estimates
        this is ``std(blocks, ddof=1) / sqrt(n_blocks)``; a confidence interval
        then uses Student's t with ``n_blocks - 1`` degrees of freedom.
    n_blocks
        Number of independent blocks behind ``stderr``; 0 when the error was
        propagated from other estimates instead.
    """

    value: float
    stderr: float
    n_blocks: int = 0

    @classmethod
    def from_blocks(cls, blocks: Sequence[float] | np.ndarray) -> Estimate:
        """Mean and standard error of independent block values.

        Parameters
        ----------
        blocks
            One value per block, shape (n_blocks,). At least two are needed.

        Returns
        -------
        Estimate
        """
        arr = np.asarray(blocks, dtype=float)
        if arr.size < 2:
            raise ValueError(f"need at least 2 blocks for an error bar, got {arr.size}")
        return cls(float(arr.mean()), float(arr.std(ddof=1) / math.sqrt(arr.size)), int(arr.size))

    def scaled(self, factor: float) -> Estimate:
        """The same estimate multiplied by a constant ``factor`` (unit change)."""
        return Estimate(self.value * factor, abs(self.stderr * factor), self.n_blocks)

    def to_dict(self) -> dict[str, float | int]:
        """JSON-ready dict with ``value``, ``stderr`` and ``n_blocks``."""
        return {"value": self.value, "stderr": self.stderr, "n_blocks": self.n_blocks}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Estimate:
        """Inverse of :meth:`to_dict`."""
        return cls(float(data["value"]), float(data["stderr"]), int(data.get("n_blocks", 0)))

    def __format__(self, spec: str) -> str:
        if spec:
            return f"{self.value:{spec}} ± {self.stderr:{spec}}"
        return _format_with_error(self.value, self.stderr)

    def __str__(self) -> str:
        return format(self)


def _format_with_error(value: float, err: float) -> str:
    """``value ± err`` with two significant digits of the error and a shared exponent."""
    if not (math.isfinite(value) and math.isfinite(err)) or err <= 0:
        return f"{value:.4g} ± {err:.2g}"
    big = max(abs(value), err)
    exp = int(math.floor(math.log10(big))) if big > 0 else 0
    exp = exp if not -3 <= exp < 5 else 0
    v, e = value / 10.0**exp, err / 10.0**exp
    digits = min(8, max(0, 1 - int(math.floor(math.log10(e)))))
    body = f"{v:.{digits}f} ± {e:.{digits}f}"
    return body if exp == 0 else f"({body})e{exp:+03d}"


def ratio(num: Estimate, den: Estimate) -> Estimate:
    """Ratio of two estimates with first-order error propagation.

    Errors are combined in quadrature as if independent. For positively
    correlated estimates (the usual case for σ_NE and σ from one trajectory)
    this overstates the error, i.e. it is conservative.
    """
    if den.value == 0.0:
        return Estimate(math.nan, math.nan, 0)
    value = num.value / den.value
    rel = math.hypot(_rel(num), _rel(den))
    return Estimate(value, abs(value) * rel, 0)


def _rel(est: Estimate) -> float:
    return est.stderr / abs(est.value) if est.value != 0.0 else math.inf


def to_jsonable(obj: Any) -> Any:
    """Recursively convert numpy scalars/arrays, tuples and estimates to JSON types."""
    if isinstance(obj, Estimate):
        return obj.to_dict()
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def to_jsonable_finite(obj: Any) -> Any:
    """:func:`to_jsonable`, with NaN and infinities written as None (JSON null)."""
    obj = to_jsonable(obj)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: to_jsonable_finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_jsonable_finite(v) for v in obj]
    return obj


def format_table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """Left-aligned plain-text table.

    Parameters
    ----------
    rows
        Rows of already formatted cells.
    header
        Column titles, same length as each row.
    """
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)
