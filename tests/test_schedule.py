"""Rebalance calendars and drift bands."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from backtest.schedule import apply_drift_bands, calendar_dates, drifted_weights, out_of_band


def sched(every, day="first", weekday=None, nth=None):
    return SimpleNamespace(every=every, day=day, weekday=weekday, nth=nth)


@pytest.fixture(scope="module")
def nyse(market_data_dir):
    return pd.read_parquet(market_data_dir / "prices_etf.parquet")["SPY"].loc["2019-12-20":"2021-12-31"].index


def test_first_trading_day_of_each_month_skips_holidays(nyse):
    d = calendar_dates(nyse, sched("monthly"))
    assert pd.Timestamp("2020-01-02") in d     # 1 January is a holiday
    assert pd.Timestamp("2020-06-01") in d and len(d[(d.year == 2020)]) == 12
    assert d[0] == nyse[0], "day one always invests"


def test_last_day_of_quarter_and_nth_day(nyse):
    q = calendar_dates(nyse, sched("quarterly", day="last"))
    assert pd.Timestamp("2020-03-31") in q and pd.Timestamp("2020-12-31") in q
    second = calendar_dates(nyse, sched("monthly", day=2))
    assert pd.Timestamp("2020-01-03") in second
    penultimate = calendar_dates(nyse, sched("monthly", day=-2))
    assert pd.Timestamp("2020-01-30") in penultimate


def test_third_friday_of_quarter_end_months_like_rsp(nyse):
    d = calendar_dates(nyse, sched("quarterly", day=None, weekday="friday", nth=3))
    assert [x.strftime("%Y-%m-%d") for x in d[d.year == 2020]] == [
        "2020-03-20", "2020-06-19", "2020-09-18", "2020-12-18"]
    # Good Friday 2021-04-02 is a holiday: a monthly first-Friday falls back to the Thursday before
    m = calendar_dates(nyse, sched("monthly", day=None, weekday="friday", nth=1))
    assert pd.Timestamp("2021-04-01") in m


def test_never_and_daily(nyse):
    assert list(calendar_dates(nyse, sched("never"))) == [nyse[0]]
    assert calendar_dates(nyse, sched("daily")).equals(nyse)
    assert len(calendar_dates(nyse[:0], sched("monthly"))) == 0


def test_weekly_is_first_trading_day_of_each_week(nyse):
    w = calendar_dates(nyse, sched("weekly"))
    assert pd.Timestamp("2020-01-06") in w and pd.Timestamp("2020-01-07") not in w


def test_bands_absolute_and_relative():
    t = pd.Series({"A": 0.6, "B": 0.4})
    assert not out_of_band(pd.Series({"A": 0.64, "B": 0.36}), t, SimpleNamespace(absolute=0.05, relative=None))
    assert out_of_band(pd.Series({"A": 0.66, "B": 0.34}), t, SimpleNamespace(absolute=0.05, relative=None))
    # relative 25%: B's band is 0.4 +- 0.1
    assert out_of_band(pd.Series({"A": 0.71, "B": 0.29}), t, SimpleNamespace(absolute=None, relative=0.25))
    assert not out_of_band(pd.Series({"A": 0.69, "B": 0.31}), t, SimpleNamespace(absolute=None, relative=0.25))


def test_drift_bands_trade_only_when_out_of_band():
    idx = pd.bdate_range("2021-01-04", periods=5)
    prices = pd.DataFrame({"A": [1, 1.05, 1.1, 1.5, 1.5], "B": [1.0] * 5}, index=idx)
    target = pd.Series({"A": 0.5, "B": 0.5})
    dates, targets = apply_drift_bands(idx, prices, lambda d: target, SimpleNamespace(absolute=0.05,
                                                                                      relative=None))
    # day 2: A at 0.512 (in band); day 3: 0.524; day 4: A 1.5/2.5 = 0.6 -> trade
    assert list(dates) == [idx[0], idx[3]]
    assert drifted_weights(target, prices.loc[idx[0]], prices.loc[idx[3]])["A"] == pytest.approx(0.6)


@pytest.mark.parametrize("absolute, relative", [(0.05, None), (None, 0.1), (0.02, 0.25), (0.001, None)])
@pytest.mark.parametrize("window", [3, 512])
def test_fixed_target_drift_bands_equal_the_day_by_day_check(absolute, relative, window):
    """apply_drift_bands_fixed (arrays, one pass per trade) trades on exactly the dates the day-by-day
    apply_drift_bands trades on, whatever the window of candidates it looks ahead over."""
    from backtest.schedule import apply_drift_bands_fixed

    rng = np.random.default_rng(7)
    days = pd.bdate_range("2010-01-04", periods=1500)
    prices = pd.DataFrame(100 * np.exp(np.cumsum(rng.normal(2e-4, 0.012, (1500, 4)), axis=0)), index=days,
                          columns=["A", "B", "C", "D"])
    prices.loc[days[:40], "D"] = np.nan                         # a name the target does not hold
    target = pd.Series({"A": 0.5, "B": 0.3, "C": 0.2})
    drift = SimpleNamespace(absolute=absolute, relative=relative)
    for lag in (0, 1):
        want, _ = apply_drift_bands(days, prices, lambda d: target, drift, lag=lag)
        got = apply_drift_bands_fixed(days, prices, target, drift, lag=lag, window=window)
        assert got.equals(want) and 1 < len(got) < len(days)
        weekly = days[::5]                      # checks that skip the fill day
        want, _ = apply_drift_bands(weekly, prices, lambda d: target, drift, lag=lag)
        assert apply_drift_bands_fixed(weekly, prices, target, drift, lag=lag, window=window).equals(want)


def test_daily_drift_band_plan_on_the_snapshot_equals_the_day_by_day_check(snapshot_store):
    """A 60/40 SPY/AGG strategy checked daily: the plan's trade dates are the day-by-day check's."""
    from types import SimpleNamespace as NS

    from backtest.config import parse_config
    from backtest.data.inputs import load_inputs
    from backtest.plans import build_plans
    from backtest.schedule import decision_dates

    cfg = parse_config("name: d\nstart: 2019-01-01\nend: 2021-12-31\nstrategies:\n  - name: B\n"
                       "    weighting: fixed\n    weights: {SPY: 0.6, AGG: 0.4}\n"
                       "    rebalance: {every: daily, drift: {absolute: 0.05}}\n")
    inputs = load_inputs(cfg, snapshot_store, offline=True)
    built = build_plans(cfg, inputs)
    target = pd.Series({"AGG": 0.4, "SPY": 0.6})
    # the check days: the opening decision (the close before the base under next_close), then every day after
    candidates = decision_dates(inputs.sim_calendar, inputs.calendar[0], cfg.strategies[0].rebalance)
    want, _ = apply_drift_bands(candidates, inputs.prices, lambda d: target, NS(absolute=0.05, relative=None),
                                lag=1)          # fill: next_close (the default): drift from the next close
    assert built.plans["B"].targets.index.equals(want) and len(want) > 2
    assert f"B: drift bands traded on {len(want)} of {len(candidates)} check dates" in built.notes["B"]


@pytest.mark.parametrize("fill", ["close", "next_close"])
def test_a_band_trades_exactly_when_the_weights_held_are_out_of_it(snapshot_store, fill):
    """SPY 70 / IWM 30 with a +-2-point band checked daily, no costs: the simulated portfolio's own weights
    (the holdings at each close) are out of band on exactly the decision dates, whatever the fill. Under
    next_close the held weights drift from the close the trade filled at, the day after the decision (before,
    the band was measured from the decision's close: a day off, so it missed breaches and traded in band)."""
    from backtest.config import parse_config
    from backtest.runner import run_backtest

    cfg = parse_config(f"name: d\nstart: 2016-01-01\nend: 2026-06-30\nfill: {fill}\ncosts: {{}}\nstrategies:\n"
                       "  - name: B\n    weighting: fixed\n    weights: {SPY: 0.7, IWM: 0.3}\n"
                       "    rebalance: {every: daily, drift: {absolute: 0.02}}\n")
    (s,) = run_backtest(cfg, snapshot_store, offline=True).strategies
    # the weights held at each check close, before that close's own trade: under next_close the holdings
    # (a fill there executes the previous decision first); under close the previous close's holdings moved
    # with the day's prices (the trade at that close then resets them)
    held = s.holdings[["SPY", "IWM"]]
    if fill == "close":
        px = snapshot_store.prices(["SPY", "IWM"]).reindex(held.index)
        grown = held.shift(1) * (px / px.shift(1))
        held = grown.div(grown.sum(axis=1), axis=0)
    held = held["IWM"].dropna()
    out = held.index[(held - 0.3).abs() > 0.02 + 1e-9]
    decided = s.targets.index[1:]           # after the opening decision
    assert len(decided) > 5
    assert decided.equals(out.intersection(decided)), "every decision was out of band"
    assert out.difference(decided).empty, "every out-of-band close was a decision"


def test_fixed_weights_with_a_trend_filter_and_drift_bands_check_the_trend_on_every_date(snapshot_store):
    """Fixed weights with a trend filter and a drift band: the trend is checked on every candidate date, so
    the target switches between the weights and the defensive ticker exactly where SPY crosses its 200-day
    mean, as the same strategy rebalanced monthly does (the array fast path for fixed weights with bands
    used the first date's target throughout: five years in BIL)."""
    from backtest.config import parse_config
    from backtest.data.inputs import load_inputs
    from backtest.plans import build_plans

    text = ("name: t\nstart: 2019-01-01\nend: 2023-12-29\nstrategies:\n"
            "  - name: {name}\n    weighting: fixed\n    weights: {{SPY: 0.7, IWN: 0.3}}\n"
            "    trend: {{ticker: SPY, days: 200, defensive: BIL}}\n    rebalance: {rebalance}\n")
    cfg = parse_config(text.format(name="band", rebalance="{every: monthly, drift: {absolute: 0.05}}")
                       + text.format(name="plain", rebalance="monthly").split("strategies:\n")[1])
    inputs = load_inputs(cfg, snapshot_store, offline=True)
    built = build_plans(cfg, inputs)
    band, plain = built.plans["band"].targets, built.plans["plain"].targets
    defensive = plain["BIL"].fillna(0.0) == 1.0
    assert 3 < defensive.sum() < len(plain) - 10          # the trend switches several times
    # a switch moves every weight by far more than the band: each switch date is a band decision with the
    # monthly strategy's target, and between switches the band keeps the same kind of target
    switches = defensive.index[defensive.ne(defensive.shift())]
    assert switches.isin(band.index).all()
    state = (band.reindex(columns=["BIL"]).fillna(0.0)["BIL"] == 1.0)
    assert state.equals(defensive.reindex(band.index))
