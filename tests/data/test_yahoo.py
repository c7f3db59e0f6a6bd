"""The Yahoo boundary: frames shaped exactly like yfinance 1.7's ``yf.download`` output (see yf_fake), no
network. Incremental ranges, partial failures, retries, offline detection, splicing, share counts."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from backtest.data.store import PriceStore
from backtest.data.yahoo import (
    FetchReport,
    TickerResult,
    fetch_prices,
    fetch_shares,
    last_complete_session,
    missing_ranges,
    parse_download,
    short_reason,
    ticker_errors,
)
from backtest.errors import NetworkError

from .yf_fake import FakeDownloader, download_frame, history_frame

DAYS = pd.bdate_range("2024-01-02", "2024-03-28")  # (holidays do not matter to the fake)
DNS = ("DNSError('Failed to perform, curl: (6) Could not resolve host: query2.finance.yahoo.com. "
       "See https://curl.se/libcurl/c/libcurl-errors.html first for more details.')")


def hist(ticker_base: float, days=DAYS) -> pd.DataFrame:
    return history_frame(days, ticker_base * (1 + 0.001 * np.arange(len(days))))


@pytest.fixture
def fake() -> FakeDownloader:
    return FakeDownloader({"AAPL": hist(100.0), "MSFT": hist(300.0), "SPY": hist(400.0)})


def fetch(store, tickers, start, end, downloader, **kw):
    return fetch_prices(store, tickers, start, end, downloader=downloader, backoff=0.0, progress=False, **kw)


# ------------------------------------------------------------------------------------------ parsing
def test_parse_many_one_and_flat():
    frame = download_frame({"AAPL": hist(1.0, DAYS[:3]), "ZZZ": None})
    got = parse_download(frame, ["AAPL", "ZZZ"])
    assert list(got["adj_close"].columns) == ["AAPL"]  # the failed ticker's all-NaN column is dropped
    assert got["adj_close"].index.name == "date" and got["adj_close"].index.tz is None
    assert got["close"]["AAPL"].iloc[0] == pytest.approx(1.02)
    one = parse_download(download_frame({"SPY": hist(2.0, DAYS[:2])}), ["SPY"])
    assert one["adj_close"]["SPY"].tolist() == pytest.approx([2.0, 2.002])
    flat = download_frame({"SPY": hist(2.0, DAYS[:2])}, multi_level_index=False)
    assert parse_download(flat, ["SPY"])["adj_close"]["SPY"].tolist() == pytest.approx([2.0, 2.002])
    by_ticker = download_frame({"A": hist(1.0, DAYS[:2]), "B": hist(2.0, DAYS[:2])}, group_by="ticker")
    assert list(parse_download(by_ticker, ["A", "B"])["adj_close"].columns) == ["A", "B"]
    empty = download_frame({"A": None, "B": None})
    assert parse_download(empty, ["A", "B"])["adj_close"].empty
    assert parse_download(None, ["A"])["close"].empty


def test_ticker_errors_from_yfinance_log_lines():
    msgs = ["\n2 Failed downloads:", f"['MSFT', 'AAPL']: {DNS}", "$ZZZ: possibly delisted; no timezone found",
            "Failed to get ticker 'ZZZ' reason: Failed to perform, curl: (6) Could not resolve host: x",
            "['QQQ']: YFRateLimitError('Too Many Requests. Rate limited. Try after a while.')"]
    got = ticker_errors(msgs, ["AAPL", "MSFT", "ZZZ", "QQQ", "SPY"])
    assert set(got) == {"AAPL", "MSFT", "ZZZ", "QQQ"}
    assert "Could not resolve host" in got["ZZZ"]  # the network reason wins over "possibly delisted"
    want = "DNSError: curl: (6) Could not resolve host: query2.finance.yahoo.com."
    assert short_reason(got["AAPL"]) == want


# ------------------------------------------------------------------------------------------ fetching
def test_many_tickers_both_fields_stored(tmp_path, fake):
    store = PriceStore(tmp_path)
    report = fetch(store, ["aapl", "MSFT"], "2024-01-02", "2024-01-31", fake)
    assert report.fetched == ["AAPL", "MSFT"] and not report.failed
    (call,) = fake.calls
    assert sorted(call["tickers"]) == ["AAPL", "MSFT"]
    assert (call["start"], call["end"]) == ("2024-01-02", "2024-02-01")  # yfinance's end is exclusive
    assert call["auto_adjust"] is False and call["progress"] is False and call["group_by"] == "column"
    adj, close = store.prices(), store.prices(field="close")
    assert adj.index[-1] == pd.Timestamp("2024-01-31") and adj.loc["2024-01-02", "MSFT"] == 300.0
    assert close.loc["2024-01-02", "AAPL"] == pytest.approx(102.0)
    cat = store.catalog().query("field == 'adj_close'").set_index("ticker")
    assert cat.loc["AAPL", "source"] == "yahoo"
    assert cat.loc["AAPL", "covered_start"] == pd.Timestamp("2024-01-02")
    assert report.results["AAPL"].rows == len(DAYS[DAYS <= "2024-01-31"])


def test_partial_failure_is_reported_per_ticker(tmp_path, fake):
    store = PriceStore(tmp_path)
    report = fetch(store, ["AAPL", "NOPE"], "2024-01-02", "2024-01-31", fake)
    assert report.fetched == ["AAPL"]
    assert report.failed["NOPE"].startswith("possibly delisted; no price data found")
    assert len(fake.calls) == 1  # an unknown ticker is not retried
    assert store.tickers() == ["AAPL"]
    assert "NOPE: possibly delisted" in str(report)
    assert any("NOPE failed" in w for w in report.warnings)


def test_one_ticker(tmp_path, fake):
    store = PriceStore(tmp_path)
    report = fetch(store, ["SPY"], "2024-02-01", "2024-02-29", fake)
    assert report.fetched == ["SPY"] and store.prices()["SPY"].index[0] == pd.Timestamp("2024-02-01")


def test_incremental_fetch_requests_only_the_missing_range(tmp_path, fake):
    store = PriceStore(tmp_path)
    fetch(store, ["AAPL"], "2024-01-02", "2024-01-31", fake)
    fake.calls.clear()
    report = fetch(store, ["AAPL", "MSFT"], "2024-01-02", "2024-02-29", fake)
    calls = sorted((c["tickers"][0], c["start"], c["end"]) for c in fake.calls)
    # AAPL: from its last stored day (one common day to splice on) to the new end; MSFT: everything
    assert calls == [("AAPL", "2024-01-31", "2024-03-01"), ("MSFT", "2024-01-02", "2024-03-01")]
    assert report.results["AAPL"].ranges == ((pd.Timestamp("2024-02-01"), pd.Timestamp("2024-02-29")),)
    assert store.prices(["AAPL"]).index[-1] == pd.Timestamp("2024-02-29")
    fake.calls.clear()
    again = fetch(store, ["AAPL", "MSFT"], "2024-01-02", "2024-02-29", fake)
    assert fake.calls == [] and again.up_to_date == ["AAPL", "MSFT"]


def test_late_listing_is_not_asked_again(tmp_path):
    late = FakeDownloader({"NEWCO": hist(10.0, DAYS[DAYS >= "2024-02-01"])})
    store = PriceStore(tmp_path)
    fetch(store, ["NEWCO"], "2024-01-02", "2024-02-29", late)
    late.calls.clear()
    report = fetch(store, ["NEWCO"], "2024-01-02", "2024-02-29", late)
    assert late.calls == [] and report.up_to_date == ["NEWCO"]


def test_weekend_only_gap_is_not_fetched():
    cat = pd.DataFrame({"ticker": ["A"], "field": ["adj_close"], "source": ["yahoo"],
                        "start": [pd.Timestamp("2024-01-02")], "end": [pd.Timestamp("2024-01-05")],
                        "rows": [4], "covered_start": [pd.Timestamp("2024-01-02")],
                        "covered_end": [pd.Timestamp("2024-01-05")],
                        "written_at": [pd.Timestamp.now(tz="UTC")]})
    assert missing_ranges(cat, ["A"], "2024-01-02", "2024-01-07") == {"A": []}  # Sat+Sun
    assert missing_ranges(cat, ["A"], "2024-01-02", "2024-01-08") == {
        "A": [(pd.Timestamp("2024-01-06"), pd.Timestamp("2024-01-08"))]}
    assert missing_ranges(cat, ["B"], "2024-01-02", "2024-01-08") == {
        "B": [(pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-08"))]}


def test_new_download_is_spliced_onto_a_stored_base(tmp_path):
    """Yahoo's adjusted closes today sit on another base than the snapshot's: the appended part is scaled at
    the common day, so the stored series has Yahoo's returns and no jump."""
    store = PriceStore(tmp_path)
    jan = DAYS[DAYS <= "2024-01-31"]
    store.write_prices(pd.DataFrame({"AAPL": np.linspace(50.0, 60.0, len(jan))}, index=jan), "snapshot:x")
    yahoo = FakeDownloader({"AAPL": hist(100.0)})
    fetch(store, ["AAPL"], "2024-01-02", "2024-02-29", yahoo)
    got = store.prices(["AAPL"])["AAPL"]
    y = hist(100.0)["Adj Close"]
    y.index = y.index.tz_localize(None)
    assert got["2024-02-01"] / got["2024-01-31"] == pytest.approx(y["2024-02-01"] / y["2024-01-31"])
    assert got["2024-01-31"] == pytest.approx(60.0)  # stored history unchanged


def test_offline_dns_failure_raises_network_error_naming_the_fix(tmp_path):
    offline = FakeDownloader(fail={"AAPL": DNS, "MSFT": DNS})
    store = PriceStore(tmp_path)
    with pytest.raises(NetworkError) as err:
        fetch(store, ["AAPL", "MSFT"], "2024-01-02", "2024-01-31", offline, retries=3)
    text = str(err.value)
    assert text.startswith("cannot reach Yahoo Finance (DNSError: curl: (6) Could not resolve host")
    assert "--offline" in text and "`bt data import ../shared/market-data`" in text
    assert len(offline.calls) == 1  # name resolution failing is not retried
    assert not store.exists()


def test_offline_stops_after_the_first_batch(tmp_path):
    names = [f"T{i}" for i in range(12)]
    offline = FakeDownloader(fail={t: DNS for t in names})
    with pytest.raises(NetworkError):
        fetch(PriceStore(tmp_path), names, "2024-01-02", "2024-01-31", offline, batch_size=10)
    assert [len(c["tickers"]) for c in offline.calls] == [5]  # a small probe batch, then stop


def test_network_failure_after_some_data_is_a_per_ticker_failure(tmp_path, fake):
    fake.script = [None, {"MSFT": DNS}, {"MSFT": DNS}]
    report = fetch(PriceStore(tmp_path), ["AAPL", "MSFT"], "2024-01-02", "2024-01-31", fake, batch_size=1,
                   retries=1)
    assert report.fetched == ["AAPL"] and "Could not resolve host" in report.failed["MSFT"]


def test_connection_errors_are_retried_then_reported_offline(tmp_path):
    refused = FakeDownloader(script=[ConnectionError("Connection refused")] * 4)
    with pytest.raises(NetworkError, match=r"ConnectionError: Connection refused.*--offline"):
        fetch(PriceStore(tmp_path), ["AAPL"], "2024-01-02", "2024-01-31", refused, retries=3)
    assert len(refused.calls) == 4


def test_transient_failure_then_success(tmp_path, fake):
    fake.script = [{"MSFT": "TimeoutError('Read timed out. (read timeout=10)')"}, None]
    store = PriceStore(tmp_path)
    report = fetch(store, ["AAPL", "MSFT"], "2024-01-02", "2024-01-31", fake)
    assert report.fetched == ["AAPL", "MSFT"]
    assert [sorted(c["tickers"]) for c in fake.calls] == [["AAPL", "MSFT"], ["MSFT"]]


def test_rate_limit_retried_then_given_up_per_ticker(tmp_path, fake):
    limited = "YFRateLimitError('Too Many Requests. Rate limited. Try after a while.')"
    fake.script = [{"MSFT": limited}] * 3
    report = fetch(PriceStore(tmp_path), ["AAPL", "MSFT"], "2024-01-02", "2024-01-31", fake, retries=2)
    assert report.fetched == ["AAPL"] and "Too Many Requests" in report.failed["MSFT"]
    assert len(fake.calls) == 3


def test_non_positive_price_from_yahoo_is_not_stored(tmp_path):
    bad = hist(10.0, DAYS[:5])
    bad.iloc[2, bad.columns.get_loc("Adj Close")] = 0.0
    report = fetch(PriceStore(tmp_path), ["BAD"], "2024-01-02", "2024-01-08", FakeDownloader({"BAD": bad}))
    assert report.failed == {"BAD": "Yahoo returned a non-positive price on 2024-01-04; not stored"}


def test_never_stores_today_before_the_close():
    assert last_complete_session(pd.Timestamp("2024-07-03 16:59", tz="UTC")) == pd.Timestamp("2024-07-02")
    # 2024-07-03 was an early close (13:00 ET = 17:00 UTC)
    assert last_complete_session(pd.Timestamp("2024-07-03 17:00", tz="UTC")) == pd.Timestamp("2024-07-03")
    assert last_complete_session(pd.Timestamp("2024-07-06 12:00", tz="UTC")) == pd.Timestamp("2024-07-05")


def test_report_shapes():
    r = FetchReport({"A": TickerResult("fetched", rows=3), "B": TickerResult("up_to_date"),
                     "C": TickerResult("failed", reason="boom")})
    assert (r.fetched, r.up_to_date, r.failed) == (["A"], ["B"], {"C": "boom"})
    assert str(r).splitlines() == ["yahoo: 1 fetched, 1 already stored, 1 failed", "  C: boom"]


# ------------------------------------------------------------------------------------------ shares
class FakeTicker:
    calls: list[str] = []

    def __init__(self, ticker, session=None, series=None, error=None):
        self.ticker, self.series, self.error = ticker, series, error

    def get_shares_full(self, start=None, end=None):
        FakeTicker.calls.append(self.ticker)
        if self.error:
            raise self.error
        return self.series


def shares_series(values: dict[str, float]) -> pd.Series:
    """Like ``get_shares_full``: tz-aware timestamps in the exchange zone, possibly several per day."""
    idx = pd.DatetimeIndex(pd.to_datetime(list(values))).tz_localize("America/New_York")
    return pd.Series(list(values.values()), index=idx)


def test_fetch_shares_converts_to_adjusted_units_and_caches(tmp_path, fake):
    store = PriceStore(tmp_path)
    fetch(store, ["AAPL"], "2024-01-02", "2024-01-31", fake)  # close = 1.02 x adjusted close
    series = shares_series({"2024-01-10 09:00": 1000.0, "2024-01-10 18:00": 1100.0,
                            "2024-01-13 10:00": 1200.0})
    FakeTicker.calls = []

    def factory(t, session=None):
        return FakeTicker(t, session, series=series)

    report = fetch_shares(store, ["AAPL"], ticker_factory=factory, backoff=0.0, progress=False)
    assert report.fetched == ["AAPL"]
    sh = store.shares(["AAPL"])
    assert sh["date"].tolist() == [pd.Timestamp("2024-01-10"), pd.Timestamp("2024-01-13")]  # last per day
    assert sh["shares"].tolist() == pytest.approx([1100.0 * 1.02, 1200.0 * 1.02])
    adj = store.prices(["AAPL"])["AAPL"]
    close = store.prices(["AAPL"], field="close")["AAPL"]
    assert sh["shares"].iloc[0] * adj["2024-01-10"] == pytest.approx(1100.0 * close["2024-01-10"])
    again = fetch_shares(store, ["AAPL"], ticker_factory=factory, backoff=0.0, progress=False)
    assert again.up_to_date == ["AAPL"] and FakeTicker.calls == ["AAPL"]


def test_fetch_shares_needs_raw_closes(tmp_path):
    store = PriceStore(tmp_path)
    store.write_prices(pd.DataFrame({"X": [1.0]}, index=DAYS[:1]), "snapshot:x")

    def factory(t, session=None):
        return FakeTicker(t, series=shares_series({"2024-01-02 12:00": 5.0}))

    report = fetch_shares(store, ["X"], ticker_factory=factory, backoff=0.0, progress=False)
    assert "no raw and adjusted closes in the store" in report.failed["X"]


def test_fetch_shares_offline(tmp_path):
    err = ConnectionError("Failed to perform, curl: (6) Could not resolve host: query2.finance.yahoo.com")

    def factory(t, session=None):
        return FakeTicker(t, error=err)

    FakeTicker.calls = []
    with pytest.raises(NetworkError, match=r"share counts .*Could not resolve host.*--offline"):
        fetch_shares(PriceStore(tmp_path), ["A", "B", "C"], ticker_factory=factory, backoff=0.0,
                     progress=False)
    assert FakeTicker.calls == ["A"]  # stops at the first DNS failure


def test_yfinance_log_is_captured_not_printed(tmp_path, capsys, fake):
    root = logging.getLogger()
    before = list(root.handlers)
    fetch(PriceStore(tmp_path), ["NOPE"], "2024-01-02", "2024-01-31", fake)
    out = capsys.readouterr()
    assert "possibly delisted" not in out.err + out.out
    assert logging.getLogger("yfinance").propagate and root.handlers == before


def test_progress_bars_leave_no_thread_behind(tmp_path):
    """The Yahoo bars (shown on a terminal) start no tqdm monitor thread, which would outlive the download
    and keep a later run in the same process from forking its evidence worker. Run in a fresh process
    (tqdm's monitor is one per process); the control shows a plain tqdm bar does start one there."""
    import subprocess
    import sys
    from pathlib import Path

    code = f"""
import io, sys, threading
import numpy as np, pandas as pd
from backtest.data.store import PriceStore
from backtest.data.yahoo import fetch_prices, fetch_shares
from tests.data.yf_fake import FakeDownloader, history_frame
from tests.data.test_yahoo import FakeTicker, shares_series

class Terminal(io.StringIO):
    def isatty(self):
        return True

sys.stderr = Terminal()
days = pd.bdate_range("2024-01-02", "2024-01-31")
fake = FakeDownloader({{"AAPL": history_frame(days, 100.0 * (1 + 0.001 * np.arange(len(days))))}})
store = PriceStore({str(tmp_path)!r})
fetch_prices(store, ["AAPL"], "2024-01-02", "2024-01-31", downloader=fake, backoff=0.0, progress=True)
series = shares_series({{"2024-01-10 09:00": 1000.0}})
fetch_shares(store, ["AAPL"], ticker_factory=lambda t, session=None: FakeTicker(t, session, series=series),
             backoff=0.0, progress=True)
shown = sys.stderr.getvalue()
after = [t.name for t in threading.enumerate()]
from tqdm import tqdm
with tqdm(total=1, file=io.StringIO()) as plain:
    plain.update(1)
control = [type(t).__name__ for t in threading.enumerate()]
print(repr(("yahoo" in shown and "yahoo shares" in shown, after, control)))
"""
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    shown, after, control = eval(out.stdout.strip().splitlines()[-1])
    assert shown                                # the bars were drawn
    assert after == ["MainThread"]              # and left no thread
    assert "TMonitor" in control                # a plain tqdm bar would have
