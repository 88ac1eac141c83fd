"""Shared fixtures: tiny systems, tiny campaigns (EMT test oracle, tiny MACE models)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ase.build import bulk

REPO = Path(__file__).resolve().parents[1]

# A tiny, fast campaign: EMT Cu (8 atoms), 2 members, few epochs, short MD.
TINY = {
    "seed": 7,
    "systems": [{
        "name": "cu",
        "structure": "cu.xyz",
        "walkers": 2,
        "md": {"temperature_K": [500, 1000], "steps": 40, "sample_interval": 4,
               "timestep_fs": 2.0},
        "max_selected": 3,
    }],
    "oracle": {"kind": "emt", "isolation": "inline"},
    "initial_data": {"bootstrap": {"n_per_system": 6, "rattle_std_A": 0.08}},
    "validation": {"fraction": 0.2},
    "committee": {"size": 2, "model": {"num_channels": 8, "r_max": 4.0},
                  "training": {"max_num_epochs": 6, "batch_size": 4}},
    "uncertainty": {"lo": 0.02, "hi": 2.0},
    "stop": {"max_iterations": 2},
}


def deep_update(base: dict, changes: dict) -> dict:
    out = dict(base)
    for key, value in changes.items():
        out[key] = deep_update(out[key], value) if isinstance(value, dict) and isinstance(
            out.get(key), dict) else value
    return out


def write_campaign(folder: Path, changes: dict | None = None) -> Path:
    """Write cu.xyz and campaign.yaml (TINY updated with ``changes``) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    bulk("Cu", cubic=True).repeat((2, 1, 1)).write(folder / "cu.xyz")
    path = folder / "campaign.yaml"
    path.write_text(yaml.safe_dump(deep_update(TINY, changes or {})))
    return path


def alearn_cli(*args: str, cwd: Path | None = None, env: dict | None = None,
               timeout: float = 3600) -> subprocess.CompletedProcess:
    """Run the ``alearn`` command as a user would."""
    return subprocess.run([sys.executable, "-m", "alearn.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="session")
def postgres_url():
    """A PostgreSQL server the tests start (tests/postgres_server.py), one per session."""
    from postgres_server import postgres_server, unavailable

    reason = unavailable()
    if reason:
        pytest.fail(reason)
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def finished_campaign(tmp_path_factory) -> Path:
    """An uninterrupted tiny campaign's workdir (shared by several tests); its
    ``alearn.log`` has a progress record at every step (``--progress-interval 0``)."""
    folder = tmp_path_factory.mktemp("reference")
    config = write_campaign(folder)
    proc = alearn_cli("run", str(config), "--workdir", str(folder / "work"),
                      "--progress-interval", "0")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return folder / "work"


@pytest.fixture(scope="session")
def tiny_models(finished_campaign) -> list[Path]:
    """Two tiny trained MACE models (from the reference campaign's last committee)."""
    return sorted((finished_campaign / "iter_003" / "committee").glob("member_*.model"))


@pytest.fixture(scope="session")
def tiny_foundation(tmp_path_factory) -> Path:
    """A stand-in foundation model (tests/tiny_foundation.py: Cu, Ag, Au, Ni; r_max 4 Å)."""
    from tiny_foundation import train_tiny_foundation

    return train_tiny_foundation(tmp_path_factory.mktemp("foundation"))


@pytest.fixture(scope="session")
def untrained_committee(tmp_path_factory) -> list[Path]:
    """Three seeded, untrained ScaleShiftMACE members (8 channels, correlation 2, built
    without e3nn's code generation) for H, Li, O, F and Cu: mace-torch's own model class,
    for checks that need no trained weights (seconds)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from md_models import save_committee

    return save_committee(tmp_path_factory.mktemp("untrained"), [1, 3, 8, 9, 29], size=3,
                          num_channels=8, correlation=2, codegen=False)
