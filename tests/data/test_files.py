"""User price files: CSV/Parquet, wide/long layouts detected; every bad file rejected with a message naming
the file, the row and the fix, and nothing written."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest.data.files import import_files, import_path, import_paths, read_price_file
from backtest.data.listing import format_catalog
from backtest.data.store import PriceStore
from backtest.errors import DataError

WIDE = "date,AAPL,BRK.B\n2024-01-02,185.6,362.5\n2024-01-03,184.2,\n2024-01-04,181.9,364.0\n"
LONG = ("date,ticker,close,adj_close\n2024-01-02,AAPL,185.6,184.9\n2024-01-03,AAPL,184.2,183.5\n"
        "2024-01-02,SPY,472.6,466.1\n2024-01-03,SPY,468.8,462.3\n")


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


def test_wide_csv(tmp_path):
    store = PriceStore(tmp_path / "store")
    report = import_files(store, [write(tmp_path, "p.csv", WIDE)])
    got = store.prices()
    assert list(got.columns) == ["AAPL", "BRK-B"]
    assert got["AAPL"].tolist() == [185.6, 184.2, 181.9] and np.isnan(got.loc["2024-01-03", "BRK-B"])
    assert "p.csv: 2 tickers, 5 adj_close prices" in report.summary()
    assert store.catalog()["source"].iloc[0] == f"file:{(tmp_path / 'p.csv').resolve()}"


def test_missing_value_spellings(tmp_path):
    text = "date,A,B,C\n2024-01-02,1,NA,NaN\n2024-01-03,#N/A,null,2\n"
    frames = read_price_file(write(tmp_path, "na.csv", text))
    got = frames["adj_close"]
    assert got.notna().values.tolist() == [[True, False, False], [False, False, True]]


def test_long_csv_with_both_fields(tmp_path):
    store = PriceStore(tmp_path / "store")
    import_files(store, [write(tmp_path, "long.csv", LONG)])
    assert store.prices(["SPY"])["SPY"].tolist() == [466.1, 462.3]
    assert store.prices(["SPY"], field="close")["SPY"].tolist() == [472.6, 468.8]


def test_long_close_only_is_the_series_to_backtest_and_the_import_says_so(tmp_path):
    """A long file with only a close column: it is the series to backtest on, stored as the adjusted close;
    the import's output says so (a broker's price-only closes would understate returns, silently)."""
    text = "Date,Symbol,Close\n2024-01-02,aapl,1.5\n2024-01-03,aapl,2\n"
    frames = read_price_file(write(tmp_path, "c.csv", text))
    assert sorted(frames) == ["_taken", "adj_close"] and frames["adj_close"]["AAPL"].tolist() == [1.5, 2.0]
    report = import_files(PriceStore(tmp_path / "store"), [tmp_path / "c.csv"])
    assert ("1 tickers, 2 adj_close prices (its only close column 'Close' is taken as the adjusted close, "
            "dividends included; if it ignores them, the backtest understates returns: give adj_close)"
            ) in report.summary()
    both = import_files(PriceStore(tmp_path / "s2"),
                        [write(tmp_path, "b.csv", "date,ticker,close,adj_close\n2024-01-02,X,2,1\n")])
    assert "taken as the adjusted close" not in both.summary()


def test_adj_close_spellings(tmp_path):
    frames = read_price_file(write(tmp_path, "y.csv", "Date,Ticker,Adj Close\n2024-01-02,X,3\n"))
    assert frames["adj_close"]["X"].tolist() == [3.0]


def test_parquet_wide_with_date_index_and_long(tmp_path):
    idx = pd.DatetimeIndex(["2024-01-02", "2024-01-03"], name="date")
    pd.DataFrame({"SPY": [1.0, 2.0]}, index=idx).to_parquet(tmp_path / "w.parquet")
    pd.DataFrame({"date": idx, "ticker": ["QQQ", "QQQ"], "close": [3.0, 4.0]}).to_parquet(tmp_path / "l.pq")
    store = PriceStore(tmp_path / "store")
    import_files(store, [tmp_path / "w.parquet", tmp_path / "l.pq"])
    assert store.prices()[["SPY", "QQQ"]].values.tolist() == [[1.0, 3.0], [2.0, 4.0]]


def test_import_paths_folder_and_snapshot_dispatch(tmp_path, market_data_dir):
    folder = tmp_path / "mine"
    folder.mkdir()
    write(folder, "a.csv", WIDE)
    write(folder, "notes.md", "ignored")
    store = PriceStore(tmp_path / "store")
    lines = import_paths(store, [folder])
    assert len(lines) == 1 and lines[0].startswith(f"imported {folder / 'a.csv'}: 2 tickers")
    assert "AAPL" in format_catalog(store)
    assert type(import_path(store, folder / "a.csv")).__name__ == "FilesReport"


def test_import_onto_stored_series_is_rebased_and_says_so(tmp_path):
    store = PriceStore(tmp_path / "store")
    import_files(store, [write(tmp_path, "a.csv", "date,X\n2024-01-02,10\n2024-01-03,11\n")])
    report = import_files(store, [write(tmp_path, "b.csv", "date,X\n2024-01-03,22\n2024-01-04,24.2\n")])
    assert "rebased onto stored series: X (x0.5)" in report.summary()
    assert store.prices()["X"].tolist() == pytest.approx([10.0, 11.0, 12.1])


PARQUET_BYTES = b"PAR1" + b"\x00" * 64


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf)
    return buf.getvalue()


TWO_LEVEL = _parquet_bytes(pd.DataFrame(
    [[1.0, 2.0]], index=pd.DatetimeIndex(["2024-01-02"], name="date"),
    columns=pd.MultiIndex.from_tuples([("AAA", "CLOSE"), ("AAA", "VOLUME")])))
BAD_FILES = [
    ("parquet named csv", "p.csv", PARQUET_BYTES,
     r"p.csv: the extension .csv says CSV text but the file holds a Parquet file; rename it"),
    ("csv named parquet", "p.parquet", WIDE,
     r"p.parquet: the extension .parquet says Parquet but the file holds text \(CSV\?\)"),
    ("binary named csv", "p.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
     r"the extension .csv says CSV text but the file holds binary data"),
    ("unknown binary", "p.xlsx", b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00",
     r"not a CSV or Parquet file \(unknown extension .xlsx, binary content\)"),
    ("damaged parquet", "p.parquet", PARQUET_BYTES, r"p.parquet: a damaged Parquet file .*; re-export it"),
    ("non-numeric cell", "p.csv", "date,AAPL\n2024-01-02,1.0\n2024-01-03,n/a?\n",
     r"AAPL on line 3: 'n/a\?' is not a number"),
    ("negative price", "p.csv", "date,AAPL\n2024-01-02,1.0\n2024-01-03,-2\n",
     r"AAPL on line 3 \(2024-01-03\): price -2 is not positive"),
    ("zero price", "p.csv", "date,AAPL\n2024-01-02,0\n",
     r"AAPL on line 2 \(2024-01-02\): price 0 is not positive"),
    ("duplicated date", "p.csv", "date,AAPL\n2024-01-02,1\n2024-01-02,1\n",
     r"date 2024-01-02 appears more than once \(line 2, line 3\)"),
    ("unsorted dates", "p.csv", "date,AAPL\n2024-01-03,1\n2024-01-02,1\n",
     r"dates are not in ascending order: 2024-01-02 on line 3 comes after 2024-01-03"),
    ("bad date", "p.csv", "date,AAPL\n2024-01-02,1\nsoon,2\n",
     r"1 value\(s\) in the date column are not dates \(line 3: 'soon'\); write dates as YYYY-MM-DD"),
    ("long duplicate", "p.csv", "date,ticker,close\n2024-01-02,A,1\n2024-01-02,A,2\n",
     r"the same \(ticker, date\) appears more than once: line 2 \(A 2024-01-02\), line 3"),
    ("long unsorted", "p.csv", "date,ticker,close\n2024-01-03,A,1\n2024-01-02,A,2\n",
     r"dates of A are not in ascending order \(line 3: 2024-01-02 after 2024-01-03\)"),
    ("long text price", "p.csv", "date,ticker,close\n2024-01-02,A,one\n",
     r"1 value\(s\) in 'close' are not numbers \(line 2 \(A\): 'one'\)"),
    ("long negative", "p.csv", "date,ticker,close\n2024-01-02,A,-1\n",
     r"1 price\(s\) in 'close' are zero or negative \(line 2 \(A 2024-01-02\): -1\)"),
    ("long without prices", "p.csv", "date,ticker,volume\n2024-01-02,A,100\n",
     r"long layout \(a 'ticker' column\) but no close or adj_close column"),
    # --- layouts that are not a price table, or whose columns are not tickers (never stored as tickers)
    ("ohlcv without adj close", "MSFT.csv", "Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,0.5,1.5,100\n",
     r"MSFT.csv: a one-ticker price file \(Open, High, Low, Close, Volume\) without an adjusted close: its "
     r"closes ignore dividends.*rename the close column to MSFT"),
    ("ohlcv not named by a ticker", "AAPL (1).csv", "Date,Open,Close,Adj Close\n2024-01-02,1,2,2\n",
     r"the file name \(taken as the ticker of this one-ticker file\) 'AAPL \(1\)' contains spaces"),
    ("ohlcv with other columns", "AAPL.csv", "Date,Close,Adj Close,MSFT\n2024-01-02,1,2,3\n",
     r"price fields \(Close, Adj Close\) next to other columns \('MSFT'\); use one layout"),
    ("one field among tickers", "p.csv", "date,AAPL,MSFT,Volume\n2024-01-02,1,2,100\n",
     r"p.csv: column 'Volume' is a price field \(of a one-ticker download\), not a ticker; remove it"),
    ("description as ticker", "p.csv", "date,Apple Inc.\n2024-01-02,1\n",
     r"column 'Apple Inc.' contains spaces \(a description, not a ticker\); name each price column by its "
     r"ticker"),
    ("path as ticker", "p.csv", "date,../../etc/passwd\n2024-01-02,1\n",
     r"column '../../etc/passwd' is not a ticker symbol"),
    ("markup as ticker", "p.csv", "date,<b>X</b>\n2024-01-02,1\n", r"column '<b>X</b>' is not a ticker symbol"),
    ("look-alike letters", "p.csv", "date,\u017fpy\n2024-01-02,1\n",
     r"column 'ſpy' has non-ASCII characters \('ſ' \(U\+017F\)\) that only look like a ticker's letters"),
    ("duplicated column", "p.csv", "date,ZZA,ZZA\n2024-01-02,1,2\n",
     r"the header names 'ZZA' more than once; keep one column per ticker"),
    ("unnamed column", "p.csv", "date,SPY,\n2024-01-02,1,2\n",
     r"column\(s\) 3 of the header have no name"),
    ("NA ticker cell", "p.csv", "date,ticker,close\n2024-01-02,SPY,1\n2024-01-02,NA,1\n",
     r"p.csv \(line 3\): the 'ticker' cell 'NA' is a placeholder for a missing value, not a ticker"),
    ("empty ticker cell", "p.csv", "date,ticker,close\n2024-01-02,SPY,1\n2024-01-02,,1\n",
     r"p.csv \(line 3\): the 'ticker' cell '' is empty"),
    ("two-level columns", "p.parquet", TWO_LEVEL,
     r"p.parquet: the columns have 2 levels \(e.g. \('AAA', 'CLOSE'\)\); write one column per ticker"),
    # --- dates that would shift prices by a day or a month
    ("ambiguous day/month", "p.csv", "date,SPY\n02/01/2024,1\n08/01/2024,2\n",
     r"the dates are ambiguous: '02/01/2024' can be day/month or month/day.*pass --date-format %d/%m/%Y"),
    ("two-digit years", "p.csv", "date,SPY\n13/01/24,1\n", r"two-digit years are ambiguous \(line 2: '13/01/24'\)"),
    ("zone on some dates only", "p.csv", "date,SPY\n2024-01-02T00:00:00Z,1\n2024-01-03,2\n",
     r"some dates carry a time zone and some do not \(line 2: '2024-01-02T00:00:00Z'; line 3: '2024-01-03'\)"),
    ("stamps outside the trading day", "p.csv", "date,SPY\n2024-01-02T03:00:00Z,1\n2024-01-03T03:00:00Z,2\n",
     r"2 time stamp\(s\) fall outside the New York trading day.*2024-01-01 22:00 in New York"),
    ("midnight east of New York written in UTC", "p.csv",
     "date,SPY\n2024-01-07T23:00:00Z,1\n2024-01-08T23:00:00Z,2\n",       # Berlin's Monday, New York's Sunday
     r"1 time stamp\(s\) fall on a Saturday or Sunday in New York, where no exchange trades.*"
     r"2024-01-07 23:00:00\+00:00 is Sun 2024-01-07 18:00 in New York"),
    ("impossible calendar date", "p.csv", "date,SPY\n2024-02-30,1\n",
     r"1 value\(s\) in the date column are not calendar dates \(line 2: '2024-02-30'\)"),
    # --- files that are not comma-separated UTF-8 text
    ("empty file", "p.csv", "", r"p.csv: the file is empty \(0 bytes\)"),
    ("semicolons", "p.csv", "date;SPY\n2024-01-02;1,5\n",
     r"the columns are separated by semicolons, not commas"),
    ("tabs", "p.csv", "date\tSPY\n2024-01-02\t1.5\n", r"the columns are separated by tabs, not commas"),
    ("latin-1", "p.csv", "date,SPY\n2024-01-02,1\n# caf\xe9\n".encode("latin-1"),
     r"p.csv: not UTF-8 text \(byte 0xe9 on line 3\); it looks like Latin-1/Windows-1252: save it as UTF-8"),
    ("header only", "p.csv", "date,AAPL\n",
     r"no price data \(need a date column and at least one price column\)"),
    ("one column", "p.csv", "date\n2024-01-02\n", r"no price data"),
]


@pytest.mark.parametrize("case,name,content,message", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_files_rejected_with_the_fix(tmp_path, case, name, content, message):
    good = write(tmp_path, "good.csv", WIDE)
    bad = write(tmp_path, name, content)
    store = PriceStore(tmp_path / "store")
    with pytest.raises(DataError, match=message) as err:
        import_files(store, [good, bad])  # the good file comes first: still nothing may be written
    assert name in str(err.value)
    assert not store.exists()


def test_missing_file_and_folder(tmp_path):
    store = PriceStore(tmp_path / "store")
    with pytest.raises(DataError, match=r"nope.csv is missing; pass a CSV or Parquet price file"):
        import_files(store, [tmp_path / "nope.csv"])
    with pytest.raises(DataError, match=r"is a folder; pass a CSV or Parquet price file"):
        read_price_file(tmp_path)
    with pytest.raises(DataError, match=r"does not exist; pass the snapshot folder"):
        import_paths(store, [tmp_path / "nowhere"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"holds no .csv or .parquet files and is not a market-data snapshot"):
        import_paths(store, [tmp_path / "empty"])


def test_import_of_an_unadjusted_split_onto_a_stored_series_is_refused(tmp_path):
    """The stored history is not rewritten: a file whose overlap moves unlike the stored prices (a 2-for-1
    split left in) stops with the ticker, the date and the fix; the stored prices are unchanged."""
    store = PriceStore(tmp_path / "store")
    import_files(store, [write(tmp_path, "c.csv", "date,FOO\n2024-01-02,100\n2024-01-03,101\n2024-01-04,102\n"
                                                  "2024-01-05,103\n")])
    bad = write(tmp_path, "d.csv", "date,FOO\n2024-01-02,100\n2024-01-03,101\n2024-01-04,51\n2024-01-05,52\n"
                                   "2024-01-08,53\n")
    with pytest.raises(DataError, match=r"FOO from file:.*d\.csv on 2024-01-04: stored 102, new 51"):
        import_files(store, [bad])
    assert store.prices()["FOO"].tolist() == [100.0, 101.0, 102.0, 103.0]


def test_listing_counts_the_prices_stored_across_sources(tmp_path):
    """`bt data ls` counts a ticker's stored prices, not one source's: two files sharing a day give 4."""
    from backtest.data.listing import catalog_summary

    store = PriceStore(tmp_path / "store")
    import_files(store, [write(tmp_path, "a.csv", "date,FOO\n2024-01-02,100\n2024-01-03,101\n2024-01-04,102\n")])
    import_files(store, [write(tmp_path, "b.csv", "date,FOO\n2024-01-04,102\n2024-01-05,103\n")])
    (row,) = catalog_summary(store).itertuples(index=False)
    assert (row.ticker, row.rows, row.start, row.end) == ("FOO", 4, pd.Timestamp("2024-01-02"),
                                                         pd.Timestamp("2024-01-05"))
    assert "FOO      adj_close 2024-01-02 2024-01-05      4" in format_catalog(store)


def test_import_names_prices_that_move_3x_or_more_from_one_day_to_the_next(tmp_path):
    """A one-day 1000x spike (cents for dollars on one row) is stored as it is, but the summary names both
    moves; an ordinary series is not named; empty cells are skipped, not read as moves."""
    store = PriceStore(tmp_path / "store")
    report = import_files(store, [write(tmp_path, "s.csv", "date,SPK,OK\n2024-01-02,10,10\n2024-01-03,10000,\n"
                                                           "2024-01-04,10,29\n")])
    text = report.summary()
    assert ("WARNING: prices moving 3x or more from one day to the next (a unit error, a split left in, a wrong "
            "price? stored as they are; check the file): SPK 2024-01-03 (x1000), SPK 2024-01-04 (x0.001)") in text
    assert "OK " not in text.split("WARNING")[1]
    assert store.prices()["SPK"].tolist() == [10.0, 10000.0, 10.0]


def test_a_split_left_in_at_the_seam_between_two_files_is_named(tmp_path):
    """Prices in two files, the second with every price /4 (a 4:1 split its source did not adjust): the step
    sits between the files, where no one file shows it. It is named as a 3x move (it was silent and a run
    on it lost half its value); a seam on the left of a later file and on the right of an earlier one both
    count, a clean continuation does not, and moves inside the stored history away from the seam are not
    named again."""
    store = PriceStore(tmp_path / "store")
    import_files(store, [write(tmp_path, "a.csv", "date,QAA,OLD\n2022-12-28,100,10\n2022-12-29,101,40\n"
                                                   "2022-12-30,102,40\n")])
    later = import_files(store, [write(tmp_path, "b.csv", "date,QAA\n2023-01-03,25.6\n2023-01-04,25.8\n")])
    assert "QAA 2023-01-03 (x0.251)" in later.summary() and "OLD" not in later.summary()
    earlier = import_files(store, [write(tmp_path, "c.csv", "date,QAA\n2022-12-22,400\n2022-12-23,404\n")])
    assert "QAA 2022-12-28 (x0.2475)" in earlier.summary()
    clean = import_files(store, [write(tmp_path, "d.csv", "date,QAA\n2023-01-05,26\n2023-01-06,26.1\n")])
    assert "WARNING: prices moving" not in clean.summary()
    assert store.prices()["QAA"].iloc[-3:].tolist() == [25.8, 26.0, 26.1]        # stored as they are


def test_a_seam_across_years_without_prices_is_not_a_days_move(tmp_path):
    """A 2016-17 file, then a 2023 file of the same ticker 4x higher: that is five years' growth across an
    unchecked seam (the output says so), not a day's 3x move; the warning was wrong there."""
    store = PriceStore(tmp_path / "store")
    import_files(store, [write(tmp_path, "a.csv", "date,GRW\n2016-01-04,10\n2017-12-29,11\n")])
    later = import_files(store, [write(tmp_path, "b.csv", "date,GRW\n2023-01-03,44\n2023-01-04,45\n")])
    assert "WARNING: prices moving" not in later.summary()
    assert "no overlap with stored data (seam unchecked): GRW" in later.summary()
