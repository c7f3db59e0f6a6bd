"""A cash ticker that is also a target (issue 11): `weights: {BIL: 1}` with `cash_yield: BIL` validates and runs.

Idle cash accrues at BIL's return and the BIL target is an ordinary holding, so nothing is counted twice: the
run equals the same strategy without `cash_yield` (no idle cash to speak of) and BIL's own price ratio."""

from __future__ import annotations

import pytest

import backtest
from backtest.config import parse_config

CONFIG = """\
name: t
start: 2024-01-01
end: 2024-06-30
strategies:
  - {name: cash BIL, weighting: fixed, weights: {BIL: 1}, cash_yield: BIL}
  - {name: cash none, weighting: fixed, weights: {BIL: 1}, cash_yield: none}
  - {name: split, weighting: fixed, weights: {SPY: 0.6, BIL: 0.4}, cash_yield: BIL}
"""


def test_cash_ticker_that_is_also_a_target_runs_and_counts_nothing_twice(snapshot_store, tmp_path):
    parse_config(CONFIG)                                   # validates (was accepted, then exit 1 at run time)
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    result = backtest.run(path, offline=True, data_dir=snapshot_store.root)
    eq = result.equity
    growth = eq["cash BIL"].iloc[-1] / eq["cash BIL"].iloc[0]
    assert growth == pytest.approx(eq["cash none"].iloc[-1] / eq["cash none"].iloc[0], rel=1e-6)
    bil = snapshot_store.prices(["BIL"])["BIL"].loc[eq.index[0]:eq.index[-1]]
    assert growth == pytest.approx(bil.iloc[-1] / bil.iloc[0], rel=1e-6)
    assert eq["split"].notna().all()

