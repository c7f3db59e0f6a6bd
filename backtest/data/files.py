"""Import user price files (CSV or Parquet) into the store.

Two layouts are recognised, whatever the extension:

- wide: a ``date`` column (or the first column, or a Parquet date index) and one column per ticker;
  the values are taken as adjusted closes (``field="close"`` for raw closes);
- long: columns ``date``, ``ticker`` (or ``symbol``) and ``close`` and/or ``adj_close`` (``Adj Close`` and
  similar spellings accepted). ``adj_close`` goes to the adjusted field; ``close`` to the raw field when
  ``adj_close`` is present too, otherwise it is the only price given and is used as the adjusted
  (total-return) series: supply ``adj_close`` when your closes ignore dividends.

Empty cells (or NA, NaN, null, #N/A) mean no price that day.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from backtest.data.store import PriceStore, WriteReport, validate_prices
from backtest.errors import DataError
from backtest.tickers import normalize_ticker

CSV_EXT = (".csv", ".txt")
PARQUET_EXT = (".parquet", ".pq")
DATE_NAMES = ("date", "datetime", "timestamp", "day")
TICKER_NAMES = ("ticker", "symbol")
NA_TOKENS = ("", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "#N/A")  # empty cells: no price that day
FIELD_NAMES = {"adj_close": "adj_close", "adjclose": "adj_close", "adjusted_close": "adj_close",
               "adj_price": "adj_close", "close": "close"}


@dataclass
class FilesReport:
    """One entry per file: the write reports (one per field) keyed by path."""

    written: dict[Path, list[WriteReport]] = field(default_factory=dict)
    gaps: dict[tuple[Path, str], dict[str, int]] = field(default_factory=dict)  # (file, field) -> {ticker: n}

    def summary(self) -> str:
        lines = []
        for path, reps in self.written.items():
            for r in reps:
                gaps = self.gaps.get((path, r.field), {})
                shown = ", ".join(f"{t} ({n})" for t, n in list(gaps.items())[:20])
                shown += " ..." if len(gaps) > 20 else ""
                lines.append(f"imported {path}: {len(r.tickers)} tickers, {r.cells} {r.field} prices"
                             + (f"; rebased onto stored series: {', '.join(r.rebased)}" if r.rebased else "")
                             + (f"; no overlap with stored data (seam unchecked): {', '.join(r.unanchored)}"
                                if r.unanchored else "")
                             + (f"; empty cells inside the history of {len(gaps)} ticker(s), stored as no "
                                f"price (not filled; runs name them): {shown}" if gaps else ""))
        return "\n".join(lines)


def interior_gaps(frame: pd.DataFrame) -> dict[str, int]:
    """Per column of a wide price frame, the rows without a price between its first and last price."""
    out = {}
    for t in frame.columns:
        s = frame[t]
        first, last = s.first_valid_index(), s.last_valid_index()
        n = int(s.loc[first:last].isna().sum()) if first is not None else 0
        if n:
            out[str(t)] = n
    return out


def import_paths(store: PriceStore, paths: Iterable) -> list[str]:
    """``bt data import PATH...``: snapshot folders are imported as snapshots, every other path (file, or
    folder of .csv/.parquet files) as price files, all files checked before any is written. Returns the
    report lines to print."""
    from backtest.data.snapshot import import_snapshot, is_snapshot

    lines: list[str] = []
    files: list[Path] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if is_snapshot(p):
            lines += import_snapshot(store, p).summary().splitlines()
        else:
            files += _files_of(p)
    if files:
        lines += import_files(store, files).summary().splitlines()
    return lines


def _files_of(p: Path) -> list[Path]:
    if not p.exists():
        raise DataError(f"{p} does not exist; pass the snapshot folder (../shared/market-data) or a "
                        "CSV/Parquet price file")
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in CSV_EXT + PARQUET_EXT)
        if not files:
            raise DataError(f"{p} holds no .csv or .parquet files and is not a market-data snapshot "
                            "(which needs prices_sp500.parquet, prices_etf.parquet and "
                            "sp500_membership_intervals.csv)")
        return files
    return [p]


def import_path(store: PriceStore, path) -> object:
    """Import one path: the snapshot folder (-> SnapshotReport), a folder of price files or one file
    (-> FilesReport)."""
    from backtest.data.snapshot import import_snapshot, is_snapshot

    p = Path(path).expanduser()
    if is_snapshot(p):
        return import_snapshot(store, p)
    return import_files(store, _files_of(p))


def import_files(store: PriceStore, paths: Iterable, *, field: str = "adj_close") -> FilesReport:
    """Read, check and write each file; every file is checked before anything is written, so one bad file
    writes nothing. ``field`` is the field of wide files' values."""
    parsed = []
    for raw in paths:
        path = Path(raw).expanduser()
        parsed.append((path, read_price_file(path, field=field)))
    report = FilesReport()
    for path, frames in parsed:
        source = f"file:{path.resolve()}"
        report.written[path] = [store.write_prices(frame, source, fld) for fld, frame in frames.items()]
        for fld, frame in frames.items():
            if gaps := interior_gaps(frame):
                report.gaps[(path, fld)] = gaps
    return report


def read_price_file(path: Path, *, field: str = "adj_close") -> dict[str, pd.DataFrame]:
    """Parse one file into validated wide frames keyed by field (``adj_close``, ``close``)."""
    path = Path(path)
    if not path.is_file():
        what = ("a folder" if path.is_dir() else
                "not a regular file (a pipe, socket or device)" if path.exists() else "missing")
        raise DataError(f"{path} is {what}; pass a CSV or Parquet price file")
    kind = _sniff(path)
    ext = path.suffix.lower()
    if ext in CSV_EXT and kind != "csv" or ext in PARQUET_EXT and kind != "parquet":
        expect = "CSV text" if ext in CSV_EXT else "Parquet"
        found = {"parquet": "a Parquet file", "csv": "text (CSV?)", "binary": "binary data"}[kind]
        raise DataError(f"{path}: the extension {ext} says {expect} but the file holds {found}; rename it to "
                        "the right extension or re-export it")
    if ext not in CSV_EXT + PARQUET_EXT and kind == "binary":
        raise DataError(f"{path}: not a CSV or Parquet file (unknown extension {ext or '(none)'}, binary "
                        "content); export prices as .csv or .parquet")
    if kind == "parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:
            raise DataError(f"{path}: a damaged Parquet file ({exc}); re-export it") from None
        if isinstance(frame.index, pd.DatetimeIndex) or frame.index.name in DATE_NAMES:
            frame = frame.reset_index()
        lines = None
    else:
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: not readable as CSV ({str(exc).strip()}); check the delimiter (comma) "
                            "and the encoding (UTF-8)") from None
        frame = frame.replace({token: None for token in NA_TOKENS})
        lines = [f"line {i + 2}" for i in range(len(frame))]
    if frame.empty or frame.shape[1] < 2:
        raise DataError(f"{path}: no price data (need a date column and at least one price column)")
    return _to_wide(frame, path, lines, field)


def _sniff(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head.startswith(b"PAR1"):
        return "parquet"
    if b"\x00" in head:
        return "binary"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a multi-byte character cut at the boundary
            return "binary"
    return "csv"


def _norm(name) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(name).strip().lower()).strip("_")


def _to_wide(frame: pd.DataFrame, path: Path, lines, field: str) -> dict[str, pd.DataFrame]:
    names = {_norm(c): c for c in frame.columns}
    ticker_col = next((names[n] for n in TICKER_NAMES if n in names), None)
    price_cols = {FIELD_NAMES[n]: names[n] for n in names if n in FIELD_NAMES}
    date_col = next((names[n] for n in DATE_NAMES if n in names), frame.columns[0])
    if ticker_col is not None:
        if not price_cols:
            raise DataError(f"{path}: long layout (a {ticker_col!r} column) but no close or adj_close "
                            f"column; found columns {list(frame.columns)}")
        return _long_to_wide(frame, path, lines, date_col, ticker_col, price_cols)
    wide = frame.set_index(date_col)
    wide.index.name = "date"
    where = str(path)
    return {field: validate_prices(_parse_dates(wide, where, lines), where, lines)}


def _parse_dates(frame: pd.DataFrame, where: str, lines) -> pd.DataFrame:
    parsed = pd.to_datetime(pd.Series(frame.index, dtype=object), errors="coerce", format="mixed")
    bad = parsed.isna().to_numpy()
    if bad.any():
        labels = lines or [f"row {i + 1}" for i in range(len(frame))]
        shown = [f"{labels[i]}: {frame.index[i]!r}" for i in bad.nonzero()[0][:5]]
        raise DataError(f"{where}: {int(bad.sum())} value(s) in the date column are not dates "
                        f"({'; '.join(shown)}); write dates as YYYY-MM-DD")
    out = frame.copy()
    out.index = pd.DatetimeIndex(parsed, name="date")
    return out


def _long_to_wide(frame, path: Path, lines, date_col, ticker_col, price_cols) -> dict[str, pd.DataFrame]:
    where = str(path)
    labels = lines or [f"row {i + 1}" for i in range(len(frame))]
    dates = pd.to_datetime(frame[date_col].astype(object), errors="coerce", format="mixed")
    bad = dates.isna().to_numpy()
    if bad.any():
        shown = [f"{labels[i]}: {frame[date_col].iloc[i]!r}" for i in bad.nonzero()[0][:5]]
        raise DataError(f"{where}: {int(bad.sum())} value(s) in {date_col!r} are not dates "
                        f"({'; '.join(shown)}); write dates as YYYY-MM-DD")
    tickers = frame[ticker_col].astype(str).map(normalize_ticker)
    key = pd.DataFrame({"date": dates.dt.normalize(), "ticker": tickers})
    dup = key.duplicated(keep=False).to_numpy()
    if dup.any():
        shown = [f"{labels[i]} ({tickers.iloc[i]} {key['date'].iloc[i]:%Y-%m-%d})"
                 for i in dup.nonzero()[0][:6]]
        raise DataError(f"{where}: the same (ticker, date) appears more than once: {', '.join(shown)}; keep "
                        "one row per ticker and date")
    for t, pos in key.groupby("ticker").indices.items():
        d = key["date"].to_numpy()[pos]
        down = (d[1:] < d[:-1]).nonzero()[0]
        if len(down):
            i = pos[down[0] + 1]
            raise DataError(f"{where}: dates of {t} are not in ascending order ({labels[i]}: "
                            f"{key['date'].iloc[i]:%Y-%m-%d} after {pd.Timestamp(d[down[0]]):%Y-%m-%d}); "
                            "sort the file by ticker and date")
    fields = dict(price_cols)
    if "adj_close" not in fields:  # only a close: it is the series to backtest on
        fields = {"adj_close": fields.pop("close")}
    out = {}
    for fld, col in fields.items():
        values = frame[col]
        num = pd.to_numeric(values, errors="coerce")
        text_bad = (num.isna() & values.notna()).to_numpy()
        if text_bad.any():
            shown = [f"{labels[i]} ({tickers.iloc[i]}): {values.iloc[i]!r}"
                     for i in text_bad.nonzero()[0][:5]]
            raise DataError(f"{where}: {int(text_bad.sum())} value(s) in {col!r} are not numbers "
                            f"({'; '.join(shown)}); fix the cells or leave them empty for no price")
        nonpos = (num <= 0).to_numpy()
        if nonpos.any():
            shown = [f"{labels[i]} ({tickers.iloc[i]} {key['date'].iloc[i]:%Y-%m-%d}): {num.iloc[i]:g}"
                     for i in nonpos.nonzero()[0][:5]]
            raise DataError(f"{where}: {int(nonpos.sum())} price(s) in {col!r} are zero or negative "
                            f"({'; '.join(shown)}); fix or remove those rows")
        wide = pd.DataFrame({"date": key["date"], "ticker": tickers, "v": num.astype("float64")}).pivot(
            index="date", columns="ticker", values="v").sort_index()
        wide.columns.name = None
        out[fld] = validate_prices(wide, where)
    return out
