"""Signals on closes up to the decision date: selection before weighting, a conditional tilt, a trend filter.

Each is a small step around a family's ``weigh`` (see :func:`strategies.weigh`), reading only
``inputs.history`` (which stops at the decision close):

- :func:`select`: keep the ``top`` / ``bottom`` N universe companies (or share-class lines, with
  ``per: line``) by trailing ``momentum`` or ``volatility``, then weigh only their lines;
- :func:`group_leads`: whether a group's trailing return beats the rest of the universe (a tilt with
  ``while_leading`` applies only then);
- :func:`trend_is_down`: whether a ticker's close is below its N-day average (a strategy with ``trend``
  then holds its defensive ticker instead).

Definitions (T = the decision date's row, closes indexed by trading day):

- momentum = ``close[T - skip] / close[T - lookback] - 1`` (12-1 momentum: lookback 252, skip 21);
- volatility = standard deviation (ddof 1) of the ``lookback`` daily simple returns ending at T;
- a name needs a close on every one of the ``lookback + 1`` days ending at T; names without are left out of
  the selection and named in a note;
- ties are broken by ticker (company key), so the selection is deterministic.

Companies, not lines (``per: company``, the default): a company with several share classes in the universe
(Alphabet's GOOGL and GOOG; ``backtest.universe.SHARE_CLASSES``) is ranked once, by the score of its company
key line (its first-listed class: GOOGL, FOXA, NWSA, UAA, WBD, CMCSA), or, when that line has no full window,
of its first other class (sorted) that has one. The classes of one company are claims on the same business,
so their trailing returns and volatilities differ by basis points, and one line's price needs no share
count (a combined market value would need counts observed before the window, which the snapshot lacks for
some classes). A chosen company keeps all of its lines in the universe; the weighting then holds them as it
always does (``equal`` splits the company's one slot between them by market cap; ``cap`` holds each at its
own cap). ``top: 50`` is 50 companies, so 51 lines when Alphabet is among them. ``per: line`` ranks and
counts every line on its own (both Alphabet lines can take two of the N places).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from backtest.errors import DataError
from backtest.universe import companies, company_of
from strategies.base import DecisionInputs, Weights, finalise

MEASURES = ("momentum", "volatility")


def _window(inputs: DecisionInputs, names, lookback: int, what: str) -> pd.DataFrame:
    """The last ``lookback + 1`` closes of ``names`` (rows = trading days ending at the decision date)."""
    window = inputs.history.reindex(columns=sorted(set(names))).iloc[-(lookback + 1):]
    if len(window) < lookback + 1:
        raise DataError(f"{inputs.date:%Y-%m-%d}: {what} needs {lookback + 1} trading days of prices up to the "
                        f"decision date, the history has {len(window)}; start the run later or shorten the "
                        "lookback")
    return window


def scores(inputs: DecisionInputs, by: str, lookback: int, skip: int = 0) -> tuple[pd.Series, list[str]]:
    """Momentum or volatility of each universe name with a full window: (Series by ticker, names left out)."""
    window = _window(inputs, inputs.universe, lookback, f"select by {by}")
    full = window.notna().all()
    window = window.loc[:, full]
    if by == "momentum":
        values = window.iloc[-1 - skip] / window.iloc[0] - 1.0
    elif by == "volatility":
        values = window.pct_change().iloc[1:].std(ddof=1)
    else:
        raise ValueError(f"select.by must be one of {MEASURES}, got {by!r}")
    return values.astype("float64"), full.index[~full].tolist()


def company_scores(values: pd.Series, universe) -> tuple[pd.Series, dict[str, tuple[str, ...]], dict[str, str]]:
    """One score per company from the line scores ``values`` (Series by ticker, lines with a full window).

    Returns (scores indexed by company key, ``{company key: its universe lines}``, ``{company key: the line
    scored}``); a company none of whose lines has a score is left out of the scores."""
    groups = companies(sorted(set(universe)))
    out, used = {}, {}
    for key, lines in groups.items():
        for line in ([key] if key in lines else []) + [t for t in lines if t != key]:
            if line in values.index:
                out[key], used[key] = float(values[line]), line
                break
    return pd.Series(out, dtype="float64"), groups, used


def select(sel: Any, inputs: DecisionInputs, per: str = "company") -> tuple[DecisionInputs, tuple[str, ...]]:
    """``inputs`` with the universe narrowed to the ``sel.top`` highest or ``sel.bottom`` lowest scores: of
    companies (``per="company"``: each keeps all its universe lines) or of lines (``per="line"``).

    ``sel`` has ``by``, ``lookback``, ``skip``, ``top``, ``bottom`` (exactly one of top and bottom).
    Returns the new inputs and notes (names without a full window; fewer names than asked; a company scored
    by a class other than its key line).
    """
    day = f"{inputs.date:%Y-%m-%d}"
    values, short = scores(inputs, sel.by, sel.lookback, sel.skip)
    notes = []
    if per == "company":
        values, groups, used = company_scores(values, inputs.universe)
        short = [t for key, lines in groups.items() if key not in used for t in lines]
        other = [f"{key} by {line}" for key, line in used.items() if line != key and key in groups[key]]
        if other:
            notes.append(f"{day}: select: company scored by another share class (its key line has no full "
                         f"{sel.lookback}-day window): {', '.join(other)}")
        what = "companies"
    else:
        groups = {t: (t,) for t in set(inputs.universe)}
        what = "names"
    if short:
        notes.insert(0, f"{day}: select: {len(short)} universe names have no full {sel.lookback}-day window and "
                        f"were not ranked: {', '.join(short)}")
    n = sel.top if sel.top is not None else sel.bottom
    frame = pd.DataFrame({"score": values.to_numpy(), "ticker": values.index})
    frame = frame.sort_values(["score", "ticker"], ascending=[sel.bottom is not None, True], kind="stable")
    keys = list(frame["ticker"].iloc[:n])
    if not keys:
        raise DataError(f"{day}: select by {sel.by}: no universe name has a full {sel.lookback}-day window; "
                        "start the run later or shorten select.lookback")
    if len(keys) < n:
        notes.append(f"{day}: select: only {len(keys)} {what} could be ranked, fewer than the {n} asked")
    chosen = tuple(sorted(t for key in keys for t in groups[key]))
    return replace(inputs, universe=chosen), tuple(notes)


def group_leads(inputs: DecisionInputs, members, names, lookback: int) -> tuple[bool, float, float]:
    """Whether the equal-weighted trailing return of ``members`` beats that of the other ``names``.

    Returns (leads, group return, rest return); each return is the mean over COMPANIES with a full window of
    ``close[T] / close[T - lookback] - 1`` (a company with two share-class lines, GOOGL and GOOG, counts once,
    at the mean of its lines). A side without any such company does not lead.
    """
    window = _window(inputs, names, lookback, "tilt.while_leading")
    full = window.loc[:, window.notna().all()]
    change = full.iloc[-1] / full.iloc[0] - 1.0
    change = change.groupby(change.index.map(company_of), sort=True).mean()
    inside = change.index.isin({company_of(t) for t in members})
    group, rest = change[inside], change[~inside]
    if group.empty or rest.empty:
        return False, float(group.mean()) if len(group) else np.nan, float(rest.mean()) if len(rest) else np.nan
    return bool(group.mean() > rest.mean()), float(group.mean()), float(rest.mean())


def trend_is_down(inputs: DecisionInputs, ticker: str, days: int) -> tuple[bool, float, float]:
    """Whether ``ticker``'s close on the decision date is below the mean of its last ``days`` closes
    (the decision date included). Returns (down, close, average)."""
    window = _window(inputs, [ticker], days - 1, "trend")[ticker]
    if window.isna().any():
        raise DataError(f"{inputs.date:%Y-%m-%d}: trend: {ticker} lacks a close on some of the {days} days up to "
                        "the decision date; choose a ticker with a full history or start later")
    close, average = float(window.iloc[-1]), float(window.mean())
    return close < average, close, average


def defensive(spec: Any, inputs: DecisionInputs) -> Weights | None:
    """100% in ``spec.trend.defensive`` when the trend is down, else None (weigh as usual)."""
    trend = getattr(spec, "trend", None)
    if trend is None:
        return None
    down, close, average = trend_is_down(inputs, trend.ticker, trend.days)
    if not down:
        return None
    price = inputs.history[trend.defensive].iloc[-1] if trend.defensive in inputs.history.columns else np.nan
    if pd.isna(price):
        raise DataError(f"{inputs.date:%Y-%m-%d}: trend: the defensive ticker {trend.defensive} has no price on "
                        "the decision date; choose one with prices over the whole run (e.g. BIL or SHY)")
    note = (f"{inputs.date:%Y-%m-%d}: trend: {trend.ticker} closed at {close:.2f}, below its {trend.days}-day "
            f"average {average:.2f}: holding {trend.defensive}")
    return Weights(finalise(pd.Series({trend.defensive: 1.0})), (note,))
