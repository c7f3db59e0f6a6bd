"""The ``evidence:`` block: factor regressions, robustness and overfitting checks (docs/evidence.md).

    evidence:
      factors: true                 # FF3 daily and FF5 + momentum monthly regressions
      rolling_loadings: 36          # months in the rolling FF5 + momentum regression
      rolling_years: [1, 3, 5]      # horizons of the rolling excess-return distribution
      stress:                       # replaces the default stress periods
        - {name: 2022 bear market, start: 2022-01-03, end: 2022-10-12}
      bootstrap: {samples: 1000, block: 21, seed: 0, confidence: 0.9}
      pbo_blocks: 16                # sweeps: CSCV blocks
      walk_forward: {train: 3y, test: 1y, metric: sharpe}    # sweeps

``evidence: false`` turns the whole block off. Leaving the block out keeps every default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from backtest.config.check import Ctx, check_keys, choice, date, integer, mapping, number, sequence, show, text

EVIDENCE_KEYS = ("factors", "rolling_loadings", "rolling_years", "stress", "bootstrap", "pbo_blocks",
                 "walk_forward")
BOOTSTRAP_KEYS = ("samples", "block", "seed", "confidence")
WALK_FORWARD_KEYS = ("train", "test", "metric")
STRESS_KEYS = ("name", "start", "end")
WALK_FORWARD_METRICS = ("sharpe", "sortino", "cagr", "total_return", "excess_return", "information_ratio",
                        "calmar")


@dataclass(frozen=True)
class Bootstrap:
    samples: int = 1000
    block: int = 21           # trading days per block
    seed: int = 0
    confidence: float = 0.90


@dataclass(frozen=True)
class WalkForward:
    train_months: int = 36
    test_months: int = 12
    metric: str = "sharpe"


@dataclass(frozen=True)
class Evidence:
    """Settings of the evidence section. ``stress`` None = the default periods
    (`backtest.analytics.robustness.STRESS_PERIODS`), else ``((name, start, end), ...)``."""

    enabled: bool = True
    factors: bool = True
    rolling_loadings: int = 36
    rolling_years: tuple[int, ...] = (1, 3, 5)
    stress: tuple[tuple[str, pd.Timestamp, pd.Timestamp], ...] | None = None
    bootstrap: Bootstrap = Bootstrap()
    pbo_blocks: int = 16
    walk_forward: WalkForward = WalkForward()


def _months(ctx: Ctx, value: Any, path: tuple) -> int | None:
    """``3y`` / ``18m`` / a number of years -> months."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 50:
        return int(round(value * 12)) or None
    m = re.fullmatch(r"\s*(\d{1,3})\s*([my])\s*", str(value).lower()) if isinstance(value, str) else None
    months = (int(m.group(1)) * (12 if m.group(2) == "y" else 1)) if m else 0
    if not 1 <= months <= 600:
        ctx.error(path, f"must be a period such as 3y or 18m (1 month to 50 years), got {show(value)}")
        return None
    return months


def parse_evidence(ctx: Ctx, value: Any, path: tuple = ("evidence",)) -> Evidence:
    if value is False:
        return Evidence(enabled=False)
    if value is True:
        return Evidence()
    data = mapping(ctx, value, path, "a mapping {factors, rolling_loadings, rolling_years, stress, bootstrap, "
                                     "pbo_blocks, walk_forward} or false")
    if data is None:
        return Evidence()
    check_keys(ctx, data, path, EVIDENCE_KEYS)
    out: dict[str, Any] = {}
    if "factors" in data:
        if isinstance(data["factors"], bool):
            out["factors"] = data["factors"]
        else:
            ctx.error((*path, "factors"), f"must be true or false, got {show(data['factors'])}")
    if "rolling_loadings" in data:
        v = integer(ctx, data["rolling_loadings"], (*path, "rolling_loadings"), lo=12, hi=240,
                    hint=" (months in each rolling regression)")
        if v is not None:
            out["rolling_loadings"] = v
    if "rolling_years" in data:
        items = sequence(ctx, data["rolling_years"], (*path, "rolling_years"), "a list of whole years, e.g. [1, 3, 5]")
        years = [integer(ctx, y, (*path, "rolling_years", i), lo=1, hi=30) for i, y in enumerate(items or [])]
        if items and all(y is not None for y in years):
            out["rolling_years"] = tuple(sorted(set(years)))
    if "stress" in data:
        out["stress"] = _stress(ctx, data["stress"], (*path, "stress"))
    if "bootstrap" in data:
        b = mapping(ctx, data["bootstrap"], (*path, "bootstrap"), "a mapping {samples, block, seed, confidence}")
        if b is not None:
            check_keys(ctx, b, (*path, "bootstrap"), BOOTSTRAP_KEYS)
            kw = {}
            for key, lo, hi in (("samples", 100, 100_000), ("block", 1, 2520), ("seed", 0, 2 ** 32 - 1)):
                if key in b and (v := integer(ctx, b[key], (*path, "bootstrap", key), lo=lo, hi=hi)) is not None:
                    kw[key] = v
            if "confidence" in b:
                c = number(ctx, b["confidence"], (*path, "bootstrap", "confidence"), lo=0.5, hi=1.0, hi_open=True)
                if c is not None:
                    kw["confidence"] = c
            out["bootstrap"] = Bootstrap(**kw)
    if "pbo_blocks" in data:
        v = integer(ctx, data["pbo_blocks"], (*path, "pbo_blocks"), lo=4, hi=20, hint=" (an even number)")
        if v is not None and v % 2:
            ctx.error((*path, "pbo_blocks"), f"must be an even number, got {v}; fix: use {v + 1}")
        elif v is not None:
            out["pbo_blocks"] = v
    if "walk_forward" in data:
        w = mapping(ctx, data["walk_forward"], (*path, "walk_forward"), "a mapping {train, test, metric}")
        if w is not None:
            check_keys(ctx, w, (*path, "walk_forward"), WALK_FORWARD_KEYS)
            kw = {}
            for key, field in (("train", "train_months"), ("test", "test_months")):
                if key in w and (v := _months(ctx, w[key], (*path, "walk_forward", key))) is not None:
                    kw[field] = v
            if "metric" in w and (m := choice(ctx, w["metric"], (*path, "walk_forward", "metric"),
                                              WALK_FORWARD_METRICS)) is not None:
                kw["metric"] = m
            out["walk_forward"] = WalkForward(**kw)
    return Evidence(**out)


def _stress(ctx: Ctx, value: Any, path: tuple):
    items = sequence(ctx, value, path, "a list of {name, start, end}")
    out = []
    for i, item in enumerate(items or []):
        p = (*path, i)
        d = mapping(ctx, item, p, "a mapping {name, start, end}")
        if d is None:
            continue
        check_keys(ctx, d, p, STRESS_KEYS)
        missing = [k for k in STRESS_KEYS if k not in d]
        if missing:
            ctx.error(p, f"missing {', '.join(missing)}; each stress period needs a name, a start and an end")
            continue
        name = text(ctx, d["name"], (*p, "name"), max_len=80)
        start, end = date(ctx, d["start"], (*p, "start")), date(ctx, d["end"], (*p, "end"))
        if start is not None and end is not None and end <= start:
            ctx.error((*p, "end"), f"must be after start ({start.date()}), got {end.date()}")
        elif name is not None and start is not None and end is not None:
            out.append((name, start, end))
    return tuple(out)


def evidence_dict(e: Evidence) -> dict | bool:
    """The block as YAML-safe data (reads back to an equal `Evidence`)."""
    if not e.enabled:
        return False
    out: dict[str, Any] = {"factors": e.factors, "rolling_loadings": e.rolling_loadings,
                           "rolling_years": list(e.rolling_years)}
    if e.stress is not None:
        out["stress"] = [{"name": n, "start": f"{s:%Y-%m-%d}", "end": f"{t:%Y-%m-%d}"} for n, s, t in e.stress]
    b = e.bootstrap
    out["bootstrap"] = {"samples": b.samples, "block": b.block, "seed": b.seed, "confidence": b.confidence}
    out["pbo_blocks"] = e.pbo_blocks
    w = e.walk_forward
    out["walk_forward"] = {"train": f"{w.train_months}m", "test": f"{w.test_months}m", "metric": w.metric}
    return out
