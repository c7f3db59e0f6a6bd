"""Example user weighting functions for `weighting: {python: ...}` (used by the tests and docs/config.md)."""

from __future__ import annotations

import pandas as pd

from strategies import Weights


def cheapest_half(spec, inputs) -> pd.Series:
    """Equal weight of the lower-priced half of the universe on the decision date (ties by ticker)."""
    prices = inputs.last_prices().reindex(sorted(inputs.universe))
    chosen = prices.sort_values(kind="stable").index[: max(1, len(prices) // 2)]
    return pd.Series(1.0 / len(chosen), index=chosen)


def with_note(spec, inputs) -> Weights:
    names = sorted(inputs.universe)
    return Weights(pd.Series(1.0 / len(names), index=names), (f"{inputs.date:%Y-%m-%d}: custom: hello",))


def not_summing(spec, inputs) -> pd.Series:
    return pd.Series(0.5, index=sorted(inputs.universe))


def negative(spec, inputs) -> pd.Series:
    names = sorted(inputs.universe)
    return pd.Series([-1.0] + [2.0 / (len(names) - 1)] * (len(names) - 1), index=names)


def raising(spec, inputs) -> pd.Series:
    raise ValueError("oops")


def one_argument(inputs) -> pd.Series:
    return pd.Series(1.0, index=["A"])


def outside_universe(spec, inputs) -> pd.Series:
    return pd.Series(1.0, index=["XOM"])
