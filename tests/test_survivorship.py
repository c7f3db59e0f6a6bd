"""Survivorship on the snapshot: equal weight rebuilt from point-in-time membership vs RSP, and the bias of
using today's members for every date (the figures quoted in the README)."""

from __future__ import annotations

import json

import pytest

from backtest.runner import run_config
from tests.conftest import REPO


@pytest.fixture(scope="module")
def survivorship(snapshot_store, results_root):
    folder = run_config(REPO / "configs" / "examples" / "survivorship.yaml", store=snapshot_store,
                        results_dir=results_root, offline=True)
    metrics = json.loads((folder / "metrics.json").read_text())["strategies"]
    manifest = json.loads((folder / "manifest.json").read_text())
    return metrics, manifest


def test_point_in_time_equal_weight_tracks_rsp(survivorship):
    m, _ = survivorship
    pit = m["Equal-weight S&P 500 (point in time)"]
    rsp = m["RSP"]
    assert pit["cagr"] == pytest.approx(0.1278, abs=5e-4)       # README: 12.78%/yr
    assert rsp["cagr"] == pytest.approx(0.1210, abs=5e-4)       # README: 12.10%/yr (from the 2015-12-31 close)
    assert 0 < pit["cagr"] - rsp["cagr"] < 0.015, "no fees and missing delisted histories: a small lead"
    assert pit["tracking_error"] < 0.02


def test_todays_members_inflate_returns_and_are_warned(survivorship):
    m, manifest = survivorship
    biased = m["Equal-weight S&P 500 (today's members)"]["cagr"]
    assert biased == pytest.approx(0.1787, abs=5e-4)             # README: 17.87%/yr
    assert biased - m["Equal-weight S&P 500 (point in time)"]["cagr"] > 0.03
    assert any("SURVIVORSHIP BIAS" in w and "membership: current" in w for w in manifest["warnings"])
