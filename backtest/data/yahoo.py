"""Yahoo Finance through yfinance: download only what the store lacks, with retries and a per-ticker report.

``yf.download`` never raises for a failed ticker: it returns an all-NaN (or empty) frame and logs the reason
on the ``yfinance`` logger. So each call here captures that logger to learn, per ticker, why nothing came
back, and tells a dead network (DNS, refused connections, timeouts) from a ticker Yahoo does not know.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field

import pandas as pd
import yfinance as yf

from backtest.calendar import CALENDAR_START, sessions_between, sessions_closed_by
from backtest.data.store import PriceStore
from backtest.errors import NetworkError
from backtest.progress import bar as progress_bar
from backtest.tickers import normalize_ticker

SOURCE = "yahoo"
OFFLINE_FIX = ("run with --offline (offline=True in Python) to use only the prices already stored, or import "
               "the offline snapshot with `bt data import ../shared/market-data`")
FIELD_LABELS = {"adj_close": "Adj Close", "close": "Close"}
DNS_MARKERS = ("could not resolve", "dnserror", "name resolution", "name or service not known",
               "nodename nor servname", "getaddrinfo", "curl: (6)")
NETWORK_MARKERS = DNS_MARKERS + (
    "connectionerror", "connection refused", "connection reset", "failed to establish",
    "network is unreachable", "timed out", "timeout", "curl: (7)", "curl: (28)", "curl: (35)",
    "max retries exceeded", "failed to perform", "ssl")
RATE_MARKERS = ("too many requests", "rate limit", "ratelimit", "429")
ANCHOR_GAP = pd.Timedelta(days=10)  # re-download the last stored day to splice when the gap is this short
PROBE_BATCH = 5  # tickers in the first request, before anything has arrived
CALENDAR_FIRST = pd.Timestamp(CALENDAR_START)  # before it the calendar cannot tell: assume sessions


@dataclass
class TickerResult:
    """``status``: ``fetched`` | ``up_to_date`` | ``failed``; ``ranges`` requested; ``rows`` written."""

    status: str
    ranges: tuple = ()
    rows: int = 0
    reason: str = ""


@dataclass
class FetchReport:
    """Per-ticker outcome of one fetch."""

    results: dict[str, TickerResult] = field(default_factory=dict)

    def _with(self, status: str) -> list[str]:
        return sorted(t for t, r in self.results.items() if r.status == status)

    @property
    def fetched(self) -> list[str]:
        return self._with("fetched")

    @property
    def failed(self) -> dict[str, str]:
        return {t: self.results[t].reason for t in self._with("failed")}

    @property
    def up_to_date(self) -> list[str]:
        return self._with("up_to_date")

    @property
    def warnings(self) -> list[str]:
        """One line per ticker that failed, or arrived only in part, with the reason."""
        return [f"yahoo: {t} {'failed' if r.status == 'failed' else 'partly fetched'}: {r.reason}"
                for t, r in sorted(self.results.items()) if r.reason]

    def summary(self) -> str:
        lines = [f"yahoo: {len(self.fetched)} fetched, {len(self.up_to_date)} already stored, "
                 f"{len(self.failed)} failed"]
        lines += [f"  {t}: {why}" for t, why in self.failed.items()]
        return "\n".join(lines)

    __str__ = summary


# -------------------------------------------------------------------------------------------- ranges
def last_complete_session(now: pd.Timestamp | None = None) -> pd.Timestamp:
    """The latest NYSE session whose close has passed (a download never stores an intraday price)."""
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    return sessions_closed_by([now])[0]


def missing_ranges(catalog: pd.DataFrame, tickers: Iterable[str], start, end, *,
                   field: str = "adj_close") -> dict[str, list[tuple[pd.Timestamp, pd.Timestamp]]]:
    """Per ticker, the parts of [start, end] the store has neither data for nor a source's word that there is
    none (``covered_start``..``covered_end`` in the catalog), keeping only parts with an NYSE session. Gaps
    inside the known range are not re-fetched: the store never forward-fills, so they are real."""
    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    cat = catalog.loc[catalog["field"] == field]
    known = cat.groupby("ticker").agg(lo=("start", "min"), hi=("end", "max"), clo=("covered_start", "min"),
                                      chi=("covered_end", "max"))
    out: dict[str, list] = {}
    for t in dict.fromkeys(normalize_ticker(x) for x in tickers):
        if t not in known.index:
            parts = [(start, end)]
        else:
            k = known.loc[t]
            lo, hi = min(k["lo"], k["clo"]), max(k["hi"], k["chi"])
            parts = []
            if start < lo:
                parts.append((start, min(end, lo - pd.Timedelta(days=1))))
            if end > hi:
                parts.append((max(start, hi + pd.Timedelta(days=1)), end))
        out[t] = [(a, b) for a, b in parts if a <= b and (a < CALENDAR_FIRST or len(sessions_between(a, b)))]
    return out


# -------------------------------------------------------------------------------------------- parsing
def parse_download(frame: pd.DataFrame | None, tickers: list[str]) -> dict[str, pd.DataFrame]:
    """``yf.download`` output -> {"adj_close": wide, "close": wide} (dates x tickers, float64, all-NaN rows
    and columns dropped). Handles the (Price, Ticker) MultiIndex of ``group_by="column"``, the (Ticker, Price)
    one of ``group_by="ticker"``, and flat columns for a single ticker."""
    out = {}
    for fld, label in FIELD_LABELS.items():
        wide = pd.DataFrame(index=pd.DatetimeIndex([], name="date"))
        if frame is not None and len(frame) and frame.shape[1]:
            cols = frame.columns
            if isinstance(cols, pd.MultiIndex):
                names = list(cols.names)
                lvl = names.index("Price") if "Price" in names else next(
                    i for i in range(cols.nlevels) if "Close" in set(cols.get_level_values(i)))
                if label in set(cols.get_level_values(lvl)):
                    wide = frame.xs(label, axis=1, level=lvl)
            elif label in cols and len(tickers) == 1:
                wide = frame[[label]].set_axis([tickers[0]], axis=1)
            wide = wide.apply(pd.to_numeric, errors="coerce").astype("float64")
            idx = pd.DatetimeIndex(wide.index)
            if idx.tz is not None:
                idx = idx.tz_convert("America/New_York").tz_localize(None)
            wide.index = idx.normalize().rename("date")
            wide.columns = [normalize_ticker(c) for c in wide.columns]
            wide = wide.dropna(how="all").dropna(axis=1, how="all")
            wide = wide.loc[~wide.index.duplicated(keep="last")].sort_index()
        out[fld] = wide
    return out


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@contextmanager
def _capture_yf_log():
    """Collect the yfinance logger's messages and keep them off the console for the call."""
    logger = logging.getLogger("yfinance")
    handler = _Capture()
    old = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = old


def ticker_errors(messages: list[str], tickers: Iterable[str]) -> dict[str, str]:
    """Per-ticker reasons from yfinance log lines: ``['A', 'B']: reason``, ``$A: reason``,
    ``Failed to get ticker 'A' reason: ...``, ``A: reason``. Network reasons win over vaguer ones."""
    wanted = {normalize_ticker(t) for t in tickers}
    found: dict[str, list[str]] = {}
    for msg in messages:
        for line in msg.strip().splitlines():
            m = re.match(r"^\[(.*?)\]:\s*(.*)$", line)
            if m:
                names = re.findall(r"'([^']+)'", m.group(1))
                pairs = [(n, m.group(2)) for n in names]
            elif m := re.match(r"^Failed to get ticker '([^']+)' reason:\s*(.*)$", line):
                pairs = [(m.group(1), m.group(2))]
            elif m := re.match(r"^\$?([A-Za-z0-9.\-^=]+):\s+(.*)$", line):
                pairs = [(m.group(1), m.group(2))]
            else:
                continue
            for name, why in pairs:
                t = normalize_ticker(name)
                if t in wanted:
                    found.setdefault(t, []).append(why.strip())
    return {t: max(whys, key=lambda w: (is_network(w), len(w))) for t, whys in found.items()}


def is_network(reason: str) -> bool:
    r = reason.lower()
    return any(m in r for m in NETWORK_MARKERS)


def is_dns(reason: str) -> bool:
    r = reason.lower()
    return any(m in r for m in DNS_MARKERS)


def _transient(reason: str) -> bool:
    r = reason.lower()
    return is_network(r) or any(m in r for m in RATE_MARKERS)


def _exception_reason(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, (ConnectionError, TimeoutError)) and not is_network(text):
        text += " (connection error)"
    return text


def short_reason(reason: str, limit: int = 160) -> str:
    """One readable line: unwrap ``DNSError('...')``, drop libcurl's "See https://..." tail, cap length."""
    r = reason.strip()
    m = re.match(r"^\w+\((['\"])(.*)\1\)$", r, flags=re.S)
    if m:
        r = f"{r.split('(', 1)[0]}: {m.group(2)}"
    r = re.sub(r"\s*See https?://\S+.*$", "", r, flags=re.S).replace("Failed to perform, ", "")
    r = " ".join(r.split())
    return r if len(r) <= limit else r[: limit - 3] + "..."


# -------------------------------------------------------------------------------------------- prices
def fetch_prices(store: PriceStore, tickers: Iterable[str], start, end=None, *, session=None,
                 downloader: Callable = yf.download, retries: int = 3, backoff: float = 1.0,
                 progress: bool = True, batch_size: int = 50) -> FetchReport:
    """Download from Yahoo the adjusted and raw closes the store lacks for ``tickers`` in [start, end]
    (``end`` None or later than the last completed NYSE session: up to that session).

    Only missing ranges are requested (``missing_ranges``), one ``downloader`` call per batch of tickers
    sharing a range; when stored data ends just before a range, the request starts on the last stored day so
    the new adjusted closes can be spliced onto the stored base. Failed tickers are retried ``retries`` times
    with exponential backoff (``backoff``, 2x, 4x ... seconds) when the reason is transient (network, rate
    limit). Each batch is written as soon as it arrives, source ``yahoo``. Raises NetworkError when Yahoo
    cannot be reached at all; per-ticker failures are in the returned report."""
    report = FetchReport()
    last = last_complete_session()
    end = last if end is None else min(pd.Timestamp(end).normalize(), last)
    ranges = missing_ranges(store.catalog(), tickers, start, end)
    adj_rows = store.catalog().query("field == 'adj_close'")
    known = adj_rows.groupby("ticker").agg(lo=("start", "min"), hi=("end", "max"))
    jobs: dict[tuple, list[str]] = {}
    for t, parts in ranges.items():
        if not parts:
            report.results[t] = TickerResult("up_to_date")
            continue
        report.results[t] = TickerResult("fetched", ranges=tuple(parts))
        for a, b in parts:
            dl_a, dl_b = a, b
            if t in known.index:
                lo, hi = known.loc[t, "lo"], known.loc[t, "hi"]
                if a > hi and a - hi <= ANCHOR_GAP:
                    dl_a = hi
                if b < lo and lo - b <= ANCHOR_GAP:
                    dl_b = lo
            jobs.setdefault((a, b, dl_a, dl_b), []).append(t)
    todo = sum(len(v) for v in jobs.values())
    bar = progress_bar(todo, unit="ticker", desc="yahoo", disable=not progress or not sys.stderr.isatty())
    got_any = False
    try:
        for (a, b, dl_a, dl_b), names in sorted(jobs.items()):
            for batch in _batches(names, batch_size, probe=0 if got_any else PROBE_BATCH):
                got_any |= _fetch_batch(store, batch, (a, b), (dl_a, dl_b), report, session=session,
                                        downloader=downloader, retries=retries, backoff=backoff,
                                        offline_if_dns=not got_any)
                bar.update(len(batch))
                if not got_any:  # nothing has ever arrived: stop at the first batch that shows no network
                    _raise_if_offline(report)
    finally:
        bar.close()
    return report


def _batches(names: list[str], size: int, probe: int) -> list[list[str]]:
    """Chunks of ``size``; the first only ``probe`` long when given, so a dead network shows up fast."""
    head = names[:probe] if 0 < probe < size else []
    rest = names[len(head):]
    return ([head] if head else []) + [rest[i:i + size] for i in range(0, len(rest), size)]


def _raise_if_offline(report: FetchReport) -> None:
    failed = report.failed
    if failed and all(is_network(w) for w in failed.values()):
        raise NetworkError(f"cannot reach Yahoo Finance ({short_reason(next(iter(failed.values())))}); "
                           f"{OFFLINE_FIX}")


def _fetch_batch(store, batch, cover, window, report, *, session, downloader, retries, backoff,
                 offline_if_dns) -> bool:
    pending = list(batch)
    reasons: dict[str, str] = {}
    arrived: set[str] = set()
    for attempt in range(retries + 1):
        frame, errors = None, {}
        with _capture_yf_log() as messages, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # yfinance's own pandas deprecation noise
            try:
                frame = downloader(pending, start=window[0].strftime("%Y-%m-%d"),
                                   end=(window[1] + pd.Timedelta(days=1)).strftime("%Y-%m-%d"),
                                   auto_adjust=False, actions=False, progress=False, group_by="column",
                                   threads=True, session=session)
            except Exception as exc:  # yfinance and its HTTP stack raise many types
                errors = {t: _exception_reason(exc) for t in pending}
        errors = {**ticker_errors(messages, pending), **errors}
        parsed = parse_download(frame, pending)
        adj = parsed["adj_close"]
        ok = []
        for t in pending:
            col = adj[t].dropna() if t in adj.columns else pd.Series(dtype="float64")
            if col.empty:
                reasons[t] = errors.get(t) or (f"Yahoo returned no prices for {window[0]:%Y-%m-%d}.."
                                               f"{window[1]:%Y-%m-%d}")
            elif (col <= 0).any():
                bad = col.index[(col <= 0).to_numpy()][0]
                reasons[t] = f"Yahoo returned a non-positive price on {bad:%Y-%m-%d}; not stored"
                errors[t] = reasons[t]
            else:
                ok.append(t)
        if ok:
            for fld in ("adj_close", "close"):
                part = parsed[fld].reindex(columns=[c for c in ok if c in parsed[fld].columns])
                if part.shape[1]:
                    store.write_prices(part, SOURCE, fld, covered=cover)
            for t in ok:
                r = report.results[t]
                report.results[t] = TickerResult("fetched", r.ranges, r.rows + int(adj[t].notna().sum()))
            arrived.update(ok)
        pending = [t for t in pending if t not in ok]
        if not pending:
            break
        if offline_if_dns and not arrived and all(is_dns(reasons[t]) for t in pending):
            break  # name resolution failed for everything: offline, retrying will not help
        pending = [t for t in pending if _transient(reasons[t])]
        if not pending or attempt == retries:
            break
        time.sleep(backoff * 2 ** attempt)
    for t in batch:
        if t not in arrived and t in reasons:
            r = report.results[t]
            if r.rows == 0:
                report.results[t] = TickerResult("failed", r.ranges, 0, short_reason(reasons[t]))
            else:  # another range of this ticker arrived: keep it, say what is still missing
                span = f"{window[0]:%Y-%m-%d}..{window[1]:%Y-%m-%d}"
                report.results[t] = TickerResult("fetched", r.ranges, r.rows, f"{span} failed: {reasons[t]}")
    return bool(arrived)


# -------------------------------------------------------------------------------------------- shares
def shares_to_adjusted_units(raw: pd.Series, close: pd.Series, adj_close: pd.Series) -> pd.Series:
    """Raw share counts (indexed by date) -> the store's adjusted-price units: ``raw * close / adj_close``
    on the last session at or before each date that has both prices (so ``cap = shares * adj_close``).
    Dates with no such session are dropped."""
    both = pd.concat({"c": close, "a": adj_close}, axis=1).dropna()
    if both.empty or raw.empty:
        return pd.Series(dtype="float64")
    factor = (both["c"] / both["a"]).sort_index()
    pos = factor.index.searchsorted(raw.index, side="right") - 1
    ok = pos >= 0
    out = raw[ok].astype("float64") * factor.to_numpy()[pos[ok]]
    return out.rename("shares")


def _daily_shares(series) -> pd.Series:
    """``Ticker.get_shares_full`` output (tz-aware timestamps, several per day possible) -> last per day."""
    s = pd.Series(series).dropna()
    s = s[pd.to_numeric(s, errors="coerce") > 0]
    idx = pd.DatetimeIndex(s.index)
    if idx.tz is not None:
        idx = idx.tz_convert("America/New_York").tz_localize(None)
    s.index = idx.normalize()
    return s.groupby(level=0).last().astype("float64")


def fetch_shares(store: PriceStore, tickers: Iterable[str], start=None, end=None, *, session=None,
                 ticker_factory: Callable = yf.Ticker, retries: int = 3, backoff: float = 1.0,
                 progress: bool = True, refresh: bool = False) -> FetchReport:
    """Share-count history from Yahoo (``Ticker.get_shares_full``) cached in the store as source ``yahoo``,
    converted to adjusted-price units with the store's raw and adjusted closes (fetch prices first).
    Tickers that already have Yahoo share counts are skipped unless ``refresh``. Raises NetworkError when
    Yahoo cannot be reached for any ticker. The offline alternative is the snapshot's shares."""
    report = FetchReport()
    names = list(dict.fromkeys(normalize_ticker(t) for t in tickers))
    cached = set(store.shares(names).query("source == @SOURCE")["ticker"])
    todo = [t for t in names if refresh or t not in cached]
    for t in names:
        if t not in todo:
            report.results[t] = TickerResult("up_to_date")
    bar = progress_bar(len(todo), unit="ticker", desc="yahoo shares",
                       disable=not progress or not sys.stderr.isatty())
    try:
        for t in todo:
            report.results[t] = _fetch_one_shares(store, t, start, end, session, ticker_factory, retries,
                                                  backoff)
            bar.update(1)
            if (report.results[t].status == "failed" and is_dns(report.results[t].reason)
                    and not report.fetched):
                break  # offline: do not wait through every ticker
    finally:
        bar.close()
    failed = report.failed
    if todo and not report.fetched and failed and all(is_network(w) for w in failed.values()):
        raise NetworkError(f"cannot reach Yahoo Finance for share counts "
                           f"({short_reason(next(iter(failed.values())))}); "
                           f"{OFFLINE_FIX}")
    return report


def _fetch_one_shares(store, t, start, end, session, ticker_factory, retries, backoff) -> TickerResult:
    reason = ""
    for attempt in range(retries + 1):
        series = None
        with _capture_yf_log() as messages, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                series = ticker_factory(t, session=session).get_shares_full(start=start, end=end)
            except Exception as exc:
                reason = _exception_reason(exc)
        reason = reason or ticker_errors(messages, [t]).get(t, "")
        if series is not None and len(series):
            raw = _daily_shares(series)
            close = store.prices([t], field="close")
            adj = store.prices([t], field="adj_close")
            if t not in close.columns or t not in adj.columns:
                return TickerResult("failed", reason="no raw and adjusted closes in the store to convert "
                                    "share counts to adjusted units; fetch prices from Yahoo first")
            shares = shares_to_adjusted_units(raw, close[t], adj[t])
            if shares.empty:
                return TickerResult("failed", reason="share counts predate every stored close; fetch earlier "
                                                     "prices first")
            long = pd.DataFrame({"date": shares.index, "ticker": t, "shares": shares.to_numpy()})
            store.write_shares(long, SOURCE)
            dropped = len(raw) - len(shares)
            return TickerResult("fetched", rows=len(long),
                                reason=f"{dropped} count(s) before the first stored close dropped" if dropped
                                else "")
        reason = reason or "Yahoo returned no share counts"
        if not _transient(reason) or attempt == retries or is_dns(reason):
            break
        time.sleep(backoff * 2 ** attempt)
    return TickerResult("failed", reason=short_reason(reason))
