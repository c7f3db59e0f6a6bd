"""Dates of user price files -> the exchange's trading dates, refusing what cannot be read safely.

A daily price is labelled by its trading date. Files spell that date in many ways; the ones that silently
shift prices by a day (or a month) are refused with the fix rather than guessed:

- ``YYYY-MM-DD`` (any time of day without a zone is ignored: the date is the label);
- time-zone aware stamps (``2024-01-02T00:00:00Z``, a Parquet index in Europe/Berlin): when every stamp is
  midnight in its own zone, the stamp is a date label and its calendar date is taken as written (converting
  midnight UTC to New York would move every price to the day before: Mondays onto Sundays, the rest a day
  early, a look-ahead). Otherwise each stamp is converted to New York time and must fall inside the trading
  day (04:00-20:00), whose date is taken; anything else is refused, and so are weekday prices whose stamps
  fall on Sunday to Thursday there (midnight in Berlin written in UTC, ``2022-01-02T23:00Z``, is 18:00 in New
  York on Sunday: every price would move a day early; a seven-day market's dates, Fridays and Saturdays
  included, stand);
- ``DD/MM/YYYY`` or ``MM/DD/YYYY`` (``/``, ``.`` or ``-``): the order is read from the file when some day
  exceeds 12; when every value could be either (``02/01/2024``), the file is refused unless
  ``date_format`` says which;
- ``YYYYMMDD`` numbers or text (``20240102``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from backtest.errors import DataError

EXCHANGE_TZ = "America/New_York"
SESSION_HOURS = (4, 20)  # a stamp converted to New York must fall in [04:00, 20:00) to name a trading day

_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?"
                  r"\s*(Z|UTC|[+-]\d{2}(?::?\d{2})?)?$", re.IGNORECASE)
_NUMERIC = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2,4})$")
_COMPACT = re.compile(r"^(19|20|21)\d{6}$")


def _fail(where: str, what: str, examples: Sequence[str], fix: str) -> DataError:
    return DataError(f"{where}: {what} ({'; '.join(examples[:3])}); {fix}")


def exchange_dates(index: pd.DatetimeIndex, where: str) -> pd.DatetimeIndex:
    """A DatetimeIndex (naive or tz-aware) as naive trading dates at midnight (module docstring)."""
    idx = pd.DatetimeIndex(index)
    if idx.tz is None:
        return idx.normalize()
    wall = idx.tz_localize(None)
    if (wall == wall.normalize()).all():
        return wall.normalize()
    ny = idx.tz_convert(EXCHANGE_TZ).tz_localize(None)
    hours = ny.hour
    off = np.flatnonzero((hours < SESSION_HOURS[0]) | (hours >= SESSION_HOURS[1]))
    if len(off):
        shown = [f"{idx[i]} is {ny[i]:%Y-%m-%d %H:%M} in New York" for i in off[:3]]
        raise _fail(where, f"{len(off)} time stamp(s) fall outside the New York trading day, so their trading "
                           "date is unclear", shown,
                    "export one row per trading date as YYYY-MM-DD (the exchange's date), or stamps at "
                    "midnight of that date")
    weekend = np.flatnonzero(ny.day_of_week >= 5)
    fri_sat = ((ny + pd.Timedelta(days=1)).day_of_week >= 5).any()
    if len(weekend) and not fri_sat:    # Sun-Thu in New York = Mon-Fri a zone east of it: every date shifted
        # (midnight in Berlin is 18:00 the day before in New York; a market that trades every day, stamped at
        # its close, has Fridays and Saturdays too, and its dates stand)
        shown = [f"{idx[i]} is {ny[i]:%a %Y-%m-%d %H:%M} in New York" for i in weekend[:3]]
        raise _fail(where, f"{len(weekend)} time stamp(s) fall on a Saturday or Sunday in New York, where no "
                           "exchange trades: they look like midnight in a zone east of New York (the next day's "
                           "label there), so reading them in New York would move every price a day early", shown,
                    "export one row per trading date as YYYY-MM-DD (the exchange's date), or stamps at midnight "
                    "of that date in their own zone (a market that trades every day, such as crypto: YYYY-MM-DD)")
    return ny.normalize()


def parse_dates(values: Sequence, where: str, labels: Sequence[str], date_format: str | None = None
                ) -> pd.DatetimeIndex:
    """Trading dates of a file's date column (text, numbers or datetimes). Raises DataError naming the rows
    and the fix for values that are not dates, mixed or ambiguous forms, and stamps in another zone that do
    not name a trading day."""
    s = pd.Series(list(values), dtype=object)
    if pd.api.types.is_datetime64_any_dtype(pd.Series(values)):
        return exchange_dates(pd.DatetimeIndex(values), where)
    missing = s.isna() | s.map(lambda v: isinstance(v, str) and not v.strip())
    if missing.any():
        shown = [labels[i] for i in np.flatnonzero(missing.to_numpy())[:5]]
        raise DataError(f"{where}: {int(missing.sum())} row(s) have no date ({', '.join(shown)}); give every "
                        "row a date YYYY-MM-DD or remove it")
    if s.map(lambda v: isinstance(v, (pd.Timestamp, np.datetime64)) or hasattr(v, "tzinfo")).all():
        return exchange_dates(pd.DatetimeIndex(pd.to_datetime(list(s), utc=False)), where)
    if s.map(lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, bool)).all():
        s = s.astype(str)
    if not s.map(lambda v: isinstance(v, str)).all():
        i = int(np.flatnonzero(~s.map(lambda v: isinstance(v, str)).to_numpy())[0])
        raise DataError(f"{where}: the date column holds {type(s.iloc[i]).__name__} values ({labels[i]}: "
                        f"{s.iloc[i]!r}), not dates; write dates as YYYY-MM-DD")
    text = s.str.strip()
    if date_format:
        parsed = pd.to_datetime(text, format=date_format, errors="coerce")
        return _checked(parsed, text, where, labels, f"do not match --date-format {date_format!r}")
    if text.map(lambda v: bool(_COMPACT.match(v))).all():
        return _checked(pd.to_datetime(text, format="%Y%m%d", errors="coerce"), text, where, labels,
                        "are 8-digit numbers but not valid YYYYMMDD dates")
    iso = text.map(_ISO.match)
    if iso.map(bool).all():
        return _from_iso(iso, text, where, labels)
    numeric = text.map(_NUMERIC.match)
    if numeric.map(bool).all():
        return _from_numeric(numeric, text, where, labels)
    known = (iso.map(bool) | numeric.map(bool)).to_numpy()
    if known.any():
        rest = pd.to_datetime(text[~known], errors="coerce", format="mixed")
        if rest.isna().any():
            bad = np.flatnonzero(~known)[rest.isna().to_numpy()]
            shown = [f"{labels[i]}: {text.iloc[i]!r}" for i in bad[:5]]
            raise DataError(f"{where}: {len(bad)} value(s) in the date column are not dates "
                            f"({'; '.join(shown)}); write dates as YYYY-MM-DD")
        i = int(np.flatnonzero(~known)[0])
        raise DataError(f"{where}: the date column mixes forms ({labels[i]}: {text.iloc[i]!r} next to "
                        f"{text.iloc[0]!r}); write every date as YYYY-MM-DD")
    parsed = pd.to_datetime(text, errors="coerce", format="mixed")  # month names: "Jan 2, 2024", "2 Jan 2024"
    return _checked(parsed, text, where, labels, "are not dates")


def _checked(parsed: pd.Series, text: pd.Series, where: str, labels, what: str) -> pd.DatetimeIndex:
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        shown = [f"{labels[i]}: {text.iloc[i]!r}" for i in bad[:5]]
        raise DataError(f"{where}: {len(bad)} value(s) in the date column {what} ({'; '.join(shown)}); write "
                        "dates as YYYY-MM-DD")
    idx = pd.DatetimeIndex(parsed)
    if idx.tz is not None:
        return exchange_dates(idx, where)
    return idx.normalize()


def _from_iso(matches: pd.Series, text: pd.Series, where: str, labels) -> pd.DatetimeIndex:
    zoned = matches.map(lambda m: m.group(7) is not None).to_numpy()
    if zoned.any() and not zoned.all():
        i, j = int(np.flatnonzero(zoned)[0]), int(np.flatnonzero(~zoned)[0])
        raise DataError(f"{where}: some dates carry a time zone and some do not ({labels[i]}: "
                        f"{text.iloc[i]!r}; {labels[j]}: {text.iloc[j]!r}); write every date as YYYY-MM-DD")
    try:
        wall = pd.DatetimeIndex([pd.Timestamp(int(m.group(1)), int(m.group(2)), int(m.group(3)),
                                              int(m.group(4) or 0), int(m.group(5) or 0), int(m.group(6) or 0))
                                 for m in matches])
    except ValueError:
        bad = [i for i, m in enumerate(matches) if not _valid_day(m)]
        shown = [f"{labels[i]}: {text.iloc[i]!r}" for i in bad[:5]]
        raise DataError(f"{where}: {len(bad)} value(s) in the date column are not calendar dates "
                        f"({'; '.join(shown)}); fix them (YYYY-MM-DD)") from None
    if not zoned.any() or (wall == wall.normalize()).all():
        return wall.normalize()
    offsets = pd.to_timedelta([_offset(m.group(7)) for m in matches], unit="m")
    utc = (wall - offsets).tz_localize("UTC")
    return exchange_dates(utc, where)


def _valid_day(m) -> bool:
    try:
        pd.Timestamp(int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4) or 0),
                     int(m.group(5) or 0), int(m.group(6) or 0))
    except ValueError:
        return False
    return True


def _offset(zone: str) -> int:
    """Minutes east of UTC of ``Z``, ``UTC``, ``+01``, ``+0100`` or ``-05:00``."""
    if zone.upper() in ("Z", "UTC"):
        return 0
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    return sign * (int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) > 2 else 0))


def _from_numeric(matches: pd.Series, text: pd.Series, where: str, labels) -> pd.DatetimeIndex:
    first = matches.map(lambda m: int(m.group(1))).to_numpy()
    second = matches.map(lambda m: int(m.group(2))).to_numpy()
    years = matches.map(lambda m: m.group(3)).to_numpy()
    if any(len(y) != 4 for y in years):
        i = int(np.flatnonzero([len(y) != 4 for y in years])[0])
        raise DataError(f"{where}: two-digit years are ambiguous ({labels[i]}: {text.iloc[i]!r}); write dates "
                        "as YYYY-MM-DD or pass --date-format")
    day_first, month_first = (first > 12).any(), (second > 12).any()
    if day_first and month_first:
        i, j = int(np.flatnonzero(first > 12)[0]), int(np.flatnonzero(second > 12)[0])
        raise DataError(f"{where}: the dates mix day-first and month-first order ({labels[i]}: "
                        f"{text.iloc[i]!r}; {labels[j]}: {text.iloc[j]!r}); write dates as YYYY-MM-DD")
    if not day_first and not month_first:
        raise DataError(f"{where}: the dates are ambiguous: {text.iloc[0]!r} can be day/month or month/day "
                        "and no date in the file settles it (no day above 12); pass --date-format %d/%m/%Y "
                        "(day first) or --date-format %m/%d/%Y (month first), or write dates as YYYY-MM-DD")
    day, month = (first, second) if day_first else (second, first)
    built = pd.Series([f"{y}-{m:02d}-{d:02d}" for y, m, d in zip(years, month, day)])
    return _checked(pd.to_datetime(built, format="%Y-%m-%d", errors="coerce"), text, where, labels,
                    "are not calendar dates")
