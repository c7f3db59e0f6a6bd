"""Metrics of one daily simple-return series (returns, risk, drawdowns, calendar periods, trailing, rolling).

Conventions (one place, see docs/report.md for the formulas):

- ``returns`` is a float Series indexed by trading date; ``returns[t]`` is the simple return from the
  previous date to ``t``. NaN entries are ignored.
- The value (wealth) series is ``W[t] = prod(1 + returns[s] for s <= t)``. Returns built from a value
  series by :func:`simple_returns` start with ``0.0`` on the first date, so ``W`` equals the value series
  rebased to 1 **on its first date**: that first value is the starting value, and calendar spans run from
  the first to the last date of the series. A run's series start at its base close (`backtest.period`);
  its strategies' returns are built with ``initial=capital``, so the first return is minus the opening
  fees' share of the capital and ``W`` is the value over the capital.
- Options are keywords; ``risk_free`` is a daily simple-return Series (reindexed to the returns' dates,
  missing days count as 0) or ``None`` for 0.
- A metric that the data cannot define (too short, zero variance, no down months, ...) is ``NaN``, never
  an exception. Drawdowns, VaR and CVaR are negative fractions (a loss of 20% is ``-0.2``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

PERIODS_PER_YEAR = 252  # trading days per year: annualises daily means and volatilities
DAYS_PER_YEAR = 365.25  # calendar days per year: CAGR and trailing returns
ROLLING_WINDOW = PERIODS_PER_YEAR  # "rolling 12 months" in trading days
TINY = 1e-12  # a standard deviation below this is treated as zero (flat prices)

NAN = float("nan")


def simple_returns(values: pd.Series, initial: float | None = None) -> pd.Series:
    """Daily simple returns of a value series. The first date's return is ``values[0] / initial - 1`` when
    ``initial`` (the capital the run started with) is given -- so the opening trade's fees, paid at the base
    close, count -- else ``0.0`` (the first value is the starting value). A DataFrame gives each column's
    returns (the same operations on each value: the same bits as column by column)."""
    values = values.astype(float)
    out = values / values.shift(1) - 1.0
    if len(out):
        out.iloc[0] = values.iloc[0] / initial - 1.0 if initial else 0.0
    return out


def _clean(returns: pd.Series) -> pd.Series:
    return returns.astype(float).dropna()


def wealth_index(returns: pd.Series) -> pd.Series:
    """Growth of 1: ``cumprod(1 + r)``, same index as ``returns`` (NaN dropped)."""
    return (1.0 + _clean(returns)).cumprod()


def _excess(returns: pd.Series, risk_free: pd.Series | None) -> pd.Series:
    r = _clean(returns)
    if risk_free is None:
        return r
    rf = risk_free.astype(float).reindex(r.index).fillna(0.0)
    return r - rf


def total_return(returns: pd.Series) -> float:
    """``prod(1 + r) - 1``. NaN for an empty series."""
    r = _clean(returns)
    return float((1.0 + r).prod() - 1.0) if len(r) else NAN


def span_years(index: pd.Index) -> float:
    """Calendar years from the first to the last date of ``index`` (365.25-day years); NaN below two dates."""
    return (index[-1] - index[0]).days / DAYS_PER_YEAR if len(index) >= 2 else NAN


def cagr(returns: pd.Series) -> float:
    """Compound annual growth rate, calendar-day based.

    ``(1 + total_return) ** (365.25 / days) - 1`` with ``days`` the calendar days between the first and last
    date (the starting value sits on the first date, see the module docstring). NaN with fewer than two
    dates or a zero-day span.
    """
    r = _clean(returns)
    if len(r) < 2:
        return NAN
    days = (r.index[-1] - r.index[0]).days
    if days <= 0:
        return NAN
    growth = float((1.0 + r).prod())
    return growth ** (DAYS_PER_YEAR / days) - 1.0 if growth > 0 else -1.0


def annual_volatility(returns: pd.Series) -> float:
    """Sample standard deviation (ddof=1) of daily returns times ``sqrt(252)``. NaN below two returns."""
    r = _clean(returns)
    return float(r.std(ddof=1) * math.sqrt(PERIODS_PER_YEAR)) if len(r) >= 2 else NAN


def sharpe_ratio(returns: pd.Series, *, risk_free: pd.Series | None = None) -> float:
    """``mean(r - rf) / std(r - rf, ddof=1) * sqrt(252)``. NaN below two returns or with zero volatility."""
    ex = _excess(returns, risk_free)
    if len(ex) < 2:
        return NAN
    sd = float(ex.std(ddof=1))
    return float(ex.mean()) / sd * math.sqrt(PERIODS_PER_YEAR) if sd > TINY else NAN


def sortino_ratio(returns: pd.Series, *, risk_free: pd.Series | None = None) -> float:
    """``mean(r - rf) / downside_deviation * sqrt(252)``.

    The downside deviation is ``sqrt(mean(min(r - rf, 0) ** 2))`` over all days (target = risk-free).
    NaN below two returns or when there is no day below the target (the ratio is unbounded).
    """
    ex = _excess(returns, risk_free)
    if len(ex) < 2:
        return NAN
    downside = math.sqrt(float((ex.clip(upper=0.0) ** 2).mean()))
    return float(ex.mean()) / downside * math.sqrt(PERIODS_PER_YEAR) if downside > TINY else NAN


def drawdown(returns: pd.Series) -> pd.Series:
    """Underwater series: ``W / running_peak - 1`` (<= 0); the running peak starts at the value 1."""
    w = wealth_index(returns)
    return w / w.cummax().clip(lower=1.0) - 1.0


def drawdown_table(returns: pd.Series) -> pd.DataFrame:
    """Every drawdown episode, in time order.

    Columns: ``peak`` (last date at the high-water mark), ``trough`` (lowest point), ``recovery`` (first date
    back at the peak, NaT if still under water), ``depth`` (fraction, <= 0), ``days`` (calendar days from
    peak to recovery, or to the last date if not recovered), ``recovery_days`` (trough to recovery, NaN if
    not recovered).
    """
    dd = drawdown(returns)
    cols = ["peak", "trough", "recovery", "depth", "days", "recovery_days"]
    idx, values = dd.index, dd.to_numpy()
    n = len(values)
    under = (values < -TINY).astype(np.int8)
    edges = np.diff(np.concatenate([[0], under, [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    # one episode per run of days under water: the peak is the day before it, the trough its first lowest
    # day, the recovery the day after it (none if it runs to the end); array work, no pandas per episode
    troughs = np.array([s + int(np.argmin(values[s:e])) for s, e in zip(starts, stops, strict=True)],
                       dtype=np.intp)
    recovered = stops < n
    peak = idx[np.maximum(starts - 1, 0)]
    trough = idx[troughs]
    recovery = idx[np.minimum(stops, n - 1)] if n else idx
    days = (recovery - peak).days.to_numpy().astype(float)
    rec_days = np.where(recovered, (recovery - trough).days.to_numpy().astype(float), NAN)
    # dates as Timestamp objects converted by to_datetime, as the table always was (its resolution follows)
    table = pd.DataFrame({"peak": peak.astype(object), "trough": trough.astype(object),
                          "recovery": np.where(recovered, recovery.astype(object), pd.NaT),
                          "depth": values[troughs].astype(float), "days": days, "recovery_days": rec_days},
                         columns=cols)
    for c in ("peak", "trough", "recovery"):
        table[c] = pd.to_datetime(table[c])
    return table.astype({"depth": float, "days": float, "recovery_days": float})


def top_drawdowns(returns: pd.Series, n: int = 5) -> pd.DataFrame:
    """The ``n`` deepest episodes of :func:`drawdown_table`, deepest first, index 1..n."""
    table = drawdown_table(returns).sort_values(["depth", "peak"], kind="stable").head(n)
    return table.set_axis(pd.RangeIndex(1, len(table) + 1))


def max_drawdown(returns: pd.Series) -> float:
    """Deepest drawdown (<= 0). NaN for an empty series."""
    dd = drawdown(returns)
    return float(dd.min()) if len(dd) else NAN


def calmar_ratio(returns: pd.Series) -> float:
    """``cagr / |max_drawdown|``. NaN when there is no drawdown or CAGR is undefined."""
    mdd = max_drawdown(returns)
    return cagr(returns) / abs(mdd) if mdd < -TINY else NAN


def period_returns(returns: pd.Series, freq: str = "M", *, from_base: bool = False) -> pd.Series:
    """Compounded returns per calendar period (``"M"`` month, ``"Y"`` year), indexed by Period.

    First and last periods may be partial (they cover only the dates in the series). ``from_base``: the
    first date is a run's base close, its starting point, not a period of its own: its return (the opening
    fees) counts in the period of the second date (a run from 2016-01-01, based on the 2015-12-31 close, has
    no 2015).
    """
    r = _clean(returns)
    if r.empty:
        return pd.Series(dtype=float, index=pd.PeriodIndex([], freq=freq))
    periods = r.index.to_period(freq)
    if from_base and len(periods) > 1:
        periods = periods.insert(0, periods[1]).delete(1)
    return (1.0 + r).groupby(periods).prod() - 1.0


def annual_returns(returns: pd.Series, *, from_base: bool = False) -> pd.Series:
    """Calendar-year returns indexed by year (int); `partial_years` says which cover part of their year."""
    y = period_returns(returns, "Y", from_base=from_base)
    return y.set_axis(pd.Index([p.year for p in y.index], name="year"))


def partial_years(returns: pd.Series) -> set[int]:
    """The calendar years of ``annual_returns(returns, from_base=True)`` that a run's series (starting at its
    base close) covers only in part: the first unless the base is a close of the year before, the last
    unless the series ends on the year's last weekday (the last trading day of a NYSE year)."""
    idx = _clean(returns).index
    if len(idx) < 2:
        return set()
    first_year, last = idx[1].year, idx[-1]
    out = set()
    if idx[0].year == first_year:
        out.add(first_year)
    if last < pd.offsets.BYearEnd().rollforward(last):
        out.add(last.year)
    return out


def monthly_returns_table(returns: pd.Series, *, from_base: bool = False) -> pd.DataFrame:
    """Monthly returns as a year x month (1..12) table; NaN where the series has no data."""
    m = period_returns(returns, "M", from_base=from_base)
    frame = pd.DataFrame({"year": [p.year for p in m.index], "month": [p.month for p in m.index],
                          "ret": m.to_numpy()})
    table = frame.pivot(index="year", columns="month", values="ret")
    return table.reindex(columns=range(1, 13))


def _extreme(series: pd.Series, best: bool) -> float:
    if series.empty:
        return NAN
    return float(series.max() if best else series.min())


def best_period(returns: pd.Series, freq: str = "D", *, from_base: bool = False) -> float:
    """Best daily (``"D"``), monthly (``"M"``) or calendar-year (``"Y"``) return. NaN if empty.
    ``from_base``: see `period_returns`."""
    return _extreme(_clean(returns) if freq == "D" else period_returns(returns, freq, from_base=from_base), True)


def worst_period(returns: pd.Series, freq: str = "D", *, from_base: bool = False) -> float:
    """Worst daily (``"D"``), monthly (``"M"``) or calendar-year (``"Y"``) return. NaN if empty."""
    return _extreme(_clean(returns) if freq == "D" else period_returns(returns, freq, from_base=from_base),
                    False)


def pct_positive_months(returns: pd.Series, *, from_base: bool = False) -> float:
    """Fraction of calendar months with a return > 0. NaN if there are no months."""
    m = period_returns(returns, "M", from_base=from_base)
    return float((m > 0).mean()) if len(m) else NAN


def _deviations(returns: pd.Series, at_least: int) -> tuple[np.ndarray, float] | None:
    """The returns' deviations from their mean and their second central moment ``m2``; None below
    ``at_least`` returns or with zero variance (the moments below are then NaN)."""
    r = _clean(returns).to_numpy()
    if len(r) < at_least:
        return None
    d = r - r.mean()
    m2 = float(np.mean(d**2))
    return (d, m2) if math.sqrt(m2) > TINY else None


def skewness(returns: pd.Series) -> float:
    """Population skewness ``m3 / m2 ** 1.5`` (central moments). NaN below three returns or zero variance."""
    moments = _deviations(returns, 3)
    if moments is None:
        return NAN
    d, m2 = moments
    return float(np.mean(d**3)) / m2**1.5


def kurtosis(returns: pd.Series) -> float:
    """Excess kurtosis ``m4 / m2 ** 2 - 3`` (population moments). NaN below four returns or zero variance."""
    moments = _deviations(returns, 4)
    if moments is None:
        return NAN
    d, m2 = moments
    return float(np.mean(d**4)) / m2**2 - 3.0


def value_at_risk(returns: pd.Series, *, level: float = 0.95) -> float:
    """Historical daily VaR: the ``1 - level`` quantile of daily returns (linear interpolation).

    NaN if empty."""
    r = _clean(returns).to_numpy()
    return float(np.quantile(r, 1.0 - level)) if len(r) else NAN


def conditional_value_at_risk(returns: pd.Series, *, level: float = 0.95) -> float:
    """Historical daily CVaR (expected shortfall): mean of the returns at or below the VaR. NaN if empty."""
    r = _clean(returns).to_numpy()
    if not len(r):
        return NAN
    var = np.quantile(r, 1.0 - level)
    return float(r[r <= var].mean())


TRAILING_YEARS = (1, 3, 5, 10)
TRAILING_KEYS = ("trailing_ytd", *(f"trailing_{n}y" + ("_ann" if n > 1 else "") for n in TRAILING_YEARS))


def trailing_anchors(last: pd.Timestamp) -> list[tuple[str, pd.Timestamp, int]]:
    """``(key, anchor, years)`` of every trailing return as of ``last`` (`trailing_returns`; years 0: YTD)."""
    anchors = [pd.Timestamp(last.year - 1, 12, 31)] + [last - pd.DateOffset(years=n) for n in TRAILING_YEARS]
    return list(zip(TRAILING_KEYS, anchors, (0, *TRAILING_YEARS), strict=True))


def trailing_returns(returns: pd.Series) -> dict[str, float]:
    """Returns as of the last date: ``ytd``, ``1y`` (cumulative) and ``3y``/``5y``/``10y`` (annualised).

    The base is the value on the last date at or before the anchor (31 Dec of the previous year for YTD,
    the same calendar day n years earlier otherwise). NaN where the series starts after the anchor.
    Annualised as ``(1 + R) ** (365.25 / days) - 1`` over the calendar days from base to last date.
    """
    w = wealth_index(returns)
    out = dict.fromkeys(TRAILING_KEYS, NAN)
    if w.empty:
        return out
    last = w.index[-1]
    for key, anchor, years in trailing_anchors(last):
        if w.index[0] > anchor:
            continue
        base = w.loc[:anchor]
        ret = float(w.iloc[-1] / base.iloc[-1] - 1.0)
        days = (last - base.index[-1]).days
        out[key] = (1.0 + ret) ** (DAYS_PER_YEAR / days) - 1.0 if years > 1 else ret
    return out


def rolling_return(returns: pd.Series, *, window: int = ROLLING_WINDOW) -> pd.Series:
    """Compounded return over the trailing ``window`` days; NaN for the first ``window - 1`` dates and for
    windows with a return at or below -100% (the value reached zero or below: no log return)."""
    r = _clean(returns)
    return np.expm1(np.log1p(r.where(r > -1.0)).rolling(window).sum())


def rolling_volatility(returns: pd.Series, *, window: int = ROLLING_WINDOW) -> pd.Series:
    """Annualised volatility over the trailing ``window`` days."""
    return _clean(returns).rolling(window).std(ddof=1) * math.sqrt(PERIODS_PER_YEAR)


def rolling_sharpe(returns: pd.Series, *, risk_free: pd.Series | None = None,
                   window: int = ROLLING_WINDOW) -> pd.Series:
    """Annualised Sharpe ratio over the trailing ``window`` days; NaN where volatility is zero."""
    ex = _excess(returns, risk_free)
    sd = ex.rolling(window).std(ddof=1)
    return (ex.rolling(window).mean() / sd.where(sd > TINY)) * math.sqrt(PERIODS_PER_YEAR)
