"""Thermodynamic integration of the energy gap between two electronic states.

For a couple Ox + e⁻ → Red with potentials U_ox and U_red of the same atoms,

    ΔA = A_red − A_ox = ∫₀¹ ⟨ΔE⟩_λ dλ,   ΔE = U_red − U_ox,

where ⟨·⟩_λ samples U_λ = (1 − λ) U_ox + λ U_red. The integral is taken by
Gauss–Legendre quadrature (:mod:`.quadrature`) over windows sampled with MD
(:mod:`.windows`). At the end points, ⟨ΔE⟩_0 is the vertical energy gap of
the oxidised state's configurations (minus its vertical electron affinity)
and ⟨ΔE⟩_1 that of the reduced state's (minus its vertical ionisation
energy); in linear response (Marcus) ΔA = (⟨ΔE⟩_0 + ⟨ΔE⟩_1)/2 and the
reorganisation energy is λ_r = (⟨ΔE⟩_0 − ⟨ΔE⟩_1)/2.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator
from ase.io import read

from alearn.state import write_json_atomic

from ..results import Estimate, format_table, to_jsonable
from .options import TIOptions
from .quadrature import LinearFit, gauss_legendre, integrate, linear_fit
from .windows import WindowResult, analyse_window, run_window, window_path

log = logging.getLogger(__name__)

__all__ = ["TIResult", "thermodynamic_integration", "window_lambdas"]


def window_lambdas(options: TIOptions) -> list[float]:
    """The windows' λ, ascending: the Gauss–Legendre nodes and, with ``endpoints``, 0 and 1."""
    nodes, _ = gauss_legendre(options.n_nodes)
    ends = [0.0, 1.0] if options.endpoints else []
    return sorted({*ends, *(float(x) for x in nodes)})


@dataclass(frozen=True)
class TIResult:
    """Thermodynamic integration between the oxidised and the reduced state (eV).

    Parameters
    ----------
    temperature_K
        Temperature of the windows.
    windows
        Every window, λ ascending.
    nodes, weights
        Gauss–Legendre nodes and weights on [0, 1] (n_nodes,).
    dA_eV
        ΔA = A_red − A_ox by quadrature, with the propagated standard error.
    vertical_ox_eV, vertical_red_eV
        ⟨ΔE⟩ at λ = 0 and 1 (None without end points).
    reorganisation_eV
        (⟨ΔE⟩_0 − ⟨ΔE⟩_1)/2 (None without end points).
    dA_linear_eV
        (⟨ΔE⟩_0 + ⟨ΔE⟩_1)/2, ΔA in linear response (None without end points).
    fit
        The straight line through all windows and its χ² test (``fit.linear``).
    max_spread_eV_A
        The committee spread above which a window counts as extrapolating
        (:attr:`TIOptions.max_spread_eV_A`; None: not checked).
    """

    temperature_K: float
    windows: tuple[WindowResult, ...]
    nodes: np.ndarray
    weights: np.ndarray
    dA_eV: Estimate
    vertical_ox_eV: Estimate | None
    vertical_red_eV: Estimate | None
    reorganisation_eV: Estimate | None
    dA_linear_eV: Estimate | None
    fit: LinearFit
    max_spread_eV_A: float | None = None

    def is_extrapolating(self, window: WindowResult) -> bool:
        """True where the committees' force spread in ``window`` exceeded
        ``max_spread_eV_A``: the models extrapolate there."""
        return (self.max_spread_eV_A is not None and window.max_force_std_eV_A is not None
                and window.max_force_std_eV_A > self.max_spread_eV_A)

    @property
    def extrapolating(self) -> tuple[float, ...]:
        """λ of the windows where the committees extrapolate (:meth:`is_extrapolating`)."""
        return tuple(w.lam for w in self.windows if self.is_extrapolating(w))

    def extrapolation_warning(self) -> str | None:
        """One line naming the extrapolating windows (None when there are none)."""
        if not self.extrapolating:
            return None
        return (f"the committees extrapolate in the windows at λ = "
                f"{', '.join(f'{x:.4f}' for x in self.extrapolating)} (force spread above "
                f"{self.max_spread_eV_A:g} eV/Å): ΔA is not to be trusted")

    @property
    def linear_response(self) -> bool:
        """True when ⟨ΔE⟩_λ is a straight line within its errors."""
        return self.fit.linear

    def window(self, lam: float) -> WindowResult:
        """The window at ``lam``."""
        for w in self.windows:
            if math.isclose(w.lam, lam, abs_tol=1e-9):
                return w
        raise KeyError(f"no window at λ = {lam}; windows: {[w.lam for w in self.windows]}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (inverse: :meth:`from_dict`)."""
        opt = {k: None if v is None else v.to_dict() for k, v in (
            ("vertical_ox_eV", self.vertical_ox_eV), ("vertical_red_eV", self.vertical_red_eV),
            ("reorganisation_eV", self.reorganisation_eV), ("dA_linear_eV", self.dA_linear_eV))}
        return to_jsonable({"temperature_K": self.temperature_K, "dA_eV": self.dA_eV.to_dict(),
                            **opt, "linear_response": self.linear_response,
                            "fit": self.fit.to_dict(), "nodes": self.nodes,
                            "weights": self.weights, "max_spread_eV_A": self.max_spread_eV_A,
                            "extrapolating": list(self.extrapolating),
                            "windows": [w.to_dict() for w in self.windows]})

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TIResult:
        def est(key: str) -> Estimate | None:
            return None if d.get(key) is None else Estimate.from_dict(d[key])

        return cls(float(d["temperature_K"]),
                   tuple(WindowResult.from_dict(w) for w in d["windows"]),
                   np.asarray(d["nodes"], dtype=float), np.asarray(d["weights"], dtype=float),
                   Estimate.from_dict(d["dA_eV"]), est("vertical_ox_eV"), est("vertical_red_eV"),
                   est("reorganisation_eV"), est("dA_linear_eV"), LinearFit.from_dict(d["fit"]),
                   d.get("max_spread_eV_A"))

    def write_json(self, path: str | os.PathLike) -> Path:
        """Write :meth:`to_dict` atomically; returns the path."""
        write_json_atomic(path, self.to_dict())
        return Path(path)

    def summary(self) -> str:
        """A plain-text table of the windows and the results."""
        rows = [[f"{w.lam:.4f}", f"{w.gap_eV:.4f}", f"{w.gap_std_eV:.3f}", str(w.n_frames),
                 "-" if w.max_force_std_eV_A is None else f"{w.max_force_std_eV_A:.3g}"]
                for w in self.windows]
        lines = [format_table(rows, ["λ", "⟨ΔE⟩ (eV)", "σ(ΔE) (eV)", "frames",
                                     "max F spread (eV/Å)"]),
                 f"ΔA = {self.dA_eV:.4f} eV ({len(self.nodes)} Gauss–Legendre nodes)"]
        if self.reorganisation_eV is not None:
            lines.append(f"vertical gaps: λ=0 {self.vertical_ox_eV:.4f} eV, λ=1 "
                         f"{self.vertical_red_eV:.4f} eV; reorganisation energy "
                         f"{self.reorganisation_eV:.4f} eV; linear response ΔA "
                         f"{self.dA_linear_eV:.4f} eV")
        if self.extrapolating:
            lines.append(self.extrapolation_warning().replace("extrapolate", "EXTRAPOLATE"))
        verdict = "linear" if self.linear_response else "NOT linear"
        lines.append(f"⟨ΔE⟩_λ is {verdict} within its errors (χ² = {self.fit.chi2:.1f} for "
                     f"{self.fit.dof} dof, p = {self.fit.p_value:.3g})")
        return "\n".join(lines)


def thermodynamic_integration(atoms: Atoms, ox: BaseCalculator, red: BaseCalculator,
                              workdir: str | os.PathLike, *, options: TIOptions) -> TIResult:
    """Sample every λ window (resuming finished and interrupted ones) and integrate.

    Parameters
    ----------
    atoms
        Starting structure, e.g. equilibrated in the oxidised state (not modified).
    ox, red
        Calculators of the oxidised (λ = 0) and reduced (λ = 1) states, e.g.
        ``alearn.load_committee(workdir, state="ox")`` and ``state="red"``, or the
        reference method itself.
    workdir
        Folder of the windows' trajectories (``window_<λ>.traj``).
    options
        Sampling and analysis settings.

    Returns
    -------
    TIResult
        Also written to ``workdir/ti.json``.
    """
    workdir = Path(workdir)
    lambdas = window_lambdas(options)
    start = atoms
    for index, lam in enumerate(lambdas):
        path = window_path(workdir, lam)
        run = run_window(start, ox, red, lam, path, options=options, index=index)
        log.info("window λ = %.4f: %d frames (%s)", lam, run.n_frames,
                 "resumed" if run.resumed else "new")
        if options.chain:
            start = read(path, index=-1)
    windows = tuple(analyse_window(window_path(workdir, lam), lam, options=options)
                    for lam in lambdas)
    result = integrate_windows(windows, options)
    result.write_json(workdir / "ti.json")
    return result


def integrate_windows(windows: Sequence[WindowResult], options: TIOptions) -> TIResult:
    """The :class:`TIResult` of analysed windows (those at the nodes and, with
    ``options.endpoints``, at 0 and 1)."""
    nodes, weights = gauss_legendre(options.n_nodes)
    by_lam = {round(w.lam, 9): w for w in windows}
    at_nodes = [by_lam[round(float(x), 9)].gap_eV for x in nodes]
    dA = integrate(weights, at_nodes)
    fit = linear_fit([w.lam for w in windows], [w.gap_eV for w in windows],
                     alpha=options.linearity_alpha)
    v0, v1, reorg, linear = None, None, None, None
    if options.endpoints:
        v0, v1 = by_lam[0.0].gap_eV, by_lam[1.0].gap_eV
        spread = math.hypot(v0.stderr, v1.stderr) / 2
        reorg = Estimate((v0.value - v1.value) / 2, spread, 0)
        linear = Estimate((v0.value + v1.value) / 2, spread, 0)
    if not fit.linear:
        log.warning("⟨ΔE⟩_λ is not linear in λ within its errors (χ² p = %.3g): linear "
                    "response does not hold; trust the quadrature, not the end-point "
                    "average", fit.p_value)
    result = TIResult(options.md.temperature_K, tuple(sorted(windows, key=lambda w: w.lam)),
                      nodes, weights, dA, v0, v1, reorg, linear, fit, options.max_spread_eV_A)
    for w in result.windows:
        if result.is_extrapolating(w):
            log.warning("window λ = %.4f: the committees' force spread reached %.3g eV/Å "
                        "(above %g): the models extrapolate there; add its frames to the "
                        "campaign's data before trusting ΔA", w.lam, w.max_force_std_eV_A,
                        options.max_spread_eV_A)
    return result
