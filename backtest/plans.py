"""Target weights for every strategy at its rebalance dates: the "target weights" arrow of the pipeline.

For each strategy: schedule -> (each date) universe at that date -> strategy weights from data up to that
date only -> optional drift-band filter -> `StrategyPlan` for the engine. Pure: inputs in, plans out.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import DataError
from .schedule import apply_drift_bands, apply_drift_bands_fixed, decision_dates
from .tickers import splice


@dataclass(frozen=True)
class StrategyPlan:
    """What to simulate for one strategy.

    targets : DataFrame indexed by decision date, one column per ticker, rows summing to 1 (or less: the
        remainder is held as cash).
    commission_bps, slippage_bps : per side, on traded value.
    expense_ratio : yearly fraction, accrued daily over trading days (a proportional drag on value).
    cash_ticker : optional ticker (e.g. "BIL") that holds the unallocated share of each rebalance (targets
        summing below 1, or target names without a price on the execution day) instead of idle cash; traded
        free of commission and slippage. Proceeds of a mid-period delisting wait in cash until the next
        rebalance, as without it.
    borrow_fee : yearly fraction charged daily on the short market value (negative targets: long/short
        sleeves), a proportional drag on value.
    """

    targets: pd.DataFrame
    commission_bps: float = 0.0
    slippage_bps: float = 0.0
    expense_ratio: float = 0.0
    cash_ticker: str | None = None
    borrow_fee: float = 0.0


@dataclass
class Built:
    """Everything the engine needs, plus what the report shows about how the weights were formed."""

    prices: pd.DataFrame                       # run calendar x columns traded (spliced columns included)
    plans: dict[str, StrategyPlan]
    notes: dict[str, list[str]] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)   # e.g. cap_basis


def build_plans(cfg, inputs, *, memo: dict | None = None) -> Built:
    """Compute target weights of every strategy in `cfg` on `inputs` (a `backtest.data.inputs.Inputs`).

    ``memo``: per-date results to share with later calls on the same ``inputs`` (a sweep's chunks in one
    process); its values depend only on the inputs and the keys, never on which strategies asked first."""
    prices = inputs.prices
    extra: dict[str, pd.Series] = {}
    notes: dict[str, list[str]] = {}
    plans: dict[str, StrategyPlan] = {}
    tables: dict[str, pd.DataFrame] = {}
    shares = _shares_frame(cfg, inputs)
    memo = {} if memo is None else memo     # per-date results shared by strategies (sweep variants)
    contexts: dict[str, tuple] = {}     # strategy name (lower case) -> (spec, prices, aliases, px_key)
    if len(cfg.strategies) > 1:     # cap weights of many variants on a date solved together (exact)
        from .plans_batch import prefill

        prefill(cfg, inputs, prices, shares, memo, weighting_key)
    for spec in cfg.strategies:
        notes[spec.name] = []
        if spec.weighting == "sleeves":
            continue
        aliases = {}
        for ticker, proxy in spec.proxies:
            col = f"{ticker}~{proxy}"
            series, first = splice(prices[ticker], prices[proxy])
            extra[col] = series
            aliases[ticker] = col
            if first is not None and first > inputs.calendar[0]:
                notes[spec.name].append(f"{spec.name}: {ticker} starts {first:%Y-%m-%d}; before that its "
                                        f"returns are {proxy}'s (spliced proxy, column {col})")
        if spec.universe is not None and spec.universe.membership == "current":
            notes[spec.name].append(
                f"{spec.name}: SURVIVORSHIP BIAS: universe uses today's {spec.universe.index} members for every "
                f"date (membership: current), so past winners are picked with hindsight; use point_in_time "
                f"for an honest backtest")
        notes[spec.name] += _group_membership_notes(spec, cfg.groups)
        px = prices.assign(**extra) if extra else prices
        contexts[spec.name.lower()] = (spec, px, dict(aliases), tuple(sorted(extra)))
        targets, basis = _targets(spec, cfg, inputs, px, shares, aliases, notes[spec.name],
                                  memo=memo, px_key=tuple(sorted(extra)))
        plans[spec.name] = StrategyPlan(targets, commission_bps=spec.costs.commission_bps,
                                        slippage_bps=spec.costs.slippage_bps, expense_ratio=spec.expense_ratio,
                                        cash_ticker=spec.cash_yield)
        if basis is not None:
            tables[f"cap_basis_{_slug(spec.name)}"] = basis
    for spec in cfg.strategies:
        if spec.weighting == "sleeves":
            targets = sleeve_targets(spec, cfg, inputs, contexts, shares, notes[spec.name], memo)
            plans[spec.name] = StrategyPlan(targets, commission_bps=spec.costs.commission_bps,
                                            slippage_bps=spec.costs.slippage_bps, expense_ratio=spec.expense_ratio,
                                            cash_ticker=spec.cash_yield, borrow_fee=spec.borrow_fee)
    plans = {s.name: plans[s.name] for s in cfg.strategies}     # config order
    all_prices = prices.assign(**extra) if extra else prices
    used = sorted({c for p in plans.values() for c in p.targets.columns}
                  | {p.cash_ticker for p in plans.values() if p.cash_ticker})
    return Built(prices=all_prices.loc[sim_calendar(inputs), used], plans=plans, notes=notes, tables=tables)


def sim_calendar(inputs) -> pd.DatetimeIndex:
    """The simulation's days: the run calendar, with the opening decision day in front under next_close."""
    sim = getattr(inputs, "sim_calendar", None)
    return inputs.calendar if sim is None else sim


def sleeve_targets(spec, cfg, inputs, contexts, shares, notes, memo) -> pd.DataFrame:
    """Target weights of a ``weighting: sleeves`` strategy, looked through to names.

    On each of the parent's rebalance dates every sleeve's weights are computed as its own strategy computes
    them on that date (weighting, universe, selection, signals), scaled by the sleeve's share and summed: the
    parent holds the names directly, so holdings and concentration analytics see through the sleeves. The
    whole mix is rebalanced on the parent's schedule; the sleeves' own schedules, costs, expense ratios and
    cash yields are not used inside the parent (its own are).
    """
    from dataclasses import replace

    parts = []
    for name, share in spec.sleeves:
        sleeve, px, aliases, px_key = contexts[name.lower()]
        sub_notes: list[str] = []
        targets, _ = _targets(replace(sleeve, rebalance=spec.rebalance), cfg, inputs, px, shares, aliases,
                              sub_notes, memo=memo, px_key=px_key)
        notes.extend(f"{spec.name}: sleeve {line}" for line in sub_notes)
        parts.append(targets * share)
    dates = parts[0].index
    columns = sorted({c for p in parts for c in p.columns})
    total = sum(p.reindex(index=dates, columns=columns, fill_value=0.0) for p in parts)
    total = total.loc[:, (total != 0).any()]
    notes.append(f"{spec.name}: sleeves {', '.join(f'{n} {w:g}' for n, w in spec.sleeves)}, looked through to "
                 f"{len(columns)} names, rebalanced together on {len(dates)} dates")
    return total


def weighting_key(spec) -> str | None:
    """What a strategy's weights on a date depend on besides the date and the data: every key but the name,
    schedule, costs, expense ratio and cash yield (None when `spec` is not a config strategy: no sharing).
    The schedule (``rebalance``, drift bands included) decides on which dates the weights are asked for, not
    what they are on a date."""
    from .config.dump import strategy_dict

    try:
        data = strategy_dict(spec)
    except (AttributeError, TypeError):
        return None
    for key in ("name", "rebalance", "costs", "expense_ratio", "cash_yield"):
        data.pop(key, None)
    return json.dumps(data, sort_keys=True, default=str)


def _slug(name: str) -> str:
    return "".join(c.lower() if c.isalnum() else "_" for c in name).strip("_")[:40] or "strategy"


def _shares_frame(cfg, inputs):
    """`SharesAsOf` on each trading day for cap-weighted runs (held constant between known dates)."""
    if inputs.shares is None:
        return None
    if getattr(inputs, "shares_daily", None) is not None:   # computed once by `load_inputs`, on every price date
        return inputs.shares_daily
    from .marketcap import daily_shares

    return daily_shares(inputs.shares, inputs.prices)


def _targets(spec, cfg, inputs, px, shares, aliases, notes, *, memo=None, px_key=()):
    """Target weights of one strategy on its rebalance dates, and its cap-basis table (cap weighting).

    ``memo``: a dict shared by the strategies of one `build_plans` call. The universe on a date and the
    share-count basis of a cap-weighted universe depend only on the universe spec, the date and the price
    columns (``px_key``: the spliced columns added to the prices); the weights on a date, on those and the
    strategy's weighting keys (everything but its name, costs, expense ratio and cash yield, which act only
    when trading). Strategies that share them (the variants of a sweep) compute them once.
    """
    from strategies import weigh
    from strategies.base import DecisionInputs

    from .universe import resolve_universe

    groups = dict(cfg.groups)
    missing = Counter()
    outside = Counter()
    strategy_notes: list[str] = []
    basis_rows = []
    shares_frame, observed = (shares.shares, shares.observed) if shares is not None else (None, None)
    memo = {} if memo is None else memo
    weighting = weighting_key(spec)

    def target_at(date):
        if spec.weighting == "fixed":
            universe = tuple(aliases.get(t, t) for t in dict(spec.weights))
        else:
            key = ("universe", spec.universe, date, px_key)
            if key not in memo:
                memo[key] = resolve_universe(spec.universe, date, inputs.membership, groups, px.loc[date])
            u = memo[key]
            universe = tuple(u.tickers)
            missing.update(u.missing)
            outside.update(u.outside)
            if not universe:
                why = ("no member has a price); fix: start later or widen the universe")
                if u.outside and not u.missing:
                    why = (f"no group member is an S&P 500 member then: {', '.join(u.outside)}); fix: start "
                           "later, or `membership: static` to hold the group's members on every date")
                raise DataError(f"strategies[{spec.name!r}].universe: empty on {date:%Y-%m-%d} ({why}")
        if spec.weighting == "cap" and observed is not None:
            key = ("basis", date, universe)
            if key not in memo:
                memo[key] = _cap_basis_row(date, observed.loc[date].reindex(list(universe)))
            basis_rows.append(dict(memo[key]))
        key = ("weights", weighting, date, px_key, universe)
        if weighting is None or key not in memo:
            sh = shares_frame.loc[date].dropna() if shares_frame is not None else pd.Series(dtype=float)
            seen = observed.loc[date].reindex(sh.index) if observed is not None else None
            inputs_ = DecisionInputs(date=date, history=px.loc[:date], shares=sh, universe=universe,
                                     groups=groups, shares_observed=seen)
            memo[key] = weigh(_alias_spec(spec, aliases), inputs_)
        out = memo[key]
        w, extra_notes = (out, ()) if isinstance(out, pd.Series) else (out.weights, tuple(out.notes))
        strategy_notes.extend(extra_notes)
        return w

    candidates = decision_dates(sim_calendar(inputs), inputs.calendar[0], spec.rebalance)
    # strategies with the same weighting key and schedule (sweep variants differing only in costs) have the
    # same targets, notes and cap basis: planned once, the frames shared (nothing downstream modifies them)
    whole = ("targets", weighting, px_key, spec.rebalance, tuple(candidates))
    if weighting is not None and whole in memo:
        dates, targets, missing, outside, strategy_notes, basis = memo[whole]
        return _finish(spec, groups, notes, dates, candidates, targets, missing, outside, strategy_notes, basis)
    if spec.rebalance.drift is not None and spec.weighting == "fixed":
        # the same target on every date: the band check runs on arrays (schedule.apply_drift_bands_fixed),
        # after checking that every name has a price on every candidate (else target_at raises there)
        target = target_at(candidates[0])
        priced = px.reindex(index=candidates, columns=target.index).notna().all(axis=1).to_numpy()
        if not priced.all():
            target_at(candidates[int(np.argmin(priced))])
        dates = apply_drift_bands_fixed(candidates, px, target, spec.rebalance.drift)
        by_date = dict.fromkeys(dates, target)
    elif spec.rebalance.drift is not None:
        dates, by_date = apply_drift_bands(candidates, px, target_at, spec.rebalance.drift)
    else:
        dates, by_date = candidates, {d: target_at(d) for d in candidates}
    targets = pd.DataFrame([by_date[d] for d in dates], index=dates).fillna(0.0)
    targets = targets.reindex(columns=sorted(targets.columns))
    basis = pd.DataFrame(basis_rows).set_index("date") if basis_rows else None
    if weighting is not None:
        memo[whole] = (dates, targets, missing, outside, strategy_notes, basis)
    return _finish(spec, groups, notes, dates, candidates, targets, missing, outside, strategy_notes, basis)


def _finish(spec, groups, notes, dates, candidates, targets, missing, outside, strategy_notes, basis):
    """Add one strategy's planning notes to ``notes``; return its targets and cap basis."""
    if spec.rebalance.drift is not None:
        notes.append(f"{spec.name}: drift bands traded on {len(dates)} of {len(candidates)} check dates")
    if missing:
        top = ", ".join(f"{t} ({n})" for t, n in missing.most_common(30))
        notes.append(f"{spec.name}: {len(missing)} member(s) had no price on some rebalance dates and were left "
                     f"out there (dates missed in brackets): {top}{' ...' if len(missing) > 30 else ''}")
    if spec.weighting == "cap" and getattr(spec, "caps", None) is not None:
        bound = {n[:10] for n in strategy_notes if n[10:24] == ": caps bound: "}
        strategy_notes = [n for n in strategy_notes if n[10:24] != ": caps bound: "]
        k = sum(f"{d:%Y-%m-%d}" in bound for d in dates)
        notes.append(f"{spec.name}: caps {_caps_text(spec.caps)} bound on {k} of {len(dates)} rebalance dates"
                     + ("; the weights equal uncapped cap weighting" if k == 0 else ""))
    if outside:
        top = ", ".join(f"{t} ({n})" for t, n in outside.most_common(30))
        notes.append(f"{spec.name}: point-in-time group(s) {', '.join(_groups_named(spec, groups))}: members "
                     f"not in the S&P 500 on some of the {len(dates)} rebalance dates were left out there "
                     f"(dates missed in brackets; `membership: static` holds them): {top}")
    notes.extend(f"{spec.name}: {line}" for line in summarize_notes(strategy_notes))
    return targets, basis


_DATED = re.compile(r"(\d{4}-\d{2}-\d{2}): (.*)", re.S)
_NAMES = re.compile(r"[A-Z0-9.~\-]+(, [A-Z0-9.~\-]+)*")


def summarize_notes(notes: list[str]) -> list[str]:
    """Fold per-date strategy notes ("2016-01-04: cap weights: 3 of 430 ... left out: JEF, TNL") into one
    line per kind of note: how many dates, the first and last, and every name with its count of dates."""
    kinds: dict[str, dict] = {}
    for note in notes:
        m = _DATED.fullmatch(note)
        date, text = m.groups() if m else ("", note)
        head, sep, names = text.rpartition(": ")
        if not (sep and _NAMES.fullmatch(names)):
            head, names = text, ""
        key = re.sub(r"\d+", "#", head)
        k = kinds.setdefault(key, {"head": head, "dates": [], "names": Counter()})
        k["dates"].append(date)
        k["names"].update(n for n in names.split(", ") if n)
    out = []
    for k in kinds.values():
        dates = sorted(d for d in k["dates"] if d)
        line = k["head"]
        if len(dates) > 1:
            line += f" [on {len(dates)} rebalance dates, {dates[0]} .. {dates[-1]}; counts as on {dates[0]}]"
        elif dates:
            line = f"{dates[0]}: {line}"
        if k["names"]:
            line += ": " + ", ".join(f"{n} ({c})" if len(dates) > 1 else n for n, c in k["names"].most_common())
        out.append(line)
    return out


def _caps_text(caps) -> str:
    """``single 5%, aggregate 5/10/40`` (threshold/single/limit in percent), ``group mag7 30%``."""
    parts = [f"single {caps.single:.4g}".rstrip()] if caps.single is not None else []
    parts += [f"group {g} {v:.4g}" for g, v in dict(caps.groups).items()]
    if caps.aggregate is not None:
        a = caps.aggregate
        parts.append(f"aggregate {a.threshold * 100:g}/{a.single * 100:g}/{a.limit * 100:g}")
    return "(" + ", ".join(parts) + ")"


def _group_membership_notes(spec, groups) -> list[str]:
    """Say how the groups a universe names are resolved (point in time or static) and how equal weights
    count share classes."""
    out = []
    named = _groups_named(spec, groups)
    if named and spec.universe.membership == "static":
        out.append(f"{spec.name}: group(s) {', '.join(named)} held as listed on every date (membership: "
                   "static), whether or not their members were S&P 500 members then")
    elif named:
        which = ("in today's S&P 500 list" if spec.universe.membership == "current"
                 else "in the S&P 500 on each rebalance date")
        out.append(f"{spec.name}: group(s) {', '.join(named)} resolved by index membership: only their members "
                   f"{which} are held (membership: {spec.universe.membership})")
    return out


def _groups_named(spec, groups) -> list[str]:
    from .universe import group_refs

    return group_refs(spec.universe.tickers, groups) if spec.universe is not None else []


def _cap_basis_row(date: pd.Timestamp, observed: pd.Series) -> dict:
    """Which share-count observations the caps of one rebalance rest on (shown in the report)."""
    seen = observed.dropna()
    return {"date": date, "names": len(observed), "without_shares": int(observed.isna().sum()),
            "oldest_observation": seen.min() if len(seen) else pd.NaT,
            "newest_observation": seen.max() if len(seen) else pd.NaT,
            "typical_observation": seen.mode().iloc[0] if len(seen) else pd.NaT,
            "backfilled_names": int((seen > date).sum())}


def _alias_spec(spec, aliases):
    """For fixed weights with spliced proxies, point the weights at the spliced columns."""
    if not aliases or not spec.weights:
        return spec
    from dataclasses import replace

    return replace(spec, weights={aliases.get(t, t): w for t, w in dict(spec.weights).items()})


def benchmark_plans(benchmarks, sim_calendar: pd.DatetimeIndex, base: pd.Timestamp, aliases: dict[str, str]):
    """`StrategyPlan`s of the benchmarks (``backtest.config.Benchmark``): each holds its weights from the
    base close, bought like a strategy's opening positions (same decision day and fill), without costs;
    composites are rebalanced back to their weights on their schedule. ``aliases`` maps a proxied ticker to
    its spliced price column."""
    plans = {}
    for b in benchmarks:
        dates = decision_dates(sim_calendar, base, b.rebalance)
        row = {aliases.get(t, t): w for t, w in b.weights}
        plans[b.name] = StrategyPlan(pd.DataFrame([row] * len(dates), index=dates))
    return plans
