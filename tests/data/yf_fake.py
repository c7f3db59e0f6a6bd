"""A stand-in for ``yf.download`` that returns frames built exactly as yfinance 1.7 builds them.

``yfinance.multi._download_impl`` collects one ``Ticker.history`` frame per ticker (columns Open, High, Low,
Close, Adj Close, Volume; index ``Date``, tz-aware in the exchange's zone), puts ``utils.empty_df()`` in place
of a failed ticker, strips the tz (daily data), aligns them with ``multi.reindex_dfs``, concatenates with keys
under names ``['Ticker', 'Price']``, swaps to ``(Price, Ticker)`` and sorts; failures are only logged on the
``yfinance`` logger. This module replays those steps with yfinance's own helpers, so a test frame has the
real column levels, order and dtypes.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from yfinance import utils as yf_utils
from yfinance.multi import reindex_dfs

NY = "America/New_York"


def history_frame(dates, adj, close=None) -> pd.DataFrame:
    """One ticker's ``Ticker.history(auto_adjust=False)`` frame."""
    idx = pd.DatetimeIndex(pd.to_datetime(dates)).tz_localize(NY)
    adj = np.asarray(adj, dtype="float64")
    close = adj * 1.02 if close is None else np.asarray(close, dtype="float64")
    df = pd.DataFrame({"Open": close, "High": close * 1.01, "Low": close * 0.99, "Close": close,
                       "Adj Close": adj, "Volume": np.full(len(idx), 1_000_000, dtype="int64")}, index=idx)
    df.index.name = "Date"
    return df


def download_frame(per_ticker: dict[str, pd.DataFrame | None], *, group_by: str = "column",
                   multi_level_index: bool = True) -> pd.DataFrame:
    """What ``yf.download(list(per_ticker), ...)`` returns; ``None`` marks a failed ticker."""
    dfs = {t.upper(): (yf_utils.empty_df() if df is None else df.copy()) for t, df in per_ticker.items()}
    for df in dfs.values():  # ignore_tz=True for daily data
        if df.shape[0] > 0:
            df.index = df.index.tz_localize(None)
    dfs = reindex_dfs(dfs, True)
    data = pd.concat(dfs.values(), axis=1, sort=True, keys=dfs.keys(), names=["Ticker", "Price"])
    if group_by == "column":
        data.columns = data.columns.swaplevel(0, 1)
        data = data.sort_index(level=0, axis=1)
    if not multi_level_index and len(dfs) == 1:
        data = data.droplevel(0 if group_by == "ticker" else 1, axis=1).rename_axis(None, axis=1)
    return data


def log_failures(errors: dict[str, str]) -> None:
    """Log failures the way ``_download_impl`` does."""
    logger = logging.getLogger("yfinance")
    if not errors:
        return
    logger.error("\n%.f Failed download%s:" % (len(errors), "s" if len(errors) > 1 else ""))
    grouped: dict[str, list[str]] = {}
    for ticker, err in errors.items():
        grouped.setdefault(err, []).append(ticker)
    for err, syms in grouped.items():
        logger.error(f"{syms}: " + err)


class FakeDownloader:
    """Callable like ``yf.download``. ``data``: ticker -> full history frame (sliced to the requested
    window); ``fail``: ticker -> reason (logged, all-NaN column); ``script``: per call, an exception to raise
    or a dict of failures overriding ``fail``. Records every call's tickers and window."""

    def __init__(self, data=None, fail=None, script=()):
        self.data = data or {}
        self.fail = fail or {}
        self.script = list(script)
        self.calls: list[dict] = []

    def __call__(self, tickers, start=None, end=None, **kwargs):
        self.calls.append({"tickers": list(tickers), "start": start, "end": end, **kwargs})
        step = self.script.pop(0) if self.script else None
        if isinstance(step, BaseException):
            raise step
        fail = self.fail if step is None else step
        lo, hi = pd.Timestamp(start), pd.Timestamp(end)  # end exclusive, as in yfinance
        out, errors = {}, {}
        for t in tickers:
            if t in fail:
                out[t], errors[t] = None, fail[t]
                continue
            full = self.data.get(t)
            part = None if full is None else full.loc[(full.index.tz_localize(None) >= lo)
                                                      & (full.index.tz_localize(None) < hi)]
            if part is None or part.empty:
                out[t] = None
                errors[t] = f"possibly delisted; no price data found  (1d {start} -> {end})"
            else:
                out[t] = part
        log_failures(errors)
        return download_frame(out)
