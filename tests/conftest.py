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
