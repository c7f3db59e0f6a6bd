"""Rebalance dates: calendar schedules and drift bands. Pure functions, no I/O.

The calendar is the benchmark's trading days (SPY trades on the NYSE calendar), passed in as a
`DatetimeIndex`; nothing here invents a date that is not a trading day.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

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


def apply_drift_bands(
    candidates: pd.DatetimeIndex,
    prices: pd.DataFrame,
    target_at: Callable[[pd.Timestamp], pd.Series],
    drift,
) -> tuple[pd.DatetimeIndex, dict]:
    """Keep the candidate dates on which the drifted portfolio is out of band.

    The first candidate always trades (initial allocation). On each later candidate the weights held are the
    last traded targets drifted with prices (frictionless), compared with the target computed on that date.
    Returns the dates that trade and a dict date -> target weights for them (so targets are computed once).
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
            last_w, last_p = target, px
    return pd.DatetimeIndex(traded), targets


def apply_drift_bands_fixed(
    candidates: pd.DatetimeIndex,
    prices: pd.DataFrame,
    target: pd.Series,
    drift,
    *,
    window: int = 512,
) -> pd.DatetimeIndex:
    """`apply_drift_bands` for a target that is the same on every candidate date (fixed weights), with no
    Python work per day: the dates that trade, equal to what `apply_drift_bands` returns for
    ``target_at = lambda d: target``.

    From each trade, the drifted weights of up to ``window`` later candidates are computed at once (the
    same operations as `drifted_weights` and `out_of_band`, row by row: ``w * (p / p0)``, NaN ratios as 1,
    divided by the row sum; gaps compared with the bands), and the first out-of-band candidate is the next
    trade. One numpy pass per trade (and per ``window`` candidates without one), not per day.
    """
    if len(candidates) == 0:
        return pd.DatetimeIndex([])
    names = target.index
    px = prices.reindex(index=candidates, columns=names).to_numpy(dtype=float)
    t = target.to_numpy(dtype=float)
    traded = [0]
    start = 0
    n = len(candidates)
    while True:
        base = px[start]
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
