"""Import user price files (CSV or Parquet) into the store.

Three layouts are recognised, whatever the extension; anything else is refused with the fix:

- wide: a ``date`` column (or the first column, or a Parquet date index) and one column per ticker;
  the values are taken as adjusted closes (``field="close"`` for raw closes);
- long: columns ``date``, ``ticker`` (or ``symbol``) and ``close`` and/or ``adj_close`` (``Adj Close`` and
  similar spellings accepted), or a Parquet file indexed by (date, ticker). ``adj_close`` goes to the
  adjusted field; ``close`` to the raw field when ``adj_close`` is present too, otherwise it is the only price
  given and is used as the adjusted (total-return) series: supply ``adj_close`` when your closes ignore
  dividends;
- one ticker's OHLCV download (Yahoo's ``Date,Open,High,Low,Close,Adj Close,Volume``, a broker export), named
  by its ticker (``AAPL.csv``): ``Adj Close`` is imported under that ticker and ``Close`` as its raw close;
  without ``Adj Close`` the file is refused (its closes ignore dividends), with the fix.

Every column that becomes a ticker must look like one (ASCII letters and digits, ``.``, ``-``, ``=``, an
optional leading ``^``): a column named ``Open``, ``Apple Inc.``, ``../x`` or left empty is refused, never
stored. Dates are read by ``backtest.data.dates`` (time zones, day/month order). Empty cells (or NA, NaN,
null, #N/A) mean no price that day; a column without any price is reported and not imported.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from backtest.data.dates import parse_dates
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
# columns of a one-ticker OHLCV download besides the closes (ignored on import)
OHLCV_OTHER = {"open", "high", "low", "volume", "dividends", "stock_splits", "capital_gains", "vwap",
               "trades", "change", "change_pct", "turnover", "open_interest"}
TICKER_RE = re.compile(r"^\^?[A-Z0-9]+([.\-][A-Z0-9]+)*(=[A-Z]{1,2})?$")
NOT_TICKERS = {"NA", "NAN", "N/A", "NULL", "NONE", "NAT", "TRUE", "FALSE", "DATE", "INDEX"}


@dataclass
class FilesReport:
    """One entry per file: the write reports (one per field) keyed by path."""

    written: dict[Path, list[WriteReport]] = field(default_factory=dict)
    gaps: dict[tuple[Path, str], dict[str, int]] = field(default_factory=dict)  # (file, field) -> {ticker: n}
    renamed: dict[Path, str] = field(default_factory=dict)  # one-ticker OHLCV file -> what was taken
    moves: dict[tuple[Path, str], dict[str, list]] = field(default_factory=dict)  # (file, field) -> large_moves

    def summary(self) -> str:
        lines = []
        for path, reps in self.written.items():
            for r in reps:
                gaps = self.gaps.get((path, r.field), {})
                shown = ", ".join(f"{t} ({n})" for t, n in gaps.items())
                lines.append(f"imported {path}: {len(r.tickers)} tickers, {r.cells} {r.field} prices"
                             + (f" ({self.renamed[path]})" if path in self.renamed and r.field == "adj_close"
                                else "")
                             + (f"; rebased onto stored series: "
                                f"{', '.join(f'{t} (x{f:.6g})' for t, f in r.rebased.items())}" if r.rebased else "")
                             + (f"; no overlap with stored data (seam unchecked): {', '.join(r.unanchored)}"
                                if r.unanchored else "")
                             + (f"; empty cells inside the history of {len(gaps)} ticker(s), stored as no "
                                f"price (not filled; runs name them): {shown}" if gaps else "")
                             + (f"; column(s) without any price, not imported: {', '.join(r.empty)}"
                                if r.empty else "")
                             + _moves_text(self.moves.get((path, r.field), {})))
        return "\n".join(lines)


def _moves_text(moves: dict[str, list]) -> str:
    if not moves:
        return ""
    shown = [f"{t} {d:%Y-%m-%d} (x{x:.4g})" for t, found in moves.items() for d, x in found]
    more = f" and {len(shown) - 10} more" if len(shown) > 10 else ""
    return (f"; WARNING: prices moving {LARGE_MOVE:g}x or more from one day to the next (a unit error, a split "
            f"left in, a wrong price? stored as they are; check the file): {', '.join(shown[:10])}{more}")


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


LARGE_MOVE = 3.0
"""A move from one price of a ticker to its next by this factor or more, up or down (+200%, -67%), is named by
the import's summary: a unit error (cents for dollars), a split or a wrong price is far likelier than a market
move of that size (none of the snapshot's ~700 S&P 500 members and ETFs makes one in 2015-2026). A warning:
the prices are stored as they are."""


def large_moves(frame: pd.DataFrame) -> dict[str, list[tuple[pd.Timestamp, float]]]:
    """Per column of a wide price frame, ``(date, price / previous price)`` of each move by ``LARGE_MOVE`` or
    more between consecutive prices (empty cells skipped)."""
    out = {}
    for t in frame.columns:
        s = frame[t].dropna().astype(float)
        ratio = s / s.shift(1)
        big = ratio[(ratio >= LARGE_MOVE) | (ratio <= 1.0 / LARGE_MOVE)]
        if len(big):
            out[str(t)] = [(pd.Timestamp(d), float(x)) for d, x in big.items()]
    return out


def import_paths(store: PriceStore, paths: Iterable, *, date_format: str | None = None) -> list[str]:
    """``bt data import PATH...``: snapshot folders are imported as snapshots, every other path (file, or
    folder of .csv/.parquet files) as price files. Every argument is checked and every price file read and
    validated before anything is written, so a bad argument writes nothing. Returns the report lines."""
    from backtest.data.snapshot import check_snapshot, import_snapshot, is_snapshot

    snapshots: list[Path] = []
    files: list[Path] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if is_snapshot(p):
            check_snapshot(p)
            snapshots.append(p)
        else:
            files += _files_of(p)
    parsed = [(f, read_price_file(f, date_format=date_format)) for f in files]
    lines: list[str] = []
    done: list[str] = []
    if snapshots:   # several files each: an interrupt between two leaves a mark every run refuses
        store.begin_import(" ".join(str(p) for p in snapshots))
    current = None
    try:
        for p in snapshots:
            current = p     # import_snapshot writes its files one by one: an error inside leaves some written
            lines += import_snapshot(store, p).summary().splitlines()
            done.append(f"the snapshot {p}")
        current = None
        if parsed:
            lines += _write_parsed(store, parsed, done).summary().splitlines()
    except DataError as exc:
        if current is not None:     # part of a snapshot may be written: keep the mark every run refuses
            raise DataError(f"{exc}\nThe import of the snapshot {current} stopped part-way (some of its files "
                            f"may be written); the store is marked unfinished until `bt data import {current}` "
                            "completes.") from None
        store.end_import()      # refused or failed with a message saying what was written
        if done:
            raise DataError(f"{exc}\nWritten before this error: {', '.join(done)}; the rest was not "
                            "written.") from None
        raise
    store.end_import()
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


def import_files(store: PriceStore, paths: Iterable, *, field: str = "adj_close",
                 date_format: str | None = None) -> FilesReport:
    """Read, check and write each file; every file is checked before anything is written, so one bad file
    writes nothing. ``field`` is the field of wide files' values."""
    parsed = []
    for raw in paths:
        path = Path(raw).expanduser()
        parsed.append((path, read_price_file(path, field=field, date_format=date_format)))
    return _write_parsed(store, parsed, [])


def _write_parsed(store: PriceStore, parsed, done: list[str]) -> FilesReport:
    report = FilesReport()
    for path, frames in parsed:
        source = f"file:{path.resolve()}"
        taken = frames.pop("_taken", None)
        report.written[path] = [store.write_prices(frame, source, fld) for fld, frame in frames.items()]
        done.append(str(path))
        if taken:
            report.renamed[path] = taken
        for fld, frame in frames.items():
            if gaps := interior_gaps(frame):
                report.gaps[(path, fld)] = gaps
            if moves := _moves_with_seams(store, frame, fld):
                report.moves[(path, fld)] = moves
    return report


SEAM_DAYS = 7   # a move across a file's edge counts as a day's move when the prices are at most this many days apart


def _moves_with_seams(store: PriceStore, frame: pd.DataFrame, fld: str) -> dict:
    """`large_moves` of the stored series (as merged) over the new frame's dates and the first stored price
    on either side of them: a split left in at the seam with older data is a move like any other."""
    merged = store.prices(list(frame.columns), field=fld)
    out = {}
    for t, moves in large_moves(merged).items():
        s = frame[t].dropna() if t in frame.columns else None
        if s is None or s.empty:
            continue
        stored = merged[t].dropna().index
        after = merged[t].loc[s.index[-1]:].dropna().index
        stop = after[1] if len(after) > 1 else s.index[-1]
        kept = []
        for d, r in moves:
            if not s.index[0] <= d <= stop:
                continue
            prev = stored[stored.get_loc(d) - 1]
            seam = d not in s.index or prev not in s.index       # the move spans the file's edge
            if seam and (d - prev).days > SEAM_DAYS:    # years apart: not one day's move (the seam is unchecked)
                continue
            kept.append((d, r))
        if kept:
            out[t] = kept
    return out


def read_price_file(path: Path, *, field: str = "adj_close", date_format: str | None = None
                    ) -> dict[str, pd.DataFrame]:
    """Parse one file into validated wide frames keyed by field (``adj_close``, ``close``); a one-ticker
    OHLCV file adds ``"_taken"``: a note on which columns were imported."""
    path = Path(path)
    if not path.is_file():
        what = ("a folder" if path.is_dir() else
                "not a regular file (a pipe, socket or device)" if path.exists() else "missing")
        raise DataError(f"{path} is {what}; pass a CSV or Parquet price file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty (0 bytes); export the prices again (a header row "
                        "`date,TICKER,...` and one row per date)")
    kind, detail = _sniff(path)
    ext = path.suffix.lower()
    if kind == "latin1":
        raise DataError(f"{path}: not UTF-8 text ({detail}); it looks like Latin-1/Windows-1252: save it as "
                        "UTF-8 (CSV UTF-8 in Excel) and import it again")
    if ext in CSV_EXT and kind != "csv" or ext in PARQUET_EXT and kind != "parquet":
        expect = "CSV text" if ext in CSV_EXT else "Parquet"
        found = {"parquet": "a Parquet file", "csv": "text (CSV?)", "binary": "binary data"}[kind]
        raise DataError(f"{path}: the extension {ext} says {expect} but the file holds {found}; rename it to "
                        "the right extension or re-export it")
    if ext not in CSV_EXT + PARQUET_EXT and kind == "binary":
        raise DataError(f"{path}: not a CSV or Parquet file (unknown extension {ext or '(none)'}, binary "
                        "content); export prices as .csv or .parquet")
    if kind == "parquet":
        frame, lines = _read_parquet(path), None
    else:
        frame, lines = _read_csv(path)
    if frame.empty or frame.shape[1] < 2:
        raise DataError(f"{path}: no price data (need a date column and at least one price column)")
    return _to_wide(frame, path, lines, field, date_format)


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:
        raise DataError(f"{path}: a damaged Parquet file ({exc}); re-export it") from None
    if isinstance(frame.columns, pd.MultiIndex):
        raise DataError(f"{path}: the columns have {frame.columns.nlevels} levels (e.g. "
                        f"{frame.columns[0]!r}); write one column per ticker holding its adjusted close, or "
                        "a long table (date, ticker, adj_close)")
    if isinstance(frame.index, pd.MultiIndex):
        names = [_norm(n) for n in frame.index.names]
        if any(n in DATE_NAMES for n in names) and any(n in TICKER_NAMES for n in names):
            return frame.reset_index()
        raise DataError(f"{path}: indexed by {list(frame.index.names)}; expected a date index (one column "
                        "per ticker) or a (date, ticker) index with a close or adj_close column")
    if isinstance(frame.index, pd.DatetimeIndex) or _norm(frame.index.name) in DATE_NAMES:
        frame = frame.reset_index()
    return frame


def _read_csv(path: Path) -> tuple[pd.DataFrame, list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        header_line = fh.readline()
        head = [next(csv.reader([header_line]), []), next(csv.reader([fh.readline()]), []),
                next(csv.reader([fh.readline()]), [])]
    if order := _yfinance_order(head):
        return _read_yfinance(path, ticker_first=order == "ticker")
    header = next(csv.reader([header_line]), [])
    if len(header) < 2:
        for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "vertical bars")):
            if sep in header_line:
                raise DataError(f"{path}: the columns are separated by {name}, not commas (header "
                                f"{header_line.strip()[:60]!r}); re-export it as comma-separated values with "
                                "a decimal point (not a decimal comma)")
    names = [h.strip() for h in header]
    empty = [i + 1 for i, h in enumerate(names) if not h]
    if empty:
        raise DataError(f"{path}: column(s) {', '.join(map(str, empty))} of the header have no name; name "
                        "every column (date, then one ticker per column) or remove the column")
    dups = sorted({h for h in names if names.count(h) > 1})
    if dups:
        raise DataError(f"{path}: the header names {', '.join(repr(d) for d in dups)} more than once; keep one "
                        "column per ticker")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True,
                            encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not readable as CSV ({str(exc).strip()}); check the delimiter (comma) "
                        "and the encoding (UTF-8)") from None
    frame.columns = names
    for col in frame.columns:
        if _norm(col) not in TICKER_NAMES:  # a ticker cell 'NA' is a ticker cell, not "no price"
            frame[col] = frame[col].replace({token: None for token in NA_TOKENS})
    return frame, [f"line {i + 2}" for i in range(len(frame))]


def _yfinance_order(head: list[list[str]]) -> str | None:
    """Which of the three header rows `yf.download(...).to_csv()` writes come first: ``"price"`` for
    ``Price,<field>...``, ``Ticker,<ticker>...``, ``Date,,,...`` (the default), ``"ticker"`` for the
    ``group_by="ticker"`` download (ticker row first); None for any other file."""
    if len(head[0]) < 2 or len(head[2]) < 1 or _norm(head[2][0]) not in DATE_NAMES or any(
            c.strip() for c in head[2][1:]):
        return None
    first, second = head[0][0].strip().lower(), head[1][:1]
    if first == "price" and second == ["Ticker"]:
        return "price"
    if first == "ticker" and second == ["Price"]:
        return "ticker"
    return None


def _read_yfinance(path: Path, *, ticker_first: bool = False) -> tuple[pd.DataFrame, list[str]]:
    """A yfinance download (three header rows: field, ticker, Date; or ticker, field, Date for
    ``group_by="ticker"``) as the long layout: date, ticker, adj_close, close. Refused without ``Adj Close``:
    with yfinance's default ``auto_adjust=True`` the Close column is already adjusted for splits and
    dividends, and nothing in the file says which it is."""
    try:
        raw = pd.read_csv(path, header=[0, 1], skiprows=[2], index_col=0, dtype=str, keep_default_na=False,
                          encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path}: a yfinance download that is not readable as CSV ({str(exc).strip()})") from None
    if ticker_first:
        raw.columns = raw.columns.swaplevel(0, 1)
    fields = {_norm(f) for f, _ in raw.columns}
    if "adj_close" not in fields:
        rows = "Ticker, Price, Date" if ticker_first else "Price, Ticker, Date"
        raise DataError(f"{path}: a yfinance download (header rows {rows}) without an 'Adj Close' "
                        "column: with yfinance's default auto_adjust=True its Close is already adjusted for "
                        "splits and dividends, and the file does not say which it is; download with "
                        "yf.download(..., auto_adjust=False) (it writes Adj Close and Close), or save date + "
                        "one column per ticker holding adjusted closes")
    parts, lines = [], []
    for ticker in dict.fromkeys(t for _, t in raw.columns):
        part = {"date": raw.index.to_numpy(), "ticker": ticker}
        for name, t in raw.columns:
            if t == ticker and _norm(name) in ("adj_close", "close"):
                part[_norm(name)] = raw[(name, t)].replace({token: None for token in NA_TOKENS}).to_numpy()
        parts.append(pd.DataFrame(part))
        lines += [f"line {i + 4} ({ticker})" for i in range(len(raw))]
    return pd.concat(parts, ignore_index=True), lines


def _sniff(path: Path) -> tuple[str, str]:
    with open(path, "rb") as fh:
        head = fh.read(65536)
    if head.startswith(b"PAR1"):
        return "parquet", ""
    if b"\x00" in head:
        return "binary", ""
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4 or len(head) < 65536:  # not a character cut at the read boundary
            line = head.count(b"\n", 0, exc.start) + 1
            text = head.decode("latin-1")
            printable = sum(c.isprintable() or c in "\r\n\t" for c in text) / max(len(text), 1)
            if printable > 0.98:
                return "latin1", f"byte 0x{head[exc.start]:02x} on line {line}"
            return "binary", ""
    return "csv", ""


def _norm(name) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(name).strip().lower()).strip("_")


def check_ticker_name(name, where: str, what: str = "column") -> str:
    """A file's column name (or ticker cell) as a stored ticker, or a DataError: it must look like a ticker,
    so no description, path, markup or placeholder is ever stored as one."""
    raw = "" if name is None else str(name).strip()
    problem = None
    if not raw:
        problem = "is empty"
    elif not raw.isascii():
        odd = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in dict.fromkeys(c for c in raw if not c.isascii()))
        problem = f"has non-ASCII characters ({odd}) that only look like a ticker's letters"
    elif any(c.isspace() for c in raw):
        problem = "contains spaces (a description, not a ticker)"
    else:
        sym = normalize_ticker(raw)
        if sym in NOT_TICKERS:
            problem = "is a placeholder for a missing value, not a ticker"
        elif len(sym) > 15 or not TICKER_RE.match(sym):
            problem = "is not a ticker symbol (letters, digits, '.', '-', '=', an optional leading '^')"
        else:
            return sym
    raise DataError(f"{where}: {what} {raw!r} {problem}; name each price column by its ticker (e.g. AAPL, "
                    "BRK-B, ^GSPC) and import it again; nothing was written")


def _to_wide(frame: pd.DataFrame, path: Path, lines, field: str, date_format) -> dict[str, pd.DataFrame]:
    names = {_norm(c): c for c in frame.columns}
    ticker_col = next((names[n] for n in TICKER_NAMES if n in names), None)
    price_cols = {FIELD_NAMES[n]: names[n] for n in names if n in FIELD_NAMES}
    date_col = next((names[n] for n in DATE_NAMES if n in names), frame.columns[0])
    where = str(path)
    if ticker_col is not None:
        if not price_cols:
            raise DataError(f"{path}: long layout (a {ticker_col!r} column) but no close or adj_close "
                            f"column; found columns {list(frame.columns)}")
        return _long_to_wide(frame, path, lines, date_col, ticker_col, price_cols, date_format)
    others = [c for c in frame.columns if c != date_col]
    fields = [c for c in others if _norm(c) in FIELD_NAMES or _norm(c) in OHLCV_OTHER]
    if price_cols or len(fields) >= 2:
        return _ohlcv(frame, path, lines, date_col, others, price_cols, date_format)
    fields = [c for c in fields if not str(c).isupper()]   # LOW (Lowe's), OPEN (Opendoor) are tickers
    if fields:   # one OHLCV field name (Volume, Open, ...) among ticker columns: a field, never a ticker
        raise DataError(f"{path}: column {fields[0]!r} is a price field (of a one-ticker download), not a ticker; "
                        "remove it (date + one column of adjusted closes per ticker) and import the file again; "
                        "nothing was written")
    labels = lines or [f"row {i + 1}" for i in range(len(frame))]
    tickers = [check_ticker_name(c, where) for c in others]
    wide = frame[others].copy()
    wide.columns = tickers
    wide.index = parse_dates(frame[date_col].tolist(), where, labels, date_format)
    wide.index.name = "date"
    return {field: validate_prices(wide, where, lines)}


def _ohlcv(frame, path: Path, lines, date_col, others, price_cols, date_format) -> dict[str, pd.DataFrame]:
    """One ticker's download (module docstring): the ticker is the file name."""
    where = str(path)
    stray = [c for c in others if _norm(c) not in FIELD_NAMES and _norm(c) not in OHLCV_OTHER]
    if stray:
        raise DataError(f"{path}: price fields ({', '.join(map(str, price_cols.values()))}) next to other "
                        f"columns ({', '.join(map(repr, stray))}); use one layout: one ticker's download named "
                        "TICKER.csv, or date + one column per ticker, or date, ticker, adj_close")
    ticker = check_ticker_name(path.stem, where, "the file name (taken as the ticker of this one-ticker file)")
    if "adj_close" not in price_cols:
        have = ", ".join(map(str, others))
        raise DataError(f"{path}: a one-ticker price file ({have}) without an adjusted close: its closes ignore "
                        f"dividends, so a backtest on them understates returns. Fix: download it with 'Adj "
                        f"Close' (Yahoo's historical data), or, if its closes are already total-return, "
                        f"rename the close column to {ticker} (date,{ticker})")
    labels = lines or [f"row {i + 1}" for i in range(len(frame))]
    dates = parse_dates(frame[date_col].tolist(), where, labels, date_format)
    out: dict = {}
    for fld, col in sorted(price_cols.items()):  # adj_close first
        wide = pd.DataFrame({ticker: frame[col].to_numpy()}, index=pd.DatetimeIndex(dates, name="date"))
        out[fld] = validate_prices(wide, where, lines)
    out["_taken"] = (f"one-ticker file: {price_cols['adj_close']!r} as {ticker}"
                     + (f", {price_cols['close']!r} as its raw close" if "close" in price_cols else ""))
    return out


def _long_to_wide(frame, path: Path, lines, date_col, ticker_col, price_cols, date_format
                  ) -> dict[str, pd.DataFrame]:
    where = str(path)
    labels = lines or [f"row {i + 1}" for i in range(len(frame))]
    dates = pd.Series(parse_dates(frame[date_col].tolist(), where, labels, date_format))
    cells = frame[ticker_col].astype(object)
    valid: dict[str, str] = {}
    for i, cell in enumerate(cells):
        key = "" if cell is None or (isinstance(cell, float) and cell != cell) else str(cell)
        if key not in valid:
            valid[key] = check_ticker_name(key, f"{where} ({labels[i]})", f"the {ticker_col!r} cell")
    tickers = pd.Series([valid["" if c is None or (isinstance(c, float) and c != c) else str(c)]
                         for c in cells], index=frame.index)
    key = pd.DataFrame({"date": dates.to_numpy(), "ticker": tickers.to_numpy()})
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
    out = {}
    if "adj_close" not in fields:  # only a close: it is the series to backtest on
        fields = {"adj_close": fields.pop("close")}
        out["_taken"] = (f"its only close column {fields['adj_close']!r} is taken as the adjusted close, "
                         f"dividends included; if it ignores them, the backtest understates returns: give "
                         f"adj_close")
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
