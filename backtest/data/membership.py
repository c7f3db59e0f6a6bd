"""Index membership tables: the snapshot's intervals (in the store) or the ``index-constitution`` package.

Both are returned as the same intervals frame (see ``backtest.universe``): ``ticker, start_date, end_date,
price_column, source``, one row per interval, ``end_date`` exclusive and NaT while still a member.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from backtest.errors import DataError
from backtest.config.schema import MEMBERSHIP_SOURCES
from backtest.tickers import normalize_ticker

IC_SOURCE = "index-constitution"


def load_membership(store, source: str = "snapshot", index: str = "sp500") -> pd.DataFrame:
    """The membership intervals of ``index`` from ``source``: ``"snapshot"`` (the table imported into the
    store by ``bt data import``) or ``"index-constitution"`` (the package's point-in-time history, with
    tickers resolved to the store's price columns)."""
    if source not in MEMBERSHIP_SOURCES:
        raise DataError(f"membership_source must be one of {', '.join(MEMBERSHIP_SOURCES)}, got {source!r}")
    if source == "snapshot":
        table = store.membership(index)
        if table.empty:
            raise DataError(f"the price store {store.root} has no {index} membership table; run "
                            "`bt data import ../shared/market-data`, or set membership_source: "
                            "index-constitution")
        return table
    return load_index_constitution(index, price_columns=store.tickers())


def load_index_constitution(index: str = "sp500", price_columns: Iterable[str] | None = None) -> pd.DataFrame:
    """``index_constitution.history(index)`` (columns symbol, opt-in, opt-out) as an intervals frame.

    ``price_column`` resolution, first match wins: the symbol itself when it is one of ``price_columns``; the
    symbol's successors through the package's ticker-change events (``FB`` -> ``META``) when one is; its
    predecessors likewise. Without ``price_columns`` the symbol itself. A symbol with none of these gets
    NaN: it is a member without prices, reported as missing by the universe.
    """
    try:
        import index_constitution as ic
    except ImportError:  # pragma: no cover - a declared dependency
        raise DataError("the index-constitution package is not installed; pip install index-constitution, "
                        "or use membership_source: snapshot") from None
    try:
        hist = ic.history(index)
        events = ic.events(index)
    except ValueError as exc:
        raise DataError(f"index-constitution has no index {index!r}: {exc}") from None
    changes = events.loc[events["event_type"] == "ticker_change"].dropna(subset=["old_symbol", "new_symbol"])
    forward = {normalize_ticker(o): normalize_ticker(n)
               for o, n in zip(changes["old_symbol"], changes["new_symbol"])}
    backward = {n: o for o, n in forward.items()}
    have = None if price_columns is None else set(price_columns)

    def resolve(symbol: str):
        if have is None:
            return symbol
        if symbol in have:
            return symbol
        for chain in (forward, backward):
            seen, cur = {symbol}, symbol
            while cur in chain and chain[cur] not in seen:
                cur = chain[cur]
                seen.add(cur)
                if cur in have:
                    return cur
        return None

    tickers = hist["symbol"].astype(str).map(normalize_ticker)
    out = pd.DataFrame({
        "ticker": tickers.to_numpy(),
        "start_date": pd.to_datetime(hist["opt-in"]).dt.normalize().to_numpy(),
        "end_date": pd.to_datetime(hist["opt-out"]).dt.normalize().to_numpy(),
        "price_column": [resolve(t) for t in tickers],
        "source": f"{IC_SOURCE}:{index}",
    })
    return out.sort_values(["ticker", "start_date"], kind="stable").reset_index(drop=True)


class PriceColumnResolver:
    """Maps a symbol as spelled on a date to the store's price column: ``resolver(symbol, date)``.

    Uses the membership interval of ``symbol`` covering ``date`` (else its nearest interval); a symbol with
    no interval goes through ``aliases`` (old ticker -> later ticker of the same company) when listed there,
    else maps to itself. Gives None when the result is not one of ``price_columns`` (including an interval
    whose company has no price series: a recycled ticker must not borrow another's prices).
    """

    def __init__(self, membership: pd.DataFrame, price_columns: Iterable[str],
                 aliases: dict[str, str] | None = None):
        self.have = set(price_columns)
        self.aliases = {normalize_ticker(k): normalize_ticker(v) for k, v in (aliases or {}).items()}
        self.intervals: dict[str, list[tuple]] = {}
        for t, s, e, pc in zip(membership["ticker"], pd.to_datetime(membership["start_date"]),
                               pd.to_datetime(membership["end_date"]), membership["price_column"]):
            self.intervals.setdefault(normalize_ticker(t), []).append(
                (s, None if pd.isna(e) else e, pc if isinstance(pc, str) and pc else None))
        self.constant = {t: rows[0][2] for t, rows in self.intervals.items()
                         if len({r[2] for r in rows}) == 1}

    def __call__(self, symbol: str, date) -> str | None:
        sym = normalize_ticker(symbol)
        rows = self.intervals.get(sym)
        if rows is None:
            if sym in self.aliases and self.aliases[sym] != sym:
                return self(self.aliases[sym], date)
            return sym if sym in self.have else None
        if sym in self.constant:
            pc = self.constant[sym]
        else:
            d = pd.Timestamp(date)

            def distance(row) -> pd.Timedelta:
                s, e, _ = row
                if d < s:
                    return s - d
                if e is not None and d >= e:
                    return d - e + pd.Timedelta(days=1)
                return pd.Timedelta(0)

            pc = min(rows, key=distance)[2]
        return pc if pc in self.have else None

    def many(self, symbols, dates) -> list[str | None]:
        """``[self(s, d) for s, d in zip(symbols, dates)]``, without per-row work for one-company symbols."""
        cache: dict[str, str | None] = {}
        out = []
        for s, d in zip(symbols, dates):
            sym = normalize_ticker(s)
            if (sym not in self.intervals and sym not in self.aliases) or sym in self.constant:
                if sym not in cache:
                    cache[sym] = self(sym, d)
                out.append(cache[sym])
            else:
                out.append(self(sym, d))
        return out
