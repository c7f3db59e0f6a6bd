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
    return make_run()


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
