"""Trading activity from the engine's turnover and costs: turnover, rebalances, forced sales, cost drag."""

from __future__ import annotations

import pandas as pd

from .series import NAN, span_years

TRADING_KEYS = ("total_turnover", "initial_turnover", "annual_turnover", "n_rebalances", "n_forced_sales",
                "forced_sale_turnover", "fees_paid", "fee_drag", "slippage_paid", "slippage_drag",
                "expense_ratio", "borrow_drag", "cost_drag")


def trading_metrics(turnover: pd.Series | None, fees: pd.Series | None,
                    equity: pd.Series | None = None, *, rebalances: pd.Index | None = None,
                    expense_ratio: float = 0.0, slippage: pd.Series | None = None,
                    borrow_charged: float = 0.0) -> dict[str, float]:
    """Turnover, rebalances and costs.

    ``turnover``: one-sided turnover per trading date (fraction of portfolio value); ``fees``: daily
    commission paid (currency; ``fees_paid``, ``fee_drag``); ``equity``: daily portfolio value, for the
    annualisation and the drags; ``rebalances``: the dates the rebalance orders filled (the opening purchase
    first), None = every date with turnover; ``expense_ratio``: the yearly fund expense ratio the strategy
    was charged; ``slippage``: daily slippage paid (currency: shares x |fill price - close| summed over the
    day's fills; ``slippage_paid``, ``slippage_drag``), on the dates of ``fees``; ``borrow_charged``: the
    borrow fee's daily charges on shorts (each a fraction of the value) summed over the series' days (0:
    no borrow fee).

    ``initial_turnover`` is the opening purchase's (the first rebalance); ``annual_turnover`` the rest (the
    ongoing turnover) per year. ``n_rebalances`` counts rebalances with non-zero turnover, the opening one
    included; ``n_forced_sales`` / ``forced_sale_turnover`` the other trading days (sales of names whose
    prices end). ``fee_drag`` / ``slippage_drag``: the sum of the daily cost / portfolio value, per year;
    ``borrow_drag``: ``borrow_charged`` per year. ``cost_drag`` is ``fee_drag + slippage_drag +
    expense_ratio + borrow_drag``. NaN where an input is missing (``cost_drag`` without ``slippage``, too).
    """
    years = span_years(equity.index) if equity is not None else NAN
    out = dict.fromkeys(TRADING_KEYS, NAN)
    if turnover is not None:
        t = turnover.astype(float).dropna()
        t = t[t > 0]
        planned = t.index if rebalances is None else t.index.intersection(pd.Index(rebalances))
        first = pd.Index(rebalances)[:1] if rebalances is not None else t.index[:1]
        initial = float(t.reindex(first).fillna(0.0).sum())
        forced = t.drop(planned)
        out["total_turnover"] = float(t.sum())
        out["initial_turnover"] = initial
        out["annual_turnover"] = float(t.sum() - initial) / years if years > 0 else NAN
        out["n_rebalances"] = float(len(planned))
        out["n_forced_sales"] = float(len(forced))
        out["forced_sale_turnover"] = float(forced.sum())
    if fees is not None:
        f = fees.astype(float).fillna(0.0)
        out["fees_paid"] = float(f.sum())
        if equity is not None and years > 0:
            out["fee_drag"] = float((f / equity.reindex(f.index)).sum()) / years
    if slippage is not None:
        s = slippage.astype(float).fillna(0.0)
        out["slippage_paid"] = float(s.sum())
        if equity is not None and years > 0:
            out["slippage_drag"] = float((s / equity.reindex(s.index)).sum()) / years
    if turnover is not None or fees is not None:    # a strategy's (a benchmark has neither: NaN)
        out["expense_ratio"] = float(expense_ratio)
        out["borrow_drag"] = float(borrow_charged) / years if years > 0 else NAN
        out["cost_drag"] = out["fee_drag"] + out["slippage_drag"] + float(expense_ratio) + out["borrow_drag"]
    return out
