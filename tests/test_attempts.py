"""Training attempts: a folder each; a long-trained dead attempt is taken over."""

from __future__ import annotations

import json
import os

from alearn.attempts import new_attempt


def _checkpoint(folder, after_s: float) -> None:
    started = json.loads((folder / "attempt.json").read_text())["started"]
    path = folder / "checkpoints" / "member_0_run-1_epoch-3.pt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"weights")
    os.utime(path, (started + after_s, started + after_s))


def test_each_attempt_gets_a_fresh_folder(tmp_path):
    first, resume = new_attempt(tmp_path, "member_0", resume_after_s=60)
    assert first.name == "member_0.1" and not resume
    (first / "leftover").write_text("partial")
    second, resume = new_attempt(tmp_path, "member_0", resume_after_s=60)
    assert second.name == "member_0.2" and not resume
    assert not first.exists() and not (second / "leftover").exists()
    other, _ = new_attempt(tmp_path, "member_1", resume_after_s=60)
    assert other.name == "member_1.1" and second.exists()


def test_a_short_attempt_is_redone_from_scratch(tmp_path):
    first, _ = new_attempt(tmp_path, "member_0", resume_after_s=60)
    _checkpoint(first, after_s=10)
    second, resume = new_attempt(tmp_path, "member_0", resume_after_s=60)
    assert not resume and not (second / "checkpoints").exists()


def test_a_long_attempt_is_taken_over_with_its_checkpoint(tmp_path):
    first, _ = new_attempt(tmp_path, "member_0", resume_after_s=60)
    _checkpoint(first, after_s=120)
    second, resume = new_attempt(tmp_path, "member_0", resume_after_s=60)
    assert resume and second.name == "member_0.2" and not first.exists()
    assert list((second / "checkpoints").glob("*.pt"))
