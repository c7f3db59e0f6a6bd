"""Small stand-ins for the config objects of ``backtest.config`` (same attribute names, see
docs/architecture.md "Config objects"): strategies read specs by attribute only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import pandas as pd

from strategies.base import DecisionInputs

MAG7 = ("AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "GOOG", "META", "TSLA")


@dataclass(frozen=True)
class Tilt:
    group: str = "mag7"
    multiplier: float | None = None
    weight: float | None = None
    inside: str = "cap"
    while_leading: int | None = None


@dataclass(frozen=True)
class AggregateCap:
    threshold: float = 0.05
    limit: float = 0.40
    single: float = 0.10


@dataclass(frozen=True)
class Caps:
    single: float | None = None
    groups: tuple[tuple[str, float], ...] = ()
    aggregate: AggregateCap | None = None


@dataclass(frozen=True)
class Select:
    by: str = "momentum"
    lookback: int = 252
    skip: int = 0
    top: int | None = None
    bottom: int | None = None


@dataclass(frozen=True)
class Trend:
    ticker: str = "SPY"
    days: int = 200
    defensive: str = "BIL"


@dataclass(frozen=True)
class Spec:
    name: str = "test"
    weighting: str = "cap"
    weights: Mapping[str, float] | None = None
    tilt: Tilt | None = None
    caps: Caps | None = None
    per: str = "company"
    select: Select | None = None
    trend: Trend | None = None


@dataclass(frozen=True)
class RiskSpec:
    name: str = "test"
    weighting: str = "risk_parity"
    lookback: int | None = None
    covariance: str | None = None
    caps: Caps | None = None


@dataclass(frozen=True)
class PySpec:
    python: str = "tests.strategies.plugins.weights:cheapest_half"
    name: str = "test"
    weighting: str = "python"


def one_day_inputs(
    prices: Mapping[str, float],
    shares: Mapping[str, float] | None = None,
    groups: Mapping[str, tuple[str, ...]] | None = None,
    date: str = "2024-01-02",
) -> DecisionInputs:
    """DecisionInputs with a one-row history: universe = every ticker with a price."""
    day = pd.Timestamp(date)
    history = pd.DataFrame([dict(prices)], index=pd.DatetimeIndex([day], name="date"), dtype="float64")
    return DecisionInputs(
        date=day,
        history=history,
        shares=pd.Series(dict(shares or {}), dtype="float64"),
        universe=tuple(t for t, p in prices.items() if pd.notna(p)),
        groups=MappingProxyType(dict(groups or {})),
    )
