"""Config objects -> plain, YAML-safe dicts that `backtest.config.parse_config` reads back to equal objects.

Defaults that only make sense alongside other keys (``day`` with ``weekday``, ``membership`` without an
index, ``inside`` with a multiplier) are left out, so the dict passes the same validation as a hand-written
config. Dates are written as ``YYYY-MM-DD`` text.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pandas as pd

from backtest.config.schema import Analytics, Caps, Costs, Schedule, StrategyConfig, Sweep, Tilt, UniverseSpec


def day_text(ts: pd.Timestamp | None) -> str | None:
    return None if ts is None else ts.strftime("%Y-%m-%d")


def thaw(value: Any) -> Any:
    """Frozen YAML value (MappingProxyType, tuple) -> dict/list, recursively."""
    if isinstance(value, (dict, MappingProxyType)):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    return value


def freeze(value: Any) -> Any:
    """YAML value -> hashable-ish frozen form (mappings as MappingProxyType, lists as tuples)."""
    if isinstance(value, dict):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    return value


def schedule_dict(s: Schedule) -> dict:
    out: dict[str, Any] = {"every": s.every}
    if s.weekday is not None:
        out["weekday"] = s.weekday
        out["nth"] = s.nth
    elif s.day != "first":
        out["day"] = s.day
    if s.drift is not None:
        out["drift"] = {k: v for k, v in (("absolute", s.drift.absolute), ("relative", s.drift.relative))
                        if v is not None}
    return out


def costs_dict(c: Costs) -> dict:
    return {"commission_bps": c.commission_bps, "slippage_bps": c.slippage_bps}


def universe_dict(u: UniverseSpec) -> dict:
    out: dict[str, Any] = {}
    if u.index is not None:
        out["index"] = u.index
        out["membership"] = u.membership
    elif u.membership != "point_in_time":
        out["membership"] = u.membership
    if u.tickers:
        out["tickers"] = list(u.tickers)
    if u.exclude:
        out["exclude"] = list(u.exclude)
    return out


def tilt_dict(t: Tilt) -> dict:
    out: dict[str, Any] = {"group": t.group}
    if t.multiplier is not None:
        out["multiplier"] = t.multiplier
    if t.weight is not None:
        out["weight"] = t.weight
        out["inside"] = t.inside
    if getattr(t, "while_leading", None) is not None:
        out["while_leading"] = t.while_leading
    return out


def caps_dict(c: Caps) -> dict:
    out: dict[str, Any] = {}
    if c.single is not None:
        out["single"] = c.single
    if c.groups:
        out["groups"] = dict(c.groups)
    if c.aggregate is not None:
        a = c.aggregate
        out["aggregate"] = {"threshold": a.threshold, "limit": a.limit, "single": a.single}
    return out


def strategy_dict(s: StrategyConfig) -> dict:
    """One resolved strategy (its rebalance and costs always written out)."""
    out: dict[str, Any] = {"name": s.name, "weighting": s.weighting}
    if s.weighting == "python":
        out["weighting"] = {"python": s.python}
    if s.universe is not None:
        out["universe"] = universe_dict(s.universe)
    if s.weights is not None:
        out["weights"] = dict(s.weights)
    if s.tilt is not None:
        out["tilt"] = tilt_dict(s.tilt)
    if s.caps is not None:
        out["caps"] = caps_dict(s.caps)
    if s.weighting == "equal" or s.per != "company":   # a cap strategy's default stays implicit, so that a
        out["per"] = s.per                              # swept tilt.inside: cap stays valid
    out["rebalance"] = schedule_dict(s.rebalance)
    out["costs"] = costs_dict(s.costs)
    out["expense_ratio"] = s.expense_ratio
    out["cash_yield"] = s.cash_yield
    if s.weighting == "cap":
        out["shares"] = s.shares
    if s.proxies:
        out["proxies"] = dict(s.proxies)
    for key in ("lookback", "covariance"):
        if getattr(s, key, None) is not None:
            out[key] = getattr(s, key)
    if getattr(s, "select", None) is not None:
        sel = s.select
        out["select"] = {"by": sel.by, "lookback": sel.lookback, **({"skip": sel.skip} if sel.by == "momentum"
                                                                     else {}),
                         **({"top": sel.top} if sel.top is not None else {"bottom": sel.bottom})}
    if getattr(s, "sleeves", ()):
        out["sleeves"] = dict(s.sleeves)
    if getattr(s, "borrow_fee", 0.0):
        out["borrow_fee"] = s.borrow_fee
    if getattr(s, "trend", None) is not None:
        out["trend"] = {"ticker": s.trend.ticker, "days": s.trend.days, "defensive": s.trend.defensive}
    return out


def analytics_dict(a: Analytics) -> dict:
    windows = [w if isinstance(w, str) else {"start": day_text(w[0]), "end": day_text(w[1])}
               for w in a.windows]
    return {"asof": day_text(a.asof), "windows": windows, "snapshot": list(a.snapshot)}


def sweep_dict(s: Sweep) -> dict:
    out: dict[str, Any] = {}
    if s.strategy is not None:
        out["strategy"] = s.strategy
    out["grid"] = {key: thaw(values) for key, values in s.grid}
    return out

