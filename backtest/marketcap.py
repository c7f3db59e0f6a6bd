"""Market caps from shares outstanding held constant between known dates (pure).

Shares are in the store's adjusted-price units (``PriceStore.shares()``), so on any date
``cap = shares * adj_close``. Between two observations the share count is held at the older one. Before a
ticker's first observation there are two methods (``SHARE_METHODS``):

* ``point_in_time`` (the default of runs): no count; the name has no market cap on that date.
* ``backfill``: its earliest later observation is used, flagged in ``backfilled``. That is look-ahead: a
  weight resting on a count observed after the decision date (the report shows how much weight does).

See docs/data.md for the limits and each method's tracking error against SPY.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from backtest.tickers import normalize_ticker

# Sources in order of preference. A ticker takes all its observations from the first of these that has any
# (sources measure differently: Yahoo full caps vs SPY-implied float-adjusted shares on an estimated scale;
# mixing them inside one ticker would create jumps that are not market moves).
DEFAULT_SOURCE_PREFERENCE = ("yahoo", "snapshot:marketcap_snapshots", "snapshot:shares_sp500")
SHARE_METHODS = ("point_in_time", "backfill")


class SharesAsOf(NamedTuple):
    """Shares known on each date: ``(shares, observed)``, both indexed by the requested dates, one column per
    ticker. A plain 2-tuple, so ``shares, observed = shares_asof(...)`` works.

    ``shares``: float64, NaN where the ticker has no observation at all. ``observed``: datetime64, the
    observation date each value rests on (NaT with no observation); ``backfilled`` tells where it is later
    than the date.
    """

    shares: pd.DataFrame
    observed: pd.DataFrame

    @property
    def backfilled(self) -> pd.DataFrame:
        """bool frame: True where the value rests on an observation later than the date (no earlier one)."""
        dates = self.observed.index.to_numpy()[:, None]
        return pd.DataFrame(self.observed.to_numpy() > dates, index=self.observed.index,
                            columns=self.observed.columns)

    def point_in_time(self) -> "SharesAsOf":
        """The same frames with every value resting on a later observation removed (NaN / NaT): only counts
        observed on or before each date."""
        later = self.backfilled.to_numpy()
        return SharesAsOf(self.shares.mask(later), self.observed.mask(later))

    def method(self, name: str) -> "SharesAsOf":
        """``self`` for ``"backfill"``, ``self.point_in_time()`` for ``"point_in_time"``."""
        if name not in SHARE_METHODS:
            raise ValueError(f"shares: expected one of {', '.join(SHARE_METHODS)}, got {name!r}")
        return self if name == "backfill" else self.point_in_time()

    def at(self, date) -> pd.Series:
        """Shares on one date (a row of ``shares``), NaN dropped."""
        return self.shares.loc[pd.Timestamp(date).normalize()].dropna()

    def summary(self, sources: pd.Series | None = None) -> pd.DataFrame:
        """Per ticker: ``first_observation`` and ``last_observation`` used, ``backfilled_days`` (dates resting
        on a later observation) and, given ``chosen_sources(...)``, the ``source``. For "caps rest on"."""
        obs = self.observed
        out = pd.DataFrame({
            "first_observation": obs.min(),
            "last_observation": obs.max(),
            "backfilled_days": self.backfilled.sum().astype("int64"),
        })
        if sources is not None:
            out.insert(0, "source", sources.reindex(obs.columns))
        return out.rename_axis("ticker")


def _preference(available: Iterable[str], sources: Sequence[str] | None) -> list[str]:
    avail = sorted(set(available))
    if sources is not None:
        return [s for s in sources if s in avail]
    return [s for s in DEFAULT_SOURCE_PREFERENCE if s in avail] + [
        s for s in avail if s not in DEFAULT_SOURCE_PREFERENCE]


def _select(shares_long: pd.DataFrame, tickers: list[str], sources, mix_sources: bool) -> pd.DataFrame:
    """Rows used: finite positive shares of ``tickers`` from the preferred source(s); one row per
    (ticker, date)."""
    df = shares_long.loc[:, ["date", "ticker", "shares", "source"]].copy()
    df["date"] = pd.to_datetime(df["date"]).dt.normalize()
    df = df.loc[df["ticker"].isin(tickers) & np.isfinite(df["shares"]) & (df["shares"] > 0)]
    order = _preference(df["source"].unique(), sources)
    rank = {s: i for i, s in enumerate(order)}
    df = df.loc[df["source"].isin(rank)].assign(rank=lambda x: x["source"].map(rank))
    if not mix_sources and len(df):
        best = df.groupby("ticker")["rank"].transform("min")
        df = df.loc[df["rank"] == best]
    return df.sort_values(["ticker", "date", "rank"]).drop_duplicates(["ticker", "date"], keep="first")


def chosen_sources(shares_long: pd.DataFrame, tickers: Iterable[str], *, sources: Sequence[str] | None = None,
                   mix_sources: bool = False) -> pd.Series:
    """The source each ticker's shares come from under ``shares_asof``'s rules (``"mixed"`` when pooled
    from several; NaN when none)."""
    cols = list(dict.fromkeys(normalize_ticker(t) for t in tickers))
    df = _select(shares_long, cols, sources, mix_sources)
    used = df.groupby("ticker")["source"].agg(lambda s: s.iloc[0] if s.nunique() == 1 else "mixed")
    return used.reindex(cols)


def shares_asof(shares_long: pd.DataFrame, dates, tickers: Iterable[str], *,
                sources: Sequence[str] | None = None, mix_sources: bool = False,
                method: str = "backfill") -> SharesAsOf:
    """Shares outstanding of ``tickers`` on each of ``dates``: the most recent observation at or before the
    date (no look-ahead); for dates before a ticker's first observation, NaN under ``method="point_in_time"``
    or, under ``"backfill"`` (look-ahead), its earliest later observation, flagged in ``backfilled``.

    ``shares_long``: long frame ``date, ticker, shares, source`` (``PriceStore.shares()``). ``sources``: the
    sources to use, in order of preference (default ``DEFAULT_SOURCE_PREFERENCE`` then any others). Each
    ticker uses only its most preferred source that has data for it, unless ``mix_sources`` (then all
    sources are pooled and, on a date with several, the preferred one wins). ``chosen_sources`` tells which.
    Returns ``SharesAsOf(shares, observed)``.
    """
    idx = pd.DatetimeIndex(pd.to_datetime(dates)).normalize()
    cols = list(dict.fromkeys(normalize_ticker(t) for t in tickers))
    df = _select(shares_long, cols, sources, mix_sources)
    wide = df.pivot(index="date", columns="ticker", values="shares").reindex(columns=cols)
    full_idx = wide.index.union(idx)
    when = np.where(wide.notna().to_numpy(), wide.index.to_numpy()[:, None], np.datetime64("NaT", "ns"))
    obs = pd.DataFrame(when.astype("datetime64[ns]"), index=wide.index, columns=cols)
    fwd_v, fwd_o = wide.reindex(full_idx).ffill(), obs.reindex(full_idx).ffill()
    back_v, back_o = wide.reindex(full_idx).bfill(), obs.reindex(full_idx).bfill()
    shares = fwd_v.fillna(back_v).reindex(idx).astype("float64")
    observed = fwd_o.where(fwd_o.notna(), back_o).reindex(idx)
    for frame in (shares, observed):
        frame.index.name = "date"
    return SharesAsOf(shares=shares, observed=observed).method(method)


def market_caps(prices: pd.DataFrame, shares: SharesAsOf | pd.DataFrame) -> pd.DataFrame:
    """Market caps ``shares * adj_close``, shaped like ``prices`` (dates x tickers, float64); NaN where the
    price or the share count is missing. ``shares`` must be indexed by the same dates (build it with
    ``shares_asof(..., prices.index, prices.columns)``); absent dates or tickers give NaN."""
    s = shares.shares if isinstance(shares, SharesAsOf) else shares
    aligned = s.reindex(index=prices.index, columns=prices.columns)
    return (prices.astype("float64") * aligned).astype("float64")


def daily_shares(shares: pd.DataFrame, prices: pd.DataFrame):
    """`marketcap.shares_asof` on every date and column of `prices`, computed once for the weights and the
    analytics. Each frame is stored as a single block: per-date row reads and whole-frame arithmetic on the
    pivoted frame (one block per ticker run) are several times slower."""
    daily = shares_asof(shares, prices.index, list(prices.columns))
    return SharesAsOf(*(pd.DataFrame(f.to_numpy(), index=f.index, columns=f.columns) for f in daily))
