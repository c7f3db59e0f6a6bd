"""DecisionInputs, the slicing helper and the no-look-ahead guarantee."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtest.errors import DataError
from strategies import DecisionInputs, Weights, decision_inputs, weigh
from strategies.base import finalise

from .specs import Caps, PySpec, RiskSpec, Select, Spec, Tilt, Trend


def _prices() -> pd.DataFrame:
    """20 business days x 4 tickers; D lists on day 5."""
    dates = pd.bdate_range("2024-01-01", periods=20, name="date")
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        100 * np.exp(np.cumsum(rng.normal(0, 0.02, (20, 4)), axis=0)), index=dates, columns=list("ABCD")
    )
    frame.iloc[:5, 3] = np.nan
    return frame


def test_history_stops_at_the_date():
    prices = _prices()
    day = prices.index[9]
    inputs = decision_inputs(prices, None, day, ("A", "B"), {"g": ["A"]})
    assert inputs.history.index[-1] == day
    assert len(inputs.history) == 10
    assert inputs.groups["g"] == ("A",)
    pd.testing.assert_series_equal(inputs.last_prices(), prices.loc[day].rename(day))


def test_shares_are_the_last_known_per_ticker_and_held_constant():
    prices = _prices()
    known = pd.DataFrame(
        {"A": [10.0, 11.0, 12.0], "B": [5.0, np.nan, np.nan]},
        index=pd.DatetimeIndex([prices.index[0], prices.index[8], prices.index[15]]),
    )
    inputs = decision_inputs(prices, known, prices.index[10], ("A", "B"))
    assert inputs.shares.to_dict() == {"A": 11.0, "B": 5.0}  # B's last known count carried forward
    before_any = decision_inputs(prices, known.iloc[1:], prices.index[3], ("A",))
    assert before_any.shares.empty


def test_date_must_be_a_trading_day_of_the_prices():
    message = r"decision date 2024-01-06 is not a trading day .*\(2024-01-01 \.\. 2024-01-26\)"
    with pytest.raises(DataError, match=message):
        decision_inputs(_prices(), None, "2024-01-06", ("A",))


def test_universe_tickers_need_a_price_on_the_date():
    prices = _prices()
    with pytest.raises(DataError, match=r"2 universe ticker\(s\) have no price on 2024-01-02: D, ZZZ"):
        decision_inputs(prices, None, prices.index[1], ("A", "D", "ZZZ"))


def test_last_prices_refuses_a_history_without_the_date():
    prices = _prices()
    inputs = DecisionInputs(prices.index[5], prices.iloc[:3], pd.Series(dtype=float), ("A",))
    with pytest.raises(DataError, match="no price row for the decision date 2024-01-08"):
        inputs.last_prices()


@pytest.mark.parametrize(
    "spec",
    [
        Spec(weighting="fixed", weights={"A": 0.6, "B": 0.4}),
        Spec(weighting="equal"),
        Spec(weighting="cap"),
        Spec(weighting="cap", tilt=Tilt(group="g", multiplier=2.0), caps=Caps(single=0.4)),
        *(RiskSpec(weighting=family, lookback=5, covariance=cov)
          for family, cov in (("inverse_vol", None), ("min_variance", "sample"), ("risk_parity", "ledoit_wolf"),
                              ("hrp", "sample"))),
        RiskSpec(weighting="risk_parity", lookback=5, caps=Caps(single=0.45)),
        Spec(weighting="equal", select=Select(by="momentum", lookback=6, skip=2, top=2)),
        Spec(weighting="cap", select=Select(by="volatility", lookback=5, bottom=2)),
        Spec(weighting="equal", per="line", select=Select(by="momentum", lookback=6, skip=2, top=3)),
        Spec(weighting="equal", trend=Trend(ticker="B", days=5, defensive="C")),
        Spec(weighting="fixed", weights={"A": 0.6, "B": 0.4}, trend=Trend(ticker="C", days=8, defensive="B")),
        Spec(weighting="cap", tilt=Tilt(group="g", multiplier=3.0, while_leading=5)),
        Spec(weighting="cap", tilt=Tilt(group="h", weight=0.7, while_leading=8)),
        PySpec(),
    ],
    ids=["fixed", "equal", "cap", "cap-tilt-capped", "inverse_vol", "min_variance", "risk_parity", "hrp",
         "risk_parity-capped", "select-momentum", "select-volatility",
         "select-momentum-per-line", "trend-equal", "trend-fixed",
         "conditional-tilt-multiplier", "conditional-tilt-weight", "python"],
)
def test_no_look_ahead_perturbing_later_prices_changes_nothing(spec):
    prices = _prices()
    shares = pd.DataFrame({t: [1e6 * (i + 1)] for i, t in enumerate("ABCD")}, index=prices.index[:1])
    day = prices.index[9]
    universe = ("A", "B", "C", "D")
    groups = {"g": ("A", "B"), "h": ("C", "D")}
    before = weigh(spec, decision_inputs(prices, shares, day, universe, groups))

    perturbed = prices.copy()
    perturbed.iloc[10:] *= np.random.default_rng(1).uniform(0.2, 5.0, perturbed.iloc[10:].shape)
    perturbed.iloc[12:, 0] = np.nan  # A delists after the date
    later_shares = pd.concat([shares, shares.set_axis([prices.index[11]]) * 3])  # share counts change later
    after = weigh(spec, decision_inputs(perturbed, later_shares, day, universe, groups))

    assert isinstance(after, Weights)
    assert isinstance(before, Weights)
    pd.testing.assert_series_equal(before.weights, after.weights, check_exact=True)
    assert before.notes == after.notes


def test_finalise_drops_zeros_sorts_and_checks_the_sum():
    out = finalise(pd.Series({"B": 0.5, "C": 0.0, "A": 0.5}))
    assert out.index.tolist() == ["A", "B"] and out.dtype == "float64" and out.name == "weight"
    with pytest.raises(ValueError, match="must sum to 1"):
        finalise(pd.Series({"A": 0.5}))
