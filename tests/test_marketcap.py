"""Market caps: shares held constant between observations, no look-ahead, backfill flagged, one source per
ticker; checked on hand cases and against the snapshot's own Yahoo caps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtest.marketcap import SharesAsOf, chosen_sources, market_caps, shares_asof

D = pd.bdate_range("2024-01-01", periods=8)  # Mon 2024-01-01 .. Wed 2024-01-10


def long(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["date", "ticker", "shares", "source"]).assign(
        date=lambda x: pd.to_datetime(x["date"]))


OBS = long([(D[2], "A", 100.0, "s"), (D[5], "A", 90.0, "s"), (D[0], "B", 10.0, "s")])


def test_held_constant_between_observations_and_backfilled_before():
    a = shares_asof(OBS, D, ["A", "B", "C"])
    assert isinstance(a, SharesAsOf)
    assert a.shares["A"].tolist() == [100.0, 100.0, 100.0, 100.0, 100.0, 90.0, 90.0, 90.0]
    assert a.shares["B"].tolist() == [10.0] * 8
    assert a.shares["C"].isna().all()  # never observed: NaN, not zero
    assert list(a.observed["A"]) == [D[2]] * 5 + [D[5]] * 3
    assert a.backfilled["A"].tolist() == [True, True] + [False] * 6
    assert not a.backfilled["B"].any() and not a.backfilled["C"].any()
    shares, observed = a  # a plain 2-tuple too
    assert shares is a.shares and observed is a.observed


def test_no_look_ahead_a_later_observation_changes_nothing_before_it():
    base = shares_asof(OBS, D, ["A"]).shares["A"]
    later = pd.concat([OBS, long([(D[6], "A", 1.0, "s")])])
    moved = shares_asof(later, D, ["A"]).shares["A"]
    pd.testing.assert_series_equal(moved.loc[:D[5]], base.loc[:D[5]])
    assert moved.loc[D[6]] == 1.0


def test_observation_on_a_non_trading_day_applies_from_that_day_on():
    sat = long([(pd.Timestamp("2024-01-06"), "A", 5.0, "s")])  # a Saturday
    a = shares_asof(sat, D, ["A"])
    assert a.shares["A"].loc["2024-01-08"] == 5.0 and a.backfilled["A"].loc["2024-01-05"]


def test_one_source_per_ticker_by_preference():
    rows = long([(D[0], "A", 100.0, "snapshot:marketcap_snapshots"),
                 (D[4], "A", 107.0, "snapshot:shares_sp500"),
                 (D[0], "B", 50.0, "snapshot:shares_sp500")])
    a = shares_asof(rows, D, ["A", "B"])
    assert a.shares["A"].tolist() == [100.0] * 8  # the float-adjusted source is not mixed into A
    assert a.shares["B"].tolist() == [50.0] * 8  # but is used where it is all there is
    src = chosen_sources(rows, ["A", "B", "Z"])
    assert (src["A"], src["B"]) == ("snapshot:marketcap_snapshots", "snapshot:shares_sp500")
    assert pd.isna(src["Z"])
    mixed = shares_asof(rows, D, ["A"], mix_sources=True)
    assert mixed.shares["A"].tolist() == [100.0] * 4 + [107.0] * 4
    only = shares_asof(rows, D, ["A"], sources=("snapshot:shares_sp500",))
    assert only.shares["A"].tolist() == [107.0] * 8 and only.backfilled["A"].sum() == 4


def test_bad_rows_are_ignored():
    rows = long([(D[0], "A", np.nan, "s"), (D[1], "A", -3.0, "s"), (D[2], "A", 7.0, "s")])
    assert shares_asof(rows, D, ["A"]).shares["A"].tolist() == [7.0] * 8


def test_summary_lists_what_caps_rest_on():
    a = shares_asof(OBS, D, ["A", "B"])
    s = a.summary(chosen_sources(OBS, ["A", "B"]))
    assert s.loc["A", "first_observation"] == D[2] and s.loc["A", "last_observation"] == D[5]
    assert s.loc["A", "backfilled_days"] == 2 and s.loc["B", "source"] == "s"


def test_market_caps_multiply_and_align():
    prices = pd.DataFrame({"A": [2.0, np.nan, 3.0], "B": [1.0, 1.0, 1.0], "C": [5.0, 5.0, 5.0]}, index=D[:3])
    a = shares_asof(OBS, D[:3], ["A", "B"])
    caps = market_caps(prices, a)
    assert caps["A"].tolist()[0] == 200.0 and np.isnan(caps["A"].iloc[1]) and caps["A"].iloc[2] == 300.0
    assert caps["B"].tolist() == [10.0] * 3 and caps["C"].isna().all()
    pd.testing.assert_frame_equal(caps, market_caps(prices, a.shares))


# ------------------------------------------------------------------------------------- on the snapshot
@pytest.fixture(scope="module")
def yahoo_caps(market_data_dir) -> pd.DataFrame:
    return pd.read_parquet(market_data_dir / "marketcap_snapshots.parquet")


def yahoo_cap(caps: pd.DataFrame, symbol: str, date: str) -> float:
    row = caps.loc[(caps["symbol"] == symbol) & (caps["date"] == pd.Timestamp(date)), "market_cap_usd"]
    assert len(row) == 1
    return float(row.iloc[0])


def caps_on(store, date: str, tickers) -> pd.Series:
    prices = store.prices(tickers, start="2024-06-01", end="2025-03-01")
    a = shares_asof(store.shares(tickers), prices.index, tickers)
    return market_caps(prices, a).loc[date]


def test_aapl_cap_on_a_snapshot_date_is_the_snapshot_cap(snapshot_store, yahoo_caps):
    """Snapshot committed 2024-12-31 20:37 ET, after the close: its cap belongs to that session."""
    cap = caps_on(snapshot_store, "2024-12-31", ["AAPL"])["AAPL"]
    want = yahoo_cap(yahoo_caps, "AAPL", "2024-12-31")
    assert cap == pytest.approx(want, rel=1e-12)


def test_alphabet_classes_add_up_to_the_company(snapshot_store, yahoo_caps):
    caps = caps_on(snapshot_store, "2024-12-31", ["GOOG", "GOOGL"])
    company = yahoo_cap(yahoo_caps, "GOOGL", "2024-12-31")
    assert caps.sum() == pytest.approx(company, rel=0.01)
    assert 0.4 < caps["GOOG"] / caps.sum() < 0.5  # class C's share of the float, not half the company each


def test_caps_between_snapshots_move_with_prices_only(snapshot_store):
    """Between two Yahoo observations the share count is fixed, so the cap ratio is the price ratio."""
    prices = snapshot_store.prices(["MSFT"], start="2024-11-01", end="2024-11-29")
    a = shares_asof(snapshot_store.shares(["MSFT"]), prices.index, ["MSFT"])
    caps = market_caps(prices, a)["MSFT"]
    window = caps.loc["2024-11-04":"2024-11-27"]
    assert (a.observed["MSFT"].loc[window.index] == pd.Timestamp("2024-10-31")).all()
    ratio = window / prices["MSFT"].loc[window.index]
    assert ratio.max() / ratio.min() - 1 < 1e-12
