"""Validators for the config's building blocks: schedule, costs, universe, tilt, caps, groups.

Each ``parse_*`` takes the raw YAML value, its key path and the problem collector, and returns the frozen
object or None (after recording problems). Cross-field checks between blocks live in `config/strategy`.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from backtest.config.check import (
    BAD, Ctx, check_keys, choice, integer, mapping, num, number, sequence, show, suggest, ticker,
)
from backtest.config.schema import (
    DEFAULT_GROUPS, FREQUENCIES, INDEXES, INSIDE, MEMBERSHIPS, WEEKDAYS, AggregateCap, CashFlowRule, Caps, Costs,
    Drift, Schedule, Tilt, UniverseSpec,
)

Groups = Mapping[str, tuple[str, ...]]
SCHEDULE_KEYS = ("every", "day", "weekday", "nth", "drift")
DRIFT_KEYS = ("absolute", "relative")
COSTS_KEYS = ("commission_bps", "slippage_bps")
UNIVERSE_KEYS = ("index", "tickers", "exclude", "membership")
TILT_KEYS = ("group", "multiplier", "weight", "inside", "while_leading")
CAPS_KEYS = ("single", "groups", "aggregate", "rule")
AGGREGATE_KEYS = ("threshold", "limit", "single")
# Most trading days a period can have: a larger `day` is surely a mistake (the schedule would clip it).
MAX_DAY = {"weekly": 5, "monthly": 23, "quarterly": 66, "yearly": 253}
GROUP_NAME_RE = re.compile(r"^[a-z][a-z0-9_\-]{0,39}$")
_RULE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)\s*(?:/\s*(\d+(?:\.\d+)?)\s*)?$")


def parse_schedule(ctx: Ctx, value: Any, path: tuple) -> Schedule | None:
    """``quarterly`` or ``{every, day, weekday, nth, drift}``."""
    if isinstance(value, str):
        every = choice(ctx, value, path, FREQUENCIES)
        return Schedule(every=every) if every else None
    data = mapping(ctx, value, path, f"a frequency ({', '.join(FREQUENCIES)}) or a mapping "
                                     "{every, day, weekday, nth, drift}")
    if data is None:
        return None
    check_keys(ctx, data, path, SCHEDULE_KEYS)
    ok = True
    every = choice(ctx, data.get("every", "quarterly"), (*path, "every"), FREQUENCIES)
    day: Any = "first"
    if "day" in data:
        day = _day(ctx, data["day"], (*path, "day"), every)
        ok &= day is not None
    weekday = None
    if data.get("weekday") is not None:
        weekday = choice(ctx, data["weekday"], (*path, "weekday"), WEEKDAYS)
        ok &= weekday is not None
    nth = None
    if data.get("nth") is not None:
        nth = integer(ctx, data["nth"], (*path, "nth"), lo=1, hi=5,
                      hint="; 1 = first, 5 = last (the 4th when a month has no 5th)")
        ok &= nth is not None
    drift = None
    if data.get("drift") is not None:
        drift = parse_drift(ctx, data["drift"], (*path, "drift"))
        ok &= drift is not None
    if every in ("daily", "never"):
        for key in ("day", "weekday", "nth"):
            if data.get(key) is not None:
                ctx.error((*path, key), f"does not apply to every: {every} (it picks a day within a period); "
                                        "remove it or choose weekly/monthly/quarterly/yearly")
                ok = False
        if every == "never" and drift is not None:
            ctx.error((*path, "drift"), "does not apply to every: never (buy and hold never checks the band); "
                                        "for drift-only rebalancing use every: daily with this drift")
            ok = False
    elif every == "weekly" and (data.get("weekday") is not None or data.get("nth") is not None):
        key = "weekday" if data.get("weekday") is not None else "nth"
        ctx.error((*path, key), "does not apply to every: weekly; use day (1 = first trading day of the week, "
                                "-1 or last = the last)")
        ok = False
    elif every is not None:
        if data.get("nth") is not None and data.get("weekday") is None:
            ctx.error((*path, "nth"), "needs weekday (e.g. weekday: friday, nth: 3 for the third Friday)")
            ok = False
        if "day" in data and data.get("weekday") is not None:
            ctx.error((*path, "day"), "cannot be combined with weekday; give either day or weekday/nth")
            ok = False
        if weekday is not None and nth is None:
            nth = 1
    if not ok or every is None:
        return None
    return Schedule(every=every, day=day, weekday=weekday, nth=nth, drift=drift)


def _day(ctx: Ctx, value: Any, path: tuple, every: str | None) -> str | int | None:
    if value is BAD:
        return None
    if isinstance(value, str) and value.strip().lower() in ("first", "last"):
        return value.strip().lower()
    if isinstance(value, bool) or not isinstance(value, int):
        ctx.error(path, f"must be first, last or a trading-day number such as 3 or -2, got {show(value)}")
        return None
    limit = MAX_DAY.get(every or "", 253)
    if value == 0 or abs(value) > limit:
        period = (every or "period").replace("ly", "")
        ctx.error(path, f"must be a non-zero number in [-{limit}, {limit}] (a {period} has at most {limit} "
                        f"trading days; 1 = first, -1 = last), got {show(value)}")
        return None
    return value


def parse_drift(ctx: Ctx, value: Any, path: tuple) -> Drift | None:
    data = mapping(ctx, value, path, "a mapping {absolute, relative}, e.g. {absolute: 0.05}")
    if data is None:
        return None
    known = check_keys(ctx, data, path, DRIFT_KEYS)
    if all(data.get(k) is None for k in DRIFT_KEYS):
        if known:
                ctx.error(path, "needs absolute and/or relative, e.g. {absolute: 0.05} (+-5 weight points) "
                            "or {relative: 0.25} (+-25% of the target)")
        return None
    vals = {}
    for key in DRIFT_KEYS:
        if data.get(key) is not None:
            vals[key] = number(ctx, data[key], (*path, key), lo=0, hi=1, lo_open=True,
                               hint="; e.g. 0.05" if key == "absolute" else "; e.g. 0.25")
            if vals[key] is None:
                return None
    return Drift(**vals)


def parse_costs(ctx: Ctx, value: Any, path: tuple) -> Costs | None:
    data = mapping(ctx, value, path, "a mapping {commission_bps, slippage_bps}")
    if data is None:
        return None
    check_keys(ctx, data, path, COSTS_KEYS)
    vals = {k: number(ctx, data[k], (*path, k), lo=0, hi=1000, hint="; in basis points, e.g. 2 for 0.02%")
            for k in COSTS_KEYS if k in data}
    if any(v is None for v in vals.values()):
        return None
    return Costs(**vals)


def parse_groups(ctx: Ctx, value: Any, path: tuple) -> dict[str, tuple[str, ...]]:
    """The ``groups:`` block merged over the default groups (a bad group is reported and left out)."""
    out = dict(DEFAULT_GROUPS)
    data = mapping(ctx, value, path, "a mapping of group name to a list of tickers, e.g. {banks: [JPM, BAC]}")
    for name, members in (data or {}).items():
        key = name.strip().lower()
        if not GROUP_NAME_RE.match(key):
            ctx.error((*path, name), f"group name must start with a letter and use only a-z, 0-9, _ and - "
                                     f"(at most 40 characters), got {show(name)}", at_key=True)
            continue
        if key in INDEXES:
            ctx.error((*path, name), f"{key!r} is an index name and cannot be a group; choose another name",
                      at_key=True)
            continue
        items = sequence(ctx, members, (*path, name), "a list of tickers, e.g. [AAPL, MSFT]")
        tickers = ticker_list(ctx, items, (*path, name), groups={}) if items is not None else None
        out[key] = tickers or ()  # an invalid group still exists, so references to it are not reported too
    return out


def ticker_list(ctx: Ctx, items: list, path: tuple, groups: Groups) -> tuple[str, ...] | None:
    """Tickers (upper-cased) and group names (lower-case, when `groups` has them); duplicates rejected."""
    out: list[str] = []
    ok = True
    for i, item in enumerate(items):
        ref = ticker_or_group(ctx, item, (*path, i), groups)
        if ref is None:
            ok = False
        elif ref in out:
            ctx.error((*path, i), f"{ref!r} is listed twice (also item {out.index(ref)}); remove the repeat")
            ok = False
        else:
            out.append(ref)
    return tuple(out) if ok else None


def ticker_or_group(ctx: Ctx, value: Any, path: tuple, groups: Groups) -> str | None:
    """A group name when it names one (any case), else a ticker; a lower-case near-miss of a group is an error."""
    if isinstance(value, str):
        low = value.strip().lower()
        if low in groups:
            return low
        if low in INDEXES:
            ctx.error(path, f"{value!r} is an index, not a ticker or group; use `index: {low}`")
            return None
        near = suggest(low, groups) if value.strip() == low else ""
        if near:
            ctx.error(path, f"is not a known group, got {show(value)}{near} (write a ticker in upper case)")
            return None
    return ticker(ctx, value, path)


def expand(refs: Sequence[str], groups: Groups) -> set[str]:
    """Tickers named by `refs`, group names replaced by their members."""
    out: set[str] = set()
    for ref in refs:
        out.update(groups.get(ref, (ref,)))
    return out


def parse_universe(ctx: Ctx, value: Any, path: tuple, groups: Groups) -> UniverseSpec | None:
    """``sp500`` | a group name | ``[AAPL, MSFT]`` | ``{index, tickers, exclude, membership}``."""
    if isinstance(value, str):
        low = value.strip().lower()
        if low in INDEXES:
            return UniverseSpec(index=low)
        if low in groups:
            return UniverseSpec(tickers=(low,))
        ctx.error(path, f"must be an index ({', '.join(INDEXES)}), a group ({', '.join(groups)}), a list of "
                        f"tickers or a mapping {{index, tickers, exclude, membership}}, got {show(value)}"
                        f"{suggest(low, [*INDEXES, *groups]) or '; for one ticker write [' + value + ']'}")
        return None
    if isinstance(value, list):
        items = sequence(ctx, value, path, "a list of tickers, e.g. [AAPL, MSFT]")
        tickers = ticker_list(ctx, items, path, groups) if items is not None else None
        return UniverseSpec(tickers=tickers) if tickers is not None else None
    data = mapping(ctx, value, path, "an index (sp500), a list of tickers or a mapping "
                                     "{index, tickers, exclude, membership}")
    if data is None:
        return None
    ok = check_keys(ctx, data, path, UNIVERSE_KEYS)
    index = None
    if data.get("index") is not None:
        index = choice(ctx, data["index"], (*path, "index"), INDEXES)
        ok &= index is not None
    lists = {}
    for key in ("tickers", "exclude"):
        lists[key] = ()
        if data.get(key) is not None:
            items = sequence(ctx, data[key], (*path, key), "a list of tickers or group names, e.g. [mag7, BRK-B]",
                             nonempty=False)
            got = ticker_list(ctx, items, (*path, key), groups) if items is not None else None
            ok &= got is not None
            lists[key] = got or ()
    membership = "point_in_time"
    if data.get("membership") is not None:
        membership = choice(ctx, data["membership"], (*path, "membership"), MEMBERSHIPS)
        ok &= membership is not None
        has_group = any(t in groups for t in lists["tickers"])
        if "index" not in data and not has_group:
            ctx.error((*path, "membership"), "applies only with index or a group in tickers (it says how index "
                                             "members and a group's members are chosen); remove it or add "
                                             "index: sp500")
            ok = False
        elif "index" not in data and membership == "current":
            ctx.error((*path, "membership"), "current applies only with index (today's index members for every "
                                             "date); for a group use point_in_time (its index members on each "
                                             "date) or static (its members as listed)")
            ok = False
        elif "index" in data and membership == "static":
            ctx.error((*path, "membership"), "static applies only without index (it holds a group's members as "
                                             "listed on every date); with index use point_in_time or current")
            ok = False
    if ok and index is None and not lists["tickers"]:
        ctx.error(path, "needs index and/or tickers, e.g. {index: sp500} or {tickers: [AAPL, MSFT]}")
        ok = False
    if ok and index is None and not expand(lists["tickers"], groups) - expand(lists["exclude"], groups):
        ctx.error((*path, "exclude"), "removes every ticker: the universe would be empty; shorten exclude")
        ok = False
    if not ok:
        return None
    return UniverseSpec(index=index, tickers=lists["tickers"], exclude=lists["exclude"],
                        membership=membership or "point_in_time")


def parse_tilt(ctx: Ctx, value: Any, path: tuple, groups: Groups) -> Tilt | None:
    """``{group, multiplier}`` or ``{group, weight, inside}``."""
    data = mapping(ctx, value, path, "a mapping such as {group: mag7, multiplier: 1.5} or "
                                     "{group: mag7, weight: 0.4}")
    if data is None:
        return None
    known = check_keys(ctx, data, path, TILT_KEYS)
    ok = True
    group = group_ref(ctx, data.get("group", "mag7"), (*path, "group"), groups)
    ok &= group is not None
    has_m, has_w = data.get("multiplier") is not None, data.get("weight") is not None
    multiplier = weight = None
    if has_m == has_w and (has_m or known):
        ctx.error(path, ("gives both multiplier and weight" if has_m else "needs multiplier or weight") +
                  "; give exactly one: multiplier (e.g. 1.5 = 1.5x the cap weight) or weight (e.g. 0.4 = the "
                  "group holds 40% in total)")
    if has_m == has_w:
        ok = False
    if has_m:
        multiplier = number(ctx, data["multiplier"], (*path, "multiplier"), lo=0, hi=100, lo_open=True,
                            hint="; e.g. 1.5 to hold the group at 1.5x its cap weight")
        ok &= multiplier is not None
    if has_w:
        weight = number(ctx, data["weight"], (*path, "weight"), lo=0, hi=1, lo_open=True, hi_open=True,
                        hint="; the group's total weight, e.g. 0.4")
        ok &= weight is not None
    inside = "cap"
    if data.get("inside") is not None:
        inside = choice(ctx, data["inside"], (*path, "inside"), INSIDE)
        ok &= inside is not None
        if not has_w:
            ctx.error((*path, "inside"), "applies only with weight (how the group's fixed weight is split); "
                                         "remove it")
            ok = False
    leading = None
    if data.get("while_leading") is not None:
        leading = integer(ctx, data["while_leading"], (*path, "while_leading"), lo=1, hi=2520,
                          hint="; trading days, e.g. 126: tilt only while the group's 126-day return beats "
                               "the rest's")
        ok &= leading is not None
    return Tilt(group=group, multiplier=multiplier, weight=weight, inside=inside,
                while_leading=leading) if ok else None


def group_ref(ctx: Ctx, value: Any, path: tuple, groups: Groups, *, at_key: bool = False) -> str | None:
    if value is BAD:
        return None
    if isinstance(value, str) and value.strip().lower() in groups:
        return value.strip().lower()
    tip = suggest(value.strip().lower(), groups) if isinstance(value, str) else ""
    ctx.error(path, f"must name a group ({', '.join(groups)}; add others under the top-level groups:), "
                    f"got {show(value)}{tip}", at_key=at_key)
    return None


def parse_caps(ctx: Ctx, value: Any, path: tuple, groups: Groups) -> Caps | None:
    """``{single, groups: {name: max}, aggregate: {threshold, limit, single}, rule: "5/10/40"}``."""
    data = mapping(ctx, value, path, "a mapping such as {single: 0.05} or {rule: '5/10/40'}")
    if data is None:
        return None
    known = check_keys(ctx, data, path, CAPS_KEYS)
    if not any(data.get(k) is not None for k in CAPS_KEYS):
        if known:
            ctx.error(path, "sets no cap; give single, groups, aggregate or rule (e.g. {single: 0.05})")
        return None
    ok = True
    single = None
    if data.get("single") is not None:
        single = number(ctx, data["single"], (*path, "single"), lo=0, hi=1, lo_open=True,
                        hint="; the largest weight of any name, e.g. 0.05 for a 5% cap")
        ok &= single is not None
    group_caps: list[tuple[str, float]] = []
    if data.get("groups") is not None:
        gdata = mapping(ctx, data["groups"], (*path, "groups"), "a mapping of group name to its largest total "
                                                                "weight, e.g. {mag7: 0.25}")
        ok &= gdata is not None
        for name, cap in (gdata or {}).items():
            g = group_ref(ctx, name, (*path, "groups", name), groups, at_key=True)
            c = number(ctx, cap, (*path, "groups", name), lo=0, hi=1, lo_open=True,
                       hint="; the group's largest total weight, e.g. 0.25")
            ok &= g is not None and c is not None
            if g is not None and c is not None:
                group_caps.append((g, c))
    aggregate = None
    if data.get("rule") is not None and data.get("aggregate") is not None:
        ctx.error((*path, "rule"), "and aggregate both set the aggregate cap; keep one of them")
        ok = False
    elif data.get("rule") is not None:
        aggregate = _rule(ctx, data["rule"], (*path, "rule"))
        ok &= aggregate is not None
    elif data.get("aggregate") is not None:
        aggregate = _aggregate(ctx, data["aggregate"], (*path, "aggregate"))
        ok &= aggregate is not None
    return Caps(single=single, groups=tuple(group_caps), aggregate=aggregate) if ok else None


def _rule(ctx: Ctx, value: Any, path: tuple) -> AggregateCap | None:
    if value is BAD:
        return None
    m = _RULE_RE.match(value) if isinstance(value, str) else None
    if m is None:
        ctx.error(path, f"must be 'threshold/single/limit' in percent such as '5/10/40' (names above 5% "
                        f"together <= 40%, none above 10%) or 'single/others' such as '35/20', got {show(value)}")
        return None
    a, b, c = (float(x) / 100 if x is not None else None for x in m.groups())
    vals = dict(threshold=a, single=b, limit=c) if c is not None else dict(threshold=b, single=a, limit=a)
    return _aggregate(ctx, vals, path, from_rule=True)


def _aggregate(ctx: Ctx, value: Any, path: tuple, *, from_rule: bool = False) -> AggregateCap | None:
    data = mapping(ctx, value, path, "a mapping {threshold, limit, single}, e.g. {threshold: 0.05, "
                                     "limit: 0.40, single: 0.10}")
    if data is None:
        return None
    check_keys(ctx, data, path, AGGREGATE_KEYS)
    defaults = AggregateCap()
    vals = {}
    for key in AGGREGATE_KEYS:
        raw = data.get(key, getattr(defaults, key))
        where = path if from_rule else (*path, key)
        label = f"{key} " if from_rule else ""
        if from_rule:
            x = raw if 0 < raw <= 1 else None
            if x is None:
                ctx.error(where, f"{label}must be in (0, 100] percent, got {num(raw * 100)}")
        else:
            x = number(ctx, raw, where, lo=0, hi=1, lo_open=True)
        vals[key] = x
    if any(v is None for v in vals.values()):
        return None
    t, s, lim = vals["threshold"], vals["single"], vals["limit"]
    if not t < s:
        ctx.error(path if from_rule else (*path, "threshold"),
                  f"threshold ({num(t)}) must be below single ({num(s)}): names between them are the ones the "
                  "aggregate limit counts; e.g. threshold 0.05, single 0.10")
        return None
    if lim < s:
        ctx.error(path if from_rule else (*path, "limit"),
                  f"limit ({num(lim)}) must be at least single ({num(s)}), or no name could reach single; "
                  "e.g. limit 0.40 with single 0.10")
        return None
    return AggregateCap(threshold=t, limit=lim, single=s)


def parse_cash_flows(ctx: Ctx, value: Any, path: tuple) -> tuple[CashFlowRule, ...]:
    """``cash_flows:``: a list of ``{every | date, amount | percent}`` (contributions +, withdrawals -)."""
    from backtest.config.check import date as parse_date
    from backtest.config.schema import FLOW_FREQUENCIES

    items = sequence(ctx, value, path, "a list of flows, e.g. [{every: monthly, amount: 1000}]")
    out = []
    for i, raw in enumerate(items or []):
        p = (*path, i)
        data = mapping(ctx, raw, p, "a mapping such as {every: monthly, amount: 1000} or "
                                    "{date: 2022-01-03, amount: -50000}")
        if data is None:
            continue
        check_keys(ctx, data, p, ("every", "date", "amount", "percent"))
        has_every, has_date = data.get("every") is not None, data.get("date") is not None
        has_amount, has_pct = data.get("amount") is not None, data.get("percent") is not None
        if has_every == has_date:
            ctx.error(p, ("gives both every and date" if has_every else "needs every or date") + "; give exactly "
                      "one: every: monthly (a schedule) or date: 2022-01-03 (once)")
            continue
        if has_amount == has_pct:
            ctx.error(p, ("gives both amount and percent" if has_amount else "needs amount or percent") +
                      "; give exactly one: amount: 1000 (dollars; negative = withdrawal) or percent: -0.04 "
                      "(of the account value)")
            continue
        every = choice(ctx, data["every"], (*p, "every"), FLOW_FREQUENCIES) if has_every else None
        when = parse_date(ctx, data["date"], (*p, "date")) if has_date else None
        amount = number(ctx, data["amount"], (*p, "amount"), lo=-1e13, hi=1e13,
                        hint="; dollars, + contribution, - withdrawal") if has_amount else None
        pct = number(ctx, data["percent"], (*p, "percent"), lo=-1, hi=10,
                     hint="; a fraction of the account value, e.g. -0.04 to withdraw 4%") if has_pct else None
        if (has_amount and amount == 0) or (has_pct and pct == 0):
            ctx.error(p, "is zero; remove it or give a non-zero amount or percent")
            continue
        if (has_every and every is None) or (has_date and when is None) or (amount is None and pct is None):
            continue
        out.append(CashFlowRule(every=every, date=when, amount=amount, percent=pct))
    return tuple(out)
