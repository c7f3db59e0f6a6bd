"""Point-in-time index membership and market-cap weights (pure).

Membership intervals are read as ``start_date <= date < end_date``: a ticker added "effective before the open
on 2020-12-21" (TSLA) is a member on 2020-12-21, and one removed on ``end_date`` is no longer a member that
day (FB's interval ends 2022-06-09, the day META's starts). ``end_date`` NaT means still a member.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from backtest.errors import DataError

MEMBERSHIP_COLUMNS = ("ticker", "start_date", "end_date", "price_column")


def check_membership(membership: pd.DataFrame) -> pd.DataFrame:
    """Validate the intervals frame and return a copy with parsed dates.

    ``membership``: one row per interval, columns ``ticker, start_date, end_date, price_column``
    (``end_date`` NaT = still a member; ``price_column`` NaN = no price series for that ticker).
    """
    missing = [c for c in MEMBERSHIP_COLUMNS if c not in membership.columns]
    if missing:
        raise DataError(
            f"membership: missing column(s) {', '.join(missing)}; expected {', '.join(MEMBERSHIP_COLUMNS)} "
            f"(got {', '.join(map(str, membership.columns))})"
        )
    out = membership.loc[:, list(MEMBERSHIP_COLUMNS)].copy()
    out["start_date"] = pd.to_datetime(out["start_date"]).dt.normalize()
    out["end_date"] = pd.to_datetime(out["end_date"]).dt.normalize()
    if out["start_date"].isna().any():
        bad = out.loc[out["start_date"].isna(), "ticker"].tolist()
        raise DataError(f"membership: start_date is empty for {', '.join(map(str, bad[:10]))}")
    out["price_column"] = out["price_column"].astype(object).where(out["price_column"].notna(), None)
    return out


def members_on(membership: pd.DataFrame, date: pd.Timestamp) -> pd.DataFrame:
    """The intervals active on ``date`` (all tickers, including those without a price column)."""
    m = check_membership(membership)
    active = (m["start_date"] <= date) & (m["end_date"].isna() | (m["end_date"] > date))
    return m.loc[active].reset_index(drop=True)


def member_mask(membership: pd.DataFrame, index: pd.DatetimeIndex,
                columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Boolean DataFrame indexed like ``index``, one column per price column: member on that date.

    ``columns`` fixes the output columns (e.g. ``prices.columns``); price columns outside it are ignored
    and columns never in the index are all False. Tickers without a price column cannot appear here: use
    :func:`members_on` to list them.
    """
    m = check_membership(membership)
    m = m.loc[m["price_column"].notna()]
    cols = list(columns) if columns is not None else sorted(m["price_column"].unique())
    pos = {c: j for j, c in enumerate(cols)}
    out = np.zeros((len(index), len(cols)), dtype=bool)
    idx = pd.DatetimeIndex(index)
    for col, start, end in zip(m["price_column"], m["start_date"], m["end_date"]):
        j = pos.get(col)
        if j is None:
            continue
        i0 = idx.searchsorted(start, side="left")
        i1 = len(idx) if pd.isna(end) else idx.searchsorted(end, side="left")
        out[i0:i1, j] = True
    return pd.DataFrame(out, index=index, columns=pd.Index(cols, dtype=object))


def shares_on(shares_asof: pd.DataFrame, dates: pd.DatetimeIndex, columns: Sequence[str]) -> pd.DataFrame:
    """Shares known on each date: the last row of ``shares_asof`` on or before it (row-wise as-of lookup).

    ``shares_asof``: DataFrame indexed by date, one column per ticker, shares in adjusted-price units
    (cap = shares * adj_close). A date before its first row gets NaN. Missing tickers are NaN columns.
    """
    sh = shares_asof.sort_index()
    sh = sh.loc[~sh.index.duplicated(keep="last")]
    sh = sh.reindex(columns=list(columns))
    out = sh.reindex(pd.DatetimeIndex(dates), method="ffill")
    return out.astype(float)


def index_caps(prices: pd.DataFrame, shares_asof: pd.DataFrame, membership: pd.DataFrame,
               dates: Sequence[object] | pd.DatetimeIndex | None = None) -> pd.DataFrame:
    """Market caps (shares * adjusted close) of the point-in-time members, NaN for everything else.

    Returns a DataFrame indexed by ``dates`` (default ``prices.index``), one column per price column; a
    value only where the column is a member that day *and* has both a price and known shares.
    """
    idx = prices.index if dates is None else pd.DatetimeIndex(pd.to_datetime(list(dates))).normalize()
    px = prices.reindex(idx)
    mask = member_mask(membership, idx, px.columns)
    caps = shares_on(shares_asof, idx, px.columns) * px
    return caps.where(mask & (caps > 0))


def index_cap_weights(prices: pd.DataFrame, shares_asof: pd.DataFrame, membership: pd.DataFrame,
                      dates: Sequence[object] | pd.DatetimeIndex) -> pd.DataFrame:
    """Cap weights of a point-in-time cap-weighted S&P 500 at the close of each date.

    Returns a DataFrame indexed by ``dates`` (``date``), one column per price column, each row summing to 1
    over members with a price and shares on that date (NaN elsewhere; an all-NaN row when none). Full
    market caps, not the index's float adjustment: see docs/analytics.md for the size of that gap.
    """
    caps = index_caps(prices, shares_asof, membership, dates)
    weights = caps.div(caps.sum(axis=1, min_count=1), axis=0)
    weights.index.name = "date"
    return weights


def cap_coverage(prices: pd.DataFrame, shares_asof: pd.DataFrame, membership: pd.DataFrame,
                 dates: Sequence[object] | pd.DatetimeIndex) -> pd.DataFrame:
    """What the cap weights at each date are missing, so gaps are reported rather than hidden.

    Returns a DataFrame indexed by ``date`` with ``n_members`` (all member tickers), ``n_priced`` (with a
    price that day), ``n_capped`` (price and shares), and ``no_price`` / ``no_shares`` (';'-joined tickers).
    """
    idx = pd.DatetimeIndex(pd.to_datetime(list(dates))).normalize()
    m = check_membership(membership)
    # one column per membership interval: active on each date?
    starts = m["start_date"].to_numpy()
    ends = m["end_date"].to_numpy()
    when = idx.to_numpy()[:, None]
    active = (starts[None, :] <= when) & (pd.isna(ends)[None, :] | (ends[None, :] > when))
    cols = m["price_column"].tolist()
    has_col = np.array([c is not None and c in prices.columns for c in cols])
    safe = [c if ok else prices.columns[0] for c, ok in zip(cols, has_col)] if len(prices.columns) else []
    px = prices.reindex(idx)
    sh = shares_on(shares_asof, idx, px.columns)
    priced = has_col[None, :] & px[safe].notna().to_numpy() if safe else np.zeros_like(active)
    capped = priced & (sh[safe].to_numpy() > 0) if safe else np.zeros_like(active)
    tickers = m["ticker"].to_numpy()
    rows = []
    for k, date in enumerate(idx):
        act = active[k]
        rows.append({
            "date": date,
            "n_members": int(act.sum()),
            "n_priced": int((act & priced[k]).sum()),
            "n_capped": int((act & capped[k]).sum()),
            "no_price": ";".join(sorted(tickers[act & ~priced[k]])),
            "no_shares": ";".join(sorted(tickers[act & priced[k] & ~capped[k]])),
        })
    return pd.DataFrame(rows).set_index("date")
