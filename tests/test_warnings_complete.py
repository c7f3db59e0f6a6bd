"""Warnings name every ticker: a list is never cut to its first N names and an ellipsis (issue 11).

The report folds long warnings (`backtest/report/`), so the text itself carries the whole list."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from backtest.data.files import FilesReport
from backtest.data.inputs import gap_warnings
from backtest.data.store import WriteReport

PACKAGE = Path(__file__).resolve().parent.parent / "backtest"


def test_gap_warning_lists_all_40_tickers():
    days = pd.bdate_range("2024-01-01", periods=5, name="date")
    cols = [f"T{i:02d}" for i in range(40)]
    prices = pd.DataFrame(1.0, index=days, columns=cols)
    prices.iloc[2] = np.nan                                   # one gap day inside every history
    (text,) = gap_warnings(prices)
    assert text.startswith("40 traded ticker(s) have no price")
    for t in cols:
        assert f"{t} (1 day, 2024-01-03)" in text
    assert not text.endswith("...")


def test_import_summary_lists_all_25_tickers_with_gaps():
    path = Path("p.csv")
    gaps = {f"T{i:02d}": i + 1 for i in range(25)}
    report = FilesReport(written={path: [WriteReport("adj_close", "p.csv", tuple(gaps), 100)]},
                         gaps={(path, "adj_close"): gaps})
    text = report.summary()
    assert "empty cells inside the history of 25 ticker(s)" in text
    assert all(f"{t} ({n})" in text for t, n in gaps.items()) and "..." not in text


def test_no_warning_in_the_package_is_cut_off_with_an_ellipsis():
    cut = re.compile(r"""['"] ?\.\.\.['"] if len\(""")
    hits = [f"{p.relative_to(PACKAGE.parent)}:{i}" for p in PACKAGE.rglob("*.py")
            for i, line in enumerate(p.read_text().splitlines(), 1) if cut.search(line)]
    assert hits == []
