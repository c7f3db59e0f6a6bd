"""The sweeps' batch kernel (backtest/engine/batch.py) against vectorbt's kernel as its oracle: identical
equity, fees, turnover and notes to `simulate(..., detail=False)` + the runner's trim, on random cases
(partial fills, names ending mid-run, shorts, idle cash growth) and on real snapshot data."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from backtest.engine import simulate
from backtest.engine.batch import simulate_batch_nb, simulate_many, supports
from backtest.engine.kernel import from_orders
from backtest.errors import SimulationError
from backtest.plans import StrategyPlan
from backtest.runner import trim


def _random_case(seed: int, n_names: int = 12, n_days: int = 300):
    rng = np.random.default_rng(seed)
    cal = pd.bdate_range("2020-01-01", periods=n_days, name="date")
    steps = rng.normal(0.0003, 0.02, size=(n_days, n_names))
    prices = pd.DataFrame(50 * np.exp(np.cumsum(steps, axis=0)), index=cal,
                          columns=[f"N{j:02d}" for j in range(n_names)])
    prices.iloc[: rng.integers(20, 90), 1] = np.nan                 # listed late
    prices.iloc[rng.integers(100, 200):, 2] = np.nan                # ends mid-run (sold at its last close)
    prices.iloc[rng.integers(60, 150):, 3] = np.nan                 # ends mid-run (held: data gap)
    prices.iloc[rng.integers(150, 250):, 4] = np.nan
    decisions = cal[::21][:-1]
    raw = rng.uniform(0, 1, size=(len(decisions), n_names)) * (rng.uniform(size=(len(decisions), n_names)) > 0.3)
    long_only = raw / raw.sum(axis=1, keepdims=True) * rng.uniform(0.8, 1.0, size=(len(decisions), 1))
    shorts = long_only.copy()
    shorts[:, 5:7] *= -1.0                                          # short two names, gross > 1
    rate = pd.Series(rng.uniform(0, 2e-4, n_days), index=cal)
    mk = lambda w: pd.DataFrame(w, index=decisions, columns=prices.columns)     # noqa: E731
    plans = {
        "plain": StrategyPlan(mk(long_only)),
        "costly": StrategyPlan(mk(long_only), commission_bps=300, slippage_bps=200, hold_ended=("N03",)),
        "huge costs": StrategyPlan(mk(long_only), commission_bps=2500, slippage_bps=900, cash_rate=rate),
        "cash grows": StrategyPlan(mk(long_only), commission_bps=5, slippage_bps=3, cash_rate=rate,
                                   expense_ratio=0.01),
        "short": StrategyPlan(mk(shorts), commission_bps=10, slippage_bps=5),
        "short costly": StrategyPlan(mk(shorts), commission_bps=400, slippage_bps=300, cash_rate=rate),
        "all in": StrategyPlan(mk(raw / raw.sum(axis=1, keepdims=True)), commission_bps=50, slippage_bps=20),
    }
    return prices, plans


def _oracle(prices, plans, fill, base):
    sims = simulate(prices, plans, capital=1e6, fill=fill, detail=False)
    return {n: trim(s, base) for n, s in sims.items()}


def _assert_same(batch, oracle):
    for name, sim in oracle.items():
        eq = batch.equity[name]
        assert (eq.to_numpy() == sim.equity.to_numpy()).all(), name        # identical, not just close
        assert eq.index.equals(sim.equity.index)
        assert (batch.fees[name].to_numpy() == sim.fees.to_numpy()).all(), name
        assert (batch.slippage[name].to_numpy() == sim.slippage.to_numpy()).all(), name
        pd.testing.assert_series_equal(batch.turnover[name], sim.turnover, check_exact=True)
        assert batch.notes[name] == sim.notes, name


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("fill", ["next_close", "close"])
def test_random_cases_equal_vectorbt_bit_for_bit(seed, fill):
    prices, plans = _random_case(seed)
    base = prices.index[1] if fill == "next_close" else prices.index[0]
    oracle = _oracle(prices, plans, fill, base)
    batch = simulate_many(prices, plans, capital=1e6, fill=fill, base=base)
    _assert_same(batch, oracle)
    # the cases do what they are for: partial fills (cash short of the buys), shorts, growth, trades
    # fully invested after costs: the last buy of a rebalance is cut to the cash left (a partial fill)
    assert (oracle["all in"].cash.iloc[5:] < 1e-6).sum() >= 5
    assert (oracle["huge costs"].cash.iloc[5:] < 1e-6).any()
    assert (oracle["short"].equity.notna()).all() and len(oracle["short"].turnover) > 5
    assert any("held at their last close" in n for n in oracle["costly"].notes)


def test_kernel_cash_per_row_equals_vectorbt():
    """The kernel's cash after each order row is vectorbt's (`from_orders`), bit for bit, with a partial fill."""
    rng = np.random.default_rng(7)
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.03, size=(40, 5)), axis=0))
    size = np.full((40, 5), np.nan)
    size[::4] = rng.dirichlet(np.ones(5), size=10)
    size[8, 2] = -0.3                                               # a short
    fees, slip = 0.02, 0.01
    _, assets, cash = from_orders(close, size, np.array([5], dtype=np.int64), np.array([1000.0]),
                                  np.full((1, 5), fees), np.full((1, 5), slip))
    rows = np.arange(0, 40, 4, dtype=np.int64)
    value, cash_rows, *_ = simulate_batch_nb(
        close, np.ascontiguousarray(close.T), np.zeros(5, dtype=bool), np.arange(5, dtype=np.int64), np.array([0, 5]), rows, np.array([0, len(rows)]),
        size[rows].ravel(), np.array([0, size[rows].size]), np.arange(5, dtype=np.int64),
        np.empty(0, dtype=np.int64), np.array([0, 0]), np.empty(0), np.array([0, 0]),
        np.array([0]), np.array([1000.0]), np.array([fees]), np.array([slip]), np.array([-1]),
        np.empty((0, 40)), np.array([0]), False)
    assert (cash_rows == cash[rows, 0]).all()
    held = np.full(40, 1000.0)
    step = np.searchsorted(rows, np.arange(40), side="right") - 1
    expect = np.where(step >= 0, cash[rows, 0][step] + (assets[rows][step] * close).sum(axis=1), 1000.0)
    assert np.allclose(value[0], expect, rtol=1e-13, atol=0) and not np.allclose(held, expect)


def test_real_snapshot_sweep_chunk_equals_vectorbt(snapshot_store):
    """A chunk of cap-weighted S&P 500 variants (caps, tilts, monthly/quarterly, costs; point-in-time
    membership, delistings) on the real snapshot: the fast path equals the vectorbt path variant by variant."""
    from backtest.config import load_config
    from backtest.data.inputs import load_inputs
    from backtest.plans import build_plans
    from backtest.sweep import chunk_payloads, expand_variants

    import textwrap
    import tempfile
    from pathlib import Path

    text = textwrap.dedent("""\
        name: fast-path
        start: 2018-01-01
        end: 2021-12-31
        benchmark: SPY
        costs: {commission_bps: 1, slippage_bps: 2}
        strategies:
          - name: Cap tilt
            weighting: cap
            universe: sp500
            tilt: {group: mag7, multiplier: 1.5}
            caps: {single: 0.05}
        sweep:
          grid:
            caps.single: [0.03, 0.08]
            tilt.multiplier: [0.5, 3.0]
            rebalance: [monthly, quarterly]
            costs.commission_bps: [0, 40]
        """)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.yaml"
        path.write_text(text)
        swept, variants, _ = expand_variants(load_config(path))
    inputs = load_inputs(swept, snapshot_store, offline=True)
    (chunk,) = chunk_payloads(swept, 64)
    built = build_plans(chunk, inputs)
    assert len(built.plans) == 16 and all(supports(p) for p in built.plans.values())
    oracle = _oracle(built.prices, built.plans, chunk.fill, inputs.calendar[0])
    batch = simulate_many(built.prices, built.plans, capital=chunk.capital, fill=chunk.fill,
                          base=inputs.calendar[0])
    _assert_same(batch, oracle)
    fees = batch.fees.sum()
    free = [n for n in fees.index if n.endswith("commission_bps=0]")]
    assert len(free) == 8 and (fees[free] == 0).all() and (fees.drop(free) > 0).all()
    assert all(any("prices end mid-run" in n for n in batch.notes[name]) for name in built.plans)
    assert len({tuple(t.index) for t in batch.turnover.values()}) == 2      # monthly and quarterly
    # the sweep's metrics from the fast path equal those from the vectorbt path, variant by variant
    import json

    from backtest import metrics as M
    from backtest.data.inputs import risk_free_returns
    from backtest.runner import simulate_benchmarks
    from backtest.sweep import _metrics, simulate_plans

    bench = M.simple_returns(simulate_benchmarks(swept, inputs)[swept.benchmark], swept.capital)
    rf = risk_free_returns(swept, inputs)
    equity, fees, slippage, borrow, turnover, notes = simulate_plans(built, inputs, capital=chunk.capital,
                                                                     fill=chunk.fill)
    assert borrow == dict.fromkeys(built.plans, 0.0)
    fast = _metrics(equity, fees, slippage, turnover, built.plans, chunk, bench, rf, borrow)
    slow = _metrics(pd.DataFrame({n: s.equity for n, s in oracle.items()}),
                    pd.DataFrame({n: s.fees for n, s in oracle.items()}),
                    pd.DataFrame({n: s.slippage for n, s in oracle.items()}),
                    {n: s.turnover for n, s in oracle.items()}, built.plans, chunk, bench, rf)
    assert json.dumps(fast) == json.dumps(slow)
    assert notes == {n: s.notes for n, s in oracle.items()}
    assert len({m["cagr"] for m in fast.values()}) == 16


@pytest.mark.parametrize("fill", ["next_close", "close"])
def test_a_short_that_outgrows_the_account_is_reported_the_same_by_both_paths(fill):
    """A short name that rises 20x takes a 100/100 long/short below zero: both paths give the same values and
    the same warning (the first day at or below zero, the lowest value, what to do); a 130/30 rebalanced daily
    stays above zero and has none."""
    cal = pd.bdate_range("2020-01-01", periods=120, name="date")
    prices = pd.DataFrame({"BOND": np.linspace(100.0, 104.0, 120), "ROCKET": np.geomspace(10.0, 200.0, 120)},
                          index=cal)

    def mk(weights, days=cal[:1]):
        return pd.DataFrame([weights] * len(days), index=days)

    plans = {"ls": StrategyPlan(mk({"BOND": 1.0, "ROCKET": -1.0}), commission_bps=5),
             "ls fee": StrategyPlan(mk({"BOND": 1.0, "ROCKET": -1.0}), expense_ratio=0.02),
             "130/30": StrategyPlan(mk({"BOND": 1.3, "ROCKET": -0.3}, cal[:-1]))}
    base = cal[1] if fill == "next_close" else cal[0]
    oracle = _oracle(prices, plans, fill, base)
    batch = simulate_many(prices, plans, capital=1e6, fill=fill, base=base)
    _assert_same(batch, oracle)
    for name in ("ls", "ls fee"):
        equity = oracle[name].equity
        first, low = equity.index[equity.to_numpy() <= 0][0], equity.idxmin()
        assert equity.min() < -5e6
        assert batch.notes[name][-1] == (
            f"{name}: the value fell to zero or below on {first:%Y-%m-%d} ({equity[first]:,.0f}; lowest "
            f"{equity.min():,.0f} on {low:%Y-%m-%d}): a short position outgrew the account, which a broker "
            "would have closed. Nothing after that date is meaningful (the value, returns and cash flows; "
            "its metrics are NaN); fix: rebalance more often or lower the short share")
    assert (oracle["130/30"].equity > 0).all()
    assert not any("zero or below" in n for n in batch.notes["130/30"])


def test_plans_with_a_borrow_fee_fall_back_to_vectorbt():
    """`simulate_plans` sends what the kernel does not support (a borrow fee) to `simulate`, the rest to the
    kernel, and returns both in plan order, equal to the vectorbt path."""
    import dataclasses
    from types import SimpleNamespace

    from backtest.sweep import simulate_plans

    prices, plans = _random_case(11)
    plans["short"] = dataclasses.replace(plans["short"], borrow_fee=0.03)
    assert not supports(plans["short"]) and supports(plans["short costly"])
    base = prices.index[1]
    oracle = _oracle(prices, plans, "next_close", base)
    built = SimpleNamespace(prices=prices, plans=plans)
    inputs = SimpleNamespace(calendar=prices.index[1:])
    equity, fees, slippage, borrow, turnover, notes = simulate_plans(built, inputs, capital=1e6,
                                                                     fill="next_close")
    assert list(equity.columns) == list(plans) == list(fees.columns) == list(slippage.columns) == list(turnover)
    for name, sim in oracle.items():
        assert (equity[name].to_numpy() == sim.equity.to_numpy()).all(), name
        assert (fees[name].to_numpy() == sim.fees.to_numpy()).all(), name
        assert (slippage[name].to_numpy() == sim.slippage.to_numpy()).all(), name
        assert borrow[name] == sim.borrow_charged, name
        pd.testing.assert_series_equal(turnover[name], sim.turnover, check_exact=True)
        assert notes[name] == sim.notes
    assert any("borrow fee" in n for n in notes["short"])
    assert borrow["short"] > 0 and borrow["short costly"] == 0.0
    with pytest.raises(SimulationError, match="need the vectorbt path"):
        simulate_many(prices, plans, capital=1e6, base=base)


def test_threads_give_identical_results():
    """Variants run side by side on numba's threads: 1 and 2 threads give the same bits (each variant writes
    only its own outputs; daily values go by holding period), and numba's threading layer loads."""
    import numba

    prices, plans = _random_case(3, n_names=40, n_days=400)
    more = {f"{n} x{j}": dataclasses.replace(p, commission_bps=p.commission_bps + j)
            for j in range(3) for n, p in plans.items()}
    base = prices.index[1]
    one = simulate_many(prices, more, capital=1e6, base=base, threads=1)
    two = simulate_many(prices, more, capital=1e6, base=base, threads=2)
    assert numba.threading_layer() in ("tbb", "omp", "workqueue")
    assert (one.equity.to_numpy() == two.equity.to_numpy()).all() and one.equity.columns.equals(two.equity.columns)
    assert (one.fees.to_numpy() == two.fees.to_numpy()).all()
    assert (one.slippage.to_numpy() == two.slippage.to_numpy()).all()
    assert all(one.turnover[n].equals(two.turnover[n]) for n in more) and one.notes == two.notes
    _assert_same(two, _oracle(prices, more, "next_close", base))
    assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS     # the caller's setting is restored
    # several Python threads at once (a Dask worker's): one thread each runs on the calling thread, more
    # take turns at numba's pool; the same bits either way
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(lambda t: simulate_many(prices, more, capital=1e6, base=base, threads=t), [1, 2, 1, 2]))
    assert all((r.equity.to_numpy() == one.equity.to_numpy()).all() and r.notes == one.notes for r in runs)
    with pytest.raises(SimulationError, match="threads=0; expected a whole number >= 1"):
        simulate_many(prices, more, capital=1e6, base=base, threads=0)


def test_filled_closes_equal_pandas_ffill_bfill():
    """The kernel's filled closes are ``prices[used].ffill().bfill()``: leading, inner and trailing gaps, a
    name with no close at all (stays NaN), an infinite close (kept, not a gap), names taken out of order,
    and a frame with a repeated column name."""
    from backtest.engine.batch import filled_closes

    rng = np.random.default_rng(5)
    raw = rng.uniform(1, 2, size=(30, 6))
    raw[:4, 0] = np.nan
    raw[10:13, 1] = np.nan
    raw[25:, 2] = np.nan
    raw[:, 3] = np.nan
    raw[7, 4] = np.inf
    used = ["d", "a", "e", "b", "c"]
    for columns in (list("abcdef"), list("abcdea")):
        frame = pd.DataFrame(raw, columns=columns)
        expect = frame[used].ffill().bfill().to_numpy()
        before = frame.to_numpy().copy()
        filled, filled_t = filled_closes(frame, used)
        np.testing.assert_array_equal(filled, expect)
        np.testing.assert_array_equal(filled_t, expect.T)
        assert filled.flags.c_contiguous and filled_t.flags.c_contiguous
        np.testing.assert_array_equal(frame.to_numpy(), before)      # the prices themselves are left alone


def test_hinted_sort_equals_numbas_stable_argsort():
    """The call sequence's sort (`batch_nb._sorted_by_key`) gives numba's ``argsort(kind="mergesort")``
    (vectorbt's order: stable, NaN last) whatever permutation it starts from: a sorted start, a few pairs
    out of place (repaired by insertion), a reversed one (too far off: merge sort), with ties, -0.0 against
    0.0, NaN keys and single/empty inputs."""
    from numba import njit

    from backtest.engine.batch_nb import _sorted_by_key

    @njit
    def reference(keys):
        return np.argsort(keys, kind="mergesort")

    rng = np.random.default_rng(11)
    for trial in range(300):
        m = int(rng.integers(0, 90))
        keys = np.round(rng.normal(size=m), int(rng.integers(0, 3)))        # rounding makes ties
        keys[rng.uniform(size=m) < 0.05] = np.nan
        keys[rng.uniform(size=m) < 0.05] = -0.0
        keys[rng.uniform(size=m) < 0.05] = 0.0
        want = reference(keys)
        near = want.copy()
        for _ in range(3):
            if m > 1:
                i = int(rng.integers(0, m - 1))
                near[i], near[i + 1] = near[i + 1], near[i]
        for hint, use in ((np.arange(m), False), (want.copy(), True), (near, True), (want[::-1].copy(), True),
                          (rng.permutation(m), True)):
            order = np.empty(m + 3, dtype=np.int64)
            work = np.empty(m + 3)
            _sorted_by_key(np.concatenate([keys, [1.0, 2.0, 3.0]]), m, order, work,
                           np.concatenate([hint, [0, 0, 0]]).astype(np.int64), use)
            assert (order[:m] == want).all(), (trial, use)
