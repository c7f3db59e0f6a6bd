"""Sleeves as sub-portfolios (`backtest.sleeves`): a parent holds its sleeves' value series.

Checked against independent implementations on the real snapshot: the PyPI `bt` package (test-only), whose
strategies can hold other strategies as children, and a plain-pandas ledger of a long/short parent with cash
interest and a borrow fee.
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from backtest.config import parse_config
from backtest.data.inputs import load_inputs
from backtest.engine import StrategyPlan, simulate
from backtest.plans import build_plans, cash_returns, sleeve_column
from backtest.runner import simulate_trimmed
from backtest.schedule import calendar_dates
from backtest.sleeves import simulate_with_sleeves

CAPITAL = 1e6
W_A = {"SPY": 0.5, "VTV": 0.3, "IWN": 0.2}
W_B = {"TLT": 0.7, "GLD": 0.3}


@pytest.fixture(scope="module")
def etfs(market_data_dir):
    p = pd.read_parquet(market_data_dir / "prices_etf.parquet").loc["2019-01-01":"2024-12-31"]
    return p[["SPY", "TLT", "VTV", "IWN", "GLD", "QQQ", "BIL"]].dropna()


def _dates(index, every):
    return calendar_dates(index, SimpleNamespace(every=every, day="first", weekday=None, nth=None))


def _fixed(weights, dates, **kw):
    return StrategyPlan(pd.DataFrame([weights] * len(dates), index=dates), **kw)


def _parent(shares: dict, dates, **kw):
    return StrategyPlan(pd.DataFrame([{sleeve_column(k): v for k, v in shares.items()}] * len(dates),
                                     index=dates), **kw)


def _sixty_forty(px, commission_bps=0.0):
    """Sleeve A monthly, sleeve B quarterly, the parent 60/40 yearly: three different schedules."""
    a, b, p = _dates(px.index, "monthly"), _dates(px.index, "quarterly"), _dates(px.index, "yearly")
    return {"A": _fixed(W_A, a, commission_bps=commission_bps), "B": _fixed(W_B, b, commission_bps=commission_bps),
            "P": _parent({"A": 0.6, "B": 0.4}, p, commission_bps=commission_bps)}, (a, b, p)


def _bt_sixty_forty(px, dates, commission=0.0):
    bt = pytest.importorskip("bt")
    a, b, p = dates

    def child(name, when, w):
        return bt.Strategy(name, [bt.algos.RunOnDate(*when), bt.algos.SelectThese(list(w)),
                                  bt.algos.WeighSpecified(**w), bt.algos.Rebalance()])

    parent = bt.Strategy("P", [bt.algos.RunOnDate(*p), bt.algos.SelectAll(), bt.algos.WeighSpecified(A=0.6, B=0.4),
                               bt.algos.Rebalance()], children=[child("A", a, W_A), child("B", b, W_B)])
    test = bt.Backtest(parent, px, initial_capital=CAPITAL, integer_positions=False, progress_bar=False,
                       commissions=lambda q, price: abs(q) * price * commission)
    return bt.run(test).backtests["P"].strategy.values


def _max_rel(a, b):
    common = a.index.intersection(b.index)
    assert len(common) > 1000
    return float((a[common] / b[common] - 1).abs().max())


def test_sixty_forty_of_two_child_strategies_matches_bt_zero_costs(etfs):
    px = etfs[["SPY", "TLT", "VTV", "IWN", "GLD"]]
    plans, dates = _sixty_forty(px)
    sims = simulate_with_sleeves(px, plans, capital=CAPITAL, fill="close")
    assert _max_rel(sims["P"].equity, _bt_sixty_forty(px, dates)) < 1e-9
    # the sleeves are the strategies run alone: their own schedules, not the parent's
    alone = simulate(px, {"A": plans["A"], "B": plans["B"]}, capital=CAPITAL, fill="close")
    pd.testing.assert_series_equal(sims["A"].equity, alone["A"].equity)
    assert sorted(sims["P"].trades["ticker"].unique()) == ["sleeve:A", "sleeve:B"], "sleeve-level trades"


def test_sixty_forty_with_costs_is_the_exact_ledger_of_its_trades(etfs):
    """The parent pays its own commission on the value of sleeve units it trades, at each sleeve's unit value
    (sleeve value / capital) that close; the sleeves pay their own costs inside their values. bt instead trades
    the sleeves' names pro rata and deducts the commission while it allocates, so it differs slightly."""
    px = etfs[["SPY", "TLT", "VTV", "IWN", "GLD"]]
    plans, dates = _sixty_forty(px, commission_bps=10)
    sims = simulate_with_sleeves(px, plans, capital=CAPITAL, fill="close")
    parent = sims["P"]
    units = pd.DataFrame({f"sleeve:{k}": sims[k].equity / CAPITAL for k in "AB"})
    trades = parent.trades
    nav = units.stack().rename("nav")
    at = nav.reindex(pd.MultiIndex.from_arrays([trades["date"], trades["ticker"]])).to_numpy()
    np.testing.assert_allclose(trades["price"], at, rtol=1e-12)        # bought and sold at the unit value
    np.testing.assert_allclose(trades["fees"], 0.001 * trades["value"].abs(), rtol=1e-12)
    sign = np.where(trades["side"] == "buy", 1.0, -1.0)
    held = (trades.assign(q=sign * trades["shares"]).pivot_table(index="date", columns="ticker", values="q",
                                                                 aggfunc="sum")
            .reindex(px.index).fillna(0.0).cumsum())
    cash = CAPITAL - (trades.assign(spent=sign * trades["value"] + trades["fees"]).groupby("date")["spent"].sum()
                      .reindex(px.index, fill_value=0.0).cumsum())
    value = cash + (held * units[held.columns]).sum(axis=1)
    np.testing.assert_allclose(parent.equity.to_numpy(), value.to_numpy(), rtol=1e-12)
    # against bt: the two cost conventions stay within 1e-4 over six years (10 bps on every trade)
    assert _max_rel(parent.equity, _bt_sixty_forty(px, dates, commission=0.001)) < 1e-4
    free = simulate_with_sleeves(px, _sixty_forty(px)[0], capital=CAPITAL, fill="close")["P"].equity
    assert (parent.equity <= free + 1e-6).all() and parent.equity.iloc[-1] < free.iloc[-1], "costs never help"


@pytest.mark.parametrize("shares", [{"A": 1.0, "B": -1.0}, {"A": 1.3, "B": -0.3}, {"A": 0.8, "B": -0.5}])
def test_long_short_parent_with_cash_interest_and_borrow_fee_matches_plain_pandas(etfs, shares):
    """Daily, with w the parent's weight in each sleeve and c its cash share at the previous close:
    1 + r = (1 + sum(w x sleeve return) + c x rf) x (1 - borrow_fee / 252 x short share). The sleeves earn
    their own cash yield (sleeve A holds 10% cash); the parent's cash holds the short proceeds and earns rf."""
    px = etfs[["SPY", "VTV", "IWN", "QQQ", "BIL"]]
    cal = px.index
    rf = cash_returns(px, "BIL", cal)
    fee = 0.01
    a, b, p = _dates(cal, "monthly"), _dates(cal, "quarterly"), _dates(cal, "monthly")
    plans = {"A": _fixed({"SPY": 0.4, "VTV": 0.3, "IWN": 0.2}, a, cash_rate=rf),
             "B": _fixed({"QQQ": 1.0}, b, cash_rate=rf),
             "P": _parent(shares, p, cash_rate=rf, borrow_fee=fee)}
    sims = simulate_with_sleeves(px, plans, capital=CAPITAL, fill="next_close")
    nav = pd.DataFrame({k: sims[k].equity for k in "AB"})
    assert (sims["A"].cash > 0).all(), "the sleeve's own idle cash"
    # plain pandas: units fixed between fills (the close after each decision), no costs
    fills = set(cal[cal.searchsorted(p, side="right")[cal.searchsorted(p, side="right") < len(cal)]])
    w = pd.Series(shares)
    units, cash = pd.Series(0.0, index=w.index), CAPITAL
    weights, cash_share, short_share = [], [], []
    for i, day in enumerate(cal):
        if i:
            cash *= 1 + rf.iloc[i]
        held = (units * nav.loc[day]).sum()
        if day in fills:
            v = cash + held
            units = w * v / nav.loc[day]
            cash = v - (units * nav.loc[day]).sum()
            held = (units * nav.loc[day]).sum()
        v = cash + held
        weights.append(units * nav.loc[day] / v)
        cash_share.append(cash / v)
        short_share.append(-(units * nav.loc[day]).clip(upper=0).sum() / v)
    weights = pd.DataFrame(weights, index=cal)
    sleeve_ret = nav.pct_change().fillna(0.0)
    gross = 1 + (weights.shift(1) * sleeve_ret).sum(axis=1) + pd.Series(cash_share, index=cal).shift(1) * rf
    drag = 1 - fee / 252 * pd.Series(short_share, index=cal).shift(1)
    expected = CAPITAL * (gross * drag).fillna(1.0).cumprod()
    np.testing.assert_allclose(sims["P"].equity.to_numpy(), expected.to_numpy(), rtol=1e-9)
    assert sims["P"].cash.min() > -1e-6, "cash, short proceeds included, is never negative (130/30: zero)"
    # the look-through: the parent's weight in each sleeve times the sleeve's own weights, by name
    names = sims["P"].holdings
    for t in names.columns:
        own = sum(weights[k] * sims[k].holdings[t] for k in "AB" if t in sims[k].holdings.columns)
        np.testing.assert_allclose(names[t].to_numpy(), own.to_numpy(), rtol=1e-9, atol=1e-12)
    net = names.sum(axis=1).loc[sorted(fills)]
    invested_a = sims["A"].holdings.sum(axis=1).loc[sorted(fills)]
    np.testing.assert_allclose(net, shares["A"] * invested_a + shares["B"], rtol=1e-9)


SMALL = """
name: sleeves-small
start: 2021-01-01
end: 2022-12-31
rebalance: monthly
risk_free: BIL
strategies:
  - {name: IV, weighting: inverse_vol, universe: [AAPL, MSFT, JPM, XOM, JNJ, PG, KO, WMT], lookback: 63}
  - {name: EW, weighting: equal, universe: [AAPL, MSFT, NVDA, AMZN], rebalance: quarterly,
     costs: {commission_bps: 5}}
  - {name: Mix, weighting: sleeves, sleeves: {IV: 1.3, ew: -0.3}, rebalance: quarterly, borrow_fee: 0.01}
"""


def test_no_look_ahead_through_the_sleeves(snapshot_store):
    """Perturbing every price after a date leaves every strategy's values up to that date unchanged,
    the sleeve parent's included (its sleeves' values, its own trades and its cash interest)."""
    cfg = parse_config(SMALL)
    inputs = load_inputs(cfg, snapshot_store, offline=True)
    built = build_plans(cfg, inputs)
    assert built.cash_sources["Mix"] == "BIL (the run's risk_free)", "cash earns rf with short sleeves"
    sims = simulate_trimmed(built.prices, built.plans, inputs, capital=1e6, fill=cfg.fill)
    d = pd.Timestamp("2022-03-15")
    shaken = inputs.prices.copy()
    later = shaken.index > d
    shaken.loc[later] = shaken.loc[later] * np.random.default_rng(7).uniform(0.5, 2.0, shaken.loc[later].shape)
    inputs2 = replace(inputs, prices=shaken)
    built2 = build_plans(cfg, inputs2)
    sims2 = simulate_trimmed(built2.prices, built2.plans, inputs2, capital=1e6, fill=cfg.fill)
    for name in sims:
        pd.testing.assert_series_equal(sims[name].equity.loc[:d], sims2[name].equity.loc[:d], check_exact=True)
        pd.testing.assert_frame_equal(sims[name].holdings.loc[:d], sims2[name].holdings.loc[:d], check_exact=True)
        assert not sims[name].equity.equals(sims2[name].equity), f"{name}: later values move"
    assert set(sims["Mix"].holdings.columns) == {"AAPL", "MSFT", "JPM", "XOM", "JNJ", "PG", "KO", "WMT", "NVDA",
                                                 "AMZN"}, "looked through to names"
    assert (sims["Mix"].holdings[["NVDA", "AMZN"]].iloc[1:] < 0).all().all(), "the short sleeve's names"


def test_a_sleeve_that_is_not_simulated_is_refused():
    px = pd.DataFrame({"SPY": [1.0, 1.1, 1.2]}, index=pd.bdate_range("2024-01-01", periods=3))
    plans = {"P": _parent({"Z": 1.0}, px.index[:1])}
    with pytest.raises(ValueError, match=r"sleeve\(s\) Z are not simulated strategies"):
        simulate_with_sleeves(px, plans, capital=1.0)


def test_cash_yield_is_allowed_with_short_sleeves_and_defaults_to_risk_free():
    head = ("name: t\nstart: 2020-01-01\nrisk_free: BIL\nstrategies:\n"
            "  - {name: F, weighting: fixed, weights: {SPY: 1}}\n")
    cfg = parse_config(head + "  - {name: S, weighting: sleeves, sleeves: {F: 1, G: -1}}\n"
                              "  - {name: G, weighting: fixed, weights: {QQQ: 1}}\n")
    assert cfg.strategies[1].cash_yield == "risk_free"
    cfg = parse_config(head + "  - {name: S, weighting: sleeves, sleeves: {F: 1, G: -1}, cash_yield: none}\n"
                              "  - {name: G, weighting: fixed, weights: {QQQ: 1}}\n")
    assert cfg.strategies[1].cash_yield == "none"


SWEPT = """
name: sw
start: 2021-01-01
end: 2021-12-31
risk_free: BIL
strategies:
  - {name: A, weighting: fixed, weights: {SPY: 1}}
  - {name: B, weighting: fixed, weights: {QQQ: 1}, rebalance: quarterly}
  - {name: C, weighting: fixed, weights: {TLT: 1}}
  - {name: LS, weighting: sleeves, sleeves: {A: 1, B: -1}, borrow_fee: 0.01}
sweep: {strategy: LS, grid: {borrow_fee: [0.01, 0.02]}}
"""


def test_a_sweep_keeps_each_sleeves_parent_with_its_sleeves_in_one_chunk(snapshot_store):
    from backtest.config import swept_config
    from backtest.sweep import chunk_payloads, simulate_chunk

    cfg = parse_config(SWEPT)
    swept = swept_config(cfg)
    chunks = [[s.name for s in c.strategies] for c in chunk_payloads(swept, 1)]
    assert chunks == [["A", "B", "LS [borrow_fee=0.01]", "LS [borrow_fee=0.02]"], ["C"]], "past chunk_size"
    assert [[s.name for s in c.strategies] for c in chunk_payloads(cfg, 1)] == [["A", "B", "LS"], ["C"]]
    inputs = load_inputs(swept, snapshot_store, offline=True)
    outcomes = {o.name: o for c in chunk_payloads(swept, 1) for o in simulate_chunk(c, inputs, None, None)}
    built = build_plans(swept, inputs)
    sims = simulate_trimmed(built.prices, built.plans, inputs, capital=swept.capital, fill=swept.fill)
    for name, sim in sims.items():
        pd.testing.assert_series_equal(outcomes[name].equity, sim.equity, check_exact=True)
    cheap, dear = outcomes["LS [borrow_fee=0.01]"].equity, outcomes["LS [borrow_fee=0.02]"].equity
    assert (dear <= cheap).all() and dear.iloc[-1] < cheap.iloc[-1]


def test_a_parent_wholly_in_one_sleeve_has_its_returns_with_its_own_costs_fee_and_cash_yield(etfs):
    """The sleeve's schedule, costs, expense ratio and cash yield all act inside the parent: a parent holding
    100% of one sleeve, itself without costs, has the sleeve's daily returns and holdings from its opening
    fill on. The opening is the parent's purchase, at the parent's costs (none here): it buys at the sleeve's
    unit value after the sleeve's own opening trades, so those are not charged to it (docs/config.md)."""
    px = etfs[["SPY", "TLT", "BIL"]]
    rf = cash_returns(px, "BIL", px.index)
    a = _dates(px.index, "quarterly")
    plans = {"A": _fixed({"SPY": 0.6, "TLT": 0.3}, a, commission_bps=10, slippage_bps=5, expense_ratio=0.01,
                         cash_rate=rf),
             "P": _parent({"A": 1.0}, _dates(px.index, "yearly"))}
    for fill, opening in (("close", 0), ("next_close", 1)):
        sims = simulate_with_sleeves(px, plans, capital=CAPITAL, fill=fill)
        parent, sleeve = sims["P"].equity, sims["A"].equity
        assert parent.iloc[opening] == pytest.approx(CAPITAL, rel=1e-15) and sleeve.iloc[opening] < CAPITAL * 0.999
        np.testing.assert_allclose(parent.pct_change().iloc[opening + 1:], sleeve.pct_change().iloc[opening + 1:],
                                   rtol=1e-9, atol=1e-13)
        pd.testing.assert_frame_equal(sims["P"].holdings, sims["A"].holdings, check_exact=False, rtol=1e-12)
        assert sims["P"].fees.sum() == 0 and sims["A"].fees.sum() > 0
