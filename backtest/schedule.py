"""Rebalance dates: calendar schedules and drift bands. Pure functions, no I/O.

The calendar is the benchmark's trading days (SPY trades on the NYSE calendar), passed in as a
`DatetimeIndex`; nothing here invents a date that is not a trading day. The run's period (its base close,
the simulation calendar, the opening decision day) and the check that benchmark and risk-free series are
priced from the base are here too (`resolve_period`, `decision_dates`, `check_priced_from_base`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from .errors import DataError

FREQUENCIES = ("daily", "weekly", "monthly", "quarterly", "yearly", "never")
_PERIOD = {"weekly": "W-FRI", "monthly": "M", "quarterly": "Q", "yearly": "Y"}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")


def calendar_dates(trading_days: pd.DatetimeIndex, schedule) -> pd.DatetimeIndex:
    """Scheduled rebalance dates within `trading_days` (before any drift-band filter).

    Parameters
    ----------
    trading_days : DatetimeIndex of the run's trading dates, sorted, unique.
    schedule : object with ``every``, ``day``, ``weekday``, ``nth`` (see ``backtest.config.Schedule``).

    Returns
    -------
    DatetimeIndex, a subset of `trading_days`. The first trading day is always included: a run invests
    its capital on day one, whatever the schedule. ``never`` means buy on day one and hold.

    Rules: ``day="first"``/``"last"`` picks the first/last trading day of each period; an integer n picks the
    n-th trading day (1-based; negative counts from the period's end; clipped to the period's length).
    ``weekday`` + ``nth`` picks the n-th such weekday of the period's *final month* (the index convention:
    the third Friday of March, June, September and December for a quarterly schedule), or the trading day
    before it when that day is a holiday.
    """
    days = pd.DatetimeIndex(trading_days)
    if len(days) == 0:
        return days
    every = schedule.every
    if every == "never":
        picked = days[:1]
    elif every == "daily":
        picked = days
    else:
        periods = days.to_period(_PERIOD[every])
        if getattr(schedule, "weekday", None):
            picked = _nth_weekday_dates(days, periods, schedule.weekday, schedule.nth or 1)
        else:
            picked = _nth_trading_day(days, periods, schedule.day)
    return days[:1].union(picked)


def _nth_trading_day(days: pd.DatetimeIndex, periods: pd.PeriodIndex, day) -> pd.DatetimeIndex:
    codes = pd.Series(np.arange(len(days)), index=days).groupby(np.asarray(periods.asi8))
    if day == "first" or day is None:
        pos = codes.min().to_numpy()
    elif day == "last":
        pos = codes.max().to_numpy()
    else:
        n = int(day)
        first = codes.min().to_numpy()
        last = codes.max().to_numpy()
        pos = np.where(n > 0, np.minimum(first + n - 1, last), np.maximum(last + n + 1, first))
    return days[np.sort(pos)]


def _nth_weekday_dates(days, periods, weekday: str, nth: int) -> pd.DatetimeIndex:
    wd = WEEKDAYS.index(weekday.lower())
    out = []
    for period in periods.unique():
        month = period.end_time.to_period("M")
        first_day = month.start_time
        offset = (wd - first_day.weekday()) % 7
        target = first_day + pd.Timedelta(days=offset + 7 * (nth - 1))
        if target.to_period("M") != month:          # no 5th Friday this month: use the last one
            target -= pd.Timedelta(days=7)
        pos = days.searchsorted(target, side="right") - 1   # that day, or the trading day before
        if pos >= 0 and days[pos].to_period(periods.freqstr) == period:
            out.append(days[pos])
    return pd.DatetimeIndex(out)


def out_of_band(held: pd.Series, target: pd.Series, drift) -> bool:
    """True when any weight has drifted outside its band.

    `held` and `target` are weights indexed by ticker (missing = 0). ``drift.absolute`` is a band in weight
    points (0.05 = +-5 points); ``drift.relative`` a fraction of the target weight (0.25 = +-25% of it).
    With both set, leaving either band triggers a rebalance.
    """
    h, t = held.align(target, fill_value=0.0)
    gap = (h - t).abs()
    if drift.absolute is not None and (gap > drift.absolute + 1e-12).any():
        return True
    if drift.relative is not None and (gap > drift.relative * t + 1e-12).any():
        return True
    return False


def drifted_weights(weights: pd.Series, start_prices: pd.Series, prices: pd.Series) -> pd.Series:
    """Weights after prices move from `start_prices` to `prices` with no trading (frictionless)."""
    rel = (prices.reindex(weights.index) / start_prices.reindex(weights.index)).fillna(1.0)
    grown = weights * rel
    total = grown.sum()
    return grown / total if total > 0 else grown


def fill_lag(fill: str) -> int:
    """Trading days from a decision to its fill: 0 under ``fill: close``, 1 under ``fill: next_close``."""
    return 1 if fill == "next_close" else 0


def fill_prices(prices: pd.DataFrame, date: pd.Timestamp, lag: int) -> pd.Series:
    """The prices at which a decision taken on ``date`` is filled: that close (``lag`` 0, ``fill: close``)
    or the next trading day's (``lag`` 1, ``fill: next_close``); the last row when there is none (a decision
    on the last day, which the engine does not fill, has no later check either)."""
    at = prices.index.get_loc(date) + lag
    return prices.iloc[min(at, len(prices.index) - 1)]


def apply_drift_bands(
    candidates: pd.DatetimeIndex,
    prices: pd.DataFrame,
    target_at: Callable[[pd.Timestamp], pd.Series],
    drift,
    *,
    lag: int = 0,
) -> tuple[pd.DatetimeIndex, dict]:
    """Keep the candidate dates on which the drifted portfolio is out of band.

    The first candidate always trades (initial allocation). On each later candidate the weights held are the
    last traded targets drifted with prices (frictionless) from the close they were filled at (``lag``: 0
    under ``fill: close``, the decision's close; 1 under ``fill: next_close``, the next close: until then the
    old portfolio is held), compared with the target computed on that date. Returns the dates that trade and
    a dict date -> target weights for them (so targets are computed once).
    """
    traded: list[pd.Timestamp] = []
    targets: dict = {}
    last_w = None
    last_p = None
    for date in candidates:
        target = target_at(date)
        px = prices.loc[date]
        if last_w is None or out_of_band(drifted_weights(last_w, last_p, px), target, drift):
            traded.append(date)
            targets[date] = target
            last_w, last_p = target, fill_prices(prices, date, lag)
    return pd.DatetimeIndex(traded), targets


def apply_drift_bands_fixed(
    candidates: pd.DatetimeIndex,
    prices: pd.DataFrame,
    target: pd.Series,
    drift,
    *,
    lag: int = 0,
    window: int = 512,
) -> pd.DatetimeIndex:
    """`apply_drift_bands` for a target that is the same on every candidate date (fixed weights), with no
    Python work per day: the dates that trade, equal to what `apply_drift_bands` returns for
    ``target_at = lambda d: target`` (and the same ``lag``).

    From each trade, the drifted weights of up to ``window`` later candidates are computed at once (the
    same operations as `drifted_weights` and `out_of_band`, row by row: ``w * (p / p0)``, NaN ratios as 1,
    divided by the row sum; gaps compared with the bands), and the first out-of-band candidate is the next
    trade. One numpy pass per trade (and per ``window`` candidates without one), not per day.
    """
    if len(candidates) == 0:
        return pd.DatetimeIndex([])
    names = target.index
    px = prices.reindex(index=candidates, columns=names).to_numpy(dtype=float)
    every = prices.reindex(columns=names) if lag else None
    t = target.to_numpy(dtype=float)
    traded = [0]
    start = 0
    n = len(candidates)
    while True:
        base = px[start] if lag == 0 else fill_prices(every, candidates[start], lag).to_numpy(dtype=float)
        lo = start + 1
        hit = -1
        while lo < n and hit < 0:
            hi = min(n, lo + window)
            rel = px[lo:hi] / base
            rel[np.isnan(rel)] = 1.0
            grown = t * rel
            total = grown.sum(axis=1)          # row sums of a C-ordered block: each row as a 1-d sum
            held = np.divide(grown, total[:, None], out=grown, where=(total > 0)[:, None])
            gap = np.abs(held - t)
            out = np.zeros(len(gap), dtype=bool)
            if drift.absolute is not None:
                out |= (gap > drift.absolute + 1e-12).any(axis=1)
            if drift.relative is not None:
                out |= (gap > drift.relative * t + 1e-12).any(axis=1)
            if out.any():
                hit = lo + int(np.argmax(out))
            lo = hi
        if hit < 0:
            break
        traded.append(hit)
        start = hit
    return candidates[np.asarray(traded)]


# --- the run's period and day one -------------------------------------------------------------------
#
# The run's period and day one: base close, simulation calendar, decision dates, late tickers, benchmarks.
#
# One start convention for the whole page (docs/report.md, "Period and day one"):
#
# * A run "from ``start``" includes the return of the first trading day on or after ``start``. Its **base** is
#   the last close before that day (2025-12-31 for ``start: 2026-01-01`` or ``2026-01-02``), as year-to-date
#   tables count. Every series of the run (strategies, benchmarks, risk-free, analytics' "full" window) starts
#   at the base close.
# * Strategies and benchmarks alike hold their first positions at the base close under every fill mode. Under
#   ``fill: close`` the opening weights are decided on the base close; under ``fill: next_close`` on the close
#   before the base (data up to that close only) and filled at the base close. The simulation calendar
#   therefore starts one trading day before the base under ``next_close``; that day is cut off afterwards
#   (`trim`), so nothing before the base is ever shown.
# * The opening purchase stands in for a rebalance scheduled on the first trading day of the period; later
#   scheduled dates follow the strategy's schedule.
# * A ticker the run must price from the base onwards (benchmark, risk-free) without a price there stops the
#   run, naming its first price date and the fix (a later start, or a spliced proxy in ``proxies:``).
#
# Pure: price series in, dates and plans out.


@dataclass(frozen=True)
class Period:
    """The dates of one run.

    calendar : the run's trading days, from the base close to the last day; every series is indexed by it.
    sim_calendar : the simulation's days: ``calendar`` with the day before the base in front under
        ``fill: next_close`` (the opening decision day), else ``calendar`` itself.
    """

    calendar: pd.DatetimeIndex
    sim_calendar: pd.DatetimeIndex

    @property
    def base(self) -> pd.Timestamp:
        return self.calendar[0]


END_SLACK_DAYS = 5
"""An `end` at most this many calendar days after the calendar source's last price is met by it (a weekend,
a holiday, a closing day whose close is not out yet); further after it, the data stops short of the period
asked for and the run is refused."""


def resolve_period(days: pd.DatetimeIndex, start: pd.Timestamp, end: pd.Timestamp | None, fill: str,
                   source: str) -> Period:
    """The period of a run on the trading days ``days`` (every date the calendar source ``source`` has a
    price, full history, sorted). Raises DataError when there is no close before the first day on or after
    ``start`` (or, under ``next_close``, none before the base), fewer than one day after the base, or the
    prices stop more than ``END_SLACK_DAYS`` before ``end``: a run never covers less than its period."""
    days = pd.DatetimeIndex(days)
    first = days.searchsorted(start)          # first trading day on or after start
    last = len(days) - 1 if end is None else days.searchsorted(end, side="right") - 1
    need = 1 + fill_lag(fill)       # closes before the first day: the base, and the decision day before it
    if 0 <= last < first < len(days):   # inside the data, but not one trading day between start and end
        raise DataError(f"start/end: the period {start:%Y-%m-%d} .. {end:%Y-%m-%d} holds 0 trading days of "
                        f"{source} (its prices run from {days[0]:%Y-%m-%d} to {days[-1]:%Y-%m-%d}); a run needs "
                        f"at least one (its return is measured from the close before it); fix: widen the period, "
                        f"e.g. end: {days[first]:%Y-%m-%d} or later")
    if first >= len(days) or last < first:
        span = f"from {days[0]:%Y-%m-%d} to {days[-1]:%Y-%m-%d}" if len(days) else "no dates"
        raise DataError(f"start/end: the period {start:%Y-%m-%d} .. "
                        f"{'latest' if end is None else format(end, '%Y-%m-%d')} is outside the data: {source} "
                        f"has prices {span}; fix: choose dates inside that range")
    if first < need:
        later = days[need - 1] + pd.Timedelta(days=1)
        raise DataError(f"benchmark: {source} has its first price on {days[0]:%Y-%m-%d}, so a run from "
                        f"{start:%Y-%m-%d} has no base close (the last close before its first day, where every "
                        f"position opens{'; decided on the close before it under fill: next_close' if need == 2 else ''}"
                        f"); fix: start on or after {later:%Y-%m-%d}, or splice an older series before it with "
                        f"`proxies: {{{source}: <older ticker>}}` (e.g. QQQ for MAGS). The run does not shorten "
                        f"its period")
    if end is not None and days[last] < end - pd.Timedelta(days=END_SLACK_DAYS):
        raise DataError(f"end: {end:%Y-%m-%d} is after the last price of {source} ({days[last]:%Y-%m-%d}), so the "
                        f"run would stop {(end - days[last]).days} days short of it; fix: end: null (or no --end) "
                        f"for the latest data, an end on or before {days[last]:%Y-%m-%d}, or prices up to "
                        f"{end:%Y-%m-%d} (run without --offline, or `bt data import FILE`). The run does not "
                        f"shorten its period")
    calendar = days[first - 1:last + 1]
    sim = days[first - need:last + 1]
    return Period(calendar=calendar, sim_calendar=sim)


def check_dated_flows(rules, calendar: pd.DatetimeIndex) -> None:
    """Refuse a dated cash flow (``cash_flows: [{date: ...}]``) the run would not apply: on or before the base
    close ``calendar[0]`` (the capital is the first investment) or after the last day ``calendar[-1]``. A run
    applies every flow its config names, or stops."""
    for k, rule in enumerate(rules):
        day = getattr(rule, "date", None)
        if day is None or calendar[0] < day <= calendar[-1]:
            continue
        side = (f"on or before the base close ({calendar[0]:%Y-%m-%d}, where the capital is invested)"
                if day <= calendar[0] else f"after the run's last day ({calendar[-1]:%Y-%m-%d})")
        raise DataError(f"cash_flows[{k}].date: {day:%Y-%m-%d} is {side}, so the run "
                        f"({calendar[0]:%Y-%m-%d} .. {calendar[-1]:%Y-%m-%d}) would not apply it; fix: a date "
                        f"inside the period, another start/end (or --start/--end), or remove the flow")


def decision_dates(sim_calendar: pd.DatetimeIndex, base: pd.Timestamp, schedule) -> pd.DatetimeIndex:
    """The opening decision (the first day of ``sim_calendar``) and the dates ``schedule`` picks among the
    trading days after ``base``, except the first of them: the opening purchase at the base close stands
    in for it. See `backtest.schedule.calendar_dates` for the schedule's rules."""
    after = sim_calendar[sim_calendar > base]
    picked = calendar_dates(after, schedule)
    picked = picked[picked > after[0]] if len(after) else picked
    return sim_calendar[:1].union(picked)


def first_price(series: pd.Series) -> pd.Timestamp | None:
    first = series.first_valid_index()
    return None if first is None else pd.Timestamp(first)


def check_priced_from_base(first_prices: dict[str, tuple[str, pd.Timestamp | None]], base: pd.Timestamp,
                           start: pd.Timestamp) -> None:
    """Refuse tickers the run reads from the base close onwards (benchmarks, risk-free) whose prices (after
    any proxy splice) start later. ``first_prices``: ticker -> (config key, first price date or None)."""
    late = []
    for ticker, (key, first) in first_prices.items():
        if first is None:
            late.append(f"{key}: {ticker} has no prices in the store; fix: check the spelling, import its prices "
                        f"(`bt data import ../shared/market-data` or a file), or run without --offline to download "
                        f"them")
        elif first > base:
            late.append(f"{key}: {ticker} has its first price on {first:%Y-%m-%d}, after the run's base close "
                        f"{base:%Y-%m-%d} (the last close before start {start:%Y-%m-%d}); fix: start on or after "
                        f"{first + pd.Timedelta(days=1):%Y-%m-%d}, or splice an older series before it with "
                        f"`proxies: {{{ticker}: <older ticker>}}` (e.g. QQQ for MAGS, BIL for SGOV)")
    if late:
        raise DataError("; ".join(late) + ". The run does not shorten its period or count missing returns as 0")
