"""Ticker spelling: the one place that decides how a symbol is written (Yahoo style, ``BRK-B``).

A base module of the package: every stage may import it; it imports nothing of the package.
"""

from __future__ import annotations

import functools
import re

# One share-class letter after a dot or slash: BRK.B, BF/B -> BRK-B, BF-B. Exchange suffixes of two or more
# letters (VOD.L is the exception we cannot tell apart; see docs/data.md) are left alone.

_CLASS_SUFFIX = re.compile(r"^([A-Z0-9]{1,6})[./]([A-E])$")


@functools.lru_cache(maxsize=65536)
def normalize_ticker(ticker: str) -> str:
    """Yahoo spelling of a ticker: upper case, stripped, share class with a dash (``brk.b`` -> ``BRK-B``)."""
    t = str(ticker).strip().upper().replace(" ", "")
    m = _CLASS_SUFFIX.match(t)
    return f"{m.group(1)}-{m.group(2)}" if m else t
