"""Fama-French factor returns: imported from the snapshot into the store, read back for the evidence section.

The snapshot holds three Ken French data-library tables in percent (``../shared/market-data/README.md``):

- ``ff3_daily_pct.parquet``: Mkt-RF, SMB, HML, RF, daily (to 2024-09-30);
- ``ff3_monthly_pct.parquet``: the same, monthly (to 2024-11);
- ``ff5_mom_monthly_pct.parquet``: Mkt-RF, SMB, HML, RMW, CMA, Mom, RF, monthly (1963-07 .. 2025-07).

Each is stored as ``factors_<set>.parquet`` in the store folder (column ``date`` + one column per factor), as
**fractions** (the percent values / 100) under the canonical names of `FACTOR_NAMES`. Monthly rows keep
their month-end date. Nothing is filled: a missing month stays missing.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import pyarrow as pa
import pyarrow.parquet as pq

from backtest.data.store import PriceStore, atomic_write, read_table
from backtest.errors import DataError

#: set name -> snapshot file
FACTOR_FILES = {
    "ff3_daily": "ff3_daily_pct.parquet",
    "ff3_monthly": "ff3_monthly_pct.parquet",
    "ff5_mom_monthly": "ff5_mom_monthly_pct.parquet",
}
#: canonical column names (the files spell the market factor and momentum differently)
FACTOR_NAMES = {"Mkt-RF": "MKT_RF", "MKT_RF": "MKT_RF", "Mkt_RF": "MKT_RF", "SMB": "SMB", "HML": "HML",
                "RMW": "RMW", "CMA": "CMA", "Mom": "MOM", "MOM": "MOM", "UMD": "MOM", "RF": "RF"}


def _write_parquet(path: Path, frame: pd.DataFrame) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    atomic_write(path, lambda fh: pq.write_table(table, fh))


def _path(store: PriceStore, name: str) -> Path:
    if name not in FACTOR_FILES:
        raise ValueError(f"factor set must be one of {', '.join(FACTOR_FILES)}, got {name!r}")
    return store.root / f"factors_{name}.parquet"


def read_factor_file(path: Path) -> pd.DataFrame:
    """One snapshot factor file as fractions: DatetimeIndex ``date``, canonical column names."""
    frame = read_table(path)
    unknown = [c for c in frame.columns if c not in FACTOR_NAMES]
    if unknown or "RF" not in frame.columns:
        raise DataError(f"{path}: expected factor columns among {', '.join(sorted(set(FACTOR_NAMES)))} "
                        f"including RF, got {', '.join(map(str, frame.columns))}; restore the snapshot file")
    out = frame.rename(columns=FACTOR_NAMES).astype("float64") / 100.0
    out.index = pd.DatetimeIndex(pd.to_datetime(out.index), name="date").normalize()
    return out.sort_index()


def import_factors(store: PriceStore, folder: Path) -> dict[str, tuple[int, pd.Timestamp, pd.Timestamp]]:
    """Import every factor file of `FACTOR_FILES` found in the snapshot ``folder`` (absent ones are skipped).
    Returns ``{set: (rows, first date, last date)}``. Each store file is replaced atomically."""
    out = {}
    for name, file in FACTOR_FILES.items():
        if not (Path(folder) / file).exists():
            continue
        frame = read_factor_file(Path(folder) / file)
        store.root.mkdir(parents=True, exist_ok=True)
        _write_parquet(_path(store, name), frame.reset_index())
        out[name] = (len(frame), frame.index[0], frame.index[-1])
    return out


def load_factors(store: PriceStore, name: str) -> pd.DataFrame | None:
    """The stored factor set ``name`` (fractions, DatetimeIndex ``date``), or None if never imported."""
    path = _path(store, name)
    if not path.exists():
        return None
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - a damaged store file: name it and the fix
        raise DataError(f"{path} cannot be read ({exc}); fix: `bt data import ../shared/market-data`") from None
    frame = frame.set_index("date")
    frame.index = pd.DatetimeIndex(frame.index, name="date")
    return frame
