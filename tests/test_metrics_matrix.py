"""`compute_metrics_many` equals `compute_metrics` column by column, key for key, bit for bit (json bytes).

Bit for bit is stronger than the 1e-9 the sweeps need, and it is what they rely on: a sweep's metrics.json
must be the bytes `bt run` writes for the same strategy (tests/test_sweep.py)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from backtest import metrics as M
from backtest.metrics_matrix import compute_metrics_many, matrix_columns, relative_metrics_many

CAPITAL = 1e6


def _expected(equity, capital, bench, rf, turnover, fees, rebalances, expense, from_base=True,
              slippage=None, borrow=None) -> dict:
    """What `bt run` computes for each column, one `compute_metrics` call per column."""
    out = {}
    for c in equity.columns:
        out[c] = M.compute_metrics(
            M.simple_returns(equity[c], capital), bench, rf,
            turnover=None if turnover is None else turnover[c].dropna(),
            fees=None if fees is None else fees[c], equity=equity[c],
            rebalances=None if rebalances is None else rebalances.get(c),
            expense_ratio=0.0 if expense is None else expense.get(c, 0.0), from_base=from_base,
            slippage=None if slippage is None else slippage[c],
            borrow_charged=0.0 if borrow is None else borrow.get(c, 0.0))
    return out


def _check(equity, capital, bench, rf, turnover=None, fees=None, rebalances=None, expense=None,
           slippage=None, borrow=None) -> dict:
    """`compute_metrics_many`'s result, asserted equal to `_expected`'s."""
    got = compute_metrics_many(equity, capital, bench, rf, turnover=turnover, fees=fees,
                               rebalances=rebalances, expense_ratio=expense, slippage=slippage,
                               borrow_charged=borrow)
    _assert_same(got, _expected(equity, capital, bench, rf, turnover, fees, rebalances, expense,
                                slippage=slippage, borrow=borrow))
    return got


BORROW = {"s2": 0.03, "twin": 0.0004}      # borrow fee charged over the run (others: none)


def _slippage_of(fees: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Daily slippage for the random cases: on most of the days with fees, plus a few others (NaN: 0)."""
    rng = np.random.default_rng(seed + 100)
    out = fees.fillna(0.0) * rng.uniform(0.5, 3.0, fees.shape) + rng.uniform(0, 20, fees.shape) * (
        rng.uniform(size=fees.shape) < 0.01)
    out.iloc[::7, 3] = np.nan
    return out


def _assert_same(got: dict, want: dict) -> None:
    assert list(got) == list(want)
    for c in want:
        assert list(got[c]) == list(want[c]), c                      # same keys, same order
        assert json.dumps(got[c]) == json.dumps(want[c]), (c, _diff(got[c], want[c]))


def _diff(a: dict, b: dict) -> dict:
    return {k: (a[k], b[k]) for k in b if json.dumps(a[k]) != json.dumps(b[k])}


def _random_case(seed: int, n: int, start: str = "2019-03-14"):
    """Value series of several kinds on a business-day calendar that starts and ends mid-month and mid-year
    (partial first and last months and years), with fees, turnover on (and off) the rebalance days."""
    rng = np.random.default_rng(seed)
    cal = pd.bdate_range(start, periods=n, name="date")
    bench_r = rng.normal(3e-4, 0.011, n)
    bench_r[0] = -5e-4                                                # the benchmark's opening fee
    cols = {}
    for j in range(6):                                                # ordinary variants, some with costs
        r = 0.6 * bench_r + rng.normal(1e-4 * (j - 3), 0.003 + 0.003 * j, n)
        r[0] = -1e-3 * (j % 3)                                        # opening fees: day one under water
        cols[f"s{j}"] = CAPITAL * np.cumprod(1 + r)
    cols["flat"] = np.full(n, CAPITAL)                                # zero volatility, no drawdown
    cols["rising"] = CAPITAL * 1.0002 ** np.arange(n)                 # never under water
    sink = CAPITAL * np.cumprod(1 + np.r_[0.0, rng.normal(2e-4, 0.01, n - 1)])
    sink[n // 2:] = sink[n // 2] * np.linspace(0.9, 0.5, n - n // 2)   # ends deep under water, never recovers
    cols["sink"] = sink
    twin = np.full(n, 100.0)                                          # two episodes exactly as deep, and a
    twin[1:6] = [90.0, 95.0, 90.0, 100.0, 90.0][:n - 1]               # trough reached twice in the first
    twin[6:] = 100.0 + np.arange(max(n - 6, 0)) * 0.01
    cols["twin"] = twin * CAPITAL / 100.0
    equity = pd.DataFrame(cols, index=cal)
    fees = pd.DataFrame(rng.uniform(0, 50, equity.shape) * (rng.uniform(size=equity.shape) < 0.05),
                        index=cal, columns=equity.columns)
    fees.iloc[:, 1] = np.nan                                          # NaN fees count as 0
    step = max(n // 12, 1)
    rebalance_days = cal[::step]
    forced = cal[step // 2::step * 3]                                 # trades off the schedule: forced sales
    exec_days = rebalance_days.union(forced)
    turnover = pd.DataFrame(rng.uniform(0, 0.2, (len(exec_days), equity.shape[1])), index=exec_days,
                            columns=equity.columns)
    turnover.iloc[rng.uniform(size=turnover.shape) < 0.2] = np.nan     # some days without a trade
    turnover.iloc[0, 0] = 0.0                                         # the opening rebalance traded nothing
    turnover["flat"] = np.nan                                         # never traded
    turnover["rising"] = 0.0                                          # zero turnover throughout
    rebalances = {c: rebalance_days for c in equity.columns if c != "s3"}     # s3: None, every traded day
    rebalances["s4"] = rebalance_days[1:]                             # opening fill without turnover
    rebalances["s5"] = pd.DatetimeIndex([])
    expense = {c: 0.001 * i for i, c in enumerate(equity.columns) if i % 2}
    bench = pd.Series(bench_r, index=cal)
    rf = pd.Series(rng.uniform(0, 2e-4, n), index=cal).iloc[5:]        # missing days count as 0
    return equity, fees, turnover, rebalances, expense, bench, rf


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("with_bench,with_rf", [(True, True), (True, False), (False, True), (False, False)])
def test_equals_compute_metrics_on_random_matrices(seed, with_bench, with_rf):
    equity, fees, turnover, rebalances, expense, bench, rf = _random_case(seed, 900 + 250 * seed)
    bench, rf = (bench if with_bench else None), (rf if with_rf else None)
    _check(equity, CAPITAL, bench, rf, turnover, fees, rebalances, expense, _slippage_of(fees, seed), BORROW)


def test_the_cases_are_the_ones_named():
    """The random matrices hold what they claim: else the equality above would test less than it says."""
    equity, fees, turnover, rebalances, expense, bench, rf = _random_case(0, 900)
    got = _check(equity, CAPITAL, bench, rf, turnover, fees, rebalances, expense, _slippage_of(fees, 0), BORROW)
    flat = got["flat"]
    assert flat["volatility"] == 0.0 and np.isnan(flat["calmar"]) and np.isnan(flat["skew"])
    assert np.isnan(flat["correlation"]) and flat["total_turnover"] == 0.0
    assert got["rising"]["longest_drawdown_days"] == 0.0 and np.isnan(got["rising"]["max_drawdown_peak"])
    assert got["rising"]["n_rebalances"] == 0.0 and got["rising"]["initial_turnover"] == 0.0
    sink = got["sink"]
    assert np.isnan(sink["max_drawdown_recovery"]) and np.isnan(sink["max_drawdown_recovery_days"])
    assert sink["max_drawdown_trough"] == equity.index[-1].strftime("%Y-%m-%d")
    twin = got["twin"]                                               # the first of two equal episodes, and
    assert (twin["max_drawdown_peak"], twin["max_drawdown_trough"], twin["max_drawdown_recovery"]) == (
        "2019-03-14", "2019-03-15", "2019-03-20")                      # the first of two equal troughs
    assert twin["max_drawdown"] == pytest.approx(-0.1, abs=1e-15)
    assert M.drawdown(M.simple_returns(equity["s1"], CAPITAL)).iloc[0] < 0     # under water from day one
    assert got["s0"]["initial_turnover"] == 0.0 and got["s1"]["initial_turnover"] > 0.0
    assert got["s2"]["n_forced_sales"] > 0 and got["s3"]["n_forced_sales"] == 0.0      # None: all planned
    assert got["s5"]["n_rebalances"] == 0.0 and got["s5"]["initial_turnover"] == 0.0
    assert got["s1"]["fees_paid"] == 0.0 and got["s1"]["expense_ratio"] == 0.001
    assert got["s1"]["cost_drag"] == got["s1"]["slippage_drag"] + 0.001 and got["s1"]["slippage_paid"] > 0
    assert got["s3"]["fees_paid"] > 0 and got["s3"]["cost_drag"] > got["s3"]["expense_ratio"] == 0.003
    assert got["s2"]["borrow_drag"] == 0.03 / M.span_years(equity.index) and got["s0"]["borrow_drag"] == 0.0
    for m in got.values():                          # every cost in cost_drag
        assert m["cost_drag"] == m["fee_drag"] + m["slippage_drag"] + m["expense_ratio"] + m["borrow_drag"]
    assert equity.index[0].month == 3 and equity.index[-1].month not in (3, 12)      # partial months, years


@st.composite
def tied_case(draw):
    """Values on a few integer levels: exact ties of depth and trough, flat spells, recoveries exactly at the
    peak, spells under water at the start and at the end; turnover 0, NaN or positive on any day."""
    n, k = draw(st.integers(2, 70)), draw(st.integers(1, 4))
    cal = pd.bdate_range(draw(st.dates(pd.Timestamp("2015-01-01").date(), pd.Timestamp("2024-12-20").date())),
                         periods=n, name="date")
    names = [f"v{j}" for j in range(k)]
    equity = pd.DataFrame(draw(arrays(np.int64, (n, k), elements=st.integers(96, 104))).astype(float),
                          index=cal, columns=names)
    turnover = pd.DataFrame(draw(arrays(float, (n, k), elements=st.sampled_from([np.nan, 0.0, 0.125, 0.5]))),
                            index=cal, columns=names)
    fees = pd.DataFrame(draw(arrays(float, (n, k), elements=st.sampled_from([0.0, 0.25, np.nan]))),
                        index=cal, columns=names)
    every = draw(st.integers(1, 5))
    rebalances = {c: cal[draw(st.integers(0, every - 1))::every] for c in names if draw(st.booleans())}
    bench = pd.Series(draw(arrays(np.int64, n, elements=st.integers(-3, 3))) / 100.0, index=cal)
    rf = pd.Series(0.0001, index=cal) if draw(st.booleans()) else None
    capital = draw(st.sampled_from([None, 100.0, 103.0]))
    return equity, capital, bench if draw(st.booleans()) else None, rf, turnover, fees, rebalances


@settings(max_examples=150, deadline=None, derandomize=True)
@given(case=tied_case())
def test_integer_levels_with_ties_and_flat_spells(case):
    equity, capital, bench, rf, turnover, fees, rebalances = case
    _check(equity, capital, bench, rf, turnover, fees, rebalances, {"v0": 0.01})


@pytest.mark.parametrize("n", [2, 3, 4, 5, 23])
def test_short_series(n):
    equity, fees, turnover, rebalances, expense, bench, rf = _random_case(7, n, start="2020-12-30")
    _check(equity, CAPITAL, bench, rf, turnover, fees, rebalances, expense, _slippage_of(fees, 7), BORROW)


@pytest.mark.parametrize("from_base", [True, False])
def test_without_capital_turnover_or_fees_and_not_from_base(from_base):
    equity, _, _, _, _, bench, rf = _random_case(3, 700)
    got = compute_metrics_many(equity, None, bench, rf, from_base=from_base)
    _assert_same(got, _expected(equity, None, bench, rf, None, None, None, None, from_base))
    assert np.isnan(got["s0"]["fees_paid"]) and np.isnan(got["s0"]["expense_ratio"])
    assert np.isnan(got["s0"]["slippage_paid"]) and np.isnan(got["s0"]["cost_drag"])


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")   # compute_metrics on an infinite return
def test_columns_outside_the_matrix_path_are_computed_one_by_one():
    equity, fees, turnover, rebalances, expense, bench, rf = _random_case(2, 400)
    equity.iloc[10:20, 2] = np.nan                                    # a gap in one column
    equity.iloc[30, 4] = 0.0                                          # a zero value: an infinite return
    slippage = _slippage_of(fees, 2)
    assert matrix_columns(equity, CAPITAL, bench, fees).tolist() == [j not in (2, 4) for j in range(10)]
    assert matrix_columns(equity, CAPITAL, bench, fees, slippage).tolist() == [j not in (2, 4) for j in range(10)]
    assert not matrix_columns(equity, CAPITAL, bench.iloc[3:], fees).any()
    assert not matrix_columns(equity, CAPITAL, bench, fees, slippage.iloc[1:]).any()
    for b in (bench, bench.iloc[3:]):                     # a benchmark on other dates: every column
        _check(equity, CAPITAL, b, rf, turnover, fees, rebalances, expense, slippage)
    _check(equity, CAPITAL, bench, rf, turnover, fees, rebalances, expense, slippage.iloc[1:])


def test_a_column_does_not_depend_on_its_neighbours():
    equity, fees, turnover, rebalances, expense, bench, rf = _random_case(1, 800)
    slippage = _slippage_of(fees, 1)
    whole = compute_metrics_many(equity, CAPITAL, bench, rf, turnover=turnover, fees=fees,
                                 rebalances=rebalances, expense_ratio=expense, slippage=slippage)
    for c in ("s1", "twin"):
        alone = compute_metrics_many(equity[[c]], CAPITAL, bench, rf, turnover=turnover[[c]], fees=fees[[c]],
                                     rebalances=rebalances, expense_ratio=expense, slippage=slippage[[c]])
        assert json.dumps(alone[c]) == json.dumps(whole[c])


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")   # relative_metrics on an infinite return
@pytest.mark.parametrize("with_rf", [True, False])
def test_relative_metrics_many(with_rf):
    """Against a further benchmark or a control: `relative_metrics` of each column, an infinite return too."""
    equity, _, _, _, _, bench, rf = _random_case(5, 1100)
    rf = rf if with_rf else None
    equity.iloc[40, 3] = np.inf
    other = M.simple_returns(equity["s1"], CAPITAL)                  # a control strategy as the benchmark
    for b in (bench, other, bench.iloc[2:]):                        # the last on other dates: one by one
        got = relative_metrics_many(equity, CAPITAL, b, rf)
        want = {c: M.relative_metrics(M.simple_returns(equity[c], CAPITAL), b, rf, from_base=True)
                for c in equity.columns}
        assert json.dumps(got) == json.dumps(want)
    itself = relative_metrics_many(equity, CAPITAL, other, rf)["s1"]
    assert itself["tracking_error"] == 0.0 and itself["excess_return"] == 0.0
    assert itself["beta"] == pytest.approx(1.0, abs=1e-12) and itself["up_capture"] == pytest.approx(1.0)


@pytest.mark.parametrize("from_base", [True, False])
def test_a_base_alone_in_its_month(from_base):
    """A base close on a month end (2019-05-31, as 2015-12-31 for a run from 2016): ``from_base`` folds it
    into June, for the capture ratios as for every monthly metric, against a benchmark and a control alike;
    without it, it is a month of its own. The matrix equals `compute_metrics`/`relative_metrics` either way."""
    equity, fees, turnover, rebalances, expense, bench, rf = _random_case(4, 700, start="2019-05-31")
    got = compute_metrics_many(equity, CAPITAL, bench, rf, turnover=turnover, fees=fees, rebalances=rebalances,
                               expense_ratio=expense, from_base=from_base)
    _assert_same(got, _expected(equity, CAPITAL, bench, rf, turnover, fees, rebalances, expense, from_base))
    control = M.simple_returns(equity["s2"], CAPITAL)                # pays an opening fee, as the variants do
    for b in (bench, control):
        rel = relative_metrics_many(equity, CAPITAL, b, rf, from_base=from_base)
        want = {c: M.relative_metrics(M.simple_returns(equity[c], CAPITAL), b, rf, from_base=from_base)
                for c in equity.columns}
        assert json.dumps(rel) == json.dumps(want)
    other = compute_metrics_many(equity, CAPITAL, bench, rf, from_base=not from_base)
    # the benchmark's opening fee alone is a down "May 2019" unless folded into June: the base's month matters
    assert other["s1"]["down_capture"] != got["s1"]["down_capture"]


def test_a_missing_turnover_column_is_an_error():
    equity, fees, turnover, *_ = _random_case(0, 100)
    with pytest.raises(ValueError, match=r"turnover has no column for \['s0'\]"):
        compute_metrics_many(equity, CAPITAL, None, None, turnover=turnover.drop(columns="s0"))


def test_real_run_strategies(rotation_run):
    """The strategies of configs/rotation.yaml as saved (real values, fees and turnover), against the run's
    own benchmark and risk-free series; rebalances: month starts, so other trading days are forced sales."""
    from backtest.results import load_run

    run = load_run(rotation_run)
    equity = pd.DataFrame({s.name: s.equity for s in run.strategies})
    fees = pd.DataFrame({s.name: s.fees for s in run.strategies}).reindex(equity.index)
    turnover = pd.DataFrame({s.name: s.turnover for s in run.strategies})
    assert len(equity.columns) >= 4 and len(equity) > 2000 and (turnover.fillna(0) > 0).sum().min() > 10
    first_days = equity.index.to_series().groupby(equity.index.to_period("M")).min()
    rebalances = {c: pd.DatetimeIndex(first_days.to_numpy()) for c in equity.columns}
    expense = {c: 0.0009 for c in equity.columns}
    capital = float(run.config["capital"])
    bench = M.simple_returns(run.benchmark, capital)
    got = _check(equity, capital, bench, run.risk_free, turnover, fees, rebalances, expense)
    assert any(m["n_forced_sales"] > 0 for m in got.values())


def test_real_prices_from_the_snapshot(snapshot_store):
    """Buy-and-hold values of real ETFs from the snapshot against SPY, with their own calendar."""
    prices = snapshot_store.prices(["SPY", "QQQ", "IWN", "TLT", "GLD"], start="2016-01-01", end="2026-06-30")
    prices = prices.dropna()
    assert len(prices) > 2000
    equity = CAPITAL * prices / prices.iloc[0] * 0.999                # an opening fee of 0.1%
    bench = M.simple_returns(equity["SPY"], CAPITAL)
    got = _check(equity, CAPITAL, bench, None)
    assert got["SPY"]["beta"] == pytest.approx(1.0, abs=1e-12) and got["SPY"]["tracking_error"] == 0.0


SWEEP = """\
name: chunk
start: 2019-01-01
end: 2021-06-30
benchmark: SPY
risk_free: BIL
strategies:
  - name: Core
    weighting: fixed
    weights: {SPY: 0.5, IWN: 0.3, TLT: 0.2}
    costs: {commission_bps: 5, slippage_bps: 2}
    expense_ratio: 0.002
sweep:
  grid:
    rebalance: [monthly, quarterly, {every: daily, drift: {absolute: 0.02}}]
    costs.commission_bps: [0, 10]
"""


def test_a_sweep_chunk_is_computed_on_the_matrix(snapshot_store, tmp_path):
    """A real chunk (`sweep.simulate_chunk`, risk-free BIL, drift bands, costs, an expense ratio): every
    variant on the matrix path, each variant's metrics those of `compute_metrics` (as `bt run` has them)."""
    from backtest.config import load_config
    from backtest.data.inputs import load_inputs, risk_free_returns
    from backtest.plans import build_plans
    from backtest.results import rebalance_fills
    from backtest.runner import simulate_benchmarks
    from backtest.sweep import chunk_payloads, expand_variants, simulate_chunk, simulate_plans

    path = tmp_path / "sweep.yaml"
    path.write_text(SWEEP)
    swept, variants, _ = expand_variants(load_config(path))
    inputs = load_inputs(swept, snapshot_store, offline=True)
    bench = M.simple_returns(simulate_benchmarks(swept, inputs)[swept.benchmark], swept.capital)
    rf = risk_free_returns(swept, inputs)
    assert rf is not None and rf.abs().sum() > 0
    (payload,) = chunk_payloads(swept, 64)
    outcomes = simulate_chunk(payload, inputs, bench, rf)
    assert len(outcomes) == len(variants) == 6
    equity = pd.DataFrame({o.name: o.equity for o in outcomes})
    fees = pd.DataFrame({o.name: o.fees for o in outcomes})
    assert matrix_columns(equity, swept.capital, bench, fees).all()
    built = build_plans(payload, inputs)
    _, _, slippage, _, _, _ = simulate_plans(built, inputs, capital=swept.capital, fill=swept.fill)
    assert matrix_columns(equity, swept.capital, bench, fees, slippage).all()
    for o in outcomes:
        plan = built.plans[o.name]
        want = M.compute_metrics(M.simple_returns(o.equity, swept.capital), bench, rf, turnover=o.turnover,
                                 fees=o.fees, equity=o.equity, from_base=True, slippage=slippage[o.name],
                                 expense_ratio=plan.expense_ratio,
                                 rebalances=rebalance_fills(plan.targets.index, o.equity.index, swept.fill))
        assert json.dumps(o.metrics) == json.dumps(want), o.name
    m = {o.name: o.metrics for o in outcomes}
    assert len({v["n_rebalances"] for v in m.values()}) == 3
    assert all(v["expense_ratio"] == 0.002 and v["fees_paid"] >= 0 for v in m.values())
    assert all(v["slippage_paid"] > 0 and v["cost_drag"] > v["fee_drag"] + v["expense_ratio"] for v in m.values())


def test_a_value_at_or_below_zero_is_computed_as_compute_metrics_computes_it():
    """A column whose value reaches zero or below (a short that outgrew the account) leaves the matrix path:
    `compute_metrics` gives it NaN for every metric but the dates, as one by one, without a RuntimeWarning
    (the capture ratios' powers of a negative growth warned); its neighbours are unchanged."""
    import warnings

    equity, fees, turnover, rebalances, expense, bench, rf = _random_case(3, 700)
    before = compute_metrics_many(equity, CAPITAL, bench, rf, turnover=turnover, fees=fees,
                                  rebalances=rebalances, expense_ratio=expense)
    equity["s2"] = equity["s2"] - equity["s2"].iloc[200] * np.linspace(0.0, 3.0, len(equity))   # below 0
    equity["s3"] = equity["s3"].where(equity.index < equity.index[300], 0.0)                  # exactly 0
    assert matrix_columns(equity, CAPITAL, bench, fees).tolist() == [c not in ("s2", "s3") for c in equity]
    with np.errstate(all="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        got = _check(equity, CAPITAL, bench, rf, turnover, fees, rebalances, expense)
        against = relative_metrics_many(equity, CAPITAL, bench, rf)
    for c in ("s2", "s3"):
        assert [k for k, v in got[c].items() if not (isinstance(v, float) and np.isnan(v))] == \
            ["start", "end", "years"], c
        assert all(np.isnan(v) for v in against[c].values())
    for c in equity.columns.drop(["s2", "s3"]):
        assert json.dumps(got[c]) == json.dumps(before[c])


def test_against_a_control_whose_value_reached_zero_every_relative_metric_is_nan():
    """A control (a benchmark of the relative metrics) whose value reached zero or below: every strategy's
    metrics against it are NaN, on both paths, without RuntimeWarnings (they were numbers: a tracking error
    of 850%, and a warning from the capture's powers)."""
    import warnings

    equity, fees, turnover, rebalances, expense, bench, rf = _random_case(3, 700)
    wiped = bench.copy()
    wiped.iloc[300] = -1.2                       # the control's value crosses zero there
    with np.errstate(all="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        many = relative_metrics_many(equity, CAPITAL, wiped, rf)
        one = {c: M.relative_metrics(M.simple_returns(equity[c], CAPITAL), wiped, rf, from_base=True)
               for c in equity.columns}
    for c in equity.columns:
        assert all(np.isnan(v) for v in many[c].values()) and all(np.isnan(v) for v in one[c].values()), c
    # as the primary benchmark too: the matrix path gives what compute_metrics gives (NaN relative keys)
    assert not matrix_columns(equity, CAPITAL, wiped).any()
    with np.errstate(all="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        got = _check(equity, CAPITAL, wiped, rf, turnover, fees, rebalances, expense)
    assert all(np.isnan(got[c][k]) for c in equity.columns for k in M.RELATIVE_KEYS)
