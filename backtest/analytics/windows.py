"""Return windows (YTD, MTD, trailing, full, explicit) and the asset-class snapshot table.

Every return here is a total return between two closes of a total-return adjusted price series:
``p[end_date] / p[start_date] - 1`` where ``start_date`` is the *base close*, the last trading day before the
window's first day (YTD: the last close of the prior year), and ``end_date`` the last trading day on or before
the as-of date. The exact dates are always returned so a reader can check the figure by hand.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import pandas as pd

from backtest.errors import DataError, UsageError

#: Named windows understood by :func:`resolve_window` (``<n>m`` / ``<n>y`` also work for any n).
WINDOW_NAMES: tuple[str, ...] = ("ytd", "mtd", "1m", "3m", "6m", "1y", "3y", "5y", "full")

#: ``since`` is a window name, an explicit ``(first_day, last_day_or_None)`` pair, or a string
#: ``"YYYY-MM-DD"`` / ``"YYYY-MM-DD:YYYY-MM-DD"`` (first day of the window, optional last day).
Since = str | tuple[object, object]

_TRAILING = re.compile(r"^(\d+)([my])$")


def _timestamp(value: object, what: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{what}: expected a date like 2026-06-22, got {value!r}") from exc
    if ts is pd.NaT:
        raise UsageError(f"{what}: expected a date like 2026-06-22, got {value!r}")
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    return ts.normalize()


def trading_index(index: pd.Index) -> pd.DatetimeIndex:
    """The sorted, unique, tz-naive, midnight-normalised trading dates of ``index``."""
    idx = pd.DatetimeIndex(index)
    if idx.tz is not None:
        idx = idx.tz_localize(None)
    return idx.normalize().unique().sort_values()


def _parse_since(since: Since) -> tuple[str, pd.Timestamp | None, pd.Timestamp | None]:
    """-> (kind, first_day, last_day) where kind is a window name, '<n>m'/'<n>y', or 'explicit'."""
    if isinstance(since, tuple | list):
        if len(since) != 2:
            raise UsageError(f"since: expected (start, end), got {since!r}")
        first = _timestamp(since[0], "since start")
        last = None if since[1] is None else _timestamp(since[1], "since end")
        return "explicit", first, last
    if not isinstance(since, str):
        raise UsageError(f"since: expected a window name or (start, end), got {since!r}")
    text = since.strip().lower()
    if text in ("ytd", "mtd", "full") or _TRAILING.match(text):
        return text, None, None
    parts = text.split(":")
    if len(parts) in (1, 2) and re.match(r"^\d{4}-\d{2}-\d{2}$", parts[0]):
        first = _timestamp(parts[0], "since start")
        last = _timestamp(parts[1], "since end") if len(parts) == 2 and parts[1] else None
        return "explicit", first, last
    raise UsageError(
        f"since: expected one of {', '.join(WINDOW_NAMES)}, '<n>m', '<n>y', a start date "
        f"'2026-01-01' or a range '2026-01-01:2026-06-22'; got {since!r}"
    )


def window_label(since: Since) -> str:
    """A filesystem-safe label for a window: ``"ytd"``, ``"3m"``, ``"2026-01-02_2026-06-22"``."""
    kind, first, last = _parse_since(since)
    if kind != "explicit":
        return kind
    assert first is not None
    return f"{first:%Y-%m-%d}_{last:%Y-%m-%d}" if last is not None else f"{first:%Y-%m-%d}_asof"


def window_text(since: Since) -> str:
    """A window as its config writes it: ``"ytd"``, ``"3m"``, ``"2026-01-02 .. 2026-06-22"`` (an explicit
    window; ``.. asof`` without a last day)."""
    kind, first, last = _parse_since(since)
    if kind != "explicit":
        return kind
    return f"{first:%Y-%m-%d} .. {last:%Y-%m-%d}" if last is not None else f"{first:%Y-%m-%d} .. asof"


def resolve_window(index: pd.Index, asof: object, since: Since) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The exact (base close, end close) dates of a return window.

    Parameters
    ----------
    index : the trading dates available (e.g. ``prices.index``).
    asof : the as-of date; ``None`` means the last date of ``index``.
    since : ``"ytd"`` (first day Jan 1 of the as-of year), ``"mtd"`` (first day of the as-of month),
        ``"<n>m"`` / ``"<n>y"`` (trailing: base = last trading day on or before ``asof - n months/years``),
        ``"full"`` (base = first date of ``index``), or an explicit window ``(first_day, last_day)`` whose
        ``last_day`` (``None`` = ``asof``) replaces ``asof``.

    Returns
    -------
    ``(start_date, end_date)``: ``start_date`` is the base close, the last trading day *before* the window's
    first day (YTD 2026 -> 2025-12-31); ``end_date`` the last trading day on or before the as-of date. The
    return over the window is ``p[end_date] / p[start_date] - 1``. ``start_date == end_date`` (a window with
    no trading day yet, e.g. MTD on the 1st) is allowed and means a zero return.

    Raises
    ------
    DataError when the window ends before the data starts, or has no close before its first day.
    UsageError when ``since`` cannot be parsed or an explicit window ends before it starts.
    """
    idx = trading_index(index)
    if len(idx) == 0:
        raise DataError("resolve_window: no trading dates given (empty price index)")
    kind, first_day, last_day = _parse_since(since)
    asof_ts = idx[-1] if asof is None else _timestamp(asof, "asof")
    if kind == "explicit":
        asof_ts = last_day if last_day is not None else asof_ts
        assert first_day is not None
        if asof_ts < first_day:
            raise UsageError(
                f"since: the window ends ({asof_ts:%Y-%m-%d}) before it starts ({first_day:%Y-%m-%d}); "
                "give a start on or before the end / as-of date"
            )
    end_pos = idx.searchsorted(asof_ts, side="right") - 1
    if end_pos < 0:
        raise DataError(
            f"window {since!r} as of {asof_ts:%Y-%m-%d} ends before the data starts ({idx[0]:%Y-%m-%d}); "
            "choose a later as-of date"
        )
    end_date = idx[end_pos]
    if kind == "full":
        return idx[0], end_date
    match = _TRAILING.match(kind)
    if match:
        n, unit = int(match.group(1)), match.group(2)
        anchor = asof_ts - (pd.DateOffset(months=n) if unit == "m" else pd.DateOffset(years=n))
        base_pos = idx.searchsorted(anchor, side="right") - 1  # last close on/before the anchor
    else:
        if kind == "ytd":
            first_day = pd.Timestamp(asof_ts.year, 1, 1)
        elif kind == "mtd":
            first_day = pd.Timestamp(asof_ts.year, asof_ts.month, 1)
        assert first_day is not None
        base_pos = idx.searchsorted(first_day, side="left") - 1  # last close strictly before day one
        anchor = first_day
    if base_pos < 0:
        raise DataError(
            f"window {since!r} as of {asof_ts:%Y-%m-%d} needs a close before {anchor:%Y-%m-%d} but the data "
            f"starts {idx[0]:%Y-%m-%d}; use since='full' or a later window"
        )
    return idx[base_pos], end_date


def _series_span(series: pd.Series) -> str:
    valid = series.dropna()
    if valid.empty:
        return "no prices at all"
    return f"series runs {valid.index[0]:%Y-%m-%d}..{valid.index[-1]:%Y-%m-%d}"


def window_return(prices: pd.DataFrame, column: str, start: pd.Timestamp, end: pd.Timestamp
                  ) -> tuple[float, float, float, str]:
    """(start_price, end_price, total_return, note) of one column; NaN and a note when data is missing."""
    if column not in prices.columns:
        return math.nan, math.nan, math.nan, f"no price series for {column}"
    series = prices[column]
    p0 = float(series.get(start, math.nan))
    p1 = float(series.get(end, math.nan))
    problems = []
    if math.isnan(p0):
        problems.append(f"no close on {start:%Y-%m-%d}")
    if math.isnan(p1):
        problems.append(f"no close on {end:%Y-%m-%d}")
    if problems:
        return p0, p1, math.nan, f"{' and '.join(problems)} ({_series_span(series)})"
    return p0, p1, p1 / p0 - 1.0, ""


SNAPSHOT_COLUMNS = ("start_date", "start_price", "end_date", "end_price", "total_return", "note")


def asset_snapshot(prices: pd.DataFrame, tickers: Sequence[str], asof: object, since: Since, *,
                   calendars: Mapping[str, pd.DatetimeIndex] | None = None) -> pd.DataFrame:
    """Total return of each ticker over one window.

    Parameters
    ----------
    prices : DataFrame indexed by trading date, one column per ticker, total-return adjusted closes.
    tickers : the tickers to report, in the order wanted.
    asof, since : see :func:`resolve_window`.
    calendars : the trading dates to resolve a ticker's window on, where they are not ``prices.index`` (a
        stock's sessions beside a market that trades every day: its window ends on the Friday before a
        Sunday as-of date, not on the Sunday, where it has no close).

    Returns
    -------
    DataFrame indexed by ``ticker`` (one row per requested ticker, in order, never dropped) with columns
    ``start_date, start_price, end_date, end_price, total_return, note``; ``note`` is ``""`` when the
    figure is complete, otherwise it says what is missing and the row's prices/return are NaN.
    """
    common = resolve_window(prices.index, asof, since)
    rows = []
    for ticker in tickers:
        start, end = common             # each ticker from the shared window, not the previous ticker's
        if calendars is not None and ticker in calendars:
            try:
                start, end = resolve_window(calendars[ticker], asof, since)
            except DataError:       # its own dates do not reach the window: an n/a row with a note, as before
                pass
        p0, p1, ret, note = window_return(prices, ticker, start, end)
        rows.append((ticker, start, p0, end, p1, ret, note))
    frame = pd.DataFrame(rows, columns=("ticker",) + SNAPSHOT_COLUMNS).set_index("ticker")
    return frame.astype({"start_price": float, "end_price": float, "total_return": float})


def format_snapshot(df: pd.DataFrame) -> str:
    """A plain-text table of :func:`asset_snapshot` output, with the exact dates, e.g. for ``bt snapshot``::

        ticker  start close  start price  end close   end price  total return
        IWM     2025-12-31        245.12  2026-06-22     260.03        +6.08%
    """
    header = ("ticker", "start close", "start price", "end close", "end price", "total return")
    lines = []
    notes = []
    for ticker, row in df.iterrows():
        def num(x: float, fmt: str) -> str:
            return "n/a" if pd.isna(x) else format(x, fmt)

        lines.append((
            str(ticker),
            f"{pd.Timestamp(row['start_date']):%Y-%m-%d}",
            num(row["start_price"], ",.2f"),
            f"{pd.Timestamp(row['end_date']):%Y-%m-%d}",
            num(row["end_price"], ",.2f"),
            num(row["total_return"] * 100.0 if pd.notna(row["total_return"]) else math.nan, "+.2f")
            + ("%" if pd.notna(row["total_return"]) else ""),
        ))
        note = row.get("note", "")
        if isinstance(note, str) and note:
            notes.append(f"  {ticker}: {note}")
    widths = [max([len(header[i])] + [len(r[i]) for r in lines]) for i in range(len(header))]
    left = {0, 1, 3}

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i in left else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    out = [fmt(header)] + [fmt(r) for r in lines]
    out.append("total return = end price / start price - 1 (adjusted closes: dividends reinvested)")
    if notes:
        out.append("notes:")
        out.extend(notes)
    return "\n".join(out)
