"""The figures are written as PNG files."""

from __future__ import annotations

import numpy as np
import pytest
from transport_synthetic import Brownian
from transport_synthetic import brownian_salt as salt

from alearn.protocols import (
    Estimate,
    FieldResponse,
    FitWindow,
    analyze_transport,
    arrhenius_fit,
    linear_response,
    plot_arrhenius,
    plot_green_kubo,
    plot_msd,
    plot_nemd,
)


@pytest.fixture(scope="module")
def brownian_salt() -> Brownian:
    return salt()


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path) -> bool:
    return path.stat().st_size > 5000 and path.read_bytes()[:8] == PNG_MAGIC


def test_all_figures(brownian_salt, tmp_path):
    result = analyze_transport(brownian_salt.traj, {"Li": 1.0, "F": -1.0})
    assert _is_png(plot_msd(result, tmp_path / "msd.png"))
    assert _is_png(plot_green_kubo(result.green_kubo, tmp_path / "gk.png",
                                   einstein_helfand=result.einstein_helfand.sigma_S_m))
    temps = np.array([600.0, 800.0, 1000.0])
    sig = 1e6 / temps * np.exp(-0.3 / (8.617e-5 * temps))
    assert _is_png(plot_arrhenius(arrhenius_fit(temps, sig, 0.1 * sig), tmp_path / "arr.png"))
    responses = [FieldResponse(np.array([0.0, 0.0, e]), Estimate(1.0, 0.1), Estimate(s, 5.0), {},
                               None, FitWindow(0.0, 1.0), "fake")
                 for e, s in [(0.01, 100.0), (0.05, 98.0), (0.2, 60.0)]]
    nemd = linear_response(responses)
    assert _is_png(plot_nemd(nemd, tmp_path / "nemd.png", equilibrium=Estimate(95.0, 8.0)))


def test_green_kubo_plot_needs_curves(brownian_salt, tmp_path):
    result = analyze_transport(brownian_salt.traj, {"Li": 1.0, "F": -1.0})
    from dataclasses import replace

    bare = replace(result.green_kubo, curve=None, acf=None)
    with pytest.raises(ValueError, match="curves"):
        plot_green_kubo(bare, tmp_path / "x.png")
