"""Cross-check of the self-diffusion coefficient against kinisi (a maintained peer code)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase import Atoms
from transport_synthetic import langevin_particles

from alearn.protocols import TransportOptions, self_diffusion

kinisi_analyze = pytest.importorskip("kinisi.analyze")
sc = pytest.importorskip("scipp")


def test_self_diffusion_agrees_with_kinisi():
    box = 12.0
    b = langevin_particles(n_cation=32, n_anion=0, n_frames=4000, seed=3, box_A=box)
    ours = self_diffusion(b.traj, options=TransportOptions(remove_com_drift=False))["Li"]

    # kinisi reads wrapped ASE frames and unwraps them itself
    frames = [Atoms("Li32", positions=np.mod(p, box), cell=[box] * 3, pbc=True)
              for p in b.traj.positions_A]
    dt = sc.arange("time interval", 5.0, ours.window.end_fs + 1.0, 5.0, unit="fs")
    peer = kinisi_analyze.DiffusionAnalyzer.from_ase(
        frames, specie="Li", time_step=sc.scalar(b.traj.frame_interval_fs, unit="fs"),
        step_skip=sc.scalar(1), dt=dt, progress=False)
    peer.diffusion(start_dt=sc.scalar(ours.window.start_fs, unit="fs"), progress=False,
                   random_state=np.random.RandomState(0))
    assert str(peer.D.unit) == "cm^2/s"
    d_peer, err_peer = float(np.mean(peer.D.values)), float(np.std(peer.D.values))

    d_ours, err_ours = ours.D_cm2_s.value, ours.D_cm2_s.stderr
    assert abs(d_ours - d_peer) < 2.0 * math.hypot(err_ours, err_peer), (d_ours, d_peer)
    truth = b.D_A2_fs * 0.1  # cm²/s
    assert abs(d_peer - truth) < 3.0 * err_peer
    assert abs(d_ours - truth) < 3.0 * err_ours
