"""What every strategy family receives and returns.

A strategy is a pure function ``weigh(spec, inputs) -> Weights``:

- ``spec`` is the strategy's config object (``backtest.config.StrategyConfig``; only read by attribute name,
  so any object with the same attributes works, e.g. a small frozen dataclass in a test);
- ``inputs`` is a :class:`DecisionInputs`: everything known on the decision date and nothing later;
- the result is a :class:`Weights`: the target weights plus human-readable notes (tickers left out, a tilt
  group missing from the universe, ...) that the runner collects as run warnings. Notes are a side channel:
  data is never dropped silently, but a note is not an error either.

Families are written as small steps that read like a sentence (select -> weigh -> constrain), each a plain
function taking and returning typed values (``pd.Series`` of weights indexed by ticker).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd

from backtest.errors import DataError

SUM_TOLERANCE = 1e-12
"""Target weights sum to one within this absolute tolerance."""


@dataclass(frozen=True)
class DecisionInputs:
    """Everything a strategy may look at on one decision date.

    Attributes
    ----------
    date : pd.Timestamp
        The decision (rebalance) date, tz-naive, normalised; a row of ``history``.
    history : pd.DataFrame
        Adjusted closes indexed by trading date, one float column per ticker, **up to and including
        ``date`` only**: the caller slices (see :func:`decision_inputs`), so later prices cannot be read.
    shares : pd.Series
        Shares known on ``date``, indexed by ticker, in the adjusted-price units of ``history``
        (market cap = shares * price on ``date``). May be empty for families that do not need caps.
    universe : tuple[str, ...]
        Eligible tickers on ``date``; each has a price on ``date``.
    groups : Mapping[str, tuple[str, ...]]
        Named ticker groups (e.g. ``"mag7"``), for tilts and group caps.
    shares_observed : pd.Series | None
        The observation date each value of ``shares`` rests on, indexed by ticker (``SharesAsOf.observed``
        on ``date``); a date after ``date`` marks a count backfilled from a later observation. None: every
        count in ``shares`` was observed on or before ``date``.
    """

    date: pd.Timestamp
    history: pd.DataFrame
    shares: pd.Series
    universe: tuple[str, ...]
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    shares_observed: pd.Series | None = None
    # results computed from these inputs alone (e.g. the prices on ``date``, market caps), kept for the
    # strategies that share one DecisionInputs (sweep variants on a date); `dataclasses.replace` starts empty
    cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def known_shares(self) -> pd.Series:
        """``shares`` observed on or before ``date`` only (counts backfilled from later observations
        dropped): for uses that must not look ahead, such as splitting a company's slot between its share
        classes."""
        if self.shares_observed is None:
            return self.shares
        obs = pd.to_datetime(self.shares_observed.reindex(self.shares.index))
        return self.shares[(obs.notna() & (obs <= self.date)).to_numpy()]

    def last_prices(self) -> pd.Series:
        """Prices on ``date`` (the last row of ``history``) indexed by ticker, NaN dropped."""
        if self.date not in self.history.index:
            raise DataError(
                f"no price row for the decision date {self.date:%Y-%m-%d} in the history "
                f"(last row {_last_date(self.history)}); decision dates must be trading days of the prices"
            )
        if "last_prices" not in self.cache:     # one row of a wide frame: read once per inputs
            row = self.history.loc[self.date]
            if row.dtype == np.float64:         # `dropna` on the row's array (the same values, index, name)
                keep = ~np.isnan(row.to_numpy())
                row = row if keep.all() else pd.Series(row.to_numpy()[keep], index=row.index[keep], name=row.name)
                self.cache["last_prices"] = row.copy()
            else:
                self.cache["last_prices"] = row.dropna().astype("float64")
        return self.cache["last_prices"]


@dataclass(frozen=True)
class Weights:
    """Result of a strategy at one date.

    Attributes
    ----------
    weights : pd.Series
        Index = ticker (sorted, no zero weights), float64 values > 0 that sum to 1 (within 1e-12).
    notes : tuple[str, ...]
        Plain-text remarks for the run's warnings (each starts with the date), empty when none.
    """

    weights: pd.Series
    notes: tuple[str, ...] = ()


def decision_inputs(
    prices: pd.DataFrame,
    shares_asof: pd.DataFrame | pd.Series | None,
    date: pd.Timestamp | str,
    universe: Iterable[str],
    groups: Mapping[str, Iterable[str]] | None = None,
) -> DecisionInputs:
    """Build :class:`DecisionInputs` for ``date`` from full-length frames, slicing away everything later.

    Parameters
    ----------
    prices : pd.DataFrame
        Adjusted closes indexed by trading date (may extend beyond ``date``), one column per ticker.
    shares_asof : pd.DataFrame | pd.Series | None
        Either a wide frame indexed by the dates on which share counts became known, one column per ticker
        (each ticker takes its last known count on or before ``date``: held constant between known dates),
        or a Series already as of ``date``, or None (no share data).
    date : pd.Timestamp | str
        The decision date; must be a row of ``prices``.
    universe : Iterable[str]
        Eligible tickers; each must have a price on ``date``.
    groups : Mapping[str, Iterable[str]] | None
        Named groups.

    Raises
    ------
    DataError
        ``date`` is not a row of ``prices``, or a universe ticker has no price on ``date``.
    """
    date = pd.Timestamp(date)
    if date not in prices.index:
        raise DataError(
            f"decision date {date:%Y-%m-%d} is not a trading day of the price frame "
            f"({_first_date(prices)} .. {_last_date(prices)}); pick rebalance dates from the price index"
        )
    history = prices.loc[:date]
    universe = tuple(universe)
    on_date = history.loc[date].reindex(pd.Index(universe).unique())
    unpriced = on_date.index[on_date.isna()].tolist()
    if unpriced:
        raise DataError(
            f"{len(unpriced)} universe ticker(s) have no price on {date:%Y-%m-%d}: {', '.join(unpriced)}; "
            "resolve the universe against available prices first (members without prices are reported there)"
        )
    return DecisionInputs(
        date=date,
        history=history,
        shares=_shares_asof(shares_asof, date),
        universe=universe,
        groups=MappingProxyType({k: tuple(v) for k, v in (groups or {}).items()}),
    )


def _shares_asof(shares: pd.DataFrame | pd.Series | None, date: pd.Timestamp) -> pd.Series:
    """Last known share count per ticker on or before ``date`` (float Series indexed by ticker)."""
    if shares is None:
        return pd.Series(dtype="float64")
    if isinstance(shares, pd.Series):
        return shares.dropna().astype("float64")
    known = shares.loc[:date]
    if known.empty:
        return pd.Series(dtype="float64")
    return known.ffill().iloc[-1].dropna().astype("float64")


def normalise(values: pd.Series) -> pd.Series:
    """Scale non-negative ``values`` (index = ticker) to sum to one; same index, float64."""
    values = values.astype("float64")
    total = float(values.sum())
    if not np.isfinite(total) or total <= 0 or (values < 0).any():
        raise ValueError(f"cannot normalise weights: need values >= 0 with a positive sum, got {total}")
    return values / total


def finalise(weights: pd.Series) -> pd.Series:
    """The shape every family returns: zero weights dropped, sorted by ticker, float64, named ``weight``.

    Raises ``ValueError`` (a bug, not a user error) if the weights are negative or do not sum to one.
    """
    weights = weights.astype("float64")
    if (weights < 0).any() or weights.isna().any():
        raise ValueError(f"weights must be non-negative and finite, got {weights[~(weights >= 0)].to_dict()}")
    weights = weights[weights > 0].sort_index()
    if abs(float(weights.sum()) - 1.0) > SUM_TOLERANCE:
        raise ValueError(f"weights must sum to 1, got {weights.sum()!r}")
    weights.index.name = "ticker"
    weights.name = "weight"
    return weights


def _first_date(frame: pd.DataFrame) -> str:
    return f"{frame.index[0]:%Y-%m-%d}" if len(frame.index) else "empty"


def _last_date(frame: pd.DataFrame) -> str:
    return f"{frame.index[-1]:%Y-%m-%d}" if len(frame.index) else "empty"
