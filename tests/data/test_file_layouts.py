"""Real-world file layouts, built from the snapshot's own prices, imported and read back exactly: Yahoo's CSV
download, a broker-style long export, Parquet files with time-zone aware indexes, day-first dates. The
stored series must equal the file's, on the file's trading dates (never a day early)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtest.cli import main
from backtest.data.files import import_files, import_paths
from backtest.data.store import PriceStore
from backtest.errors import DataError

PERIOD = slice("2023-01-01", "2024-12-31")


@pytest.fixture(scope="module")
def spy_low(market_data_dir) -> pd.DataFrame:
    """SPY (ETF file) and LOW, AAPL (S&P 500 file) adjusted closes over 2023-2024, from the raw snapshot."""
    etf = pd.read_parquet(market_data_dir / "prices_etf.parquet")
    stocks = pd.read_parquet(market_data_dir / "prices_sp500.parquet")
    frame = pd.concat([etf[["SPY"]], stocks[["LOW", "AAPL"]]], axis=1).loc[PERIOD].dropna()
    frame.index = pd.DatetimeIndex(frame.index, name="date")
    return frame


def _yahoo_csv(series: pd.Series) -> str:
    """Yahoo's historical-data download: Date,Open,High,Low,Close,Adj Close,Volume."""
    close = series * 1.01  # raw close differs from the adjusted one
    rows = [f"{d:%Y-%m-%d},{c * 0.99:.6f},{c * 1.02:.6f},{c * 0.97:.6f},{c:.6f},{a:.6f},{1000 + i}"
            for i, (d, c, a) in enumerate(zip(series.index, close, series))]
    return "Date,Open,High,Low,Close,Adj Close,Volume\n" + "\n".join(rows) + "\n"


def test_yahoo_download_is_one_ticker_and_never_touches_LOW(tmp_path, spy_low):
    store = PriceStore(tmp_path / "store")
    low = spy_low[["LOW"]]
    store.write_prices(low, "snapshot:test")
    before = store.prices(["LOW"])
    path = tmp_path / "AAPL.csv"
    path.write_text(_yahoo_csv(spy_low["AAPL"]))
    lines = import_paths(store, [path])
    assert store.tickers() == ["AAPL", "LOW"]  # no OPEN, HIGH, CLOSE, ADJCLOSE, VOLUME
    pd.testing.assert_frame_equal(store.prices(["LOW"]), before)
    got = store.prices(["AAPL"])["AAPL"]
    np.testing.assert_allclose(got.to_numpy(), spy_low["AAPL"].round(6).to_numpy(), rtol=0, atol=1e-9)
    raw = store.prices(["AAPL"], field="close")["AAPL"]
    np.testing.assert_allclose(raw.to_numpy(), (spy_low["AAPL"] * 1.01).round(6).to_numpy(), atol=1e-9)
    assert "'Adj Close' as AAPL, 'Close' as its raw close" in lines[0]


def test_broker_style_long_export(tmp_path, spy_low):
    """Symbol, Date (day-first, settled by days above 12), Close Price, Adj. Close: long layout."""
    long = spy_low[["SPY", "AAPL"]].stack().rename("adj").reset_index()
    long.columns = ["date", "symbol", "adj"]
    text = "Symbol,Date,Close,Adj. Close\n" + "\n".join(
        f"{s},{d:%d/%m/%Y},{a * 1.01:.4f},{a:.4f}" for d, s, a in long.sort_values(["symbol", "date"])
        .itertuples(index=False)) + "\n"
    path = tmp_path / "export.csv"
    path.write_text(text)
    store = PriceStore(tmp_path / "store")
    import_files(store, [path])
    got = store.prices(["SPY", "AAPL"])
    pd.testing.assert_index_equal(got.index, spy_low.index)
    np.testing.assert_allclose(got.to_numpy(), spy_low[["SPY", "AAPL"]].round(4).to_numpy(), atol=1e-9)


@pytest.mark.parametrize("zone,hour", [("Europe/Berlin", 0), ("UTC", 0), ("Asia/Tokyo", 0),
                                       ("America/New_York", 16), ("UTC", 21)])
def test_parquet_with_a_time_zone_keeps_the_trading_date(tmp_path, spy_low, zone, hour):
    """Midnight in any zone is a date label; a New York close time stamp (16:00 NY = 21:00 UTC) is converted.
    Either way SPY lands on its own dates: the copy correlates 1.0 with SPY (it was 0.11 a day early)."""
    spy = spy_low[["SPY"]].rename(columns={"SPY": "COPY"})
    stamps = spy.index + pd.Timedelta(hours=hour)
    frame = spy.set_axis(pd.DatetimeIndex(stamps.tz_localize(zone), name="date"))
    frame.to_parquet(tmp_path / "copy.parquet")
    store = PriceStore(tmp_path / "store")
    store.write_prices(spy_low[["SPY"]], "snapshot:test")
    import_files(store, [tmp_path / "copy.parquet"])
    both = store.prices(["SPY", "COPY"])
    pd.testing.assert_index_equal(both.index, spy_low.index)
    np.testing.assert_array_equal(both["COPY"].to_numpy(), both["SPY"].to_numpy())
    assert both.pct_change().corr().loc["SPY", "COPY"] == pytest.approx(1.0)


@pytest.mark.parametrize("zone", ["Europe/Berlin", "Asia/Tokyo"])
def test_midnight_east_of_new_york_converted_to_utc_is_refused_not_a_day_early(tmp_path, spy_low, zone):
    """Midnight in Berlin or Tokyo converted to UTC (2022-01-02 23:00 UTC) is 18:00 or 10:00 in New York the
    day before: read there, every price moved a day early (Mondays onto Sundays; a buy-and-hold of it lost
    0.85% over a year). The Sundays give it away: refused, naming the stamps, and nothing is written."""
    spy = spy_low[["SPY"]].rename(columns={"SPY": "COPY"})
    frame = spy.set_axis(pd.DatetimeIndex(spy.index.tz_localize(zone).tz_convert("UTC"), name="date"))
    frame.to_parquet(tmp_path / "copy.parquet")
    store = PriceStore(tmp_path / "store")
    with pytest.raises(DataError, match=r"time stamp\(s\) fall on a Saturday or Sunday in New York"):
        import_files(store, [tmp_path / "copy.parquet"])
    assert "COPY" not in store.prices().columns


def test_csv_with_utc_midnight_stamps_is_not_a_day_early(tmp_path, spy_low):
    rows = "\n".join(f"{d:%Y-%m-%d}T00:00:00Z,{v}" for d, v in spy_low["SPY"].items())
    path = tmp_path / "utc.csv"
    path.write_text("date,COPY\n" + rows + "\n")
    store = PriceStore(tmp_path / "store")
    import_files(store, [path])
    got = store.prices(["COPY"])["COPY"]
    pd.testing.assert_index_equal(got.index, spy_low.index)
    assert got.index[0].day_name() != "Sunday" and (got.index.day_of_week < 5).all()


def test_csv_mixing_utc_offsets_converts_each_to_new_york(tmp_path):
    text = "date,X\n2024-01-02T16:00:00-05:00,1\n2024-01-03T21:00:00+00:00,2\n2024-01-04T22:00:00+01:00,3\n"
    path = tmp_path / "mixed.csv"
    path.write_text(text)
    store = PriceStore(tmp_path / "store")
    import_files(store, [path])
    assert [f"{d:%Y-%m-%d}" for d in store.prices(["X"]).index] == ["2024-01-02", "2024-01-03", "2024-01-04"]


def test_day_first_dates_with_date_format_and_integer_dates(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("date,X\n02/01/2024,1\n08/01/2024,2\n")
    store = PriceStore(tmp_path / "store")
    with pytest.raises(DataError, match="the dates are ambiguous"):
        import_files(store, [path])
    assert not store.exists()
    import_files(store, [path], date_format="%d/%m/%Y")
    assert [f"{d:%Y-%m-%d}" for d in store.prices(["X"]).index] == ["2024-01-02", "2024-01-08"]
    pd.DataFrame({"date": [20240102, 20240103], "Y": [1.0, 2.0]}).to_parquet(tmp_path / "i.parquet")
    import_files(store, [tmp_path / "i.parquet"])
    assert [f"{d:%Y-%m-%d}" for d in store.prices(["Y"]).index] == ["2024-01-02", "2024-01-03"]


def test_date_ticker_multiindex_parquet_is_long(tmp_path):
    idx = pd.MultiIndex.from_tuples([(pd.Timestamp("2024-01-02"), "AAA"), (pd.Timestamp("2024-01-03"), "AAA"),
                                     (pd.Timestamp("2024-01-02"), "BBB")], names=["date", "ticker"])
    pd.DataFrame({"adj_close": [1.0, 2.0, 3.0]}, index=idx).to_parquet(tmp_path / "m.parquet")
    store = PriceStore(tmp_path / "store")
    import_files(store, [tmp_path / "m.parquet"])
    got = store.prices(["AAA", "BBB"])
    assert got["AAA"].tolist() == [1.0, 2.0] and got["BBB"].tolist()[0] == 3.0


def test_all_empty_column_is_reported_not_silently_dropped(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("date,X,EMPTY\n2024-01-02,1,\n2024-01-03,2,\n")
    store = PriceStore(tmp_path / "store")
    lines = import_paths(store, [path])
    assert "column(s) without any price, not imported: EMPTY" in lines[0]
    assert store.tickers() == ["X"]


def test_snapshot_plus_bad_file_writes_nothing(tmp_path, market_data_dir, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("date,Apple Inc.\n2024-01-02,1\n")
    store = tmp_path / "store"
    code = main(["--data-dir", str(store), "data", "import", str(market_data_dir), str(bad)])
    err = capsys.readouterr().err
    assert code == 2 and "'Apple Inc.' contains spaces" in err and "nothing was written" in err
    assert not store.exists()


def test_frames_written_from_python_follow_the_same_date_rule(tmp_path):
    """`PriceStore.write_prices` of a UTC-midnight frame (a notebook's tz-aware data) keeps its dates."""
    idx = pd.DatetimeIndex(["2024-01-02", "2024-01-03"], name="date").tz_localize("UTC")
    store = PriceStore(tmp_path / "store")
    store.write_prices(pd.DataFrame({"X": [1.0, 2.0]}, index=idx), "notebook")
    assert [f"{d:%Y-%m-%d}" for d in store.prices(["X"]).index] == ["2024-01-02", "2024-01-03"]


def test_yfinance_download_csv_with_its_three_header_rows(tmp_path, spy_low):
    """`yf.download([...], auto_adjust=False).to_csv()` writes header rows Price / Ticker / Date: imported as
    each ticker's adjusted close (Adj Close) and raw close (Close), exactly; Volume and the other fields are
    ignored (it was refused: "names 'Adj Close' more than once"). Without Adj Close (yfinance's default
    auto_adjust=True, whose Close is already adjusted) it is refused, saying why and how to download it."""
    frame = spy_low[["SPY", "AAPL"]]
    cols = pd.MultiIndex.from_tuples([(f, t) for f in ("Adj Close", "Close", "High", "Volume")
                                      for t in ("AAPL", "SPY")], names=["Price", "Ticker"])
    download = pd.DataFrame(index=frame.index.rename("Date"), columns=cols, dtype=float)
    for t in ("AAPL", "SPY"):
        download[("Adj Close", t)] = frame[t]
        download[("Close", t)] = frame[t] * 1.01
        download[("High", t)] = frame[t] * 1.02
        download[("Volume", t)] = 1e6
    path = tmp_path / "yf.csv"
    download.to_csv(path)
    assert path.read_text().splitlines()[:3] == ["Price,Adj Close,Adj Close,Close,Close,High,High,Volume,Volume",
                                                 "Ticker,AAPL,SPY,AAPL,SPY,AAPL,SPY,AAPL,SPY", "Date,,,,,,,,"]
    store = PriceStore(tmp_path / "store")
    import_paths(store, [path])
    assert store.tickers() == ["AAPL", "SPY"]
    pd.testing.assert_frame_equal(store.prices(["AAPL", "SPY"]), frame[["AAPL", "SPY"]], check_freq=False,
                                  check_names=False)
    pd.testing.assert_frame_equal(store.prices(["AAPL", "SPY"], field="close"), frame[["AAPL", "SPY"]] * 1.01,
                                  check_freq=False, check_names=False)
    adjusted = tmp_path / "yf_auto.csv"
    download.drop(columns="Adj Close", level=0).to_csv(adjusted)
    with pytest.raises(DataError, match=r"a yfinance download \(header rows Price, Ticker, Date\) without an "
                                        r"'Adj Close' column: with yfinance's default auto_adjust=True"):
        import_paths(PriceStore(tmp_path / "other"), [adjusted])
    grouped = tmp_path / "yf_by_ticker.csv"          # yf.download(..., group_by="ticker"): the ticker row first
    download.swaplevel(0, 1, axis=1).sort_index(axis=1).to_csv(grouped)
    assert grouped.read_text().splitlines()[0].startswith("Ticker,AAPL,AAPL,")
    by_ticker = PriceStore(tmp_path / "by-ticker")
    import_paths(by_ticker, [grouped])            # was refused: "the header names 'AAPL' more than once"
    pd.testing.assert_frame_equal(by_ticker.prices(["AAPL", "SPY"]), store.prices(["AAPL", "SPY"]))
    pd.testing.assert_frame_equal(by_ticker.prices(["AAPL", "SPY"], field="close"),
                                  store.prices(["AAPL", "SPY"], field="close"))


def test_a_seven_day_market_stamped_late_in_utc_keeps_its_dates(tmp_path):
    """A crypto series stamped 23:59:59 UTC every day (19:59 in New York, Saturdays and Sundays included)
    names its own dates: imported as written. Only weekday prices landing on Sunday to Thursday there (a zone
    east of New York's midnights) are refused."""
    days = pd.date_range("2022-01-01", periods=21, freq="D")
    rows = "\n".join(f"{d:%Y-%m-%d}T23:59:59Z,{100 + i}" for i, d in enumerate(days))
    path = tmp_path / "coin.csv"
    path.write_text("date,COINX\n" + rows + "\n")
    store = PriceStore(tmp_path / "store")
    import_files(store, [path])
    got = store.prices(["COINX"])["COINX"]
    assert got.index.equals(pd.DatetimeIndex(days)) and got.tolist() == [100.0 + i for i in range(21)]
