"""Fixed weights: the same target mix at every rebalance (e.g. core/satellite SPY 70% + AVUV 30%).

``weigh`` reads ``spec.weights``, a mapping ticker -> weight (the config guarantees non-negative values that
sum to one; they are renormalised here to remove rounding). ``inputs.universe`` is not used: the tickers are
the ones named in the spec. Every named ticker must have a price on the decision date; there is no silent
fallback to the others, because that would quietly change the strategy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from backtest.errors import DataError
from strategies.base import DecisionInputs, Weights, finalise, normalise


def target_weights(weights: Mapping[str, float]) -> pd.Series:
    """The spec's mapping as a normalised Series indexed by ticker (zero entries kept until finalise)."""
    if not weights:
        raise ValueError("fixed weights: the mapping is empty")
    return normalise(pd.Series({str(t): float(w) for t, w in weights.items()}, dtype="float64"))


def require_prices(tickers: pd.Index, inputs: DecisionInputs, strategy: str | None = None) -> None:
    """Raise ``DataError`` naming every ticker of ``tickers`` without a price on ``inputs.date``."""
    history = inputs.history
    on_date = history.loc[inputs.date] if inputs.date in history.index else pd.Series(dtype="float64")
    missing = [t for t in tickers if pd.isna(on_date.get(t))]
    if not missing:
        return
    details, not_yet, stopped = [], [], []
    for t in missing:
        seen = history[t].last_valid_index() if t in history.columns else None
        details.append(f"{t} (last price {seen:%Y-%m-%d})" if seen is not None else f"{t} (no price yet)")
        (stopped if seen is not None else not_yet).append(t)
    fixes = []
    if not_yet:
        fixes.append(f"choose a later start date, or splice a proxy with a longer history "
                     f"(e.g. proxies: {{{not_yet[0]}: <PROXY>}})")
    if stopped:  # its prices ended (delisting) or have a gap on this date: a later start would not help
        last = max(history[t].last_valid_index() for t in stopped)
        fixes.append(f"{', '.join(stopped)}: prices stop or have a gap there; if they stop, end the run earlier "
                     f"(`end: {last:%Y-%m-%d}` or before, the last price); if it is a gap, import the missing "
                     "prices (bt data import FILE) or move the rebalance day off it (e.g. rebalance: {every: "
                     "monthly, day: 2}); or take it out of the weights")
    who = f"strategy {strategy!r}: " if strategy else ""
    raise DataError(
        f"{who}fixed weights name {len(missing)} ticker(s) without a price on {inputs.date:%Y-%m-%d}: "
        f"{', '.join(details)}; {'; '.join(fixes)}"
    )


def weigh(spec: Any, inputs: DecisionInputs) -> Weights:
    """Fixed weights from ``spec.weights`` on ``inputs.date``.

    Returns
    -------
    Weights
        ``weights`` indexed by the spec's tickers with a positive weight (sorted), summing to 1; no notes.

    Raises
    ------
    DataError
        A ticker with a positive weight has no price on the date (message names ticker, date and the fix).
    """
    weights = target_weights(spec.weights)
    weights = weights[weights > 0]
    require_prices(weights.index, inputs, getattr(spec, "name", None))
    return Weights(finalise(weights))
