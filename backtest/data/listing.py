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
        start=("start", "min"), end=("end", "max"),
        sources=("source", lambda s: ", ".join(sorted(set(s))))).reset_index()
    # counted on the stored prices: each source's catalog row counts the prices inside its own range, and
    # the ranges of a ticker's sources may overlap or leave gaps, so neither their sum nor their max is it
    rows = pd.Series(0, index=out.index, dtype="int64")
    for fld, part in out.groupby("field"):
        held = store.prices(list(part["ticker"]), field=fld).notna()
        dates = held.index.to_numpy()
        for i, r in part.iterrows():
            if r["ticker"] in held:
                inside = (dates >= r["start"].to_datetime64()) & (dates <= r["end"].to_datetime64())
                rows[i] = int(held[r["ticker"]].to_numpy()[inside].sum())
    out.insert(4, "rows", rows)
    return out


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
