"""The report and comparison pages as HTML text: self-contained, complete, escaped (no browser needed)."""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from backtest.errors import UsageError
from backtest.report import compare_runs, format_run_list, render_comparison, render_report
from backtest.report.compare import config_differences, flatten
from backtest.report.page import _plotly_js, fmt
from backtest.results import list_runs, load_run

from .synthetic import HOSTILE_NAMES

SECTION_IDS = ("overview", "growth", "relative", "drawdowns", "rolling", "calendar", "monthly",
               "distribution", "holdings", "weights", "trading", "metrics", "run-tables", "warnings",
               "config", "data", "versions")
FIGURES = 16  # growth, 2 relative, drawdowns, 4 rolling, years, months, 2 distributions, sectors, weights,
# trading, and the generic analytics table's line plot


class _Scripts(HTMLParser):
    """Collects every <script> (attributes, text) and the external resources the page would fetch."""

    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.scripts: list[tuple[dict, str]] = []
        self.external: list[str] = []
        self._open: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            self._open = attrs
            self.scripts.append((attrs, ""))
        for key in ("src", "href"):
            value = attrs.get(key) or ""
            if re.match(r"^(https?:)?//", value):
                self.external.append(value)

    def handle_data(self, data):
        if self._open is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag):
        if tag == "script":
            self._open = None


@pytest.fixture(scope="module")
def report(saved_dir) -> str:
    return (saved_dir / "report.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def hostile_report(hostile_dir) -> str:
    return (hostile_dir / "report.html").read_text(encoding="utf-8")


def test_self_contained_single_plotly(report):
    parser = _Scripts()
    parser.feed(report)
    assert parser.external == []  # no CDN, no remote stylesheet or image
    assert [a.get("src") for a, _ in parser.scripts if a.get("src")] == []
    assert report.count(_plotly_js()[:200]) == 1  # the partial plotly.js bundle inlined exactly once
    assert "plotly.js v4" in report[:report.index("Plotly")]  # ... with its header naming version and licence
    assert len(report.encode()) < 2e6


def test_every_section_and_figure(report):
    for anchor in SECTION_IDS:
        assert f'<section id="{anchor}">' in report, anchor
    figures = report.count('class="bt-fig"')
    assert figures == report.count('<div class="plot"></div>') == FIGURES
    assert 'class="section-error"' not in report


def test_metrics_table_in_percent(report):
    row = re.search(r"<abbr[^>]*>Total return</abbr></td>(.*?)</tr>", report).group(1)
    assert re.findall(r">(−?[\d.,]+%)<", row)  # fractions shown as percent
    assert "Sharpe ratio" in report and "Up capture" in report and "Daily CVaR 95%" in report


def test_warnings_config_coverage_versions(report):
    assert "T19: no prices before 2021-02-01, spliced proxy T18" in report
    assert report.count("Equal weight, Tilted: T07 has no shares data") == 1  # notes attributed, once
    assert "commission_bps: 5.0" in report
    assert "1 do not: T19" in report
    assert re.search(r"<dt>pandas</dt><dd>\d", report)


def test_hostile_text_is_escaped(hostile_report):
    for name in HOSTILE_NAMES[:1] + HOSTILE_NAMES[3:]:
        assert name not in hostile_report
    assert "<script>window.__pwned" not in hostile_report
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in hostile_report
    assert "ctl\\x07\\x1b[31mred" in hostile_report  # control characters shown, not emitted
    parser = _Scripts()
    parser.feed(hostile_report)
    assert len(parser.scripts) == 3 + hostile_report.count('class="bt-fig"')  # nothing injected
    for attrs, text in parser.scripts:
        if attrs.get("type") == "application/json":
            assert "<" not in text  # JSON in <script> carries no markup at all


def test_extra_sections_hook(saved_dir):
    saved = load_run(saved_dir)

    def custom(run):
        return f'<section id="custom"><h2>Custom for {len(run.strategies)}</h2></section>'

    def broken(run):
        raise KeyError("missing frame")

    page = render_report(saved, sections=[custom, broken])
    assert "Custom for 2" in page
    assert "Section broken failed: KeyError" in page and 'class="section-error"' in page


def test_extra_sections_rendered_elsewhere_give_the_same_page(saved_dir):
    """`bt run` has its helper process render the extra sections from the folder (`extra_sections_of`) while
    it renders the rest: the page is the one `render_report` makes alone, the section in the same place."""
    from backtest.report.html import extra_sections, extra_sections_of

    saved = load_run(saved_dir)
    elsewhere = extra_sections_of(str(saved_dir))
    assert elsewhere == extra_sections(saved) and 'class="section-error"' not in elsewhere
    calls = []

    def extra():
        calls.append(1)
        return elsewhere

    page = render_report(saved, extra=extra)
    assert page == render_report(saved) and calls == [1]
    assert page.index('id="metrics"') < page.index('id="analytics"') < page.index('id="warnings"')
    assert 'id="analytics"' not in render_report(saved, extra=lambda: "")     # nothing to show: no section


def test_fmt():
    assert fmt(0.12345, "pct") == "12.35%" and fmt(-0.5, "pct") == "−50.00%"
    assert fmt(float("nan"), "pct") == "–" and fmt(None) == "–"
    assert fmt(1.234, "ratio") == "1.23" and fmt(1234.4, "days") == "1,234"
    assert fmt("2021-01-04", "date") == "2021-01-04"


# --- comparison ----------------------------------------------------------------------------------------


def test_flatten_and_differences():
    a = {"name": "x", "costs": {"bps": 1}, "strategies": [{"name": "s", "caps": {"single": 0.05}}]}
    b = {"name": "x", "costs": {"bps": 2}, "strategies": [{"name": "s"}], "extra": []}
    assert flatten(a) == {"name": "x", "costs.bps": 1, "strategies[0].name": "s",
                          "strategies[0].caps.single": 0.05}
    differing, values, same = config_differences([a, b])
    assert differing == ["costs.bps", "strategies[0].caps.single", "extra"]
    assert values["costs.bps"] == [1, 2] and same == 2


def test_comparison_page(saved_dir, hostile_dir, tmp_path):
    runs = [load_run(saved_dir), load_run(hostile_dir)]
    page = render_comparison(runs)
    assert page.count('class="bt-fig"') == 2 and "<script>window.__pwned" not in page
    assert "Config differences" in page and 'class="diff"' in page and "strategies[0].name" in page
    out = compare_runs([saved_dir, hostile_dir], tmp_path / "sub" / "cmp.html")
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    in_dir = compare_runs([saved_dir, saved_dir], tmp_path)
    assert in_dir.parent == tmp_path and in_dir.name.startswith("compare-")
    assert "#2" in in_dir.read_text(encoding="utf-8")  # the same folder twice gets distinct labels
    with pytest.raises(UsageError, match="at least two run folders"):
        compare_runs([saved_dir], tmp_path / "x.html")


def test_format_run_list(saved_dir, hostile_dir):
    text = format_run_list(list_runs(saved_dir.parent) + list_runs(hostile_dir.parent))
    assert saved_dir.name in text and "Equal weight" in text and "SPY (benchmark)" in text
    assert "\x1b" not in text and "\x07" not in text and "\\x1b" in text  # terminal-safe
    assert re.search(r"Tilted\s+−?-?\d+\.\d%", text)
    assert format_run_list([]) == "no saved runs"


def test_the_partial_plotly_bundle_matches_the_python_package_and_ships_its_licence():
    """The bundle is plotly.js at the version the Python package writes figures for (else rebuild it with
    scripts/build_plotly_bundle.py), is packaged with its licence, and is a fraction of the full library."""
    from importlib import resources

    from plotly.offline import get_plotlyjs, get_plotlyjs_version

    head = _plotly_js()[:300]
    assert f"plotly.js v{get_plotlyjs_version()} (partial bundle: scatter, bar, heatmap)" in head
    licence = resources.files("backtest.report").joinpath("assets", "LICENSE-plotly.txt").read_text()
    assert licence.startswith("=") and "plotly.js" in licence.split("\n")[1] and "MIT" in licence[:400]
    assert len(_plotly_js()) < 0.3 * len(get_plotlyjs())
    setup = (Path(__file__).resolve().parents[2] / "setup.cfg").read_text()
    assert "assets/*.js, assets/*.txt" in setup


def test_comparison_growth_is_measured_from_capital_like_the_report(saved_dir):
    """A run compared over its own full period starts from its capital, as its own report and metrics.json
    do: the opening fees count, and the drawdowns match the report's."""
    from backtest import metrics as M
    from backtest.report.compare import _common_values
    from backtest.results import run_capital

    run = load_run(saved_dir)
    series, bench_rows = _common_values([run, run], ["a", "b"])
    capital = run_capital(run.config)
    first = run.strategies[0]
    growth = dict(series)[f"a / {first.name}"]
    assert growth.iloc[0] == pytest.approx(first.equity.iloc[0] / capital, rel=1e-15)
    assert (growth - first.equity / capital).abs().max() < 1e-15
    own = M.max_drawdown(M.simple_returns(first.equity, capital))
    assert M.max_drawdown(M.simple_returns(growth, 1.0)) == pytest.approx(own, rel=1e-12)
    assert own == pytest.approx(run.metrics["strategies"][first.name]["max_drawdown"], rel=1e-12)
    # a later common start rebases to 1 there
    later = dataclasses.replace(run, benchmark=run.benchmark.iloc[10:])
    series, _ = _common_values([run, later], ["a", "b"])
    assert dict(series)[f"a / {first.name}"].iloc[0] == 1.0


def test_shared_dates_one_array_per_calendar():
    """Traces on the same days point at one shared array (formatted once), whatever the index's resolution;
    other days get the next key, in first-seen order."""
    import pandas as pd

    from backtest.report.page import SharedDates

    shared = SharedDates()
    days = pd.DatetimeIndex(["2024-01-02", "2024-01-03", "2024-01-04"])
    assert shared.x(days) == {"meta": {"xref": "d0"}}
    assert shared.x(days.as_unit("s")) == {"meta": {"xref": "d0"}}
    assert shared.x(days[:2]) == {"meta": {"xref": "d1"}}
    intraday = pd.DatetimeIndex(["2024-01-02 16:00", "2024-01-03", "2024-01-04"])     # labels are days
    assert shared.x(intraday) == {"meta": {"xref": "d0"}}
    assert shared.arrays == {"d0": ["2024-01-02", "2024-01-03", "2024-01-04"],
                             "d1": ["2024-01-02", "2024-01-03"]}


def test_factor_table_shows_undefined_statistics_as_a_dash_not_nan():
    """A strategy identical to its benchmark: active loadings exactly 0, t-statistics and R² undefined (NaN
    from `factors.regress`): the cells read "0.00 (–)" and "–", never "nan"."""
    from backtest.report.evidence_section import factor_table

    nan = float("nan")
    frame = pd.DataFrame([
        {"strategy": "Same as SPY", "model": "ff3_daily", "kind": "active", "start": "2016-01-05",
         "end": "2018-12-31", "n": 753, "alpha": 0.0, "alpha_t": nan, "r2": nan,
         "beta_MKT_RF": 0.0, "t_MKT_RF": nan, "beta_SMB": 0.0, "t_SMB": nan, "beta_HML": 0.0, "t_HML": nan},
        {"strategy": "Tilt", "model": "ff3_daily", "kind": "active", "start": "2016-01-05",
         "end": "2018-12-31", "n": 753, "alpha": 0.01, "alpha_t": 1.5, "r2": 0.25,
         "beta_MKT_RF": -0.05, "t_MKT_RF": -2.5, "beta_SMB": 0.1, "t_SMB": 3.0, "beta_HML": 0.2, "t_HML": 4.0},
    ])
    html = factor_table(frame)
    assert "nan" not in html.lower()
    assert html.count("0.00 (–)") == 3
    assert "−0.05 (−2.5)" in html and "0.25" in html


def test_compare_flags_cash_flow_schedules_by_their_entries_and_a_different_capital():
    """Two runs with one cash-flow entry each but different amounts are not like for like (the count alone
    was compared); nor are runs with different capital (money figures scale with it)."""
    from types import SimpleNamespace

    from backtest.report.compare import convention_flags

    idx = pd.bdate_range("2020-01-01", "2020-12-31")

    def run(amount, capital):
        return SimpleNamespace(benchmark=pd.Series(1.0, index=idx), benchmark_name="SPY", risk_free=None, metrics={},
                               manifest={"fill": "next_close"},
                               config={"capital": capital, "cash_flows": [{"every": "monthly", "amount": amount}]})

    assert convention_flags([run(1000, 1e6), run(1000, 1e6)], ["a", "b"]) == ""
    box = convention_flags([run(1000, 1e6), run(10000, 1e5)], ["a", "b"])
    assert "Cash-flow schedule differs</b>: a: every monthly, amount 1000; b: every monthly, amount 10000" in box
    assert "Capital differs</b>: a: 1,000,000; b: 100,000" in box


def test_generic_tables_show_fractions_as_percent_and_money_with_separators():
    """Tables rendered from a frame format numbers by their column's unit (the cash-flow table showed an
    ending value as 3.604e+05 and its IRR as 0.1345); a strategy's name as a column carries no unit."""
    from backtest.report.page import column_kind, frame_table

    frame = pd.DataFrame({"ending_value": [360365.4], "irr": [0.13452], "mean_cash_share": [2.6e-18],
                          "longest_spell_days": [51.0], "share_refresh_turnover": [6.833e-06],
                          "Equal-weight S&P 493": [1.2345]}, index=pd.Index(["A"], name="strategy"))
    html = frame_table(frame)
    for shown in ("360,365", "13.45%", "0.00%", ">51<", "0.00%", "1.234"):
        assert shown in html, shown
    assert "e+05" not in html and "e-18" not in html
    assert column_kind("Equal-weight S&P 493") == "num" and column_kind("held_weight_max") == "pct"
    assert "360,365" in frame_table(frame[["ending_value"]], kind="money")


def test_further_benchmarks_are_drawn_in_the_growth_chart(saved_dir):
    """A run's further benchmarks (config `benchmarks:`) were only in the tables: the growth chart draws
    them too, dotted, after the strategies and the primary benchmark."""
    from backtest.report import figures as F
    from backtest.report.html import labelled_series

    saved = load_run(saved_dir)
    rsp = (saved.benchmark * 0.9 + saved.benchmark.iloc[0] * 0.1).rename("RSP")
    with_more = dataclasses.replace(saved, benchmarks={"RSP": rsp})
    values, _, b = labelled_series(with_more)
    fig = F.growth_figure(values, b, further=[("RSP (benchmark)", rsp)])
    assert [t.name for t in fig.data][-1] == "RSP (benchmark)" and fig.data[-1].line.dash == "dot"
    assert list(fig.data[-1].y) == pytest.approx(list(rsp.to_numpy()), rel=1e-4)
    page = render_report(with_more)
    growth = page[page.index('id="growth"'):page.index('id="relative"')]
    assert "RSP (benchmark)" in growth and "further benchmarks dotted" in growth
    assert "RSP (benchmark)" not in render_report(saved)


def test_compare_flags_a_run_saved_before_slippage_counted_in_the_cost_drag(saved_dir):
    """metrics.json's cost_drag kept its name when it began to count slippage and the borrow fee: a run saved
    before (no slippage_paid) beside a new one is flagged, not compared as if alike."""
    from backtest.report.compare import convention_flags

    new = load_run(saved_dir)
    old_metrics = {**new.metrics, "strategies": {n: {k: v for k, v in m.items() if not k.startswith("slippage")}
                                                 for n, m in new.metrics["strategies"].items()}}
    old = dataclasses.replace(new, metrics=old_metrics)
    assert convention_flags([new, new], ["a", "b"]) == ""
    box = convention_flags([old, new], ["old", "new"])
    assert "Cost drag differs</b>: old: commission + expense ratio (saved before slippage and the borrow fee " \
           "were counted); new: commission + slippage + expense ratio + borrow fee" in box


def test_generic_line_charts_put_fractions_on_their_own_percent_axis():
    """A run table mixing counts (about 500 names) and fractions (an 8.9% weight): the fractions were flat
    lines at zero on the counts' axis; they get a second axis in % and every line is named in words."""
    from backtest.report.figures import line_figure

    idx = pd.date_range("2020-01-31", periods=4, freq="ME")
    frame = pd.DataFrame({"names": [498, 500, 501, 503], "without_shares": [86, 90, 95, 105],
                          "left_out_weight_est": [0.01, 0.05, 0.0888, 0.02]}, index=idx)
    fig = line_figure(frame)
    by_name = {t.name: t for t in fig.data}
    assert set(by_name) == {"names", "Without shares", "Left out weight est (right, %)"}
    assert by_name["Left out weight est (right, %)"].yaxis == "y2" and by_name["names"].yaxis in (None, "y")
    assert fig.layout.yaxis2.tickformat == ".1%" and fig.layout.yaxis2.overlaying == "y"
    only = line_figure(frame[["left_out_weight_est"]])
    assert only.data[0].yaxis in (None, "y") and only.layout.yaxis.tickformat == ".1%"


def test_compare_config_differences_spell_values_as_yaml():
    """`risk_free: null` in one run was shown as Python's None (and booleans as True/False)."""
    from backtest.report.compare import _MISSING, _cell

    assert [_cell(v) for v in (None, True, False, 0.05, "BIL", _MISSING)] == [
        "null", "true", "false", "0.05", "BIL", "(absent)"]


def test_rounding_noise_is_no_negative_money_and_no_idle_cash_has_no_date():
    """Interest of -3e-14 showed as '-0'; a strategy never holding idle cash got a 'max on' date."""
    from types import SimpleNamespace

    from backtest.report.page import fmt
    from backtest.report.sweep import TABLE_METRICS
    from backtest.runner import idle_cash_table

    assert fmt(-3.055e-14, "money") == "0" and fmt(-1.0, "money") == "-1" and fmt(1234.4, "money") == "1,234"
    idx = pd.bdate_range("2024-01-01", periods=5)
    sims = {"A": SimpleNamespace(cash=pd.Series([0.0, 2.7e-18 * 1e6, 0.0, 0.0, 0.0], index=idx),
                                 equity=pd.Series(1e6, index=idx)),
            "B": SimpleNamespace(cash=pd.Series([0.0, 5e4, 0.0, 0.0, 0.0], index=idx),
                                 equity=pd.Series(1e6, index=idx))}
    built = SimpleNamespace(plans={n: SimpleNamespace(cash_rate=None) for n in sims}, cash_sources={})
    table = idle_cash_table(sims, built)
    assert pd.isna(table.loc["A", "max_on"]) and table.loc["B", "max_on"] == idx[1]
    assert "slippage_drag" in TABLE_METRICS          # the sweep table shows every part of the cost drag


def test_rolling_beta_chart_is_on_excess_returns_like_the_headline_beta():
    """The rolling beta chart uses the run's risk-free series as the Metrics table's beta does: its last point
    is the beta of the last 252 days' returns in excess of the rate (it was on raw returns)."""
    import numpy as np

    from backtest import metrics as M
    from backtest.report import figures as F

    dates = pd.bdate_range("2020-01-01", periods=300)
    rng = np.random.default_rng(7)
    bench = pd.Series(rng.normal(0.0004, 0.01, len(dates)), index=dates)
    strat = pd.Series(0.5 * bench.to_numpy() + rng.normal(0.0003, 0.004, len(dates)), index=dates)
    rf = pd.Series(np.linspace(0.0, 0.004, len(dates)), index=dates)     # a large rate: the choice shows
    figs = dict(F.rolling_figures([("S", strat), ("SPY", bench)], 1, rf))
    (trace,) = figs["Rolling 12-month beta vs benchmark"].data
    last = strat.iloc[-252:], bench.iloc[-252:]
    assert trace.y[-1] == pytest.approx(M.beta(*last, risk_free=rf), rel=1e-4)    # figures keep 4 digits
    assert abs(trace.y[-1] - M.beta(*last)) > 1e-3                              # raw returns: 0.006 off


def test_bt_list_shows_a_sweeps_best_variants_not_all_of_them(tmp_path):
    """`bt list` of a 1,000-variant sweep printed 2,000+ lines and called it "1000 strategies": a sweep's
    folder is marked as one and shows its 5 highest Sharpe ratios (NaN last), then the benchmark."""
    from backtest.results import SavedRunSummary

    names = [f"S [c={i}]" for i in range(8)]
    sharpe = [0.1, float("nan"), 0.9, 0.3, 0.8, 0.2, 0.7, 0.6]
    head = {n: {"total_return": 0.1, "cagr": 0.01, "volatility": 0.1, "sharpe": v, "max_drawdown": -0.1}
            for n, v in zip(names, sharpe)}
    summary = SavedRunSummary(path=tmp_path / "s-20260101-000000", name="s", created="now", start="2016-01-01",
                              end="2017-01-01", strategies=tuple(names), benchmark_name="SPY", headline=head,
                              benchmark_headline=head[names[0]], sweep=True)
    text = format_run_list([summary])
    assert "sweep of 8 strategies vs SPY" in text and "the 5 highest Sharpe ratios of 8" in text
    shown = [line.split()[1] for line in text.splitlines() if line.strip().startswith("S [")]
    assert shown == ["[c=2]", "[c=4]", "[c=6]", "[c=7]", "[c=3]"]
    plain = format_run_list([dataclasses.replace(summary, sweep=False)])
    assert "sweep" not in plain and all(n in plain for n in names)


def test_a_sweep_ranked_by_a_metric_without_a_better_side_says_highest(sweep_dir):
    """--metric n_rebalances ranked the variant with the most rebalances as 'Best by Rebalances': a count has
    no better side, so the page says 'Highest'; a return metric keeps 'Best by'."""
    from backtest.report.sweep import render_sweep

    saved = load_run(sweep_dir)
    html = render_sweep(saved, metric="n_rebalances")
    assert "Highest Rebalances:" in html and "Best by Rebalances" not in html and "The 10 highest Rebalances" in html
    assert "Best by CAGR:" in render_sweep(saved, metric="cagr")
