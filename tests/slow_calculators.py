"""Test calculators for the kill/resume and failure tests (importable by worker processes)."""

from __future__ import annotations

import os
import time

from ase.calculators.emt import EMT


class SlowEMT(EMT):
    """EMT that takes ``delay_s`` longer per calculation: a *test oracle* that leaves
    time to kill a campaign in the middle of its labeling."""

    def __init__(self, delay_s: float = 0.3, **kwargs) -> None:
        super().__init__(**kwargs)
        self.delay_s = delay_s

    def calculate(self, *args, **kwargs) -> None:
        time.sleep(self.delay_s)
        super().calculate(*args, **kwargs)
        log = os.environ.get("ALEARN_TEST_CALC_LOG")
        if log:  # one line per finished calculation, for the no-repeat check
            with open(log, "a") as fh:
                fh.write(f"{self.atoms.positions.sum():.12f}\n")
