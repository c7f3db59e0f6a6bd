"""Validate one strategy entry: its keys, which blocks its weighting allows, and cap feasibility."""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any, Mapping

from backtest.config.blocks import (
    Groups, expand, parse_caps, parse_costs, parse_schedule, parse_tilt, parse_universe,
)
from backtest.config.check import (
    MISSING, Ctx, check_keys, choice, integer, mapping, num, number, require, safe_name, ticker,
)
from backtest.config.schema import (
    CASH_SPECIAL, COVARIANCES, PER, RISK_WEIGHTINGS, SELECT_BY, SHARE_METHODS, WEIGHTINGS, Caps, Costs, Schedule,
    Select, StrategyConfig,
    Tilt, Trend, UniverseSpec,
)

STRATEGY_KEYS = ("name", "weighting", "universe", "weights", "tilt", "caps", "per", "rebalance", "costs",
                 "expense_ratio", "cash_yield", "proxies", "lookback", "covariance",
                 "select", "trend", "sleeves", "borrow_fee", "shares")
RUN_ONLY_HINT = "it is a run-level key: set it at the top level of the config, not inside a strategy"
RUN_LEVEL = ("description", "start", "end", "capital", "benchmark", "benchmarks", "controls", "fill", "risk_free",
             "groups", "membership_source", "strategies", "analytics", "sweep", "evidence", "cash_flows",
             "data_gaps")    # the top-level keys that are not strategy keys (config.load.TOP_KEYS)
STRATEGY_ELSEWHERE = {k: RUN_ONLY_HINT for k in RUN_LEVEL}
STRATEGY_ELSEWHERE.update({
    "single": "did you mean caps.single? e.g. caps: {single: 0.05}",
    "multiplier": "did you mean tilt.multiplier? e.g. tilt: {group: mag7, multiplier: 1.5}",
    "index": "did you mean universe.index? e.g. universe: sp500",
    "exclude": "did you mean universe.exclude? e.g. universe: {index: sp500, exclude: [mag7]}",
    "tickers": "did you mean universe.tickers? e.g. universe: [AAPL, MSFT]",
})
# Blocks a weighting allows, and why the others do not apply.
UNIVERSE_WEIGHTINGS = ("equal", "cap", *RISK_WEIGHTINGS, "python")
ONLY_FOR = {"universe": UNIVERSE_WEIGHTINGS, "weights": ("fixed",), "tilt": ("cap",),
            "caps": ("cap", *RISK_WEIGHTINGS), "lookback": RISK_WEIGHTINGS,
            "covariance": ("min_variance", "risk_parity", "hrp"), "select": UNIVERSE_WEIGHTINGS,
            "trend": (*(w for w in WEIGHTINGS if w != "sleeves"), "python"), "sleeves": ("sleeves",),
            "per": ("equal", "cap"), "shares": ("cap",), "proxies": ("fixed",)}
WHY = {
    "universe": "a fixed strategy holds exactly the tickers in its weights; remove universe",
    "lookback": "lookback is the window of returns of the risk-based weightings (inverse_vol, min_variance, "
                "risk_parity, hrp); remove it",
    "covariance": "covariance is the estimator of min_variance, risk_parity and hrp (inverse_vol uses each "
                  "name's own standard deviation); remove it",
    "select": "select ranks the names of a universe, and a fixed strategy has none; remove select",
    "sleeves": "sleeves are only for weighting: sleeves (a strategy holding other strategies); remove sleeves "
               "or set weighting: sleeves",
    "trend": "a trend filter applies to each sleeve's own strategy, not to weighting: sleeves; remove trend",
    "weights": "weights are only for weighting: fixed (equal and cap compute their own); remove weights",
    "tilt": "a tilt scales market-cap weights, so it needs weighting: cap; remove tilt or set weighting: cap",
    "caps": "caps limit computed weights, so they need weighting: cap or a risk-based weighting (equal and "
            "fixed weights are set directly); remove caps or set weighting: cap",
    "shares": "share counts only enter market-cap weights (weighting: cap); remove shares",
    "proxies": "a proxy is spliced only into the tickers of fixed weights (a universe name without prices is "
               "left out, never proxied); remove proxies",
}
SLEEVES_WHY = {   # the same keys on weighting: sleeves, whose holdings are its sleeves (strategies)
    "universe": "a sleeves strategy holds the strategies named in sleeves; give each sleeve its universe",
    "select": "select ranks the names of a universe, and a sleeves strategy holds strategies; put select in "
              "the sleeve's own strategy",
}
WEIGHT_TOLERANCE = 1e-6
MAX_NAME = 80
MAX_LOOKBACK = 2520   # ten years of trading days
MAX_GROSS = 3.0       # sleeves: at most 300% gross exposure
REFERENCE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*")


def parse_strategy(ctx: Ctx, raw: Any, path: tuple, *, groups: Groups, rebalance: Schedule, costs: Costs,
                   max_name: int = MAX_NAME, cash_yield: str = "risk_free",
                   shares: str = "point_in_time") -> StrategyConfig | None:
    """One ``strategies:`` entry -> StrategyConfig, with `rebalance`/`costs`/`cash_yield`/`shares` as the
    run-level defaults."""
    data = mapping(ctx, raw, path, "a mapping with name, weighting and its settings")
    if data is None:
        return None
    check_keys(ctx, data, path, STRATEGY_KEYS, elsewhere=STRATEGY_ELSEWHERE)
    ok = True
    name = require(ctx, data, path, "name", "name: Equal-weight S&P 493")
    name = safe_name(ctx, name, (*path, "name"), "strategy", max_len=max_name) if name is not MISSING else None
    weighting = require(ctx, data, path, "weighting", "weighting: cap   # " + " | ".join(WEIGHTINGS))
    python = None
    if isinstance(weighting, dict):
        weighting, python = _python(ctx, weighting, (*path, "weighting"))
    elif weighting is not MISSING:
        weighting = choice(ctx, weighting, (*path, "weighting"), WEIGHTINGS)
    else:
        weighting = None
    ok &= name is not None and weighting is not None

    parts: dict[str, Any] = {}
    parsers = {
        "universe": lambda v, p: parse_universe(ctx, v, p, groups),
        "weights": lambda v, p: _weights(ctx, v, p, groups),
        "tilt": lambda v, p: parse_tilt(ctx, v, p, groups),
        "caps": lambda v, p: parse_caps(ctx, v, p, groups),
        "lookback": lambda v, p: integer(ctx, v, p, lo=2, hi=MAX_LOOKBACK,
                                         hint="; trading days of daily returns, e.g. 252 for a year"),
        "covariance": lambda v, p: choice(ctx, v, p, COVARIANCES),
        "select": lambda v, p: _select(ctx, v, p),
        "trend": lambda v, p: _trend(ctx, v, p),
        "sleeves": lambda v, p: _sleeves(ctx, v, p),
        "shares": lambda v, p: choice(ctx, v, p, SHARE_METHODS),
    }
    for key, parse in parsers.items():
        if data.get(key) is not None:
            parts[key] = parse(data[key], (*path, key))
            ok &= parts[key] is not None
            if weighting is not None and weighting not in ONLY_FOR[key]:
                why = SLEEVES_WHY.get(key, WHY[key]) if weighting == "sleeves" else WHY[key]
                ctx.error((*path, key), f"does not apply to weighting: {weighting}; {why}", at_key=True)
                ok = False
    if weighting == "fixed" and data.get("weights") is None:
        ctx.error((*path, "weights"), "is required for weighting: fixed; add e.g. `weights: {SPY: 0.7, AVUV: 0.3}`")
        ok = False
    if weighting == "sleeves" and data.get("sleeves") is None:
        ctx.error((*path, "sleeves"), "is required for weighting: sleeves; add e.g. `sleeves: {Equal-weight S&P "
                                      "493: 0.6, Small-cap value tilt: 0.4}` (names of other strategies)")
        ok = False
    borrow = 0.0
    shorts = weighting == "sleeves" and any(w < 0 for _, w in (parts.get("sleeves") or ()))
    if data.get("borrow_fee") is not None:
        borrow = number(ctx, data["borrow_fee"], (*path, "borrow_fee"), lo=0, hi=0.5,
                        hint="; a yearly fraction of the short market value, e.g. 0.005 for 0.5%")
        if borrow is not None and not shorts and ctx.swept and not ctx.borrow_swept:
            borrow = 0.0        # a sweep's long-only variant of a long/short strategy: nothing is borrowed
        elif borrow is not None and not shorts:
            ctx.error((*path, "borrow_fee"), "applies only to a sleeves strategy with a short (negative) sleeve; "
                                             "remove it", at_key=True)
            ok = False
        ok &= borrow is not None
    if weighting == "sleeves" and schedule_has_drift(data):
        ctx.error((*path, "rebalance", "drift"), "drift bands are not supported for weighting: sleeves; use a "
                                                 "calendar schedule")
        ok = False
    if weighting in UNIVERSE_WEIGHTINGS and data.get("universe") is None:
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
    if data.get("cash_yield") is not None:
        cash_yield = parse_cash_yield(ctx, data["cash_yield"], (*path, "cash_yield"))
        ok &= cash_yield is not None
    proxies: tuple = ()
    if data.get("proxies") is not None:
        got = _proxies(ctx, data["proxies"], (*path, "proxies"), parts.get("weights"))
        ok &= got is not None
        if weighting is not None and weighting not in ONLY_FOR["proxies"]:
            ctx.error((*path, "proxies"), f"does not apply to weighting: {weighting}; {WHY['proxies']}",
                      at_key=True)
            ok = False
        proxies = got or ()
    per = "company"
    if data.get("per") is not None:
        per = choice(ctx, data["per"], (*path, "per"), PER)
        ok &= per is not None
        tilt = parts.get("tilt")
        equal_tilt = tilt is not None and tilt.weight is not None and tilt.inside == "equal"
        if parts.get("select") is not None and weighting not in ("fixed", "sleeves"):
            pass    # with select, per also says what the selection ranks and counts: companies or lines
        elif weighting not in ("equal", "cap", "fixed"):
            ctx.error((*path, "per"), f"does not apply to weighting: {weighting}; it says how an equal split "
                                      "(weighting: equal, or a cap tilt with inside: equal) or a select counts "
                                      "share classes; remove it", at_key=True)
            ok = False
        elif weighting == "fixed" or (weighting == "cap" and tilt is not None and not equal_tilt):
            ctx.error((*path, "per"), "applies only to equal splits (weighting: equal, or a tilt with weight "
                                      "and inside: equal), where it says whether a company's share classes share "
                                      "one slot (company) or each get one (line); remove it", at_key=True)
            ok = False
        elif weighting == "cap" and tilt is None:
            ctx.error((*path, "per"), "applies only to equal splits and selections: cap weights hold each share "
                                      "class at its own cap; remove it, or add tilt: {group: mag7, weight: 0.4, "
                                      "inside: equal} or a select", at_key=True)
            ok = False
    if not ok:
        return None
    if weighting in ("cap", *RISK_WEIGHTINGS):
        _feasibility(ctx, path, parts["universe"], parts.get("tilt"), parts.get("caps"), groups)
    return StrategyConfig(name=name, weighting=weighting, universe=parts.get("universe"),
                          weights=parts.get("weights"), tilt=parts.get("tilt"), caps=parts.get("caps"),
                          rebalance=schedule, costs=own_costs, expense_ratio=expense, cash_yield=cash_yield,
                          proxies=proxies, lookback=parts.get("lookback"), covariance=parts.get("covariance"),
                          select=parts.get("select"), trend=parts.get("trend"),
                          sleeves=parts.get("sleeves") or (), python=python, borrow_fee=borrow or 0.0,
                          per=per, shares=parts.get("shares") or shares)


def _python(ctx: Ctx, data: dict, path: tuple) -> tuple[str | None, str | None]:
    """``weighting: {python: "package.module:function"}`` -> ("python", reference); never imports it."""
    named = [k for k in data if isinstance(k, str) and k.strip().lower() in WEIGHTINGS]
    if named and "python" not in data:  # weighting: {fixed: {...}}: the name and its settings are siblings
        kind = named[0].strip().lower()
        settings = {"fixed": "weights: {SPY: 0.6, AGG: 0.4}", "sleeves": "sleeves: [...]"}.get(
            kind, "universe: ... and its other settings")
        ctx.error(path, f"is a name, not a mapping: got {{{named[0]}: ...}}; write `weighting: {kind}` "
                        f"and put its settings beside it in the strategy ({settings})")
        return None, None
    check_keys(ctx, data, path, ("python",))
    ref = data.get("python")
    if not isinstance(ref, str) or not REFERENCE.fullmatch(ref.strip()):
        ctx.error((*path, "python"), f"must be 'package.module:function', got {ref!r}; e.g. "
                                     "python: mypkg.weights:low_beta")
        return None, None
    return "python", ref.strip()


def schedule_has_drift(data: dict) -> bool:
    reb = data.get("rebalance")
    return isinstance(reb, dict) and reb.get("drift") is not None


def _sleeves(ctx: Ctx, value: Any, path: tuple) -> tuple | None:
    data = mapping(ctx, value, path, "a mapping of strategy name to weight, e.g. {Equal-weight S&P 493: 0.6, "
                                     "Small-cap value tilt: 0.4}")
    if data is None:
        return None
    if not data:
        ctx.error(path, "must name at least one strategy")
        return None
    out, ok = {}, True
    for key, raw in data.items():
        w = number(ctx, raw, (*path, key), lo=-MAX_GROSS, hi=MAX_GROSS,
                   hint="; the sleeve's share of the value, e.g. 0.6 (negative = short, e.g. -0.3)")
        if w == 0:
            ctx.error((*path, key), "is 0; remove the sleeve or give it a share", at_key=True)
            ok = False
        elif w is None or not isinstance(key, str):
            ok = False
        else:
            out[key.strip()] = w
    if not ok:
        return None
    net, gross = sum(out.values()), sum(abs(w) for w in out.values())
    if all(w > 0 for w in out.values()) and abs(net - 1.0) > WEIGHT_TOLERANCE:
        ctx.error(path, f"must sum to 1 (within {WEIGHT_TOLERANCE:g}), got {num(net)}; adjust the weights")
        return None
    if net < -WEIGHT_TOLERANCE or net > 1 + WEIGHT_TOLERANCE:
        ctx.error(path, f"net exposure (the sum, shorts negative) must be in [0, 1], got {num(net)}: cash pays "
                        "for the net long and margin is never borrowed; e.g. {A: 1.3, B: -0.3} (130/30) or "
                        "{A: 1, B: -1} (dollar-neutral)")
        return None
    if gross > MAX_GROSS + WEIGHT_TOLERANCE:
        ctx.error(path, f"gross exposure (the sum of absolute shares) must be at most {MAX_GROSS:g}, got "
                        f"{num(gross)}; scale the shares down")
        return None
    return tuple(sorted(out.items()))   # by name: one order however the YAML lists them


def check_sleeves(ctx: Ctx, strategies: list) -> None:
    """Cross-strategy rules: each sleeve names another strategy of the config that is not itself sleeves."""
    by_name = {s.name.lower(): s for s in strategies if s is not None}
    for i, s in enumerate(strategies):
        if s is None or s.weighting != "sleeves":
            continue
        for name, _ in s.sleeves:
            path = ("strategies", i, "sleeves", name)
            target = by_name.get(name.lower())
            if target is None:
                known = [x.name for x in by_name.values() if x.weighting != "sleeves"]
                ctx.error(path, f"names no strategy of this config; sleeves are other strategies, one of: "
                                f"{', '.join(known)}", at_key=True)
            elif target is s:
                ctx.error(path, "is this strategy itself; a sleeve must be another strategy", at_key=True)
            elif target.weighting == "sleeves":
                ctx.error(path, "is itself weighting: sleeves; sleeves cannot nest: name its sleeves directly",
                          at_key=True)


def _select(ctx: Ctx, value: Any, path: tuple) -> Select | None:
    data = mapping(ctx, value, path, "a mapping such as {by: momentum, lookback: 252, skip: 21, top: 50}")
    if data is None:
        return None
    check_keys(ctx, data, path, ("by", "lookback", "skip", "top", "bottom"))
    by = choice(ctx, data.get("by", "momentum"), (*path, "by"), SELECT_BY)
    lookback = integer(ctx, data.get("lookback", 252), (*path, "lookback"), lo=2, hi=MAX_LOOKBACK,
                       hint="; trading days, e.g. 252")
    ok = by is not None and lookback is not None
    skip = 0
    if data.get("skip") is not None:
        if by == "volatility":
            ctx.error((*path, "skip"), "applies only to by: momentum (the recent days left out of the return); "
                                       "remove it", at_key=True)
            ok = False
        else:
            skip = integer(ctx, data["skip"], (*path, "skip"), lo=0, hi=MAX_LOOKBACK,
                           hint="; trading days left out at the end, e.g. 21 for 12-1 momentum")
            ok &= skip is not None
            if skip is not None and lookback is not None and skip >= lookback:
                ctx.error((*path, "skip"), f"must be below lookback ({lookback}), got {skip}; e.g. lookback 252 "
                                           "with skip 21")
                ok = False
    has_top, has_bottom = data.get("top") is not None, data.get("bottom") is not None
    if has_top == has_bottom:
        ctx.error(path, ("gives both top and bottom" if has_top else "needs top or bottom") + "; give exactly "
                  "one: top: 50 keeps the 50 highest scores, bottom: 50 the 50 lowest")
        return None
    key = "top" if has_top else "bottom"
    n = integer(ctx, data[key], (*path, key), lo=1, hi=5000, hint="; a number of names, e.g. 50")
    if not ok or n is None:
        return None
    return Select(by=by, lookback=lookback, skip=skip, top=n if has_top else None, bottom=None if has_top else n)


def _trend(ctx: Ctx, value: Any, path: tuple) -> Trend | None:
    data = mapping(ctx, value, path, "a mapping such as {ticker: SPY, days: 200, defensive: BIL}")
    if data is None:
        return None
    check_keys(ctx, data, path, ("ticker", "days", "defensive"))
    ok = True
    for key, example in (("ticker", "ticker: SPY"), ("defensive", "defensive: BIL")):
        if data.get(key) is None:
            ctx.error((*path, key), f"is required; add e.g. `{example}`")
            ok = False
    sym = ticker(ctx, data["ticker"], (*path, "ticker")) if data.get("ticker") is not None else None
    safe = ticker(ctx, data["defensive"], (*path, "defensive")) if data.get("defensive") is not None else None
    days = integer(ctx, data.get("days", 200), (*path, "days"), lo=2, hi=MAX_LOOKBACK,
                   hint="; the moving average's length in trading days, e.g. 200")
    if not ok or sym is None or safe is None or days is None:
        return None
    return Trend(ticker=sym, days=days, defensive=safe)


def parse_cash_yield(ctx: Ctx, value: Any, path: tuple) -> str | None:
    """What idle cash earns: ``risk_free`` (the run's risk-free series), ``none`` or a ticker (e.g. BIL)."""
    if isinstance(value, str) and value.strip().lower() in CASH_SPECIAL:
        return value.strip().lower()
    return ticker(ctx, value, path)


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
    for g, _ in (caps.groups if caps is not None and not ctx.swept else ()):
        members = set(groups.get(g, ()))
        if members and (g in universe.exclude or members <= excluded):
            ctx.error((*path, "caps", "groups", g), f"{g!r} is excluded from the universe (universe.exclude), "
                                                    "so its cap can never bind; remove the cap or the "
                                                    "exclusion")
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
