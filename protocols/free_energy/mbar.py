"""F(s) from umbrella-sampling windows by MBAR (pymbar 4: ``MBAR`` through ``FES``).

Each window's CV series is decorrelated first (pymbar's statistical
inefficiency g; every g-th sample is kept), so MBAR's analytical uncertainties
apply. The reduced bias of sample n in window l is
``u_l(n) = ½ k (s_n - s0_l)² / kT``; the unbiased profile is the histogram FES
of pymbar on the given bins, with its analytical uncertainty relative to the
lowest bin. Shirts & Chodera, JCP 129, 124105 (2008).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from alearn.errors import ConfigError
from alearn.state import write_json_atomic

from ..results import to_jsonable_finite
from ..trajectory import load_trajectory
from ..units import KB_EV_PER_K
from .collective_variables import CollectiveVariable
from .profiles import FreeEnergyProfile
from .umbrella import UmbrellaWindows, read_windows, window_path

log = logging.getLogger(__name__)


def import_pymbar():
    """pymbar, imported without the warnings its modules log at import time
    (a banner when JAX is absent, a general note on statistical inefficiency)."""
    pm_log = logging.getLogger("pymbar")
    level = pm_log.level
    pm_log.setLevel(logging.ERROR)
    try:
        import pymbar
    finally:
        pm_log.setLevel(level)
    return pymbar


@dataclass(frozen=True)
class UmbrellaResult:
    """F(s) from umbrella sampling and what the windows contributed.

    Parameters
    ----------
    profile
        The unbiased F(s) (minimum 0) with MBAR's uncertainties.
    windows
        Centres and force constant.
    n_samples
        Samples per window used (after decorrelation), shape (K,).
    statistical_inefficiency
        g per window (1 = uncorrelated samples), shape (K,).
    neighbour_overlap
        MBAR overlap-matrix element between windows k and k+1, shape (K-1,); values
        below ~0.03 mean the windows barely overlap (add windows there).
    """

    profile: FreeEnergyProfile
    windows: UmbrellaWindows
    n_samples: np.ndarray
    statistical_inefficiency: np.ndarray
    neighbour_overlap: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable_finite({
            "profile": self.profile.to_dict(), "windows": self.windows.to_dict(),
            "n_samples": self.n_samples, "statistical_inefficiency": self.statistical_inefficiency,
            "neighbour_overlap": self.neighbour_overlap})

    def to_json(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_dict` to ``path`` atomically."""
        write_json_atomic(path, self.to_dict())


def mbar_profile(
    samples: Sequence[np.ndarray],
    windows: UmbrellaWindows,
    *,
    bin_edges: np.ndarray,
    temperature_K: float,
    decorrelate: bool = True,
    cv: str = "s",
) -> UmbrellaResult:
    """Unbias umbrella windows with MBAR and histogram the result on ``bin_edges``.

    Parameters
    ----------
    samples
        CV series of each window (time order, equilibration removed), K arrays.
    windows
        The windows' centres and force constant (eV per CV unit²).
    bin_edges
        Bins of the profile, shape (n + 1,).
    temperature_K
        Temperature of the runs in K.
    decorrelate
        Keep every g-th sample of each window (g its statistical inefficiency).
    cv
        Label of the CV.

    Returns
    -------
    UmbrellaResult
    """
    pymbar = import_pymbar()
    if len(samples) != len(windows.centers):
        raise ConfigError(f"mbar_profile: {len(samples)} sample series for "
                          f"{len(windows.centers)} windows")
    kept, ineff = [], []
    for k, series in enumerate(samples):
        x = np.asarray(series, dtype=float).ravel()
        if x.size < 10:
            raise ConfigError(f"umbrella window {k}: only {x.size} samples; run it longer")
        g = float(pymbar.timeseries.statistical_inefficiency(x)) if decorrelate else 1.0
        idx = pymbar.timeseries.subsample_correlated_data(x, g=g) if decorrelate else \
            np.arange(x.size)
        kept.append(x[idx])
        ineff.append(g)
    x_n = np.concatenate(kept)
    n_k = np.array([k.size for k in kept])
    kT = KB_EV_PER_K * temperature_K
    centers = np.asarray(windows.centers)[:, None]
    u_kn = 0.5 * windows.spring * (x_n[None, :] - centers) ** 2 / kT
    fes = pymbar.FES(u_kn, n_k)
    edges = np.asarray(bin_edges, dtype=float)
    fes.generate_fes(np.zeros(x_n.size), x_n[:, None], fes_type="histogram",
                     histogram_parameters={"bin_edges": [edges]})
    centres = 0.5 * (edges[1:] + edges[:-1])
    counts = np.histogram(x_n, edges)[0].astype(float)
    filled = counts > 0  # pymbar 4.0.3 fails on a query in an empty bin
    res = fes.get_fes(centres[filled][:, None], reference_point="from-lowest",
                      uncertainty_method="analytical")
    f_ev, df_ev = np.full(centres.size, np.nan), np.full(centres.size, np.nan)
    f_ev[filled], df_ev[filled] = res["f_i"] * kT, res["df_i"] * kT
    overlap = fes.get_mbar().compute_overlap()["matrix"]
    profile = FreeEnergyProfile(edges, f_ev, df_ev, float(temperature_K), "umbrella-mbar", cv,
                                counts)
    return UmbrellaResult(profile, windows, n_k, np.array(ineff),
                          np.array([overlap[k, k + 1] for k in range(len(kept) - 1)]))


def umbrella_profile(
    workdir: str | os.PathLike,
    cv: CollectiveVariable,
    *,
    bin_edges: np.ndarray,
    temperature_K: float,
    discard_fs: float = 0.0,
) -> UmbrellaResult:
    """MBAR profile of the windows :func:`~.umbrella.run_umbrella` wrote in ``workdir``.

    Parameters
    ----------
    workdir
        Folder with ``umbrella.json`` and ``window_<k>.traj``.
    cv
        The CV the windows restrained.
    bin_edges
        Bins of the profile.
    temperature_K
        Temperature in K.
    discard_fs
        Equilibration dropped from the start of every window, fs.
    """
    windows = read_windows(workdir)
    series = []
    for k in range(len(windows.centers)):
        traj = load_trajectory(window_path(workdir, k)).time_slice(discard_fs)
        series.append(cv.series(traj.positions_A, traj.cells_A))
    return mbar_profile(series, windows, bin_edges=bin_edges, temperature_K=temperature_K,
                        cv=cv.label)
