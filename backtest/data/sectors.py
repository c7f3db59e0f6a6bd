"""GICS sectors per price column, from the snapshot's universe file, stored as ``sectors.parquet``.

``sp500_universe_and_sources.csv`` gives a ``GICS Sector`` for the members of 2026-08-08 only (503 of its
767 tickers); former members have none. The sector is today's classification, applied to every date (GICS
moved Alphabet and Meta from Information Technology to Communication Services in 2018, for instance).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import pyarrow as pa
import pyarrow.parquet as pq

from backtest.data.store import PriceStore, atomic_write
from backtest.errors import DataError

UNIVERSE_FILE = "sp500_universe_and_sources.csv"
SECTORS_FILE = "sectors.parquet"


def _write_parquet(path: Path, frame: pd.DataFrame) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    atomic_write(path, lambda fh: pq.write_table(table, fh))


def import_sectors(store: PriceStore, folder: Path) -> int:
    """Store ``price column -> GICS sector`` from the snapshot's universe file; returns the rows written
    (0 when the file is absent)."""
    path = Path(folder) / UNIVERSE_FILE
    if not path.exists():
        return 0
    from backtest.tickers import normalize_ticker

    u = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "GICS Sector" not in u.columns or "price_column" not in u.columns:
        raise DataError(f"{path}: expected columns price_column and GICS Sector; restore the snapshot file")
    rows = u.loc[(u["price_column"] != "") & (u["GICS Sector"] != ""), ["price_column", "GICS Sector"]]
    frame = pd.DataFrame({"ticker": rows["price_column"].map(normalize_ticker).to_numpy(),
                          "sector": rows["GICS Sector"].str.strip().to_numpy()})
    frame = frame.drop_duplicates("ticker", keep="last").sort_values("ticker").reset_index(drop=True)
    frame["source"] = f"snapshot:{UNIVERSE_FILE}"
    store.root.mkdir(parents=True, exist_ok=True)
    _write_parquet(store.root / SECTORS_FILE, frame)
    return len(frame)


def load_sectors(store: PriceStore) -> pd.Series | None:
    """``ticker -> GICS sector`` (Series), or None if never imported."""
    path = store.root / SECTORS_FILE
    if not path.exists():
        return None
    frame = pd.read_parquet(path)
    return pd.Series(frame["sector"].to_numpy(), index=frame["ticker"].to_numpy(), name="sector")
