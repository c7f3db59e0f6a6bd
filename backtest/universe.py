"""Universes: ticker spelling, named groups, index membership at a date, exclusions (pure).

Nothing here opens a file or imports `backtest.data`: the membership table is passed in (the orchestrator reads it
with `backtest.data.membership.load_membership`), and so is price availability. Ticker spelling lives in
`backtest.tickers`.

Membership table (the "intervals frame"): one row per membership interval, columns

- ``ticker``        the index's symbol at the time, Yahoo spelling (``BRK-B``, ``FB``)
- ``start_date``    first day as a member (inclusive), ``datetime64``
- ``end_date``      first day no longer a member (exclusive); ``NaT`` = still a member
- ``price_column``  the store column holding this company's prices (``FB`` -> ``META``); NaN when the data
                    has no price series for it (such members are reported as missing, never dropped)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from backtest.tickers import normalize_ticker

MEMBERSHIP_MODES = ("point_in_time", "current")

MAG7 = ("AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "GOOG", "META", "TSLA")
DEFAULT_GROUPS: Mapping[str, tuple[str, ...]] = {"mag7": MAG7}

# One share-class letter after a dot or slash: BRK.B, BF/B -> BRK-B, BF-B. Exchange suffixes of two or more
# letters (VOD.L is the exception we cannot tell apart; see docs/data.md) are left alone.

MEMBERSHIP_COLUMNS = ("ticker", "start_date", "end_date", "price_column")


def _dedup(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for x in items:
        seen.setdefault(x, None)
    return list(seen)


def _member_columns(rows: pd.DataFrame) -> list[str]:
    """Price column of each interval row, or the (normalised) ticker when there is no price series."""
    pc = rows["price_column"].astype(object).where(rows["price_column"].notna(), rows["ticker"])
    return sorted(_dedup(normalize_ticker(x) for x in pc))


def members_at(membership: pd.DataFrame, date) -> list[str]:
    """Price columns of the index members on ``date`` (``start_date <= date < end_date``), sorted, unique.

    Renames are resolved through ``price_column`` (a 2016 date returns ``META`` for Facebook's ``FB``).
    A member without a price series is returned under its own ticker, so the caller reports it as missing.
    """
    _check_membership(membership)
    d = pd.Timestamp(date).normalize()
    start = pd.to_datetime(membership["start_date"])
    end = pd.to_datetime(membership["end_date"])
    mask = (start <= d) & (end.isna() | (end > d))
    return _member_columns(membership.loc[mask])


def current_members(membership: pd.DataFrame) -> list[str]:
    """Price columns of the latest member list (intervals with no end date). Survivorship-biased if used
    for past dates: the caller must warn."""
    _check_membership(membership)
    return _member_columns(membership.loc[pd.to_datetime(membership["end_date"]).isna()])


def _check_membership(membership: pd.DataFrame) -> None:
    absent = [c for c in MEMBERSHIP_COLUMNS if c not in membership.columns]
    if absent:
        raise ValueError(f"membership frame lacks columns {absent}; expected {list(MEMBERSHIP_COLUMNS)}")


def expand(names: Iterable[str], groups: Mapping[str, Iterable[str]]) -> list[str]:
    """Replace group names (case-insensitive, e.g. ``mag7``) by their tickers; normalise the rest."""
    lower = {k.lower(): v for k, v in groups.items()}
    out: list[str] = []
    for name in names:
        key = str(name).strip().lower()
        if key in lower:
            out.extend(normalize_ticker(t) for t in lower[key])
        else:
            out.append(normalize_ticker(name))
    return _dedup(out)


@dataclass(frozen=True)
class Universe:
    """The investable set on one date.

    ``tickers``: eligible (wanted, not excluded, with a price on the date), in a stable order.
    ``missing``: wanted and not excluded but without a price on the date: the runner reports them by name and
    count. ``excluded``: removed by the spec's ``exclude`` (only names that were candidates).
    """

    date: pd.Timestamp
    tickers: tuple[str, ...]
    missing: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.tickers)


def _available_set(available: Any) -> set[str]:
    """Tickers with a price: ``available`` is a Series indexed by ticker (bool, or prices with NaN)."""
    if available is None:
        return set()
    if isinstance(available, pd.Series):
        if available.dtype == bool:
            ok = available
        else:
            num = pd.to_numeric(available, errors="coerce")
            ok = num.notna() & (num > 0)
        return {str(t) for t in available.index[ok.to_numpy()]}
    return {str(t) for t in available}


def resolve_universe(spec: Any, date, membership: pd.DataFrame | None,
                     groups: Mapping[str, Iterable[str]] | None = None,
                     available: pd.Series | None = None) -> Universe:
    """Resolve a universe spec on ``date``.

    ``spec`` is any object with attributes ``index`` (``"sp500"`` or None), ``tickers`` (tickers and/or group
    names), ``exclude`` (tickers and/or group names) and ``membership`` (``"point_in_time"`` or
    ``"current"``).
    ``membership`` is the intervals frame (needed only when ``spec.index`` is set). ``available`` is a Series
    indexed by ticker: booleans, or the prices on ``date`` (NaN = no price).

    Candidates are the index members on ``date`` (sorted; with ``membership="current"`` the latest member
    list) followed by the explicit tickers in the order given; exclusions apply to both.
    """
    groups = DEFAULT_GROUPS if groups is None else groups
    d = pd.Timestamp(date).normalize()
    index = getattr(spec, "index", None)
    mode = getattr(spec, "membership", "point_in_time") or "point_in_time"
    if mode not in MEMBERSHIP_MODES:
        raise ValueError(f"membership must be one of {MEMBERSHIP_MODES}, got {mode!r}")
    candidates: list[str] = []
    if index:
        if membership is None:
            raise ValueError(f"universe index {index!r} needs a membership table")
        candidates += current_members(membership) if mode == "current" else members_at(membership, d)
    candidates += expand(getattr(spec, "tickers", ()) or (), groups)
    candidates = _dedup(candidates)
    drop = set(expand(getattr(spec, "exclude", ()) or (), groups))
    excluded = tuple(t for t in candidates if t in drop)
    kept = [t for t in candidates if t not in drop]
    have = _available_set(available)
    return Universe(date=d,
                    tickers=tuple(t for t in kept if t in have),
                    missing=tuple(t for t in kept if t not in have),
                    excluded=excluded)
