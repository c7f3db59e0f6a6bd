"""Sleeves as sub-portfolios (`backtest.sleeves`): a parent holds its sleeves' value series.

Checked against independent implementations on the real snapshot: the PyPI `bt` package (test-only), whose
strategies can hold other strategies as children, and a plain-pandas ledger of a long/short parent with cash
interest and a borrow fee.
"""

from __future__ import annotations

import textwrap
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from backtest.config import parse_config
from backtest.errors import ConfigError
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
    charged = (fee / 252 * pd.Series(short_share, index=cal).shift(1)).sum()     # what cost_drag counts
    assert charged > 0 and sims["P"].borrow_charged == pytest.approx(charged, rel=1e-9)
    assert sims["A"].borrow_charged == sims["B"].borrow_charged == 0.0
    assert sims["P"].cash.min() > -1e-6, "cash, short proceeds included, is never negative (130/30: zero)"
    # the look-through: the parent's weight in each sleeve times the sleeve's own weights, by name
    names = sims["P"].holdings
    for t in names.columns:
        own = sum(weights[k] * sims[k].holdings[t] for k in "AB" if t in sims[k].holdings.columns)
        np.testing.assert_allclose(names[t].to_numpy(), own.to_numpy(), rtol=1e-9, atol=1e-12)
    net = names.sum(axis=1).loc[sorted(fills)]
    invested_a = sims["A"].holdings.sum(axis=1).loc[sorted(fills)]
    np.testing.assert_allclose(net, shares["A"] * invested_a + shares["B"], rtol=1e-9)


def test_a_short_sleeve_expense_ratio_is_charged_to_the_short_closed_form(etfs):
    """A sleeve of 100% QQQ with a 5% expense ratio and no trading costs, held short: its unit value without
    costs is QQQ / QQQ on day one, its daily cost factor d = 0.95 ** (1 / 252), so its short unit value moves
    by (1 + g) (2 - d) a day: the short pays the fee (1 - d) as a long holder does (whose unit moves by
    (1 + g) d), instead of collecting it. The parent trades the sleeve at that value (docs/config.md)."""
    px = etfs[["SPY", "QQQ"]]
    a, p = _dates(px.index, "quarterly"), _dates(px.index, "monthly")
    plans = {"A": _fixed({"SPY": 1.0}, a), "B": _fixed({"QQQ": 1.0}, a, expense_ratio=0.05),
             "P": _parent({"A": 1.0, "B": -1.0}, p)}
    sims = simulate_with_sleeves(px, plans, capital=CAPITAL, fill="close")
    d = 0.95 ** (1 / 252)
    gross = px["QQQ"] / px["QQQ"].iloc[0]
    np.testing.assert_allclose(sims["B"].equity / CAPITAL, gross * d ** np.arange(len(px)), rtol=1e-12)
    short_unit = gross * (2 - d) ** np.arange(len(px))
    trades = sims["P"].trades.set_index("date")
    sold = trades[trades["ticker"] == "sleeve:B"]
    assert len(sold) == len(p)
    np.testing.assert_allclose(sold["price"], short_unit.loc[sold.index], rtol=1e-12)
    free = simulate_with_sleeves(px, {**plans, "B": _fixed({"QQQ": 1.0}, a)}, capital=CAPITAL, fill="close")
    assert sims["P"].equity.iloc[-1] < free["P"].equity.iloc[-1], "the fee lowers the short's result"
    assert (sims["P"].equity <= free["P"].equity * (1 + 1e-12)).all()


def _ledger(nav: pd.DataFrame, short_cost: pd.Series, shares: dict, fills, rf: pd.Series, commission: float,
            fee: float) -> pd.Series:
    """A parent's value day by day, in position values (no unit prices): each sleeve position grows with its
    sleeve's return, a short one with the sleeve's return before costs and then pays ``short_cost`` (the
    sleeve's daily cost, a return) on its absolute size; idle cash earns ``rf``; the borrow fee shrinks
    everything by fee / 252 x the previous close's short share; on a fill day every position is traded to its
    share of the value, paying ``commission`` on the value traded, out of cash."""
    ret = nav.pct_change()
    pos, cash, short, out = pd.Series(0.0, index=nav.columns), CAPITAL, 0.0, []
    for i, day in enumerate(nav.index):
        if i:
            for k in pos.index:
                r = ret.iloc[i][k]
                pos[k] = pos[k] * (1 + r) - (abs(pos[k]) * short_cost.iloc[i] if pos[k] < 0 else 0.0)
            cash *= 1 + rf.iloc[i]
            keep = 1 - fee / 252 * short
            pos, cash = pos * keep, cash * keep
        if day in fills:
            value = cash + pos.sum()
            target = pd.Series(shares) * value
            cash -= (target - pos).sum() + commission * (target - pos).abs().sum()
            pos = target
        value = cash + pos.sum()
        short = -pos.clip(upper=0).sum() / value
        out.append(value)
    return pd.Series(out, index=nav.index)


def test_a_short_sleeve_bears_its_trading_costs_and_fee_as_a_ledger_charges_them(etfs):
    """The short leg pays 50 + 50 bps on its own rebalances and a 2% expense ratio: the parent holding it short
    ends below the same parent with a free short leg (it used to end above: the short gained from the leg's
    costs), and equals a ledger in which the short position moves with the leg's return without costs (``g``,
    from a run of the leg without them) and pays the leg's cost ``g - n`` on its absolute size. A parent
    holding the same leg long in the same run is unchanged, bit for bit: it holds the leg's own unit value."""
    px = etfs[["SPY", "QQQ", "TLT", "GLD", "BIL"]]
    cal = px.index
    rf = cash_returns(px, "BIL", cal)
    weekly, monthly = _dates(cal, "weekly"), _dates(cal, "monthly")
    leg = {"commission_bps": 50, "slippage_bps": 50, "expense_ratio": 0.02, "cash_rate": rf}
    plans = {"L": _fixed({"SPY": 1.0}, monthly),
             "S": _fixed({"QQQ": 0.4, "TLT": 0.3, "GLD": 0.3}, weekly, **leg),
             "P": _parent({"L": 1.0, "S": -1.0}, monthly, commission_bps=10, cash_rate=rf, borrow_fee=0.01),
             "Q": _parent({"L": 0.5, "S": 0.5}, monthly, commission_bps=10)}
    sims = simulate_with_sleeves(px, plans, capital=CAPITAL, fill="next_close")
    free_leg = simulate(px, {"S": replace(plans["S"], commission_bps=0, slippage_bps=0, expense_ratio=0)},
                        capital=CAPITAL, fill="next_close")["S"].equity
    g, n = free_leg.pct_change().fillna(0.0), sims["S"].equity.pct_change().fillna(0.0)
    assert (g - n).sum() > 0.05, "the leg's costs over six years"
    nav = pd.DataFrame({"L": sims["L"].equity, "S": free_leg})
    fills = set(cal[cal.searchsorted(monthly, side="right")])
    expected = _ledger(nav, g - n, {"L": 1.0, "S": -1.0}, fills, rf, 0.001, 0.01)
    np.testing.assert_allclose(sims["P"].equity.to_numpy(), expected.to_numpy(), rtol=1e-9)

    free = simulate_with_sleeves(px, {**plans, "S": replace(plans["S"], commission_bps=0, slippage_bps=0,
                                                            expense_ratio=0)}, capital=CAPITAL, fill="next_close")
    costly_p, free_p = sims["P"].equity.iloc[-1], free["P"].equity.iloc[-1]
    costly_q, free_q = sims["Q"].equity.iloc[-1], free["Q"].equity.iloc[-1]
    assert costly_p < free_p and costly_q < free_q, "the leg's costs lower its holder's result, long or short"
    # the long holder of the leg: its own unit value, as if it were the only parent
    alone = simulate(pd.DataFrame({"sleeve:L": sims["L"].equity / CAPITAL, "sleeve:S": sims["S"].equity / CAPITAL}),
                     {"Q": plans["Q"]}, capital=CAPITAL, fill="next_close")["Q"]
    pd.testing.assert_series_equal(sims["Q"].equity, alone.equity, check_exact=True)


def test_a_sleeve_held_long_and_short_by_one_parent_is_refused():
    px = pd.DataFrame({"SPY": [1.0, 1.1, 1.2]}, index=pd.bdate_range("2024-01-01", periods=3))
    targets = pd.DataFrame({sleeve_column("F"): [0.5, -0.5]}, index=px.index[:2])
    plans = {"F": _fixed({"SPY": 1.0}, px.index[:1], commission_bps=5), "P": StrategyPlan(targets)}
    with pytest.raises(ValueError, match="sleeve F is held long on some dates and short on others"):
        simulate_with_sleeves(px, plans, capital=1.0)


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
  - {name: B, weighting: fixed, weights: {QQQ: 0.7, IWN: 0.3}, rebalance: monthly, expense_ratio: 0.01,
     costs: {commission_bps: 20, slippage_bps: 10}}
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


def test_a_swept_parent_with_a_costly_short_sleeve_equals_its_own_run(snapshot_store, tmp_path):
    """A variant of a parent that holds a sleeve with costs short (its short unit value) is exactly `bt run` of
    a config holding that strategy: the same metrics and equity, bit for bit."""
    import json

    from backtest.results import load_run
    from backtest.runner import run_config
    from backtest.sweep import run_sweep

    swept = tmp_path / "sweep.yaml"
    swept.write_text(SWEPT)
    single = tmp_path / "single.yaml"
    single.write_text(SWEPT.split("sweep:")[0].replace("borrow_fee: 0.01", "borrow_fee: 0.02"))
    kw = {"store": snapshot_store, "offline": True}
    sweep = load_run(run_sweep(swept, results_dir=tmp_path / "s", chunk_size=1, **kw))
    run = load_run(run_config(single, results_dir=tmp_path / "r", **kw))
    name = "LS [borrow_fee=0.02]"
    assert json.dumps(sweep.metrics["strategies"][name]) == json.dumps(run.metrics["strategies"]["LS"])
    mine = {s.name: s for s in sweep.strategies}[name].equity
    theirs = {s.name: s for s in run.strategies}["LS"].equity
    assert (mine.to_numpy() == theirs.to_numpy()).all()


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


OUTGROWN = """
name: outgrown
start: 2019-06-01
end: 2021-12-31
benchmark: SPY
risk_free: BIL
strategies:
  - {name: longleg, weighting: fixed, weights: {TLT: 1}}
  - {name: shortleg, weighting: fixed, weights: {TSLA: 1}}
  - {name: ls_never, weighting: sleeves, sleeves: {longleg: 1, shortleg: -1}, rebalance: never,
     borrow_fee: 0.01}
  - {name: ls_1x3, weighting: sleeves, sleeves: {longleg: 1.5, shortleg: -1.5}, rebalance: yearly}
cash_flows:
  - {every: quarterly, percent: -0.04}
"""


def test_a_short_that_outgrows_the_account_is_a_loud_warning_not_plausible_figures(snapshot_store, tmp_path):
    """TSLA rose about 20x from mid-2019: short 100% of the account unrebalanced (or 150% rebalanced
    yearly), the value goes far below zero. The run warns, naming the strategy, the first day at or below
    zero and the lowest value; its metrics are NaN (no positive Sharpe of a wiped-out account) and nothing
    prints a RuntimeWarning (metrics, evidence, report); 4% withdrawals of a negative value are no
    contributions."""
    import json
    import warnings

    from backtest.runner import run_backtest, save_run

    cfg = parse_config(OUTGROWN)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        result = run_backtest(cfg, snapshot_store, offline=True)
        folder = save_run(result, tmp_path)
    equity = {s.name: s.equity for s in result.strategies}
    wiped = [w for w in result.manifest["warnings"] if "fell to zero or below" in w]
    assert [w.split(":")[0] for w in wiped] == ["ls_never", "ls_1x3"]
    for name, warning in zip(["ls_never", "ls_1x3"], wiped):
        values = equity[name]
        first = values.index[values.to_numpy() <= 0][0]
        assert values.min() < -20 * CAPITAL
        assert f"on {first:%Y-%m-%d} ({values[first]:,.0f}; lowest {values.min():,.0f} on " \
               f"{values.idxmin():%Y-%m-%d})" in warning
        assert "Nothing after that date is meaningful" in warning and "rebalance more often" in warning
    metrics = json.loads((folder / "metrics.json").read_text())["strategies"]
    for name in ("ls_never", "ls_1x3"):
        assert [k for k, v in metrics[name].items() if v is not None] == ["start", "end", "years"], name
    assert all(v is not None for k, v in metrics["longleg"].items() if k in ("cagr", "sharpe", "beta"))
    flows = result.analytics["cash_flows"]
    assert (flows["contributed"] == CAPITAL).all(), "no contribution in the config, none in the table"
    assert flows.loc["ls_never", "withdrawn"] < 0.1 * CAPITAL
    assert "fell to zero or below" in (folder / "report.html").read_text()


def test_a_sweep_of_sleeve_mixes_takes_long_only_mixes_beside_a_borrow_fee():
    """A long/short strategy with a borrow fee swept over its sleeve mix, some mixes long-only: those variants
    borrow nothing, so their fee is 0 (a written long-only strategy with a fee is refused: it would do
    nothing); the short ones keep it. Before, every long-only variant was refused with a message about a
    strategy that has a short sleeve."""
    from backtest.config import swept_config

    cfg = parse_config(textwrap.dedent("""\
        name: mixes
        start: 2019-01-01
        strategies:
          - {name: L, weighting: fixed, weights: {SPY: 1}}
          - {name: S, weighting: fixed, weights: {QQQ: 1}}
          - name: LS
            weighting: sleeves
            sleeves: {L: 1.3, S: -0.3}
            borrow_fee: 0.005
        sweep:
          strategy: LS
          grid: {sleeves: [{L: 1.3, S: -0.3}, {L: 0.5, S: 0.5}]}
        """))
    fees = {s.name: s.borrow_fee for s in swept_config(cfg).strategies if s.name.startswith("LS")}
    assert sorted(fees.values()) == [0.0, 0.005] and len(fees) == 2, fees
    with pytest.raises(ConfigError, match=r"borrow_fee.*applies only to a sleeves strategy with a short"):
        parse_config(textwrap.dedent("""\
            name: written
            start: 2019-01-01
            strategies:
              - {name: L, weighting: fixed, weights: {SPY: 1}}
              - {name: S, weighting: fixed, weights: {QQQ: 1}}
              - {name: LS, weighting: sleeves, sleeves: {L: 0.5, S: 0.5}, borrow_fee: 0.005}
            """))


def test_a_borrow_fee_swept_on_a_long_only_sleeves_strategy_is_still_refused():
    """The long-only mixes of a long/short strategy inherit its fee as 0; a borrow_fee the grid itself sets
    on a strategy that never shorts does nothing, so it is refused as a written one is."""
    text = textwrap.dedent("""\
        name: lo
        start: 2019-01-01
        strategies:
          - {name: L, weighting: fixed, weights: {SPY: 1}}
          - {name: S, weighting: fixed, weights: {QQQ: 1}}
          - {name: LO, weighting: sleeves, sleeves: {L: 0.5, S: 0.5}}
        sweep: {strategy: LO, grid: {borrow_fee: [0.01, 0.02]}}
        """)
    with pytest.raises(ConfigError, match=r"applies only to a sleeves strategy with a short"):
        parse_config(text)
