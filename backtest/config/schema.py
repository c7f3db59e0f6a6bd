"""The frozen config objects (docs/architecture.md, "Config objects") and the vocabulary they use.

Every object is a frozen dataclass. Mappings are `types.MappingProxyType` (``StrategyConfig.weights``,
``RunConfig.groups``) or tuples of pairs (``Caps.groups``, ``StrategyConfig.proxies``, ``Sweep.grid``);
sequences are tuples; dates are normalised, tz-naive `pandas.Timestamp`. Objects are built only by
`backtest.config` after validation, so their fields can be trusted downstream.

MappingProxyType cannot be pickled, so every object pickles through `_Frozen.__reduce__`, which turns the
proxies into plain dicts and back (a runner can send a `StrategyConfig` to a worker process).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import pandas as pd

FREQUENCIES = ("daily", "weekly", "monthly", "quarterly", "yearly", "never")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
WEIGHTINGS = ("fixed", "equal", "cap")
INDEXES = ("sp500",)
MEMBERSHIPS = ("point_in_time", "current", "static")
PER = ("company", "line")
INSIDE = ("cap", "equal")
FILLS = ("close", "next_close")
MEMBERSHIP_SOURCES = ("snapshot", "index-constitution")
WINDOWS = ("ytd", "mtd", "full", "1m", "3m", "6m", "1y", "3y", "5y")  # and any trailing <n>m / <n>y
DEFAULT_GROUPS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"mag7": ("AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "GOOG", "META", "TSLA")}
)
DEFAULT_SNAPSHOT = ("IWM", "AVUV", "VTV", "SPY")


class _ProxyBox(dict):
    """A MappingProxyType while pickled (a plain dict subclass, which pickle handles)."""


def _unproxy(value: Any) -> Any:
    if isinstance(value, MappingProxyType):
        return _ProxyBox({k: _unproxy(v) for k, v in value.items()})
    if isinstance(value, tuple):
        return tuple(_unproxy(v) for v in value)
    return value


def _reproxy(value: Any) -> Any:
    if isinstance(value, _ProxyBox):
        return MappingProxyType({k: _reproxy(v) for k, v in value.items()})
    if isinstance(value, tuple):
        return tuple(_reproxy(v) for v in value)
    return value


def _rebuild(cls: type, state: dict) -> Any:
    return cls(**{k: _reproxy(v) for k, v in state.items()})


class _Frozen:
    """Mixin: pickling (and `copy.deepcopy`) that survives MappingProxyType fields."""

    def __reduce__(self):
        state = {f.name: _unproxy(getattr(self, f.name)) for f in dataclasses.fields(self)}
        return (_rebuild, (type(self), state))


@dataclass(frozen=True)
class Costs(_Frozen):
    """Trading costs per side, in basis points of traded value."""

    commission_bps: float = 0.0
    slippage_bps: float = 0.0


@dataclass(frozen=True)
class Drift(_Frozen):
    """Drift band: ``absolute`` in weight points (0.05 = +-5 points), ``relative`` as a fraction of target."""

    absolute: float | None = None
    relative: float | None = None


@dataclass(frozen=True)
class Schedule(_Frozen):
    """When to rebalance; see `backtest.schedule.calendar_dates` for the exact rules.

    ``day`` is "first", "last" or a non-zero int (n-th trading day of the period, negative from the end).
    ``weekday`` + ``nth`` (1..5) pick the n-th such weekday of the period's final month instead.
    ``drift``: when set, a scheduled date trades only if some weight is outside the band.
    """

    every: str = "quarterly"
    day: str | int = "first"
    weekday: str | None = None
    nth: int | None = None
    drift: Drift | None = None


@dataclass(frozen=True)
class UniverseSpec(_Frozen):
    """What a strategy may hold: index members and/or explicit tickers, minus exclusions.

    ``tickers`` and ``exclude`` hold upper-case tickers and lower-case group names (resolved with
    ``RunConfig.groups`` by `backtest.universe`). ``membership`` says how index members and the groups named
    in ``tickers`` are chosen on each date: ``point_in_time`` (S&P 500 members on the date), ``current``
    (today's list; only with an index) or ``static`` (a group's members as listed; only without an index).
    """

    index: str | None = None
    tickers: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    membership: str = "point_in_time"


@dataclass(frozen=True)
class Tilt(_Frozen):
    """Over/underweight a group: ``multiplier`` on its cap weights, or a fixed total ``weight``."""

    group: str = "mag7"
    multiplier: float | None = None
    weight: float | None = None
    inside: str = "cap"


@dataclass(frozen=True)
class AggregateCap(_Frozen):
    """Names above ``threshold`` together hold at most ``limit``; no name above ``single`` (5/10/40)."""

    threshold: float = 0.05
    limit: float = 0.40
    single: float = 0.10


@dataclass(frozen=True)
class Caps(_Frozen):
    """Concentration caps: per name, per group (``((group, max_weight), ...)``) and aggregate."""

    single: float | None = None
    groups: tuple[tuple[str, float], ...] = ()
    aggregate: AggregateCap | None = None


SHARE_METHODS = ("point_in_time", "backfill")
GAP_POLICIES = ("sell", "hold", "refuse")
CASH_SPECIAL = ("risk_free", "none")


@dataclass(frozen=True)
class StrategyConfig(_Frozen):
    """One strategy, with ``rebalance`` and ``costs`` already resolved (its own or the run's).

    ``per``: what an equal split counts (``equal`` weighting, and a tilt with ``inside: equal``):
    ``company`` (share classes of one company share a slot, split by cap) or ``line`` (each class a slot).
    """

    name: str
    weighting: str
    universe: UniverseSpec | None = None
    weights: Mapping[str, float] | None = None
    tilt: Tilt | None = None
    caps: Caps | None = None
    rebalance: Schedule = Schedule()
    costs: Costs = Costs()
    expense_ratio: float = 0.0
    cash_yield: str = "risk_free"    # what idle cash earns: "risk_free" (the run's series), "none" or a ticker
    proxies: tuple[tuple[str, str], ...] = ()
    per: str = "company"
    shares: str = "point_in_time"    # share counts of cap weights: "point_in_time" or "backfill" (look-ahead)


@dataclass(frozen=True)
class Analytics(_Frozen):
    """Rotation analytics as of ``asof`` (None = last date).

    ``windows`` holds names ("ytd", "mtd", "full", trailing "3m", "1y", ...) and explicit windows as
    ``(start, end)`` Timestamp pairs (end None = up to ``asof``), the shapes `backtest.analytics` takes.
    """

    asof: pd.Timestamp | None = None
    windows: tuple[str | tuple[pd.Timestamp, pd.Timestamp | None], ...] = ("ytd", "full")
    snapshot: tuple[str, ...] = DEFAULT_SNAPSHOT


@dataclass(frozen=True)
class Sweep(_Frozen):
    """Parameter grid: ``((key_path, (value, ...)), ...)``; ``strategy`` None = every strategy it fits.

    Values are kept as written in YAML (mappings as MappingProxyType, lists as tuples); see
    `backtest.config.expand_sweep`.
    """

    grid: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    strategy: str | None = None


@dataclass(frozen=True)
class RunConfig(_Frozen):
    """A whole validated run. ``source_path`` is the YAML file it came from (None for text)."""

    name: str
    start: pd.Timestamp
    end: pd.Timestamp | None
    capital: float = 1_000_000.0
    benchmark: str = "SPY"
    rebalance: Schedule = Schedule()
    costs: Costs = Costs()
    fill: str = "next_close"
    risk_free: str | None = None
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: DEFAULT_GROUPS)
    membership_source: str = "snapshot"
    data_gaps: str = "sell"          # prices ending while still an index member: "sell", "hold" or "refuse"
    strategies: tuple[StrategyConfig, ...] = ()
    analytics: Analytics = Analytics()
    sweep: Sweep | None = None
    description: str | None = None
    source_path: Path | None = None
