"""Membership sources: the store's snapshot table or the index-constitution package, same intervals frame."""

from __future__ import annotations

import pandas as pd
import pytest

from backtest.data.membership import load_index_constitution, load_membership
from backtest.data.store import PriceStore
from backtest.errors import DataError
from backtest.universe import members_at


def test_index_constitution_as_intervals():
    m = load_index_constitution("sp500", price_columns=["AAPL", "TSLA", "FB", "BRK-B"])
    assert list(m.columns) == ["ticker", "start_date", "end_date", "price_column", "source"]
    assert (m["source"] == "index-constitution:sp500").all()
    assert "TSLA" not in members_at(m, "2020-12-18") and "TSLA" in members_at(m, "2020-12-21")
    row = m.set_index("ticker")
    assert row.loc["BRK-B", "price_column"] == "BRK-B"  # BRK.B in the package
    assert row.loc["META", "price_column"] == "FB"  # store only has the old name: followed back
    assert pd.isna(row.loc["MSFT", "price_column"])  # no prices for it: a member reported as missing


def test_index_constitution_without_price_columns_keeps_symbols():
    m = load_index_constitution("sp500")
    assert (m["price_column"] == m["ticker"]).all()
    assert 495 <= len(members_at(m, "2024-06-28")) <= 510


def test_load_membership_sources(snapshot_store):
    snap = load_membership(snapshot_store, "snapshot")
    ic = load_membership(snapshot_store, "index-constitution")
    a, b = set(members_at(snap, "2024-06-28")), set(members_at(ic, "2024-06-28"))
    assert len(a & b) >= 495  # two independent sources agree on almost every member
    assert set(ic["price_column"].dropna()) <= set(snapshot_store.tickers())


def test_load_membership_errors(tmp_path):
    empty = PriceStore(tmp_path)
    with pytest.raises(DataError,
                       match=r"has no sp500 membership table; run `bt data import \.\./shared/market-data`"):
        load_membership(empty, "snapshot")
    with pytest.raises(DataError,
                       match=r"membership_source must be one of snapshot, index-constitution, got 'wiki'"):
        load_membership(empty, "wiki")
    with pytest.raises(DataError, match=r"index-constitution has no index 'ftse'"):
        load_index_constitution("ftse")
