"""The fault-injection benchmark in a reduced form: three SIGKILLs at random moments."""

from __future__ import annotations

import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from fault_injection import fault_injection  # noqa: E402


@pytest.mark.faults
@pytest.mark.slow
def test_random_kills_lose_nothing_and_leave_nothing(tmp_path):
    result = fault_injection(tmp_path, kills=3, seed=1)
    assert result["orphans_found"] == 0
    assert result["labels_lost"] == 0
    # at most the labels in flight at each kill: two worker processes on two cores
    assert 0 <= result["labels_repeated"] <= 2 * result["kills"]
    assert result["identical"], result
