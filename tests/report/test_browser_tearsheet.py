"""The tearsheet charts, comparison flags and sweep colours in headless chromium: drawn with the right data,
readable (plot areas, tick labels), and every report kind under 2 MB. Screenshots per report kind are kept
in test-artifacts/ (run-*.png, compare-*.png, sweep-*.png)."""

from __future__ import annotations

import base64
import math

import numpy as np
import pandas as pd
import pytest

from backtest import metrics as M
from backtest.report import compare_runs
from backtest.results import load_run

from .test_browser import _check_plots, _open

pytestmark = pytest.mark.browser

MAX_BYTES = 2_000_000


def _fig(page, selector: str, i: int = 0) -> str:
    return f"document.querySelectorAll('{selector} .js-plotly-plot')[{i}]"


def _arr(value) -> list:
    """A trace array as the page holds it: a list, or plotly's typed-array spec {dtype, bdata}."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"])).tolist()
    return list(value)


def _data(page, selector: str, i: int = 0) -> list[dict]:
    return page.evaluate(f"{_fig(page, selector, i)}.data")


def _plot_heights(page) -> list[float]:
    """Height in pixels of every figure's plot area (its drag surface)."""
    return page.evaluate("""Array.from(document.querySelectorAll('.js-plotly-plot'),
        d => d.querySelector('.nsewdrag') ? d.querySelector('.nsewdrag').getBoundingClientRect().height
                                          : 999)""")


def _tick_overlaps(page, selector: str) -> list[tuple[str, str]]:
    """Pairs of neighbouring y-axis tick labels of the figure whose boxes overlap vertically."""
    return page.evaluate(f"""(() => {{
        const boxes = Array.from({_fig(page, selector)}.querySelectorAll('.ytick text'))
            .map(t => [t.textContent, t.getBoundingClientRect()]).filter(b => b[1].height > 0)
            .sort((a, b) => a[1].top - b[1].top);
        const out = [];
        for (let i = 1; i < boxes.length; i++)
            if (boxes[i][1].top < boxes[i - 1][1].bottom - 0.5) out.push([boxes[i - 1][0], boxes[i][0]]);
        return out; }})()""")


def test_new_run_charts_draw_the_runs_numbers(browser, saved_dir, artifacts):
    saved = load_run(saved_dir)
    page, console, errors = _open(browser, saved_dir / "report.html")
    assert (console, errors) == ([], [])
    # relative to the benchmark: last point of the ratio chart = (V/V0) / (B/B0) on the last date
    eq = saved.strategies[0].equity
    ratio = (eq.iloc[-1] / eq.iloc[0]) / (saved.benchmark.iloc[-1] / saved.benchmark.iloc[0])
    drawn = _arr(_data(page, "#relative", 1)[0]["y"])[-1]
    assert drawn == pytest.approx(ratio, rel=1e-6)
    excess = eq.iloc[-1] / eq.iloc[0] - saved.benchmark.iloc[-1] / saved.benchmark.iloc[0]
    assert _arr(_data(page, "#relative", 0)[0]["y"])[-1] == pytest.approx(excess, rel=1e-5)
    # monthly heatmap: a Year column holding each year's compounded return
    year = page.evaluate(f"{_fig(page, '#monthly')}.data[1]")
    assert year["x"] == ["Year"] and year["xaxis"] == "x2"
    # measured from the capital (the opening fee counts), year-end values in plain pandas
    from backtest.results import run_capital

    year_end = eq.groupby(eq.index.year).last()
    expected = year_end / year_end.shift(1).fillna(run_capital(saved.config) or eq.iloc[0]) - 1
    assert [row[0] for row in year["z"]] == pytest.approx(expected.tolist(), abs=1e-6)
    # distributions: every day after the first counted once; the normal fit's counts close to the total
    bars, fit = _data(page, "#distribution", 0)[:2]
    assert bars["type"] == "bar" and sum(_arr(bars["y"])) == len(eq) - 1
    assert sum(_arr(fit["y"])) == pytest.approx(len(eq) - 1, rel=0.01)
    assert sum(_arr(_data(page, "#distribution", 1)[0]["y"])) == len(M.period_returns(M.simple_returns(eq), "M", from_base=True))
    # holdings now with sectors; sector weights stacked to the weights held
    text = page.locator("#holdings table").first.inner_text()
    assert "Information Technology" in text and "No sector" not in text.split("T19")[0]
    stacked = [_arr(t["y"])[-1] for t in _data(page, "#holdings") if t.get("visible") is not False]
    assert sum(stacked) == pytest.approx(float(saved.strategies[0].holdings.iloc[-1].sum()), abs=1e-5)
    # trades and turnover per rebalance: one bar per rebalance, orders = rows of trades.csv that day
    trading = _data(page, "#trading")
    turnover = saved.strategies[0].turnover
    assert len(trading[0]["x"]) == len(turnover)
    orders = saved.strategies[0].trades.groupby("date").size()
    assert _arr(trading[1]["y"]) == [int(orders.get(pd.Timestamp(d), 0)) for d in trading[0]["x"]]
    # drawdowns: one strategy at a time through the menu
    dd = _fig(page, "#drawdowns")
    assert page.evaluate(f"{dd}.data.map(t => t.visible !== false)") == [True, True, True]
    page.locator("#drawdowns .updatemenu-header-group").click()
    page.locator("#drawdowns .updatemenu-dropdown-button", has_text="Tilted").click()
    assert page.evaluate(f"{dd}.data.map(t => t.visible)") == [False, True, True]
    # growth: 3 years opens linear; Log gives fixed ticks that never overlap
    growth = _fig(page, "#growth")
    assert page.evaluate(f"{growth}.layout.yaxis.type") == "linear"
    page.locator("#growth .updatemenu-button", has_text="Log").click()
    assert page.evaluate(f"{growth}.layout.yaxis.type") == "log"
    assert _tick_overlaps(page, "#growth") == []
    assert min(_plot_heights(page)) >= 150
    page.locator("#trading").screenshot(path=str(artifacts / "run-trading.png"))
    page.locator("#distribution").screenshot(path=str(artifacts / "run-distribution.png"))
    page.close()


def test_short_run_hides_the_rolling_window_with_a_note(browser, short_dir, artifacts):
    page, console, errors = _open(browser, short_dir / "report.html")
    assert (console, errors) == ([], [])
    _check_plots(page)
    assert page.locator("#rolling .js-plotly-plot").count() == 0
    assert "200 trading days" in page.locator("#rolling").inner_text()
    page.locator("#rolling").screenshot(path=str(artifacts / "run-short-rolling.png"))
    page.close()


def test_rotation_report_opens_on_log_scale_and_stays_readable(browser, rotation_run, artifacts):
    size = (rotation_run / "report.html").stat().st_size
    assert size <= MAX_BYTES, f"rotation report is {size:,} bytes"
    page, console, errors = _open(browser, rotation_run / "report.html")
    assert (console, errors) == ([], [])
    assert page.evaluate(f"{_fig(page, '#growth')}.layout.yaxis.type") == "log"   # 10 years
    assert _tick_overlaps(page, "#growth") == []
    page.locator("#growth .updatemenu-button", has_text="Linear").click()
    assert page.evaluate(f"{_fig(page, '#growth')}.layout.yaxis.type") == "linear"
    assert _tick_overlaps(page, "#growth") == []
    heights = _plot_heights(page)
    assert min(heights) >= 150, heights     # no legend squeezes a plot (the 21-entry concentration chart)
    assert page.locator("ul.warnings li details").count() >= 1   # long warnings fold, nothing cut
    assert page.locator("th", has_text="without_shares").count() == 0
    right = page.evaluate("""Array.from(document.querySelectorAll('.js-plotly-plot'))
        .filter(d => d._fullLayout.yaxis2).map(d => [d._fullLayout.yaxis2.dtick, d._fullLayout.yaxis2.tick0,
                                                     d._fullLayout.yaxis2._vals.map(v => v.x)])""")
    assert len(right) >= 2          # the orders beside turnover, the run's shares beside its name counts
    for dtick, tick0, ticks in right:   # round steps from zero, not plotly.js' "sync" (0 / 101 / 203 orders)
        assert ticks and all(abs((t - float(tick0)) / float(dtick) - round((t - float(tick0)) / float(dtick)))
                             < 1e-9 for t in ticks), (dtick, ticks)
    page.locator("#growth").screenshot(path=str(artifacts / "run-rotation-growth.png"))
    page.close()


def test_comparison_flags_what_differs_and_keeps_labels_in_view(browser, saved_dir, short_dir, tmp_path,
                                                                 artifacts):
    out = compare_runs([saved_dir, short_dir], tmp_path / "cmp.html")
    assert out.stat().st_size <= MAX_BYTES
    page, console, errors = _open(browser, out)
    assert (console, errors) == ([], [])
    flags = page.locator("#flags").inner_text()
    assert "Period differs" in flags and "2021-01-04 – 2021-10-08" in flags
    assert "Benchmark differs" not in flags and "Fill differs" not in flags
    # growth of 1 over the common dates: the later run (which starts on the first common date) from its
    # capital, so its opening fees show; the earlier run rebased to 1 there
    from backtest.report.compare import _common_values
    from backtest.results import load_run

    runs = [load_run(saved_dir), load_run(short_dir)]
    expected, _ = _common_values(runs, ["a", "b"])
    firsts = [_arr(t["y"])[0] for t in _data(page, "#growth")]
    assert firsts == pytest.approx([float(v.iloc[0]) for _, v in expected], rel=1e-6)   # float32 in the page
    assert min(firsts) < 1.0 and max(firsts) == pytest.approx(1.0)
    # the label column stays put when the wide metrics table scrolls sideways
    page.set_viewport_size({"width": 700, "height": 900})
    label = page.locator("#metrics td.label").first
    before = label.bounding_box()["x"]
    page.evaluate("document.querySelector('#metrics .tbl-wrap').scrollLeft = 400")
    assert page.evaluate("document.querySelector('#metrics .tbl-wrap').scrollLeft") > 0
    assert label.bounding_box()["x"] == pytest.approx(before, abs=1)
    page.screenshot(path=str(artifacts / "compare-narrow.png"))
    page.close()


def test_sweep_report_shares_one_colour_scale_centred_on_the_benchmark(browser, sweep_dir, artifacts):
    assert (sweep_dir / "report.html").stat().st_size <= MAX_BYTES
    saved = load_run(sweep_dir)
    bench = saved.metrics["benchmark"]["sharpe"]
    page, console, errors = _open(browser, sweep_dir / "report.html")
    assert (console, errors) == ([], [])
    _check_plots(page)
    heat = page.evaluate("""Array.from(document.querySelectorAll('#heatmap .js-plotly-plot'),
        d => d.data.map(t => [t.zmin, t.zmax]))""")
    ranges = {tuple(r) for fig in heat for r in fig}
    assert len(ranges) == 1
    lo, hi = ranges.pop()
    assert (lo + hi) / 2 == pytest.approx(bench, abs=1e-9)
    variants = [v["sharpe"] for n, v in saved.metrics["strategies"].items() if n != "Core"]
    assert lo <= min(variants) and max(variants) <= hi
    assert max(abs(min(variants) - bench), abs(max(variants) - bench)) == pytest.approx(hi - bench)
    best = _fig(page, "#growth")
    assert page.evaluate(f"{best}.data.length") == 11          # ten best and the benchmark
    assert min(_plot_heights(page)) >= 150
    page.screenshot(path=str(artifacts / "sweep-report.png"), full_page=True)
    page.close()
    assert not math.isnan(bench)
