"""The top of a config file: top-level keys, the analytics block, and the public entry points.

Parses and validates the run-wide keys (name, period, capital, benchmark, fill, risk-free, groups, analytics,
sweep) and delegates each strategy entry to `backtest.config.strategy` and each building block to
`backtest.config.blocks`. Reads the config file (and nothing else); imports no later pipeline stage.
"""

from __future__ import annotations

import dataclasses
import os
import re
import unicodedata
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from backtest.config.blocks import parse_cash_flows, parse_costs, parse_groups, parse_schedule, ticker_list
from backtest.config.check import (
    BAD, MISSING, Ctx, check_keys, choice, date, mapping, number, require, safe_name, sequence, show, suggest,
    text, ticker,
)
from backtest.config.dump import (
    analytics_dict, costs_dict, day_text, schedule_dict, strategy_dict, sweep_dict,
)
from backtest.config.evidence import Evidence, evidence_dict, parse_evidence
from backtest.config.schema import (
    DEFAULT_GROUPS, FILLS, GAP_POLICIES, MEMBERSHIP_SOURCES, SHARE_METHODS, WINDOWS, AggregateCap, Analytics,
    Benchmark, Caps, Costs, Drift, RunConfig, Schedule, StrategyConfig, Sweep, Tilt, UniverseSpec,
)
from backtest.config.strategy import STRATEGY_KEYS, check_sleeves, parse_cash_yield, parse_strategy
from backtest.config.strategy import _proxies as parse_proxies
from backtest.config.strategy import _weights as parse_weights
from backtest.config.sweep import expand, parse_sweep, plan
from backtest.config.yaml_reader import load_yaml
from backtest.errors import ConfigError, Problem, UsageError

__all__ = [
    "AggregateCap", "Analytics", "Benchmark", "Caps", "Costs", "Drift", "RunConfig", "Schedule", "StrategyConfig",
    "Sweep", "Tilt", "UniverseSpec", "apply_overrides", "benchmark_list", "config_to_dict", "expand_sweep",
    "load_config", "parse_config", "swept_config",
]

TOP_KEYS = ("name", "description", "start", "end", "capital", "benchmark", "benchmarks", "controls", "proxies",
            "rebalance", "costs", "fill", "risk_free", "groups", "membership_source", "strategies", "analytics",
            "sweep", "evidence", "cash_flows", "cash_yield", "shares", "data_gaps")
TOP_ELSEWHERE = {k: "it is a strategy key: put it inside an entry of strategies:"
                 for k in STRATEGY_KEYS if k not in TOP_KEYS}
ANALYTICS_KEYS = ("asof", "windows", "snapshot")
WINDOW_KEYS = ("start", "end")
MAX_CAPITAL = 1e13
MIN_CAPITAL = 1.0  # dollars: below that every price rounds the portfolio away (1e-300 "ran" to -100%)
MAX_CONFIG_BYTES = 1_000_000   # a config is a few KB; refuse anything near this
MAX_STRATEGIES = 200  # one run simulates them together; more is a grid: `bt sweep` chunks it and shows progress


def load_config(path: str | os.PathLike) -> RunConfig:
    """Read and validate the YAML config at `path`.

    Raises
    ------
    UsageError
        The file is missing, a directory or unreadable.
    ConfigError
        The file is not UTF-8, not valid YAML, or the config is invalid (every problem listed).
    """
    p = Path(path)
    try:
        if p.exists() and not p.is_dir() and not p.is_file():  # reading a FIFO or device would block
            raise UsageError(f"{p} is not a regular file (a pipe, socket or device); pass a YAML config file")
        with open(p, "rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise UsageError(f"config file not found: {p}; check the path (e.g. configs/rotation.yaml)") from None
    except IsADirectoryError:
        raise UsageError(f"{p} is a directory, not a config file; pass a YAML file inside it") from None
    except PermissionError:
        raise UsageError(f"cannot read config file {p}: permission denied; check its permissions") from None
    except OSError as exc:
        raise UsageError(f"cannot read config file {p}: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise UsageError(f"{p} is larger than {MAX_CONFIG_BYTES // 1_000_000} MB, which no config needs; "
                         "pass the YAML config file (is this a data file?)")
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(Problem("", f"is not UTF-8 text (bad byte at offset {exc.start}); a config is a YAML "
                                      "text file: save it as UTF-8"), source=str(p)) from None
    return dataclasses.replace(parse_config(content, source=str(p)), source_path=p)


def parse_config(text: str, source: str = "<string>") -> RunConfig:
    """Validate YAML `text`; `source` names it in messages. Raises ConfigError listing every problem."""
    ctx = Ctx({})
    data = load_yaml(text, ctx)
    if data is None and ctx.items:  # unreadable YAML: nothing more to check
        raise ConfigError(ctx.problems(), source)
    return _build(data, ctx, source)


def _build(data: Any, ctx: Ctx, source: str) -> RunConfig:
    if data is None:
        ctx.error((), "is empty; a config needs at least name, start and strategies (see docs/config.md)")
    elif not isinstance(data, dict) and data is not BAD:
        ctx.error((), f"must be a mapping of keys (name:, start:, strategies:, ...), got {show(data)}")
    if not isinstance(data, dict):
        raise ConfigError(ctx.problems(), source)
    check_keys(ctx, data, (), TOP_KEYS, elsewhere=TOP_ELSEWHERE)

    name = require(ctx, data, (), "name", "name: rotation")
    name = safe_name(ctx, name, ("name",), "run") if name is not MISSING else None
    description = text(ctx, data["description"], ("description",)) if data.get("description") is not None else None
    start = require(ctx, data, (), "start", "start: 2016-01-01")
    start = date(ctx, start, ("start",)) if start is not MISSING else None
    end = date(ctx, data["end"], ("end",)) if data.get("end") is not None else None
    if start is not None and end is not None and end <= start:
        ctx.error(("end",), f"must be after start ({start.date()}), got {end.date()}; swap them or leave end "
                            "out to run to the latest data")
    capital = 1_000_000.0
    if "capital" in data:
        capital = number(ctx, data["capital"], ("capital",), lo=MIN_CAPITAL, hi=MAX_CAPITAL, hi_open=True,
                         hint="; the starting value in dollars, e.g. 1000000")
    benchmark = ticker(ctx, data["benchmark"], ("benchmark",)) if "benchmark" in data else "SPY"
    rebalance = Schedule()
    if "rebalance" in data:
        rebalance = parse_schedule(ctx, data["rebalance"], ("rebalance",)) or Schedule()
    costs = Costs()
    if "costs" in data:
        costs = parse_costs(ctx, data["costs"], ("costs",)) or Costs()
    fill = choice(ctx, data["fill"], ("fill",), FILLS) if "fill" in data else "next_close"
    risk_free = _risk_free(ctx, data.get("risk_free"))
    benchmarks = _benchmarks(ctx, data["benchmarks"], ("benchmarks",), rebalance, benchmark) \
        if data.get("benchmarks") is not None else ()
    proxies = (parse_proxies(ctx, data["proxies"], ("proxies",), None) or ()) \
        if data.get("proxies") is not None else ()
    groups = parse_groups(ctx, data["groups"], ("groups",)) if "groups" in data else dict(DEFAULT_GROUPS)
    cash_yield = "risk_free"
    if data.get("cash_yield") is not None:
        cash_yield = parse_cash_yield(ctx, data["cash_yield"], ("cash_yield",)) or "risk_free"
    shares = "point_in_time"
    if data.get("shares") is not None:
        shares = choice(ctx, data["shares"], ("shares",), SHARE_METHODS) or "point_in_time"
    data_gaps = choice(ctx, data["data_gaps"], ("data_gaps",), GAP_POLICIES) if "data_gaps" in data else "sell"
    membership_source = "snapshot"
    if "membership_source" in data:
        membership_source = choice(ctx, data["membership_source"], ("membership_source",), MEMBERSHIP_SOURCES)

    strategies: list[StrategyConfig | None] = []
    raw = require(ctx, data, (), "strategies", "strategies: [{name: SPY only, weighting: fixed, "
                                               "weights: {SPY: 1}}]")
    items = sequence(ctx, raw, ("strategies",), "a list of strategies (each `- name: ...`)") \
        if raw is not MISSING else None
    if items is not None and len(items) > MAX_STRATEGIES:
        ctx.error(("strategies",), f"lists {len(items)} strategies; a run takes at most {MAX_STRATEGIES} "
                                   "(each is simulated and reported on one page); fix: split the config, or "
                                   "write one strategy with a `sweep:` grid and run it with `bt sweep` "
                                   "(chunked, parallel)")
        items = items[:MAX_STRATEGIES]
    seen: dict[str, int] = {}
    written: list[str] = []
    for i, item in enumerate(items or []):
        strategies.append(parse_strategy(ctx, item, ("strategies", i), groups=groups, rebalance=rebalance,
                                         costs=costs, cash_yield=cash_yield, shares=shares))
        raw_name = item.get("name") if isinstance(item, dict) else None
        if isinstance(raw_name, str) and raw_name.strip():
            key = unicodedata.normalize("NFC", raw_name.strip()).casefold()
            written.append(raw_name.strip())
            if key in seen:
                ctx.error(("strategies", i, "name"), f"duplicate strategy name {raw_name!r} (also strategies"
                                                     f"[{seen[key]}]); names must differ ignoring case and "
                                                     "Unicode spelling (NFC), as each names a results file")
            elif key.rstrip().endswith("(benchmark)"):
                ctx.error(("strategies", i, "name"), f"{raw_name!r} ends in '(benchmark)', the label the "
                                                     "report gives the benchmark's column; rename the strategy")
            seen.setdefault(key, i)

    check_sleeves(ctx, strategies)
    controls: tuple[str, ...] = ()
    if data.get("controls") is not None:
        controls = _controls(ctx, data["controls"], ("controls",), written, benchmarks)
    analytics = None       # no block: the rotation analytics run with their defaults where they apply
    if data.get("analytics") is not None:
        before = len(ctx.items)
        analytics = _analytics(ctx, data["analytics"], ("analytics",), start, end)
        done = [s for s in strategies if s is not None]
        if len(ctx.items) == before and done and len(done) == len(strategies) and not (
                any(s.universe is not None and s.universe.index for s in done)
                and any(s.weighting == "cap" for s in done)):
            ctx.error(("analytics",), "needs a strategy on an index universe (universe: sp500) and a strategy "
                                      "with weighting: cap: the rotation analytics decompose the point-in-time "
                                      "index with its members' share counts, which this run does not load; "
                                      "remove the analytics block, or add e.g. {name: S&P 500 rebuild, "
                                      "weighting: cap, universe: sp500}")
    sweep = None
    if data.get("sweep") is not None:
        sweep = parse_sweep(ctx, data["sweep"], ("sweep",), strategies, groups, names=written)
        if sweep is not None and controls:
            varied = {b.name.lower() for b, _ in plan(sweep, [s for s in strategies if s is not None])}
            for c in controls:
                if c.lower() in varied:
                    ctx.error(("sweep",), f"varies {c!r}, a control (controls:): its variants replace it, so "
                                          "no strategy would be measured against it; name the strategy to vary "
                                          f"with sweep.strategy, or copy {c!r} under another name to sweep it")
    evidence = parse_evidence(ctx, data["evidence"]) if "evidence" in data else Evidence()
    cash_flows = parse_cash_flows(ctx, data["cash_flows"], ("cash_flows",)) if data.get("cash_flows") else ()
    if ctx.items:
        raise ConfigError(ctx.problems(), source)
    return RunConfig(name=name, start=start, end=end, capital=capital, benchmark=benchmark, rebalance=rebalance,
                     benchmarks=benchmarks, proxies=proxies, controls=controls,
                     costs=costs, fill=fill, risk_free=risk_free, groups=MappingProxyType(groups),
                     membership_source=membership_source, data_gaps=data_gaps or "sell",
                     strategies=tuple(strategies), analytics=analytics,
                     sweep=sweep, description=description, evidence=evidence,
                     cash_flows=cash_flows)


def _benchmarks(ctx: Ctx, value: Any, path: tuple, rebalance: Schedule, primary: str | None
                ) -> tuple[Benchmark, ...]:
    """``benchmarks:`` -- further benchmarks beside ``benchmark``: tickers (``RSP``, bought once and held) or
    composites, ``{SPY: 0.6, AGG: 0.4}`` or ``{name, weights, rebalance}``, rebalanced on ``rebalance`` (the
    run's schedule unless given)."""
    items = sequence(ctx, value, path, "a list of tickers (RSP) or composites ({SPY: 0.6, AGG: 0.4} or "
                                       "{name: 60/40, weights: {SPY: 0.6, AGG: 0.4}, rebalance: quarterly})")
    out: list[Benchmark] = []
    seen = {primary.lower(): "benchmark"} if primary else {}
    for i, item in enumerate(items or []):
        p = (*path, i)
        name = None
        if isinstance(item, dict):
            full = "weights" in item
            if full:
                check_keys(ctx, item, p, ("name", "weights", "rebalance"))
            weights = parse_weights(ctx, item["weights"] if full else item, (*p, "weights") if full else p, {})
            sched = rebalance
            if full and item.get("rebalance") is not None:
                sched = parse_schedule(ctx, item["rebalance"], (*p, "rebalance"))
            if full and item.get("name") is not None:
                name = safe_name(ctx, item["name"], (*p, "name"), "benchmark")
            if weights is None or sched is None or (full and item.get("name") is not None and name is None):
                continue
            pairs = tuple(weights.items())
            name = name or " + ".join(f"{t} {w:.0%}" if len(pairs) > 1 else t for t, w in pairs)
            pairs = tuple(sorted(pairs))
        else:
            sym = ticker(ctx, item, p)
            if sym is None:
                continue
            pairs, sched, name = ((sym, 1.0),), Schedule(every="never"), sym
        if name.lower() in seen:
            ctx.error(p, f"benchmark name {name!r} is used twice (also {seen[name.lower()]}); names must differ")
            continue
        seen[name.lower()] = f"benchmarks[{i}]"
        out.append(Benchmark(name=name, weights=pairs, rebalance=sched))
    return tuple(out)


def _controls(ctx: Ctx, value: Any, path: tuple, names: list[str], benchmarks) -> tuple[str, ...]:
    """``controls:`` -- names of strategies every strategy is also measured against (like a benchmark)."""
    items = sequence(ctx, value, path, "a list of strategy names, e.g. ['Cap-weighted, no cap']")
    out = []
    taken = {b.name.lower() for b in benchmarks}
    for i, item in enumerate(items or []):
        if not isinstance(item, str) or item.strip() not in names:
            ctx.error((*path, i), f"must name a strategy of this config, got {show(item)}"
                                  f"{suggest(str(item), names)}; strategies: {', '.join(names)}")
        elif item.strip().lower() in taken:
            ctx.error((*path, i), f"{item!r} is also a benchmark name; rename the strategy or the benchmark")
        elif item.strip() not in out:
            out.append(item.strip())
    return tuple(out)


def benchmark_list(cfg: RunConfig) -> tuple[Benchmark, ...]:
    """Every benchmark of the run, the primary ``benchmark`` (held, bought once) first."""
    return (Benchmark(name=cfg.benchmark, weights=((cfg.benchmark, 1.0),)), *cfg.benchmarks)


def _risk_free(ctx: Ctx, value: Any) -> str | None:
    """None (a zero rate), "irx" (13-week T-bill yield; ``^IRX`` means the same) or a ticker such as BIL."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() in ("irx", "^irx"):
        return "irx"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        ctx.error(("risk_free",), f"must be a ticker (e.g. BIL), irx or null, got {show(value)}; a constant "
                                  "rate is not supported: use a cash ETF such as BIL")
        return None
    return ticker(ctx, value, ("risk_free",))


def _analytics(ctx: Ctx, value: Any, path: tuple, start: pd.Timestamp | None,
               end: pd.Timestamp | None) -> Analytics:
    default = Analytics()
    data = mapping(ctx, value, path, "a mapping {asof, windows, snapshot}")
    if data is None:
        return default
    check_keys(ctx, data, path, ANALYTICS_KEYS)
    asof = None
    if data.get("asof") is not None:
        asof = date(ctx, data["asof"], (*path, "asof"))
        if asof is not None and start is not None and asof < start:
            ctx.error((*path, "asof"), f"must not be before start ({start.date()}), got {asof.date()}")
        if asof is not None and end is not None and asof > end:
            ctx.error((*path, "asof"), f"must not be after end ({end.date()}), got {asof.date()}; leave it "
                                       "out to use the last date")
    windows: list = list(default.windows)
    if "windows" in data:
        items = sequence(ctx, data["windows"], (*path, "windows"),
                         f"a list of windows ({', '.join(WINDOWS)} or {{start, end}})") or []
        windows = []
        for i, item in enumerate(items):
            w = _window(ctx, item, (*path, "windows", i))
            if w is not None and w in windows:
                ctx.error((*path, "windows", i), f"repeats window {item!r}; remove the repeat")
            elif w is not None:
                windows.append(w)
    snapshot = default.snapshot
    if "snapshot" in data:
        items = sequence(ctx, data["snapshot"], (*path, "snapshot"), "a list of tickers", nonempty=False)
        snapshot = ticker_list(ctx, items, (*path, "snapshot"), groups={}) if items is not None else None
    return Analytics(asof=asof, windows=tuple(windows), snapshot=snapshot or ())


def _window(ctx: Ctx, value: Any, path: tuple) -> str | tuple | None:
    """A window name (ytd, mtd, full, <n>m, <n>y) or ``{start, end}`` -> ``(start, end or None)``."""
    if isinstance(value, str) and re.fullmatch(r"\s*(ytd|mtd|full|\d{1,3}[my])\s*", value.lower()):
        name = value.strip().lower()
        if name[:-1].isdigit() and not 0 < int(name[:-1]) <= (1200 if name[-1] == "m" else 100):
            ctx.error(path, f"must be a trailing window of 1 to 1200 months or 1 to 100 years, got {show(value)}")
            return None
        return name
    if value is BAD:
        return None
    if not isinstance(value, dict):
        tip = suggest(value.strip().lower(), WINDOWS) if isinstance(value, str) else ""
        ctx.error(path, f"must be a window name ({', '.join(WINDOWS)}, or any <n>m / <n>y) or a mapping "
                        f"{{start, end}}, got {show(value)}{tip}")
        return None
    check_keys(ctx, value, path, WINDOW_KEYS)
    raw = require(ctx, value, path, "start", "{start: 2020-02-19, end: 2020-03-23}")
    start = date(ctx, raw, (*path, "start")) if raw is not MISSING else None
    end = date(ctx, value["end"], (*path, "end")) if value.get("end") is not None else None
    if start is not None and end is not None and end <= start:
        ctx.error((*path, "end"), f"must be after start ({start.date()}), got {end.date()}")
        return None
    return (start, end) if start is not None else None


def config_to_dict(cfg: RunConfig) -> dict:
    """The resolved config as plain data (dicts, lists, str, float, int, None): `yaml.safe_dump` writes it
    and `parse_config` reads it back to a config equal to `cfg` (``source_path`` aside). Each strategy's
    rebalance and costs are written out in full."""
    out: dict[str, Any] = {"name": cfg.name}
    if cfg.description is not None:
        out["description"] = cfg.description
    out.update({
        "start": day_text(cfg.start), "end": day_text(cfg.end), "capital": cfg.capital,
        "benchmark": cfg.benchmark, "rebalance": schedule_dict(cfg.rebalance), "costs": costs_dict(cfg.costs),
        "fill": cfg.fill, "risk_free": cfg.risk_free, "groups": {k: list(v) for k, v in cfg.groups.items()},
        "membership_source": cfg.membership_source, "data_gaps": cfg.data_gaps,
        "strategies": [strategy_dict(s) for s in cfg.strategies],
    })
    if cfg.analytics is not None:
        out["analytics"] = analytics_dict(cfg.analytics)
    if cfg.benchmarks:
        out["benchmarks"] = [b.name if b.weights == ((b.name, 1.0),) and b.rebalance.every == "never" else
                             {"name": b.name, "weights": dict(b.weights), "rebalance": schedule_dict(b.rebalance)}
                             for b in cfg.benchmarks]
    if cfg.proxies:
        out["proxies"] = dict(cfg.proxies)
    if cfg.controls:
        out["controls"] = list(cfg.controls)
    if cfg.sweep is not None:
        out["sweep"] = sweep_dict(cfg.sweep)
    if cfg.evidence != Evidence():
        out["evidence"] = evidence_dict(cfg.evidence)
    if cfg.cash_flows:
        out["cash_flows"] = [{k: (f"{v:%Y-%m-%d}" if k == "date" else v) for k, v in
                              (("every", f.every), ("date", f.date), ("amount", f.amount), ("percent", f.percent))
                              if v is not None} for f in cfg.cash_flows]
    return out


def apply_overrides(cfg: RunConfig, start: Any = None, end: Any = None) -> RunConfig:
    """`cfg` with `start`/`end` replaced (None keeps the config's), re-validated as a whole.

    `start`/`end` may be ``"YYYY-MM-DD"`` text, `datetime.date`, `pandas.Timestamp` or `numpy.datetime64`.
    Raises ConfigError (paths ``start``/``end``) when a date is invalid or the range is empty.
    """
    if start is None and end is None:
        return cfg
    data = config_to_dict(cfg)
    for key, value in (("start", start), ("end", end)):
        if isinstance(value, np.datetime64) and not np.isnat(value):
            value = pd.Timestamp(value)
        if value is not None:
            data[key] = value.date() if isinstance(value, pd.Timestamp) and not pd.isna(value) else value
    base = str(cfg.source_path) if cfg.source_path else "config"
    new = _build(data, Ctx({}), f"{base} with --start/--end")
    return dataclasses.replace(new, source_path=cfg.source_path)


def expand_sweep(cfg: RunConfig) -> list[tuple[str, StrategyConfig]]:
    """The sweep's variants as ``[(base strategy name, variant), ...]``; ``[]`` when there is no sweep.

    Variants follow the strategies' order, then the grid's cartesian product with the first key varying
    slowest. A variant is the base strategy with the values applied, named like
    ``Cap-weighted, 5% cap [caps.single=0.03, rebalance=monthly]``.
    """
    return expand(cfg.sweep, cfg.strategies, cfg.groups)


def swept_config(cfg: RunConfig) -> RunConfig:
    """`cfg` with every swept strategy replaced, in place, by its variants, and ``sweep`` cleared."""
    if cfg.sweep is None:
        return cfg
    by_base: dict[str, list[StrategyConfig]] = {}
    for base, variant in expand_sweep(cfg):
        by_base.setdefault(base, []).append(variant)
    strategies = [v for s in cfg.strategies for v in by_base.get(s.name, [s])]
    return dataclasses.replace(cfg, strategies=tuple(strategies), sweep=None)

