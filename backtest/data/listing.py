"""``bt data ls``: what the store holds, as text."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from backtest.data.store import PriceStore
from backtest.tickers import normalize_ticker


def catalog_summary(store: PriceStore, tickers: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per (ticker, field): ``start``, ``end`` over all sources, ``rows`` (prices stored in that
    range) and ``sources`` (comma-separated)."""
    cat = store.catalog()
    if tickers:
        cat = cat.loc[cat["ticker"].isin({normalize_ticker(t) for t in tickers})]
    if cat.empty:
        return pd.DataFrame(columns=["ticker", "field", "start", "end", "rows", "sources"])
    out = cat.groupby(["ticker", "field"], sort=True).agg(
        start=("start", "min"), end=("end", "max"), rows=("rows", "max"),
        sources=("source", lambda s: ", ".join(sorted(set(s)))))
    return out.reset_index()


def format_catalog(store: PriceStore, tickers: Iterable[str] | None = None) -> str:
    """Text listing: one line per ticker and field with its date range, count and sources, then the
    membership and shares tables in one line each."""
    wanted = [normalize_ticker(t) for t in tickers] if tickers else []
    table = catalog_summary(store, wanted)
    if table.empty:
        if wanted:
            return f"{store.root}: none of {', '.join(wanted)} is in the store"
        return (f"{store.root}: the store is empty; run `bt data import ../shared/market-data` or "
                "`bt data fetch TICKER...`")
    lines = [f"{store.root}: {table['ticker'].nunique()} tickers"]
    lines.append(f"{'ticker':<8} {'field':<9} {'first':<10} {'last':<10} {'rows':>6}  sources")
    for r in table.itertuples(index=False):
        lines.append(f"{r.ticker:<8} {r.field:<9} {r.start:%Y-%m-%d} {r.end:%Y-%m-%d} {r.rows:>6}  "
                     f"{r.sources}")
    absent = [t for t in wanted if t not in set(table["ticker"])]
    if absent:
        lines.append(f"not in the store: {', '.join(absent)}")
    if not wanted:
        m = store.membership()
        if len(m):
            lines.append(f"membership: sp500, {len(m)} intervals, {m['start_date'].min():%Y-%m-%d} .. "
                         f"{max(m['start_date'].max(), m['end_date'].max()):%Y-%m-%d}")
        sh = store.shares()
        for src, g in sh.groupby("source"):
            lines.append(f"shares: {src}, {g['ticker'].nunique()} tickers, {g['date'].nunique()} dates "
                         f"{g['date'].min():%Y-%m-%d} .. {g['date'].max():%Y-%m-%d}")
    return "\n".join(lines)
