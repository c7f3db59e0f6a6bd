"""Contributions, withdrawals and the money-weighted return (backtest.cashflows), against closed forms."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtest.cashflows import Flow, account, flow_dates, summary, xirr
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


def test_account_units_follow_the_nav_and_costs():
    idx = pd.bdate_range("2024-01-01", periods=5)
    equity = pd.Series([100.0, 110.0, 121.0, 110.0, 132.0], index=idx)
    flows = [Flow(idx[1], amount=1000.0), Flow(idx[3], percent=-0.5)]
    acct = account(equity, 1000.0, flows, cost=0.01)
    # day 1: 1000 at nav 1.1 -> value 1100, + 1000 * 0.99 = 2090
    assert acct["value"].iloc[1] == pytest.approx(2090.0)
    assert acct["value"].iloc[2] == pytest.approx(2090.0 * 1.1)
    v3 = 2090.0 * 1.1 * 110 / 121
    # day 3: withdraw half of v3, selling v3 / 2 / 0.99 of units
    assert acct["withdrawn"].iloc[3] == pytest.approx(v3 / 2)
    assert acct["value"].iloc[3] == pytest.approx(v3 - v3 / 2 / 0.99)
    assert acct["contributed"].sum() == pytest.approx(2000.0)


def test_a_withdrawal_larger_than_the_account_empties_it_never_below_zero():
    idx = pd.bdate_range("2024-01-01", periods=4)
    equity = pd.Series([100.0, 100.0, 50.0, 80.0], index=idx)
    acct = account(equity, 1000.0, [Flow(idx[2], amount=-2000.0), Flow(idx[3], amount=-10.0)], cost=0.0)
    assert acct["withdrawn"].tolist() == [0.0, 0.0, 500.0, 0.0]
    assert (acct["value"] >= 0).all() and acct["value"].iloc[2:].eq(0).all()
    row = summary("s", acct)
    assert row["depleted_on"] == idx[2] and row["withdrawn"] == 500.0


def test_flow_dates_first_trading_day_of_each_month_not_the_first_day():
    cal = pd.bdate_range("2024-01-01", "2024-04-30")
    rules = (CashFlowRule(every="monthly", amount=100.0), CashFlowRule(date=pd.Timestamp("2024-03-02"),
                                                                        amount=-50.0))
    flows = flow_dates(cal, rules)
    assert [(f"{f.date:%Y-%m-%d}", f.amount) for f in flows] == [
        ("2024-02-01", 100.0), ("2024-03-01", 100.0), ("2024-03-04", -50.0), ("2024-04-01", 100.0)]
