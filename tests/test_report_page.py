"""``alearn report``: one self-contained HTML page, checked as text and in a real
headless browser (Debian's chromium; marker ``browser``)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from PIL import Image

from alearn import plots
from alearn.cli import main
from alearn.dataset import Candidate, Dataset
from alearn.oracles.base import Label
from alearn.state import Stages

REPO = Path(__file__).resolve().parents[1]


def _campaign(work: Path) -> Path:
    """A campaign workdir written by hand: markers, plots, a dataset with a failed and an
    excluded label."""
    work.mkdir()
    (work / "campaign.json").write_text(json.dumps({"frozen_digest": "x",
                                                    "status": "max_iterations"}))
    (work / "config.yaml").write_text("stop:\n  accurate_ratio: 0.9\n")
    stages = Stages(work)
    stages.mark(0, "init", {"wall_s": 1.0})
    for it, (n, rmse, ratio) in enumerate([(4, 90.0, 0.2), (6, 60.0, 0.5)], start=1):
        stages.mark(it, "train", {"wall_s": 2.0, "n_train": n, "n_valid": 1,
                                  "rmse_energy_meV_atom": 5.0, "rmse_forces_meV_A": rmse})
        stages.mark(it, "explore", {"wall_s": 1.0, "systems": {"cu": {
            "n_frames": 10, "trusted": 2, "candidate": 8, "rejected": 0,
            "accurate_ratio": ratio, "stopped_walkers": ["walker 1: hi crossed"]}}})
        rng = np.random.default_rng(it)
        ref = rng.normal(0, 1, (16, 3))
        folder = stages.iter_dir(it) / "report"
        plots.save(plots.parity_figure(ref.ravel(), 1.1 * ref.ravel(), np.full(48, 0.1), rmse),
                   folder / "parity_forces.png")
        plots.save(plots.uncertainty_histogram_figure(rng.lognormal(-3, 1, 30), lo=0.02,
                                                      hi=2.0, metric="max_force_std"),
                   folder / "uncertainty_hist.png")
    ds = Dataset(work / "dataset.db")
    ids = ds.add([Candidate(atoms=bulk("Cu", cubic=True), system="cu", source="bootstrap",
                            iteration=0, split=s) for s in ("train", "train", "valid", "train")])
    for i in ids[:3]:
        ds.record_label(i, Label(energy=-1.0, forces=np.zeros((4, 3))), oracle="emt",
                        oracle_hash="h1", settings={"kind": "emt"}, wall_s=0.5)
    ds.exclude(ids[2], "force above labels.max_force_eV_A")
    ds.record_failure(ids[3], reason="SCF not converged <after 3 attempts>", attempts=[{}, {}],
                      oracle="emt", oracle_hash="h1", wall_s=9.0)
    return work


def test_the_page_is_self_contained(tmp_path, capsys):
    work = _campaign(tmp_path / "work")
    assert main(["report", str(work)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {work / 'report.html'}"
    page = (work / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    # nothing from elsewhere: every image is embedded, no links to load, no URL at all
    assert not re.search(r"https?://|<link|src=\"(?!data:image/png;base64,)", page)
    assert page.count('<img class="plot"') == 5  # learning curve + 2 x 2 iteration plots
    for fragment in ("iteration 2 · 2 labels (1 failed, 0 pending, 1 excluded)",
                     "finished: max_iterations",
                     "SCF not converged &lt;after 3 attempts&gt;",  # escaped, with its reason
                     "force above labels.max_force_eV_A", "stopped walkers: walker 1: hi",
                     "<th>miscal raw</th>", "Cu 8", "emt"):
        assert fragment in page, fragment


def test_report_output_and_errors(tmp_path, capsys):
    work = _campaign(tmp_path / "work")
    out = tmp_path / "page.html"
    assert main(["report", str(work), "-o", str(out)]) == 0
    assert out.stat().st_size > 10_000 and not (work / "report.html").exists()
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "nope: no such directory" in capsys.readouterr().err
    assert main(["report", str(work), "-o", str(tmp_path / "no" / "r.html")]) == 2


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return name
    pytest.fail("no chromium on PATH: scripts/setup.sh installs Debian's chromium")


def _browse(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                           "--no-first-run", f"--user-data-dir={profile}",
                           "--virtual-time-budget=10000", *args, page.as_uri()],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.browser
def test_the_page_renders_in_a_browser(finished_campaign, tmp_path):
    page = tmp_path / "report.html"
    assert main(["report", str(finished_campaign), "-o", str(page)]) == 0
    dom = _browse(page, tmp_path / "profile", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    n_plots = page.read_text().count('<img class="plot"')
    assert n_plots >= 9  # learning curve, parity x3, per element x3, histograms, reliability
    # the page's own script checked every image decoded (naturalWidth > 0)
    assert f"{n_plots} of {n_plots} plots rendered" in dom.stdout
    assert dom.stdout.count('data-rendered="yes"') == n_plots
    assert 'data-rendered="no"' not in dom.stdout
    shot = tmp_path / "shot.png"
    taken = _browse(page, tmp_path / "profile", "--hide-scrollbars", "--window-size=1280,2400",
                    f"--screenshot={shot}")
    assert taken.returncode == 0, taken.stderr[-2000:]
    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("L"), dtype=float)
    assert pixels.shape == (2400, 1280) and pixels.std() > 20  # not a blank page
