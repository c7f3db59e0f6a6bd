"""The run's period and day one (issue 10): one base close for strategies, benchmarks, risk-free and analytics;
the benchmark follows the strategies' fill convention; late benchmark/risk-free tickers refused or proxied;
several benchmarks, composites among them. Figures are checked against plain pandas on the raw snapshot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtest.config import parse_config
from backtest.errors import DataError
from backtest.runner import run_backtest
from tests.conftest import MARKET_DATA

CAPITAL = 1_000_000.0


@pytest.fixture(scope="module")
def etf() -> pd.DataFrame:
    """The raw ETF price file of the snapshot (adjusted closes, NaN before inception)."""
    return pd.read_parquet(MARKET_DATA / "prices_etf.parquet")


def _config(start, end, *, fill="next_close", extra="", strategies=None, costs="{}"):
    strategies = strategies or "  - {name: SPY only, weighting: fixed, weights: {SPY: 1.0}, rebalance: never}\n"
    return parse_config(f"name: t\nstart: {start}\nend: {end}\nfill: {fill}\ncosts: {costs}\n{extra}"
                        f"strategies:\n{strategies}")


WINDOWS = {"full": ("2016-01-01", "2026-06-30", "2015-12-31"),
           "ytd": ("2026-01-01", "2026-06-30", "2025-12-31"),
           "1y": ("2025-07-01", "2026-06-30", "2025-06-30")}


@pytest.mark.parametrize("fill", ["close", "next_close"])
@pytest.mark.parametrize("window", list(WINDOWS))
def test_spy_against_spy_is_identical_over_every_window_and_fill(snapshot_store, etf, fill, window):
    """{SPY: 1.0} without costs against the SPY benchmark: the same series to 1e-12, starting at the base close
    (the last close before start), and the total return is SPY's close-to-close return from that base."""
    start, end, base = WINDOWS[window]
    result = run_backtest(_config(start, end, fill=fill), snapshot_store, offline=True)
    equity = result.strategies[0].equity
    assert equity.index[0] == pd.Timestamp(base) == result.benchmark.index[0]
    assert np.abs(equity.to_numpy() / result.benchmark.to_numpy() - 1).max() < 1e-12
    spy = etf["SPY"]
    expected = spy[end] / spy[base] - 1
    assert equity.iloc[-1] / CAPITAL - 1 == pytest.approx(expected, abs=1e-12)
    assert result.benchmark.iloc[-1] / CAPITAL - 1 == pytest.approx(expected, abs=1e-12)
    assert result.manifest["period"]["start"] == base


def test_ytd_run_matches_the_ytd_convention(snapshot_store):
    """`start: 2026-01-01` and `start: 2026-01-02` both measure from the 2025-12-31 close: SPY +10.09% to
    2026-06-30, the figure a YTD table shows (issue 10: the run used to show +9.89%)."""
    for start in ("2026-01-01", "2026-01-02"):
        result = run_backtest(_config(start, "2026-06-30"), snapshot_store, offline=True)
        assert result.benchmark.index[0] == pd.Timestamp("2025-12-31")
        assert round(result.benchmark.iloc[-1] / CAPITAL - 1, 4) == 0.1009


def test_next_close_decides_on_the_close_before_the_base(snapshot_store):
    """Under next_close the opening weights are decided on the close before the base and filled at the base;
    under close, decided and filled at the base. Nothing before the base is shown."""
    for fill, decided in (("next_close", "2015-12-30"), ("close", "2015-12-31")):
        result = run_backtest(_config("2016-01-01", "2016-03-31", fill=fill), snapshot_store, offline=True)
        s = result.strategies[0]
        assert s.targets.index[0] == pd.Timestamp(decided)
        assert set(s.trades["date"]) == {pd.Timestamp("2015-12-31")}
        assert s.holdings.index[0] == pd.Timestamp("2015-12-31") and s.holdings["SPY"].iloc[0] > 0.999


def test_the_opening_fee_counts_in_the_return(snapshot_store, etf):
    """Measured from capital: with 10 bps commission the opening purchase's fee is in the total return."""
    from backtest.results import compute_run_metrics

    result = run_backtest(_config("2026-01-01", "2026-06-30", fill="close", costs="{commission_bps: 10}"),
                          snapshot_store, offline=True)
    s = result.strategies[0]
    fee = s.fees.sum()
    assert fee == pytest.approx(CAPITAL * 0.001 / 1.001, rel=1e-6)       # buys 1/1.001 of capital
    metrics = compute_run_metrics(result)["strategies"]["SPY only"]
    assert metrics["fees_paid"] == pytest.approx(fee)
    assert metrics["total_return"] == pytest.approx(s.equity.iloc[-1] / CAPITAL - 1, abs=1e-12)
    spy = etf["SPY"]
    assert metrics["total_return"] == pytest.approx((spy["2026-06-30"] / spy["2025-12-31"]) / 1.001 - 1, abs=1e-9)


def test_late_benchmark_is_refused_with_its_first_price_and_the_fix(snapshot_store):
    for fill, later in (("close", "2023-04-12"), ("next_close", "2023-04-13")):
        with pytest.raises(DataError, match=r"benchmark: MAGS has its first price on 2023-04-11, so a run from "
                                            rf"2016-01-01 has no base close .*start on or after {later}.*"
                                            r"proxies: \{MAGS: <older ticker>\}"):
            run_backtest(_config("2016-01-01", "2026-06-30", fill=fill, extra="benchmark: MAGS\n"),
                         snapshot_store, offline=True)
    # the suggested start works: base 2023-04-11 (close) / 2023-04-12 (next_close, decided on 2023-04-11)
    ok = run_backtest(_config("2023-04-13", "2023-06-30", extra="benchmark: MAGS\n"), snapshot_store, offline=True)
    assert ok.benchmark.index[0] == pd.Timestamp("2023-04-12")
    with pytest.raises(DataError, match=r"benchmarks\[0\]: RSP has its first price on 2003-05-01"):
        run_backtest(_config("1995-01-01", "2005-12-31", extra="benchmarks: [RSP]\n"), snapshot_store,
                     offline=True)


def test_an_end_after_the_last_price_is_refused_not_shortened(snapshot_store, tmp_path, capsys):
    """The snapshot's prices end on 2026-07-31 (a Friday). An end up to 5 days later is met by that close (a
    weekend, a holiday); a later one would shorten the period the config asks for, so the run stops with the
    last price and the fix, writes nothing, and `bt validate` reports the same."""
    from backtest.cli import main

    ok = run_backtest(_config("2026-07-01", "2026-08-02"), snapshot_store, offline=True)
    assert ok.benchmark.index[-1] == pd.Timestamp("2026-07-31")
    with pytest.raises(DataError, match=r"end: 2026-08-07 is after the last price of SPY \(2026-07-31\), so the "
                                        r"run would stop 7 days short of it; fix: end: null .* on or before "
                                        r"2026-07-31"):
        run_backtest(_config("2026-07-01", "2026-08-07"), snapshot_store, offline=True)
    config = tmp_path / "late.yaml"
    config.write_text("name: late\nstart: 2025-01-01\nend: 2027-12-31\nstrategies:\n"
                      "  - {name: SPY only, weighting: fixed, weights: {SPY: 1.0}}\n")
    out = tmp_path / "out"
    store = ["--data-dir", str(snapshot_store.root)]
    assert main([*store, "run", str(config), "--offline", "--out", str(out)]) == 2
    assert "end: 2027-12-31 is after the last price of SPY (2026-07-31)" in capsys.readouterr().err
    assert not out.exists()
    assert main([*store, "validate", str(config)]) == 2
    assert "end: 2027-12-31 is after the last price of SPY" in capsys.readouterr().err
    assert main([*store, "run", str(config), "--offline", "--out", str(out), "--end", "2026-07-31"]) == 0


def test_late_benchmark_spliced_with_a_proxy(snapshot_store, etf):
    """`proxies: {MAGS: QQQ}`: QQQ's returns before MAGS lists, MAGS's after; the run keeps its period."""
    result = run_backtest(_config("2016-01-01", "2026-06-30", extra="benchmark: MAGS\nproxies: {MAGS: QQQ}\n"),
                          snapshot_store, offline=True)
    b = result.benchmark
    assert b.index[0] == pd.Timestamp("2015-12-31")
    q, m = etf["QQQ"], etf["MAGS"]
    expected = (q["2023-04-11"] / q["2015-12-31"]) * (m["2026-06-30"] / m["2023-04-11"]) - 1
    assert b.iloc[-1] / CAPITAL - 1 == pytest.approx(expected, abs=1e-12)
    assert any("MAGS starts 2023-04-11; before that its returns are QQQ's" in w
               for w in result.manifest["warnings"])


def test_late_risk_free_is_refused_or_proxied(snapshot_store, etf):
    with pytest.raises(DataError, match=r"risk_free: SGOV has its first price on 2020-06-01.*proxies: \{SGOV"):
        run_backtest(_config("2016-01-01", "2026-06-30", extra="risk_free: SGOV\n"), snapshot_store, offline=True)
    result = run_backtest(_config("2016-01-01", "2026-06-30", extra="risk_free: SGOV\nproxies: {SGOV: BIL}\n"),
                          snapshot_store, offline=True)
    rf = result.risk_free
    bil, sgov = etf["BIL"], etf["SGOV"]
    assert (1 + rf.loc[:"2020-06-01"]).prod() == pytest.approx(bil["2020-06-01"] / bil["2015-12-31"], rel=1e-12)
    assert (1 + rf.loc["2020-06-02":]).prod() == pytest.approx(sgov["2026-06-30"] / sgov["2020-06-01"], rel=1e-12)
    assert rf.loc["2016":"2019"].sum() > 0.02       # not 0% until 2020


def test_composite_benchmark_matches_a_pandas_rebuild(snapshot_store, etf):
    """{SPY: 0.6, AGG: 0.4} rebalanced quarterly (first trading day of each quarter, filled at the next close):
    rebuilt here with plain pandas (weights drift with prices, reset on each fill day); the strategy with the
    same weights and no costs is the same series; relative metrics against each benchmark are in metrics.json."""
    from backtest.results import compute_run_metrics

    result = run_backtest(_config(
        "2019-01-01", "2021-12-31", extra="benchmarks: [RSP, {SPY: 0.6, AGG: 0.4}]\n",
        strategies="  - {name: 60/40 quarterly, weighting: fixed, weights: {SPY: 0.6, AGG: 0.4}}\n"),
        snapshot_store, offline=True)
    composite = result.benchmarks["SPY 60% + AGG 40%"]
    px = etf[["SPY", "AGG"]].loc["2018-12-31":"2021-12-31"]
    days = px.index
    # first trading day of each quarter; 2019Q1's (2019-01-02) is the first day of the period: the opening
    # purchase at the base close stands in for it
    quarter_first = days.to_series().groupby(days.to_period("Q")).min().iloc[2:]
    fills = {days[days.get_loc(d) + 1] for d in quarter_first}
    target = np.array([0.6, 0.4])
    w, value, values = target.copy(), CAPITAL, [CAPITAL]
    for i in range(1, len(days)):
        growth = px.iloc[i].to_numpy() / px.iloc[i - 1].to_numpy()
        value *= float(w @ growth)
        w = w * growth / float(w @ growth)
        if days[i] in fills:
            w = target.copy()
        values.append(value)
    np.testing.assert_allclose(composite.to_numpy(), values, rtol=1e-12)
    np.testing.assert_allclose(result.strategies[0].equity.to_numpy(), composite.to_numpy(), rtol=1e-12)
    metrics = compute_run_metrics(result)
    assert list(metrics["benchmarks"]) == ["SPY", "RSP", "SPY 60% + AGG 40%"]
    # a further benchmark's relative figures are against the primary (docs/report.md), not against itself
    import backtest.metrics as M
    spy_r = M.simple_returns(result.benchmark, CAPITAL)
    for name in ("RSP", "SPY 60% + AGG 40%"):
        own = M.compute_metrics(M.simple_returns(result.benchmarks[name], CAPITAL), spy_r, result.risk_free,
                                from_base=True)
        got = metrics["benchmarks"][name]
        for key in ("beta", "tracking_error", "excess_return", "up_capture", "information_ratio"):
            assert got[key] == own[key], (name, key)
    assert 0.4 < metrics["benchmarks"]["SPY 60% + AGG 40%"]["beta"] < 0.7
    assert metrics["benchmarks"]["RSP"]["tracking_error"] > 0.01
    assert metrics["benchmarks"]["SPY"]["beta"] == pytest.approx(1.0, abs=1e-12)
    rel = metrics["relative"]["60/40 quarterly"]
    assert rel["SPY 60% + AGG 40%"]["tracking_error"] == 0.0
    assert rel["SPY 60% + AGG 40%"]["beta"] == pytest.approx(1.0, abs=1e-12)
    assert rel["SPY"]["beta"] == pytest.approx(metrics["strategies"]["60/40 quarterly"]["beta"])
    assert 0.4 < rel["SPY"]["beta"] < 0.7


def test_calendar_years_start_after_the_base_and_partial_years_are_named():
    """The base close (2015-12-31) is the starting point, not a 2015 of its own; 2026 to June is partial,
    2016 (from its first trading day) is whole; a run from 2016-03-01 has a partial 2016."""
    import backtest.metrics as M

    idx = pd.DatetimeIndex(["2015-12-31", "2016-01-04", "2016-12-30", "2017-01-03", "2026-06-30"])
    r = pd.Series([-0.001, 0.01, 0.02, 0.03, 0.04], index=idx)
    years = M.annual_returns(r, from_base=True)
    assert list(M.annual_returns(r).index) == [2015, 2016, 2017, 2026]    # a plain return series: no base
    assert list(years.index) == [2016, 2017, 2026]
    assert years[2016] == pytest.approx(0.999 * 1.01 * 1.02 - 1)       # the opening fee counts in 2016
    assert M.partial_years(r) == {2026}
    late = pd.Series(0.01, index=pd.DatetimeIndex(["2016-02-29", "2016-03-01", "2016-12-30"]))
    assert M.partial_years(late) == {2016}


def test_turnover_splits_opening_ongoing_and_forced_sales():
    """Opening purchase, scheduled rebalances, and a
    forced sale on a day without a rebalance: counted apart; cost drag = fee drag + slippage drag + expense
    ratio (NaN when the slippage is unknown)."""
    import backtest.metrics as M

    days = pd.bdate_range("2020-01-01", "2022-01-03")
    equity = pd.Series(100.0, index=days)
    turnover = pd.Series({days[0]: 0.5, days[60]: 0.02, days[100]: 0.03, days[300]: 0.01})
    fees = pd.Series(0.0, index=days)
    fees.iloc[0] = 0.01
    slippage = fees * 2.0
    slippage.iloc[60] = 0.004
    rebalances = pd.DatetimeIndex([days[0], days[60], days[300]])
    m = M.trading_metrics(turnover, fees, equity, rebalances=rebalances, expense_ratio=0.0015, slippage=slippage)
    years = (days[-1] - days[0]).days / 365.25
    assert m["initial_turnover"] == 0.5 and m["total_turnover"] == pytest.approx(0.56)
    assert m["annual_turnover"] == pytest.approx(0.06 / years)
    assert (m["n_rebalances"], m["n_forced_sales"], m["forced_sale_turnover"]) == (3.0, 1.0, 0.03)
    assert m["slippage_paid"] == pytest.approx(0.024) and m["slippage_drag"] == pytest.approx(0.00024 / years)
    assert m["cost_drag"] == pytest.approx(0.0001 / years + 0.00024 / years + 0.0015)
    unknown = M.trading_metrics(turnover, fees, equity, rebalances=rebalances, expense_ratio=0.0015)
    assert np.isnan(unknown["slippage_paid"]) and np.isnan(unknown["cost_drag"])
    assert unknown["fee_drag"] == m["fee_drag"]


def test_validate_checks_the_data_a_run_would_refuse(snapshot_store, tmp_path, capsys):
    """`bt validate` names what a run would refuse (a late benchmark, a ticker without data), exit 2; a
    config the data supports passes, with notes for tickers that list after the base."""
    from backtest.cli import main

    def bt(*args):
        code = main(["--data-dir", str(snapshot_store.root), *map(str, args)])
        out = capsys.readouterr()
        return code, out.out + out.err

    bad = tmp_path / "bad.yaml"
    bad.write_text("name: v\nstart: 2016-01-01\nbenchmark: MAGS\nrisk_free: SGOV\nstrategies:\n"
                   "  - {name: a, weighting: fixed, weights: {SPY: 0.7, AVUV: 0.2, NOPE: 0.1}}\n")
    code, out = bt("validate", bad)
    assert code == 2
    assert "a run would stop: benchmark: MAGS has its first price on 2023-04-11" in out
    assert "NOPE: not in the store" in out
    unknown = tmp_path / "unknown.yaml"     # every unpriced ticker at once, not one per attempt
    unknown.write_text("name: v\nstart: 2016-01-01\nbenchmark: SPYY\nrisk_free: ZZRF\nstrategies:\n"
                       "  - {name: a, weighting: fixed, weights: {SPY: 0.9, NOPE: 0.1}}\n")
    code, out = bt("validate", unknown)
    assert code == 2 and "benchmark: no prices for 'SPYY' in the store at " in out
    assert "(nor for risk_free: ZZRF); fix: check the spelling" in out and "NOPE: not in the store" in out
    good = tmp_path / "good.yaml"
    good.write_text("name: v\nstart: 2016-01-01\nend: 2026-06-30\nrisk_free: SGOV\nproxies: {SGOV: BIL}\n"
                    "strategies:\n  - {name: a, weighting: equal, universe: [SPY, AVUV]}\n")
    code, out = bt("validate", good)
    assert code == 0, out
    assert ("note: AVUV: first price 2019-09-26, after the base close 2015-12-31: a universe leaves it out of "
            "the targets until then") in out
    assert "OK (1 strategy; config and data checked)" in out
    assert bt("validate", "--config-only", bad)[0] == 0


@pytest.mark.parametrize("strategy, stop", [
    ("{name: a, weighting: fixed, weights: {SPY: 0.7, AVUV: 0.3}}",
     "strategies['a'].weights: AVUV has no price on the decision date 2015-12-30, where `bt run` stops"),
    ("{name: a, weighting: fixed, weights: {SPY: 0.5, ABMD: 0.5}, rebalance: quarterly}",
     "strategies['a'].weights: ABMD has no price on the decision date 2021-07-01, where `bt run` stops (fixed "
     "weights never fall back to the other tickers); its prices stop or have a gap there (last price 2021-04-21)"),
    ("{name: a, weighting: fixed, weights: {SPY: 0.5, ABMD: 0.5}, rebalance: {every: monthly, drift: "
     "{absolute: 0.05}}}",
     "strategies['a'].weights: ABMD has no price on the decision date 2021-05-03, where `bt run` stops"),
    ("{name: a, weighting: fixed, weights: {SPY: 0.5, AVUV: 0.5}}\n  - {name: b, weighting: fixed, weights: "
     "{SPY: 0.5, AVUV: 0.5}, proxies: {AVUV: IWN}}",      # the proxy is b's: a still needs AVUV's prices
     "strategies['a'].weights: AVUV has no price on the decision date 2015-12-30, where `bt run` stops"),
    ("{name: a, weighting: cap, universe: [SPY, AGG]}",
     "strategies['a'].universe: none of its 2 ticker(s) has a share count, and cap weights need one: `bt run` "
     "stops at the first decision (2015-12-30)"),
    ("{name: a, weighting: cap, universe: {tickers: [AAPL, SPY, AGG], exclude: [mag7]}}",    # a group excluded
     "strategies['a'].universe: none of its 2 ticker(s) has a share count, and cap weights need one: `bt run` "
     "stops at the first decision (2015-12-30)"),
    ("{name: a, weighting: fixed, weights: {SPY: 1}, cash_yield: SGOV}",
     "SGOV: first price 2020-06-01, after the base close 2015-12-31, and idle cash accrues at it (cash_yield)"),
])
def test_validate_refuses_what_fixed_weights_cash_yield_and_caps_stop_a_run_on(snapshot_store, tmp_path, capsys,
                                                                         strategy, stop):
    """A fixed-weight ticker without a price on one of its strategy's decision dates (listed later, or prices
    that end while the strategy still rebalances), a cash_yield ticker listed after the base, or cap weights
    over tickers without share counts: `bt run` refuses them, so `bt validate` does too (it said OK, with a
    note that the weight would wait in cash)."""
    from backtest.cli import main

    path = tmp_path / "v.yaml"
    path.write_text(f"name: v\nstart: 2016-01-01\nend: 2022-12-31\nstrategies:\n  - {strategy}\n")
    code = main(["--data-dir", str(snapshot_store.root), "validate", str(path)])
    said = capsys.readouterr().err
    assert code == 2 and stop in said, said
    assert "keeps that weight in cash" not in said
    code = main(["--data-dir", str(snapshot_store.root), "run", str(path), "--offline", "--out",
                 str(tmp_path / "out")])
    assert code == 2 and not (tmp_path / "out").exists()


def test_rotation_run_reports_the_control_rebalances_and_caps(rotation_run):
    """configs/rotation.yaml: 42 quarterly rebalances (opening included) with forced sales apart; the uncapped
    rebuild (control) beats SPY by about 0.34%/yr (point-in-time share counts) and every strategy is measured against it too; the 5% cap
    says how often it bound."""
    import json

    metrics = json.loads((rotation_run / "metrics.json").read_text())
    manifest = json.loads((rotation_run / "manifest.json").read_text())
    control = "Cap-weighted, no cap"
    for name, m in metrics["strategies"].items():
        assert m["n_rebalances"] == 42 and m["initial_turnover"] == pytest.approx(0.5, abs=2e-4), name
        assert set(metrics["relative"][name]) == {"SPY", control}
    assert metrics["strategies"]["Equal-weight S&P 493"]["n_forced_sales"] == 4
    assert metrics["relative"][control]["SPY"]["excess_return"] == pytest.approx(0.0034, abs=5e-4)
    capped = metrics["relative"]["Cap-weighted, 5% cap"]
    assert capped[control]["excess_return"] == pytest.approx(
        capped["SPY"]["excess_return"] - metrics["relative"][control]["SPY"]["excess_return"], abs=2e-4)
    assert "Cap-weighted, 5% cap: caps (single 0.05) bound on 26 of 42 rebalance dates" in manifest["warnings"]
    assert manifest["period"]["start"] == "2015-12-31"


def test_rotation_config_follows_an_earlier_end():
    """`bt run configs/rotation.yaml --end 2025-12-31`: analytics.asof is not pinned, so it follows the end."""
    from backtest.config import apply_overrides, load_config
    from tests.conftest import REPO

    cfg = apply_overrides(load_config(REPO / "configs" / "rotation.yaml"), end="2025-12-31")
    assert cfg.end == pd.Timestamp("2025-12-31") and cfg.analytics.asof is None


def test_bt_run_of_a_config_with_a_sweep_grid_says_the_grid_is_not_run(snapshot_store):
    """`bt run` runs the strategies as written; the config's `sweep:` block has no effect there, so the run
    says so (first warning; the terminal gets it as a note) instead of ignoring it silently."""
    from backtest.runner import SWEEP_NOT_RUN

    extra = "sweep:\n  grid:\n    rebalance: [monthly, quarterly]\n"
    said: list[str] = []
    result = run_backtest(_config("2025-01-01", "2025-06-30", extra="", strategies=(
        "  - {name: SPY only, weighting: fixed, weights: {SPY: 1.0}, rebalance: never}\n" + extra)),
        snapshot_store, offline=True, echo=said.append)
    assert result.manifest["warnings"][0] == SWEEP_NOT_RUN and f"note: {SWEEP_NOT_RUN}" in said
    plain = run_backtest(_config("2025-01-01", "2025-06-30"), snapshot_store, offline=True)
    assert SWEEP_NOT_RUN not in plain.manifest["warnings"]


def test_a_run_shorter_than_a_year_warns_that_annualised_figures_extrapolate(snapshot_store):
    from backtest.runner import short_period_notes

    short = run_backtest(_config("2026-07-31", "2026-08-01"), snapshot_store, offline=True)
    (note,) = short_period_notes(short.benchmark.index)
    assert note.startswith("the run covers 1 trading day after its base close (2026-07-30 .. 2026-07-31), less "
                           "than a year") and note in short.manifest["warnings"]
    year = run_backtest(_config("2025-07-01", "2026-06-30"), snapshot_store, offline=True)    # 365 days from
    assert (year.benchmark.index[-1] - year.benchmark.index[0]).days == 365                  # its base close
    assert short_period_notes(year.benchmark.index) == []
    assert not any(w.startswith("the run covers") for w in year.manifest["warnings"])


def test_the_expense_ratio_accrues_from_the_base_close_under_either_fill(snapshot_store):
    """{SPY: 1} with a 1% expense ratio, no costs: worth the capital at the base close and SPY's path times
    0.99^(days/252) after it, the same under both fills (under next_close the simulation starts on the
    decision day before the base; the fee was charged for that day too)."""
    strategies = "  - {name: S, weighting: fixed, weights: {SPY: 1.0}, rebalance: never, expense_ratio: 0.01}\n"
    seen = {}
    for fill in ("close", "next_close"):
        r = run_backtest(_config("2024-07-01", "2025-06-30", fill=fill, strategies=strategies), snapshot_store,
                         offline=True)
        (s,) = r.strategies
        days = np.arange(len(s.equity))
        np.testing.assert_allclose(s.equity.to_numpy(), r.benchmark.to_numpy() * 0.99 ** (days / 252), rtol=1e-13)
        assert s.equity.iloc[0] == CAPITAL
        seen[fill] = s.equity
    pd.testing.assert_series_equal(seen["close"], seen["next_close"], rtol=1e-13)


def test_prices_on_days_the_nyse_was_closed_are_left_out_with_a_warning(snapshot_store, tmp_path):
    """A ticker imported on a weekday calendar that keeps US holidays added rows on which no other name has a
    price, so every trailing window that held one was short: inverse_vol held 100% of that ticker and called
    SPY and GLD 'listed later'. Those rows are left out of the run (named in a warning); the weights then
    equal those of the same ticker without the holiday rows."""
    from backtest.data.store import PriceStore
    from backtest.plans import build_plans
    from backtest.data.inputs import load_inputs

    real = snapshot_store.prices(["SPY", "GLD", "IWN"], start=pd.Timestamp("2020-01-01"),
                                 end=pd.Timestamp("2021-12-31"))
    weekdays = pd.bdate_range(real.index[0], real.index[-1])
    zzz = real["IWN"].reindex(weekdays).ffill().rename("ZZZ")     # priced on Good Friday, Christmas ...
    text = ("name: h\nstart: 2021-01-01\nend: 2021-12-31\nrebalance: quarterly\nstrategies:\n"
            "  - {name: IV, weighting: inverse_vol, universe: [SPY, GLD, ZZZ], lookback: 63}\n")
    results = {}
    for label, series in (("holidays", zzz), ("sessions", zzz.reindex(real.index))):
        store = PriceStore(tmp_path / label)
        store.write_prices(pd.concat([real[["SPY", "GLD"]], series], axis=1, sort=True), "test")
        inputs = load_inputs(parse_config(text), store, offline=True)
        results[label] = (build_plans(parse_config(text), inputs).plans["IV"].targets, inputs.warnings)
    targets, warnings = results["holidays"]
    assert (targets["ZZZ"] < 0.6).all() and (targets["SPY"] > 0.1).all()
    pd.testing.assert_frame_equal(targets, results["sessions"][0])
    (note,) = [w for w in warnings if "no NYSE session" in w]
    assert note.startswith(f"{len(weekdays.difference(real.index))} day(s) with prices but no NYSE session are "
                           "left out of the run (2020-01-20, ") and note.endswith(
        "ZZZ (priced on exchange holidays or weekends); the run trades on NYSE sessions")
    assert not [w for w in results["sessions"][1] if "no NYSE session" in w]


def test_a_store_with_an_unfinished_import_is_refused_by_run_and_validate(snapshot_store, tmp_path):
    """An interrupted `bt data import` of the snapshot left part of its files (prices, no share counts):
    `bt validate` said OK and `bt run` failed on missing share counts without saying why. The import marks
    the store while it writes; a run and validate refuse a marked store, naming the import and the fix."""
    from backtest.data.inputs import check_data, load_inputs
    from backtest.data.store import PriceStore

    store = PriceStore(snapshot_store.root)          # the shared store, read only: mark a copy's root
    copy = PriceStore(tmp_path / "store")
    copy.root.mkdir()
    for f in snapshot_store.root.iterdir():
        if f.is_file() and not f.name.startswith("."):
            (copy.root / f.name).symlink_to(f)
    copy.begin_import("../shared/market-data")
    cfg = parse_config("name: u\nstart: 2020-01-01\nend: 2020-12-31\nstrategies:\n"
                       "  - {name: F, weighting: fixed, weights: {SPY: 1}}\n")
    with pytest.raises(DataError, match=r"holds an unfinished import: `bt data import \.\./shared/market-data` "
                                        r"started .* fix: run `bt data import \.\./shared/market-data` again"):
        load_inputs(cfg, copy, offline=True)
    problems, _ = check_data(cfg, copy)
    assert problems and "holds an unfinished import" in problems[0]
    copy.end_import()
    assert copy.unfinished_import() is None and load_inputs(cfg, copy, offline=True).calendar[-1].year == 2020
    assert store.unfinished_import() is None
