"""Cross-sectional analytics over one window: dispersion of a group's returns, breadth vs a benchmark."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from backtest.analytics.pit import members_on
from backtest.analytics.windows import window_return
from backtest.errors import DataError


class Dispersion(NamedTuple):
    """Unpacks as ``returns, spread, std``."""

    returns: pd.DataFrame  #: indexed by ticker: ``total_return``, ``note`` (NaN return + note = no data)
    spread: float          #: best minus worst total return (NaN with fewer than one name with data)
    std: float             #: cross-sectional standard deviation of the returns, population (ddof=0)


def dispersion(prices: pd.DataFrame, group_tickers: Sequence[str], start: object, end: object) -> Dispersion:
    """Each member's total return ``p[end] / p[start] - 1`` and how far apart they are.

    ``start``/``end`` are the base and end closes (from :func:`resolve_window`). Names without a close on
    either date keep a NaN row with a note and are left out of ``spread`` and ``std``. ``std`` is the
    population standard deviation (ddof=0): it describes these names, it does not estimate anything.
    """
    start_ts, end_ts = pd.Timestamp(start), pd.Timestamp(end)
    rows = []
    for ticker in group_tickers:
        _, _, ret, note = window_return(prices, ticker, start_ts, end_ts)
        rows.append((ticker, ret, note))
    table = pd.DataFrame(rows, columns=["ticker", "total_return", "note"]).set_index("ticker")
    table["total_return"] = table["total_return"].astype(float)
    table["rank"] = table["total_return"].rank(ascending=False, method="min")
    valid = table["total_return"].dropna()
    spread = float(valid.max() - valid.min()) if len(valid) else math.nan
    std = float(valid.std(ddof=0)) if len(valid) else math.nan
    return Dispersion(table, spread, std)


@dataclass(frozen=True)
class Breadth:
    """How many point-in-time index members beat the benchmark over a window."""

    start_date: pd.Timestamp       #: base close
    end_date: pd.Timestamp         #: last close
    members_date: pd.Timestamp     #: the date whose members are counted (first day of the window)
    benchmark_return: float
    count: int                     #: members with data that beat the benchmark (strictly higher return)
    n: int                         #: members with a close on both dates
    share: float                   #: count / n (NaN when n == 0)
    missing: tuple[str, ...]       #: member tickers without a close on both dates (not in n)
    members: pd.DataFrame = field(repr=False)  #: per member: price_column, total_return, beats, note

    def summary(self) -> dict[str, object]:
        """One flat dict (a CSV row): dates, benchmark_return, count, n, share, n_missing, missing."""
        return {
            "start_date": self.start_date, "end_date": self.end_date, "members_date": self.members_date,
            "benchmark_return": self.benchmark_return, "count": self.count, "n": self.n,
            "share": self.share, "n_missing": len(self.missing), "missing": ";".join(self.missing),
        }


def breadth(prices: pd.DataFrame, membership: pd.DataFrame, benchmark_prices: pd.Series,
            start: object, end: object) -> Breadth:
    """Share of S&P 500 members beating the benchmark over ``(start, end]``.

    Members are those of the window's first trading day (the first date of ``prices`` after ``start``;
    ``start`` itself for a window with no trading day): the index as held entering the window. Names added
    later are not counted; names that left during the window count if they have a close on ``end``, and are
    reported in ``missing`` otherwise (with the tickers that have no price series at all) — survivorship is
    visible, not hidden.

    Parameters
    ----------
    prices : member prices, DataFrame indexed by trading date, one column per price column.
    membership : intervals ``ticker, start_date, end_date, price_column``.
    benchmark_prices : Series indexed by trading date (e.g. SPY adjusted closes).
    start, end : base and end closes (see :func:`resolve_window`).
    """
    start_ts, end_ts = pd.Timestamp(start), pd.Timestamp(end)
    bench = benchmark_prices.astype(float)
    b0, b1 = bench.get(start_ts, math.nan), bench.get(end_ts, math.nan)
    if pd.isna(b0) or pd.isna(b1):
        raise DataError(
            f"breadth: the benchmark {benchmark_prices.name or ''} has no close on "
            f"{start_ts:%Y-%m-%d} and/or {end_ts:%Y-%m-%d}; pick a window inside its history"
        )
    bench_ret = float(b1 / b0 - 1.0)
    later = prices.index[prices.index > start_ts]
    first_day = later[0] if len(later) and later[0] <= end_ts else start_ts
    active = members_on(membership, first_day)
    rows = []
    for ticker, col in zip(active["ticker"], active["price_column"]):
        if col is None or pd.isna(col):
            rows.append((ticker, "", math.nan, "no price series"))
            continue
        _, _, ret, note = window_return(prices, col, start_ts, end_ts)
        rows.append((ticker, col, ret, note))
    table = pd.DataFrame(rows, columns=["ticker", "price_column", "total_return", "note"])
    table = table.drop_duplicates("ticker").set_index("ticker").sort_index()
    table["total_return"] = table["total_return"].astype(float)
    has = table["total_return"].notna()
    table["excess_return"] = table["total_return"] - bench_ret
    table["beats"] = np.where(has, table["total_return"] > bench_ret, pd.NA)
    table["beats"] = table["beats"].astype("boolean")
    n = int(has.sum())
    count = int((table["total_return"] > bench_ret).sum())
    return Breadth(start_ts, end_ts, first_day, bench_ret, count, n, count / n if n else math.nan,
                   tuple(table.index[~has]), table)
