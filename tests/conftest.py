"""Shared fixtures. Market data is read from ../shared/market-data beside the repository, never copied."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MARKET_DATA = REPO.parent / "shared" / "market-data"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def market_data_dir() -> Path:
    """The offline snapshot folder (`../shared/market-data`)."""
    if not (MARKET_DATA / "README.md").exists():
        pytest.fail(f"offline snapshot not found at {MARKET_DATA}; clone the repo beside shared/")
    return MARKET_DATA


@pytest.fixture(scope="session")
def snapshot_import(market_data_dir: Path, tmp_path_factory):
    """(PriceStore, SnapshotReport): the offline snapshot imported once per session into a temporary store."""
    from backtest.data.snapshot import import_snapshot
    from backtest.data.store import PriceStore

    store = PriceStore(tmp_path_factory.mktemp("snapshot_store"))
    report = import_snapshot(store, market_data_dir)
    return store, report


@pytest.fixture(scope="session")
def snapshot_store(snapshot_import):
    """A PriceStore holding the whole offline snapshot (prices, membership, shares), imported once per
    session. Shared by many tests: read it, never write to it (build your own `PriceStore(tmp_path)`)."""
    return snapshot_import[0]


@pytest.fixture(scope="session")
def results_root(tmp_path_factory) -> Path:
    """One results folder for the runs shared by the session."""
    return tmp_path_factory.mktemp("results")


def _run(store, config: Path, out: Path) -> Path:
    from backtest.runner import run_config

    return run_config(config, store=store, results_dir=out, offline=True)


@pytest.fixture(scope="session")
def rotation_run(snapshot_store, results_root) -> Path:
    """configs/rotation.yaml run once per session, offline, on the imported snapshot; its run folder."""
    return _run(snapshot_store, REPO / "configs" / "rotation.yaml", results_root)


@pytest.fixture(scope="session")
def example_runs(snapshot_store, results_root) -> dict[str, Path]:
    """Two worked examples (caps, small-cap value) run once per session: name -> run folder."""
    return {name: _run(snapshot_store, REPO / "configs" / "examples" / f"{name}.yaml", results_root)
            for name in ("caps", "small_cap_value")}


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


def dump_dom(page: Path, profile: Path) -> str:
    """The DOM of `page` after its scripts ran, from plain ``chromium --dump-dom`` (no Playwright event loop).

    Skips when Debian's chromium is absent, except under CI=true, where that fails.
    """
    import os
    import shutil
    import subprocess

    if shutil.which(str(CHROMIUM)) is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} not found and CI=true: install Debian's chromium package")
        pytest.skip(f"{CHROMIUM} not found (install Debian's chromium to run the browser tests)")
    done = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and "<html" in done.stdout, done.stderr[-2000:]
    return done.stdout


def children_of(pid: int) -> set[int]:
    """Live processes whose parent is ``pid`` (from /proc; zombies count as gone)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry))
    return found


def alive(pid: int) -> bool:
    """The process ``pid`` exists and is not a zombie (from /proc)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
