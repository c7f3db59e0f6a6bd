"""The tearsheet's numbers against plain pandas / the standard library, and the readability rules (no I/O,
no browser): log ticks, legends, headers, warnings, the comparison flags, the sweep colours, `bt list`."""

from __future__ import annotations

import math
import re
from statistics import NormalDist

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from backtest.report import render_comparison, render_report
from backtest.report.compare import convention_flags, format_run_list
from backtest.report.figures import MIN_TICK_PX, growth_figure, log_ticks
from backtest.report.page import LEGEND_ROWS, keep_plot_area, words
from backtest.report.tearsheet import annual_table, histogram_counts, rebalance_activity, relative_series
from backtest.results import list_runs, load_run
from backtest.runner import save_run

from .synthetic import make_run


@pytest.mark.parametrize("low, high, px", [(8e5, 1.05e7, 290), (9e5, 1.6e6, 290), (1e6, 1.3e6, 290),
                                           (0.5, 40.0, 290), (2e5, 9e9, 290), (0.95, 1.02, 200)])
def test_log_ticks_never_crowd_and_cover_the_range(low, high, px):
    ticks = log_ticks(low, high, plot_px=px)
    vals = ticks["tickvals"]
    per_decade = px / (math.log10(high) - math.log10(low))
    gaps = [math.log10(b / a) * per_decade for a, b in zip(vals, vals[1:], strict=False)]
    assert len(vals) >= 2 and min(gaps) >= MIN_TICK_PX
    assert all(low / 1.05 <= v <= high * 1.05 for v in vals)
    assert len(set(ticks["ticktext"])) == len(vals)


def test_the_8m_9m_10m_collision_is_gone():
    ticks = log_ticks(1e6, 1.05e7, plot_px=290)
    assert "9M" not in ticks["ticktext"] and "10M" in ticks["ticktext"] and "2M" in ticks["ticktext"]


def test_long_runs_open_on_log_scale():
    idx = pd.bdate_range("2016-01-04", "2026-06-30")
    long = [("A", pd.Series(np.linspace(1e6, 5e6, len(idx)), index=idx))]
    assert growth_figure(long, None).layout.yaxis.type == "log"
    short = [("A", long[0][1].iloc[-600:])]
    assert growth_figure(short, None).layout.yaxis.type in (None, "linear", "-")


def test_many_legend_entries_move_out_of_the_plot():
    fig = go.Figure([go.Scatter(y=[1, 2], name=f"Portfolio {i}") for i in range(LEGEND_ROWS + 13)])
    fig.update_layout(legend=dict(orientation="h"), height=380)
    keep_plot_area(fig)
    assert fig.layout.legend.orientation == "v" and fig.layout.legend.x > 1   # short names: to the right
    long = go.Figure([go.Scatter(y=[1, 2], name=f"Capped [caps.single=0.0{i}, caps.groups.mag7=0.3]")
                      for i in range(10)])
    long.update_layout(legend=dict(orientation="h"), height=440, margin=dict(t=80, b=40))
    keep_plot_area(long)
    assert long.layout.legend.orientation == "v" and long.layout.legend.y < 0
    # the plot keeps its height: what the figure grew by went to the bottom margin
    assert long.layout.height - long.layout.margin.b == 440 - 40


def test_headers_are_words():
    assert words("without_shares") == "Without shares" and words("top10_share") == "Top10 share"
    assert words("Effective N") == "Effective N" and words("date") == "date" and words("HHI") == "HHI"


@pytest.fixture(scope="module")
def saved(saved_dir):
    return load_run(saved_dir)


def test_relative_series_are_growth_differences_and_ratios(saved):
    values = [(s.name, s.equity) for s in saved.strategies] + [("SPY", saved.benchmark)]
    excess, ratio = relative_series(values, len(values) - 1)
    a, b = saved.strategies[1].equity, saved.benchmark
    pd.testing.assert_series_equal(excess[1][1], a / a.iloc[0] - b / b.iloc[0], check_names=False)
    pd.testing.assert_series_equal(ratio[1][1], (a / a.iloc[0]) / (b / b.iloc[0]), check_names=False)


def test_annual_table_matches_year_end_values(saved):
    eq = saved.strategies[0].equity
    r = eq.pct_change().fillna(0.0)
    html = annual_table([("A", r), ("SPY", saved.benchmark.pct_change().fillna(0.0))], 1)
    year_end = eq.groupby(eq.index.year).last()
    expected = year_end / year_end.shift(1).fillna(eq.iloc[0]) - 1     # plain pandas, value at year ends
    rows = re.findall(r'<td class="label">(.*?)</td><td class="num[^"]*">(.*?)</td>', html)
    # the first date (2021-01-04) is the series' base close: the first year's return is measured from it
    assert [lab for lab, _ in rows] == ["2021 (from 04 Jan close)", "2022", "2023 (to 27 Nov)"]
    for (_, shown), v in zip(rows, expected, strict=True):
        assert shown.replace("−", "-") == f"{v:.2%}"


def test_histogram_counts_and_the_normal_fit(saved):
    r = saved.strategies[0].equity.pct_change().iloc[1:]
    edges, counts, normal = histogram_counts(r, 60)
    assert counts.sum() == len(r) and len(edges) == 61
    inside = pd.cut(r, edges, include_lowest=True).value_counts(sort=False).to_numpy()
    assert counts.tolist() == inside.tolist()
    dist = NormalDist(r.mean(), r.std(ddof=1))
    assert normal[30] == pytest.approx(len(r) * (dist.cdf(edges[31]) - dist.cdf(edges[30])), rel=1e-12)
    assert histogram_counts(pd.Series([0.01] * 5), 10)[0].size == 0     # flat: nothing to draw


def test_rebalance_activity_counts_orders(saved):
    s = saved.strategies[0]
    act = rebalance_activity(s.turnover, s.trades)
    assert act["orders"].sum() == len(s.trades)
    assert act["buys"].sum() == (s.trades["side"] == "buy").sum()
    assert act["turnover"].dropna().tolist() == s.turnover.tolist()
    assert act["fees"].sum() == pytest.approx(s.trades["fees"].sum())


def test_long_warnings_fold_and_keep_every_character(tmp_path):
    names = ", ".join(f"T{i:03d} ({i})" for i in range(111))
    warning = f"111 member(s) had no price on some rebalance dates: {names}"
    folder = save_run(make_run(warnings=(warning,)), tmp_path)
    html = render_report(load_run(folder))
    assert html.count(names) == 1 and "T110 (110)" in html
    assert re.search(r"<details><summary>111 member\(s\).*?show all", html)


def test_comparison_flags_risk_free_and_nothing_when_alike(saved_dir, tmp_path):
    other = load_run(save_run(make_run(name="no-rf", risk_free=False), tmp_path))
    runs = [load_run(saved_dir), other]
    flags = convention_flags(runs, ["a", "b"])
    assert "Risk-free series differs" in flags and "a: a series" in flags and "b: none (0)" in flags
    assert "Sharpe, Sortino and alpha subtract different risk-free returns" in flags
    assert "Period differs" not in flags
    assert convention_flags([runs[0], runs[0]], ["a", "b"]) == ""
    assert 'id="flags"' in render_comparison(runs)
    import dataclasses

    saver = dataclasses.replace(runs[0], config={**runs[0].config, "cash_flows": [{"every": "monthly",
                                                                                   "amount": 2000}]})
    flags = convention_flags([runs[0], saver], ["a", "b"])
    assert "Cash-flow schedule differs" in flags and "a: none" in flags and "b: every monthly, amount 2000" in flags


def test_bt_list_never_cuts_variant_names_into_identical_rows(tmp_path):
    names = tuple(f"Capped [caps.single=0.05, caps.groups.mag7=0.3, universe.exclude=[{x}]]"
                  for x in ("mag7", "none"))
    save_run(make_run(names=names, analytics=False), tmp_path)
    text = format_run_list(list_runs(tmp_path))
    for name in names:
        assert any(line.strip() == name for line in text.splitlines())
    assert "…" not in text


def test_the_orders_axis_ticks_whole_numbers_for_a_few_orders():
    """Two orders a rebalance: plotly's auto ticks (0.5 apart) printed 0, 1, 1, 2, 2 on the ',d' axis; up to
    `SMALL_COUNTS` orders the axis steps by 1. Larger counts keep plotly's round steps."""
    import pandas as pd

    from backtest.report.tearsheet import trading_figure

    days = pd.to_datetime(["2020-01-02", "2020-04-01", "2020-07-01"])
    few = pd.DataFrame({"turnover": [0.5, 0.02, 0.03], "orders": [2, 2, 1]}, index=days)
    fig = trading_figure([("Two funds", few)])
    assert (fig.layout.yaxis2.tickmode, fig.layout.yaxis2.dtick) == ("linear", 1)
    many = few.assign(orders=[500, 120, 90])
    assert trading_figure([("Index", many)]).layout.yaxis2.dtick is None
