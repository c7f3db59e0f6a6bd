"""Market data: the price store, imports (snapshot, user files), Yahoo downloads, membership tables.

The only package that touches the disk store or the network. ``backtest.data.yahoo`` (which imports
yfinance) is loaded on first use of ``fetch_prices`` / ``fetch_shares`` so that importing this package
stays fast.
"""

from __future__ import annotations

from backtest.data.files import import_files, import_path, import_paths, read_price_file
from backtest.data.listing import catalog_summary, format_catalog
from backtest.data.membership import load_index_constitution, load_membership
from backtest.data.snapshot import SnapshotReport, import_snapshot, is_snapshot
from backtest.data.store import PriceStore, WriteReport, default_store_dir, validate_prices

_LAZY = {"fetch_prices", "fetch_shares", "FetchReport", "TickerResult", "missing_ranges"}

__all__ = ["PriceStore", "WriteReport", "default_store_dir", "validate_prices", "import_snapshot",
           "is_snapshot", "SnapshotReport", "import_files", "import_path", "import_paths", "read_price_file",
           "format_catalog", "catalog_summary",
           "load_membership", "load_index_constitution", *sorted(_LAZY)]


def __getattr__(name: str):
    if name in _LAZY:
        from backtest.data import yahoo

        return getattr(yahoo, name)
    raise AttributeError(f"module 'backtest.data' has no attribute {name!r}")
