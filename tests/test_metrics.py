"""Every metric against a hand calculation on a tiny series, plus the named edge cases."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from backtest import metrics as M

SQ252 = math.sqrt(252)


def series(values, dates) -> pd.Series:
    return pd.Series(values, index=pd.DatetimeIndex(pd.to_datetime(dates), name="date"), dtype=float)


@pytest.fixture
def a() -> pd.Series:
    """returns 0, +10%, -20%, +25%: wealth 1, 1.1, 0.88, 1.1."""
    return series([0.0, 0.10, -0.20, 0.25], ["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-06"])


# --- single-series metrics on `a` -------------------------------------------------------------------------
# mean = 0.15 / 4 = 0.0375; deviations -0.0375, 0.0625, -0.2375, 0.2125
# sum of squared deviations = 0.00140625 + 0.00390625 + 0.05640625 + 0.04515625 = 0.106875
VAR1 = 0.106875 / 3  # ddof=1
M2 = 0.106875 / 4  # population second moment


def test_simple_returns_start_at_zero():
    r = M.simple_returns(series([100.0, 110.0, 99.0], ["2020-01-01", "2020-01-02", "2020-01-03"]))
    assert r.tolist() == pytest.approx([0.0, 0.1, -0.1])


def test_total_return(a):
    assert M.total_return(a) == pytest.approx(0.1)  # 1.1 * 0.8 * 1.25 - 1


def test_cagr_is_calendar_day_based():
    # value 1 on 2020-01-01, 1.21 on 2022-01-01: 731 days -> 1.21 ** (365.25 / 731) - 1 (about 10%)
    r = series([0.0, 0.21], ["2020-01-01", "2022-01-01"])
    assert M.cagr(r) == pytest.approx(1.21 ** (365.25 / 731) - 1)
    assert M.cagr(r) == pytest.approx(0.1, abs=2e-4)


def test_volatility(a):
    assert M.annual_volatility(a) == pytest.approx(math.sqrt(VAR1) * SQ252)


def test_sharpe(a):
    assert M.sharpe_ratio(a) == pytest.approx(0.0375 / math.sqrt(VAR1) * SQ252)


def test_sharpe_with_risk_free(a):
    rf = pd.Series(0.001, index=a.index)  # a constant shift leaves the std unchanged
    assert M.sharpe_ratio(a, risk_free=rf) == pytest.approx(0.0365 / math.sqrt(VAR1) * SQ252)


def test_sortino(a):
    # downside: min(r, 0) = 0, 0, -0.2, 0 -> sqrt(0.04 / 4) = 0.1
    assert M.sortino_ratio(a) == pytest.approx(0.0375 / 0.1 * SQ252)


def test_skew_and_kurtosis(a):
    # cubes: -0.000052734375 + 0.000244140625 - 0.013396484375 + 0.009595703125 = -0.003609375
    assert M.skewness(a) == pytest.approx((-0.003609375 / 4) / M2**1.5)
    # fourth powers: 1.9775390625e-6 + 1.52587890625e-5 + 0.0031816650390625 + 0.0020390869140625
    m4 = 0.00523798828125 / 4
    assert M.kurtosis(a) == pytest.approx(m4 / M2**2 - 3)


def test_var_and_cvar(a):
    # sorted -0.2, 0, 0.1, 0.25; 5% quantile at position 0.05 * 3 = 0.15: -0.2 + 0.15 * 0.2 = -0.17
    assert M.value_at_risk(a) == pytest.approx(-0.17)
    assert M.conditional_value_at_risk(a) == pytest.approx(-0.2)  # mean of returns <= -0.17


def test_max_drawdown_and_dates(a):
    assert M.max_drawdown(a) == pytest.approx(-0.2)  # 0.88 / 1.1 - 1
    m = M.compute_metrics(a)
    assert (m["max_drawdown_peak"], m["max_drawdown_trough"], m["max_drawdown_recovery"]) == (
        "2020-01-02", "2020-01-03", "2020-01-06")
    assert m["max_drawdown_days"] == 4  # peak to recovery, calendar days
    assert m["max_drawdown_recovery_days"] == 3  # trough to recovery


def test_calmar(a):
    assert M.calmar_ratio(a) == pytest.approx(M.cagr(a) / 0.2)


def test_best_worst_day(a):
    assert (M.best_period(a, "D"), M.worst_period(a, "D")) == (0.25, -0.2)


def test_drawdown_table_two_episodes():
    # values 1, 1.1, 0.99, 1.2, 0.9, 1.0: episode 1 peak 1.1 -> 0.99 (-10%), recovered at 1.2;
    # episode 2 peak 1.2 -> 0.9 (-25%), still under water at the end
    dates = pd.to_datetime(["2021-01-01", "2021-01-05", "2021-01-10", "2021-01-20", "2021-02-01",
                            "2021-03-01"])
    r = M.simple_returns(series([1, 1.1, 0.99, 1.2, 0.9, 1.0], dates))
    table = M.drawdown_table(r)
    assert table["depth"].tolist() == pytest.approx([-0.1, -0.25])
    assert table["peak"].tolist() == [dates[1], dates[3]]
    assert table["trough"].tolist() == [dates[2], dates[4]]
    assert table["recovery"].iloc[0] == dates[3] and pd.isna(table["recovery"].iloc[1])
    assert table["days"].tolist() == [15, 40]  # 01-05 -> 01-20; 01-20 -> 03-01 (last date)
    assert table["recovery_days"].iloc[0] == 10 and math.isnan(table["recovery_days"].iloc[1])
    top = M.top_drawdowns(r, 5)
    assert top.index.tolist() == [1, 2] and top["depth"].tolist() == pytest.approx([-0.25, -0.1])
    m = M.compute_metrics(r)
    assert m["longest_drawdown_days"] == 40 and m["longest_recovery_days"] == 10
    assert isinstance(m["max_drawdown_recovery"], float) and math.isnan(m["max_drawdown_recovery"])


def test_first_return_negative_counts_as_drawdown():
    # without a leading 0 the starting value 1 is the first peak
    r = series([-0.1, -0.1], ["2020-01-01", "2020-01-02"])
    assert M.max_drawdown(r) == pytest.approx(-0.19)


# --- calendar periods ----------------------------------------------------------------------------------


@pytest.fixture
def monthly() -> pd.Series:
    # Jan-2020 0; Feb-2020 +5% then +10% = 1.05 * 1.1 - 1 = 15.5%; Mar-2020 -10%; Jan-2021 +20%
    return series([0.0, 0.05, 0.10, -0.10, 0.20], ["2020-01-31", "2020-02-14", "2020-02-28", "2020-03-31",
                                                  "2021-01-29"])


def test_months_and_years(monthly):
    m = M.period_returns(monthly, "M")
    assert m.tolist() == pytest.approx([0.0, 0.155, -0.1, 0.2])
    assert M.annual_returns(monthly).to_dict() == pytest.approx({2020: 1.155 * 0.9 - 1, 2021: 0.2})
    assert M.best_period(monthly, "M") == pytest.approx(0.2)
    assert M.worst_period(monthly, "M") == pytest.approx(-0.1)
    assert M.best_period(monthly, "Y") == pytest.approx(0.2)
    assert M.worst_period(monthly, "Y") == pytest.approx(0.0395)  # 1.155 * 0.9 - 1
    assert M.pct_positive_months(monthly) == pytest.approx(0.5)  # Feb-2020 and Jan-2021 out of 4


def test_monthly_table(monthly):
    t = M.monthly_returns_table(monthly)
    assert t.shape == (2, 12) and list(t.columns) == list(range(1, 13))
    assert t.loc[2020, 2] == pytest.approx(0.155) and math.isnan(t.loc[2021, 2])


def test_trailing_returns():
    values = series([100, 120, 150, 165], ["2015-06-30", "2017-06-30", "2019-12-31", "2020-06-30"])
    t = M.trailing_returns(M.simple_returns(values))
    assert t["trailing_ytd"] == pytest.approx(165 / 150 - 1)  # base 31 Dec 2019
    assert t["trailing_1y"] == pytest.approx(165 / 120 - 1)  # as-of base: last value on/before 2019-06-30
    # 2017-06-30 -> 2020-06-30 is 1096 days
    assert t["trailing_3y_ann"] == pytest.approx((165 / 120) ** (365.25 / 1096) - 1)
    assert t["trailing_5y_ann"] == pytest.approx((165 / 100) ** (365.25 / 1827) - 1)
    assert math.isnan(t["trailing_10y_ann"])  # history starts in 2015


# --- against a benchmark ---------------------------------------------------------------------------------
# r = 0, 2%, -1%, 3%  (mean 0.01)   deviations -0.01, 0.01, -0.02, 0.02
# b = 0, 1%, -1%, 2%  (mean 0.005)  deviations -0.005, 0.005, -0.015, 0.015
# sum dr*db = 0.00005 + 0.00005 + 0.0003 + 0.0003 = 0.0007; sum db^2 = 0.0005; sum dr^2 = 0.001


@pytest.fixture
def rb() -> tuple[pd.Series, pd.Series]:
    dates = ["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-04"]
    return series([0, 0.02, -0.01, 0.03], dates), series([0, 0.01, -0.01, 0.02], dates)


def test_beta_alpha(rb):
    r, b = rb
    assert M.beta(r, b) == pytest.approx(1.4)  # 0.0007 / 0.0005
    assert M.alpha(r, b) == pytest.approx((0.01 - 1.4 * 0.005) * 252)
    rf = pd.Series(0.001, index=r.index)
    assert M.beta(r, b, risk_free=rf) == pytest.approx(1.4)
    assert M.alpha(r, b, risk_free=rf) == pytest.approx((0.009 - 1.4 * 0.004) * 252)


def test_correlation_r2(rb):
    assert M.correlation(*rb) == pytest.approx(0.0007 / math.sqrt(0.001 * 0.0005))
    assert M.r_squared(*rb) == pytest.approx(0.98)  # 0.49e-6 / 0.5e-6


def test_tracking_error_information_ratio(rb):
    # r - b = 0, 0.01, 0, 0.01: mean 0.005, sum of squared deviations 4 * 0.000025 = 0.0001
    te = math.sqrt(0.0001 / 3) * SQ252
    assert M.tracking_error(*rb) == pytest.approx(te)
    assert M.information_ratio(*rb) == pytest.approx(0.005 * 252 / te)


def test_excess_return(rb):
    # growth 1.02 * 0.99 * 1.03 vs 1.01 * 0.99 * 1.02 over 3 calendar days
    g_r, g_b = 1.02 * 0.99 * 1.03, 1.01 * 0.99 * 1.02
    assert M.excess_return(*rb) == pytest.approx(g_r ** (365.25 / 3) - g_b ** (365.25 / 3))


def test_capture_ratios():
    dates = ["2020-01-31", "2020-02-28", "2020-03-31", "2020-04-30"]
    b = series([0.02, -0.01, 0.03, -0.02], dates)
    r = series([0.03, -0.005, 0.06, -0.01], dates)
    up = (math.sqrt(1.03 * 1.06) - 1) / (math.sqrt(1.02 * 1.03) - 1)  # geometric means over Jan, Mar
    down = (math.sqrt(0.995 * 0.99) - 1) / (math.sqrt(0.99 * 0.98) - 1)  # over Feb, Apr
    assert M.up_capture(r, b) == pytest.approx(up)
    assert M.down_capture(r, b) == pytest.approx(down)
    assert math.isnan(M.down_capture(r, b.abs()))  # no down months


def _plain_captures(r: pd.Series, b: pd.Series) -> tuple[float, float]:
    """Up and down capture as docs/report.md defines them, in plain pandas: month-end wealth (from 1, the
    capital before the base) over the previous month end's, the base day folded into the first month."""
    def monthly(x: pd.Series) -> pd.Series:
        ends = (1.0 + x).cumprod().iloc[1:].resample("ME").last()     # the base day is no month of its own
        return ends / ends.shift(1, fill_value=1.0) - 1.0

    def geo(x: pd.Series) -> float:
        return (1.0 + x).prod() ** (1.0 / len(x)) - 1.0

    rm, bm = monthly(r), monthly(b)
    return geo(rm[bm > 0]) / geo(bm[bm > 0]), geo(rm[bm < 0]) / geo(bm[bm < 0])


def test_captures_from_the_base_fold_the_base_day_into_the_first_month():
    """A run's base close (2019-12-31) opens January, as in `best_month`: against a benchmark without fees
    the opening fee counts in January (else it vanishes in a 0% "December"); against a control paying the
    same fee, the fee alone is no down month."""
    rng = np.random.default_rng(3)
    days = pd.bdate_range("2019-12-31", "2020-12-31")
    bench = pd.Series(rng.normal(3e-4, 0.01, len(days)), index=days)
    r = 1.2 * bench + rng.normal(0, 0.004, len(days))
    r.iloc[0], bench.iloc[0] = -0.01, 0.0                             # a 1% opening fee; the benchmark's: none
    control = 0.9 * bench + rng.normal(0, 0.004, len(days))
    control.iloc[0] = -0.01                                           # the control pays the fee too
    assert len(M.period_returns(r, "M", from_base=True)) == 12      # best_month's months: 2020's, no 2019
    for b in (bench, control):
        up, down = _plain_captures(r, b)
        m = M.compute_metrics(r, b, from_base=True)                   # as a run computes them
        assert m["up_capture"] == pytest.approx(up, rel=1e-12)
        assert m["down_capture"] == pytest.approx(down, rel=1e-12)
        rel = M.relative_metrics(r, b, from_base=True)
        assert (rel["up_capture"], rel["down_capture"]) == (m["up_capture"], m["down_capture"])
        assert (M.up_capture(r, b, from_base=True), M.down_capture(r, b, from_base=True)) == (
            m["up_capture"], m["down_capture"])
    # without from_base the base day is a month of its own (a series that does not start at a base)
    assert M.down_capture(r, bench) != pytest.approx(_plain_captures(r, bench)[1], rel=1e-6)


def test_benchmark_metrics_use_common_dates(rb):
    r, b = rb
    longer = pd.concat([series([0.5], ["2019-12-31"]), r])
    assert M.beta(longer, b) == pytest.approx(1.4)


# --- rolling ------------------------------------------------------------------------------------------


def test_rolling(a, rb):
    assert M.rolling_return(a, window=2).tolist()[1:] == pytest.approx([0.1, -0.12, 0.0])  # 1.1*.8, .8*1.25
    vol = M.rolling_volatility(a, window=2)
    assert vol.iloc[2] == pytest.approx(0.3 / math.sqrt(2) * SQ252)  # std of (0.1, -0.2)
    assert M.rolling_sharpe(a, window=4).iloc[-1] == pytest.approx(M.sharpe_ratio(a))
    assert M.rolling_beta(*rb, window=4).iloc[-1] == pytest.approx(1.4)
    assert math.isnan(M.rolling_return(a, window=2).iloc[0])


def test_rolling_beta_uses_the_headline_betas_excess_returns(rb):
    """The report's rolling beta and the Metrics table's beta are one convention: returns in excess of the
    risk-free rate. Over the whole series the rolling value is `beta`, with a rate and without."""
    r, b = rb
    rf = pd.Series([0.01, 0.03, 0.0, 0.02], index=r.index)
    assert M.rolling_beta(r, b, window=len(r)).iloc[-1] == pytest.approx(M.beta(r, b))
    with_rf = M.rolling_beta(r, b, risk_free=rf, window=len(r)).iloc[-1]
    assert with_rf == pytest.approx(M.beta(r, b, risk_free=rf), rel=1e-12)
    assert abs(with_rf - M.beta(r, b)) > 1e-3          # the rate matters here: raw returns would differ


# --- trading -------------------------------------------------------------------------------------------


def test_trading_metrics():
    eq = series([1000.0, 1000.0, 1000.0], ["2020-01-01", "2021-01-01", "2022-01-01"])  # 731 days
    t = series([1.0, 0.2, 0.0], eq.index)
    fees = series([10.0, 5.0, 0.0], eq.index)
    m = M.trading_metrics(t, fees, eq)
    years = 731 / 365.25
    assert m["total_turnover"] == pytest.approx(1.2)
    assert m["initial_turnover"] == 1.0                        # the first trading date: the opening purchase
    assert m["annual_turnover"] == pytest.approx(0.2 / years)  # ongoing turnover only
    assert m["n_rebalances"] == 2  # the zero-turnover date did not trade
    assert m["fees_paid"] == 15
    assert m["fee_drag"] == pytest.approx((0.01 + 0.005) / years)
    slip = series([20.0, 0.0, 4.0], eq.index)
    s = M.trading_metrics(t, fees, eq, slippage=slip, expense_ratio=0.001)
    assert s["slippage_paid"] == 24 and s["slippage_drag"] == pytest.approx((0.02 + 0.004) / years)
    assert s["cost_drag"] == pytest.approx((0.015 + 0.024) / years + 0.001)
    assert math.isnan(m["slippage_paid"]) and math.isnan(m["cost_drag"])      # slippage not given
    assert all(math.isnan(v) for v in M.trading_metrics(None, None).values())


# --- edge cases ---------------------------------------------------------------------------------------


def test_empty_series_gives_nan_everywhere():
    empty = pd.Series([], dtype=float, index=pd.DatetimeIndex([], name="date"))
    m = M.compute_metrics(empty, empty)
    assert all(isinstance(v, float) and math.isnan(v) for v in m.values())
    assert M.top_drawdowns(empty).empty and M.monthly_returns_table(empty).empty


def test_one_bar():
    one = series([0.0], ["2020-01-01"])
    m = M.compute_metrics(one, one)
    assert m["total_return"] == 0 and m["max_drawdown"] == 0 and m["start"] == m["end"] == "2020-01-01"
    for key in ("cagr", "volatility", "sharpe", "sortino", "skew", "kurtosis", "beta", "calmar"):
        assert math.isnan(m[key]), key


def test_flat_prices():
    flat = M.simple_returns(series([100.0] * 10, pd.bdate_range("2020-01-01", periods=10)))
    m = M.compute_metrics(flat, flat)
    assert m["volatility"] == 0 and m["cagr"] == 0 and m["max_drawdown"] == 0
    for key in ("sharpe", "sortino", "calmar", "skew", "kurtosis", "beta", "correlation",
                "information_ratio"):
        assert math.isnan(m[key]), key
    assert m["longest_drawdown_days"] == 0


def test_all_negative():
    r = series([0.0, -0.1, -0.1, -0.1], pd.bdate_range("2020-01-01", periods=4))
    m = M.compute_metrics(r)
    assert m["total_return"] == pytest.approx(0.729 - 1)
    assert m["max_drawdown"] == pytest.approx(-0.271)
    assert m["sharpe"] < 0 and m["sortino"] < 0 and m["pct_positive_months"] == 0
    assert isinstance(m["max_drawdown_recovery"], float) and math.isnan(m["max_drawdown_recovery"])
    assert m["worst_day"] == pytest.approx(-0.1)


def test_nan_returns_are_ignored(a):
    with_gap = a.copy()
    with_gap.iloc[1:2] = np.nan
    assert M.total_return(with_gap) == pytest.approx(0.8 * 1.25 - 1)


def test_compute_metrics_key_order_is_fixed(a, rb):
    keys = list(M.compute_metrics(a))
    assert keys == list(M.compute_metrics(rb[0], rb[1]))
    assert keys[:5] == ["start", "end", "years", "total_return", "cagr"]
    assert {"sharpe", "sortino", "up_capture", "down_capture", "var_95", "cvar_95", "fee_drag"} <= set(keys)


def _drawdown_table_by_pandas(returns: pd.Series) -> pd.DataFrame:
    """The episode table computed the plain way (a pandas slice per episode): the reference for the array
    version in `metrics.drawdown_table`."""
    dd = M.drawdown(returns)
    idx, rows = dd.index, []
    under = (dd.to_numpy() < -1e-12).astype(np.int8)
    edges = np.diff(np.concatenate([[0], under, [0]]))
    for start, stop in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
        seg = dd.iloc[start:stop]
        peak, trough = idx[start - 1] if start > 0 else idx[0], seg.idxmin()
        recovery = idx[stop] if stop < len(idx) else pd.NaT
        end = recovery if stop < len(idx) else idx[-1]
        rows.append((peak, trough, recovery, float(seg.min()), float((end - peak).days),
                     float((recovery - trough).days) if stop < len(idx) else math.nan))
    table = pd.DataFrame(rows, columns=["peak", "trough", "recovery", "depth", "days", "recovery_days"])
    for c in ("peak", "trough", "recovery"):
        table[c] = pd.to_datetime(table[c])
    return table.astype({"depth": float, "days": float, "recovery_days": float})


def test_drawdown_table_equals_the_per_episode_pandas_table(rotation_run):
    rng = np.random.default_rng(7)
    days = pd.bdate_range("2016-01-01", periods=2700, name="date")
    cases = [pd.Series(rng.normal(0.0003, 0.01, len(days)), index=days) for _ in range(10)]
    cases += [series([0.0, -0.1, 0.2, -0.05], days[:4]), series([0.0, -0.1, 0.05], days[:3]),   # ends under
              series([-0.1, 0.05, 0.2], days[:3]), series([0.0, -0.1, np.nan, 0.0, 0.2], days[:5]),  # NaN
              series([0.0, 0.01], days[:2]), series([0.0], days[:1]), series([], days[:0])]
    equity = pd.read_csv(rotation_run / "equity.csv", index_col=0, parse_dates=[0])
    cases += [M.simple_returns(equity[c], 1_000_000.0) for c in equity]                           # a real run
    for r in cases:
        expected = _drawdown_table_by_pandas(r)
        pd.testing.assert_frame_equal(M.drawdown_table(r), expected, check_exact=True)
    assert len(M.drawdown_table(cases[-1])) > 20             # the real series have many episodes


def _wiped_out(days):
    """Daily returns of a long/short account of capital 100 whose short outgrows it: below zero from the
    fifth day on, then ever more negative (each day's return a ratio of two negative values: +200%)."""
    values = pd.Series([100.0, 90.0, 40.0, 5.0, -20.0, -60.0, -180.0, -540.0, -1620.0, -4860.0],
                       index=days[:10])
    return M.simple_returns(values, 100.0)


def test_a_value_at_or_below_zero_leaves_every_metric_but_the_dates_undefined():
    """Returns after the value reaches zero or below are ratios of non-positive values: no metric of them
    means anything (here a positive Sharpe of a wiped-out account), so all
    are NaN but start, end and years, computed without a RuntimeWarning."""
    days = pd.bdate_range("2020-01-01", periods=300, name="date")
    r = _wiped_out(days)
    bench = pd.Series(0.001, index=r.index)
    turnover, fees = pd.Series(0.1, index=r.index[:2]), pd.Series(1.0, index=r.index)
    assert M.sharpe_ratio(r) > 0                                  # what the functions alone make of it
    with np.errstate(all="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        m = M.compute_metrics(r, bench, None, turnover=turnover, fees=fees, equity=100 * (1 + r).cumprod(),
                              from_base=True)
        rel = M.relative_metrics(r, bench)
        rolling = M.rolling_return(r, window=3)
    assert (m["start"], m["end"], m["years"]) == ("2020-01-01", "2020-01-14", 13 / 365.25)
    defined = [k for k, v in m.items() if not (isinstance(v, float) and math.isnan(v))]
    assert defined == ["start", "end", "years"]
    assert list(m) == list(M.compute_metrics(r.iloc[:3], bench, None, turnover=turnover, fees=fees))
    assert all(math.isnan(v) for v in rel.values()) and list(rel) == list(M.RELATIVE_KEYS)
    assert rolling.iloc[2] == pytest.approx(-0.6) and rolling.iloc[4:7].isna().all()    # windows with it
    # a value of exactly zero is the same (a return of -100%); the edge just above it is an ordinary series
    gone = M.simple_returns(pd.Series([100.0, 50.0, 0.0, 0.0], index=days[:4]), 100.0)
    assert math.isnan(M.compute_metrics(gone)["total_return"])
    almost = M.simple_returns(pd.Series([100.0, 50.0, 1e-9], index=days[:3]), 100.0)
    assert M.compute_metrics(almost)["total_return"] == pytest.approx(-1.0)
