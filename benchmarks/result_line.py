"""The one JSON line each benchmark ends with: printed, and kept in
``benchmarks/results/<script>.json`` (commit that file with the change whose figures
it records).

Named ``result_line``, not ``results``, so that it is not confused with the
``results/`` folder beside it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from alearn.state import write_text_atomic

RESULTS = Path(__file__).resolve().parent / "results"


def emit(result: dict[str, Any], script: str | Path, *, write: bool = True) -> str:
    """Print ``result`` as one JSON line and write it (atomically, with a final newline)
    to ``benchmarks/results/<stem of script>.json``; return the line.

    Printed first, so a failed write does not lose the figures of a long run. With
    ``write=False`` (a reduced check run) only printed: the recorded figures stay."""
    line = json.dumps(result)
    print(line, flush=True)
    if write:
        write_text_atomic(RESULTS / f"{Path(script).stem}.json", line + "\n")
    return line
