"""The whole trading cost in the metrics: the fees are the commission only ("Commission paid"); slippage,
which is in the fill prices, is ``slippage_paid`` / ``slippage_drag``; ``cost_drag`` counts both, the
expense ratio and the borrow fee of shorts (``borrow_drag``). Checked against an independent computation
from a run folder's files (trades, exposure) and the raw closes of the snapshot."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pandas as pd
import pytest

from backtest import metrics as M
from backtest.results import load_run
from tests.conftest import MARKET_DATA

CONFIG = textwrap.dedent("""\
    name: costs
    start: 2018-01-01
    end: 2020-12-31
    benchmark: SPY
    rebalance: monthly
    costs: {commission_bps: 3, slippage_bps: 7}
    strategies:
      - name: Three funds
        weighting: fixed
        weights: {SPY: 0.5, IWN: 0.3, QQQ: 0.2}
        expense_ratio: 0.002
      - name: Two funds, no costs
        weighting: fixed
        weights: {SPY: 0.6, IWN: 0.4}
        costs: {commission_bps: 0, slippage_bps: 0}
    """)


@pytest.fixture(scope="module")
def run(snapshot_store, tmp_path_factory):
    from backtest.runner import run_config

    folder = tmp_path_factory.mktemp("costs")
    path = folder / "costs.yaml"
    path.write_text(CONFIG)
    return run_config(path, store=snapshot_store, results_dir=folder / "out", offline=True)


def test_slippage_and_commission_equal_the_trades_against_the_raw_closes(run):
    """From trades/<slug>.csv and the snapshot's closes alone: slippage paid = sum over fills of
    |shares| x |fill price - close| (about slippage_bps of the value at the close), its drag the daily sums
    over the day's value per year; the fees are the commission (commission_bps of the traded value); cost
    drag is commission drag + slippage drag + expense ratio."""
    closes = pd.read_parquet(MARKET_DATA / "prices_etf.parquet")
    closes.index = pd.DatetimeIndex(closes.index).as_unit("ns")
    metrics = json.loads((run / "metrics.json").read_text())["strategies"]["Three funds"]
    equity = pd.read_csv(run / "equity.csv", index_col="date", parse_dates=["date"])["three-funds"]
    trades = pd.read_csv(run / "trades" / "three-funds.csv", parse_dates=["date"])
    assert len(trades) > 100 and set(trades["ticker"]) == {"SPY", "IWN", "QQQ"}
    close = closes.stack().reindex(pd.MultiIndex.from_arrays([trades["date"], trades["ticker"]])).to_numpy()
    assert not np.isnan(close).any()
    slip = trades["shares"].abs().to_numpy() * np.abs(trades["price"].to_numpy() - close)
    np.testing.assert_allclose(trades["price"], close * np.where(trades["side"] == "buy", 1.0007, 0.9993),
                               rtol=1e-12)                        # fills at the close x (1 +/- 7 bp)
    assert metrics["slippage_paid"] == pytest.approx(slip.sum(), rel=1e-10)
    assert metrics["slippage_paid"] == pytest.approx(7e-4 * (trades["shares"] * close).sum(), rel=1e-10)
    assert metrics["fees_paid"] == pytest.approx(trades["fees"].sum(), rel=1e-12)
    assert metrics["fees_paid"] == pytest.approx(3e-4 * trades["value"].sum(), rel=1e-10)   # commission only
    daily = pd.Series(slip).groupby(trades["date"].to_numpy()).sum()
    years = (equity.index[-1] - equity.index[0]).days / 365.25
    assert metrics["slippage_drag"] == pytest.approx((daily / equity.reindex(daily.index)).sum() / years,
                                                     rel=1e-10)
    fees = trades.groupby("date")["fees"].sum()
    assert metrics["fee_drag"] == pytest.approx((fees / equity.reindex(fees.index)).sum() / years, rel=1e-10)
    assert metrics["expense_ratio"] == 0.002
    assert metrics["cost_drag"] == metrics["fee_drag"] + metrics["slippage_drag"] + 0.002
    assert metrics["slippage_drag"] > 2 * metrics["fee_drag"] > 0            # 7 bp against 3 bp
    free = json.loads((run / "metrics.json").read_text())["strategies"]["Two funds, no costs"]
    assert free["slippage_paid"] == free["fees_paid"] == free["cost_drag"] == 0.0


def test_slippage_csv_holds_the_daily_slippage_behind_the_metrics(run):
    """slippage.csv (date x strategy, beside fees.csv) is the day's slippage from the trades against the raw
    closes; with equity.csv it gives metrics.json's slippage_paid and slippage_drag again, and it is read
    back (`load_run`) as each strategy's slippage. A sweep's folder has none."""
    closes = pd.read_parquet(MARKET_DATA / "prices_etf.parquet")
    closes.index = pd.DatetimeIndex(closes.index).as_unit("ns")
    saved = json.loads((run / "metrics.json").read_text())["strategies"]
    slippage = pd.read_csv(run / "slippage.csv", index_col="date", parse_dates=["date"])
    equity = pd.read_csv(run / "equity.csv", index_col="date", parse_dates=["date"])
    assert list(slippage.columns) == ["three-funds", "two-funds-no-costs"]
    assert slippage.index.equals(equity.index)
    trades = pd.read_csv(run / "trades" / "three-funds.csv", parse_dates=["date"])
    close = closes.stack().reindex(pd.MultiIndex.from_arrays([trades["date"], trades["ticker"]])).to_numpy()
    daily = pd.Series(trades["shares"].abs().to_numpy() * np.abs(trades["price"].to_numpy() - close),
                      index=trades["date"]).groupby(level=0).sum()
    got = slippage["three-funds"]
    pd.testing.assert_series_equal(got[got != 0], daily, check_names=False, check_freq=False, rtol=1e-10)
    years = (equity.index[-1] - equity.index[0]).days / 365.25
    for name, slug in (("Three funds", "three-funds"), ("Two funds, no costs", "two-funds-no-costs")):
        assert saved[name]["slippage_paid"] == float(slippage[slug].sum())
        assert saved[name]["slippage_drag"] == float((slippage[slug] / equity[slug]).sum()) / years
    back = {s.name: s.slippage for s in load_run(run).strategies}
    pd.testing.assert_series_equal(back["Three funds"], got.rename("Three funds"), check_freq=False)


def test_the_report_names_commission_and_slippage(run):
    from backtest.report.labels import info

    assert info("fees_paid")[0] == "Commission paid" and "slippage" not in info("fees_paid")[2].split("(")[0]
    assert info("slippage_paid")[0] == "Slippage paid" and info("slippage_drag")[1] == "bps"
    assert "slippage drag" in info("cost_drag")[2].lower()
    html = (run / "report.html").read_text()
    assert "Commission paid" in html and "Slippage paid" in html and "Slippage drag, per year" in html
    assert "Fees paid" not in html


def test_slippage_is_summed_alike_with_and_without_the_trades_table(snapshot_store, tmp_path):
    """`simulate(detail=False)` (sweeps) gives the same daily slippage, bit for bit, as the detailed run; a
    reloaded run folder has no daily slippage (metrics.json holds its sums)."""
    from backtest.config import load_config
    from backtest.data.inputs import load_inputs
    from backtest.engine import simulate
    from backtest.plans import build_plans

    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    cfg = load_config(path)
    inputs = load_inputs(cfg, snapshot_store, offline=True)
    built = build_plans(cfg, inputs)
    full = simulate(built.prices, built.plans, capital=cfg.capital, fill=cfg.fill)
    lean = simulate(built.prices, built.plans, capital=cfg.capital, fill=cfg.fill, detail=False)
    for name in built.plans:
        assert (full[name].slippage.to_numpy() == lean[name].slippage.to_numpy()).all(), name
        assert full[name].slippage.index.equals(full[name].fees.index)
    assert full["Three funds"].slippage.sum() > 0 and (full["Two funds, no costs"].slippage == 0).all()


def test_rotation_slippage_is_twice_its_commission(rotation_run):
    """configs/rotation.yaml (1 bp commission, 2 bp slippage): every strategy's slippage paid is about twice
    its commission (slippage is 2 bp of the value at the close, commission 1 bp of the value at the fill
    price), and the cost drag counts both."""
    saved = load_run(rotation_run)
    for name, m in saved.metrics["strategies"].items():
        assert m["slippage_paid"] / m["fees_paid"] == pytest.approx(2.0, rel=1e-3), name
        assert m["slippage_drag"] / m["fee_drag"] == pytest.approx(2.0, rel=1e-3), name
        assert m["cost_drag"] == m["fee_drag"] + m["slippage_drag"] + m["expense_ratio"], name
    for s in saved.strategies:          # slippage.csv read back: the metrics again from the folder
        again = M.trading_metrics(s.turnover, s.fees, s.equity, slippage=s.slippage)
        assert again["slippage_paid"] == saved.metrics["strategies"][s.name]["slippage_paid"], s.name
        assert again["slippage_drag"] == saved.metrics["strategies"][s.name]["slippage_drag"], s.name
    assert np.isnan(M.trading_metrics(saved.strategies[0].turnover, saved.strategies[0].fees,
                                      saved.strategies[0].equity)["cost_drag"])       # no slippage: no cost drag


def test_the_borrow_fee_is_in_the_cost_drag(snapshot_store, tmp_path):
    """configs/examples/long_short.yaml over two years: each long/short strategy's borrow_drag is its 0.5%/yr
    fee on the short share at the previous close, summed and per year (the short share from the run's
    exposure table: long 493 and short Mag 7 hold no name in common), and cost_drag counts it; a variant of
    `bt sweep` (the vectorbt path) has the same metrics, bit for bit."""
    from backtest.runner import run_config
    from backtest.sweep import run_sweep
    from tests.conftest import REPO

    text = (REPO / "configs" / "examples" / "long_short.yaml").read_text().replace("end: 2024-12-31",
                                                                                  "end: 2020-12-31")
    path = tmp_path / "ls.yaml"
    path.write_text(text)
    run = load_run(run_config(path, store=snapshot_store, results_dir=tmp_path / "run", offline=True))
    exposure = run.analytics["exposure"]
    years = M.span_years(run.benchmark.index)
    for name in ("Long 493, short Mag 7 (dollar-neutral)", "130-30 493 vs Mag 7"):
        m = run.metrics["strategies"][name]
        short = (exposure[f"{name} gross"] - exposure[f"{name} net"]) / 2
        assert m["borrow_drag"] == pytest.approx((0.005 / 252 * short.shift(1)).sum() / years, rel=1e-9)
        assert m["borrow_drag"] > 1e-4
        assert m["cost_drag"] == m["fee_drag"] + m["slippage_drag"] + m["expense_ratio"] + m["borrow_drag"]
    assert run.metrics["strategies"]["Cap-weighted Mag 7"]["borrow_drag"] == 0.0
    name = "130-30 493 vs Mag 7"
    path.write_text(text + f"sweep: {{strategy: {name}, grid: {{borrow_fee: [0.005, 0.02]}}}}\n")
    swept = load_run(run_sweep(path, store=snapshot_store, results_dir=tmp_path / "sweep", offline=True))
    same = swept.metrics["strategies"][f"{name} [borrow_fee=0.005]"]
    assert json.dumps(same) == json.dumps(run.metrics["strategies"][name])
    more = swept.metrics["strategies"][f"{name} [borrow_fee=0.02]"]
    assert more["borrow_drag"] == pytest.approx(4 * same["borrow_drag"], rel=0.05)
