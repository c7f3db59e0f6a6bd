"""One run, end to end: config -> universe -> prices -> target weights -> simulation -> results folder.

The top floor: it calls each stage in the flow's order and nothing below imports it. Everything the CLI does
is callable from here in a notebook::

    from backtest.runner import run_config
    folder = run_config("configs/rotation.yaml", offline=True)
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable

import pandas as pd

from backtest.config import benchmark_list
from backtest.data.inputs import (
    Inputs, coverage, gap_warnings, load_inputs, risk_free_returns, run_aliases,
)
from backtest.errors import DataError


def require_python_allowed(cfg, allow_python: bool) -> None:
    """Refuse a config with ``weighting: {python: ...}`` unless running its code was asked for explicitly."""
    from .errors import UsageError

    found = [(i, s) for i, s in enumerate(cfg.strategies) if s.weighting == "python"]
    if found and not allow_python:
        i, s = found[0]
        raise UsageError(f"strategies[{i}].weighting.python: {s.python} would run Python code named in the "
                         f"config ({len(found)} strateg{'y' if len(found) == 1 else 'ies'}); configs are data, so "
                         "this needs an explicit flag: bt run --allow-python CONFIG (run_config(..., "
                         "allow_python=True)); use it only with configs and code you trust")


SWEEP_NOT_RUN = ("sweep: bt run runs the config's strategies as written and not its sweep grid; `bt sweep CONFIG` "
                 "runs every variant of the grid")


def short_period_notes(calendar: pd.DatetimeIndex) -> list[str]:
    """The warning of a run shorter than a year from its base close (365 calendar days), whose annualised
    figures extrapolate a short period; none for a year or more."""
    if (calendar[-1] - calendar[0]).days >= 365:
        return []
    return [f"the run covers {len(calendar) - 1} trading day{'s' if len(calendar) != 2 else ''} after its base "
            f"close ({calendar[0]:%Y-%m-%d} .. {calendar[-1]:%Y-%m-%d}), less than a year: CAGR, volatility, "
            f"Sharpe and the other annualised figures extrapolate that period to a year (total return is the "
            f"period's own)"]


def run_config(config_path, *, store=None, results_dir=Path("results"), offline: bool = False,
               start: str | None = None, end: str | None = None,
               echo: Callable[[str], None] = lambda m: None, allow_python: bool = False,
               fork_evidence: bool = True) -> Path:
    """Load, validate, run and save. Returns the run folder. ``allow_python``: run the functions of
    ``weighting: {python: ...}`` strategies (refused otherwise). ``fork_evidence``: compute the evidence
    stage in a forked helper process on the second core where that is safe (`evidence_worker`); the run
    folder is the same either way."""
    from .config import apply_overrides, load_config
    from .data.store import PriceStore, default_store_dir
    from .gcpolicy import young_collections_only
    from .results import check_results_dir

    t0 = time.perf_counter()
    cfg = load_config(Path(config_path))
    cfg = apply_overrides(cfg, start=start, end=end)
    results_dir = Path(results_dir)
    created = [d for d in (results_dir, *results_dir.parents) if not d.exists()]
    results_dir = check_results_dir(results_dir)
    try:
        store = store if store is not None else PriceStore(default_store_dir())
        with young_collections_only(), evidence_worker(cfg, fork=fork_evidence) as worker:  # ended with the run
            result = run_backtest(cfg, store, offline=offline, echo=echo, t0=t0, allow_python=allow_python,
                                  evidence_worker=worker)
            return save_run(result, results_dir, helper=worker)
    except BaseException:
        for d in created:  # a failed run leaves nothing behind, not even the empty folders it made
            try:
                d.rmdir()
            except OSError:
                break
        raise


def evidence_worker(cfg, *, fork: bool = True, warm: Callable[[], object] | None = None):
    """A context manager giving a `backtest.forked.ForkedWorker` for the evidence stage of ``cfg`` (forked
    now: it imports statsmodels while this process loads data and simulates; ``warm``: what it runs first
    instead, `bt sweep`'s imports), or None where the evidence is computed in this process: ``fork`` false,
    no evidence or no strategy in the config, or not safe here (`backtest.forked.can_fork`: not Linux, not
    the main thread, other Python threads running, as in a notebook kernel). Call it before any price is
    read (pyarrow) or kernel launched (numba)."""
    import contextlib

    from .forked import ForkedWorker, can_fork

    if not (fork and cfg.evidence.enabled and cfg.strategies and can_fork()):
        return contextlib.nullcontext(None)
    from .analytics.evidence import preload

    try:
        return ForkedWorker(warm=warm or preload)
    except OSError:     # no process to spare (EAGAIN, ENOMEM): the evidence is computed here, the same
        return contextlib.nullcontext(None)


def save_run(result, results_dir: Path, *, folder_name: str | None = None, helper=None) -> Path:
    """Write a `RunResult` as a complete run folder with its HTML report (`results.write_run` + the
    report renderer: the results stage never imports the report). Returns the folder. ``helper``: the run's
    `backtest.forked.ForkedWorker`, which writes about half of the CSV files and renders the report's extra
    sections (`_SplitReport`); the bytes are the same."""
    from .report import render_report
    from .results import write_run

    if helper is None:
        return write_run(result, Path(results_dir), folder_name=folder_name, renderer=render_report)
    split = _SplitReport(helper)
    return write_run(result, Path(results_dir), folder_name=folder_name, renderer=split.render, helper=helper,
                     on_written=split.start)


class _SplitReport:
    """The report of a run folder rendered on two cores: once the folder's files are written (`start`), the
    helper process reads it back and renders the extra sections (`report.html.extra_sections_of`: the
    rotation analytics and the evidence) while this process reads it back and renders the rest (`render`),
    then takes the helper's part. If the helper fails, this process renders that part itself: the page is
    the same either way (the same function on the same files)."""

    def __init__(self, helper):
        self.helper = helper
        self.sent = False

    def start(self, folder: Path) -> None:
        from .report.html import extra_sections_of

        try:
            self.helper.submit(extra_sections_of, str(folder))
            self.sent = True
        except Exception:   # noqa: BLE001 - not sent: rendered here by `render`
            self.sent = False

    def render(self, saved) -> str:
        from .forked import WorkerFailed
        from .report import render_report
        from .report.html import extra_sections

        if not self.sent:
            return render_report(saved)

        def extra() -> str:
            try:
                return self.helper.result()
            except WorkerFailed:
                return extra_sections(saved)

        return render_report(saved, extra=extra)


def run_backtest(cfg, store, *, offline: bool = False, echo: Callable[[str], None] = lambda m: None,
                 t0: float | None = None, allow_python: bool = False, evidence_worker=None):
    """Run a validated `RunConfig` against `store`; returns a `RunResult` (nothing written).

    ``evidence_worker``: a `backtest.forked.ForkedWorker` (`evidence_worker` makes one) that computes the
    evidence while this process computes the rotation analytics and the other tables; None computes it
    here, last. The result is the same either way (the same function on the same inputs)."""
    from .config import config_to_dict
    from .plans import build_plans
    from .results import RunResult, StrategyResult, package_versions

    require_python_allowed(cfg, allow_python)
    t0 = t0 if t0 is not None else time.perf_counter()
    timings: dict[str, float] = {}
    ignored = [SWEEP_NOT_RUN] if cfg.sweep is not None else []     # a RunConfig's sweep grid: not run here
    for note in ignored:
        echo(f"note: {note}")
    echo(f"loading data for {cfg.name!r} ...")
    inputs = load_inputs(cfg, store, offline=offline, echo=echo)
    timings["load"] = time.perf_counter() - t0
    built = build_plans(cfg, inputs)
    timings["weights"] = time.perf_counter() - t0 - timings["load"]
    echo(f"simulating {len(built.plans)} strateg{'y' if len(built.plans) == 1 else 'ies'} on "
         f"{len(inputs.calendar)} days ...")
    sims = simulate_trimmed(built.prices, built.plans, inputs, capital=cfg.capital, fill=cfg.fill)
    timings["simulate"] = time.perf_counter() - t0 - sum(timings.values())
    benchmarks = simulate_benchmarks(cfg, inputs)
    benchmark = benchmarks.pop(cfg.benchmark)
    risk_free = risk_free_returns(cfg, inputs)
    strategies = tuple(
        StrategyResult(name=name, equity=sim.equity, targets=built.plans[name].targets, holdings=sim.holdings,
                       trades=sim.trades, fees=sim.fees, turnover=sim.turnover,
                       notes=tuple(built.notes.get(name, ())) + sim.notes, slippage=sim.slippage,
                       borrow_charged=sim.borrow_charged)
        for name, sim in sims.items())
    evidence = _start_evidence(cfg, store, strategies, benchmark, risk_free, built.prices, inputs, echo,
                               evidence_worker)
    analytics = dict(built.tables)
    analytics["idle_cash"] = idle_cash_table(sims, built)
    quality = data_quality_table(built, sims, cfg.data_gaps)
    if not quality.empty:
        analytics["data_quality"] = quality
    analytics.update(_rotation_analytics(cfg, inputs, sims, echo))
    if cfg.cash_flows:
        analytics.update(cash_flow_tables(cfg, strategies, benchmark, inputs.calendar,
                                          cash={name: sim.cash / sim.equity for name, sim in sims.items()}))
    exposure = exposure_table(sims)
    if exposure is not None:
        analytics["exposure"] = exposure
    sectors = sector_table(store, built.prices.columns)
    if sectors is not None:
        analytics["sectors"] = sectors
    warnings = ignored + inputs.warnings + gap_warnings(built.prices) + [n for s in strategies for n in s.notes]
    warnings += short_period_notes(inputs.calendar)
    if "cash_flows" in analytics:
        warnings += cash_flow_warnings(analytics["cash_flows"])
    manifest = {
        "name": cfg.name,
        "config_path": str(cfg.source_path) if cfg.source_path else None,
        "period": {"start": f"{inputs.calendar[0]:%Y-%m-%d}", "end": f"{inputs.calendar[-1]:%Y-%m-%d}",
                   "trading_days": int(len(inputs.calendar))},
        "fill": cfg.fill,
        "offline": offline,
        "membership_source": cfg.membership_source if inputs.membership is not None else None,
        "data": coverage(store, built.prices, inputs.calendar),
        "warnings": warnings,
        "versions": package_versions(),
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
    }
    if cfg.cash_flows:
        from .cashflows import CONVENTION

        manifest["cash_flows"] = {"convention": CONVENTION, "table": "analytics/cash-flows.csv",
                                  "daily_value": "analytics/account-value.csv"}
    result = RunResult(name=cfg.name, config=config_to_dict(cfg), strategies=strategies,
                       benchmark_name=cfg.benchmark, benchmark=benchmark, benchmarks=benchmarks,
                       risk_free=risk_free, manifest=manifest, analytics=analytics)
    return _with_evidence(result, evidence, meanwhile=_import_report if evidence_worker is not None else None)


def _start_evidence(cfg, store, strategies, benchmark: pd.Series, risk_free, prices: pd.DataFrame,
                    inputs: Inputs, echo, worker) -> Callable[[], tuple] | None:
    """The evidence stage (docs/evidence.md) of a run, started: None when the config has none; else a
    function returning ``(summary, tables, seconds)`` of `backtest.analytics.evidence.run_evidence`.

    Without ``worker``, that function computes the evidence when called. With one, the inputs are read and
    sent to it now and the function waits for its answer (`forked.offload`); if the inputs could not be sent
    or the worker failed (the call raised there, or the process died), the evidence is computed in this
    process, so an error reaches the user exactly as it is raised here (type, message, exit code, the
    traceback under ``-v``). If reading the inputs fails, nothing is sent and the function is the in-process
    one: the error is raised at the end of the run, where the in-process path raises it."""
    if not cfg.evidence.enabled or not strategies:
        return None
    from .analytics.evidence import run_evidence

    def in_process():
        echo("computing the evidence (factor regressions, robustness) ...")
        t1 = time.perf_counter()
        kwargs = _evidence_inputs(cfg, store, strategies, benchmark, risk_free, prices, inputs)
        return (*run_evidence(**kwargs), time.perf_counter() - t1)

    if worker is None:
        return in_process
    from .forked import offload

    t1 = time.perf_counter()
    try:
        kwargs = _evidence_inputs(cfg, store, strategies, benchmark, risk_free, prices, inputs)
    except Exception:   # noqa: BLE001 - computed in-process at the end instead, where any error is raised as now
        return in_process
    evidence = offload(worker, _timed, run_evidence, **kwargs)
    echo("computing the evidence (factor regressions, robustness) ...")
    prepared = time.perf_counter() - t1

    def collect():
        summary, tables, seconds = evidence()
        return summary, tables, prepared + seconds

    return collect


def _timed(fn, /, **kwargs) -> tuple:
    """``(*fn(**kwargs), seconds)``: the evidence and the time it took in the worker."""
    t = time.perf_counter()
    return (*fn(**kwargs), time.perf_counter() - t)


def _with_evidence(result, evidence, meanwhile: Callable[[], object] | None = None):
    """`result` with metrics.json's ``evidence`` entry and the ``evidence_*`` tables (docs/evidence.md);
    ``evidence``: `_start_evidence`'s function (None: no evidence, `result` unchanged). The run's metrics
    and ``meanwhile()`` are computed before the evidence is collected: with a worker computing it, they take
    up time this process would otherwise spend waiting for it."""
    from .results import compute_run_metrics

    if evidence is None:
        return result
    metrics = compute_run_metrics(result)       # computed here rather than in write_run
    if meanwhile is not None:
        meanwhile()
    summary, tables, seconds = evidence()
    manifest = dict(result.manifest)
    manifest["timings_s"] = {**manifest["timings_s"], "evidence": round(seconds, 3)}
    metrics = {**metrics, "evidence": summary}
    return dataclasses.replace(result, metrics=metrics, analytics={**result.analytics, **tables},
                               manifest=manifest)


def _import_report() -> None:
    """Import the report renderer (plotly included, ~0.15 s), which `save_run` needs next: done while the
    evidence worker finishes, instead of after it."""
    from . import report  # noqa: F401


def _evidence_inputs(cfg, store, strategies, benchmark: pd.Series, risk_free, prices: pd.DataFrame,
                     inputs: Inputs) -> dict:
    """The keyword arguments of `backtest.analytics.evidence.run_evidence` for a run: the factor sets and
    sectors read from the store, the point-in-time index weights for the attribution."""
    from .data.factors import load_factors
    from .data.sectors import load_sectors

    factors = {k: load_factors(store, k) for k in ("ff3_daily", "ff5_mom_monthly")} if cfg.evidence.factors else {}
    sectors = load_sectors(store)
    index_weights = None
    if inputs.membership is not None and inputs.shares_daily is not None and sectors is not None:
        from .analytics.pit import index_cap_weights
        from .analytics.risk import month_ends

        m = inputs.membership
        members = [c for c in m["price_column"].dropna().unique() if c in inputs.prices.columns]
        ends = month_ends(inputs.calendar)
        index_weights = index_cap_weights(inputs.prices[members], inputs.shares_daily.shares, m, ends)
        prices = prices.join(inputs.prices.loc[inputs.calendar, [c for c in members if c not in prices.columns]])
    return dict(equity={s.name: s.equity for s in strategies}, benchmark=benchmark,
                benchmark_name=cfg.benchmark, risk_free=risk_free, factors=factors, spec=cfg.evidence,
                holdings={s.name: s.holdings for s in strategies}, prices=prices, groups=dict(cfg.groups),
                sectors=sectors, index_weights=index_weights, capital=cfg.capital)


def cash_flow_tables(cfg, strategies, benchmark: pd.Series, calendar,
                     cash: dict[str, pd.Series] | None = None) -> dict[str, pd.DataFrame]:
    """The config's contributions/withdrawals applied to every strategy and the benchmark (see
    `backtest.cashflows`: each flow trades the strategy's holdings pro rata at that close, paying its
    commission and slippage on the positions traded): ``cash_flows`` (one row each: contributed, withdrawn,
    ending value, costs paid on flows, IRR, the day the account emptied) and ``account_value`` (daily account
    value, one column each). ``cash``: each strategy's idle cash as a share of its value per day (the
    simulation's ``cash / equity``); without it the cash share is 1 - the sum of the holdings' weights."""
    from .cashflows import account, flow_dates, summary

    flows = flow_dates(pd.DatetimeIndex(calendar), cfg.cash_flows)
    costs = {s.name: (s.costs.commission_bps / 1e4, s.costs.slippage_bps / 1e4) for s in cfg.strategies}
    cash = cash or {}
    rows, values = [], {}
    for s in strategies:
        commission, slippage = costs.get(s.name, (0.0, 0.0))
        acct = account(s.equity, cfg.capital, flows, commission=commission, slippage=slippage,
                       holdings=s.holdings, cash=cash.get(s.name), simulated_capital=cfg.capital)
        rows.append(summary(s.name, acct))
        values[s.name] = acct["value"]
    name = f"{cfg.benchmark} (benchmark)"
    acct = account(benchmark, cfg.capital, flows, simulated_capital=cfg.capital)     # trades free
    rows.append(summary(name, acct))
    values[name] = acct["value"]
    return {"cash_flows": pd.DataFrame(rows).set_index("strategy"),
            "account_value": pd.DataFrame(values)}


def cash_flow_warnings(table: pd.DataFrame) -> list[str]:
    """A run warning for every account a withdrawal emptied (the ``cash_flows`` table's ``depleted_on``)."""
    return [f"cash_flows: the withdrawals emptied the account in {name} on {day:%Y-%m-%d} (a withdrawal asked "
            "for more than selling everything pays: it paid what there was; the account stays at zero until a "
            "contribution)" for name, day in table["depleted_on"].items() if pd.notna(day)]


def sector_table(store, traded) -> pd.DataFrame | None:
    """The GICS sector of every traded ticker that has one (the report's holdings and sector charts), from
    the store's sector table (`bt data import` of the snapshot: today's sectors, applied to every date); None
    when the store has none or no traded ticker has a sector."""
    from .data.sectors import load_sectors

    sectors = load_sectors(store)
    if sectors is None:
        return None
    names = [t for t in dict.fromkeys(str(c).split("~")[0] for c in traded) if t in sectors.index]
    if not names:
        return None
    return sectors.loc[names].rename_axis("ticker").to_frame("sector")


def exposure_table(sims) -> pd.DataFrame | None:
    """Daily gross (sum of |weights|) and net (sum of weights) exposure of every strategy that holds a short
    position at some point; None when none does."""
    cols = {}
    for name, sim in sims.items():
        h = sim.holdings
        if len(h.columns) and (h.to_numpy() < 0).any():
            cols[f"{name} gross"] = h.abs().sum(axis=1)
            cols[f"{name} net"] = h.sum(axis=1)
    return pd.DataFrame(cols) if cols else None


def simulate_trimmed(prices: pd.DataFrame, plans, inputs: Inputs, **kwargs) -> dict:
    """`backtest.engine.simulate` on the simulation calendar (sleeve parents after their sleeves:
    `backtest.sleeves`), each result cut to the run calendar (from the base close; see
    `backtest.schedule.resolve_period`)."""
    from .sleeves import simulate_with_sleeves

    sims = simulate_with_sleeves(prices, plans, **kwargs)
    return {name: trim(sim, inputs.calendar[0]) for name, sim in sims.items()}


def trim(sim, base: pd.Timestamp):
    """A `backtest.engine.Simulation` cut to the days from ``base`` on (drops the opening decision day of
    ``fill: next_close``, where the strategy holds its capital in cash and trades nothing)."""
    if sim.equity.index[0] >= base:
        return sim
    keep = sim.equity.index >= base

    def cut(frame):
        return frame.loc[keep] if len(frame.index) == len(keep) else frame

    return dataclasses.replace(sim, equity=sim.equity.loc[keep], holdings=cut(sim.holdings),
                               fees=sim.fees.loc[keep], slippage=sim.slippage.loc[keep],
                               cash=sim.cash.loc[keep])


def simulate_benchmarks(cfg, inputs: Inputs) -> dict[str, pd.Series]:
    """Value of each benchmark (`backtest.config.benchmark_list`, the primary first) on the run calendar:
    simulated by the engine like a strategy (same opening day and fill convention), without costs, so a
    strategy holding ``{SPY: 1}`` without costs matches the SPY benchmark exactly."""
    from .plans import benchmark_plans

    sim_days = inputs.sim_calendar if inputs.sim_calendar is not None else inputs.calendar
    plans = benchmark_plans(benchmark_list(cfg), sim_days, inputs.calendar[0], run_aliases(cfg))
    cols = sorted({c for p in plans.values() for c in p.targets.columns})
    sims = simulate_trimmed(inputs.prices.loc[sim_days, cols], plans, inputs, capital=cfg.capital,
                            fill=cfg.fill, detail=False)
    return {name: sim.equity.rename(name) for name, sim in sims.items()}


def idle_cash_table(sims, built) -> pd.DataFrame:
    """Per strategy: what idle cash earns, how much sat idle (share of value) and for how long, and what it
    earned. Cash of every origin: before the first trade, unallocated targets, sale proceeds, unpriced names."""
    rows = []
    for name, sim in sims.items():
        share = (sim.cash / sim.equity).clip(lower=0.0)
        over = (share > 0.01).to_numpy()
        spell = longest = 0
        for flag in over:
            spell = spell + 1 if flag else 0
            longest = max(longest, spell)
        rate = built.plans[name].cash_rate
        earned = float((sim.cash.shift(1) * rate.reindex(sim.cash.index)).sum()) if rate is not None else 0.0
        rows.append({"strategy": name, "earns": built.cash_sources.get(name, ""),
                     "mean_cash_share": float(share.mean()), "max_cash_share": float(share.max()),
                     "max_on": share.idxmax() if share.max() > 1e-9 else pd.NaT,   # none idle: no date
                     "days_over_1pct": int(over.sum()),
                     "longest_spell_days": int(longest), "interest_earned": earned})
    return pd.DataFrame(rows).set_index("strategy")


def data_quality_table(built, sims, policy: str) -> pd.DataFrame:
    """One row per traded ticker whose prices end inside the run: DATA GAP (still an index member the next
    trading day) or delisting/removal, its last price, the largest weight any strategy held on that day,
    who held it and what the run did. The weight is the one held at the close before the last price."""
    ended = built.gaps if built.gaps is not None else pd.DataFrame()
    rows = []
    for t, g in ended.iterrows():
        held = {n: float(s.holdings[t].shift(1).loc[g["last_price"]]) for n, s in sims.items()   # going in
                if t in s.holdings.columns and g["last_price"] in s.holdings.index}
        held = {n: w for n, w in held.items() if w > 0}
        targeted = [n for n, p in built.plans.items() if t in p.targets.columns and (p.targets[t] > 0).any()]
        if not targeted:
            continue
        member = None if pd.isna(g["member_after"]) else bool(g["member_after"])
        gap = member is True
        rows.append({"ticker": t,
                     "issue": "DATA GAP: prices end while an index member" if gap else
                              ("prices end after leaving the index" if member is False
                               else "prices end (no membership data)"),
                     "last_price": g["last_price"],
                     "member_next_day": {True: "yes", False: "no"}.get(member, "unknown"),
                     "held_weight_max": max(held.values()) if held else 0.0,
                     "held_by": ", ".join(sorted(held)),
                     "action": (f"data_gaps: {policy}" if gap else "sold at the last close")})
    cols = ["ticker", "issue", "last_price", "member_next_day", "held_weight_max", "held_by", "action"]
    return pd.DataFrame(rows, columns=cols).set_index("ticker")


def _rotation_analytics(cfg, inputs: Inputs, sims, echo) -> dict[str, pd.DataFrame]:
    from .data.inputs import _analytics_of, _has_analytics

    if not _has_analytics(cfg) or inputs.membership is None or inputs.shares is None:
        return {}
    if not (any(s.universe is not None and s.universe.index for s in cfg.strategies)
            and any(s.weighting == "cap" for s in cfg.strategies)):
        return {}     # membership and shares are also read for point-in-time groups and per-company equal
                      # weights; the analytics need an index universe and cap weights, as before
    from .analytics import rotation_analytics
    from .marketcap import daily_shares

    echo("computing rotation analytics ...")
    a = _analytics_of(cfg)
    daily = inputs.shares_daily if inputs.shares_daily is not None else daily_shares(inputs.shares, inputs.prices)
    shares = daily.shares
    short = [name for name, sim in sims.items() if (sim.holdings.to_numpy() < 0).any()]
    out = rotation_analytics(inputs.prices, shares, inputs.membership,
                             asof=a.asof if a.asof is not None else inputs.calendar[-1], windows=a.windows,
                             groups=dict(cfg.groups), benchmark=cfg.benchmark, snapshot=a.snapshot,
                             full_start=inputs.calendar[0],
                             portfolios={name: sim.holdings for name, sim in sims.items() if name not in short})
    if short and "concentration" in out:      # weight shares and 1/HHI describe long-only portfolios
        out["notes"] = pd.concat([out["notes"], pd.DataFrame({"note": [
            f"concentration: {name} holds short positions; its concentration (top-N and group shares, HHI) "
            "is not computed (defined for long-only portfolios)" for name in short]})], ignore_index=True)
    return out


def snapshot_table(store, tickers: list[str], *, asof: str | None, since: str) -> str:
    """Text table of total returns of `tickers` over a window ending at `asof` (for `bt snapshot`)."""
    from .analytics import asset_snapshot, format_snapshot

    prices = store.prices(tickers)
    missing = [t for t in tickers if t not in prices.columns or prices[t].dropna().empty]
    if len(missing) == len(tickers):
        raise DataError(f"no prices in the store for {', '.join(missing)}; fix: `bt data import "
                        f"../shared/market-data` or `bt data fetch {' '.join(missing)}`")
    when = pd.Timestamp(asof) if asof else prices.dropna(how="all").index[-1]
    return format_snapshot(asset_snapshot(prices, tickers, when, since, calendars=_own_calendars(prices)))


def _own_calendars(prices: pd.DataFrame) -> dict[str, pd.DatetimeIndex] | None:
    """Each ticker's trading dates when the tickers asked for trade on different days (a crypto series beside
    stocks): a ticker with prices on days the NYSE is closed keeps its own dates, the others the NYSE
    sessions among the dates. None when every date is a session (one calendar serves all)."""
    from .calendar import sessions_between

    dates = prices.dropna(how="all").index
    if not len(dates):
        return None
    sessions = dates.intersection(sessions_between(dates[0], dates[-1]))
    if len(sessions) == len(dates) or not len(sessions):
        return None
    out = {}
    for t in prices.columns:
        own = prices[t].dropna().index
        out[t] = own if len(own.difference(sessions)) else sessions
    return out
