"""Ticker spelling: the one place that decides how a symbol is written (Yahoo style, ``BRK-B``); and
`splice`, a ticker's price series extended back with a proxy's returns (used by strategies' and the run's
`proxies`).

A base module of the package: every stage may import it; it imports nothing of the package.
"""

from __future__ import annotations

import functools
import re

import pandas as pd

# One share-class letter after a dot or slash: BRK.B, BF/B -> BRK-B, BF-B. Exchange suffixes of two or more
# letters (VOD.L is the exception we cannot tell apart; see docs/data.md) are left alone.
_CLASS_SUFFIX = re.compile(r"^([A-Z0-9]{1,6})[./]([A-E])$")


@functools.lru_cache(maxsize=65536)
def normalize_ticker(ticker: str) -> str:
    """Yahoo spelling of a ticker: upper case, stripped, share class with a dash (``brk.b`` -> ``BRK-B``)."""
    t = str(ticker).strip().upper().replace(" ", "")
    m = _CLASS_SUFFIX.match(t)
    return f"{m.group(1)}-{m.group(2)}" if m else t


def splice(primary: pd.Series, proxy: pd.Series) -> tuple[pd.Series, pd.Timestamp | None]:
    """Extend `primary` back in time with `proxy`'s returns before `primary` starts.

    Returns the spliced series (levels chained so the first real price is unchanged) and the first date of
    the real series (None when the primary has no data, in which case the proxy is used throughout).
    Mixing through returns, never levels: the two series sit on different bases.
    """
    first = primary.first_valid_index()
    if first is None:
        return proxy.copy(), None
    before = proxy.loc[:first].dropna()
    if before.empty or before.index[-1] != first:
        return primary.copy(), first
    scaled = before * (primary.loc[first] / before.iloc[-1])
    out = primary.copy()
    out.loc[scaled.index[:-1]] = scaled.iloc[:-1]
    return out, first
