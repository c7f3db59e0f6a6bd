"""Synthetic runs for the report and results tests (see synthetic.py). The `browser` fixture is in
tests/conftest.py (one Playwright loop per session, shared by every browser test)."""

from __future__ import annotations

from pathlib import Path

import pytest

from backtest.results import RunResult
from backtest.runner import save_run

from .synthetic import HOSTILE_NAMES, make_run

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def run_result() -> RunResult:
    return make_run(sectors=True)


@pytest.fixture(scope="session")
def hostile_result() -> RunResult:
    return make_run(name="../../etc/<script>window.__pwned = 3</script>", names=HOSTILE_NAMES, seed=5,
                    warnings=("<script>window.__pwned = 4</script> warning with markup",))


@pytest.fixture(scope="session")
def saved_dir(tmp_path_factory, run_result) -> Path:
    return save_run(run_result, tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="session")
def hostile_dir(tmp_path_factory, hostile_result) -> Path:
    return save_run(hostile_result, tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def short_dir(tmp_path_factory) -> Path:
    """A run of 200 trading days: shorter than the 252-day rolling window."""
    return save_run(make_run(name="short", days=200, seed=7), tmp_path_factory.mktemp("short"))


SWEEP = """\
name: tiny-sweep
start: 2019-01-01
end: 2020-12-31
benchmark: SPY
rebalance: monthly
risk_free: BIL
strategies:
  - name: Core
    weighting: fixed
    weights: {SPY: 0.6, IWN: 0.4}
  - name: Capped
    weighting: cap
    universe: sp500
    caps: {single: 0.05}
sweep:
  grid:
    caps.single: [0.02, 0.03, 0.05, 0.1]
    caps.groups.mag7: [0.1, 0.2, 0.3]
"""


@pytest.fixture(scope="session")
def sweep_dir(snapshot_store, tmp_path_factory) -> Path:
    """A 12-variant sweep on the snapshot (2019-2020), its folder."""
    from backtest.sweep import run_sweep

    root = tmp_path_factory.mktemp("sweep")
    (root / "sweep.yaml").write_text(SWEEP)
    return run_sweep(root / "sweep.yaml", store=snapshot_store, results_dir=root / "results", offline=True)
