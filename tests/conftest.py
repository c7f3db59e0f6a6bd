"""Shared fixtures. Market data is read from ../shared/market-data beside the repository, never copied."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MARKET_DATA = REPO.parent / "shared" / "market-data"


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
