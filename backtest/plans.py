"""Target weights for every strategy at its rebalance dates: the "target weights" arrow of the pipeline.

For each strategy: schedule -> (each date) universe at that date -> strategy weights from data up to that
date only -> optional drift-band filter -> `StrategyPlan` for the engine. Pure: inputs in, plans out.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from .errors import DataError
from .schedule import apply_drift_bands, calendar_dates


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
    """

    targets: pd.DataFrame
    commission_bps: float = 0.0
    slippage_bps: float = 0.0
    expense_ratio: float = 0.0
    cash_ticker: str | None = None


@dataclass
class Built:
    """Everything the engine needs, plus what the report shows about how the weights were formed."""

    prices: pd.DataFrame                       # run calendar x columns traded (spliced columns included)
    plans: dict[str, StrategyPlan]
    notes: dict[str, list[str]] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)   # e.g. cap_basis


def splice(primary: pd.Series, proxy: pd.Series) -> tuple[pd.Series, pd.Timestamp | None]:
    """Extend `primary` back in time with `proxy`'s returns before `primary` starts.

    Returns the spliced series (levels chained so the first real price is unchanged) and the first date of
    the real series (None when the primary has no data, in which case the proxy is used throughout).
    Mixing through returns, never levels: the two series sit on different bases.
    """
    first = primary.first_valid_index()
    if first is None:
        return proxy.copy(), None
    before = proxy.loc[:first].dropna()
    if before.empty or before.index[-1] != first:
        return primary.copy(), first
    scaled = before * (primary.loc[first] / before.iloc[-1])
    out = primary.copy()
    out.loc[scaled.index[:-1]] = scaled.iloc[:-1]
    return out, first


def build_plans(cfg, inputs) -> Built:
    """Compute target weights of every strategy in `cfg` on `inputs` (a `backtest.data.inputs.Inputs`)."""
    prices = inputs.prices
    extra: dict[str, pd.Series] = {}
    notes: dict[str, list[str]] = {}
    plans: dict[str, StrategyPlan] = {}
    tables: dict[str, pd.DataFrame] = {}
    shares = _shares_frame(cfg, inputs)
    memo: dict = {}     # per-date results shared by strategies with the same universe (sweep variants)
    for spec in cfg.strategies:
        notes[spec.name] = []
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
        targets, basis = _targets(spec, cfg, inputs, px, shares, aliases, notes[spec.name],
                                  memo=memo, px_key=tuple(sorted(extra)))
        plans[spec.name] = StrategyPlan(targets, commission_bps=spec.costs.commission_bps,
                                        slippage_bps=spec.costs.slippage_bps, expense_ratio=spec.expense_ratio,
                                        cash_ticker=spec.cash_yield)
        if basis is not None:
            tables[f"cap_basis_{_slug(spec.name)}"] = basis
    all_prices = prices.assign(**extra) if extra else prices
    used = sorted({c for p in plans.values() for c in p.targets.columns}
                  | {p.cash_ticker for p in plans.values() if p.cash_ticker})
    return Built(prices=all_prices.loc[inputs.calendar, used], plans=plans, notes=notes, tables=tables)


def _weighting_key(spec) -> str | None:
    """What a strategy's weights on a date depend on besides the date and the data: every key but the name,
    costs, expense ratio and cash yield (None when `spec` is not a config strategy: no sharing)."""
    from .config.dump import strategy_dict

    try:
        data = strategy_dict(spec)
    except (AttributeError, TypeError):
        return None
    for key in ("name", "costs", "expense_ratio", "cash_yield"):
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
    from strategies import REGISTRY
    from strategies.base import DecisionInputs

    from .universe import resolve_universe

    weigh = REGISTRY[spec.weighting]
    groups = dict(cfg.groups)
    missing = Counter()
    outside = Counter()
    strategy_notes: list[str] = []
    basis_rows = []
    shares_frame, observed = (shares.shares, shares.observed) if shares is not None else (None, None)
    memo = {} if memo is None else memo
    weighting = _weighting_key(spec)

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
                why = _unpriced_why(u.missing, date, px)
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

    candidates = calendar_dates(inputs.calendar, spec.rebalance)
    if spec.rebalance.drift is not None:
        dates, by_date = apply_drift_bands(candidates, px, target_at, spec.rebalance.drift)
        notes.append(f"{spec.name}: drift bands traded on {len(dates)} of {len(candidates)} check dates")
    else:
        dates, by_date = candidates, {d: target_at(d) for d in candidates}
    targets = pd.DataFrame([by_date[d] for d in dates], index=dates).fillna(0.0)
    targets = targets.reindex(columns=sorted(targets.columns))
    if missing:
        top = ", ".join(f"{t} ({n})" for t, n in missing.most_common())
        notes.append(f"{spec.name}: {len(missing)} member(s) had no price on some rebalance dates and were left "
                     f"out there (dates missed in brackets): {top}")
    if outside:
        top = ", ".join(f"{t} ({n})" for t, n in outside.most_common())
        notes.append(f"{spec.name}: point-in-time group(s) {', '.join(_groups_named(spec, groups))}: members "
                     f"not in the S&P 500 on some of the {len(dates)} rebalance dates were left out there "
                     f"(dates missed in brackets; `membership: static` holds them): {top}")
    notes.extend(f"{spec.name}: {line}" for line in summarize_notes(strategy_notes))
    basis = pd.DataFrame(basis_rows).set_index("date") if basis_rows else None
    return targets, basis


def _unpriced_why(missing, date: pd.Timestamp, px: pd.DataFrame) -> str:
    """Why a universe of `missing` tickers (none priced on `date`) is empty there, and the fix: prices that
    end before `date` call for an earlier end, prices that start after it for a later start (a message only;
    the weights never see `px` beyond `date`)."""
    ended, late, gaps = {}, {}, []
    for t in missing:
        col = px[t] if t in px.columns else pd.Series(dtype=float)
        before, after = col.loc[:date].last_valid_index(), col.loc[date:].first_valid_index()
        if before is not None and after is None:
            ended[t] = before
        elif before is None and after is not None:
            late[t] = after
        elif before is not None:
            gaps.append(t)
    if not missing or len(ended) + len(late) + len(gaps) < len(missing):
        return "no member has a price); fix: start later or widen the universe"
    parts, fixes = [], []
    if ended:
        last = max(ended.values())
        parts.append("prices end before it: " + ", ".join(f"{t} (last price {d:%Y-%m-%d})" for t, d in ended.items()))
        fixes.append(f"end the run earlier (`end: {last:%Y-%m-%d}` or before)")
    if late:
        first = min(late.values())
        parts.append("prices start after it: " + ", ".join(f"{t} (first price {d:%Y-%m-%d})" for t, d in late.items()))
        fixes.append(f"start later (`start: {first:%Y-%m-%d}` or after)")
    if gaps:
        parts.append(f"a gap in the prices of {', '.join(gaps)}")
        fixes.append("import the missing prices (bt data import FILE)")
    return f"no member has a price: {'; '.join(parts)}); fix: {', or '.join(fixes)}, or choose other tickers"


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
