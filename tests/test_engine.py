"""Engine invariants and closed forms on small hand-checkable cases and on the real snapshot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtest.engine import StrategyPlan, execution_dates, simulate

IDX = pd.bdate_range("2021-01-04", periods=8)


def _prices():
    return pd.DataFrame({
        "A": [10, 11, 12, 13, 14, 15, 16, 17.0],
        "B": [np.nan, np.nan, 5, 5, 5, 6, 6, 6],            # lists on day 3
        "C": [20, 20, 20, 21, np.nan, np.nan, np.nan, np.nan],  # prices end on day 4
    }, index=IDX)


def test_buy_and_hold_equals_price_ratio(market_data_dir):
    spy = pd.read_parquet(market_data_dir / "prices_etf.parquet")[["SPY"]].loc["2016-01-04":"2026-07-31"]
    targets = pd.DataFrame({"SPY": [1.0]}, index=spy.index[:1])
    sim = simulate(spy, {"bh": StrategyPlan(targets)}, capital=1e6, fill="close")["bh"]
    expected = 1e6 * spy["SPY"] / spy["SPY"].iloc[0]
    np.testing.assert_allclose(sim.equity.to_numpy(), expected.to_numpy(), rtol=1e-12)


def test_single_asset_total_return_with_monthly_rebalances(market_data_dir):
    p = pd.read_parquet(market_data_dir / "prices_etf.parquet")[["AVUV"]].loc["2020-01-02":"2026-07-31"]
    dates = p.index[p.index.to_period("M").duplicated() == False]  # noqa: E712 - first day of each month
    sim = simulate(p, {"s": StrategyPlan(pd.DataFrame({"AVUV": 1.0}, index=dates))}, capital=1.0,
                   fill="close")["s"]
    assert sim.equity.iloc[-1] == pytest.approx(p["AVUV"].iloc[-1] / p["AVUV"].iloc[0], rel=1e-12)


def test_zero_costs_never_worse_than_positive_costs():
    p = _prices()[["A"]].assign(D=[5, 4, 6, 5, 7, 6, 8, 7.0])
    targets = pd.DataFrame({"A": 0.5, "D": 0.5}, index=IDX)    # daily rebalance: lots of trading
    plans = {"free": StrategyPlan(targets), "costly": StrategyPlan(targets, commission_bps=5, slippage_bps=5)}
    res = simulate(p, plans, capital=1000, fill="close")
    assert (res["costly"].equity <= res["free"].equity + 1e-9).all()
    assert res["costly"].fees.sum() > 0 and res["free"].fees.sum() == 0
    assert (res["costly"].cash >= -1e-9).all(), "fees never drive cash negative"


def test_sells_before_buys_fund_the_rotation():
    p = _prices()[["A"]].assign(D=[5, 5, 5, 5, 5, 5, 5, 5.0])
    targets = pd.DataFrame({"A": [1.0, 0.0], "D": [0.0, 1.0]}, index=IDX[[0, 3]])
    sim = simulate(p, {"s": StrategyPlan(targets)}, capital=1000, fill="close")["s"]
    day = sim.trades[sim.trades.date == IDX[3]]
    assert list(day.side) == ["sell", "buy"]
    assert sim.holdings.loc[IDX[3], "D"] == pytest.approx(1.0)


def test_delisted_holding_sold_at_last_close_and_late_listing_enters_when_priced():
    targets = pd.DataFrame({"A": [0.5, 0.5], "C": [0.5, 0.0], "B": [0.0, 0.5]}, index=IDX[[0, 5]])
    sim = simulate(_prices(), {"s": StrategyPlan(targets)}, capital=1000, fill="close")["s"]
    c_sells = sim.trades[(sim.trades.ticker == "C") & (sim.trades.side == "sell")]
    assert list(c_sells.date) == [IDX[3]] and c_sells.price.iloc[0] == 21.0
    assert sim.cash.loc[IDX[4]] == pytest.approx(25 * 21.0), "proceeds wait in cash"
    assert sim.holdings.loc[IDX[5], "B"] == pytest.approx(0.5)
    assert any("prices end mid-run" in n and "C (2021-01-07)" in n for n in sim.notes)


def test_target_without_price_on_execution_day_stays_in_cash_and_is_reported():
    targets = pd.DataFrame({"A": [0.5], "B": [0.5]}, index=IDX[[0]])    # B has no price on day 1
    sim = simulate(_prices(), {"s": StrategyPlan(targets)}, capital=1000, fill="close")["s"]
    assert sim.cash.iloc[0] == pytest.approx(500)
    assert any("no price for 1 target name(s) (B)" in n for n in sim.notes)


def test_next_close_fills_one_day_later():
    targets = pd.DataFrame({"A": [1.0]}, index=IDX[[1]])
    sim = simulate(_prices(), {"s": StrategyPlan(targets)}, capital=1200, fill="next_close")["s"]
    assert list(sim.trades.date) == [IDX[2]] and sim.trades.price.iloc[0] == 12.0
    assert sim.equity.iloc[-1] == pytest.approx(1200 / 12 * 17)


def test_execution_dates_drop_decisions_on_the_last_day():
    m = execution_dates(IDX[[0, 7]], IDX, "next_close")
    assert list(m.index) == [IDX[0]] and list(m) == [IDX[1]]


def test_expense_ratio_is_a_proportional_daily_drag():
    targets = pd.DataFrame({"A": [1.0]}, index=IDX[[0]])
    res = simulate(_prices(), {"gross": StrategyPlan(targets), "net": StrategyPlan(targets, expense_ratio=0.01)},
                   capital=1000, fill="close")
    ratio = res["net"].equity / res["gross"].equity
    assert ratio.iloc[-1] == pytest.approx(0.99 ** (7 / 252))


def test_trades_of_a_dragged_strategy_are_in_the_account_that_pays_the_fee():
    """With an expense ratio, the trades are the dragged account's: their fees add up to `fees`, each trade
    is the undragged one times the drag on its date, and a share ledger reconciles with the holdings once
    each trade's shares shrink by the fee from its date on (an independent rebuild, market data only)."""
    p = _prices()[["A"]].assign(D=[5, 4, 6, 5, 7, 6, 8, 7.0])
    targets = pd.DataFrame({"A": [0.6, 0.3, 0.5], "D": [0.4, 0.7, 0.5]}, index=IDX[[0, 3, 6]])
    res = simulate(p, {"gross": StrategyPlan(targets, commission_bps=10),
                       "net": StrategyPlan(targets, commission_bps=10, expense_ratio=0.05)},
                   capital=1000, fill="close")
    gross, net = res["gross"], res["net"]
    drag = pd.Series(0.95 ** (np.arange(len(IDX)) / 252), index=IDX)
    assert net.trades["fees"].sum() == pytest.approx(net.fees.sum(), rel=1e-12)
    at = drag.loc[gross.trades["date"]].to_numpy()
    for column in ("shares", "value", "fees"):
        np.testing.assert_allclose(net.trades[column].to_numpy(), gross.trades[column].to_numpy() * at, rtol=1e-12)
    assert (net.trades["price"].to_numpy() == gross.trades["price"].to_numpy()).all()
    signed = net.trades["shares"].where(net.trades["side"] == "buy", -net.trades["shares"])
    held = pd.DataFrame(0.0, index=IDX, columns=["A", "D"])
    for (date, ticker), q in zip(zip(net.trades["date"], net.trades["ticker"]), signed):
        held.loc[date:, ticker] += q * drag.loc[date:] / drag.loc[date]
    np.testing.assert_allclose((held * p).div(net.equity, axis=0).to_numpy(), net.holdings[["A", "D"]].to_numpy(),
                               atol=1e-12)


def test_turnover_and_holdings_sum_to_invested_share():
    targets = pd.DataFrame({"A": [0.6, 0.3], "C": [0.4, 0.7]}, index=IDX[[0, 2]])
    sim = simulate(_prices(), {"s": StrategyPlan(targets)}, capital=1000, fill="close")["s"]
    assert sim.turnover.iloc[0] == pytest.approx(0.5)
    assert sim.holdings.loc[IDX[2]].sum() == pytest.approx(1.0)
    assert sim.holdings.loc[IDX[2], "C"] == pytest.approx(0.7)


def test_idle_cash_of_an_unpriced_target_accrues_at_the_cash_rate_free_of_costs():
    p = _prices().assign(BIL=[100, 100.01, 100.02, 100.03, 100.04, 100.05, 100.06, 100.07])
    targets = pd.DataFrame({"A": [0.5], "B": [0.5]}, index=IDX[[0]])     # B unpriced on day 1 -> 50% idle
    rate = p["BIL"].pct_change()
    res = simulate(p, {"cash": StrategyPlan(targets, commission_bps=10), "bil": StrategyPlan(
        targets, commission_bps=10, cash_rate=rate)}, capital=1000, fill="close")
    bil = res["bil"]
    assert "BIL" not in bil.holdings.columns and (bil.trades.ticker != "BIL").all()
    assert bil.fees.sum() == pytest.approx(res["cash"].fees.sum(), rel=1e-12), "accrual pays no fees"
    idle = res["cash"].cash.iloc[0]
    assert idle == pytest.approx(1000 - 0.5 * 1000, rel=2e-3)
    gain = bil.equity.iloc[-1] - res["cash"].equity.iloc[-1]
    assert gain == pytest.approx(idle * (100.07 / 100 - 1), rel=1e-12)


def test_detail_false_gives_the_same_equity_fees_turnover_and_notes_bit_for_bit():
    """Sweeps simulate with detail=False (no holdings or trades table): the other fields are unchanged."""
    rng = np.random.default_rng(3)
    days = pd.bdate_range("2018-01-01", periods=400)
    names = [f"T{i:02d}" for i in range(30)][::-1]                 # tickers not in sorted order
    prices = pd.DataFrame(50 * np.exp(np.cumsum(rng.normal(0, 0.02, (400, 30)), axis=0)), index=days,
                          columns=names)
    prices.iloc[250:, 3] = np.nan                                   # a delisting
    prices.iloc[:60, 7] = np.nan                                    # a late listing
    decisions = days[::21]
    plans = {}
    for k, bps in enumerate((0.0, 5.0, 50.0)):
        w = pd.DataFrame(rng.uniform(0, 1, (len(decisions), 30)), index=decisions, columns=names)
        w = w.div(w.sum(axis=1), axis=0)
        plans[f"s{k}"] = StrategyPlan(w, commission_bps=bps, slippage_bps=bps / 2, expense_ratio=0.001 * k)
    full = simulate(prices, plans, capital=1e6)
    lean = simulate(prices, plans, capital=1e6, detail=False)
    for name in plans:
        a, b = full[name], lean[name]
        assert len(a.trades) > 100 and b.trades.empty and list(b.trades.columns) == list(a.trades.columns)
        assert a.equity.equals(b.equity) and a.fees.equals(b.fees) and a.cash.equals(b.cash)
        assert a.turnover.equals(b.turnover) and a.turnover.index.name == b.turnover.index.name
        assert a.notes == b.notes


def test_price_filling_equals_pandas_ffill_then_bfill():
    """The engine fills prices for valuation as ``df.ffill().bfill()`` did (numpy, only columns with a gap):
    leading gaps, interior gaps, trailing gaps, an all-NaN column and gap-free columns, bit for bit."""
    from backtest.engine.simulate import _ffill_bfill

    rng = np.random.default_rng(7)
    values = rng.random((60, 9))
    values[:5, 1] = np.nan                   # lists late
    values[20:31, 2] = np.nan                # a data gap
    values[40:, 3] = np.nan                  # prices end
    values[:, 4] = np.nan                    # never priced
    values[rng.random((60, 9)) < 0.15] = np.nan
    values[:, 8] = rng.random(60)            # no gap at all
    expected = pd.DataFrame(values).ffill().bfill().to_numpy()
    got = _ffill_bfill(values.copy())
    assert np.array_equal(got, expected, equal_nan=True)
    assert np.isnan(got[:, 4]).all() and not np.isnan(np.delete(got, 4, axis=1)).any()


@pytest.mark.parametrize("cols", [slice(0, 12), slice(3, 9), slice(12, 12)])
def test_trades_table_equals_the_pandas_sort_it_replaced(cols):
    """``_trades`` orders the records by integer keys; the table equals the pandas construction and stable
    sort by (date, sells first, ticker) it replaced, dtypes included, with and without records."""
    from backtest.engine.simulate import _trades

    def reference(records, cols, tickers, index):
        r = records[(records["col"] >= cols.start) & (records["col"] < cols.stop)]
        df = pd.DataFrame({"date": index[r["idx"]], "ticker": np.asarray(tickers, dtype=object)[r["col"] - cols.start],
                           "side": np.where(r["side"] == 0, "buy", "sell"), "shares": r["size"],
                           "price": r["price"], "value": r["size"] * r["price"], "fees": r["fees"]})
        df["_order"] = np.where(df["side"] == "sell", 0, 1)
        return (df.sort_values(["date", "_order", "ticker"], kind="stable").drop(columns="_order")
                .reset_index(drop=True))

    dtype = np.dtype([("id", "i8"), ("col", "i8"), ("idx", "i8"), ("size", "f8"), ("price", "f8"),
                      ("fees", "f8"), ("side", "i8")])
    rng = np.random.default_rng(3)
    records = np.zeros(400, dtype)
    records["col"], records["idx"] = rng.integers(0, 12, 400), rng.integers(0, 6, 400)
    records["side"] = rng.integers(0, 2, 400)
    records["size"], records["price"], records["fees"] = rng.random((3, 400))
    records = records[np.unique(records[["col", "idx"]], return_index=True)[1]]    # one order per cell
    tickers = ["b", "A", "c", "GOOGL", "GOOG", "a", "Z", "BRK-B", "BRK.B", "x", "\u00e9", "y"][cols]
    index = pd.bdate_range("2021-01-04", periods=6)
    for recs in (records, records[:0]):
        got, expected = _trades(recs, cols, tickers, index), reference(recs, cols, tickers, index)
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
        assert len(got) == (len(recs) and ((recs["col"] >= cols.start) & (recs["col"] < cols.stop)).sum())


@pytest.mark.parametrize("order", ["C", "F"])
def test_daily_expansion_of_order_rows_holds_each_row_until_the_next(order):
    """``_held_daily`` repeats each order row until the next one and fills the days before the first with
    ``before``: equal to indexing by the step array, for 2-d (positions) and 1-d (cash) inputs."""
    from backtest.engine.simulate import _held_daily

    rng = np.random.default_rng(5)
    at_rows = rng.random((4, 3))
    for rows in ([2, 3, 7, 9], [0, 3, 7, 9]):            # with and without days before the first row
        step = np.searchsorted(np.array(rows), np.arange(12), side="right") - 1
        expected = np.where(step[:, None] < 0, -1.5, at_rows[np.maximum(step, 0)])
        got = _held_daily(at_rows, step, -1.5, order=order)
        assert np.array_equal(got, expected) and got.flags[f"{order}_CONTIGUOUS"]
        assert np.array_equal(_held_daily(at_rows[:, 0], step, 7.0), np.where(step < 0, 7.0, at_rows[np.maximum(step, 0), 0]))
    assert np.array_equal(_held_daily(at_rows[:0], step, 2.0), np.full((12, 3), 2.0))
