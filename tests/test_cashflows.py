"""Contributions, withdrawals and the money-weighted return (backtest.cashflows), against closed forms."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from backtest.cashflows import Flow, account, flow_dates, summary, trade_factors, xirr
from backtest.config.schema import CashFlowRule


def test_irr_without_flows_is_the_cagr():
    dates = pd.DatetimeIndex(["2020-01-02", "2024-06-28"])
    years = (dates[1] - dates[0]).days / 365.25
    assert xirr(dates, np.array([-100.0, 180.0])) == pytest.approx(1.8 ** (1 / years) - 1, rel=1e-12)


def test_irr_of_equally_spaced_flows_matches_the_polynomial_root():
    # flows every 365 days: with x = 1 / (1 + r_period), -100 - 100 x - 100 x^2 + 350 x^3 = 0
    dates = pd.DatetimeIndex(pd.Timestamp("2020-01-01") + pd.to_timedelta([0, 365, 730, 1095], unit="D"))
    amounts = np.array([-100.0, -100.0, -100.0, 350.0])
    roots = np.roots([350.0, -100.0, -100.0, -100.0])
    x = float(next(r.real for r in roots if abs(r.imag) < 1e-12 and r.real > 0))
    per_period = 1 / x - 1
    expected = (1 + per_period) ** (365.25 / 365) - 1
    assert xirr(dates, amounts) == pytest.approx(expected, rel=1e-10)


def test_account_trades_pro_rata_with_the_closed_form_costs():
    idx = pd.bdate_range("2024-01-01", periods=5)
    equity = pd.Series([99.0, 110.0, 121.0, 110.0, 132.0], index=idx)   # 100 simulated, 1 paid to open
    f, s = 0.001, 0.004
    # day 1: fully invested long; day 3: 80% long, 10% short, 30% cash (net 0.7)
    holdings = pd.DataFrame({"A": [1.0, 1.0, 1.0, 0.8, 0.8], "B": [0.0, 0.0, 0.0, -0.1, -0.1]}, index=idx)
    flows = [Flow(idx[1], amount=1000.0), Flow(idx[3], percent=-0.5)]
    acct = account(equity, 1000.0, flows, commission=f, slippage=s, holdings=holdings, simulated_capital=100.0)
    assert acct["value"].iloc[0] == pytest.approx(990.0, rel=1e-15), "the opening costs are the strategy's"
    v1 = 1100.0 + 1000.0 / ((1 + f) * (1 + s))
    assert acct["value"].iloc[1] == pytest.approx(v1, rel=1e-13)
    assert acct["flow_costs"].iloc[1] == pytest.approx(1000.0 - 1000.0 / ((1 + f) * (1 + s)), rel=1e-12)
    assert acct["value"].iloc[2] == pytest.approx(v1 * 1.1, rel=1e-13)
    v3 = v1 * 1.1 * 110 / 121
    # withdraw half of v3: per dollar of value sold, the cash (0.3) pays 1, the longs (1 - f)(1 - s), and
    # buying back the shorts costs (1 + f)(1 + s)
    per_dollar = 0.3 + 0.8 * (1 - f) * (1 - s) - 0.1 * (1 + f) * (1 + s)
    assert acct["withdrawn"].iloc[3] == pytest.approx(v3 / 2, rel=1e-13)
    assert acct["value"].iloc[3] == pytest.approx(v3 - v3 / 2 / per_dollar, rel=1e-13)
    assert acct["contributed"].sum() == pytest.approx(2000.0)
    row = summary("s", acct)
    assert row["flow_costs"] == pytest.approx(acct["flow_costs"].sum()) and pd.isna(row["depleted_on"])


def test_trade_factors_reduce_to_the_fully_invested_closed_form():
    buy, sell = trade_factors(0.001, 0.002)
    assert buy == pytest.approx(1.001 * 1.002, rel=1e-15) and sell == pytest.approx(0.999 * 0.998, rel=1e-15)
    assert trade_factors(0.0, 0.0, 1.3, 0.3) == (1.0, 1.0)
    assert trade_factors(0.01, 0.0, 0.0, 0.0) == (1.0, 1.0), "cash is not traded"


def test_a_withdrawal_larger_than_the_account_empties_it_never_below_zero():
    idx = pd.bdate_range("2024-01-01", periods=4)
    equity = pd.Series([100.0, 100.0, 50.0, 80.0], index=idx)
    acct = account(equity, 1000.0, [Flow(idx[2], amount=-2000.0), Flow(idx[3], amount=-10.0)])
    assert acct["withdrawn"].tolist() == [0.0, 0.0, 500.0, 0.0]
    assert (acct["value"] >= 0).all() and acct["value"].iloc[2:].eq(0).all()
    row = summary("s", acct)
    assert row["depleted_on"] == idx[2] and row["withdrawn"] == 500.0
    # with costs, what is paid out is what selling everything pays
    costly = account(equity, 1000.0, [Flow(idx[2], amount=-2000.0)], commission=0.01, slippage=0.02)
    assert costly["withdrawn"].iloc[2] == pytest.approx(500.0 * 0.99 * 0.98, rel=1e-14)
    assert costly["flow_costs"].iloc[2] == pytest.approx(500.0 * (1 - 0.99 * 0.98), rel=1e-12)


def test_percent_flows_and_withdrawals_on_a_value_at_or_below_zero_are_zero():
    """A long/short strategy whose short outgrew it has a value at or below zero (the run warns): a percent
    of it is no flow (a 4% withdrawal of a negative value was a contribution), and nothing is paid out of it;
    a contribution of an amount still goes in. Flows on a positive value are unchanged."""
    idx = pd.bdate_range("2024-01-01", periods=7)
    equity = pd.Series([100.0, 80.0, -50.0, -200.0, 0.0, -100.0, 40.0], index=idx)
    flows = [Flow(idx[1], percent=-0.04), Flow(idx[2], percent=-0.04), Flow(idx[3], percent=0.1),
             Flow(idx[3], amount=-30.0), Flow(idx[4], percent=-0.04), Flow(idx[4], amount=-5.0),
             Flow(idx[5], amount=100.0)]
    acct = account(equity, 1000.0, flows)
    assert acct["contributed"].tolist() == [1000.0, 0.0, 0.0, 0.0, 0.0, 100.0, 0.0]
    assert acct["withdrawn"].tolist() == [0.0, 32.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    scale = 1000.0 / 100.0 * 0.96      # the account: 9.6 strategies after the one withdrawal (4% of 800)
    assert acct["value"].iloc[:5].tolist() == pytest.approx([1000.0, 768.0, -50 * scale, -200 * scale, 0.0])
    assert acct["value"].iloc[5] == pytest.approx(-100 * scale + 100.0)
    assert not acct["depleted"].any()


def test_flow_dates_first_trading_day_of_each_month_not_the_first_day():
    cal = pd.bdate_range("2024-01-01", "2024-04-30")
    rules = (CashFlowRule(every="monthly", amount=100.0), CashFlowRule(date=pd.Timestamp("2024-03-02"),
                                                                        amount=-50.0))
    flows = flow_dates(cal, rules)
    assert [(f"{f.date:%Y-%m-%d}", f.amount) for f in flows] == [
        ("2024-02-01", 100.0), ("2024-03-01", 100.0), ("2024-03-04", -50.0), ("2024-04-01", 100.0)]


# ------------------------------------------------- the account against an independent share-and-cash ledger

LEDGER_CONFIG = """
name: flows-ledger
start: 2019-01-01
end: 2023-12-29
capital: 100000
benchmark: SPY
rebalance: monthly
fill: close
cash_yield: none
costs: {commission_bps: 10, slippage_bps: 25}
cash_flows:
  - {every: monthly, amount: 1500}
  - {every: yearly, percent: -0.05}
  - {date: 2020-03-16, amount: 30000}
  - {date: 2021-09-01, amount: -40000}
  - {date: 2022-06-15, amount: 25000}
strategies:
  - name: Three funds
    weighting: fixed
    weights: {SPY: 0.5, IEF: 0.3, GLD: 0.2}
"""
WEIGHTS = {"SPY": 0.5, "IEF": 0.3, "GLD": 0.2}
F, S = 10 / 1e4, 25 / 1e4


def _ledger(prices: pd.DataFrame, rebalance_days, flows: dict, capital: float) -> tuple[pd.Series, pd.Series]:
    """Plain pandas/numpy: one portfolio of shares and cash, day by day. On a rebalance day every name is traded
    to its target share of the value at that close (sales first, at P (1 - s) less f; then buys, smallest
    first, at P (1 + s) plus f, the last one cut to the cash left); then the day's flows (contributions
    buy every position and the cash pro rata, withdrawals sell them pro rata; costs on the names traded).
    Returns the daily value and the investor's flows (a Series indexed by date, one row per flow: in negative,
    out positive)."""
    names = list(WEIGHTS)
    w = np.array([WEIGHTS[t] for t in names])
    shares = np.zeros(len(names))
    cash = capital
    out, paid = {}, []
    for day, row in prices[names].iterrows():
        p = row.to_numpy()
        if day in rebalance_days:
            value = cash + shares @ p
            delta = w * value / p - shares
            for i in np.flatnonzero(delta < 0):
                cash += -delta[i] * p[i] * (1 - S) * (1 - F)
                shares[i] += delta[i]
            for i in sorted(np.flatnonzero(delta > 0), key=lambda i: delta[i] * p[i]):
                q = min(delta[i], cash / (p[i] * (1 + S) * (1 + F)))
                cash -= q * p[i] * (1 + S) * (1 + F)
                shares[i] += q
        for amount, percent in flows.get(day, ()):
            value = cash + shares @ p
            amount = amount if amount is not None else percent * value
            paid.append((day, -amount))
            held = shares @ p
            if amount >= 0:     # buy k of every position, add k of the cash: k (cash + held (1+s)(1+f)) = C
                k = amount / (cash + held * (1 + S) * (1 + F))
                shares, cash = shares * (1 + k), cash * (1 + k) + 0.0
            else:               # sell k of every position, take k of the cash: k (cash + held (1-s)(1-f)) = W
                k = -amount / (cash + held * (1 - S) * (1 - F))
                assert k < 1, "the test's withdrawals stay inside the account"
                shares, cash = shares * (1 - k), cash * (1 - k)
        out[day] = cash + shares @ p
    return pd.Series(out), pd.Series([a for _, a in paid], index=pd.DatetimeIndex([d for d, _ in paid]))


def test_account_matches_an_independent_share_and_cash_ledger(snapshot_store, market_data_dir):
    from backtest.config import parse_config
    from backtest.runner import run_backtest

    cfg = parse_config(LEDGER_CONFIG)
    result = run_backtest(cfg, snapshot_store, offline=True)
    values = result.analytics["account_value"]
    table = result.analytics["cash_flows"]
    cal = values.index
    raw = pd.read_parquet(market_data_dir / "prices_etf.parquet")[list(WEIGHTS)]
    prices = raw.reindex(cal)
    assert prices.notna().all().all()
    months = pd.Series(cal, index=cal).groupby(cal.to_period("M")).min()
    years = pd.Series(cal, index=cal).groupby(cal.to_period("Y")).min()
    # the opening purchase at the base close (2018-12-31) stands in for January's first day; then each month's
    rebalance_days = {cal[0], *months.iloc[2:]}
    assert set(result.strategies[0].targets.index) == rebalance_days
    flows: dict = {}
    for d in months.iloc[1:]:
        flows.setdefault(d, []).append((1500.0, None))
    for d in years.iloc[1:]:
        flows.setdefault(d, []).append((None, -0.05))
    for d, a in (("2020-03-16", 30000.0), ("2021-09-01", -40000.0), ("2022-06-15", 25000.0)):
        flows.setdefault(cal[cal.searchsorted(pd.Timestamp(d))], []).append((a, None))

    # the ledger without flows is the engine's strategy: its trading and costs are modelled right
    alone, _ = _ledger(prices, rebalance_days, {}, 100_000.0)
    strategy = result.strategies[0].equity
    np.testing.assert_allclose(alone.to_numpy(), strategy.to_numpy(), rtol=1e-10)
    # with the flows: the account the run reports
    ledger, paid = _ledger(prices, rebalance_days, flows, 100_000.0)
    np.testing.assert_allclose(values["Three funds"].to_numpy(), ledger.to_numpy(), rtol=1e-10)
    row = table.loc["Three funds"]
    assert row["ending_value"] == pytest.approx(ledger.iloc[-1], rel=1e-10)
    contributed = 100_000 + 1500 * (len(months) - 1) + 30000 + 25000
    assert row["contributed"] == pytest.approx(contributed, rel=1e-12)
    assert row["withdrawn"] > 40_000 and row["flow_costs"] > 0
    # the closed form: fully invested (each rebalance's last buy is cut to the cash left, so no cash idles), a
    # dollar in buys 1 / ((1+f)(1+s)) of value
    grown = ledger.loc["2020-03-13"] * alone.loc["2020-03-16"] / alone.loc["2020-03-13"]
    assert ledger.loc["2020-03-16"] - grown == pytest.approx(30000 / ((1 + F) * (1 + S)), rel=1e-9)
    # the money-weighted return sets the NPV of the ledger's dated flows and the ending value to zero
    assert row["withdrawn"] == pytest.approx(paid[paid > 0].sum(), rel=1e-10)
    ends = pd.Series([-100_000.0, ledger.iloc[-1]], index=cal[[0, -1]])
    investor = pd.concat([ends.iloc[:1], paid, ends.iloc[1:]])
    t_years = (investor.index - cal[0]).days.to_numpy() / 365.25
    assert abs(np.sum(investor.to_numpy() * (1 + row["irr"]) ** -t_years)) < 1e-6 * 100_000
    assert table.loc["SPY (benchmark)", "flow_costs"] == 0.0
    assert result.manifest["cash_flows"]["convention"].startswith("flows trade pro rata at the close")


def test_a_run_whose_withdrawals_empty_the_account_says_so(snapshot_store):
    from backtest.config import parse_config
    from backtest.runner import run_backtest

    cfg = parse_config(LEDGER_CONFIG.replace("  - {date: 2021-09-01, amount: -40000}",
                                             "  - {date: 2021-09-01, amount: -900000}"))
    result = run_backtest(cfg, snapshot_store, offline=True)
    table = result.analytics["cash_flows"]
    assert (table["depleted_on"] == pd.Timestamp("2021-09-01")).all()
    values = result.analytics["account_value"]
    assert (values.loc["2021-09-01":"2021-09-30"] == 0).all().all()
    # a later contribution starts the account again (the strategy pays its costs on it, the benchmark none)
    assert values.loc["2021-10-01"].to_dict() == pytest.approx(
        {"Three funds": 1500 / ((1 + F) * (1 + S)), "SPY (benchmark)": 1500.0}, rel=1e-12)
    warned = [w for w in result.manifest["warnings"] if w.startswith("cash_flows: the withdrawals emptied")]
    assert warned == [f"cash_flows: the withdrawals emptied the account in {name} on 2021-09-01 (a withdrawal "
                      "asked for more than selling everything pays: it paid what there was; the account stays "
                      "at zero until a contribution)" for name in table.index]


@pytest.mark.parametrize("day, side", [("2018-12-31", "on or before the base close (2018-12-31"),
                                       ("2017-06-01", "on or before the base close"),
                                       ("2024-01-02", "after the run's last day (2023-12-29)")])
def test_a_dated_flow_outside_the_run_is_refused_not_dropped(snapshot_store, day, side):
    """A dated flow the run would not apply (at or before the base close, after the last day) stops the run
    and `bt validate` with the flow's key and the fix; the run never drops a flow the config names."""
    from backtest.config import parse_config
    from backtest.data.inputs import check_data
    from backtest.errors import DataError
    from backtest.runner import run_backtest

    cfg = parse_config(LEDGER_CONFIG.replace("2022-06-15", day))
    expected = f"cash_flows[4].date: {day} is {side}"
    with pytest.raises(DataError, match=re.escape(expected)) as info:
        run_backtest(cfg, snapshot_store, offline=True)
    assert "fix: a date inside the period" in str(info.value) and info.value.exit_code == 2
    problems, _ = check_data(cfg, snapshot_store)
    assert any(expected in p for p in problems)
