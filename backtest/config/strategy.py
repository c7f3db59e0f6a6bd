"""Validate one strategy entry: its keys, which blocks its weighting allows, and cap feasibility."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping

from backtest.config.blocks import (
    Groups, expand, parse_caps, parse_costs, parse_schedule, parse_tilt, parse_universe,
)
from backtest.config.check import (
    MISSING, Ctx, check_keys, choice, mapping, num, number, require, safe_name, ticker,
)
from backtest.config.schema import PER, WEIGHTINGS, Caps, Costs, Schedule, StrategyConfig, Tilt, UniverseSpec

STRATEGY_KEYS = ("name", "weighting", "universe", "weights", "tilt", "caps", "per", "rebalance", "costs",
                 "expense_ratio", "cash_yield", "proxies")
RUN_ONLY_HINT = "it is a run-level key: set it at the top level of the config, not inside a strategy"
STRATEGY_ELSEWHERE = {k: RUN_ONLY_HINT for k in ("start", "end", "capital", "benchmark", "fill", "risk_free",
                                                 "groups", "membership_source", "analytics", "sweep")}
STRATEGY_ELSEWHERE.update({
    "single": "did you mean caps.single? e.g. caps: {single: 0.05}",
    "multiplier": "did you mean tilt.multiplier? e.g. tilt: {group: mag7, multiplier: 1.5}",
    "index": "did you mean universe.index? e.g. universe: sp500",
    "exclude": "did you mean universe.exclude? e.g. universe: {index: sp500, exclude: [mag7]}",
    "tickers": "did you mean universe.tickers? e.g. universe: [AAPL, MSFT]",
})
# Blocks a weighting allows, and why the others do not apply.
ONLY_FOR = {"universe": ("equal", "cap"), "weights": ("fixed",), "tilt": ("cap",), "caps": ("cap",),
            "per": ("equal", "cap")}
WHY = {
    "universe": "a fixed strategy holds exactly the tickers in its weights; remove universe",
    "weights": "weights are only for weighting: fixed (equal and cap compute their own); remove weights",
    "tilt": "a tilt scales market-cap weights, so it needs weighting: cap; remove tilt or set weighting: cap",
    "caps": "caps limit market-cap weights, so they need weighting: cap (equal and fixed weights are set "
            "directly); remove caps or set weighting: cap",
}
WEIGHT_TOLERANCE = 1e-6
MAX_NAME = 80


def parse_strategy(ctx: Ctx, raw: Any, path: tuple, *, groups: Groups, rebalance: Schedule, costs: Costs,
                   max_name: int = MAX_NAME) -> StrategyConfig | None:
    """One ``strategies:`` entry -> StrategyConfig, with `rebalance`/`costs` as the run-level defaults."""
    data = mapping(ctx, raw, path, "a mapping with name, weighting and its settings")
    if data is None:
        return None
    check_keys(ctx, data, path, STRATEGY_KEYS, elsewhere=STRATEGY_ELSEWHERE)
    ok = True
    name = require(ctx, data, path, "name", "name: Equal-weight S&P 493")
    name = safe_name(ctx, name, (*path, "name"), "strategy", max_len=max_name) if name is not MISSING else None
    weighting = require(ctx, data, path, "weighting", "weighting: cap   # fixed | equal | cap")
    weighting = choice(ctx, weighting, (*path, "weighting"), WEIGHTINGS) if weighting is not MISSING else None
    ok &= name is not None and weighting is not None

    parts: dict[str, Any] = {}
    parsers = {
        "universe": lambda v, p: parse_universe(ctx, v, p, groups),
        "weights": lambda v, p: _weights(ctx, v, p, groups),
        "tilt": lambda v, p: parse_tilt(ctx, v, p, groups),
        "caps": lambda v, p: parse_caps(ctx, v, p, groups),
    }
    for key, parse in parsers.items():
        if data.get(key) is not None:
            parts[key] = parse(data[key], (*path, key))
            ok &= parts[key] is not None
            if weighting is not None and weighting not in ONLY_FOR[key]:
                ctx.error((*path, key), f"does not apply to weighting: {weighting}; {WHY[key]}", at_key=True)
                ok = False
    if weighting == "fixed" and data.get("weights") is None:
        ctx.error((*path, "weights"), "is required for weighting: fixed; add e.g. `weights: {SPY: 0.7, AVUV: 0.3}`")
        ok = False
    if weighting in ("equal", "cap") and data.get("universe") is None:
        ctx.error((*path, "universe"), f"is required for weighting: {weighting}; add e.g. `universe: sp500` or "
                                       "`universe: [AAPL, MSFT]`")
        ok = False

    schedule = rebalance
    if data.get("rebalance") is not None:
        schedule = parse_schedule(ctx, data["rebalance"], (*path, "rebalance"))
        ok &= schedule is not None
    own_costs = costs
    if data.get("costs") is not None:
        own_costs = parse_costs(ctx, data["costs"], (*path, "costs"))
        ok &= own_costs is not None
    expense = 0.0
    if "expense_ratio" in data:
        expense = number(ctx, data["expense_ratio"], (*path, "expense_ratio"), lo=0, hi=0.1,
                         hint="; a yearly fraction, e.g. 0.0003 for 0.03%")
        ok &= expense is not None
    cash_yield = None
    if data.get("cash_yield") is not None:
        cash_yield = ticker(ctx, data["cash_yield"], (*path, "cash_yield"))
        ok &= cash_yield is not None
        u = parts.get("universe")
        held = set(dict(parts.get("weights") or {})) | (expand(u.tickers, groups) - expand(u.exclude, groups)
                                                        if u is not None else set())
        if cash_yield in held:
            # the idle-cash sleeve is its own column of that ticker, bought free of costs: a target in the same
            # ticker would be one holding traded two ways (see docs/config.md, cash_yield)
            other = "SGOV" if cash_yield == "BIL" else "BIL"
            ctx.error((*path, "cash_yield"), f"{cash_yield} is also a target of this strategy (in its "
                                             f"{'weights' if parts.get('weights') else 'universe'}); idle cash "
                                             f"cannot be held in a ticker the strategy trades; fix: choose a "
                                             f"cash ticker the strategy does not hold, e.g. {other}, or remove "
                                             f"cash_yield (idle cash then earns nothing)")
            ok = False
    proxies: tuple = ()
    if data.get("proxies") is not None:
        got = _proxies(ctx, data["proxies"], (*path, "proxies"), parts.get("weights"))
        ok &= got is not None
        proxies = got or ()
    per = "company"
    if data.get("per") is not None:
        per = choice(ctx, data["per"], (*path, "per"), PER)
        ok &= per is not None
        tilt = parts.get("tilt")
        equal_tilt = tilt is not None and tilt.weight is not None and tilt.inside == "equal"
        if weighting == "fixed" or (weighting == "cap" and tilt is not None and not equal_tilt):
            ctx.error((*path, "per"), "applies only to equal splits (weighting: equal, or a tilt with weight "
                                      "and inside: equal), where it says whether a company's share classes share "
                                      "one slot (company) or each get one (line); remove it", at_key=True)
            ok = False
        elif weighting == "cap" and tilt is None:
            ctx.error((*path, "per"), "applies only to equal splits: cap weights hold each share class at its "
                                      "own cap; remove it, or add tilt: {group: mag7, weight: 0.4, inside: "
                                      "equal}", at_key=True)
            ok = False
    if not ok:
        return None
    if weighting == "cap":
        _feasibility(ctx, path, parts["universe"], parts.get("tilt"), parts.get("caps"), groups)
    return StrategyConfig(name=name, weighting=weighting, universe=parts.get("universe"),
                          weights=parts.get("weights"), tilt=parts.get("tilt"), caps=parts.get("caps"),
                          rebalance=schedule, costs=own_costs, expense_ratio=expense, cash_yield=cash_yield,
                          proxies=proxies, per=per)


def _weights(ctx: Ctx, value: Any, path: tuple, groups: Groups) -> Mapping[str, float] | None:
    data = mapping(ctx, value, path, "a mapping of ticker to weight, e.g. {SPY: 0.7, AVUV: 0.3}")
    if data is None:
        return None
    if not data:
        ctx.error(path, "must list at least one ticker, e.g. {SPY: 0.7, AVUV: 0.3}")
        return None
    out: dict[str, float] = {}
    ok = True
    for key, raw in data.items():
        if key.strip().lower() in groups:
            ctx.error((*path, key), f"{key!r} is a group; weights take tickers, so list its members",
                      at_key=True)
            ok = False
            continue
        sym = ticker(ctx, key, (*path, key), at_key=True)
        w = number(ctx, raw, (*path, key), lo=0, hi=1, hint="; a fraction of the portfolio, e.g. 0.3")
        if sym is not None and sym in out:
            ctx.error((*path, key), f"names {sym} a second time; merge the two weights", at_key=True)
            ok = False
        elif sym is None or w is None:
            ok = False
        else:
            out[sym] = w
    if not ok:
        return None
    total = sum(out.values())
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        terms = " + ".join(f"{k} {num(v)}" for k, v in out.items()) if len(out) <= 8 else f"{len(out)} weights"
        fix = (f"add {num(1 - total)} to one of them" if total < 1 else f"take {num(total - 1)} off them")
        ctx.error(path, f"must sum to 1 (within {WEIGHT_TOLERANCE:g}), got {num(total)} ({terms}); {fix}, "
                        f"or divide each by {num(total)}" if total > 0 else
                        f"must sum to 1 (within {WEIGHT_TOLERANCE:g}), got 0; give the tickers positive weights")
        return None
    return MappingProxyType(out)


def _proxies(ctx: Ctx, value: Any, path: tuple, weights: Mapping[str, float] | None) -> tuple | None:
    data = mapping(ctx, value, path, "a mapping of ticker to the proxy whose history is spliced on before it "
                                     "lists, e.g. {AVUV: IWN}")
    if data is None:
        return None
    pairs: dict[str, str] = {}
    ok = True
    for key, raw in data.items():
        sym = ticker(ctx, key, (*path, key), at_key=True)
        proxy = ticker(ctx, raw, (*path, key))
        if sym is None or proxy is None:
            ok = False
        elif sym == proxy:
            ctx.error((*path, key), f"{sym} cannot be its own proxy; name an older fund that tracks it, e.g. IWN")
            ok = False
        elif weights is not None and sym not in weights:
            ctx.error((*path, key), f"{sym} is not in weights, so its proxy would never be used; remove it or "
                                    "add the ticker to weights", at_key=True)
            ok = False
        else:
            pairs[sym] = proxy
    for start in pairs:
        seen, cur = [start], pairs[start]
        while cur in pairs and cur not in seen:
            seen.append(cur)
            cur = pairs[cur]
        if cur == start:
            ctx.error((*path, start), f"proxies form a loop ({' -> '.join([*seen, start])}); break it")
            return None
    return tuple(pairs.items()) if ok else None


def _max_total(n: int, caps: Caps) -> float:
    """Largest total weight `n` names can hold under the single and aggregate caps."""
    s = caps.single if caps.single is not None else 1.0
    agg = caps.aggregate
    if agg is None:
        return n * s
    s = min(s, agg.single)
    if s <= agg.threshold:
        return n * s
    return max(min(agg.limit, k * s) + (n - k) * agg.threshold for k in range(n + 1))


def _feasibility(ctx: Ctx, path: tuple, universe: UniverseSpec, tilt: Tilt | None, caps: Caps | None,
                 groups: Groups) -> None:
    """Conflicts decidable from the config alone (explicit universes, tilt weight vs caps)."""
    explicit = universe.index is None
    excluded = expand(universe.exclude, groups)
    names = expand(universe.tickers, groups) - excluded if explicit else set()
    single = None
    if caps is not None:
        limits = [x for x in (caps.single, caps.aggregate.single if caps.aggregate else None) if x is not None]
        single = min(limits) if limits else None
    if tilt is not None and groups[tilt.group]:
        members = set(groups[tilt.group])
        if tilt.group in universe.exclude or members <= excluded:
            ctx.error((*path, "tilt", "group"), f"{tilt.group!r} is excluded from the universe "
                                                "(universe.exclude), so it cannot be tilted; remove it from "
                                                "exclude or tilt another group")
            return
        if explicit and not members & names:
            ctx.error((*path, "tilt", "group"), f"{tilt.group!r} has no member in the universe "
                                                f"({', '.join(sorted(names)[:8])}); add members or tilt another "
                                                "group")
            return
        if tilt.weight is not None:
            w = tilt.weight
            for g, cap in (caps.groups if caps else ()):
                if g == tilt.group and cap < w:
                    ctx.error((*path, "caps", "groups", g), f"cap {num(cap)} on {g!r} is below tilt.weight "
                                                            f"{num(w)} for the same group: both cannot hold; "
                                                            "lower tilt.weight or raise the cap")
            held = members & names if explicit else members
            if single is not None and len(held) * single < w - 1e-12:
                ctx.error((*path, "tilt", "weight"), f"{num(w)} cannot be held: the group's {len(held)} names "
                                                     f"capped at {num(single)} hold at most "
                                                     f"{num(len(held) * single)}; lower the weight or raise "
                                                     "the cap")
            rest = names - members
            if explicit and not rest:
                ctx.error((*path, "tilt", "weight"), f"{num(w)} leaves {num(1 - w)} for names outside "
                                                     f"{tilt.group!r}, but the universe has none; use "
                                                     "multiplier or add other tickers")
            elif explicit and single is not None and len(rest) * single < 1 - w - 1e-12:
                ctx.error((*path, "tilt", "weight"), f"leaves {num(1 - w)} for the {len(rest)} names outside "
                                                     f"{tilt.group!r}, but capped at {num(single)} they hold "
                                                     f"at most {num(len(rest) * single)}; raise the cap or "
                                                     "the weight")
    if caps is not None and explicit:
        bound = _max_total(len(names), caps)
        if bound < 1 - 1e-9:
            ctx.error((*path, "caps"), f"cannot be met: the universe's {len(names)} names can hold at most "
                                       f"{num(bound)} in total under these caps (they must hold 1); loosen the "
                                       "caps or add tickers")
        for g, cap in caps.groups:
            if cap < 1 and names <= set(groups[g]):
                ctx.error((*path, "caps", "groups", g), f"every name of the universe is in {g!r}, so a cap of "
                                                        f"{num(cap)} on it cannot be met; remove the cap or "
                                                        "add tickers")
