"""Metrics of a return series against a benchmark's (beta, alpha, correlation, tracking error, information
ratio, capture ratios, rolling beta), on their common dates; the conventions of `backtest.metrics.series`."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .series import NAN, PERIODS_PER_YEAR, ROLLING_WINDOW, TINY, _clean, _excess, cagr, period_returns

def _aligned(returns: pd.Series, benchmark_returns: pd.Series) -> tuple[pd.Series, pd.Series]:
    both = pd.concat([_clean(returns), _clean(benchmark_returns)], axis=1, join="inner").dropna()
    return both.iloc[:, 0], both.iloc[:, 1]


def excess_return(returns: pd.Series, benchmark_returns: pd.Series) -> float:
    """Annualised excess return: ``cagr(r) - cagr(b)`` on the common dates."""
    r, b = _aligned(returns, benchmark_returns)
    return cagr(r) - cagr(b)


def beta(returns: pd.Series, benchmark_returns: pd.Series, *, risk_free: pd.Series | None = None) -> float:
    """``cov(r - rf, b - rf) / var(b - rf)`` (ddof=1). NaN below two common dates or a flat benchmark."""
    r, b = _aligned(returns, benchmark_returns)
    r, b = _excess(r, risk_free), _excess(b, risk_free)
    if len(r) < 2 or float(b.std(ddof=1)) <= TINY:
        return NAN
    return float(np.cov(r, b, ddof=1)[0, 1] / b.var(ddof=1))


def alpha(returns: pd.Series, benchmark_returns: pd.Series, *, risk_free: pd.Series | None = None) -> float:
    """Jensen's alpha, annualised arithmetically: ``(mean(r - rf) - beta * mean(b - rf)) * 252``."""
    r, b = _aligned(returns, benchmark_returns)
    bt = beta(r, b, risk_free=risk_free)
    r, b = _excess(r, risk_free), _excess(b, risk_free)
    return (float(r.mean()) - bt * float(b.mean())) * PERIODS_PER_YEAR if not math.isnan(bt) else NAN


def correlation(returns: pd.Series, benchmark_returns: pd.Series) -> float:
    """Pearson correlation of daily returns. NaN below two common dates or zero variance."""
    r, b = _aligned(returns, benchmark_returns)
    if len(r) < 2 or float(r.std(ddof=1)) <= TINY or float(b.std(ddof=1)) <= TINY:
        return NAN
    return float(np.corrcoef(r, b)[0, 1])


def r_squared(returns: pd.Series, benchmark_returns: pd.Series) -> float:
    """Square of :func:`correlation`."""
    return correlation(returns, benchmark_returns) ** 2


def tracking_error(returns: pd.Series, benchmark_returns: pd.Series) -> float:
    """``std(r - b, ddof=1) * sqrt(252)``. NaN below two common dates."""
    r, b = _aligned(returns, benchmark_returns)
    return float((r - b).std(ddof=1) * math.sqrt(PERIODS_PER_YEAR)) if len(r) >= 2 else NAN


def information_ratio(returns: pd.Series, benchmark_returns: pd.Series) -> float:
    """``mean(r - b) * 252 / tracking_error``. NaN when the tracking error is zero or undefined."""
    r, b = _aligned(returns, benchmark_returns)
    te = tracking_error(r, b)
    return float((r - b).mean()) * PERIODS_PER_YEAR / te if te > TINY else NAN


def geo_mean(x: pd.Series) -> float:
    """Geometric mean of simple returns: ``prod(1 + x) ** (1 / n) - 1``."""
    return float((1.0 + x).prod() ** (1.0 / len(x)) - 1.0)


def _capture(returns: pd.Series, benchmark_returns: pd.Series, up: bool, from_base: bool) -> float:
    r, b = _aligned(returns, benchmark_returns)
    rm, bm = period_returns(r, "M", from_base=from_base), period_returns(b, "M", from_base=from_base)
    mask = bm > 0 if up else bm < 0
    if not mask.any():
        return NAN
    denom = geo_mean(bm[mask])
    return geo_mean(rm[mask]) / denom if abs(denom) > TINY else NAN


def up_capture(returns: pd.Series, benchmark_returns: pd.Series, *, from_base: bool = False) -> float:
    """Geometric-mean monthly return of the strategy over the benchmark's up months, divided by the
    benchmark's. NaN without up months. The calendar months of the common dates, as `period_returns` makes
    them: ``from_base``, the first common date (a run's base close) counts in the second date's month."""
    return _capture(returns, benchmark_returns, True, from_base)


def down_capture(returns: pd.Series, benchmark_returns: pd.Series, *, from_base: bool = False) -> float:
    """As :func:`up_capture` over the benchmark's down months (below 1 = loses less than the benchmark)."""
    return _capture(returns, benchmark_returns, False, from_base)


def rolling_beta(returns: pd.Series, benchmark_returns: pd.Series, *, risk_free: pd.Series | None = None,
                 window: int = ROLLING_WINDOW) -> pd.Series:
    """Beta against the benchmark over the trailing ``window`` days (common dates), on returns in excess of
    ``risk_free`` as :func:`beta` (its last value over the whole series is `beta`)."""
    r, b = _aligned(returns, benchmark_returns)
    r, b = _excess(r, risk_free), _excess(b, risk_free)
    var = b.rolling(window).var(ddof=1)
    return r.rolling(window).cov(b, ddof=1) / var.where(var > TINY**2)


RELATIVE_KEYS = ("excess_return", "beta", "alpha", "correlation", "r_squared", "tracking_error",
                 "information_ratio", "up_capture", "down_capture")


def relative_metrics(returns: pd.Series, benchmark_returns: pd.Series,
                     risk_free: pd.Series | None = None, *, from_base: bool = False) -> dict[str, float]:
    """The benchmark-relative metrics (`RELATIVE_KEYS`) of ``returns`` against ``benchmark_returns``; all NaN
    when the value of ``returns`` reaches zero or below (a return at or below -100%: `compute_metrics`).
    ``from_base``: the series are a run's, starting at its base close (the capture ratios' months, see
    `period_returns`)."""
    r = _clean(returns)
    if (r <= -1.0).any() or (_clean(benchmark_returns) <= -1.0).any():   # either value reached zero or below
        return dict.fromkeys(RELATIVE_KEYS, NAN)
    b = benchmark_returns
    return {
        "excess_return": excess_return(r, b),
        "beta": beta(r, b, risk_free=risk_free),
        "alpha": alpha(r, b, risk_free=risk_free),
        "correlation": correlation(r, b),
        "r_squared": r_squared(r, b),
        "tracking_error": tracking_error(r, b),
        "information_ratio": information_ratio(r, b),
        "up_capture": up_capture(r, b, from_base=from_base),
        "down_capture": down_capture(r, b, from_base=from_base),
    }
