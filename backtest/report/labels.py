"""How each metric is shown: group, label, format kind and a one-line definition (docs/report.md has
the formulas). Metrics without an entry are still shown, under "Other", with a generic number format."""

from __future__ import annotations

# key: (label, kind, definition); kinds are those of `page.fmt`
GROUPS: list[tuple[str, dict[str, tuple[str, str, str]]]] = [
    ("Period", {
        "start": ("Start", "date", "First date of the series (the starting value)"),
        "end": ("End", "date", "Last date of the series"),
        "years": ("Years", "years", "Calendar days between start and end / 365.25"),
    }),
    ("Returns", {
        "total_return": ("Total return", "pct", "Final value / starting value - 1"),
        "cagr": ("CAGR", "pct", "(1 + total return) ^ (365.25 / calendar days) - 1"),
        "trailing_ytd": ("YTD", "pct", "Return since 31 Dec of the previous year"),
        "trailing_1y": ("1 year", "pct", "Return over the last year"),
        "trailing_3y_ann": ("3 years, annualised", "pct", "Annualised return over the last 3 years"),
        "trailing_5y_ann": ("5 years, annualised", "pct", "Annualised return over the last 5 years"),
        "trailing_10y_ann": ("10 years, annualised", "pct", "Annualised return over the last 10 years"),
        "best_day": ("Best day", "pct", "Highest daily return"),
        "worst_day": ("Worst day", "pct", "Lowest daily return"),
        "best_month": ("Best month", "pct", "Highest calendar-month return"),
        "worst_month": ("Worst month", "pct", "Lowest calendar-month return"),
        "best_year": ("Best year", "pct", "Highest calendar-year return (first/last may be partial)"),
        "worst_year": ("Worst year", "pct", "Lowest calendar-year return (first/last may be partial)"),
        "pct_positive_months": ("Positive months", "pct", "Share of calendar months with a return > 0"),
    }),
    ("Risk", {
        "volatility": ("Volatility", "pct", "Standard deviation of daily returns x sqrt(252)"),
        "sharpe": ("Sharpe ratio", "ratio", "Mean daily excess return / its std x sqrt(252)"),
        "sortino": ("Sortino ratio", "ratio", "Mean daily excess return / downside deviation x sqrt(252)"),
        "calmar": ("Calmar ratio", "ratio", "CAGR / |max drawdown|"),
        "var_95": ("Daily VaR 95%", "pct", "5th percentile of daily returns (historical)"),
        "cvar_95": ("Daily CVaR 95%", "pct", "Mean of the daily returns at or below the VaR"),
        "skew": ("Skew", "ratio", "Skewness of daily returns"),
        "kurtosis": ("Excess kurtosis", "ratio", "Kurtosis of daily returns minus 3"),
    }),
    ("Drawdowns", {
        "max_drawdown": ("Max drawdown", "pct", "Deepest fall from a running peak"),
        "max_drawdown_peak": ("Max drawdown peak", "date", "Last date at the peak before the max drawdown"),
        "max_drawdown_trough": ("Max drawdown trough", "date", "Date of the lowest point"),
        "max_drawdown_recovery": ("Max drawdown recovery", "date", "First date back at the peak"),
        "max_drawdown_days": ("Max drawdown length (days)", "days", "Days from peak to recovery or end"),
        "max_drawdown_recovery_days": ("Max drawdown recovery (days)", "days",
                                       "Calendar days from trough to recovery"),
        "longest_drawdown_days": ("Longest drawdown (days)", "days", "Longest time under a previous peak"),
        "longest_recovery_days": ("Longest recovery (days)", "days", "Longest trough-to-recovery time"),
    }),
    ("Against the benchmark", {
        "excess_return": ("Excess return, annualised", "pct_signed", "CAGR - benchmark CAGR"),
        "alpha": ("Alpha (Jensen), annualised", "pct_signed",
                  "(mean excess return - beta x mean benchmark excess return) x 252"),
        "beta": ("Beta", "ratio", "cov(excess, benchmark excess) / var(benchmark excess)"),
        "correlation": ("Correlation", "ratio", "Correlation of daily returns"),
        "r_squared": ("R²", "ratio", "Correlation squared"),
        "tracking_error": ("Tracking error", "pct", "Std of daily return differences x sqrt(252)"),
        "information_ratio": ("Information ratio", "ratio", "Mean daily difference x 252 / TE"),
        "up_capture": ("Up capture", "pct", "Geometric mean in benchmark up months, / benchmark's"),
        "down_capture": ("Down capture", "pct", "Geometric mean in benchmark down months, / benchmark's"),
    }),
    ("Trading", {
        "n_rebalances": ("Rebalances", "count", "Scheduled and drift rebalances that traded, the opening one "
                                                 "included"),
        "n_forced_sales": ("Forced sales", "count", "Other trading days: names sold when their prices end"),
        "total_turnover": ("Turnover, total", "pct", "Sum of one-sided turnover over every trading day"),
        "initial_turnover": ("Turnover, opening purchase", "pct", "One-sided turnover of the opening purchase"),
        "annual_turnover": ("Turnover, ongoing per year", "pct", "(Total - opening) turnover / years"),
        "forced_sale_turnover": ("Turnover, forced sales", "pct", "One-sided turnover of the forced sales"),
        "fees_paid": ("Commission paid", "money", "Commission paid, in currency (slippage: the next rows)"),
        "fee_drag": ("Commission drag, per year", "bps", "Sum of daily commission / portfolio value, per year"),
        "slippage_paid": ("Slippage paid", "money", "Sum over fills of shares x |fill price - close|, in "
                                                     "currency"),
        "slippage_drag": ("Slippage drag, per year", "bps", "Sum of daily slippage / portfolio value, per year"),
        "expense_ratio": ("Expense ratio, per year", "bps", "The fund expense ratio charged (expense_ratio)"),
        "borrow_drag": ("Borrow fee drag, per year", "bps", "The borrow fee charged on shorts each day (as a "
                                                            "fraction of value), summed, per year"),
        "cost_drag": ("Cost drag, per year", "bps", "Commission drag + slippage drag + expense ratio + borrow "
                                                    "fee drag"),
    }),
]

INFO: dict[str, tuple[str, str, str]] = {k: v for _, group in GROUPS for k, v in group.items()}


def info(key: str) -> tuple[str, str, str]:
    """(label, kind, definition) of a metric key; unknown keys get their key as label."""
    return INFO.get(key, (key.replace("_", " ").capitalize(), "num", ""))
