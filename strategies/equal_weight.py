"""Equal weight: 1/N over the eligible universe on the decision date (e.g. the S&P 493).

GOOG and GOOGL are two share classes of one company; with the index's point-in-time membership both are
members, so both are held at 1/N each (Alphabet gets 2/N), exactly as an equal-weight index of index
members would (RSP holds both classes). To treat Alphabet as one name, exclude one class in the universe.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from backtest.errors import DataError
from strategies.base import DecisionInputs, Weights, finalise


def equal_weights(tickers: tuple[str, ...]) -> pd.Series:
    """1/N for each distinct ticker: Series indexed by ticker (sorted)."""
    names = sorted(set(tickers))
    return pd.Series(1.0 / len(names), index=pd.Index(names), dtype="float64")


def weigh(spec: Any, inputs: DecisionInputs) -> Weights:
    """Equal weights over ``inputs.universe``.

    Returns
    -------
    Weights
        1/N per universe ticker (sorted), no notes.

    Raises
    ------
    DataError
        The universe is empty on the date.
    """
    if not inputs.universe:
        who = getattr(spec, "name", None)
        raise DataError(
            f"{'strategy ' + repr(who) + ': ' if who else ''}the universe is empty on "
            f"{inputs.date:%Y-%m-%d}; "
            "check the universe spec (index, tickers, exclude) and that prices cover this date"
        )
    return Weights(finalise(equal_weights(inputs.universe)))
