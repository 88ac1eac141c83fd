"""Heights above an electrode plane, and F(z), D⊥(z), D∥(z) of a species from a trajectory."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import Atoms
from ase.build import fcc111
from free_energy_synthetic import LANDSCAPE, TEMPERATURE_K, interface_run

from alearn.errors import ConfigError
from alearn.protocols import ElectrodePlane, MDTrajectory, heights_above_plane
from alearn.protocols.free_energy import (
    InterfaceOptions,
    diffusion_figure,
    free_energy_figure,
    interface_figure,
    interface_profiles,
    save_figure,
)

PLANE_Z = 10.0


def _interface_trajectory(n_ions: int = 60) -> tuple[MDTrajectory, Atoms]:
    """Brownian ions above a fixed 2×2 'Cu' layer at z = 10 Å in a periodic 30 Å cell."""
    run = interface_run()
    z, xy = run.z_A[:, :n_ions], run.xy_A[:, :n_ions]
    frames = z.shape[0]
    metal = np.array([[0.0, 0.0], [2.5, 0.0], [0.0, 2.5], [2.5, 2.5]])
    pos = np.zeros((frames, 4 + n_ions, 3))
    pos[:, :4, :2] = metal
    pos[:, :4, 2] = PLANE_Z
    pos[:, 4:, :2] = xy
    pos[:, 4:, 2] = PLANE_Z + z
    cell = np.diag([40.0, 40.0, 30.0])
    symbols = ["Cu"] * 4 + ["Li"] * n_ions
    traj = MDTrajectory.from_arrays(symbols, pos, cell, frame_interval_fs=run.frame_interval_fs,
                                    temperature_K=TEMPERATURE_K)
    return traj, Atoms(symbols, positions=pos[0], cell=cell, pbc=True)


def test_heights_follow_the_plane_and_wrap_across_the_cell():
    slab = fcc111("Cu", size=(2, 2, 3), vacuum=5.0, periodic=True)
    top = slab.positions[slab.get_tags() == 1, 2].mean()
    ion = Atoms("Li", positions=[[0.0, 0.0, top + 2.0]])
    water_image = Atoms("O", positions=[[1.0, 1.0, 0.5]])  # below the slab: above its image
    system = slab + ion + water_image
    positions = np.stack([system.positions, system.positions + [0, 0, 0.3]])  # the slab moves
    traj = MDTrajectory.from_arrays(system.get_chemical_symbols(), positions, system.cell.array,
                                    frame_interval_fs=1.0)
    idx = np.array([len(slab), len(slab) + 1])
    for plane in (ElectrodePlane(symbol="Cu"), ElectrodePlane(tag=1),
                  ElectrodePlane(indices=tuple(np.flatnonzero(slab.get_tags() == 1)))):
        h = heights_above_plane(traj, idx, plane, system)
        np.testing.assert_allclose(h[:, 0], 2.0, atol=1e-9)
        np.testing.assert_allclose(h[:, 1], 0.5 - top + system.cell[2, 2], atol=1e-9)
    fixed = heights_above_plane(traj, idx, ElectrodePlane(z_A=float(top)), system)
    np.testing.assert_allclose(fixed[:, 0], [2.0, 2.3], atol=1e-9)
    with pytest.raises(ConfigError, match="exactly one"):
        ElectrodePlane(symbol="Cu", tag=1)
    with pytest.raises(ConfigError, match="both followed"):
        top_atom = np.flatnonzero(slab.get_tags() == 1)[:1]
        heights_above_plane(traj, top_atom, ElectrodePlane(symbol="Cu"), system)
    tilted = system.copy()
    tilted.set_cell([[10, 0, 0], [0, 10, 0], [2, 0, 20]])
    bad = MDTrajectory.from_arrays(system.get_chemical_symbols(), positions, tilted.cell.array,
                                   frame_interval_fs=1.0)
    with pytest.raises(ConfigError, match="slab cell"):
        heights_above_plane(bad, idx, ElectrodePlane(symbol="Cu"), tilted)


def test_interface_profiles_recover_the_landscape_and_save(tmp_path):
    traj, reference = _interface_trajectory()
    options = InterfaceOptions(bin_width_A=0.1, z_range_A=LANDSCAPE.z_range_A, n_blocks=5,
                               lag_frames=8, parallel_bin_width_A=0.5,
                               parallel_fit_lags_frames=(1, 4), bulk_range_A=(6.0, 8.0))
    result = interface_profiles(traj, reference, ElectrodePlane(symbol="Cu"), species="Li",
                                options=options)
    assert result.n_atoms == 60 and result.temperature_K == TEMPERATURE_K
    f = result.free_energy
    exact = LANDSCAPE.free_energy_kT(f.centers)
    assert np.sqrt(np.nanmean((f.F_kT - exact) ** 2)) < 0.15  # both zero in the bulk
    d = result.diffusion_normal
    assert np.nanmedian(np.abs(d.D_A2_fs / LANDSCAPE.diffusion_A2_fs(d.z_A) - 1)) < 0.1
    plateaus = result.plateaus_A2_fs()
    assert plateaus["normal"].value == pytest.approx(2e-4, rel=0.1)
    assert plateaus["parallel"].value == pytest.approx(2e-4, rel=0.1)
    model = result.model()
    assert model.mfpt_fs(2.0, 5.0).value > model.mfpt_fs(5.0, 2.0).value  # out of the well
    result.to_json(tmp_path / "li.json")
    data = json.loads((tmp_path / "li.json").read_text())
    assert data["label"] == "Li" and data["plateaus_A2_fs"]["normal"]["n_blocks"] == 5
    fig = interface_figure([result])
    assert save_figure(fig, tmp_path / "li.png").stat().st_size > 10_000
    figs = [free_energy_figure([f], exact_kT=LANDSCAPE.free_energy_kT),
            diffusion_figure([d, result.diffusion_parallel],
                             exact_A2_fs=[LANDSCAPE.diffusion_A2_fs,
                                          LANDSCAPE.parallel_diffusion_A2_fs])]
    for k, fig in enumerate(figs):
        assert save_figure(fig, tmp_path / f"{k}.png").exists()
    with pytest.raises(ConfigError, match="no Na atom"):
        interface_profiles(traj, reference, ElectrodePlane(symbol="Cu"), species="Na")
