"""Reports of real runs on the snapshot (rotation.yaml and two worked examples) in headless chromium."""

from __future__ import annotations

import pytest

from backtest.report import compare_runs

from .test_browser import _check_plots, _open

pytestmark = pytest.mark.browser


def test_rotation_report_renders_every_plot_and_the_rotation_section(browser, rotation_run, artifacts):
    page, console, errors = _open(browser, rotation_run / "report.html")
    assert (console, errors) == ([], [])
    assert _check_plots(page) >= 14
    for section in ("growth", "drawdowns", "metrics", "rotation", "warnings"):
        assert page.locator(f"section#{section}").count() == 1, section
    text = page.locator("section#rotation").inner_text().lower()
    assert "asset-class snapshot" in text and "attribution" in text and "breadth" in text
    page.screenshot(path=str(artifacts / "rotation-report.png"), full_page=True)
    page.close()


@pytest.mark.parametrize("name", ["caps", "small_cap_value"])
def test_worked_example_reports_render(browser, example_runs, artifacts, name):
    page, console, errors = _open(browser, example_runs[name] / "report.html")
    assert (console, errors) == ([], [])
    assert _check_plots(page) >= 9     # no analytics block: the 9 standard figures
    page.screenshot(path=str(artifacts / f"{name}-report.png"))
    page.close()


def test_comparison_of_two_saved_runs_renders(browser, example_runs, tmp_path, artifacts):
    out = compare_runs([example_runs["caps"], example_runs["small_cap_value"]], tmp_path / "cmp.html")
    page, console, errors = _open(browser, out)
    assert (console, errors) == ([], [])
    assert _check_plots(page) >= 1
    assert "UCITS 5-10-40 rule" in page.content() and "SPY 80 + IWN 20, yearly" in page.content()
    page.screenshot(path=str(artifacts / "compare-real.png"), full_page=True)
    page.close()
