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

import numpy as np
import pandas as pd

from backtest.tickers import normalize_ticker

MEMBERSHIP_MODES = ("point_in_time", "current", "static")

MAG7 = ("AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "GOOG", "META", "TSLA")
DEFAULT_GROUPS: Mapping[str, tuple[str, ...]] = {"mag7": MAG7}

# Share classes of one company: price column -> company key (the price column of the class that names the
# company). Every S&P 500 company that had two classes in the index at once since 2015, from the snapshot's
# sp500_membership_intervals.csv and sp500_universe_and_sources.csv (tests/test_companies.py checks the
# table against both files). A price column not listed is a company of its own. DISCA's history is in the
# WBD column (Discovery became Warner Bros. Discovery), so WBD is Discovery's key.
SHARE_CLASSES: Mapping[str, str] = {
    "GOOG": "GOOGL", "GOOGL": "GOOGL",          # Alphabet: C and A shares
    "FOX": "FOXA", "FOXA": "FOXA",              # Fox Corporation: B and A
    "NWS": "NWSA", "NWSA": "NWSA",              # News Corp: B and A
    "BRK-A": "BRK-B", "BRK-B": "BRK-B",         # Berkshire Hathaway (only B is an index member)
    "UA": "UAA", "UAA": "UAA",                  # Under Armour: C and A (both members 2016-2022)
    "DISCK": "WBD", "WBD": "WBD",               # Discovery: C and A (DISCA's prices are WBD's column)
    "CMCSK": "CMCSA", "CMCSA": "CMCSA",         # Comcast: K and A (both members until 2015-12-14)
}

MEMBERSHIP_COLUMNS = ("ticker", "start_date", "end_date", "price_column")


def _dedup(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for x in items:
        seen.setdefault(x, None)
    return list(seen)


def _member_columns(rows: pd.DataFrame) -> list[str]:
    """Price column of each interval row, or the (normalised) ticker when there is no price series."""
    pairs = zip(rows["price_column"].to_numpy(dtype=object), rows["ticker"].to_numpy(dtype=object))
    return sorted({normalize_ticker(t if pd.isna(c) else c) for c, t in pairs})


class MembershipTable:
    """The intervals frame read once for repeated look-ups (a sweep resolves a universe on every rebalance
    date): start and end dates as arrays and each row's price column, as `members_at` reads them. Pass it
    wherever a membership frame is accepted by `members_at`, `current_members` and `resolve_universe`."""

    def __init__(self, membership: pd.DataFrame):
        _check_membership(membership)
        self.frame = membership
        self.start = pd.to_datetime(membership["start_date"]).to_numpy(dtype="datetime64[ns]")
        self.end = pd.to_datetime(membership["end_date"]).to_numpy(dtype="datetime64[ns]")
        pairs = zip(membership["price_column"].to_numpy(dtype=object), membership["ticker"].to_numpy(dtype=object))
        self.column = np.asarray([normalize_ticker(t if pd.isna(c) else c) for c, t in pairs], dtype=object)

    def at(self, date) -> list[str]:
        d = np.datetime64(pd.Timestamp(date).normalize().as_unit("ns"))
        mask = (self.start <= d) & (np.isnat(self.end) | (self.end > d))
        return sorted(set(self.column[mask].tolist()))

    def current(self) -> list[str]:
        return sorted(set(self.column[np.isnat(self.end)].tolist()))


def members_at(membership: pd.DataFrame | MembershipTable, date) -> list[str]:
    """Price columns of the index members on ``date`` (``start_date <= date < end_date``), sorted, unique.

    Renames are resolved through ``price_column`` (a 2016 date returns ``META`` for Facebook's ``FB``).
    A member without a price series is returned under its own ticker, so the caller reports it as missing.
    """
    if isinstance(membership, MembershipTable):
        return membership.at(date)
    _check_membership(membership)
    d = np.datetime64(pd.Timestamp(date).normalize().as_unit("ns"))
    start = pd.to_datetime(membership["start_date"]).to_numpy(dtype="datetime64[ns]")
    end = pd.to_datetime(membership["end_date"]).to_numpy(dtype="datetime64[ns]")
    mask = (start <= d) & (np.isnat(end) | (end > d))     # arrays: one call per rebalance date and universe
    return _member_columns(membership.loc[mask])


def current_members(membership: pd.DataFrame) -> list[str]:
    """Price columns of the latest member list (intervals with no end date). Survivorship-biased if used
    for past dates: the caller must warn."""
    if isinstance(membership, MembershipTable):
        return membership.current()
    _check_membership(membership)
    return _member_columns(membership.loc[pd.to_datetime(membership["end_date"]).isna()])


def _check_membership(membership: pd.DataFrame) -> None:
    absent = [c for c in MEMBERSHIP_COLUMNS if c not in membership.columns]
    if absent:
        raise ValueError(f"membership frame lacks columns {absent}; expected {list(MEMBERSHIP_COLUMNS)}")


def company_of(ticker: str, classes: Mapping[str, str] = SHARE_CLASSES) -> str:
    """Company key of a price column: its first-listed class for a multi-class company (``GOOG`` ->
    ``GOOGL``), else the column itself."""
    return classes.get(ticker, ticker)


def companies(tickers: Iterable[str],
              classes: Mapping[str, str] = SHARE_CLASSES) -> dict[str, tuple[str, ...]]:
    """The companies of ``tickers``: ``{company key: (its tickers present, sorted)}``, keys in first-seen
    order. ``companies(["GOOG", "AAPL", "GOOGL"]) == {"GOOGL": ("GOOG", "GOOGL"), "AAPL": ("AAPL",)}``."""
    out: dict[str, list[str]] = {}
    for t in _dedup(tickers):
        out.setdefault(company_of(t, classes), []).append(t)
    return {k: tuple(sorted(v)) for k, v in out.items()}


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
    count. ``excluded``: removed by the spec's ``exclude`` (only names that were candidates). ``outside``:
    members of a group named in ``tickers`` left out because they are not index members on the date
    (point-in-time groups; ``membership: static`` holds them).
    """

    date: pd.Timestamp
    tickers: tuple[str, ...]
    missing: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    outside: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.tickers)


def _available_set(available: Any) -> set[str]:
    """Tickers with a price: ``available`` is a Series indexed by ticker (bool, or prices with NaN)."""
    if available is None:
        return set()
    if isinstance(available, pd.Series):
        if available.dtype == bool:
            ok = available
        elif available.dtype == "float64":   # prices on the date (the usual case): NaN > 0 is False
            ok = available.to_numpy() > 0
        else:
            num = pd.to_numeric(available, errors="coerce")
            ok = (num.notna() & (num > 0)).to_numpy()
        return {str(t) for t in available.index[ok].tolist()}
    return {str(t) for t in available}


def group_refs(names: Iterable[str], groups: Mapping[str, Iterable[str]]) -> list[str]:
    """The entries of ``names`` that name a group (case-insensitive), lower-case."""
    lower = {k.lower() for k in groups}
    return [str(n).strip().lower() for n in names if str(n).strip().lower() in lower]


def resolve_universe(spec: Any, date, membership: pd.DataFrame | None,
                     groups: Mapping[str, Iterable[str]] | None = None,
                     available: pd.Series | None = None) -> Universe:
    """Resolve a universe spec on ``date``.

    ``spec`` is any object with attributes ``index`` (``"sp500"`` or None), ``tickers`` (tickers and/or group
    names), ``exclude`` (tickers and/or group names) and ``membership`` (``"point_in_time"``, ``"current"``
    or ``"static"``).
    ``membership`` is the intervals frame (needed when ``spec.index`` is set, and for groups named in
    ``tickers`` unless ``spec.membership == "static"``). ``available`` is a Series indexed by ticker:
    booleans, or the prices on ``date`` (NaN = no price).

    Candidates are the index members on ``date`` (sorted; with ``membership="current"`` the latest member
    list) followed by the explicit tickers in the order given; exclusions apply to both. A group named in
    ``tickers`` contributes its members that are index members on ``date`` (``"point_in_time"``; the latest
    list with ``"current"``) or all its members (``"static"``); members left out that way are in
    ``outside``. Tickers named directly are always candidates. Exclusions are never point-in-time.
    """
    groups = DEFAULT_GROUPS if groups is None else groups
    d = pd.Timestamp(date).normalize()
    index = getattr(spec, "index", None)
    mode = getattr(spec, "membership", "point_in_time") or "point_in_time"
    if mode not in MEMBERSHIP_MODES:
        raise ValueError(f"membership must be one of {MEMBERSHIP_MODES}, got {mode!r}")
    names = tuple(getattr(spec, "tickers", ()) or ())
    refs = group_refs(names, groups)
    needs_table = bool(index) or (bool(refs) and mode != "static")
    if needs_table and membership is None:
        what = f"universe index {index!r}" if index else f"point-in-time group(s) {', '.join(refs)}"
        raise ValueError(f"{what} needs a membership table")
    in_index: set[str] | None = None
    candidates: list[str] = []
    if needs_table:
        listed = current_members(membership) if mode == "current" else members_at(membership, d)
        in_index = set(listed)
        if index:
            candidates += listed
    outside: list[str] = []
    lower = {k.lower(): v for k, v in groups.items()}
    for name in names:
        key = str(name).strip().lower()
        if key not in lower:
            candidates.append(normalize_ticker(name))
            continue
        for t in (normalize_ticker(x) for x in lower[key]):
            if in_index is None or mode == "static" or t in in_index:
                candidates.append(t)
            else:
                outside.append(t)
    candidates = _dedup(candidates)
    outside = [t for t in _dedup(outside) if t not in candidates]
    drop = set(expand(getattr(spec, "exclude", ()) or (), groups))
    excluded = tuple(t for t in candidates if t in drop)
    kept = [t for t in candidates if t not in drop]
    have = _available_set(available)
    return Universe(date=d,
                    tickers=tuple(t for t in kept if t in have),
                    missing=tuple(t for t in kept if t not in have),
                    excluded=excluded,
                    outside=tuple(t for t in outside if t not in drop))
