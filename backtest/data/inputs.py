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

from backtest.config import benchmark_list
from backtest.data.membership import load_membership
from backtest.data.snapshot import TBILL_TICKER
from backtest.errors import DataError
from backtest.marketcap import daily_shares
from backtest.schedule import (
    check_dated_flows,
    check_priced_from_base,
    decision_dates,
    first_price,
    resolve_period,
)
from backtest.tickers import splice
from backtest.universe import expand

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
    sim_calendar: pd.DatetimeIndex | None = None   # simulation days (see schedule.resolve_period); None = calendar
    risk_free: pd.Series | None = None   # daily risk-free returns on `calendar` (risk_free_returns), named by
                                         # its ticker; None = a zero rate. Sharpe and idle cash use this one


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
    """Every ticker the run reads: benchmarks, explicit tickers, groups, proxies, and `members` (the index
    members in the run's period, see `members_in_range`)."""
    names = _benchmark_tickers(cfg) | {t for pair in cfg.proxies for t in pair}
    groups = dict(cfg.groups)
    for s in cfg.strategies:
        if s.weights:
            names |= set(dict(s.weights))
        names |= {t for pair in s.proxies for t in pair}
        if s.cash_yield not in ("risk_free", "none"):     # a ticker idle cash accrues at
            names.add(s.cash_yield)
        if s.universe is not None:
            for t in (*s.universe.tickers, *s.universe.exclude):
                names |= set(groups.get(t, (t,)))
        if s.tilt is not None:
            names |= set(groups.get(s.tilt.group, ()))
        if s.trend is not None:
            names |= {s.trend.ticker, s.trend.defensive}
    if cfg.risk_free is not None:
        names.add(TBILL_TICKER if cfg.risk_free == "irx" else cfg.risk_free)
    if _has_analytics(cfg):
        names |= set(_analytics_of(cfg).snapshot)
    return sorted(names | members)


def history_days(cfg) -> int:
    """Calendar days of prices read before `start`: LOOKBACK_DAYS, or more when a strategy's own window
    (risk-based weights, selection, trend, conditional tilt) needs a longer history on its first decision."""
    from backtest.config.schema import history_needed

    return max(LOOKBACK_DAYS, *(int(history_needed(s) * 365 / 252 * 1.1) + 20 for s in cfg.strategies))


def members_in_range(membership: pd.DataFrame, start, end) -> list[str]:
    """Price columns of every index member whose membership overlaps [start, end]."""
    s = pd.Timestamp(start)
    e = pd.Timestamp(end) if end is not None else pd.Timestamp.max
    m = membership
    live = (m["start_date"] <= e) & (m["end_date"].isna() | (m["end_date"] > s))
    return sorted(m.loc[live, "price_column"].dropna().unique())


def no_store(store) -> str | None:
    """The message for a ``--data-dir`` / ``$BT_DATA_DIR`` with no store (no ``meta.json``: a mistyped path);
    None for a store (a damaged one says so itself)."""
    if (store.root / "meta.json").exists():
        return None
    where = "does not exist" if not store.root.exists() else "holds no store"
    return (f"there is no price store at {store.root} (the folder {where}); fix: check --data-dir / "
            "$BT_DATA_DIR, or fill it: `bt data import ../shared/market-data`")


def load_inputs(cfg, store, *, offline: bool, echo: Callable[[str], None] = lambda m: None) -> Inputs:
    """Read (and, unless offline, fetch) everything the run needs; validate the period against the data."""
    unfinished = store.unfinished_import()
    if unfinished:
        raise DataError(unfinished)
    if offline and (nothing := no_store(store)):
        raise DataError(nothing)
    warnings: list[str] = []
    membership = load_membership(store, cfg.membership_source) if _needs_membership(cfg) else None
    members = set(members_in_range(membership, cfg.start, cfg.end)) if _needs_index(cfg) else set()
    tickers = required_tickers(cfg, members)
    if not offline:
        from backtest.data.yahoo import fetch_prices

        online = [t for t in tickers if t != TBILL_TICKER]     # built from the snapshot, not on Yahoo
        report = fetch_prices(store, online, cfg.start - pd.Timedelta(days=FETCH_LOOKBACK_DAYS), cfg.end)
        warnings += list(getattr(report, "warnings", []))
    start = cfg.start - pd.Timedelta(days=history_days(cfg))
    prices = store.prices(tickers, start=start, end=cfg.end)
    missing = sorted(set(tickers) - set(prices.columns[prices.notna().any()]))
    period, spliced, notes = _period(cfg, store)
    warnings += notes
    calendar = period.calendar
    explicit = _explicit_tickers(cfg)
    hard_missing = sorted(set(missing) & explicit)
    if hard_missing:
        absent = set(store.missing(hard_missing))
        span = f"{start:%Y-%m-%d} .. {calendar[-1]:%Y-%m-%d}"
        named = [f"{t} ({'not in the store' if t in absent else f'no price in {span}'})"
                 for t in hard_missing]
        raise DataError(f"no prices for {', '.join(named)}, named in the config; fix: check the spelling, "
                        f"choose dates its prices cover, `bt data import FILE`, or run without --offline")
    gone = [t for t in missing if t in members]
    if gone:
        warnings.append(f"{len(gone)} index member(s) have no price series at all and are left out "
                        f"(survivorship gap in the data): {', '.join(gone)}")
    others = [t for t in missing if t not in members]
    if others:
        warnings.append(f"{len(others)} ticker(s) named through groups or analytics.snapshot have no price "
                        f"series and are left out: {', '.join(others)}")
    shares = store.shares() if _needs_shares(cfg) else None
    prices, off = _drop_non_sessions(prices, cfg.benchmark)
    if off:
        warnings.append(off)
    prices = prices.reindex(prices.index.union(period.sim_calendar)).loc[:calendar[-1]]
    if spliced:
        prices = prices.assign(**{col: series.reindex(prices.index) for col, series in spliced.items()})
    inputs = Inputs(prices=prices, calendar=calendar, membership=membership, shares=shares, warnings=warnings,
                    shares_daily=daily_shares(shares, prices) if shares is not None else None,
                    sim_calendar=period.sim_calendar)
    inputs.risk_free = risk_free_returns(cfg, inputs)
    return inputs


def _drop_non_sessions(prices: pd.DataFrame, benchmark: str) -> tuple[pd.DataFrame, str]:
    """Rows on days the NYSE was closed (a series imported on a weekday calendar that keeps US holidays, a
    24/7 series) left out, with a warning naming the tickers and days: the run trades on NYSE sessions, and
    strategies count trailing windows in rows, so such a row (no price for any other name) would break every
    window that holds it. The calendar is read only when some row lacks the benchmark's price."""
    if benchmark not in prices.columns:
        return prices, ""
    suspects = prices.index[prices[benchmark].isna().to_numpy()]
    if len(suspects) == 0:
        return prices, ""
    from backtest.calendar import sessions_between

    off = suspects.difference(sessions_between(suspects[0], suspects[-1]))
    if len(off) == 0:
        return prices, ""
    who = sorted(prices.columns[prices.loc[off].notna().any()])
    days = ", ".join(f"{d:%Y-%m-%d}" for d in off[:5]) + (f" and {len(off) - 5} more" if len(off) > 5 else "")
    return prices.drop(index=off), (
        f"{len(off)} day(s) with prices but no NYSE session are left out of the run ({days}): "
        f"{', '.join(who[:10])}{f' and {len(who) - 10} more' if len(who) > 10 else ''} "
        "(priced on exchange holidays or weekends); the run trades on NYSE sessions")


def run_aliases(cfg) -> dict[str, str]:
    """Run-level `proxies`: ticker -> its spliced price column (``MAGS~QQQ``), used by the benchmarks and the
    risk-free series."""
    return {t: f"{t}~{p}" for t, p in cfg.proxies}


def _period(cfg, store):
    """The run's `Period` (calendar of the primary benchmark, spliced if proxied), the spliced benchmark and
    risk-free columns, and notes naming each splice. Refuses benchmark and risk-free tickers without a price
    at the base close (see `backtest.schedule.resolve_period`)."""
    proxies = dict(cfg.proxies)
    aliases = run_aliases(cfg)
    keyed: dict[str, str] = {}
    for i, b in enumerate(benchmark_list(cfg)):
        for t, _ in b.weights:
            keyed.setdefault(t, "benchmark" if i == 0 else f"benchmarks[{i - 1}]")
    if cfg.risk_free is not None:
        keyed.setdefault(TBILL_TICKER if cfg.risk_free == "irx" else cfg.risk_free, "risk_free")
    full = store.prices(sorted(set(keyed) | {proxies[t] for t in keyed if t in proxies}))
    series: dict[str, pd.Series] = {}
    spliced: dict[str, pd.Series] = {}
    starts: dict[str, pd.Timestamp | None] = {}
    for t in keyed:
        own = full[t] if t in full.columns else pd.Series(np.nan, index=full.index)
        if t in proxies:
            other = full[proxies[t]] if proxies[t] in full.columns else pd.Series(np.nan, index=full.index)
            own, first = splice(own, other)
            spliced[aliases[t]] = own
            starts[t] = first
        series[t] = own.dropna()
    if series[cfg.benchmark].empty:     # the period cannot be set; name the others without prices too
        if nothing := no_store(store):
            raise DataError(nothing)
        also = [f"{keyed[t]}: {t}" for t, s in series.items() if t != cfg.benchmark and s.empty]
        raise DataError(f"benchmark: no prices for {cfg.benchmark!r} in the store at {store.root}"
                        + (f" (nor for {', '.join(also)})" if also else "")
                        + "; fix: check the spelling, `bt data import ../shared/market-data` (or a file of its "
                          "prices), or let `bt run` download it (without --offline); `bt --data-dir DIR` or "
                          "$BT_DATA_DIR picks another store")
    period = resolve_period(series[cfg.benchmark].index, cfg.start, cfg.end, cfg.fill, cfg.benchmark)
    check_dated_flows(cfg.cash_flows, period.calendar)
    check_priced_from_base({t: (keyed[t], first_price(s)) for t, s in series.items()}, period.base, cfg.start)
    notes = [f"{keyed[t]}: {t} starts {first:%Y-%m-%d}; before that its returns are {proxies[t]}'s (spliced "
             f"proxy, proxies: {{{t}: {proxies[t]}}})" if first is not None else
             f"{keyed[t]}: {t} has no prices; {proxies[t]}'s returns stand in throughout (proxies)"
             for t, first in starts.items() if first is None or first > period.base]
    return period, spliced, notes


def check_data(cfg, store) -> tuple[list[str], list[str]]:
    """What a run of `cfg` on `store` would refuse (problems) and what it would only report (notes), from
    the store alone (no simulation): the period against the benchmark's data, benchmarks and risk-free
    priced from the base close (or proxied), every ticker the config names priced in the period."""
    problems: list[str] = [msg] if (msg := store.unfinished_import()) else []
    period = None
    try:
        period, _, notes = _period(cfg, store)
        base, last = period.calendar[0], period.calendar[-1]
    except DataError as exc:     # keep checking the other tickers on the configured dates
        problems.append(str(exc))
        notes = []
        base = cfg.start - pd.Timedelta(days=1)
        last = cfg.end if cfg.end is not None else pd.Timestamp.max
    proxied = {t for s in cfg.strategies for t, _ in s.proxies}
    named = sorted(_explicit_tickers(cfg) - _benchmark_tickers(cfg) - {cfg.risk_free})
    full = store.prices(named) if named else pd.DataFrame()
    stops = _unpriced_decisions(cfg, full, period) if period is not None else {}
    problems += stops.values()
    if period is not None:
        problems += _uncounted_caps(cfg, store, period)
    cash = {s.cash_yield for s in cfg.strategies if s.cash_yield not in ("risk_free", "none")}
    defensive = {s.trend.defensive for s in cfg.strategies if s.trend is not None}
    listed = {t for s in cfg.strategies if s.universe is not None for t in s.universe.tickers}
    for t in named:
        px = full[t].dropna() if t in full.columns else pd.Series(dtype=float)
        inside = px.loc[base - pd.Timedelta(days=LOOKBACK_DAYS):last]
        if px.empty or inside.empty:
            where = "not in the store" if px.empty else (f"prices {px.index[0]:%Y-%m-%d} .. {px.index[-1]:%Y-%m-%d}"
                                                         f", none in the run's period")
            problems.append(f"{t}: {where}; fix: check the spelling, choose dates its prices cover, or "
                            f"`bt data import FILE`")
        elif t in stops:
            continue
        elif px.index[0] > base and t in cash:
            problems.append(f"{t}: first price {px.index[0]:%Y-%m-%d}, after the base close {base:%Y-%m-%d}, and "
                            f"idle cash accrues at it (cash_yield) from the base close: `bt run` stops; fix: start "
                            f"after {px.index[0]:%Y-%m-%d}, choose a cash ticker priced over the whole period (e.g. "
                            f"BIL) or set cash_yield: none")
        elif px.index[0] > base and t not in proxied:
            uses = []
            if t in listed:
                uses.append("a universe leaves it out of the targets until then (the other names share its weight)")
            if t in defensive:
                uses.append("a trend filter whose trend turns down before then stops the run (it has no "
                            "defensive price to hold)")
            what = ": " + "; ".join(uses) if uses else ""
            notes.append(f"{t}: first price {px.index[0]:%Y-%m-%d}, after the base close {base:%Y-%m-%d}{what}; "
                         f"to avoid it start after {px.index[0]:%Y-%m-%d} or splice an older series with "
                         f"`proxies: {{{t}: ...}}`")
        elif px.index[-1] < last and last is not pd.Timestamp.max:
            notes.append(f"{t}: prices end {px.index[-1]:%Y-%m-%d}, before the run's last day {last:%Y-%m-%d}")
    return problems, notes


def _uncounted_caps(cfg, store, period) -> list[str]:
    """Cap-weighted strategies over a list of tickers (no index) none of which has a share count for the
    opening decision: `bt run` stops there (cap weights need a market cap). ``shares: point_in_time`` needs
    a count observed by that day, ``backfill`` any count."""
    out = []
    day = period.sim_calendar[0]
    groups = dict(cfg.groups)
    for s in cfg.strategies:
        if s.weighting != "cap" or s.universe is None or s.universe.index is not None:
            continue
        names = set(expand(s.universe.tickers, groups)) - set(expand(s.universe.exclude, groups))
        if not names:
            continue
        counts = store.shares(sorted(names))
        known = counts if getattr(s, "shares", "point_in_time") == "backfill" else counts[counts["date"] <= day]
        if known.empty:
            when = "" if counts.empty else f" observed by {day:%Y-%m-%d} (shares: point_in_time)"
            later = "" if counts.empty else ", start later or set shares: backfill"
            out.append(f"strategies[{s.name!r}].universe: none of its {len(names)} ticker(s) has a share "
                       f"count{when}, and cap weights need one: `bt run` stops at the first decision "
                       f"({day:%Y-%m-%d}); fix: import share data (bt data import), weigh them another way "
                       f"(weighting: equal, inverse_vol ...){later}")
    return out


def _unpriced_decisions(cfg, full: pd.DataFrame, period) -> dict[str, str]:
    """Fixed weights' tickers without a price on one of their strategy's decision dates, which `bt run`
    refuses (`strategies.fixed.require_prices`: a fixed mix never falls back silently): ticker -> the problem,
    naming the first such date. Every decision date counts (drift bands' candidates too: the weights are
    formed on each); with a trend filter only the opening one (a down trend holds the defensive ticker)."""
    out: dict[str, str] = {}
    base = period.calendar[0]
    for s in cfg.strategies:
        own = {t for t, _ in s.proxies}       # proxies are spliced per strategy (`plans.build_plans`)
        held = [t for t, w in dict(s.weights or {}).items() if w > 0 and t not in own and t not in out]
        if s.weighting != "fixed" or not held:
            continue
        # every candidate: plans checks them all for fixed drift bands too; a trend filter may hold the
        # defensive ticker on a date (no fixed prices needed), so only its opening decision is certain
        dates = (decision_dates(period.sim_calendar, base, s.rebalance) if s.trend is None
                 else period.sim_calendar[:1])
        for t in held:
            px = full[t] if t in full.columns else pd.Series(dtype=float)
            unpriced = dates[px.reindex(dates).isna().to_numpy()]
            if not len(unpriced) or px.first_valid_index() is None:     # no prices at all: `check_data` says so
                continue
            day, seen = unpriced[0], px.loc[:unpriced[0]].last_valid_index()
            why = (f"its first price is {px.first_valid_index():%Y-%m-%d}; fix: start after it or splice an "
                   f"older series with `proxies: {{{t}: ...}}`" if seen is None else
                   f"its prices stop or have a gap there (last price {seen:%Y-%m-%d}); fix: end the run by then, "
                   f"import the missing prices, or move the rebalance day off it")
            out[t] = (f"strategies[{s.name!r}].weights: {t} has no price on the decision date {day:%Y-%m-%d}, "
                      f"where `bt run` stops (fixed weights never fall back to the other tickers); {why}")
    return out


def _has_analytics(cfg) -> bool:
    """Whether the run computes rotation analytics (they need an index universe and cap weights; an explicit
    `analytics:` block without them is refused by the config)."""
    return _needs_index(cfg) and any(s.weighting == "cap" for s in cfg.strategies)


def _analytics_of(cfg):
    """The config's analytics block, or the defaults when it has none."""
    from backtest.config import Analytics

    return cfg.analytics if cfg.analytics is not None else Analytics()


def _benchmark_tickers(cfg) -> set[str]:
    return {cfg.benchmark} | {t for b in cfg.benchmarks for t, _ in b.weights}


def _explicit_tickers(cfg) -> set[str]:
    """Tickers the config names directly (not through an index or a group): each must have prices."""
    names = _benchmark_tickers(cfg) | {p for _, p in cfg.proxies}
    groups = dict(cfg.groups)
    for s in cfg.strategies:
        if s.weights:
            names |= set(dict(s.weights))
        if s.universe is not None:
            names |= {t for t in s.universe.tickers if t not in groups}
        names |= {p for _, p in s.proxies}
        if s.cash_yield not in ("risk_free", "none"):     # a ticker idle cash accrues at
            names.add(s.cash_yield)
        if s.trend is not None:
            names |= {s.trend.ticker, s.trend.defensive}
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
    ticker = run_aliases(cfg).get(ticker, ticker)
    px = inputs.prices[ticker] if ticker in inputs.prices.columns else pd.Series(np.nan, index=cal)
    if px.reindex(cal).isna().all():
        raise DataError(f"risk_free: no prices for {ticker} in the run's period; fix: `bt data import "
                        f"../shared/market-data` (it builds {TBILL_TICKER} from the T-bill yield) or use a cash "
                        f"ETF such as risk_free: BIL")
    # the last close before a missing day carries over (the lookback supplies one before the first day); the
    # same formula as plans.cash_returns, which accrues idle cash at a cash_yield ticker
    return px.ffill().reindex(cal).pct_change().fillna(0.0).rename(ticker)


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
