"""Synthetic runs for the report and results tests (see synthetic.py), and the browser fixture."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from backtest.results import RunResult, write_run

from .synthetic import HOSTILE_NAMES, make_run

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def run_result() -> RunResult:
    return make_run()


@pytest.fixture(scope="session")
def hostile_result() -> RunResult:
    return make_run(name="../../etc/<script>window.__pwned = 3</script>", names=HOSTILE_NAMES, seed=5,
                    warnings=("<script>window.__pwned = 4</script> warning with markup",))


@pytest.fixture(scope="session")
def saved_dir(tmp_path_factory, run_result) -> Path:
    return write_run(run_result, tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="session")
def hostile_dir(tmp_path_factory, hostile_result) -> Path:
    return write_run(hostile_result, tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def browser():
    """A headless Debian chromium through Playwright; skipped if absent unless CI=true."""
    ci = os.environ.get("CI") == "true"
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        if ci:
            pytest.fail(f"{CHROMIUM} not found and CI=true: install Debian's chromium package")
        pytest.skip(f"{CHROMIUM} not found (install Debian's chromium to run the browser tests)")
    try:
        from playwright import sync_api
    except ImportError:
        if ci:
            pytest.fail("playwright is not installed and CI=true: pip install -e .[test]")
        pytest.skip("playwright is not installed (pip install -e .[test])")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
