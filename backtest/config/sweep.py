"""Parameter sweeps: ``sweep: {strategy, grid: {key.path: [values]}}`` validated and expanded.

A variant is made by writing the value into the strategy's resolved dict (`config_dump.strategy_dict`) at
the key path and validating the result with the very rules of a hand-written strategy, so a swept value can
never be something a config could not say directly.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import itertools
import math
from typing import Any, Iterator, Sequence

from backtest.config.blocks import Groups
from backtest.config.check import (
    BAD, MISSING, Ctx, check_keys, format_path, mapping, num, require, sequence, show, suggest,
)
from backtest.config.dump import freeze, strategy_dict, thaw
from backtest.config.schema import WEIGHTINGS, StrategyConfig, Sweep
from backtest.config.strategy import ONLY_FOR, RUN_LEVEL, parse_strategy
from backtest.errors import ConfigError

ANY = "<key>"  # any ticker or group name at this level
_LEAF = None
SCHEMA: dict = {
    "name": _LEAF, "weighting": _LEAF,
    "universe": {"index": _LEAF, "tickers": _LEAF, "exclude": _LEAF, "membership": _LEAF},
    "weights": ANY,
    "tilt": {"group": _LEAF, "multiplier": _LEAF, "weight": _LEAF, "inside": _LEAF, "while_leading": _LEAF},
    "caps": {"single": _LEAF, "groups": ANY, "rule": _LEAF,
             "aggregate": {"threshold": _LEAF, "limit": _LEAF, "single": _LEAF}},
    "per": _LEAF,
    "rebalance": {"every": _LEAF, "day": _LEAF, "weekday": _LEAF, "nth": _LEAF,
                  "drift": {"absolute": _LEAF, "relative": _LEAF}},
    "costs": {"commission_bps": _LEAF, "slippage_bps": _LEAF},
    "expense_ratio": _LEAF, "cash_yield": _LEAF, "proxies": ANY,
    "lookback": _LEAF, "covariance": _LEAF,
    "select": {"by": _LEAF, "lookback": _LEAF, "skip": _LEAF, "top": _LEAF, "bottom": _LEAF},
    "trend": {"ticker": _LEAF, "days": _LEAF, "defensive": _LEAF},
    "sleeves": ANY, "borrow_fee": _LEAF, "shares": _LEAF,
}
# Setting one of these keys removes its alternatives, so a swept value replaces rather than conflicts.
ALTERNATIVES = {("caps", "rule"): ("aggregate",), ("caps", "aggregate"): ("rule",),
                ("tilt", "multiplier"): ("weight", "inside"), ("tilt", "weight"): ("multiplier",),
                ("rebalance", "weekday"): ("day",), ("rebalance", "day"): ("weekday", "nth"),
                ("select", "top"): ("bottom",), ("select", "bottom"): ("top",)}
MAX_VARIANTS = 10_000


def _all_paths(node: Any = SCHEMA, prefix: str = "") -> list[str]:
    if not isinstance(node, dict):
        return [prefix] if node is _LEAF else [prefix, f"{prefix}.{ANY}"]
    out = [prefix] if prefix else []
    for key, sub in node.items():
        out += _all_paths(sub, f"{prefix}.{key}" if prefix else key)
    return out


def allowed(key: str, weighting: str) -> bool:
    """Whether the weighting has the key's block at all (caps and tilt: cap; weights: fixed; ...)."""
    return weighting in ONLY_FOR.get(key.split(".")[0], (weighting,))


def applies(key: str, strategy: StrategyConfig) -> bool:
    """Whether an unnamed sweep varies `key` on `strategy`: its weighting has the block and, for the optional
    blocks tilt, caps, select and trend, the strategy already uses it (a sweep never adds one unasked)."""
    top = key.split(".")[0]
    if not allowed(key, strategy.weighting):
        return False
    return top not in ("tilt", "caps", "select", "trend") or getattr(strategy, top) is not None


def _check_key(ctx: Ctx, key: str, path: tuple) -> bool:
    segs = key.split(".")
    if any(not s.strip() for s in segs):
        ctx.error(path, f"{key!r} is not a key path; write dotted strategy keys such as caps.single",
                  at_key=True)
        return False
    if segs[0] == "name":
        ctx.error(path, "name cannot be swept: variants are named after their strategy and values", at_key=True)
        return False
    node: Any = SCHEMA
    for i, seg in enumerate(segs):
        if node is ANY:
            node = _LEAF
            continue
        if node is _LEAF:
            ctx.error(path, f"{'.'.join(segs[:i])} takes a single value and has no key {seg!r}; sweep "
                            f"{'.'.join(segs[:i])} itself", at_key=True)
            return False
        if i == 0 and seg in RUN_LEVEL:
            ctx.error(path, f"{seg!r} is a run-level key, the same for every strategy of a run: it cannot be "
                            "swept; run the config once per value (bt run --start/--end for the period)",
                      at_key=True)
            return False
        if seg not in node:
            ctx.error(path, f"unknown strategy key path {key!r}"
                            f"{suggest(key, _all_paths()) or '; e.g. caps.single, rebalance, tilt.multiplier'}",
                      at_key=True)
            return False
        node = node[seg]
    return True


def label(value: Any) -> str:
    """A value as it appears in a variant name (no path separators, no control characters)."""
    if isinstance(value, dict):
        out = "{" + ", ".join(f"{k}: {label(v)}" for k, v in value.items()) + "}"
    elif isinstance(value, list):
        out = "[" + ", ".join(label(v) for v in value) + "]"
    elif isinstance(value, bool) or value is None:
        out = show(value)
    elif isinstance(value, float) and math.isfinite(value):
        out = num(value)
    elif isinstance(value, dt.date):
        out = value.isoformat()
    else:
        out = str(value)
    return "".join(c if c.isprintable() else " " for c in out).replace("/", "-").replace("\\", "-")


def _deep_set(data: dict, segs: Sequence[str], value: Any) -> None:
    cur = data
    for seg in segs[:-1]:
        if not isinstance(cur.get(seg), dict):
            cur[seg] = {}
        cur = cur[seg]
    for alt in ALTERNATIVES.get(tuple(segs[-2:]), ()):
        cur.pop(alt, None)
    cur[segs[-1]] = value


Grid = tuple  # ((key, (value, ...)), ...)


def variants(base: StrategyConfig, grid: Grid, groups: Groups
             ) -> Iterator[tuple[tuple[int, ...], StrategyConfig | None, Ctx]]:
    """Every combination of `grid` on `base`: (value indexes, variant or None, its problems), in order."""
    base_dict = strategy_dict(base)
    for idx in itertools.product(*(range(len(values)) for _, values in grid)):
        data = copy.deepcopy(base_dict)
        parts = []
        for (key, values), i in zip(grid, idx):
            value = thaw(values[i])
            _deep_set(data, key.split("."), value)
            parts.append(f"{key}={label(value)}")
        data["name"] = name = f"{base.name} [{', '.join(parts)}]"
        sub = Ctx()
        sub.swept = True        # a grid's cross product may pair a group cap with excluding that group
        sub.borrow_swept = any(k.split(".")[0] == "borrow_fee" for k, _ in grid)
        # a generated name: no length limit (the base name has at most MAX_NAME characters; file names are
        # slugs, shortened and made unique by the run folder)
        variant = parse_strategy(sub, data, (), groups=groups, rebalance=base.rebalance, costs=base.costs,
                                 max_name=len(name))
        variant = None if sub.items else variant
        yield idx, variant, sub


def plan(sweep: Sweep, strategies: Sequence[StrategyConfig]) -> list[tuple[StrategyConfig, Grid]]:
    """Each swept strategy with the part of the grid it varies, in strategy order.

    A named strategy varies every key; otherwise each strategy varies the keys that apply to it (see
    `applies`) and strategies no key applies to are left alone.
    """
    if sweep.strategy is not None:
        return [(s, sweep.grid) for s in strategies if s.name.lower() == sweep.strategy.lower()]
    out = []
    for s in strategies:
        grid = tuple(cell for cell in sweep.grid if applies(cell[0], s))
        if grid:
            out.append((s, grid))
    return out


def parse_sweep(ctx: Ctx, raw: Any, path: tuple, strategies: Sequence[StrategyConfig | None],
                groups: Groups, names: Sequence[str] = ()) -> Sweep | None:
    """Validate the ``sweep:`` block, including every variant it makes.

    `strategies` holds None for entries that failed validation; `names` the names written for all
    entries, so a sweep naming an invalid strategy is not reported as naming an unknown one.
    """
    data = mapping(ctx, raw, path, "a mapping {strategy, grid}, e.g. {grid: {caps.single: [0.03, 0.05]}}")
    if data is None:
        return None
    check_keys(ctx, data, path, ("strategy", "grid"))
    valid = [s for s in strategies if s is not None]
    ok = True
    target = None
    if data.get("strategy") is not None:
        raw_name = data["strategy"]
        key = raw_name.strip().lower() if isinstance(raw_name, str) else None
        match = [s.name for s in valid if s.name.lower() == key]
        if raw_name is BAD:
            ok = False
        elif match:
            target = match[0]
        else:
            if key not in [n.lower() for n in names]:
                listed = [s.name for s in valid] or list(names)
                ctx.error((*path, "strategy"), f"must name one of the strategies ({', '.join(map(repr, listed))}), "
                                               f"got {show(raw_name)}{suggest(str(raw_name), listed)}")
            ok = False
    grid_raw = require(ctx, data, path, "grid", "grid: {caps.single: [0.03, 0.05, 0.10]}")
    grid = mapping(ctx, grid_raw, (*path, "grid"), "a mapping of strategy key path to a list of values, "
                                                   "e.g. {caps.single: [0.03, 0.05]}") if grid_raw is not MISSING else None
    if grid == {}:
        ctx.error((*path, "grid"), "must not be empty; e.g. {caps.single: [0.03, 0.05]}")
        grid = None
    if grid is None:
        return None
    cells = []
    count = 1
    for key, raw_values in grid.items():
        kpath = (*path, "grid", key)
        key_ok = _check_key(ctx, key, kpath)
        values = sequence(ctx, raw_values, kpath, "a non-empty list of values, e.g. [0.03, 0.05]")
        if values is not None:
            frozen = [freeze(v) for v in values]
            for i, v in enumerate(frozen):
                if v in frozen[:i]:
                    ctx.error((*kpath, i), f"repeats value {label(values[i])} (item {frozen.index(v)}); "
                                           "remove the repeat")
                    values = None
                    break
        if not key_ok or values is None:
            ok = False
            continue
        count *= len(values)
        cells.append((key.strip(), tuple(frozen)))
    if ok and count > MAX_VARIANTS:
        ctx.error((*path, "grid"), f"makes {count} variants per strategy; at most {MAX_VARIANTS}: sweep fewer "
                                   "values or keys")
        ok = False
    if not ok:
        return None
    sweep = Sweep(grid=tuple(cells), strategy=target)
    chosen = plan(sweep, valid)
    if target is not None:
        base = chosen[0][0]
        for key, _ in sweep.grid:
            if not allowed(key, base.weighting):
                ctx.error((*path, "grid", key), f"does not apply to {base.name!r} (weighting: {base.weighting}); "
                                                f"{key.split('.')[0]} needs weighting "
                                                f"{' or '.join(ONLY_FOR[key.split('.')[0]])}", at_key=True)
                return None
    elif len(valid) == len(strategies):
        used = {key for _, grid in chosen for key, _ in grid}
        for key, _ in sweep.grid:
            if key not in used:
                top = key.split(".")[0]
                ctx.error((*path, "grid", key), f"applies to no strategy (none has {top} with weighting "
                                                f"{' or '.join(ONLY_FOR.get(top, WEIGHTINGS))}); name the "
                                                "strategy to vary with sweep.strategy, or remove the key",
                          at_key=True)
        if len(used) < len(sweep.grid):
            return None
    held = {n.lower(): s.name for s in valid for n, _ in s.sleeves}
    for base, _ in chosen:      # a swept strategy is replaced by its variants: a parent would lose its sleeve
        if base.name.lower() in held:
            ctx.error((*path, "strategy" if target is not None else "grid"),
                      f"varies {base.name!r}, a sleeve of {held[base.name.lower()]!r}: its variants replace it, so "
                      f"the sleeves strategy would name a strategy that is not run; sweep another strategy "
                      f"(name it with sweep.strategy), or copy {base.name!r} under another name to sweep it")
            return None
    written = {s.name.lower() for s in valid if s not in [c[0] for c in chosen]}   # strategies run as written
    named: set[str] = set()         # the variants' names so far
    unlisted: dict = {}             # swept strategy -> problems of whole variants (`_report`)
    for base, grid in chosen:
        seen: dict = {}
        repeats: list[tuple[str, str]] = []
        for idx, variant, sub in variants(base, grid, groups):
            _report(ctx, path, grid, idx, sub, base.name, unlisted)
            if variant is None:
                continue
            same = _resolved(variant)
            if same in seen:        # the same backtest under another name: checked before the names
                repeats.append((seen[same], variant.name))
                continue
            seen[same] = variant.name
            if variant.name.lower() in written:
                ctx.error((*path, "grid"), f"variant name {variant.name!r} is already a strategy name; rename "
                                           "that strategy")
            elif variant.name.lower() in named:
                ctx.error((*path, "grid"), f"two different values print alike in the variant name "
                                           f"{variant.name!r} (a number's shortest text, say 0.001 and "
                                           "0.0010000000000000002); keep one of them")
            else:
                named.add(variant.name.lower())
        if repeats:
            first, second = repeats[0]
            ctx.error((*path, "grid"), f"{len(repeats)} variant(s) of {base.name!r} repeat another: {second!r} is "
                                       f"the same strategy as {first!r} (values that resolve alike, such as "
                                       "monthly and {every: monthly}, or a key another key overrides: rebalance "
                                       "and rebalance.every, caps and caps.single, tilt.multiplier and "
                                       "tilt.weight); a repeat runs the same backtest twice under two names and "
                                       "counts twice in the DSR and PBO; fix: keep one of the values or keys")
    _held_back(ctx, path, unlisted)
    return sweep


VARIANT_PROBLEMS_SHOWN = 10    # problems of whole variants listed per swept strategy; the rest are counted


def _report(ctx: Ctx, path: tuple, grid: Grid, idx: tuple[int, ...], sub: Ctx, base: str,
            held: dict | None = None) -> None:
    """Re-home a variant's problems onto the sweep value (or key) that caused them. A problem of a whole
    variant (weights that do not sum to 1, say) is listed for the first `VARIANT_PROBLEMS_SHOWN` variants
    only; ``held`` counts the rest (`_held_back` says how many), so a 2,662-variant grid gives a screenful,
    not 2,662 lines."""
    for item in sub.items:
        for (key, _), i in zip(grid, idx):
            segs = tuple(key.split("."))
            if item.path[:len(segs)] == segs:
                rest = item.path[len(segs):]
                if item.at_key and not rest:
                    ctx.error((*path, "grid", key), item.message, at_key=True)
                else:
                    ctx.error((*path, "grid", key, i, *rest), item.message)
                break
        else:
            if held is not None:
                held[base] = held.get(base, 0) + 1
                if held[base] > VARIANT_PROBLEMS_SHOWN:
                    continue
            combo = ", ".join(f"{k}={label(thaw(v[i]))}" for (k, v), i in zip(grid, idx))
            ctx.error((*path, "grid"), f"variant of {base!r} with {combo}: "
                                       f"{format_path(item.path) or 'strategy'}: {item.message}")


def _held_back(ctx: Ctx, path: tuple, held: dict) -> None:
    """One problem per swept strategy saying how many variant problems `_report` did not list."""
    for base, n in held.items():
        if n > VARIANT_PROBLEMS_SHOWN:
            ctx.error((*path, "grid"), f"variants of {base!r}: {n - VARIANT_PROBLEMS_SHOWN} more problem(s) of "
                                       f"whole variants like the {VARIANT_PROBLEMS_SHOWN} above (not listed); fix "
                                       "the grid's values and validate again")


def expand(sweep: Sweep | None, strategies: Sequence[StrategyConfig], groups: Groups
           ) -> list[tuple[str, StrategyConfig]]:
    """(base strategy name, variant) for every swept strategy and combination, in a fixed order."""
    if sweep is None:
        return []
    out: list[tuple[str, StrategyConfig]] = []
    ctx = Ctx()
    for base, grid in plan(sweep, strategies):
        for idx, variant, sub in variants(base, grid, groups):
            _report(ctx, ("sweep",), grid, idx, sub, base.name)
            if variant is not None:
                out.append((base.name, variant))
    if ctx.items:
        raise ConfigError(ctx.problems(), "sweep")
    return out


def _resolved(variant: StrategyConfig):
    """A variant as the strategy it runs (its name aside): equal for variants that run the same backtest
    (a schedule's ``day: first``/``last`` is its 1/-1)."""
    plain = dataclasses.replace(variant, name="")
    sched = plain.rebalance
    if sched is not None and sched.day in ("first", "last"):
        plain = dataclasses.replace(plain, rebalance=dataclasses.replace(sched, day=1 if sched.day == "first" else -1))
    try:
        hash(plain)
        return plain
    except TypeError:
        return repr(plain)
