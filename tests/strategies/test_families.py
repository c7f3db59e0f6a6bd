"""Fixed, equal and cap weights (with tilts) on hand-checkable cases."""

from __future__ import annotations

import pandas as pd
import pytest

from backtest.errors import ConfigError, DataError
from strategies import REGISTRY, decision_inputs
from strategies.capping import InfeasibleCapsError

from .specs import Caps, Spec, Tilt, one_day_inputs


def _w(result) -> dict[str, float]:
    return result.weights.round(12).to_dict()


# ------------------------------------------------------------------------------------------------- fixed


def test_fixed_weights_are_the_spec_sorted_with_zeros_dropped():
    inputs = one_day_inputs({"SPY": 400.0, "AVUV": 80.0, "IWN": 150.0})
    out = REGISTRY["fixed"](Spec(weighting="fixed", weights={"SPY": 0.7, "AVUV": 0.3, "IWN": 0.0}), inputs)
    assert out.weights.index.tolist() == ["AVUV", "SPY"]
    assert _w(out) == {"AVUV": 0.3, "SPY": 0.7}
    assert out.notes == ()


def test_fixed_weight_ticker_without_a_price_names_ticker_date_and_fix():
    prices = pd.DataFrame(
        {"SPY": [200.0, 201.0, 202.0], "AVUV": [None, None, None], "OLD": [10.0, None, None]},
        index=pd.DatetimeIndex(["2016-01-04", "2016-01-05", "2016-01-06"], name="date"),
    )
    spec = Spec(name="Small-cap value tilt", weighting="fixed", weights={"SPY": 0.6, "AVUV": 0.3, "OLD": 0.1})
    inputs = decision_inputs(prices, None, "2016-01-06", ("SPY",))
    message = (
        r"strategy 'Small-cap value tilt': fixed weights name 2 ticker\(s\) without a price on 2016-01-06: "
        r"AVUV \(no price yet\), OLD \(last price 2016-01-04\); choose a later start date, "
        r"or splice a proxy .*proxies: \{AVUV: <PROXY>\}"
    )
    with pytest.raises(DataError, match=message):
        REGISTRY["fixed"](spec, inputs)


# ------------------------------------------------------------------------------------------------- equal


def test_equal_weight_is_one_over_n_of_the_universe():
    inputs = one_day_inputs({"B": 1.0, "A": 50.0, "C": 3.0, "D": 7.0})
    out = REGISTRY["equal"](Spec(weighting="equal"), inputs)
    assert out.weights.index.tolist() == ["A", "B", "C", "D"]
    assert (out.weights == 0.25).all()


def test_equal_weight_with_an_empty_universe_is_an_error():
    inputs = one_day_inputs({"A": 1.0})
    inputs = type(inputs)(inputs.date, inputs.history, inputs.shares, (), inputs.groups)
    with pytest.raises(DataError, match="strategy 'eq': the universe is empty on 2024-01-02"):
        REGISTRY["equal"](Spec(name="eq", weighting="equal"), inputs)


# --------------------------------------------------------------------------------------------------- cap

# caps = shares x price: A 40, B 30, C 20, D 10 (of 100)
PRICES = {"A": 4.0, "B": 10.0, "C": 2.0, "D": 1.0}
SHARES = {"A": 10.0, "B": 3.0, "C": 10.0, "D": 10.0}


def test_cap_weights_are_market_cap_shares():
    out = REGISTRY["cap"](Spec(), one_day_inputs(PRICES, SHARES))
    assert _w(out) == {"A": 0.4, "B": 0.3, "C": 0.2, "D": 0.1}
    assert out.notes == ()


def test_cap_weights_leave_out_and_report_tickers_without_shares():
    shares = {"A": 10.0, "B": 3.0, "D": 0.0}  # C unknown, D zero
    out = REGISTRY["cap"](Spec(), one_day_inputs(PRICES, shares))
    assert out.weights.to_dict() == pytest.approx({"A": 4 / 7, "B": 3 / 7}, abs=1e-15)
    assert out.notes == (
        "2024-01-02: cap weights: 2 of 4 universe tickers have no share count and were left out: C, D",
    )


def test_cap_weights_without_any_share_count_is_an_error():
    message = "cap weights on 2024-01-02: none of the 4 universe tickers has a share count; import share data"
    with pytest.raises(DataError, match=message):
        REGISTRY["cap"](Spec(), one_day_inputs(PRICES, {}))


def test_tilt_multiplier_on_a_group():
    # group {B, C} x 1.5: A .4, B .45, C .30, D .1 -> total 1.25 -> A .32, B .36, C .24, D .08
    inputs = one_day_inputs(PRICES, SHARES, groups={"g": ("B", "C")})
    out = REGISTRY["cap"](Spec(tilt=Tilt(group="g", multiplier=1.5)), inputs)
    assert out.weights.to_dict() == pytest.approx({"A": 0.32, "B": 0.36, "C": 0.24, "D": 0.08}, abs=1e-15)


@pytest.mark.parametrize(
    ("inside", "expected"),
    [
        # group {B, C} holds .7: by cap B .7 x .6 = .42, C .7 x .4 = .28; the rest .3 by cap: A .24, D .06
        ("cap", {"A": 0.24, "B": 0.42, "C": 0.28, "D": 0.06}),
        # equal inside: B .35, C .35; the rest as above
        ("equal", {"A": 0.24, "B": 0.35, "C": 0.35, "D": 0.06}),
    ],
)
def test_tilt_fixed_group_weight(inside, expected):
    inputs = one_day_inputs(PRICES, SHARES, groups={"g": ("B", "C")})
    out = REGISTRY["cap"](Spec(tilt=Tilt(group="g", weight=0.7, inside=inside)), inputs)
    assert out.weights.to_dict() == pytest.approx(expected, abs=1e-15)


def test_tilt_members_absent_from_the_universe_are_ignored_and_noted():
    inputs = one_day_inputs(PRICES, SHARES, groups={"g": ("B", "TSLA")})
    out = REGISTRY["cap"](Spec(tilt=Tilt(group="g", weight=0.5)), inputs)
    # B alone holds .5; A, C, D share .5 in proportion 4:2:1
    assert out.weights.to_dict() == pytest.approx({"A": 2 / 7, "B": 0.5, "C": 1 / 7, "D": 0.5 / 7}, abs=1e-15)
    assert out.notes == (
        "2024-01-02: tilt: 1 member(s) of group g not weighted (not in the universe or no share count), "
        "ignored: TSLA",
    )


def test_tilt_on_a_group_with_no_member_present_changes_nothing_and_notes_it():
    inputs = one_day_inputs(PRICES, SHARES, groups={"g": ("X", "Y")})
    out = REGISTRY["cap"](Spec(tilt=Tilt(group="g", multiplier=3.0)), inputs)
    assert _w(out) == {"A": 0.4, "B": 0.3, "C": 0.2, "D": 0.1}
    assert out.notes[-1] == "2024-01-02: tilt: no member of group g is in the weights; no tilt applied"


def test_tilt_on_an_unknown_group_is_a_config_error():
    with pytest.raises(ConfigError, match=r"tilt.group: unknown group 'mag8'; defined groups: g"):
        inputs = one_day_inputs(PRICES, SHARES, groups={"g": ()})
        REGISTRY["cap"](Spec(tilt=Tilt(group="mag8", multiplier=2.0)), inputs)


def test_caps_apply_after_the_tilt_and_win():
    # tilt {A, B} to .8 (A .8 x 4/7, B .8 x 3/7), then the group cap .5 scales them back:
    # A .5 x 4/7, B .5 x 3/7; C, D share .5 as 2:1
    inputs = one_day_inputs(PRICES, SHARES, groups={"g": ("A", "B")})
    spec = Spec(tilt=Tilt(group="g", weight=0.8), caps=Caps(groups=(("g", 0.5),)))
    out = REGISTRY["cap"](spec, inputs)
    expected = {"A": 2 / 7, "B": 1.5 / 7, "C": 1 / 3, "D": 1 / 6}
    assert out.weights.to_dict() == pytest.approx(expected, abs=1e-15)


def test_cap_strategy_with_an_infeasible_single_cap_raises():
    message = r"single-name cap 0.2 is infeasible for 4 names: 4 x 0.2 = 0.8 < 1; the minimum feasible cap"
    with pytest.raises(InfeasibleCapsError, match=message):
        REGISTRY["cap"](Spec(caps=Caps(single=0.2)), one_day_inputs(PRICES, SHARES))
