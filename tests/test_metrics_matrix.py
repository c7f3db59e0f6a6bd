"""`compute_metrics_matrix` equals `compute_metrics` column by column, bit for bit (json bytes)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from backtest import metrics as M
from backtest.metrics_matrix import compute_metrics_matrix


def _calendar(n: int = 1400) -> pd.DatetimeIndex:
    return pd.bdate_range("2019-01-02", periods=n, name="date")


def _frame(seed: int = 0, n: int = 1400) -> tuple[pd.DataFrame, pd.DataFrame, list, pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    cal = _calendar(n)
    bench_r = rng.normal(3e-4, 0.011, n)
    bench_r[0] = 0.0
    cols = {}
    for j in range(7):
        r = 0.6 * bench_r + rng.normal(1e-4 * (j - 3), 0.004 + 0.003 * j, n)
        r[0] = 0.0
        cols[f"s{j}"] = 1e6 * np.cumprod(1 + r)
    cols["flat"] = np.full(n, 1e6)                      # no drawdown, zero volatility: NaN ratios
    up = 1e6 * np.cumprod(np.r_[1.0, np.full(n - 1, 1.0002)])
    cols["rising"] = up                                 # never under water
    late = 1e6 * np.cumprod(1 + np.r_[0.0, rng.normal(0, 0.01, n - 1)])
    late[-300:] = late[-300] * 0.5                      # ends in a drawdown that never recovers
    cols["unrecovered"] = late
    equity = pd.DataFrame(cols, index=cal)
    fees = pd.DataFrame(rng.uniform(0, 50, equity.shape) * (rng.uniform(size=equity.shape) < 0.05),
                        index=cal, columns=equity.columns)
    on = cal[:: n // 20][:20]
    turnover = [pd.Series(rng.uniform(0, 0.2, len(on)), index=on).rename("turnover") for _ in equity.columns]
    turnover[1] = None
    bench = pd.Series(bench_r, index=cal)
    rf = pd.Series(rng.uniform(0, 2e-4, n), index=cal).iloc[5:]          # missing days count as 0
    return equity, fees, turnover, bench, rf


def _one(equity, fees, turnover, bench, rf, c, i):
    return M.compute_metrics(M.simple_returns(equity[c]), bench, rf, turnover=turnover[i], fees=fees[c],
                             equity=equity[c])


@pytest.mark.parametrize("with_rf", [True, False])
@pytest.mark.parametrize("with_bench", [True, False])
def test_equals_compute_metrics_bit_for_bit(with_rf, with_bench):
    equity, fees, turnover, bench, rf = _frame()
    bench, rf = (bench if with_bench else None), (rf if with_rf else None)
    got = compute_metrics_matrix(equity, bench, rf, turnover=turnover, fees=fees)
    for i, c in enumerate(equity.columns):
        assert json.dumps(got[i]) == json.dumps(_one(equity, fees, turnover, bench, rf, c, i)), c
    flat = got[list(equity.columns).index("flat")]
    assert flat["volatility"] == 0.0 and np.isnan(flat["skew"]) and np.isnan(flat["calmar"])
    assert got[list(equity.columns).index("rising")]["longest_drawdown_days"] == 0.0


def test_a_column_does_not_depend_on_its_neighbours():
    equity, fees, turnover, bench, rf = _frame(1)
    whole = compute_metrics_matrix(equity, bench, rf, turnover=turnover, fees=fees)
    for i in (0, 4):
        alone = compute_metrics_matrix(equity.iloc[:, [i]], bench, rf, turnover=[turnover[i]],
                                       fees=fees.iloc[:, [i]])
        assert json.dumps(alone[0]) == json.dumps(whole[i])


def test_columns_outside_the_fast_path_fall_back():
    equity, fees, turnover, bench, rf = _frame(2, n=300)
    equity.iloc[10:20, 2] = np.nan                      # a gap: the general path
    shifted = bench.iloc[3:]                            # a benchmark on other dates: the general path
    for b in (bench, shifted):
        got = compute_metrics_matrix(equity, b, rf, turnover=turnover, fees=fees)
        for i, c in enumerate(equity.columns):
            assert json.dumps(got[i]) == json.dumps(_one(equity, fees, turnover, b, rf, c, i)), c


def test_real_prices_from_the_snapshot(snapshot_store):
    """Buy-and-hold values of real ETFs against SPY, with the snapshot's own calendar and gaps."""
    prices = snapshot_store.prices(["SPY", "QQQ", "IWN", "TLT", "GLD"], start="2016-01-01", end="2026-06-30")
    prices = prices.dropna()
    assert len(prices) > 2000
    equity = 1e6 * prices / prices.iloc[0]
    bench = M.simple_returns(equity["SPY"])
    fees = pd.DataFrame(0.0, index=equity.index, columns=equity.columns)
    got = compute_metrics_matrix(equity, bench, None, turnover=[None] * 5, fees=fees)
    for i, c in enumerate(equity.columns):
        want = M.compute_metrics(M.simple_returns(equity[c]), bench, None, fees=fees[c], equity=equity[c])
        assert json.dumps(got[i]) == json.dumps(want), c
