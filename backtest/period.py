"""The run's period and day one: base close, simulation calendar, decision dates, late tickers, benchmarks.

One start convention for the whole page (docs/report.md, "Period and day one"):

* A run "from ``start``" includes the return of the first trading day on or after ``start``. Its **base** is
  the last close before that day (2025-12-31 for ``start: 2026-01-01`` or ``2026-01-02``), as year-to-date
  tables count. Every series of the run (strategies, benchmarks, risk-free, analytics' "full" window) starts
  at the base close.
* Strategies and benchmarks alike hold their first positions at the base close under every fill mode. Under
  ``fill: close`` the opening weights are decided on the base close; under ``fill: next_close`` on the close
  before the base (data up to that close only) and filled at the base close. The simulation calendar
  therefore starts one trading day before the base under ``next_close``; that day is cut off afterwards
  (`trim`), so nothing before the base is ever shown.
* The opening purchase stands in for a rebalance scheduled on the first trading day of the period; later
  scheduled dates follow the strategy's schedule.
* A ticker the run must price from the base onwards (benchmark, risk-free) without a price there stops the
  run, naming its first price date and the fix (a later start, or a spliced proxy in ``proxies:``).

Pure: price series in, dates and plans out.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pandas as pd

from .errors import DataError
from .schedule import calendar_dates


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


def resolve_period(days: pd.DatetimeIndex, start: pd.Timestamp, end: pd.Timestamp | None, fill: str,
                   source: str) -> Period:
    """The period of a run on the trading days ``days`` (every date the calendar source ``source`` has a
    price, full history, sorted). Raises DataError when there is no close before the first day on or after
    ``start`` (or, under ``next_close``, none before the base), or fewer than one day after the base."""
    days = pd.DatetimeIndex(days)
    first = days.searchsorted(start)          # first trading day on or after start
    last = len(days) - 1 if end is None else days.searchsorted(end, side="right") - 1
    need = 2 if fill == "next_close" else 1
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
    calendar = days[first - 1:last + 1]
    sim = days[first - need:last + 1]
    return Period(calendar=calendar, sim_calendar=sim)


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
            late.append(f"{key}: {ticker} has no prices in the store")
        elif first > base:
            late.append(f"{key}: {ticker} has its first price on {first:%Y-%m-%d}, after the run's base close "
                        f"{base:%Y-%m-%d} (the last close before start {start:%Y-%m-%d}); fix: start on or after "
                        f"{first + pd.Timedelta(days=1):%Y-%m-%d}, or splice an older series before it with "
                        f"`proxies: {{{ticker}: <older ticker>}}` (e.g. QQQ for MAGS, BIL for SGOV)")
    if late:
        raise DataError("; ".join(late) + ". The run does not shorten its period or count missing returns as 0")


def trim(sim, base: pd.Timestamp):
    """A `backtest.engine.Simulation` cut to the days from ``base`` on (drops the opening decision day of
    ``fill: next_close``, where the strategy holds its capital in cash and trades nothing)."""
    if sim.equity.index[0] >= base:
        return sim
    keep = sim.equity.index >= base

    def cut(frame):
        return frame.loc[keep] if len(frame.index) == len(keep) else frame

    return dataclasses.replace(sim, equity=sim.equity.loc[keep], holdings=cut(sim.holdings),
                               fees=sim.fees.loc[keep], cash=sim.cash.loc[keep])


def benchmark_plans(benchmarks, sim_calendar: pd.DatetimeIndex, base: pd.Timestamp, aliases: dict[str, str]):
    """`StrategyPlan`s of the benchmarks (``backtest.config.Benchmark``): each holds its weights from the
    base close, bought like a strategy's opening positions (same decision day and fill), without costs;
    composites are rebalanced back to their weights on their schedule. ``aliases`` maps a proxied ticker to
    its spliced price column."""
    from .engine import StrategyPlan

    plans = {}
    for b in benchmarks:
        dates = decision_dates(sim_calendar, base, b.rebalance)
        row = {aliases.get(t, t): w for t, w in b.weights}
        plans[b.name] = StrategyPlan(pd.DataFrame([row] * len(dates), index=dates))
    return plans
