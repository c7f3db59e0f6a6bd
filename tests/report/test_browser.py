"""Reports in a real headless browser (Debian chromium through Playwright), opened from file://.

Screenshots are kept in test-artifacts/ (git-ignored)."""

from __future__ import annotations

from pathlib import Path

import pytest

from backtest.report import compare_runs

from .synthetic import HOSTILE_IMG, HOSTILE_SCRIPT

pytestmark = pytest.mark.browser


def _open(browser, path: Path):
    """A page with the file loaded and every figure drawn; returns (page, console errors, page errors)."""
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    console, errors = [], []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: console.append(f"network request: {r.url}")
            if not r.url.startswith(("file:", "data:", "blob:")) else None)
    page.goto(path.resolve().as_uri(), wait_until="load")
    expected = page.locator("script.bt-fig").count()
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {expected}",
                           timeout=30_000)
    return page, console, errors


def _check_plots(page) -> int:
    expected = page.locator("script.bt-fig").count()
    plots = page.locator(".js-plotly-plot")
    assert plots.count() == expected > 0
    for i in range(expected):
        assert plots.nth(i).locator("svg.main-svg").count() >= 1, f"figure {i} has no svg"
        drawn = plots.nth(i).locator("g.trace, g.hm, g.barlayer .point").count()
        assert drawn >= 1, f"figure {i} has no data"
    return expected


def test_report_renders(browser, saved_dir, artifacts):
    page, console, errors = _open(browser, saved_dir / "report.html")
    assert (console, errors) == ([], [])
    assert _check_plots(page) == 16
    assert page.locator("section").count() == 17
    assert page.title().startswith("synthetic")
    assert (saved_dir / "report.html").stat().st_size <= 2_000_000
    page.screenshot(path=str(artifacts / "run-report.png"), full_page=True)
    page.screenshot(path=str(artifacts / "report-top.png"))
    page.close()


def test_log_toggle_and_selector(browser, saved_dir):
    page, console, errors = _open(browser, saved_dir / "report.html")
    growth = page.locator("#growth .js-plotly-plot")
    growth.locator(".updatemenu-button", has_text="Log").click()
    assert page.evaluate("document.querySelector('#growth .js-plotly-plot').layout.yaxis.type") == "log"
    visible = "Array.from(document.querySelector('#monthly .js-plotly-plot').data, t => t.visible)"
    assert page.evaluate(visible) == [True, True, False, False, False, False]   # months and the year column
    page.locator("#monthly .updatemenu-header-group").click()
    page.locator("#monthly .updatemenu-dropdown-button", has_text="Tilted").click()
    assert page.evaluate(visible) == [False, False, True, True, False, False]
    assert (console, errors) == ([], [])
    page.close()


def test_hostile_names_show_as_text_and_never_run(browser, hostile_dir, artifacts):
    page, console, errors = _open(browser, hostile_dir / "report.html")
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert (console, errors) == ([], [])
    _check_plots(page)
    assert page.locator("h1").inner_text() == "../../etc/<script>window.__pwned = 3</script>"
    headers = page.locator("#overview th").all_inner_texts()
    assert HOSTILE_SCRIPT in headers and HOSTILE_IMG in headers
    legend = page.locator("#growth .legendtext").all_text_contents()
    assert HOSTILE_SCRIPT in legend and HOSTILE_IMG in legend
    assert page.locator("#overview img, main script:not(.bt-fig)").count() == 0
    page.screenshot(path=str(artifacts / "report-hostile-top.png"))
    page.close()


def test_comparison_renders(browser, saved_dir, hostile_dir, tmp_path, artifacts):
    out = compare_runs([saved_dir, hostile_dir], tmp_path / "compare.html")
    page, console, errors = _open(browser, out)
    assert (console, errors) == ([], [])
    assert _check_plots(page) == 2
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("#config td.diff").count() > 0
    page.screenshot(path=str(artifacts / "compare-report.png"), full_page=True)
    page.close()


def test_menus_on_the_right_clear_plotlys_toolbar(browser, saved_dir):
    """The Linear/Log buttons and the drawdown selector sit at the top right, where plotly shows its toolbar
    while the pointer is over the figure: none of their buttons may lie under it (they could not be
    clicked), and none may reach into the plot area."""
    page, console, errors = _open(browser, saved_dir / "report.html")
    found = page.evaluate("""() => {
      const out = [];
      for (const plot of document.querySelectorAll('.js-plotly-plot')) {
        const bar = plot.querySelector('.modebar'), area = plot.querySelector('.nsewdrag');
        if (!bar || !area) continue;
        const m = bar.getBoundingClientRect(), a = area.getBoundingClientRect();
        for (const el of plot.querySelectorAll('.updatemenu-header, .updatemenu-button')) {
          const r = el.getBoundingClientRect();
          if (r.right < m.left) continue;                       // a menu on the left: not near the toolbar
          const under = !(r.bottom <= m.top || r.top >= m.bottom);
          out.push({label: el.textContent.trim(), under: under, intoPlot: r.bottom > a.top + 1});
        }
      }
      return out;
    }""")
    assert (console, errors) == ([], [])
    labels = {f["label"] for f in found}
    assert {"Linear", "Log", "All strategies"} <= labels, labels
    assert [f for f in found if f["under"] or f["intoPlot"]] == []
    page.close()
