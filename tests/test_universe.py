"""Universe: ticker spelling, membership at a date, groups, exclusions, missing members (hand cases and the
real snapshot)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from backtest.tickers import normalize_ticker
from backtest.universe import (
    MAG7,
    SHARE_CLASSES,
    Universe,
    companies,
    company_of,
    current_members,
    expand,
    members_at,
    resolve_universe,
)


@dataclass(frozen=True)
class Spec:
    """Duck-typed stand-in for config.UniverseSpec."""

    index: str | None = None
    tickers: tuple = ()
    exclude: tuple = ()
    membership: str = "point_in_time"


MEMBERSHIP = pd.DataFrame({
    "ticker": ["FB", "META", "OLD", "NEW", "GONE", "BRK-B"],
    "start_date": pd.to_datetime(["2013-12-23", "2022-06-09", "2010-01-04", "2020-12-21", "2015-01-02",
                                  "2010-02-16"]),
    "end_date": pd.to_datetime(["2022-06-09", None, "2020-12-21", None, "2018-03-01", None]),
    "price_column": ["META", "META", "OLD", "NEW", None, "BRK-B"],
})


@pytest.mark.parametrize("raw,expected", [
    ("brk.b", "BRK-B"), ("BF/B", "BF-B"), (" aapl ", "AAPL"), ("BRK-B", "BRK-B"), ("^GSPC", "^GSPC"),
    ("VOD.LN", "VOD.LN"), ("meta", "META"),
])
def test_normalize_ticker(raw, expected):
    assert normalize_ticker(raw) == expected


def test_members_at_boundaries_renames_and_dedup():
    assert members_at(MEMBERSHIP, "2020-12-18") == ["BRK-B", "META", "OLD"]
    assert members_at(MEMBERSHIP, "2020-12-21") == ["BRK-B", "META", "NEW"]  # start inclusive, end exclusive
    assert members_at(MEMBERSHIP, "2022-06-09") == ["BRK-B", "META", "NEW"]  # FB and META both map to META
    assert members_at(MEMBERSHIP, "2016-05-02") == ["BRK-B", "GONE", "META", "OLD"]  # no price column: ticker
    assert current_members(MEMBERSHIP) == ["BRK-B", "META", "NEW"]


def test_members_at_needs_the_columns():
    with pytest.raises(ValueError, match="lacks columns"):
        members_at(MEMBERSHIP.drop(columns="price_column"), "2020-01-02")


def test_expand_groups_case_insensitively():
    groups = {"mag7": MAG7, "Banks": ("JPM", "BAC")}
    assert expand(["banks", "aapl", "JPM"], groups) == ["JPM", "BAC", "AAPL"]


def prices_on(*tickers: str, nan: tuple = ()) -> pd.Series:
    return pd.Series({t: (np.nan if t in nan else 10.0) for t in tickers})


def test_index_universe_reports_missing_and_excluded():
    spec = Spec(index="sp500", exclude=("old",))
    u = resolve_universe(spec, "2016-05-02", MEMBERSHIP, {}, prices_on("BRK-B", "META", "OLD", nan=("META",)))
    assert isinstance(u, Universe)
    assert u.tickers == ("BRK-B",)
    assert u.missing == ("GONE", "META")  # never silently dropped
    assert u.excluded == ("OLD",)
    assert u.date == pd.Timestamp("2016-05-02") and len(u) == 1


def test_explicit_tickers_and_groups_keep_their_order():
    spec = Spec(tickers=("SPY", "small", "AVUV"), membership="static")
    u = resolve_universe(spec, "2024-01-02", None, {"small": ("IWN", "VBR")},
                         pd.Series({"SPY": True, "IWN": True, "VBR": False, "AVUV": True}))
    assert u.tickers == ("SPY", "IWN", "AVUV") and u.missing == ("VBR",)


def test_groups_are_point_in_time_unless_static():
    """A group in `tickers` holds its members that are index members on the date; `static` holds all;
    tickers named directly are always held; a point-in-time group needs the membership table."""
    groups = {"g": ("OLD", "NEW", "META")}
    prices = prices_on("OLD", "NEW", "META", "SPY")
    before = resolve_universe(Spec(tickers=("g", "SPY")), "2020-12-18", MEMBERSHIP, groups, prices)
    assert before.tickers == ("OLD", "META", "SPY") and before.outside == ("NEW",)
    after = resolve_universe(Spec(tickers=("g",)), "2020-12-21", MEMBERSHIP, groups, prices)
    assert after.tickers == ("NEW", "META") and after.outside == ("OLD",)
    static = resolve_universe(Spec(tickers=("g",), membership="static"), "2020-12-18", None, groups, prices)
    assert static.tickers == ("OLD", "NEW", "META") and static.outside == ()
    named = resolve_universe(Spec(tickers=("NEW",)), "2020-12-18", None, groups, prices)
    assert named.tickers == ("NEW",)
    with pytest.raises(ValueError, match=r"point-in-time group\(s\) g needs a membership table"):
        resolve_universe(Spec(tickers=("g",)), "2020-12-18", None, groups, prices)


def test_companies_key_share_classes():
    assert company_of("GOOG") == company_of("GOOGL") == "GOOGL"
    assert company_of("AAPL") == "AAPL"
    assert companies(["NWS", "AAPL", "GOOG", "NWSA", "GOOGL"]) == {
        "NWSA": ("NWS", "NWSA"), "AAPL": ("AAPL",), "GOOGL": ("GOOG", "GOOGL")}


def test_current_membership_uses_the_latest_list_for_every_date():
    spec = Spec(index="sp500", membership="current")
    u = resolve_universe(spec, "2016-05-02", MEMBERSHIP, {}, prices_on("BRK-B", "META", "NEW", "OLD"))
    assert u.tickers == ("BRK-B", "META", "NEW")


def test_bad_membership_mode_and_missing_table():
    with pytest.raises(ValueError, match="membership must be one of"):
        resolve_universe(Spec(index="sp500", membership="sometimes"), "2020-01-02", MEMBERSHIP, {}, None)
    with pytest.raises(ValueError, match="needs a membership table"):
        resolve_universe(Spec(index="sp500"), "2020-01-02", None, {}, None)


# ------------------------------------------------------------------------------------- on the snapshot
def available_on(store, date) -> pd.Series:
    return store.prices(start=date, end=date).iloc[0]


def test_tsla_joins_on_2020_12_21(snapshot_store):
    m = snapshot_store.membership()
    assert "TSLA" not in members_at(m, "2020-12-18")
    assert "TSLA" in members_at(m, "2020-12-21")


def test_fb_resolves_to_meta(snapshot_store):
    m = snapshot_store.membership()
    assert "FB" in set(m["ticker"])
    on = members_at(m, "2016-06-30")
    assert "META" in on and "FB" not in on
    u = resolve_universe(Spec(index="sp500"), "2016-06-30", m, {}, available_on(snapshot_store, "2016-06-30"))
    assert "META" in u.tickers


def test_sp500_minus_mag7_is_the_493(snapshot_store):
    m = snapshot_store.membership()
    date = "2024-06-28"
    members = members_at(m, date)
    assert 500 <= len(members) <= 506
    u = resolve_universe(Spec(index="sp500", exclude=("mag7",)), date, m, {"mag7": MAG7},
                         available_on(snapshot_store, date))
    assert set(u.excluded) == set(MAG7)  # all eight share classes were members
    assert not set(u.tickers) & set(MAG7)
    assert len(u.tickers) + len(u.missing) == len(members) - 8  # 493 companies, 495 share lines
    assert len(u.missing) <= 15 and "BRK-B" in u.tickers


def test_mag7_universe_excludes_tsla_before_it_joins_the_index(snapshot_store):
    """`universe: mag7` is the group's S&P 500 members on the date: TSLA from 2020-12-21 (the day it joined),
    not before; `membership: static` holds it on both dates."""
    m = snapshot_store.membership()
    for date, has_tsla in (("2020-12-18", False), ("2020-12-21", True), ("2016-01-04", False)):
        on = available_on(snapshot_store, date)
        u = resolve_universe(Spec(tickers=("mag7",)), date, m, {"mag7": MAG7}, on)
        assert ("TSLA" in u.tickers) is has_tsla
        assert u.outside == (() if has_tsla else ("TSLA",))
        assert set(u.tickers) == set(MAG7) - ({"TSLA"} if not has_tsla else set())
        static = resolve_universe(Spec(tickers=("mag7",), membership="static"), date, m, {"mag7": MAG7},
                                  available_on(snapshot_store, date))
        assert set(static.tickers) == set(MAG7)


def test_share_class_table_against_the_snapshot(market_data_dir):
    """Every company the snapshot lists with classes ("Alphabet Inc. (Class C)") is in the table, under one
    key; and every pair of the table's classes that were S&P 500 members at the same time since 2015 is in
    the table (checked by overlapping intervals of tickers the table pairs)."""
    u = pd.read_csv(market_data_dir / "sp500_universe_and_sources.csv")
    named = u.loc[u["Security"].fillna("").str.contains(r"\(Class "), ["price_column", "Security"]]
    by_company = named.assign(company=named["Security"].str.replace(r"\s*\(Class .\)", "", regex=True))
    for _, rows in by_company.groupby("company"):
        keys = {SHARE_CLASSES.get(c) for c in rows["price_column"]}
        assert len(keys) == 1 and None not in keys, rows
    m = pd.read_csv(market_data_dir / "sp500_membership_intervals.csv", parse_dates=["start_date", "end_date"])
    col = m["price_column"].fillna(m["ticker"])
    for key in set(SHARE_CLASSES.values()):
        lines = [t for t, k in SHARE_CLASSES.items() if k == key]
        rows = m[col.isin(lines) | m["ticker"].isin(lines)]
        if key == "BRK-B":
            continue  # only the B shares are an index member
        end = rows["end_date"].fillna(pd.Timestamp("2100-01-01"))
        overlap = any(a.ticker != b.ticker and max(a.start_date, b.start_date) < min(ea, eb)
                      for a, ea in zip(rows.itertuples(), end) for b, eb in zip(rows.itertuples(), end))
        assert overlap, key


def test_missing_members_are_named(snapshot_store):
    """2016: members without any price series (acquired since) come back in `missing`."""
    m = snapshot_store.membership()
    u = resolve_universe(Spec(index="sp500"), "2016-06-30", m, {}, available_on(snapshot_store, "2016-06-30"))
    assert {"AET", "CELG", "TWX"} <= set(u.missing)
    assert len(u.tickers) + len(u.missing) == len(members_at(m, "2016-06-30"))
