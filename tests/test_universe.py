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
    Universe,
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
    spec = Spec(tickers=("SPY", "small", "AVUV"))
    u = resolve_universe(spec, "2024-01-02", None, {"small": ("IWN", "VBR")},
                         pd.Series({"SPY": True, "IWN": True, "VBR": False, "AVUV": True}))
    assert u.tickers == ("SPY", "IWN", "AVUV") and u.missing == ("VBR",)


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


def test_missing_members_are_named(snapshot_store):
    """2016: members without any price series (acquired since) come back in `missing`."""
    m = snapshot_store.membership()
    u = resolve_universe(Spec(index="sp500"), "2016-06-30", m, {}, available_on(snapshot_store, "2016-06-30"))
    assert {"AET", "CELG", "TWX"} <= set(u.missing)
    assert len(u.tickers) + len(u.missing) == len(members_at(m, "2016-06-30"))
