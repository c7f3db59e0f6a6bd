"""Factor regressions: is an excess return alpha, or market, size, value, profitability, investment and
momentum beta? Pure functions; the factor tables come from `backtest.data.factors` (fractions, not percent).

- ``regress(returns, factors, ...)``: OLS of a return series on factor returns by statsmodels, with
  Newey-West (HAC) standard errors. For a portfolio the dependent variable is its return minus RF (the factor
  file's risk-free leg); for an active return (strategy minus benchmark, self-financing) it is taken as is.
- ``monthly_returns(daily)``: compounds daily simple returns into calendar months (labelled by month end).
- ``rolling_loadings(returns, factors, window=36)``: statsmodels RollingOLS loadings over trailing windows.

Alpha is annualised arithmetically (``alpha * periods per year``: 252 for daily, 12 for monthly), as the
factor literature does; t-statistics use ``floor(4 (T/100)^(2/9))`` Newey-West lags unless given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

FF3 = ("MKT_RF", "SMB", "HML")
FF5_MOM = ("MKT_RF", "SMB", "HML", "RMW", "CMA", "MOM")


def newey_west_lags(n: int) -> int:
    """The usual automatic lag length ``floor(4 (n/100)^(2/9))`` (Newey and West 1994)."""
    return int(math.floor(4.0 * (max(n, 1) / 100.0) ** (2.0 / 9.0)))


def monthly_returns(daily: pd.Series | pd.DataFrame) -> pd.Series | pd.DataFrame:
    """Compound daily simple returns into calendar-month returns, indexed by the month-end date.

    ``daily`` follows `backtest.metrics`: its first value is the starting point (``0.0``), so the month of
    the first date is incomplete and dropped; so is the last month when an NYSE session follows the last date in
    its month (a run ending mid-month). A month with a missing day is NaN."""
    if len(daily.index) < 2:
        return daily.iloc[:0]
    body = daily.iloc[1:]
    months = body.index.to_period("M")
    out = (1.0 + body).groupby(months).prod(min_count=1) - 1.0
    out = out.where(body.notna().groupby(months).all())
    first = daily.index[0].to_period("M")
    out = out.loc[out.index > first]
    last = daily.index[-1]
    if not _last_session_of_its_month(last):
        out = out.loc[out.index < last.to_period("M")]
    out.index = out.index.to_timestamp(how="end").normalize()
    out.index.name = "date"
    return out


def _last_session_of_its_month(day: pd.Timestamp) -> bool:
    """Whether no NYSE session follows ``day`` in its month: its month is complete (2024-03-28 is March's
    last, Good Friday the 29th a holiday). The calendar is read only when one or two weekdays are left."""
    month_end = day + pd.offsets.MonthEnd(0)
    left = pd.bdate_range(day + pd.Timedelta(days=1), month_end)
    if len(left) == 0 or len(left) > 2:
        return len(left) == 0
    from backtest.calendar import sessions_between

    return len(sessions_between(left[0], month_end)) == 0


def _align(returns: pd.Series, factors: pd.DataFrame, monthly: bool) -> pd.DataFrame:
    r = returns.dropna()
    f = factors.dropna(how="any")
    if monthly:
        r = r.set_axis(r.index.to_period("M"))
        f = f.set_axis(f.index.to_period("M"))
    both = pd.concat([r.rename("__y__"), f], axis=1, join="inner")
    if monthly:
        both.index = both.index.to_timestamp(how="end").normalize()
    return both


def regress(returns: pd.Series, factors: pd.DataFrame, *, names: Sequence[str] = FF3, excess: bool = True,
            periods_per_year: int = 252, monthly: bool = False, lags: int | None = None) -> dict:
    """Regress ``returns`` on the factor columns ``names`` of ``factors`` (a constant added).

    Parameters
    ----------
    returns : Series of period simple returns indexed by date (daily, or month-end when ``monthly``);
        every value is a return (drop the leading 0.0 starting point of a `metrics.simple_returns` series).
    factors : DataFrame indexed by date with the columns ``names`` and ``RF`` (fractions).
    excess : subtract ``RF`` from ``returns`` first (a portfolio); False for an active return.
    monthly : match months by calendar month rather than by exact date.
    lags : Newey-West lags; default `newey_west_lags` of the sample size.

    A constant dependent series (an active return of zero every period: a strategy identical to its
    benchmark) has no variance to explain: ``r2``, ``adj_r2`` and the t-statistics are NaN (undefined), with
    no numpy warning; the coefficients are exact (zero).

    Returns
    -------
    dict with ``start``, ``end`` (first and last observation used), ``n``, ``lags``, ``alpha`` (annualised),
    ``alpha_t``, ``alpha_p``, ``r2``, ``adj_r2``, ``residual_vol`` (annualised), and per factor
    ``beta_<name>``, ``t_<name>``. Every figure NaN (and ``n`` the count) when there are fewer observations
    than regressors + 2.
    """
    from statsmodels.regression.linear_model import OLS    # not statsmodels.api: that imports everything

    names = list(names)
    data = _align(returns, factors[[*names, "RF"]], monthly)
    n = len(data)
    out: dict = {"start": data.index[0] if n else None, "end": data.index[-1] if n else None, "n": n}
    keys = ["alpha", "alpha_t", "alpha_p", "r2", "adj_r2", "residual_vol",
            *(f"{p}_{f}" for f in names for p in ("beta", "t"))]
    if n < len(names) + 3:
        return {**out, "lags": None, **dict.fromkeys(keys, math.nan)}
    y = data["__y__"] - (data["RF"] if excess else 0.0)
    x = np.column_stack([np.ones(n), data[names].to_numpy()])
    lags = newey_west_lags(n) if lags is None else int(lags)
    fit = OLS(y.to_numpy(), x).fit(cov_type="HAC", cov_kwds={"maxlags": lags})
    with np.errstate(invalid="ignore", divide="ignore"):   # a constant y: R² and t are 0/0, NaN (undefined)
        params, tvalues = np.asarray(fit.params), np.asarray(fit.tvalues)
        out.update(lags=lags, alpha=float(params[0]) * periods_per_year, alpha_t=float(tvalues[0]),
                   alpha_p=float(np.asarray(fit.pvalues)[0]), r2=float(fit.rsquared),
                   adj_r2=float(fit.rsquared_adj),
                   residual_vol=float(np.std(fit.resid, ddof=len(names) + 1) * math.sqrt(periods_per_year)))
    for i, f in enumerate(names, start=1):
        out[f"beta_{f}"] = float(params[i])
        out[f"t_{f}"] = float(tvalues[i])
    return out


def rolling_loadings(returns: pd.Series, factors: pd.DataFrame, *, names: Sequence[str] = FF5_MOM,
                     window: int = 36, excess: bool = True, monthly: bool = True) -> pd.DataFrame:
    """Loadings (and ``alpha`` per period) over trailing ``window`` observations, by statsmodels RollingOLS.

    Returns a DataFrame indexed by the window's last date, one column per factor plus ``alpha``; empty when
    there are fewer than ``window`` observations."""
    from statsmodels.regression.rolling import RollingOLS

    names = list(names)
    data = _align(returns, factors[[*names, "RF"]], monthly)
    if len(data) < window:
        return pd.DataFrame(columns=["alpha", *names], index=pd.DatetimeIndex([], name="date"))
    y = data["__y__"] - (data["RF"] if excess else 0.0)
    x = data[names].copy()
    x.insert(0, "alpha", 1.0)
    params = RollingOLS(y, x, window=window).fit(params_only=True).params.dropna(how="all")
    params.index.name = "date"
    return params
