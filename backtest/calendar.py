"""The NYSE trading calendar (exchange-calendars), built once per process."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd

CALENDAR_START = "1990-01-01"


@functools.lru_cache(maxsize=1)
def nyse():
    """The XNYS calendar from 1990 to about a year ahead (exchange-calendars' default end)."""
    import exchange_calendars as xcals

    with warnings.catch_warnings():  # the library trips pandas deprecation warnings on import/build
        warnings.simplefilter("ignore")
        return xcals.get_calendar("XNYS", start=CALENDAR_START)


def session_closes() -> pd.Series:
    """Close time (UTC, tz-aware) of every NYSE session, indexed by the session date (tz-naive)."""
    return nyse().closes


def sessions_between(start, end) -> pd.DatetimeIndex:
    """NYSE sessions in [start, end], clipped to the calendar's bounds."""
    cal = nyse()
    lo = max(pd.Timestamp(start).normalize(), cal.first_session)
    hi = min(pd.Timestamp(end).normalize(), cal.last_session)
    if lo > hi:
        return pd.DatetimeIndex([])
    return cal.sessions_in_range(lo, hi)


def sessions_closed_by(times) -> pd.DatetimeIndex:
    """For each instant in ``times`` (tz-aware, or naive meaning UTC), the latest NYSE session whose close
    is at or before it. NaT stays NaT."""
    closes = session_closes()
    close_ns = closes.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    ts = pd.Series(pd.to_datetime(times, utc=True))
    t_ns = ts.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    pos = np.clip(np.searchsorted(close_ns, t_ns, side="right") - 1, 0, len(close_ns) - 1)
    out = closes.index[pos].to_numpy(dtype="datetime64[ns]").copy()
    out[ts.isna().to_numpy()] = np.datetime64("NaT")
    return pd.DatetimeIndex(out)
