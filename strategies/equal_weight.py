"""Equal weight: 1/N over the eligible universe on the decision date (e.g. the S&P 493), per company or per
share-class line.

The steps, each a plain function::

    slots = equal_slots(universe, per)         # select: one slot per company (default) or per line
    caps = class_caps(inputs)                  # caps of the lines from share counts known on the date
    weights = fill_slots(slots, caps)          # weigh: 1/N per slot, a company's classes split by cap

``per: company`` (the default): a company with several share classes in the universe (Alphabet's GOOG and
GOOGL, Fox's FOX and FOXA, News Corp's NWS and NWSA; the table is ``backtest.universe.SHARE_CLASSES``) gets
one slot, split between its classes in proportion to their market caps on the date. Only share counts
observed on or before the decision date are used for that split (no look-ahead); when a class present has
no such count, the company's slot is split equally between its classes and a note names them.
``per: line``: every share-class line is a slot of its own (as RSP holds them: two index members, two
holdings); Alphabet then gets 2/N.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from backtest.errors import DataError
from backtest.universe import SHARE_CLASSES, companies
from strategies.base import DecisionInputs, Weights, finalise

PER = ("company", "line")


def equal_weights(tickers: Iterable[str]) -> pd.Series:
    """1/N for each distinct ticker: Series indexed by ticker (sorted)."""
    names = sorted(set(tickers))
    return pd.Series(1.0 / len(names), index=pd.Index(names), dtype="float64")


def equal_slots(tickers: Iterable[str], per: str = "company",
                classes: Mapping[str, str] = SHARE_CLASSES) -> dict[str, tuple[str, ...]]:
    """``{slot: (tickers sharing it, sorted)}``: one slot per company (``per="company"``, keyed by company
    key) or per ticker (``per="line"``)."""
    if per not in PER:
        raise ValueError(f"per must be one of {PER}, got {per!r}")
    names = sorted(set(tickers))
    if per == "line":
        return {t: (t,) for t in names}
    return companies(names, classes)


def class_caps(inputs: DecisionInputs, tickers: Iterable[str]) -> pd.Series:
    """Market caps of ``tickers`` on ``inputs.date`` from share counts observed on or before the date
    (``inputs.known_shares()``): Series indexed by ticker, NaN where there is no such count."""
    tickers = list(tickers)
    shares = inputs.known_shares().reindex(tickers)
    prices = inputs.last_prices().reindex(tickers)
    caps = (shares * prices).astype("float64")
    return caps.where(caps > 0)


def fill_slots(slots: Mapping[str, tuple[str, ...]], caps: pd.Series | None = None,
               total: float = 1.0) -> tuple[pd.Series, tuple[str, ...]]:
    """``total / len(slots)`` per slot; a slot of several tickers is split by ``caps`` (Series indexed by
    ticker, NaN = unknown), or equally when a ticker of the slot has no cap.

    Returns the weights (Series indexed by ticker, sorted, summing to ``total``) and the tickers of the
    slots that were split equally for lack of a cap (sorted).
    """
    if not slots:
        raise ValueError("no slots to weigh")
    each = total / len(slots)
    parts: dict[str, float] = {}
    equal_split: list[str] = []
    for lines in slots.values():
        if len(lines) == 1:     # most slots: one line, no cap needed (a pandas reindex per slot was the cost)
            parts[lines[0]] = each
            continue
        c = (caps if caps is not None else pd.Series(dtype="float64")).reindex(list(lines))
        if len(lines) > 1 and c.notna().all() and (c > 0).all():
            parts.update((c / c.sum() * each).to_dict())
        else:
            if len(lines) > 1:
                equal_split.extend(lines)
            parts.update({t: each / len(lines) for t in lines})
    out = pd.Series(parts, dtype="float64").sort_index()
    return out, tuple(sorted(equal_split))


def split_note(date: pd.Timestamp, tickers: tuple[str, ...]) -> str:
    """The note for company slots split equally because a class has no share count known on the date."""
    return (f"{date:%Y-%m-%d}: per company: a share class has no share count observed on or before the date, "
            f"so its company's slot is split equally between its classes: {', '.join(tickers)}")


def weigh(spec: Any, inputs: DecisionInputs) -> Weights:
    """Equal weights over ``inputs.universe``, one slot per company (``spec.per``, default ``"company"``) or
    per line (``"line"``).

    Returns
    -------
    Weights
        Per ticker (sorted) summing to 1; a note per date when a company's classes were split equally for
        lack of a share count.

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
    per = getattr(spec, "per", "company") or "company"
    slots = equal_slots(inputs.universe, per)
    multi = [t for lines in slots.values() if len(lines) > 1 for t in lines]
    caps = class_caps(inputs, multi) if multi else None
    weights, equal_split = fill_slots(slots, caps)
    notes = (split_note(inputs.date, equal_split),) if equal_split else ()
    return Weights(finalise(weights), notes)
