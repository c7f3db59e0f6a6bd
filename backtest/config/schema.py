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

from backtest.config.evidence import Evidence

FREQUENCIES = ("daily", "weekly", "monthly", "quarterly", "yearly", "never")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
WEIGHTINGS = ("fixed", "equal", "cap", "inverse_vol", "min_variance", "risk_parity", "hrp", "sleeves")
RISK_WEIGHTINGS = ("inverse_vol", "min_variance", "risk_parity", "hrp")
DEFAULT_LOOKBACK = 252   # trading days of returns of the risk-based weightings when `lookback` is left out
COVARIANCES = ("sample", "ledoit_wolf")
SELECT_BY = ("momentum", "volatility")
FLOW_FREQUENCIES = ("weekly", "monthly", "quarterly", "yearly")
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
    while_leading: int | None = None     # apply only while the group's trailing N-day return beats the rest's


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
class Select(_Frozen):
    """Keep the ``top`` (or ``bottom``) N universe names by trailing ``by`` before weighting them."""

    by: str = "momentum"                 # momentum | volatility
    lookback: int = 252
    skip: int = 0                        # momentum only: the last `skip` days are left out (12-1: 21)
    top: int | None = None
    bottom: int | None = None


@dataclass(frozen=True)
class Trend(_Frozen):
    """Hold ``defensive`` alone while ``ticker`` closes below its ``days``-day average."""

    ticker: str = "SPY"
    days: int = 200
    defensive: str = "BIL"


@dataclass(frozen=True)
class CashFlowRule(_Frozen):
    """A contribution (+) or withdrawal (-): ``amount`` dollars or ``percent`` of the account value, either
    on a schedule (``every``: the first trading day of each period) or once (``date``)."""

    every: str | None = None
    date: pd.Timestamp | None = None
    amount: float | None = None
    percent: float | None = None


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
    lookback: int | None = None          # risk weightings: trailing trading days of returns (None = 252)
    covariance: str | None = None        # min_variance, risk_parity, hrp: "sample" | "ledoit_wolf" (None = sample)
    select: Select | None = None
    trend: Trend | None = None
    sleeves: tuple[tuple[str, float], ...] = ()   # weighting sleeves: ((strategy name, weight), ...), sum 1
    python: str | None = None            # weighting python: "package.module:function" (runs only if allowed)
    borrow_fee: float = 0.0              # yearly fraction charged daily on the short market value (sleeves < 0)

    shares: str = "point_in_time"    # share counts of cap weights: "point_in_time" or "backfill" (look-ahead)

@dataclass(frozen=True)
class Benchmark(_Frozen):
    """One benchmark of a run: a ticker held (``((SPY, 1.0),)``, bought once) or a composite of tickers
    rebalanced to ``weights`` on ``rebalance``. Simulated by the engine like a strategy, without costs."""

    name: str
    weights: tuple[tuple[str, float], ...]
    rebalance: Schedule = Schedule(every="never")


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
    benchmarks: tuple[Benchmark, ...] = ()   # further benchmarks (the primary one is `benchmark`)
    proxies: tuple[tuple[str, str], ...] = ()  # run-level splices for benchmark and risk-free tickers
    controls: tuple[str, ...] = ()             # strategy names every strategy is also measured against
    costs: Costs = Costs()
    fill: str = "next_close"
    risk_free: str | None = None
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: DEFAULT_GROUPS)
    membership_source: str = "snapshot"
    data_gaps: str = "sell"          # prices ending while still an index member: "sell", "hold" or "refuse"
    strategies: tuple[StrategyConfig, ...] = ()
    analytics: Analytics | None = None   # None: no block (defaults apply where the analytics can run)
    sweep: Sweep | None = None
    description: str | None = None
    cash_flows: tuple[CashFlowRule, ...] = ()
    source_path: Path | None = None
    evidence: Evidence = Evidence()


def history_needed(spec: StrategyConfig) -> int:
    """Trading days of prices up to its decision date that a strategy's weights read (1 = only that day):
    the risk weightings' lookback + 1, a selection's lookback + 1, a trend's days, a conditional tilt's
    lookback + 1 (the largest)."""
    days = [1]
    if spec.weighting in RISK_WEIGHTINGS:
        days.append((spec.lookback or DEFAULT_LOOKBACK) + 1)
    if spec.select is not None:
        days.append(spec.select.lookback + 1)
    if spec.trend is not None:
        days.append(spec.trend.days)
    if spec.tilt is not None and spec.tilt.while_leading:
        days.append(spec.tilt.while_leading + 1)
    return max(days)
