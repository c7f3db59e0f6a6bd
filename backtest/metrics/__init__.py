"""Performance metrics: pure functions of daily simple-return series (conventions: `backtest.metrics.series`).

- `series`: one series (returns, volatility, Sharpe/Sortino, drawdowns, calendar periods, trailing, rolling);
- `relative`: against a benchmark (beta, alpha, correlation, tracking error, capture ratios, rolling beta);
- `trading`: turnover, rebalances and costs from the engine's records;
- here: `compute_metrics`, every metric of one series in a fixed key order (docs/report.md).

Everything is importable from here (``from backtest import metrics as M``; ``M.sharpe_ratio``).
"""

from __future__ import annotations

import pandas as pd

from .relative import (
    RELATIVE_KEYS,
    alpha,
    beta,
    correlation,
    down_capture,
    excess_return,
    geo_mean,
    information_ratio,
    r_squared,
    relative_metrics,
    rolling_beta,
    tracking_error,
    up_capture,
)
from .series import (
    DAYS_PER_YEAR,
    NAN,
    PERIODS_PER_YEAR,
    ROLLING_WINDOW,
    TINY,
    TRAILING_KEYS,
    TRAILING_YEARS,
    _clean,
    annual_returns,
    annual_volatility,
    best_period,
    cagr,
    calmar_ratio,
    conditional_value_at_risk,
    drawdown,
    drawdown_table,
    kurtosis,
    max_drawdown,
    monthly_returns_table,
    partial_years,
    pct_positive_months,
    period_returns,
    rolling_return,
    rolling_sharpe,
    rolling_volatility,
    sharpe_ratio,
    simple_returns,
    skewness,
    sortino_ratio,
    span_years,
    top_drawdowns,
    total_return,
    trailing_anchors,
    trailing_returns,
    value_at_risk,
    wealth_index,
    worst_period,
)
from .trading import TRADING_KEYS, trading_metrics

__all__ = [
    "DAYS_PER_YEAR", "NAN", "PERIODS_PER_YEAR", "RELATIVE_KEYS", "ROLLING_WINDOW", "TINY", "TRADING_KEYS",
    "TRAILING_KEYS", "TRAILING_YEARS", "alpha", "annual_returns", "annual_volatility", "best_period", "beta",
    "cagr", "calmar_ratio", "compute_metrics", "conditional_value_at_risk", "correlation", "down_capture",
    "drawdown", "drawdown_table", "excess_return", "geo_mean", "information_ratio", "kurtosis", "max_drawdown",
    "monthly_returns_table", "partial_years", "pct_positive_months", "period_returns", "r_squared",
    "relative_metrics", "rolling_beta", "rolling_return", "rolling_sharpe", "rolling_volatility",
    "sharpe_ratio", "simple_returns", "skewness", "sortino_ratio", "span_years", "top_drawdowns",
    "total_return", "tracking_error", "trading_metrics", "trailing_anchors", "trailing_returns",
    "up_capture", "value_at_risk", "wealth_index", "worst_period",
]


def compute_metrics(returns: pd.Series, benchmark_returns: pd.Series | None = None,
                    risk_free: pd.Series | None = None, *, turnover: pd.Series | None = None,
                    fees: pd.Series | None = None, equity: pd.Series | None = None,
                    rebalances: pd.Index | None = None, expense_ratio: float = 0.0,
                    from_base: bool = False, slippage: pd.Series | None = None,
                    borrow_charged: float = 0.0) -> dict[str, float | str]:
    """Every metric of one series, in a fixed key order (see docs/report.md for the definitions).

    Dates (``start``, ``end``, ``max_drawdown_peak/trough/recovery``) are ISO strings, NaN when undefined;
    every other value is a float (fractions, not percent). Benchmark-relative keys are NaN when
    ``benchmark_returns`` is None; trading keys are NaN when ``turnover``/``fees`` are None (the slippage
    keys and ``cost_drag`` when ``slippage`` is: see `trading_metrics`, also for ``borrow_charged``).
    ``from_base``: the series is a run's, starting at its base close (see `period_returns`): the
    calendar-month and -year keys (the capture ratios too) count its first date, the base, in the second
    date's month and year.

    A series whose value reaches zero or below (a daily return at or below -100%: a short position outgrew
    the account) has every metric NaN but ``start``, ``end`` and ``years``: its returns after that day are
    ratios of non-positive values, which measure nothing (the run warns, `engine.simulate.wiped_out_notes`).
    """
    r = _clean(returns)

    def day(ts) -> float | str:
        return ts.strftime("%Y-%m-%d") if not pd.isna(ts) else NAN

    if (r <= -1.0).any():
        undefined = compute_metrics(r.iloc[:0])     # every key, in order, NaN
        return {**undefined, "start": day(r.index[0]), "end": day(r.index[-1]), "years": span_years(r.index)}

    top = top_drawdowns(r, 1)
    table = drawdown_table(r)
    worst = top.iloc[0] if len(top) else None
    m: dict[str, float | str] = {
        "start": day(r.index[0]) if len(r) else NAN,
        "end": day(r.index[-1]) if len(r) else NAN,
        "years": span_years(r.index),
        "total_return": total_return(r),
        "cagr": cagr(r),
        "volatility": annual_volatility(r),
        "sharpe": sharpe_ratio(r, risk_free=risk_free),
        "sortino": sortino_ratio(r, risk_free=risk_free),
        "max_drawdown": max_drawdown(r),
        "max_drawdown_peak": day(worst["peak"]) if worst is not None else NAN,
        "max_drawdown_trough": day(worst["trough"]) if worst is not None else NAN,
        "max_drawdown_recovery": day(worst["recovery"]) if worst is not None else NAN,
        "max_drawdown_days": float(worst["days"]) if worst is not None else NAN,
        "max_drawdown_recovery_days": float(worst["recovery_days"]) if worst is not None else NAN,
        "longest_drawdown_days": float(table["days"].max()) if len(table) else (0.0 if len(r) else NAN),
        "longest_recovery_days": float(table["recovery_days"].max()) if len(table) else NAN,
        "calmar": calmar_ratio(r),
        "best_day": best_period(r, "D"),
        "worst_day": worst_period(r, "D"),
        "best_month": best_period(r, "M", from_base=from_base),
        "worst_month": worst_period(r, "M", from_base=from_base),
        "best_year": best_period(r, "Y", from_base=from_base),
        "worst_year": worst_period(r, "Y", from_base=from_base),
        "pct_positive_months": pct_positive_months(r, from_base=from_base),
        "skew": skewness(r),
        "kurtosis": kurtosis(r),
        "var_95": value_at_risk(r, level=0.95),
        "cvar_95": conditional_value_at_risk(r, level=0.95),
    }
    m.update(trailing_returns(r))
    m.update(trading_metrics(turnover, fees, equity, rebalances=rebalances, expense_ratio=expense_ratio,
                             slippage=slippage, borrow_charged=borrow_charged))
    has_b = benchmark_returns is not None
    m.update(relative_metrics(r, benchmark_returns, risk_free, from_base=from_base) if has_b
             else dict.fromkeys(RELATIVE_KEYS, NAN))
    return m
