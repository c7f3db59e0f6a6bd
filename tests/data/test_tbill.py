"""The 13-week T-bill total-return index behind `risk_free: irx`."""

from __future__ import annotations

import pandas as pd
import pytest

from backtest.data.snapshot import TBILL_TICKER, tbill_index


def test_index_accrues_yesterdays_bond_equivalent_yield_over_calendar_days():
    y = pd.Series([5.0, 5.0, 4.0], index=pd.to_datetime(["2020-01-03", "2020-01-06", "2020-01-07"]))
    idx = tbill_index(y)
    bey = 365 * 0.05 / (360 - 91 * 0.05)
    assert idx.iloc[0] == 100.0
    assert idx.iloc[1] == pytest.approx(100 * (1 + bey * 3 / 365))      # Friday -> Monday: 3 days
    assert idx.iloc[2] == pytest.approx(idx.iloc[1] * (1 + bey / 365))  # yesterday's 5%, not today's 4%
    assert idx.name == TBILL_TICKER


def test_snapshot_import_stores_the_index(snapshot_store):
    px = snapshot_store.prices([TBILL_TICKER], start="2023-01-01", end="2023-12-31")[TBILL_TICKER]
    assert 0.045 < px.iloc[-1] / px.iloc[0] - 1 < 0.055, "T-bills paid about 5% in 2023"
