"""Absurd labels are kept with their reason but never trained on."""

from __future__ import annotations

import numpy as np
from ase.build import molecule

from alearn.config import LabelChecksConfig
from alearn.dataset import Candidate, Dataset
from alearn.label_checks import absurd_reason, exclude_absurd_labels
from alearn.oracles.base import Label


def _labeled(ds: Dataset, energy: float, fmax: float, system: str = "w") -> int:
    atoms = molecule("H2O")
    (row_id,) = ds.add([Candidate(atoms=atoms, system=system, source="explore", iteration=1,
                                  split="train")])
    forces = np.zeros((3, 3))
    forces[1, 2] = fmax
    ds.record_label(row_id, Label(energy=energy, forces=forces, stress=None, attempts=[{}],
                                  log_text=None),
                    oracle="test", oracle_hash="h", settings={}, wall_s=0.1)
    return row_id


def test_absurd_forces_and_energies_are_excluded_with_their_reason(tmp_path):
    ds = Dataset(tmp_path / "d.db")
    good = _labeled(ds, -14.0, 3.0)
    warm = _labeled(ds, -14.0 + 2.9, 10.0)  # 0.97 eV/atom above the lowest: kept
    hot = _labeled(ds, -14.0 + 3.3, 10.0)  # 1.1 eV/atom above: excluded
    pressed = _labeled(ds, -13.0, 148.0)  # the O-H 0.55 Å label
    other = _labeled(ds, -5.0, 1.0, system="other")  # its own system's lowest
    assert sorted(exclude_absurd_labels(ds, LabelChecksConfig())) == [hot, pressed]
    assert {r.id for r in ds.rows(status="labeled")} == {good, warm, other}
    reasons = {r.id: r.reason for r in ds.rows(status="excluded")}
    assert "148.0 eV/Å is above labels.max_force_eV_A = 50" in reasons[pressed]
    assert "1.10 eV/atom above the system's lowest label" in reasons[hot]
    assert len(ds.labeled_atoms("train")) == 3  # what training sees
    assert exclude_absurd_labels(ds, LabelChecksConfig()) == []  # idempotent


def test_non_finite_labels_are_absurd():
    cfg = LabelChecksConfig()
    assert "force" in absurd_reason(0.0, float("nan"), cfg)
    assert "energy" in absurd_reason(float("inf"), 1.0, cfg)
    assert absurd_reason(0.5, 20.0, cfg) is None
