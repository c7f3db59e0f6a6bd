"""Mag 7 vs the rest: daily group indexes and return attribution of the cap-weighted S&P 500 (pure).

Method (see docs/analytics.md):

* Day ``t``'s return of a weighted basket is ``sum_i w[i, t-1] * r[i, t]``, with ``w[i, t-1]`` the holding
  value at the close of ``t-1`` normalised over the names *eligible on t*: point-in-time members on ``t``,
  inside the basket, with a close on ``t-1`` and on ``t``. Nothing is forward-filled: a name without a return
  that day sits out and its weight is spread over the others.
* Cap-weighted: holding value = ``shares_asof[t-1] * p[t-1]``, so weights drift with prices every day and
  jump only when the shares table or the membership changes.
* Equal-weighted: reset to 1/N at the close before each period (``equal_rebalance``: monthly by default)
  over the members of the period's first day with a close at the reset; between resets each name drifts
  with its price (holding value = ``p[t-1] / p[reset]``). Names leaving the index mid-period are dropped
  that day (their value is spread over the rest); names joining wait for the next reset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from backtest.analytics.pit import member_mask, shares_on
from backtest.errors import DataError

_PERIODS = {"monthly": "M", "quarterly": "Q", "yearly": "Y"}


def _window_prices(prices: pd.DataFrame, start: object, end: object) -> pd.DataFrame:
    px = prices.sort_index().loc[pd.Timestamp(start):pd.Timestamp(end)].astype(float)
    if len(px) == 0:
        raise DataError(
            f"no prices between {pd.Timestamp(start):%Y-%m-%d} and {pd.Timestamp(end):%Y-%m-%d}; "
            f"the price frame covers {prices.index.min():%Y-%m-%d}..{prices.index.max():%Y-%m-%d}"
        )
    return px


def _daily_returns(px: pd.DataFrame) -> pd.DataFrame:
    """Simple daily returns; row 0 (the base close) and days after a missing close are NaN."""
    return px / px.shift(1) - 1.0


def cap_holdings(prices: pd.DataFrame, shares_asof: pd.DataFrame, membership: pd.DataFrame,
                 start: object, end: object) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Daily returns and the cap-weighted index's pre-trade holding values over ``[start, end]``.

    Returns ``(returns, holdings)``, both indexed by the trading dates from ``start`` (the base close,
    row 0) to ``end``, one column per price column. ``holdings[t]`` is ``shares[t-1] * p[t-1]`` for names
    eligible on ``t`` (member on ``t``, return defined on ``t``), NaN otherwise; row 0 is all NaN.
    """
    px = _window_prices(prices, start, end)
    returns = _daily_returns(px)
    caps = shares_on(shares_asof, px.index, px.columns) * px
    held = caps.shift(1)
    eligible = member_mask(membership, px.index, px.columns) & held.gt(0) & returns.notna()
    return returns, held.where(eligible)


def equal_holdings(prices: pd.DataFrame, membership: pd.DataFrame, start: object, end: object, *,
                   rebalance: str = "monthly") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Like :func:`cap_holdings` for the equal-weighted index reset to 1/N each ``rebalance`` period.

    ``rebalance``: ``"daily"``, ``"monthly"``, ``"quarterly"`` or ``"yearly"``. ``holdings[t]`` is
    ``p[t-1] / p[reset(t)]`` where ``reset(t)`` is the last close before ``t``'s period (the base close
    for the first period).
    """
    if rebalance != "daily" and rebalance not in _PERIODS:
        raise DataError(f"equal_rebalance: expected daily, {', '.join(_PERIODS)}; got {rebalance!r}")
    px = _window_prices(prices, start, end)
    returns = _daily_returns(px)
    n = len(px)
    pos = np.arange(n)
    if rebalance == "daily":
        anchor = np.maximum(pos - 1, 0)
    else:
        labels = px.index.to_period(_PERIODS[rebalance])
        first = pd.Series(pos).groupby(np.asarray(labels.astype(str))).transform("min").to_numpy()
        anchor = np.maximum(first - 1, 0)
    set_row = np.minimum(anchor + 1, n - 1)
    members = member_mask(membership, px.index, px.columns)
    values = px.to_numpy()
    at_reset = values[anchor]
    held_set = members.to_numpy()[set_row] & ~np.isnan(at_reset)
    prev = np.vstack([np.full((1, px.shape[1]), np.nan), values[:-1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        held = prev / at_reset
    held = pd.DataFrame(held, index=px.index, columns=px.columns)
    eligible = (members & pd.DataFrame(held_set, index=px.index, columns=px.columns)
                & held.gt(0) & returns.notna())
    return returns, held.where(eligible)


def basket_returns(returns: pd.DataFrame, holdings: pd.DataFrame,
                   columns: Sequence[str] | None = None) -> tuple[pd.Series, pd.Series]:
    """Daily return of the basket ``columns`` (all when None) and its number of names each day.

    Return = ``sum(h * r) / sum(h)`` over eligible names (``holdings`` not NaN); NaN on a day with none.
    """
    h = holdings if columns is None else holdings.reindex(columns=list(columns))
    r = returns.reindex(columns=h.columns)
    total = h.sum(axis=1, min_count=1)
    ret = (h * r).sum(axis=1, min_count=1) / total
    return ret, h.notna().sum(axis=1)


def _level(ret: pd.Series, first_pos: int) -> pd.Series:
    """Growth of 1 from the close before ``first_pos`` (>= 1); NaN before it; a day without names is 0%."""
    level = np.full(len(ret), np.nan)
    if first_pos < len(ret):
        base = first_pos - 1
        r = ret.fillna(0.0).to_numpy().copy()
        r[: base + 1] = 0.0
        level[base:] = np.cumprod(1.0 + r)[base:]
    return pd.Series(level, index=ret.index)


def rolling_relative(ratio: pd.Series, years: int = 1) -> pd.Series:
    """``ratio[t] / ratio[t - years] - 1`` (last value on or before the lag date); NaN without history."""
    lag_dates = ratio.index - pd.DateOffset(years=years)
    valid = ratio.dropna()
    if valid.empty:
        return pd.Series(np.nan, index=ratio.index)
    lagged = valid.asof(lag_dates).to_numpy()
    lagged = np.where(lag_dates < valid.index[0], np.nan, lagged)
    return pd.Series(ratio.to_numpy() / lagged - 1.0, index=ratio.index)


def group_index(prices: pd.DataFrame, shares_asof: pd.DataFrame, membership: pd.DataFrame,
                group: Sequence[str], start: object, end: object, *, name: str = "mag7",
                rest_name: str = "rest", equal_rebalance: str = "monthly") -> pd.DataFrame:
    """Daily cumulative performance of a group vs the rest of the point-in-time index.

    Parameters
    ----------
    prices : DataFrame indexed by trading date, one column per price column (S&P 500 members).
    shares_asof : DataFrame indexed by date, one column per ticker, shares in adjusted-price units.
    membership : intervals ``ticker, start_date, end_date, price_column``.
    group : the group's price columns, e.g. the Mag 7 (a name counts only while an index member).
    start, end : base close and last close (see :func:`backtest.analytics.resolve_window`).

    Returns
    -------
    DataFrame indexed by ``date`` (``start``..``end``) with growth-of-1 levels ``<name>_cap``,
    ``<rest>_cap``, ``<rest>_equal`` (equal-weighted, reset each ``equal_rebalance`` period) and
    ``index_cap`` (all members); ratios ``<name>_vs_<rest>_cap`` / ``_equal`` (level of group / level of
    rest: rising = the group leads) and their rolling 12-month relative returns ``..._12m``
    (``ratio[t] / ratio[t - 1 year] - 1``); counts ``<name>_members`` / ``<rest>_members`` (point-in-time
    members with a price column) and ``<name>_n`` / ``<rest>_n`` / ``<rest>_equal_n`` (names actually
    weighted that day). All levels start at 1.0 on the first date from which every series has a return
    (the base close unless shares are missing early on); rows before it are NaN.
    """
    returns, cap_h = cap_holdings(prices, shares_asof, membership, start, end)
    _, eq_h = equal_holdings(prices, membership, start, end, rebalance=equal_rebalance)
    cols = list(returns.columns)
    in_group = [c for c in cols if c in set(group)]
    rest = [c for c in cols if c not in set(group)]
    series = {
        f"{name}_cap": basket_returns(returns, cap_h, in_group),
        f"{rest_name}_cap": basket_returns(returns, cap_h, rest),
        f"{rest_name}_equal": basket_returns(returns, eq_h, rest),
        "index_cap": basket_returns(returns, cap_h, None),
    }
    valid = pd.concat([ret.notna() for ret, _ in series.values()], axis=1).all(axis=1).to_numpy().copy()
    valid[0] = False
    first_pos = int(np.argmax(valid)) if valid.any() else len(valid)
    out = pd.DataFrame(index=pd.DatetimeIndex(returns.index, name="date"))
    for key, (ret, _) in series.items():
        out[key] = _level(ret, first_pos)
    for kind in ("cap", "equal"):
        ratio = out[f"{name}_cap"] / out[f"{rest_name}_{kind}"]
        out[f"{name}_vs_{rest_name}_{kind}"] = ratio
        out[f"{name}_vs_{rest_name}_{kind}_12m"] = rolling_relative(ratio)
    members = member_mask(membership, returns.index, cols)
    out[f"{name}_members"] = members[in_group].sum(axis=1).astype(int)
    out[f"{rest_name}_members"] = members[rest].sum(axis=1).astype(int)
    out[f"{name}_n"] = series[f"{name}_cap"][1].astype(int)
    out[f"{rest_name}_n"] = series[f"{rest_name}_cap"][1].astype(int)
    out[f"{rest_name}_equal_n"] = series[f"{rest_name}_equal"][1].astype(int)
    return out


def attribution(prices: pd.DataFrame, shares_asof: pd.DataFrame, membership: pd.DataFrame,
                groups: Mapping[str, Sequence[str]], start: object, end: object, *,
                rest_name: str = "rest") -> pd.DataFrame:
    """Contribution of each group (and of the rest) to the cap-weighted index's return over a window.

    With ``w[i, t-1]`` the cap weight (see module docstring), ``r[p, t] = sum_i w[i, t-1] r[i, t]`` and the
    index growth ``G[t] = prod_{s<=t} (1 + r[p, s])`` (``G`` = 1 at the base close):

    * ``contribution`` = ``sum_t G[t-1] * sum_{i in g} w[i, t-1] r[i, t]``: the gain of each dollar
      invested in the index at the base close that came from group ``g``. Exact: the groups add up to the
      index's compounded return and the ``compounding`` row is 0.
    * ``contribution_arithmetic`` = ``sum_t sum_{i in g} w[i, t-1] r[i, t]`` (no compounding); the
      ``compounding`` row holds ``total - sum(groups)`` so the column adds up too.

    Returns
    -------
    DataFrame indexed by ``group`` (each group, ``<rest_name>``, ``compounding``, ``total``) with
    ``contribution``, ``contribution_arithmetic``, ``share_of_total`` (contribution / total),
    ``group_return`` (the group's own cap-weighted compounded return), ``weight_start`` (its weight on
    the first day), ``weight_avg`` (mean over weighted days), ``n_names`` (names weighted at least one
    day), ``start_date``, ``end_date``, ``days`` (trading days in the window) and ``days_weighted`` (days
    with cap weights: fewer when shares are unknown early in the window; the other days count as 0% and
    the total covers only the weighted days, which ``rotation_analytics`` notes).
    """
    returns, held = cap_holdings(prices, shares_asof, membership, start, end)
    weights = held.div(held.sum(axis=1, min_count=1), axis=0)
    contrib = (weights * returns).fillna(0.0)
    index_ret = contrib.sum(axis=1)
    index_ret.iloc[0] = 0.0
    growth_prev = (1.0 + index_ret).cumprod().shift(1).fillna(1.0)
    total = float((1.0 + index_ret).prod() - 1.0)
    seen: set[str] = set()
    baskets: dict[str, list[str]] = {}
    for gname, tickers in groups.items():
        overlap = seen.intersection(tickers)
        if overlap:
            raise DataError(f"attribution groups overlap on {', '.join(sorted(overlap))}; a name may be "
                            "in one group only")
        seen.update(tickers)
        baskets[gname] = [c for c in returns.columns if c in set(tickers)]
    baskets[rest_name] = [c for c in returns.columns if c not in seen]
    rows = {}
    days = weights.index[1:]
    weighted = weights.notna().any(axis=1)
    for gname, cols in baskets.items():
        c_t = contrib[cols].sum(axis=1)
        w_t = weights[cols].sum(axis=1).where(weighted)
        with np.errstate(invalid="ignore", divide="ignore"):
            g_ret = (c_t / w_t).where(w_t > 0, 0.0).fillna(0.0)
        g_ret.iloc[0] = 0.0
        rows[gname] = {
            "contribution": float((growth_prev * c_t).sum()),
            "contribution_arithmetic": float(c_t.sum()),
            "group_return": float((1.0 + g_ret).prod() - 1.0),
            "weight_start": float(w_t.loc[days].iloc[0]) if len(days) else np.nan,
            "weight_avg": float(w_t.loc[days].mean()) if len(days) else np.nan,
            "n_names": int(weights[cols].loc[days].notna().any(axis=0).sum()),
        }
    arith = sum(r["contribution_arithmetic"] for r in rows.values())
    linked = sum(r["contribution"] for r in rows.values())
    rows["compounding"] = {"contribution": total - linked, "contribution_arithmetic": total - arith,
                           "group_return": np.nan, "weight_start": np.nan, "weight_avg": np.nan, "n_names": 0}
    weighted = weighted.loc[days]
    rows["total"] = {"contribution": total, "contribution_arithmetic": total, "group_return": total,
                     "weight_start": 1.0 if len(days) and weighted.iloc[0] else np.nan,
                     "weight_avg": 1.0 if weighted.any() else np.nan,
                     "n_names": int(weights.loc[days].notna().any(axis=0).sum())}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "group"
    with np.errstate(invalid="ignore", divide="ignore"):
        out["share_of_total"] = out["contribution"] / total if total != 0 else np.nan
    out["start_date"] = returns.index[0]
    out["end_date"] = returns.index[-1]
    out["days"] = len(days)
    out["days_weighted"] = int(weighted.sum())
    cols = ["contribution", "contribution_arithmetic", "share_of_total", "group_return", "weight_start",
            "weight_avg", "n_names", "start_date", "end_date", "days", "days_weighted"]
    return out[cols]
