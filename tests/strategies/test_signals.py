"""Selection (momentum, volatility), the conditional tilt and the trend filter, against plain pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtest.errors import DataError
from strategies import decision_inputs, signals, weigh

from .specs import MAG7, Select, Spec, Tilt, Trend

NAMES = ("AAPL", "MSFT", "JPM", "XOM", "JNJ", "PG", "KO", "WMT", "CVX", "PFE", "MRK", "HD", "INTC", "CSCO",
         "VZ", "T", "BAC", "WFC", "DIS", "MCD", "IBM", "ORCL", "PEP", "NKE", "UNH")


@pytest.fixture(scope="module")
def prices(snapshot_store) -> pd.DataFrame:
    tickers = sorted({*NAMES, *MAG7, "SPY", "BIL"})
    return snapshot_store.prices(tickers, start=pd.Timestamp("2018-01-01"), end=pd.Timestamp("2023-12-31"))


def test_momentum_12_1_top_10_matches_pandas(prices):
    day = pd.Timestamp("2019-12-31")
    spec = Spec(weighting="equal", select=Select(by="momentum", lookback=252, skip=21, top=10))
    out = weigh(spec, decision_inputs(prices, None, day, NAMES))
    p = prices.loc[:day, list(NAMES)]
    momentum = p.iloc[-22] / p.iloc[-253] - 1
    assert out.weights.index.tolist() == sorted(momentum.nlargest(10).index)
    assert (out.weights == 0.1).all()


def test_lowest_volatility_bottom_5_matches_pandas(prices):
    day = pd.Timestamp("2021-06-30")
    spec = Spec(weighting="equal", select=Select(by="volatility", lookback=126, bottom=5))
    out = weigh(spec, decision_inputs(prices, None, day, NAMES))
    vol = prices.loc[:day, list(NAMES)].pct_change().iloc[-126:].std(ddof=1)
    assert out.weights.index.tolist() == sorted(vol.nsmallest(5).index)


def test_selection_names_what_it_could_not_rank_and_says_when_short():
    dates = pd.bdate_range("2024-01-01", periods=12, name="date")
    frame = pd.DataFrame({"A": np.linspace(10, 12, 12), "B": np.linspace(10, 9, 12), "C": np.linspace(5, 6, 12)},
                         index=dates)
    frame.iloc[:8, 2] = np.nan     # C lists late
    spec = Spec(weighting="equal", select=Select(by="momentum", lookback=10, top=5))
    out = weigh(spec, decision_inputs(frame, None, dates[-1], "ABC"))
    assert out.weights.index.tolist() == ["A", "B"]
    assert out.notes == ("2024-01-16: select: 1 universe names have no full 10-day window and were not ranked: C",
                         "2024-01-16: select: only 2 companies could be ranked, fewer than the 5 asked")


def test_trend_filter_holds_the_defensive_ticker_below_the_200_day_average(prices):
    spec = Spec(weighting="equal", trend=Trend(ticker="SPY", days=200, defensive="BIL"))
    average = prices["SPY"].rolling(200).mean()
    for day, down in (("2020-03-20", True), ("2019-12-31", False), ("2022-06-30", True), ("2023-12-29", False)):
        day = pd.Timestamp(day)
        assert (prices.loc[day, "SPY"] < average.loc[day]) == down, "the dates are what the test says"
        out = weigh(spec, decision_inputs(prices, None, day, NAMES))
        if down:
            assert out.weights.to_dict() == {"BIL": 1.0}
            assert "trend: SPY closed at" in out.notes[0] and "holding BIL" in out.notes[0]
        else:
            assert len(out.weights) == len(NAMES)


def test_trend_without_enough_history_is_an_error():
    dates = pd.bdate_range("2024-01-01", periods=5, name="date")
    frame = pd.DataFrame({"SPY": np.arange(5.0) + 1, "BIL": 1.0}, index=dates)
    spec = Spec(weighting="equal", trend=Trend(ticker="SPY", days=200, defensive="BIL"))
    with pytest.raises(DataError, match="trend needs 200 trading days of prices up to the decision date"):
        weigh(spec, decision_inputs(frame, None, dates[-1], ("SPY",)))


def test_group_leads_is_the_equal_weighted_trailing_return_against_the_rest(prices):
    universe = sorted({*NAMES, *MAG7})
    for day in ("2022-12-30", "2023-12-29"):
        day = pd.Timestamp(day)
        inputs = decision_inputs(prices, None, day, universe)
        leads, group, rest = signals.group_leads(inputs, MAG7, universe, 126)
        change = prices.loc[:day, universe].iloc[[-127, -1]].pct_change().iloc[-1]
        # seven companies, each once: Alphabet at the mean of GOOGL and GOOG (not two of eight slots)
        alphabet = change[["GOOGL", "GOOG"]].mean()
        seven = [change[t] for t in MAG7 if t not in ("GOOGL", "GOOG")] + [alphabet]
        assert len(seven) == 7
        assert group == pytest.approx(sum(seven) / 7, rel=1e-12)
        assert group != pytest.approx(change[list(MAG7)].mean(), rel=1e-9)
        assert rest == pytest.approx(change.drop(list(MAG7)).mean(), rel=1e-12)
        assert leads == (group > rest)
    assert not signals.group_leads(decision_inputs(prices, None, pd.Timestamp("2022-12-30"), universe), MAG7,
                                   universe, 126)[0], "2022: the Mag 7 lagged"
    assert signals.group_leads(decision_inputs(prices, None, pd.Timestamp("2023-12-29"), universe), MAG7,
                               universe, 126)[0], "2023: the Mag 7 led"


def test_conditional_tilt_applies_only_while_the_group_leads():
    dates = pd.bdate_range("2024-01-01", periods=6, name="date")
    up = pd.DataFrame({"A": [10, 10, 10, 10, 10, 12.0], "B": 10.0, "C": 10.0}, index=dates)
    shares = pd.Series({"A": 1.0, "B": 1.0, "C": 2.0})
    spec = Spec(weighting="cap", tilt=Tilt(group="g", multiplier=2.0, while_leading=5))
    groups = {"g": ("A",)}
    on = weigh(spec, decision_inputs(up, shares, dates[-1], "ABC", groups))
    # caps A 12, B 10, C 20 -> A doubled: 24 / 54
    assert on.weights["A"] == pytest.approx(24 / 54, rel=1e-12) and on.notes == ()
    down = up.assign(A=[10, 10, 10, 10, 10, 8.0])
    off = weigh(spec, decision_inputs(down, shares, dates[-1], "ABC", groups))
    assert off.weights["A"] == pytest.approx(8 / 38, rel=1e-12)
    assert off.notes == ("2024-01-08: tilt off: group g's trailing 5-day return (equal-weighted) does not beat "
                         "the rest's",)


# ------------------------------------------------------------------------- companies, not share-class lines


def test_momentum_ranks_companies_so_alphabet_takes_one_place_on_the_snapshot(snapshot_store, market_data_dir):
    # 2017-06-30: by line, GOOGL and GOOG are 3rd and 5th of these 27 lines by 12-1 momentum
    day = pd.Timestamp("2017-06-30")
    universe = (*NAMES, "GOOG", "GOOGL")
    raw = pd.read_parquet(market_data_dir / "prices_sp500.parquet")[list(universe)].loc[:day]   # plain pandas
    momentum = raw.iloc[-22] / raw.iloc[-253] - 1
    by_line = momentum.nlargest(10).index
    assert {"GOOG", "GOOGL"} <= set(by_line), "the date is one where both lines make the top 10 by line"
    # one score per company: Alphabet's is its key line's (GOOGL); the top 10 companies hold 11 lines
    companies = momentum.drop("GOOG").nlargest(10).index
    expected = sorted({*companies, "GOOG"})
    prices = snapshot_store.prices(sorted(universe), start=pd.Timestamp("2016-01-01"), end=day)
    spec = Spec(weighting="equal", select=Select(by="momentum", lookback=252, skip=21, top=10))
    out = weigh(spec, decision_inputs(prices, None, day, universe))
    assert out.weights.index.tolist() == expected and len(expected) == 11
    # equal per company: Alphabet's one slot is split between its two lines (equally: no share counts here)
    assert out.weights["GOOG"] == out.weights["GOOGL"] == pytest.approx(0.05, abs=1e-15)
    assert (out.weights.drop(["GOOG", "GOOGL"]) == 0.1).all()
    # per: line ranks and counts every line: both Alphabet lines take two of the ten places
    lines = weigh(Spec(weighting="equal", per="line", select=spec.select), decision_inputs(prices, None, day,
                                                                                          universe))
    assert lines.weights.index.tolist() == sorted(by_line) and (lines.weights == 0.1).all()


def test_a_company_is_scored_by_another_class_when_its_key_line_has_no_full_window():
    dates = pd.bdate_range("2024-01-01", periods=12, name="date")
    frame = pd.DataFrame({"GOOG": np.linspace(10, 15, 12), "GOOGL": np.linspace(10, 16, 12),
                          "A": np.linspace(10, 14, 12), "B": np.linspace(10, 9, 12)}, index=dates)
    frame.iloc[:5, 1] = np.nan      # GOOGL lists late: Alphabet is ranked by GOOG (+50%)
    spec = Spec(weighting="equal", select=Select(by="momentum", lookback=10, top=1))
    out = weigh(spec, decision_inputs(frame, None, dates[-1], ("A", "B", "GOOG", "GOOGL")))
    assert out.weights.index.tolist() == ["GOOG", "GOOGL"]
    assert out.notes[0] == ("2024-01-16: select: company scored by another share class (its key line has no "
                            "full 10-day window): GOOGL by GOOG")
    values, groups, used = signals.company_scores(pd.Series({"GOOG": 0.5, "A": 0.4, "B": -0.1}),
                                                  ("A", "B", "GOOG", "GOOGL"))
    assert values.to_dict() == {"A": 0.4, "B": -0.1, "GOOGL": 0.5} and used["GOOGL"] == "GOOG"
