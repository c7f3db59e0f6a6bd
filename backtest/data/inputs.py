"""The run's market inputs, loaded once: the "prices" stage of config -> universe -> prices -> weights.

`load_inputs(cfg, store)` reads (and, unless offline, downloads) every price, membership interval and share
observation a run needs, checks the period against the data and collects what is missing as warnings;
`risk_free_returns`, `coverage` and `gap_warnings` derive the run's risk-free series, the per-ticker data
coverage of the manifest and the gaps inside price histories. Orchestrators (`runner`, `sweep`) call it;
pure stages never import `backtest.data`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from backtest.data.membership import load_membership
from backtest.data.snapshot import TBILL_TICKER
from backtest.errors import DataError
from backtest.marketcap import daily_shares

LOOKBACK_DAYS = 400     # price history read before `start` if stored (trailing analytics windows, splices)
FETCH_LOOKBACK_DAYS = 10   # downloaded before `start`: the last close before the first day


@dataclass
class Inputs:
    """Market data for one run, loaded once. Frames indexed by trading date, one column per ticker."""

    prices: pd.DataFrame                 # adjusted closes from start - LOOKBACK_DAYS to end (not ffilled)
    calendar: pd.DatetimeIndex           # the run's trading days (benchmark has a price)
    membership: pd.DataFrame | None      # intervals; None when no strategy needs an index
    shares: pd.DataFrame | None          # long date, ticker, shares, source; None when no cap weighting
    warnings: list[str] = field(default_factory=list)
    shares_daily: object = None          # SharesAsOf on every date of `prices` (from `shares`), or None


def _needs_index(cfg) -> bool:
    return any(s.universe is not None and s.universe.index for s in cfg.strategies)


def _needs_membership(cfg) -> bool:
    """An index universe, or a group resolved point in time (`universe: mag7`), reads the membership."""
    from backtest.universe import group_refs

    return _needs_index(cfg) or any(
        s.universe is not None and s.universe.membership != "static"
        and group_refs(s.universe.tickers, dict(cfg.groups)) for s in cfg.strategies)


def _needs_shares(cfg) -> bool:
    """Cap weights, and equal weights per company over a universe that can hold two share classes of one
    company (they split the company's slot by cap)."""
    from backtest.universe import SHARE_CLASSES

    groups = dict(cfg.groups)

    def classes_possible(u) -> bool:
        return bool(u.index) or any(t in SHARE_CLASSES for ref in u.tickers for t in groups.get(ref, (ref,)))

    return any(s.weighting == "cap" or (s.weighting == "equal" and getattr(s, "per", "company") == "company"
                                        and classes_possible(s.universe)) for s in cfg.strategies)


def required_tickers(cfg, members: set[str]) -> list[str]:
    """Every ticker the run reads: benchmark, explicit tickers, groups, proxies, and `members` (the index
    members in the run's period, see `members_in_range`)."""
    names = {cfg.benchmark}
    groups = dict(cfg.groups)
    for s in cfg.strategies:
        if s.weights:
            names |= set(dict(s.weights))
        names |= {t for pair in s.proxies for t in pair}
        if s.cash_yield:
            names.add(s.cash_yield)
        if s.universe is not None:
            for t in (*s.universe.tickers, *s.universe.exclude):
                names |= set(groups.get(t, (t,)))
        if s.tilt is not None:
            names |= set(groups.get(s.tilt.group, ()))
    if cfg.risk_free is not None:
        names.add(TBILL_TICKER if cfg.risk_free == "irx" else cfg.risk_free)
    if cfg.analytics is not None:
        names |= set(cfg.analytics.snapshot)
    return sorted(names | members)


def members_in_range(membership: pd.DataFrame, start, end) -> list[str]:
    """Price columns of every index member whose membership overlaps [start, end]."""
    s = pd.Timestamp(start)
    e = pd.Timestamp(end) if end is not None else pd.Timestamp.max
    m = membership
    live = (m["start_date"] <= e) & (m["end_date"].isna() | (m["end_date"] > s))
    return sorted(m.loc[live, "price_column"].dropna().unique())


def load_inputs(cfg, store, *, offline: bool, echo: Callable[[str], None] = lambda m: None) -> Inputs:
    """Read (and, unless offline, fetch) everything the run needs; validate the period against the data."""
    warnings: list[str] = []
    membership = load_membership(store, cfg.membership_source) if _needs_membership(cfg) else None
    members = set(members_in_range(membership, cfg.start, cfg.end)) if _needs_index(cfg) else set()
    tickers = required_tickers(cfg, members)
    if not offline:
        from backtest.data.yahoo import fetch_prices

        online = [t for t in tickers if t != TBILL_TICKER]     # built from the snapshot, not on Yahoo
        report = fetch_prices(store, online, cfg.start - pd.Timedelta(days=FETCH_LOOKBACK_DAYS), cfg.end)
        warnings += list(getattr(report, "warnings", []))
    start = cfg.start - pd.Timedelta(days=LOOKBACK_DAYS)
    prices = store.prices(tickers, start=start, end=cfg.end)
    missing = sorted(set(tickers) - set(prices.columns[prices.notna().any()]))
    everything = store.prices([cfg.benchmark])
    full = everything[cfg.benchmark].dropna() if cfg.benchmark in everything.columns else pd.Series(dtype=float)
    if full.empty:
        raise DataError(f"benchmark: no prices for {cfg.benchmark!r} in the store; fix: `bt data import "
                        f"../shared/market-data` or run without --offline to download it")
    bench = full.loc[cfg.start:cfg.end] if cfg.end is not None else full.loc[cfg.start:]
    calendar = bench.index
    inside = cfg.start <= full.index[-1] and (cfg.end is None or cfg.end >= full.index[0])
    if len(calendar) < 2 and inside:
        raise DataError(_too_short(cfg, full, calendar))
    if len(calendar) < 2:
        raise DataError(f"start/end: the period {cfg.start:%Y-%m-%d} .. "
                        f"{'latest' if cfg.end is None else format(cfg.end, '%Y-%m-%d')} is outside the data: "
                        f"{cfg.benchmark} has prices from {full.index[0]:%Y-%m-%d} to {full.index[-1]:%Y-%m-%d};"
                        f" fix: choose dates inside that range")
    if cfg.end is not None and calendar[-1] < cfg.end - pd.Timedelta(days=5):
        warnings.append(f"end {cfg.end:%Y-%m-%d} is after the last price ({calendar[-1]:%Y-%m-%d}); "
                        f"the run stops there")
    explicit = _explicit_tickers(cfg)
    hard_missing = sorted(set(missing) & explicit)
    if hard_missing:
        absent = set(store.missing(hard_missing))
        period = f"{start:%Y-%m-%d} .. {calendar[-1]:%Y-%m-%d}"
        named = [f"{t} ({'not in the store' if t in absent else f'no price in {period}'})"
                 for t in hard_missing]
        raise DataError(f"no prices for {', '.join(named)}, named in the config; fix: check the spelling, "
                        f"choose dates its prices cover, `bt data import FILE`, or run without --offline")
    gone = [t for t in missing if t in members]
    if gone:
        warnings.append(f"{len(gone)} index member(s) have no price series at all and are left out "
                        f"(survivorship gap in the data): {', '.join(gone)}")
    unused = set() if _has_analytics(cfg) else _analytics_only(cfg)    # snapshot tickers of analytics not run
    others = [t for t in missing if t not in members and t not in unused]
    if others:
        warnings.append(f"{len(others)} ticker(s) named through groups or analytics.snapshot have no price "
                        f"series and are left out: {', '.join(others)}")
    shares = store.shares() if _needs_shares(cfg) else None
    prices = prices.reindex(prices.index.union(calendar)).loc[:calendar[-1]]
    return Inputs(prices=prices, calendar=calendar, membership=membership, shares=shares, warnings=warnings,
                  shares_daily=daily_shares(shares, prices) if shares is not None else None)


def _too_short(cfg, full: pd.Series, calendar: pd.DatetimeIndex) -> str:
    """A period inside the benchmark's data that holds fewer than two of its trading days: say so, and the fix."""
    days = full.index
    held = f" ({', '.join(f'{d:%Y-%m-%d}' for d in calendar)})" if len(calendar) else ""
    first = days.searchsorted(cfg.start)
    fix = (f"end: {days[first + 1]:%Y-%m-%d} or later" if first + 1 < len(days) else
           f"start: {days[-2]:%Y-%m-%d} or earlier ({cfg.benchmark}'s prices end {days[-1]:%Y-%m-%d})")
    return (f"start/end: the period {cfg.start:%Y-%m-%d} .. "
            f"{'latest' if cfg.end is None else format(cfg.end, '%Y-%m-%d')} holds {len(calendar)} trading "
            f"day(s) of the benchmark {cfg.benchmark}{held}; a run needs at least two (the first close buys, "
            f"the next one gives a return); fix: widen the period, e.g. {fix}")


def _has_analytics(cfg) -> bool:
    """Whether the run computes rotation analytics (they need an index universe and cap weights)."""
    return (cfg.analytics is not None and _needs_index(cfg)
            and any(s.weighting == "cap" for s in cfg.strategies))


def _analytics_only(cfg) -> set[str]:
    return set(cfg.analytics.snapshot) if cfg.analytics is not None else set()


def _explicit_tickers(cfg) -> set[str]:
    """Tickers the config names directly (not through an index or a group): each must have prices."""
    names = {cfg.benchmark}
    groups = dict(cfg.groups)
    for s in cfg.strategies:
        if s.weights:
            names |= set(dict(s.weights))
        if s.universe is not None:
            names |= {t for t in s.universe.tickers if t not in groups}
        names |= {p for _, p in s.proxies}
        if s.cash_yield:
            names.add(s.cash_yield)
    if cfg.risk_free is not None and cfg.risk_free != "irx":
        names.add(cfg.risk_free)
    return names


def gap_warnings(prices: pd.DataFrame) -> list[str]:
    """Name the traded tickers with no price on some trading days inside their history (gaps in the data).

    `prices`: run calendar x traded columns, NaN where the store has no price. The engine values a holding
    at its last close across such a gap; the store never fills it, and this says where it happened."""
    values = prices.to_numpy()
    real = ~np.isnan(values)
    started = np.maximum.accumulate(real, axis=0)
    ongoing = np.maximum.accumulate(real[::-1], axis=0)[::-1]
    holes = started & ongoing & ~real
    cols = np.flatnonzero(holes.any(axis=0))
    if not len(cols):
        return []
    listed = []
    for j in cols:
        days = prices.index[holes[:, j]]
        listed.append(f"{prices.columns[j]} ({len(days)} day{'s' if len(days) > 1 else ''}, "
                      f"{days[0]:%Y-%m-%d}{f' .. {days[-1]:%Y-%m-%d}' if len(days) > 1 else ''})")
    return [f"{len(cols)} traded ticker(s) have no price on some trading days inside their history (gaps in "
            f"the data); holdings are valued at their last close there and no order fills on those days: "
            f"{', '.join(listed)}"]


def risk_free_returns(cfg, inputs: Inputs) -> pd.Series | None:
    """Daily simple risk-free returns on the run calendar, or None for a zero rate."""
    if cfg.risk_free is None:
        return None
    cal = inputs.calendar
    ticker = TBILL_TICKER if cfg.risk_free == "irx" else cfg.risk_free
    px = inputs.prices[ticker] if ticker in inputs.prices.columns else pd.Series(np.nan, index=cal)
    px = px.reindex(cal)
    if px.isna().all():
        raise DataError(f"risk_free: no prices for {ticker} in the run's period; fix: `bt data import "
                        f"../shared/market-data` (it builds {TBILL_TICKER} from the T-bill yield) or use a cash "
                        f"ETF such as risk_free: BIL")
    return px.ffill().pct_change().fillna(0.0)


def coverage(store, prices: pd.DataFrame, calendar: pd.DatetimeIndex) -> dict:
    """Per ticker used: first/last price date inside the run and the store's source."""
    window = prices.loc[calendar[0]:calendar[-1]]
    priced = window.notna().to_numpy()
    days = np.datetime_as_string(window.index.to_numpy().astype("datetime64[D]"), unit="D")
    has = priced.any(axis=0)
    firsts = np.where(has, days[np.argmax(priced, axis=0)], None) if len(days) else [None] * len(has)
    lasts = np.where(has, days[len(days) - 1 - np.argmax(priced[::-1], axis=0)], None) if len(days) else firsts
    try:
        cat = store.catalog()
        src = cat.groupby("ticker")["source"].agg(lambda s: ", ".join(sorted(set(map(str, s)))))
    except Exception:  # noqa: BLE001 - coverage is informative; a store without a catalog still runs
        src = pd.Series(dtype=str)
    out = {}
    for t, first, last in zip(window.columns, firsts, lasts):
        out[t] = {"first": first, "last": last, "source": src.get(t.split("<")[0], "unknown")}
    return out
