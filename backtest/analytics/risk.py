"""Where a portfolio's risk comes from: each group's share of volatility next to its share of weight (pure).

On each sampled date the weights held at that close (``w``, fractions of the portfolio, cash excluded) and
the trailing ``window`` daily returns of the names held give the portfolio's return series over the window,
``p = X w``. A name's contribution to the portfolio's variance is ``w_i cov(r_i, p) / var(p)`` (Euler
allocation): the contributions add up to 1, a group's share is the sum over its names, and cash contributes
nothing. Returns missing inside the window (a name listed part-way through it) count as 0.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

CASH = "Cash"


def risk_shares(holdings: pd.DataFrame, returns: pd.DataFrame, labels: Mapping[str, Mapping[str, str]], dates, *,
                window: int = 252, other: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Weight and risk share of each group on each of ``dates``.

    Parameters
    ----------
    holdings : DataFrame indexed by trading date, one column per ticker: end-of-day weights held.
    returns : DataFrame indexed by trading date, one column per ticker: daily simple returns.
    labels : ``{grouping: {ticker: group label}}``, e.g. ``{"group": {...}, "sector": {...}}``; a ticker
        not in a grouping gets ``other[grouping]`` (default "Other"). A proxy column ``"AVUV~IWN"`` is
        looked up by its first part.
    dates : the dates to sample (each must be in ``holdings``' index and have ``window`` returns before it).

    Returns
    -------
    DataFrame with columns ``date, grouping, group, weight, risk`` (``weight``: share of the portfolio's
    value, cash included as ``Cash``; ``risk``: share of its variance), one row per date, grouping and group.
    """
    rows = []
    cols = list(holdings.columns)
    held = holdings.to_numpy(dtype=float)
    rets = np.nan_to_num(returns.reindex(index=holdings.index, columns=cols).to_numpy(dtype=float))  # once
    codes = {}
    for kind, mapping in labels.items():
        fallback = (other or {}).get(kind, "Other")
        names = np.array([mapping.get(str(t).split("~")[0], fallback) for t in cols], dtype=object)
        uniq, code = np.unique(names.astype(str), return_inverse=True)
        codes[kind] = (uniq, code)
    pos = holdings.index.get_indexer(pd.DatetimeIndex(dates))
    for d, end in zip(pd.DatetimeIndex(dates), pos):
        if end < 0 or end + 1 < window:
            continue
        w = np.nan_to_num(held[end])
        on = np.flatnonzero(np.abs(w) > 1e-12)
        if not len(on):
            continue
        x = rets[end + 1 - window:end + 1, on]
        x = x - x.mean(axis=0)
        p = x @ w[on]
        var = float(p @ p)
        if var <= 0:
            continue
        contrib = w[on] * (x.T @ p) / var
        cash = 1.0 - float(w[on].sum())
        for kind, (uniq, code) in codes.items():
            c = code[on]
            wsum = np.bincount(c, weights=w[on], minlength=len(uniq))
            rsum = np.bincount(c, weights=contrib, minlength=len(uniq))
            for g in np.flatnonzero(np.bincount(c, minlength=len(uniq))):
                rows.append({"date": d, "grouping": kind, "group": uniq[g], "weight": float(wsum[g]),
                             "risk": float(rsum[g])})
            if cash > 5e-4:
                rows.append({"date": d, "grouping": kind, "group": CASH, "weight": cash, "risk": 0.0})
    return pd.DataFrame(rows, columns=["date", "grouping", "group", "weight", "risk"])


def month_ends(index: pd.DatetimeIndex, start_after: int = 0) -> pd.DatetimeIndex:
    """The last date of each calendar month in ``index`` from position ``start_after`` on (the last date of
    ``index`` is always included)."""
    sub = index[start_after:]
    if len(sub) == 0:
        return sub
    last = pd.Series(sub, index=sub).groupby(sub.to_period("M")).max()
    return pd.DatetimeIndex(last.to_numpy(), name="date")
