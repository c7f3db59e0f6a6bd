"""The evidence section: factor regressions, rolling and stress tables, bootstrap intervals, PSR/DSR/PBO and
walk-forward; each figure checked against an independent calculation (plain numpy/pandas on the raw files in
../shared/market-data, a closed form, or the papers' worked examples)."""

from __future__ import annotations

import itertools
import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from backtest import metrics as M
from backtest.analytics.factors import FF3, FF5_MOM, monthly_returns, newey_west_lags, regress, rolling_loadings
from backtest.analytics.overfitting import (
    deflated_sharpe,
    effective_trials,
    expected_max_sharpe,
    pbo,
    probabilistic_sharpe,
    probabilistic_sharpe_frame,
    psr_from_stats,
)
from backtest.analytics.robustness import (
    _block_sums,
    block_bootstrap,
    block_indices,
    block_starts,
    rolling_excess,
    rolling_summary,
    stress_table,
)
from backtest.analytics.walkforward import walk_forward
from backtest.data.factors import import_factors, load_factors
from backtest.results import load_run


@pytest.fixture(scope="module")
def raw(market_data_dir):
    """Plain pandas on the snapshot files: ETF closes and the factor tables in fractions."""
    etf = pd.read_parquet(market_data_dir / "prices_etf.parquet")
    ff3 = pd.read_parquet(market_data_dir / "ff3_daily_pct.parquet") / 100.0
    ff5 = pd.read_parquet(market_data_dir / "ff5_mom_monthly_pct.parquet") / 100.0
    return etf, ff3.rename(columns={"Mkt-RF": "MKT_RF"}), ff5.rename(columns={"Mom": "MOM"})


def _returns(etf: pd.DataFrame, ticker: str, start: str, end: str) -> pd.Series:
    px = etf[ticker].loc[start:end].dropna()
    return M.simple_returns(px)


# --------------------------------------------------------------------------------------- factor files
def test_factor_files_import_into_the_store_as_fractions(market_data_dir, tmp_path, raw):
    from backtest.data.store import PriceStore

    store = PriceStore(tmp_path / "store")
    done = import_factors(store, market_data_dir)
    assert set(done) == {"ff3_daily", "ff3_monthly", "ff5_mom_monthly"}
    ff3 = load_factors(store, "ff3_daily")
    assert list(ff3.columns) == ["MKT_RF", "SMB", "HML", "RF"]
    pd.testing.assert_frame_equal(ff3, raw[1], check_freq=False, check_index_type=False, check_names=False)
    ff5 = load_factors(store, "ff5_mom_monthly")
    assert list(ff5.columns) == ["MKT_RF", "SMB", "HML", "RMW", "CMA", "MOM", "RF"]
    assert ff5.index[-1] == pd.Timestamp("2025-07-31") and done["ff5_mom_monthly"][0] == 745
    assert ff5.loc["2025-07-31", "MOM"] == pytest.approx(-0.0094)
    assert load_factors(PriceStore(tmp_path / "empty"), "ff3_daily") is None


def test_snapshot_import_reports_the_factor_files(snapshot_import):
    store, report = snapshot_import
    assert report.factors["ff3_daily"][2] == pd.Timestamp("2024-09-30")
    assert "factors ff5_mom_monthly: 745 rows, 1963-07-31 .. 2025-07-31" in report.summary()
    assert load_factors(store, "ff3_monthly").index[-1] == pd.Timestamp("2024-11-30")


# --------------------------------------------------------------------------------------- regressions
def _newey_west(x: np.ndarray, e: np.ndarray, lags: int) -> np.ndarray:
    """Bartlett-kernel HAC covariance of OLS coefficients, written out."""
    n = len(e)
    s = np.zeros((x.shape[1], x.shape[1]))
    for lag in range(lags + 1):
        g = (x[lag:] * e[lag:, None]).T @ (x[:n - lag] * e[:n - lag, None])
        s += (1.0 - lag / (lags + 1.0)) * (g + g.T) if lag else g
    inv = np.linalg.inv(x.T @ x)
    return inv @ s @ inv


def test_ff3_regression_equals_direct_least_squares(raw):
    etf, ff3, _ = raw
    r = _returns(etf, "IWN", "2016-01-04", "2024-09-30")
    got = regress(r.iloc[1:], ff3, names=FF3)      # the period returns, without the starting point
    f = ff3.loc[r.index[1]:r.index[-1]]
    y = (r.iloc[1:] - f["RF"]).to_numpy()
    x = np.column_stack([np.ones(len(f)), f[list(FF3)].to_numpy()])
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    e = y - x @ beta
    lags = newey_west_lags(len(y))
    se = np.sqrt(np.diag(_newey_west(x, e, lags)))
    assert got["n"] == len(y) and got["lags"] == lags == 7
    assert got["alpha"] == pytest.approx(beta[0] * 252, rel=1e-9)
    for i, name in enumerate(FF3, start=1):
        assert got[f"beta_{name}"] == pytest.approx(beta[i], rel=1e-9)
        assert got[f"t_{name}"] == pytest.approx(beta[i] / se[i], rel=1e-9)
    assert got["alpha_t"] == pytest.approx(beta[0] / se[0], rel=1e-9)
    assert got["r2"] == pytest.approx(1 - (e ** 2).sum() / ((y - y.mean()) ** 2).sum(), rel=1e-12)
    # IWN is the Russell 2000 value index: small and value, not a fluke of the estimator
    assert got["beta_SMB"] > 0.7 and got["beta_HML"] > 0.3 and got["t_HML"] > 10


def test_monthly_returns_compound_full_calendar_months(raw):
    etf, _, _ = raw
    r = _returns(etf, "SPY", "2016-01-04", "2016-06-15")
    m = monthly_returns(r)
    px = etf["SPY"].loc["2015-12-01":"2016-06-15"].dropna()
    month_end = px.groupby(px.index.to_period("M")).last()
    direct = (month_end / month_end.shift(1) - 1.0).loc["2016-02":"2016-05"]
    # January is incomplete (the run starts on its first close), June ends mid-month: both dropped
    assert [f"{d:%Y-%m-%d}" for d in m.index] == ["2016-02-29", "2016-03-31", "2016-04-30", "2016-05-31"]
    np.testing.assert_allclose(m.to_numpy(), direct.to_numpy(), rtol=1e-12)


@pytest.mark.parametrize("last, kept", [
    ("2024-03-28", "2024-03-31"),   # Good Friday 2024-03-29 is a holiday: March's last session, March complete
    ("2024-03-27", "2024-02-29"),   # a session follows in March: cut short, dropped
    ("2021-05-28", "2021-05-31"),   # Memorial Day 2021-05-31 closes May on Friday the 28th
    ("2024-05-24", "2024-04-30"),   # Memorial Day 2024-05-27, then three sessions left in May
    ("2024-04-30", "2024-04-30"),   # an ordinary month end
])
def test_monthly_returns_keep_a_last_month_that_ends_before_a_holiday(last, kept):
    """The last month is dropped only when an NYSE session follows the last date in that month, not
    when the next weekday is a holiday (a run ending 2024-03-28 lost a complete March)."""
    idx = pd.bdate_range(pd.Timestamp(last) - pd.DateOffset(months=4) - pd.offsets.MonthEnd(1), last)
    r = pd.Series(0.001, index=idx)
    r.iloc[0] = 0.0
    assert f"{monthly_returns(r).index[-1]:%Y-%m-%d}" == kept


def test_monthly_ff5_regression_and_rolling_loadings_match_least_squares(raw):
    etf, _, ff5 = raw
    r = monthly_returns(_returns(etf, "VTV", "2016-01-04", "2025-07-31"))
    got = regress(r, ff5, names=FF5_MOM, periods_per_year=12, monthly=True)
    f = ff5.loc["2016-02":"2025-07"]
    assert got["n"] == len(f) == 114
    x = np.column_stack([np.ones(len(f)), f[list(FF5_MOM)].to_numpy()])
    beta = np.linalg.lstsq(x, r.to_numpy() - f["RF"].to_numpy(), rcond=None)[0]
    assert [got[f"beta_{n}"] for n in FF5_MOM] == pytest.approx(list(beta[1:]), rel=1e-9)
    assert got["alpha"] == pytest.approx(beta[0] * 12, rel=1e-9)
    assert got["beta_HML"] > 0.2                                  # a value fund loads on value
    roll = rolling_loadings(r, ff5, window=36)
    last = f.iloc[-36:]
    x36 = np.column_stack([np.ones(36), last[list(FF5_MOM)].to_numpy()])
    b36 = np.linalg.lstsq(x36, r.iloc[-36:].to_numpy() - last["RF"].to_numpy(), rcond=None)[0]
    assert list(roll.iloc[-1][["alpha", *FF5_MOM]]) == pytest.approx(list(b36), rel=1e-8)
    assert len(roll) == 114 - 36 + 1 and roll.index[-1] == pd.Timestamp("2025-07-31")


def test_regression_too_short_is_nan_not_an_error(raw):
    _, ff3, _ = raw
    r = pd.Series([0.0, 0.01, -0.01], index=pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06"]))
    got = regress(r, ff3)
    assert got["n"] == 3 and math.isnan(got["alpha"]) and math.isnan(got["beta_SMB"])


def test_regression_of_a_constant_active_return_is_undefined_without_a_warning(raw):
    """A strategy identical to its benchmark: its active return is 0 every day. The coefficients are exactly
    0, R² and the t-statistics undefined (0/0: NaN), and numpy's "invalid value" warning does not reach the
    user's console (warnings are errors here)."""
    etf, ff3, _ = raw
    zero = _returns(etf, "SPY", "2016-01-04", "2018-12-31").iloc[1:] * 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = regress(zero, ff3, excess=False)
    assert got["n"] == len(zero) and got["alpha"] == 0.0 and got["beta_MKT_RF"] == 0.0
    assert got["residual_vol"] == 0.0
    assert all(math.isnan(got[k]) for k in ("r2", "adj_r2", "alpha_t", "alpha_p", "t_MKT_RF", "t_HML"))


# --------------------------------------------------------------------------------------- robustness
def test_rolling_excess_is_the_cagr_difference_of_each_window(raw):
    etf, _, _ = raw
    s, b = _returns(etf, "QQQ", "2016-01-04", "2022-12-30"), _returns(etf, "SPY", "2016-01-04", "2022-12-30")
    roll = rolling_excess(s, b, (1, 3))
    for start in ("2016-03-01", "2017-06-14", "2019-12-31"):
        t0 = pd.Timestamp(start)
        for years, col in ((1, "1y"), (3, "3y")):
            t1 = s.index[s.index <= t0 + pd.DateOffset(years=years)][-1]
            ps, pb = etf["QQQ"], etf["SPY"]
            days = (t1 - t0).days / 365.25
            direct = (ps[t1] / ps[t0]) ** (1 / days) - (pb[t1] / pb[t0]) ** (1 / days)
            assert roll.loc[t0, col] == pytest.approx(direct, rel=1e-9)
    assert roll["3y"].last_valid_index() == pd.Timestamp("2019-12-31")   # to Sat 2022-12-31: data end Fri
    summary = rolling_summary(roll)
    x = roll["1y"].dropna()
    assert summary.loc["1y", "windows"] == len(x)
    assert summary.loc["1y", "share_beating"] == pytest.approx((x > 0).mean())


def test_stress_table_matches_the_price_file(raw):
    etf, _, _ = raw
    s, b = _returns(etf, "IWN", "2018-01-02", "2023-12-29"), _returns(etf, "SPY", "2018-01-02", "2023-12-29")
    table = stress_table(s, b, [("Covid", "2020-02-19", "2020-03-23"), ("later", "2025-02-19", "2025-04-08")])
    px = etf.loc["2020-02-19":"2020-03-23"]
    assert table.loc["Covid", "benchmark_return"] == pytest.approx(px["SPY"].iloc[-1] / px["SPY"].iloc[0] - 1)
    assert table.loc["Covid", "benchmark_return"] == pytest.approx(-0.337, abs=0.002)
    iwn = px["IWN"] / px["IWN"].iloc[0]
    assert table.loc["Covid", "return"] == pytest.approx(iwn.iloc[-1] - 1)
    assert table.loc["Covid", "max_drawdown"] == pytest.approx((iwn / iwn.cummax() - 1).min())
    assert math.isnan(table.loc["later", "return"]) and table.loc["later", "note"] == "outside the run's dates"


def test_block_bootstrap_is_deterministic_and_scores_like_metrics_json(raw):
    etf, _, _ = raw
    s, b = _returns(etf, "IWN", "2016-01-04", "2024-12-31"), _returns(etf, "SPY", "2016-01-04", "2024-12-31")
    rf = _returns(etf, "BIL", "2016-01-04", "2024-12-31")
    one = block_bootstrap(s, b, rf, samples=400, block=21, seed=7)
    assert one.equals(block_bootstrap(s, b, rf, samples=400, block=21, seed=7))
    assert not one.equals(block_bootstrap(s, b, rf, samples=400, block=21, seed=8))
    assert one.loc["cagr", "estimate"] == pytest.approx(M.cagr(s), rel=1e-10)
    assert one.loc["sharpe", "estimate"] == pytest.approx(M.sharpe_ratio(s, risk_free=rf), rel=1e-10)
    assert one.loc["excess_return", "estimate"] == pytest.approx(M.excess_return(s, b), rel=1e-10)
    assert (one["low"] < one["estimate"]).all() and (one["estimate"] < one["high"]).all()


def test_block_sums_equal_the_explicitly_resampled_paths():
    q = np.random.default_rng(1).normal(size=103)
    starts = block_starts(103, samples=50, block=10, seed=3)
    paths = block_indices(starts, 103, 10)
    assert paths.shape == (50, 103) and paths[0, 1] == (starts[0, 0] + 1) % 103
    np.testing.assert_allclose(_block_sums(q, starts, 10), q[paths].sum(axis=1), rtol=1e-10, atol=1e-12)


def test_bootstrap_with_one_day_blocks_has_the_iid_standard_error():
    rng = np.random.default_rng(5)
    idx = pd.bdate_range("2010-01-01", periods=2001)
    s = pd.Series(np.r_[0.0, rng.normal(0.0004, 0.01, 2000)], index=idx)
    out = block_bootstrap(s, s * 0, samples=4000, block=1, seed=0)
    # Sharpe of iid returns: standard error ~ sqrt((1 + SR^2 / 2) / n) per day, times sqrt(252)
    sr = s.iloc[1:].mean() / s.iloc[1:].std()
    assert out.loc["sharpe", "std"] == pytest.approx(math.sqrt((1 + sr ** 2 / 2) / 2000) * math.sqrt(252), rel=0.06)


# --------------------------------------------------------------------------------------- PSR, DSR, PBO
def test_dsr_reproduces_the_papers_worked_example():
    """Bailey and Lopez de Prado (2014), section 4: N = 100 trials, V[SR] = 1/2 annualised, SR = 2.5
    annualised over T = 1250 daily observations, skewness -3, kurtosis 10: SR0 = 0.1132, DSR = 0.9004."""
    sr0 = expected_max_sharpe(0.5 / 250, 100)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    assert psr_from_stats(2.5 / math.sqrt(250), 1250, -3.0, 10.0, sr0) == pytest.approx(0.9004, abs=5e-5)


def test_psr_equals_its_formula_on_a_real_series(raw):
    etf, _, _ = raw
    r = _returns(etf, "SPY", "2016-01-04", "2024-12-31")
    x = r.iloc[1:].to_numpy()
    sr = x.mean() / x.std(ddof=1)
    g3, g4 = stats.skew(x), stats.kurtosis(x, fisher=False)
    z = sr * math.sqrt(len(x) - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr ** 2)
    assert probabilistic_sharpe(r) == pytest.approx(stats.norm.cdf(z), rel=1e-12)
    assert 0.95 < probabilistic_sharpe(r) < 1.0


def test_dsr_deflates_by_the_effective_number_of_trials():
    rng = np.random.default_rng(2)
    base = rng.normal(0.0003, 0.01, 1500)
    same = pd.DataFrame({f"v{i}": base for i in range(5)})
    assert effective_trials(same)[0] == pytest.approx(1.0)
    independent = pd.DataFrame(rng.normal(0.0, 0.01, (1500, 40)))
    n_eff, rho = effective_trials(independent)
    assert abs(rho) < 0.01 and n_eff == pytest.approx(40, rel=0.02)
    # the mean off-diagonal correlation equals np.corrcoef's (computed without the n x n matrix), a constant
    # column left out as np.corrcoef's NaN are
    mixed = pd.DataFrame(0.6 * rng.normal(0, 0.01, (1500, 1)) + rng.normal(0, 0.01, (1500, 30)))
    mixed[7] = 0.001
    c = np.corrcoef(mixed.to_numpy(), rowvar=False)
    with np.errstate(invalid="ignore"):
        expected = float(np.nanmean(c[~np.eye(30, dtype=bool)]))
    assert 0.2 < expected < 0.4 and effective_trials(mixed)[1] == pytest.approx(expected, rel=1e-12)
    d = deflated_sharpe(independent)
    # forty skill-less variants: the best looks good alone, but not against the best of forty
    assert probabilistic_sharpe(independent[d["best"]].to_numpy()) > 0.9 and d["dsr"] < 0.6
    assert d["sharpe"] == pytest.approx(max(c.mean() / c.std(ddof=1) for _, c in independent.items()))


def _pbo_brute(m: np.ndarray, blocks: int) -> float:
    t, n = m.shape
    size = t // blocks
    m = m[t - size * blocks:]
    parts = np.array_split(np.arange(len(m)), blocks)
    lam = []
    for combo in itertools.combinations(range(blocks), blocks // 2):
        ins = np.concatenate([parts[i] for i in combo])
        outs = np.concatenate([parts[i] for i in range(blocks) if i not in combo])
        sr_in = m[ins].mean(0) / m[ins].std(0, ddof=1)
        sr_out = m[outs].mean(0) / m[outs].std(0, ddof=1)
        best = int(np.argmax(sr_in))
        w = stats.rankdata(sr_out)[best] / (n + 1)
        lam.append(math.log(w / (1 - w)))
    return float(np.mean(np.array(lam) <= 0))


def test_pbo_equals_a_brute_force_cscv():
    rng = np.random.default_rng(4)
    m = rng.normal(0.0002, 0.01, (803, 12))
    got = pbo(pd.DataFrame(m), blocks=8)
    assert got["splits"] == 70 and got["pbo"] == pytest.approx(_pbo_brute(m, 8))
    skilled = m.copy()
    skilled[:, 3] += 0.003                    # one variant truly better: never overfit
    assert pbo(pd.DataFrame(skilled), blocks=8)["pbo"] == 0.0
    with pytest.raises(ValueError, match="blocks must be an even number"):
        pbo(pd.DataFrame(m), blocks=7)


# --------------------------------------------------------------------------------------- walk-forward
def test_walk_forward_picks_on_the_past_and_stitches_the_future():
    idx = pd.bdate_range("2015-01-01", "2020-12-31")
    half = idx < pd.Timestamp("2018-01-01")
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.002, (len(idx), 2))
    a = np.where(half, 0.001, -0.0005) + noise[:, 0]
    b = np.where(half, -0.0005, 0.001) + noise[:, 1]
    frame = pd.DataFrame({"A": a, "B": b}, index=idx)
    frame.iloc[0] = 0.0
    bench = pd.Series(0.0002, index=idx)
    bench.iloc[0] = 0.0
    out = walk_forward(frame, bench, train_years=1, test_years=1, metric="cagr")
    w = out["windows"]
    assert list(w["chosen"]) == ["A", "A", "A", "B", "B"]      # trained on 2015, 2016, ... 2019
    # each test window starts at the last close on or before first date + k years
    assert list(w["test_start"]) == [idx[idx <= idx[0] + pd.DateOffset(years=k)][-1] for k in range(1, 6)]
    assert list(w["test_end"].iloc[:-1]) == list(w["test_start"].iloc[1:])
    assert w["test_end"].iloc[-1] == idx[-1]
    stitched = out["returns"]["walk_forward"]
    first = w["test_start"].iloc[0]
    expected = pd.concat([frame.loc[r.test_start:r.test_end, r.chosen].iloc[1:] for r in w.itertuples()])
    np.testing.assert_allclose(stitched.iloc[1:].to_numpy(), expected.to_numpy())
    assert stitched.index[0] == first and out["in_sample_best"] in ("A", "B")
    assert out["summary"]["walk_forward"]["total_return"] == pytest.approx(np.prod(1 + expected) - 1)
    assert w["oos_return"].iloc[0] == pytest.approx(M.total_return(frame.loc[w.test_start[0]:w.test_end[0], "A"]
                                                                   .iloc[1:]))


def test_walk_forward_sharpe_scores_all_variants_at_once_bit_for_bit():
    """The Sharpe scores of a window (every variant of a sweep at once) equal metrics.sharpe_ratio per
    column exactly, with and without a risk-free series; a frame with a NaN takes the per-column path."""
    from backtest.analytics.walkforward import _score, _scores

    rng = np.random.default_rng(5)
    idx = pd.bdate_range("2016-01-01", periods=800)
    frame = pd.DataFrame(rng.normal(0.0003, 0.01, (800, 60)), index=idx)
    rf = pd.Series(rng.random(799) * 1e-4, index=idx.delete(5))        # a missing day counts 0
    bench = pd.Series(0.0, index=idx)
    for risk_free in (rf, None):
        got = _scores("sharpe", frame, bench, risk_free)
        assert got == {c: _score("sharpe", frame[c], bench, risk_free) for c in frame.columns}
    gappy = frame.copy()
    gappy.iloc[3, 2] = np.nan
    assert _scores("sharpe", gappy, bench, rf) == {c: _score("sharpe", gappy[c], bench, rf) for c in gappy.columns}
    assert _scores("sortino", frame, bench, rf) == {c: _score("sortino", frame[c], bench, rf)
                                                    for c in frame.columns}


# --------------------------------------------------------------------------------------- the run
def test_rotation_run_reports_the_evidence(rotation_run):
    saved = load_run(rotation_run)
    ev = saved.metrics["evidence"]
    scv = ev["strategies"]["Small-cap value tilt"]["factors"]
    for model in ("ff3_daily_total", "ff5_mom_monthly_total"):
        assert scv[model]["beta_SMB"] > 0.1 and scv[model]["t_SMB"] > 3
        assert scv[model]["beta_HML"] > 0.1 and scv[model]["t_HML"] > 3
    mag7 = ev["strategies"]["Mag 7 overweight"]["factors"]
    assert mag7["ff3_daily_active"]["beta_HML"] < 0 and mag7["ff3_daily_active"]["t_HML"] < -3
    assert mag7["ff3_daily_total"]["end"].startswith("2024-09-30")        # the factor data end there
    assert any("ff3_daily: the factor data end on 2024-09-30" in n for n in ev["notes"])
    spy = ev["benchmark"]["factors"]["ff3_daily_total"]
    assert spy["beta_MKT_RF"] == pytest.approx(1.0, abs=0.05) and spy["r2"] > 0.99
    stress = ev["strategies"]["Equal-weight S&P 493"]["stress"]
    assert set(stress) == {"Q4 2018 sell-off", "2020 Covid crash", "2022 bear market",
                           "2023 regional-bank stress", "2025 spring sell-off"}
    bench = saved.benchmark.loc["2020-02-19":"2020-03-23"]
    assert stress["2020 Covid crash"]["benchmark_return"] == pytest.approx(bench.iloc[-1] / bench.iloc[0] - 1)
    for name, m in saved.metrics["strategies"].items():
        boot = ev["strategies"][name]["bootstrap"]
        assert boot["cagr"]["estimate"] == pytest.approx(m["cagr"], rel=1e-9)
        assert boot["excess_return"]["estimate"] == pytest.approx(m["excess_return"], rel=1e-9)
        assert boot["cagr"]["low"] < m["cagr"] < boot["cagr"]["high"]
    risk = ev["strategies"]["Mag 7 overweight"]["risk"]
    assert sum(v["risk"] for v in risk["group"].values()) == pytest.approx(1.0)
    assert sum(v["weight"] for v in risk["sector"].values()) == pytest.approx(1.0)
    assert risk["group"]["mag7"]["risk"] > risk["group"]["mag7"]["weight"] > 0.25   # the volatile end
    assert risk["asof"].startswith("2026-06-30") and "Information Technology" in risk["sector"]
    for name in ("Mag 7 overweight", "Equal-weight S&P 493", "Cap-weighted, 5% cap"):
        a = ev["strategies"][name]["attribution"]
        parts = a["allocation"] + a["selection"] + a["interaction"] + a["trading"]
        assert parts == pytest.approx(a["excess"], abs=1e-10)
        assert a["excess"] == pytest.approx(a["portfolio"] - a["benchmark_return"], abs=1e-12)
        eq = saved.strategies[[s.name for s in saved.strategies].index(name)].equity
        # the first month end is the 2015-12-31 base close (the run starts there): measured from the capital
        # like metrics.json's total return (the opening purchase's costs in trading and costs)
        assert a["portfolio"] == pytest.approx(eq.loc["2026-06-30"] / 1_000_000 - 1, rel=1e-12)
        assert a["portfolio"] == pytest.approx(saved.metrics["strategies"][name]["total_return"], rel=1e-12)
        assert sum(v["total"] for v in a["by_sector"].values()) + a["trading"] == pytest.approx(a["excess"])
    assert "attribution" not in ev["strategies"]["Small-cap value tilt"]       # ETFs: no sectors
    assert {"evidence_factors", "evidence_rolling_excess", "evidence_stress", "evidence_risk",
            "evidence_attribution"} <= set(saved.analytics)
    html = (rotation_run / "report.html").read_text()
    assert 'id="evidence"' in html and "Factor loadings" in html and "Stress periods" in html
    assert "Where the risk comes from" in html and "By GICS sector" in html
    assert "Attribution against the cap-weighted S&amp;P 500" in html
    assert "failed" not in html.split('id="evidence"')[1].split("</section>")[0]
    assert "evidence_factors" not in html                 # not repeated as a raw table
    assert saved.manifest["timings_s"]["evidence"] > 0


def test_evidence_config_block(tmp_path):
    from backtest.config import config_to_dict, parse_config
    from backtest.errors import ConfigError

    base = "name: x\nstart: 2016-01-01\nstrategies: [{name: S, weighting: fixed, weights: {SPY: 1}}]\n"
    cfg = parse_config(base + "evidence:\n  stress: [{name: Crash, start: 2020-02-19, end: 2020-03-23}]\n"
                              "  walk_forward: {train: 2y, test: 6m, metric: cagr}\n  bootstrap: {seed: 3}\n")
    assert cfg.evidence.stress == (("Crash", pd.Timestamp("2020-02-19"), pd.Timestamp("2020-03-23")),)
    assert (cfg.evidence.walk_forward.train_months, cfg.evidence.walk_forward.test_months) == (24, 6)
    assert cfg.evidence.bootstrap.seed == 3
    assert parse_config(json.dumps(config_to_dict(cfg))).evidence == cfg.evidence
    assert not parse_config(base + "evidence: false\n").evidence.enabled
    assert "evidence" not in config_to_dict(parse_config(base))      # defaults are not written out
    with pytest.raises(ConfigError, match=r"evidence.walk_forward.train \(line \d+\): must be a period such as "
                                          r"3y or 18m"):
        parse_config(base + "evidence: {walk_forward: {train: 3x}}\n")
    with pytest.raises(ConfigError, match=r"evidence.stress\[0\].end .*must be after start"):
        parse_config(base + "evidence: {stress: [{name: a, start: 2020-03-01, end: 2020-02-01}]}\n")


SWEEP = """\
name: evidence-sweep
start: 2016-01-01
end: 2024-12-31
benchmark: SPY
rebalance: quarterly
risk_free: BIL
costs: {commission_bps: 5}
strategies:
  - name: Mix
    weighting: fixed
    weights: {SPY: 0.7, IWN: 0.3}
sweep:
  grid:
    weights: [{SPY: 0.7, IWN: 0.3}, {SPY: 0.4, IWN: 0.6}, {SPY: 0.7, QQQ: 0.3}, {SPY: 0.4, QQQ: 0.6}, {QQQ: 1.0}]
evidence:
  pbo_blocks: 8
  walk_forward: {train: 2y, test: 1y, metric: sharpe}
"""


def test_sweep_reports_psr_dsr_pbo_and_walk_forward(snapshot_store, tmp_path):
    from backtest.analytics.overfitting import probabilistic_sharpe_frame
    from backtest.sweep import run_sweep

    (tmp_path / "s.yaml").write_text(SWEEP)
    folder = run_sweep(tmp_path / "s.yaml", store=snapshot_store, results_dir=tmp_path / "out", offline=True)
    saved = load_run(folder)
    ev = saved.metrics["evidence"]
    names = [s.name for s in saved.strategies]
    # the metrics' convention (as bt run's evidence): returns from the capital, so the opening fees count
    returns = pd.DataFrame({s.name: M.simple_returns(s.equity, saved.config["capital"]) for s in saved.strategies})
    assert (returns.iloc[0] < 0).all()
    assert set(ev["psr"]) == set(names)
    psr = probabilistic_sharpe_frame(returns, risk_free=saved.risk_free)
    assert [ev["psr"][n] for n in names] == pytest.approx(list(psr[names]), rel=1e-9)
    res = ev["by_strategy"]["Mix"]
    dsr = res["dsr"]
    sharpe = {n: saved.metrics["strategies"][n]["sharpe"] for n in names}
    assert dsr["best"] == max(sharpe, key=sharpe.get) and dsr["variants"] == 5
    assert 1 < dsr["trials"] < 5                                  # correlated variants: fewer effective trials
    assert 0 <= dsr["dsr"] <= ev["psr"][dsr["best"]]              # deflating never raises the probability
    assert res["pbo"]["splits"] == 70 and 0 <= res["pbo"]["pbo"] <= 1
    wf = res["walk_forward"]
    assert [w["test_start"][:10] for w in wf["windows"]][:2] == ["2017-12-29", "2018-12-31"]  # from the 2015-12-31 base
    assert wf["windows"][-1]["test_end"][:10] == "2024-12-31"
    assert set(wf["summary"]) == {"walk_forward", "in_sample_best", "benchmark"}
    spy = saved.benchmark.loc["2017-12-29":]
    assert wf["summary"]["benchmark"]["total_return"] == pytest.approx(spy.iloc[-1] / spy.iloc[0] - 1)
    html = (folder / "report.html").read_text()
    assert 'id="evidence"' in html and "Probabilistic Sharpe ratio" in html and "walk-forward" in html


def test_risk_shares_add_up_and_equal_the_covariance_formula(raw):
    from backtest.analytics.risk import month_ends, risk_shares

    etf, _, _ = raw
    px = etf[["SPY", "QQQ", "IWN", "TLT"]].loc["2018-01-01":"2020-12-31"]
    rets = px.pct_change(fill_method=None)
    held = pd.DataFrame({"SPY": 0.4, "QQQ": 0.3, "IWN": 0.2, "TLT": 0.05}, index=px.index)
    labels = {"group": {"QQQ": "growth"}, "sector": {"SPY": "equity", "QQQ": "equity", "IWN": "equity"}}
    dates = month_ends(px.index, start_after=252)
    out = risk_shares(held, rets, labels, dates, window=252, other={"group": "rest", "sector": "bonds"})
    d = dates[-1]
    last = out.loc[out["date"] == d].set_index(["grouping", "group"])
    # independent: the covariance matrix of the trailing 252 returns
    x = rets.loc[:d].iloc[-252:]
    cov = x.cov().to_numpy()
    w = held.loc[d].to_numpy()
    contrib = w * (cov @ w) / (w @ cov @ w)
    assert last.loc[("group", "growth"), "risk"] == pytest.approx(contrib[1], rel=1e-10)
    assert last.loc[("sector", "bonds"), "risk"] == pytest.approx(contrib[3], rel=1e-10)
    assert last.loc[("group", "Cash"), "weight"] == pytest.approx(0.05) and last.loc[("group", "Cash"), "risk"] == 0
    for kind in ("group", "sector"):
        assert last.loc[kind, "risk"].sum() == pytest.approx(1.0) and last.loc[kind, "weight"].sum() == pytest.approx(1)
    assert out["date"].min() == dates[0] and len(dates) == 24       # 2019-01 .. 2020-12


def test_brinson_fachler_effects_add_up_to_the_excess_return(raw):
    from backtest.analytics.brinson import brinson_fachler

    etf, _, _ = raw
    tickers = ["XLK", "TLT", "GLD", "IWN"]
    px = etf[tickers].loc["2019-12-31":"2020-12-31"]
    ends = px.groupby(px.index.to_period("M")).apply(lambda f: f.index[-1])
    ends = pd.DatetimeIndex(ends.to_numpy())
    sectors = {"XLK": "Tech", "TLT": "Bonds", "GLD": "Gold", "IWN": "Small value"}   # ETFs as 'sectors'
    port = pd.DataFrame({"XLK": 0.5, "TLT": 0.2, "GLD": 0.0, "IWN": 0.28}, index=px.index)    # 2% cash
    bench = pd.DataFrame({"XLK": 0.3, "TLT": 0.3, "GLD": 0.2, "IWN": 0.2}, index=px.index)
    held = (px[tickers].loc[ends].pct_change().iloc[1:] * port.iloc[0]).sum(axis=1)
    actual = held + 0.001                      # as if trading and costs added 0.1% a month
    periods, summary, linked = brinson_fachler(port, bench, px, sectors, ends, actual)
    for d, rows in periods.groupby("date"):
        row = summary.set_index("date").loc[d]
        effects = rows[["allocation", "selection", "interaction"]].to_numpy().sum()
        assert effects == pytest.approx(row["held"] - row["benchmark"], abs=1e-12)
        assert row["held"] == pytest.approx(held[d], abs=1e-12)
        r = px.loc[ends[ends.get_loc(d) - 1]:d].iloc[[0, -1]].pct_change().iloc[-1]
        assert row["benchmark"] == pytest.approx((bench.iloc[0] * r[list(sectors)]).sum(), abs=1e-12)
        assert row["trading"] == pytest.approx(0.001, abs=1e-12)
    tech = periods.loc[periods["sector"] == "Tech"].iloc[0]
    assert tech["allocation"] == pytest.approx((0.5 - 0.3) * (tech["r_b"] - summary["benchmark"].iloc[0]))
    cum_p = np.prod(1 + summary["portfolio"]) - 1
    cum_b = np.prod(1 + summary["benchmark"]) - 1
    assert linked.loc["TOTAL", "total"] == pytest.approx(cum_p - cum_b, abs=1e-12)
    assert linked.drop("TOTAL")["total"].sum() == pytest.approx(cum_p - cum_b, abs=1e-12)
    assert linked.loc["Cash", "total"] != 0 and len(summary) == 12


def test_dsr_and_pbo_edge_cases_found_in_review():
    """(1) Between 1 and ~1.28 effective trials the expected-max formula is negative: floored at 0, so a DSR
    never exceeds the best variant's PSR. (2) Every row counts, a first row of exact zeros included, so the
    DSR's Sharpe is metrics.json's. (3) Identical variants (a cap that never binds) have no PBO, not 100%."""
    from backtest.metrics import sharpe_ratio

    assert expected_max_sharpe(1e-4, 1.2) == 0.0 and expected_max_sharpe(1e-4, 1.3) > 0.0
    rng = np.random.default_rng(11)
    common = rng.normal(0.0004, 0.01, (1000, 1))
    near = pd.DataFrame(common + rng.normal(0, 0.0005, (1000, 4)), columns=list("abcd"))
    near.iloc[0] = 0.0                              # the base day of zero-cost variants: exactly 0
    d = deflated_sharpe(near)
    assert 1.0 < d["trials"] < 1.28 and d["threshold"] == 0.0
    assert d["dsr"] == pytest.approx(probabilistic_sharpe_frame(near)[d["best"]], rel=1e-12)
    assert d["n"] == 1000
    assert d["sharpe_annual"] == pytest.approx(sharpe_ratio(near[d["best"]]), rel=1e-12)
    same = pd.DataFrame(np.repeat(common, 3, axis=1), columns=list("xyz"))
    got = pbo(same, blocks=8)
    assert math.isnan(got["pbo"]) and got["identical"] is True and got["splits"] == 0
    assert "identical" not in pbo(near, blocks=8) and 0.0 <= pbo(near, blocks=8)["pbo"] <= 1.0


def test_attribution_skips_a_dollar_neutral_book_for_that_reason_and_keeps_130_30():
    """A dollar-neutral book (net ~0) gets no Brinson attribution, with that reason (it was told it 'holds
    mostly names without a GICS sector'); a 130/30 book (net 100%) is attributed like a long one."""
    from backtest.analytics.evidence import _attribution

    ends = pd.DatetimeIndex(["2020-01-31", "2020-02-28", "2020-03-31"])
    days = pd.bdate_range("2020-01-31", "2020-03-31")
    prices = pd.DataFrame({"A": np.linspace(10, 12, len(days)), "B": np.linspace(20, 19, len(days)),
                           "C": np.linspace(5, 6, len(days))}, index=days)
    sectors = pd.Series({"A": "Tech", "B": "Energy", "C": "Tech"})
    index_weights = pd.DataFrame({"A": 0.5, "B": 0.3, "C": 0.2}, index=ends)
    books = {"neutral": {"A": 1.0, "B": -0.6, "C": -0.4}, "130/30": {"A": 0.9, "B": 0.4, "C": -0.3}}
    holdings = {n: pd.DataFrame(w, index=days) for n, w in books.items()}
    equity = {n: pd.Series(np.linspace(1e6, 1.05e6, len(days)), index=days) for n in books}
    summary, tables, notes = {"strategies": {}}, {}, []
    _attribution(summary, tables, notes, equity, holdings, prices, sectors, index_weights)
    assert notes == ["attribution: neutral has a net exposure of 0% on average (a long/short book); no sector "
                     "attribution against the fully invested index"]
    assert list(summary["strategies"]) == ["130/30"]


def test_sweep_evidence_names_variants_whose_returns_repeat_another_ones():
    """Swept values that change nothing for some variants (an exclude of a ticker never in the index, say)
    make twins: the evidence notes name them and how many variants are distinct (they each still count as
    a trial); an all-distinct sweep has no such note, an all-identical one keeps its own note."""
    from types import SimpleNamespace

    from backtest.analytics.evidence import run_sweep_evidence

    rng = np.random.default_rng(3)
    days = pd.bdate_range("2016-01-01", periods=900)
    a, b = (pd.Series(rng.normal(3e-4, 0.01, len(days)), index=days) for _ in range(2))
    returns = pd.DataFrame({"S [x=1, c=0.03]": a, "S [x=2, c=0.03]": a.copy(), "S [x=1, c=0.05]": b,
                            "S [x=2, c=0.05]": b.copy(), "T [c=1]": a, "T [c=2]": b})
    spec = SimpleNamespace(pbo_blocks=4, walk_forward=SimpleNamespace(train_months=12, test_months=6,
                                                                      metric="sharpe"))
    out = run_sweep_evidence(returns, a, risk_free=None, spec=spec,
                             variants={"S": [c for c in returns if c.startswith("S")], "T": ["T [c=1]", "T [c=2]"]})
    notes = [n for n in out["notes"] if "returns of another one" in n]
    assert notes == ["S: 2 of its 4 variants have the returns of another one ('S [x=2, c=0.03]' = "
                     "'S [x=1, c=0.03]'; 'S [x=2, c=0.05]' = 'S [x=1, c=0.05]'): the swept values that tell "
                     "them apart change nothing; each still counts as a trial in the DSR and PBO (2 distinct)"]
