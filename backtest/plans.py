"""Target weights for every strategy at its rebalance dates: the "target weights" arrow of the pipeline.

For each strategy: schedule -> (each date) universe at that date -> strategy weights from data up to that
date only -> optional drift-band filter -> `StrategyPlan` for the engine. Pure: inputs in, plans out.
"""

from __future__ import annotations

import json
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import DataError
from .plan_basis import cap_basis_row, day_shares, later_weight, refresh_turnover
from .plan_gaps import data_gaps, find_ended
from .plan_notes import finish_notes, group_membership_notes, unpriced_why
from .plan_rows import frame_rows, target_frame
from .schedule import apply_drift_bands, apply_drift_bands_fixed, decision_dates, fill_lag
from .tickers import splice


@dataclass(frozen=True)
class StrategyPlan:
    """What to simulate for one strategy.

    targets : DataFrame indexed by decision date, one column per ticker, rows summing to 1 (or less: the
        remainder is held as cash).
    commission_bps, slippage_bps : per side, on traded value.
    expense_ratio : yearly fraction, accrued daily over trading days (a proportional drag on value).
    cash_rate : optional daily simple return at which idle cash accrues, Series indexed by trading date (the
        run calendar; missing dates and NaN earn nothing; the first day's value is not used). None: idle
        cash earns nothing.
    hold_ended : tickers whose prices end mid-run that are held at their last close until the next execution
        day (sold there at that close) instead of being sold at the last close (data gaps, ``hold``).
    borrow_fee : yearly fraction charged daily on the short market value (negative targets: long/short
        sleeves), a proportional drag on value.
    """

    targets: pd.DataFrame
    commission_bps: float = 0.0
    slippage_bps: float = 0.0
    expense_ratio: float = 0.0
    cash_rate: pd.Series | None = None
    hold_ended: tuple[str, ...] = ()
    borrow_fee: float = 0.0


@dataclass
class Built:
    """Everything the engine needs, plus what the report shows about how the weights were formed."""

    prices: pd.DataFrame                       # run calendar x columns traded (spliced columns included)
    plans: dict[str, StrategyPlan]
    notes: dict[str, list[str]] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)   # e.g. cap_basis
    gaps: pd.DataFrame | None = None           # prices ending mid-run: see `find_ended`
    cash_sources: dict[str, str] = field(default_factory=dict)      # strategy -> what its idle cash earns


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
    if ("ended",) not in memo:              # depends on the inputs only: once per sweep, not per chunk
        memo[("ended",)] = find_ended(prices, inputs.calendar, inputs.membership)
    ended = memo[("ended",)]
    gap_policy = getattr(cfg, "data_gaps", "sell")
    cash_sources: dict[str, str] = {}
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
        notes[spec.name] += group_membership_notes(spec, cfg.groups)
        px = prices.assign(**extra) if extra else prices
        with _naming(spec):
            targets, basis = _targets(spec, cfg, inputs, px, shares, aliases, notes[spec.name],
                                      memo=memo, px_key=tuple(sorted(extra)))
            gaps = data_gaps(spec, targets, ended, gap_policy, notes[spec.name], memo=memo)
            rate, cash_sources[spec.name] = _cash_rate(spec, cfg, inputs, px, inputs.calendar)
        plans[spec.name] = StrategyPlan(targets, commission_bps=spec.costs.commission_bps,
                                        slippage_bps=spec.costs.slippage_bps, expense_ratio=spec.expense_ratio,
                                        cash_rate=rate, hold_ended=gaps if gap_policy == "hold" else ())
        if basis is not None:
            tables[_table_key("cap_basis", spec.name, tables)] = basis
    names = {s.name.lower(): s.name for s in cfg.strategies}
    for spec in cfg.strategies:
        if spec.weighting == "sleeves":
            with _naming(spec):
                targets = sleeve_targets(spec, names, inputs, notes[spec.name])
                rate, cash_sources[spec.name] = _cash_rate(spec, cfg, inputs, prices, inputs.calendar)
            plans[spec.name] = StrategyPlan(targets, commission_bps=spec.costs.commission_bps,
                                            slippage_bps=spec.costs.slippage_bps, expense_ratio=spec.expense_ratio,
                                            cash_rate=rate, borrow_fee=spec.borrow_fee)
    plans = {s.name: plans[s.name] for s in cfg.strategies}     # config order
    all_prices = prices.assign(**extra) if extra else prices
    frames = {id(p.targets): p.targets for p in plans.values()}     # variants share their targets frames
    used = sorted({c for t in frames.values() for c in t.columns.tolist() if not c.startswith(SLEEVE_PREFIX)})
    if extra:
        on_days = all_prices.loc[sim_calendar(inputs)]
    else:       # the same frame in every chunk of a sweep: its simulation days are taken once
        hit = memo.get(("sim rows",))
        if hit is None or hit[0] is not prices:
            memo[("sim rows",)] = hit = (prices, prices.loc[sim_calendar(inputs)])
        on_days = hit[1]
    return Built(prices=on_days.loc[:, used], plans=plans, notes=notes, tables=tables, gaps=ended,
                 cash_sources=cash_sources)


@contextmanager
def _naming(spec):
    """A `DataError` raised while planning ``spec`` names the strategy (a sweep variant's name holds its
    values), unless its message does already: with several strategies, "no universe name has a full 504-day
    window" alone left the user to guess which one."""
    try:
        yield
    except DataError as exc:
        if type(exc) is not DataError or f"{spec.name!r}" in str(exc) or str(exc).startswith(f"{spec.name}:"):
            raise
        raise DataError(f"strategy {spec.name!r}: {exc}") from exc     # bt -v: the traceback goes on below


# --- Idle cash and data gaps ------------------------------------------------------------------------------

def cash_returns(prices: pd.DataFrame, ticker: str, calendar: pd.DatetimeIndex) -> pd.Series:
    """Daily simple returns of ``ticker`` on ``calendar`` (last close carried over missing days; 0 on the
    first day and before the first price). The one formula for the risk-free series and idle cash."""
    px = prices[ticker] if ticker in prices.columns else pd.Series(float("nan"), index=calendar)
    px = px.ffill().reindex(calendar)
    return px.pct_change().fillna(0.0).rename(ticker)


def _cash_rate(spec, cfg, inputs, px: pd.DataFrame, calendar: pd.DatetimeIndex):
    """What the strategy's idle cash earns: (daily returns or None, a label for the report). ``risk_free``
    is the run's own series (``inputs.risk_free``, the one Sharpe uses)."""
    choice = getattr(spec, "cash_yield", "risk_free") or "risk_free"
    if choice == "none":
        return None, "nothing (cash_yield: none)"
    if choice == "risk_free" and cfg.risk_free is None:
        return None, "nothing (cash_yield: risk_free and the run has no risk_free series)"
    rf = getattr(inputs, "risk_free", None)
    if choice == "risk_free" and rf is None:
        raise DataError(f"strategies[{spec.name!r}].cash_yield: the run's risk-free series was not loaded; "
                        f"build the inputs with load_inputs(cfg, store)")
    ticker = str(rf.name) if choice == "risk_free" else choice
    label = (f"{ticker} (the run's risk_free)" if choice == "risk_free" else f"{ticker} (cash_yield)")
    first = px[ticker].first_valid_index() if ticker in px.columns else None
    if first is None or first > calendar[0]:
        since = "has no prices" if first is None else f"has prices only from {first:%Y-%m-%d}"
        key = "cash_yield" if choice != "risk_free" else "cash_yield (risk_free, the default)"
        raise DataError(f"strategies[{spec.name!r}].{key}: idle cash accrues at {ticker}, which {since}, after "
                        f"the run starts ({calendar[0]:%Y-%m-%d}); fix: start on or after that date, choose a "
                        f"cash ticker priced over the whole period (e.g. BIL) or set cash_yield: none")
    return (rf if choice == "risk_free" else cash_returns(px, ticker, calendar)), label


def sim_calendar(inputs) -> pd.DatetimeIndex:
    """The simulation's days: the run calendar, with the opening decision day in front under next_close."""
    sim = getattr(inputs, "sim_calendar", None)
    return inputs.calendar if sim is None else sim


SLEEVE_PREFIX = "sleeve:"    # a parent's target column for a sleeve: "sleeve:<strategy name>"


def sleeve_column(name: str) -> str:
    """The price column of sleeve ``name`` (its value series) in a ``weighting: sleeves`` parent's targets."""
    return f"{SLEEVE_PREFIX}{name}"


def sleeve_targets(spec, names: dict[str, str], inputs, notes: list[str]) -> pd.DataFrame:
    """Target weights of a ``weighting: sleeves`` strategy: on each of its own rebalance dates, its share
    of value in each sleeve (negative: short), one column per sleeve (``sleeve_column(name)``; ``names``
    maps a lower-case strategy name to the config's spelling). Each sleeve runs as its own strategy; the
    parent holds the sleeves' value series (`backtest.sleeves`). The targets use no data at all."""
    dates = decision_dates(sim_calendar(inputs), inputs.calendar[0], spec.rebalance)
    row = {sleeve_column(names[n.lower()]): w for n, w in spec.sleeves}
    notes.append(f"{spec.name}: sleeves {', '.join(f'{names[n.lower()]} {w:g}' for n, w in spec.sleeves)}: each "
                 f"runs as its own strategy; the parent holds their values and rebalances between them on "
                 f"{len(dates)} dates")
    return pd.DataFrame([row] * len(dates), index=dates, columns=sorted(row))


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


def _membership_table(membership, memo: dict):
    """``membership`` (the intervals frame, or None) as a `universe.MembershipTable`, once per memo."""
    from .universe import MembershipTable

    if membership is None:
        return None
    hit = memo.get(("membership",))
    if hit is None or hit.frame is not membership:
        memo[("membership",)] = hit = MembershipTable(membership)
    return hit


def _slug(name: str) -> str:
    return "".join(c.lower() if c.isalnum() else "_" for c in name).strip("_")[:40] or "strategy"


def _table_key(kind: str, name: str, taken) -> str:
    """``<kind>_<slug of name>``, numbered ``_2``, ``_3`` ... (in config order) when an earlier strategy's
    name gave the same slug (names alike in their first 40 characters, or apart only in punctuation): each
    strategy keeps its own table."""
    base = f"{kind}_{_slug(name)}"
    key, n = base, 2
    while key in taken:     # the slug once: a sweep's variants share their first 40 characters
        key = f"{base}_{n}"
        n += 1
    return key


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
    memo = {} if memo is None else memo
    method = getattr(spec, "shares", "point_in_time")
    if shares is not None and spec.weighting == "cap":
        if ("shares", method) not in memo:
            memo[("shares", method)] = shares.method(method)
        shares_frame, observed = memo[("shares", method)]
    else:
        shares_frame, observed = (shares.shares, shares.observed) if shares is not None else (None, None)
    universes: dict = {}
    weighting = weighting_key(spec)
    membership = _membership_table(inputs.membership, memo)

    def rows(role, frame):          # a frame's rows on arrays, shared through the memo (`plan_rows`)
        return frame_rows(memo, f"{role} {method} {px_key}", frame)

    def available(date):            # the prices on the date, as `resolve_universe` reads them (a row of a
        row = rows("px", px)        # numeric frame has the dtype of its values: float64, NaN for no price)
        return row.priced(date) if row.values.dtype == np.float64 else px.loc[date]
    groups_key = tuple(sorted((g, tuple(members)) for g, members in groups.items()))

    def target_at(date):
        if spec.weighting == "fixed":
            universe = tuple(aliases.get(t, t) for t in dict(spec.weights))
        else:
            key = ("universe", spec.universe, date, px_key)
            if key not in memo:
                memo[key] = resolve_universe(spec.universe, date, membership, groups, available(date))
            u = memo[key]
            universe = tuple(u.tickers)
            missing.update(u.missing)
            outside.update(u.outside)
            if not universe:
                why = unpriced_why(u.missing, date, px)
                if u.outside and not u.missing:
                    why = (f"no group member is an S&P 500 member then: {', '.join(u.outside)}); fix: start "
                           "later, or `membership: static` to hold the group's members on every date")
                raise DataError(f"strategies[{spec.name!r}].universe: empty on {date:%Y-%m-%d} ({why}")
        if spec.weighting == "cap" and observed is not None:
            key = ("basis", method, date, universe)
            if key not in memo:
                memo[key] = {**cap_basis_row(date, rows("observed", observed).at(date, universe)),
                             **later_weight(date, universe, rows("shares all", shares.shares), rows("px", px),
                                             rows("shares observed", shares.observed), method)}
            basis_rows.append(memo[key])      # not modified: `pd.DataFrame` of the rows copies them
            universes[date] = universe
        key = ("weights", weighting, date, px_key, universe)
        if weighting is None or key not in memo:
            day = ("day shares", method if spec.weighting == "cap" else None, date)   # shared by strategies
            if day not in memo:
                basis_of = f"day {day[1]}"
                memo[day] = day_shares(date, shares_frame, observed,
                                        None if shares_frame is None else rows(basis_of, shares_frame),
                                        None if observed is None else rows(f"{basis_of} observed", observed))
            at = (day, px_key, universe, groups_key)    # one DecisionInputs per date and universe, shared:
            if at not in memo:              # what it caches (prices on the date, market caps) is read once
                sh, seen = memo[day]
                memo[at] = DecisionInputs(date=date, history=px.loc[:date], shares=sh, universe=universe,
                                          groups=groups, shares_observed=seen)
            memo[key] = weigh(_alias_spec(spec, aliases), memo[at])
        out = memo[key]
        w, extra_notes = (out, ()) if isinstance(out, pd.Series) else (out.weights, tuple(out.notes))
        strategy_notes.extend(extra_notes)
        return w

    if ("dates", spec.rebalance) not in memo:      # the schedule's dates depend on the inputs' calendar only
        memo[("dates", spec.rebalance)] = decision_dates(sim_calendar(inputs), inputs.calendar[0], spec.rebalance)
    candidates = memo[("dates", spec.rebalance)]
    # strategies with the same weighting key and schedule (sweep variants differing only in costs) have the
    # same targets, notes and cap basis: planned once, the frames shared (nothing downstream modifies them)
    whole = ("targets", weighting, px_key, spec.rebalance)     # the memo's candidates follow from the schedule
    if weighting is not None and whole in memo:
        dates, targets, missing, outside, strategy_notes, basis = memo[whole]
        return _finish(spec, groups, notes, dates, candidates, targets, missing, outside, strategy_notes, basis,
                       memo=memo, whole=whole)
    if spec.rebalance.drift is not None and spec.weighting == "fixed" and getattr(spec, "trend", None) is None:
        # the same target on every date (no trend filter, which can switch it to the defensive ticker): the
        # band check runs on arrays (schedule.apply_drift_bands_fixed),
        # after checking that every name has a price on every candidate (else target_at raises there)
        target = target_at(candidates[0])
        priced = px.reindex(index=candidates, columns=target.index).notna().all(axis=1).to_numpy()
        if not priced.all():
            target_at(candidates[int(np.argmin(priced))])
        dates = apply_drift_bands_fixed(candidates, px, target, spec.rebalance.drift, lag=fill_lag(cfg.fill))
        by_date = dict.fromkeys(dates, target)
    elif spec.rebalance.drift is not None:
        dates, by_date = apply_drift_bands(candidates, px, target_at, spec.rebalance.drift, lag=fill_lag(cfg.fill))
    else:
        dates, by_date = candidates, {d: target_at(d) for d in candidates}
    targets = target_frame([by_date[d] for d in dates], dates, memo)
    basis = None
    if basis_rows:      # the same rows (memo entries) for every weighting of the universe: one frame for them
        key = ("basis frame", tuple(id(r) for r in basis_rows))
        hit = memo.get(key)
        if hit is None or any(a is not b for a, b in zip(hit[0], basis_rows)):
            basis = pd.DataFrame(basis_rows).drop_duplicates("date", keep="last").set_index("date")
            refresh = ("refresh", method, spec.universe, px_key, tuple(basis.index))   # same for every weighting
            if refresh not in memo:
                memo[refresh] = refresh_turnover(basis.index, universes, rows("shares", shares_frame),
                                                  rows("px", px))
            basis["share_refresh_turnover"] = memo[refresh]
            memo[key] = hit = (tuple(basis_rows), basis)
        basis = hit[1]
    if weighting is not None:
        memo[whole] = (dates, targets, missing, outside, strategy_notes, basis)
    return _finish(spec, groups, notes, dates, candidates, targets, missing, outside, strategy_notes, basis,
                   memo=memo, whole=whole if weighting is not None else None)


def _finish(spec, groups, notes, dates, candidates, targets, missing, outside, strategy_notes, basis, *,
            memo=None, whole=None):
    """Add one strategy's planning notes to ``notes``; return its targets and cap basis. With ``memo`` and
    ``whole`` (the targets' memo key), strategies planned from the same targets get the first one's lines,
    each line's leading strategy name replaced by their own (nothing else in them depends on the name)."""
    key = ("finish", whole)
    if memo is not None and whole is not None and key in memo:
        name, lines = memo[key]
        notes.extend(f"{spec.name}{line[len(name):]}" for line in lines)
        return targets, basis
    start = len(notes)
    finish_notes(spec, groups, notes, dates, candidates, missing, outside, strategy_notes, basis, memo=memo)
    if memo is not None and whole is not None and all(n.startswith(f"{spec.name}: ") for n in notes[start:]):
        memo[key] = (spec.name, notes[start:])
    return targets, basis


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
