"""Deterministic seeds derived from the campaign seed.

Every random choice in a campaign (subsets, split, velocities, selection)
draws from a generator seeded by the campaign seed plus a label naming the
choice, so a resumed campaign repeats exactly what an uninterrupted one does.
"""

from __future__ import annotations

import hashlib


def derive_seed(seed: int, *labels: object) -> int:
    """A 63-bit seed from ``seed`` and any labels (strings, ints).

    >>> derive_seed(0, "member", 1, 2) == derive_seed(0, "member", 1, 2)
    True
    """
    blob = repr((seed, *labels)).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "little") >> 1
