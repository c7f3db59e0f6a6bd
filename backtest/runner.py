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

from backtest.data.inputs import (
    Inputs, benchmark_list, coverage, gap_warnings, load_inputs, risk_free_returns, run_aliases,
)
from backtest.errors import DataError


def run_config(config_path, *, store=None, results_dir=Path("results"), offline: bool = False,
               start: str | None = None, end: str | None = None,
               echo: Callable[[str], None] = lambda m: None) -> Path:
    """Load, validate, run and save. Returns the run folder."""
    from .config import apply_overrides, load_config
    from .data.store import PriceStore, default_store_dir
    from .results import check_results_dir

    t0 = time.perf_counter()
    cfg = load_config(Path(config_path))
    cfg = apply_overrides(cfg, start=start, end=end)
    results_dir = Path(results_dir)
    created = [d for d in (results_dir, *results_dir.parents) if not d.exists()]
    results_dir = check_results_dir(results_dir)
    try:
        store = store if store is not None else PriceStore(default_store_dir())
        result = run_backtest(cfg, store, offline=offline, echo=echo, t0=t0)
        return save_run(result, results_dir)
    except BaseException:
        for d in created:  # a failed run leaves nothing behind, not even the empty folders it made
            try:
                d.rmdir()
            except OSError:
                break
        raise


def save_run(result, results_dir: Path, *, folder_name: str | None = None) -> Path:
    """Write a `RunResult` as a complete run folder with its HTML report (`results.write_run` + the
    report renderer: the results stage never imports the report). Returns the folder."""
    from .report import render_report
    from .results import write_run

    return write_run(result, Path(results_dir), folder_name=folder_name, renderer=render_report)


def run_backtest(cfg, store, *, offline: bool = False, echo: Callable[[str], None] = lambda m: None,
                 t0: float | None = None):
    """Run a validated `RunConfig` against `store`; returns a `RunResult` (nothing written)."""
    from .config import config_to_dict
    from .plans import build_plans
    from .results import RunResult, StrategyResult, package_versions

    t0 = t0 if t0 is not None else time.perf_counter()
    timings: dict[str, float] = {}
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
    strategies = tuple(
        StrategyResult(name=name, equity=sim.equity, targets=built.plans[name].targets, holdings=sim.holdings,
                       trades=sim.trades, fees=sim.fees, turnover=sim.turnover,
                       notes=tuple(built.notes.get(name, ())) + sim.notes)
        for name, sim in sims.items())
    analytics = dict(built.tables)
    analytics.update(_rotation_analytics(cfg, inputs, sims, echo))
    warnings = inputs.warnings + gap_warnings(built.prices) + [n for s in strategies for n in s.notes]
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
    return RunResult(name=cfg.name, config=config_to_dict(cfg), strategies=strategies,
                     benchmark_name=cfg.benchmark, benchmark=benchmark, benchmarks=benchmarks,
                     risk_free=risk_free_returns(cfg, inputs), manifest=manifest, analytics=analytics)


def simulate_trimmed(prices: pd.DataFrame, plans, inputs: Inputs, **kwargs) -> dict:
    """`backtest.engine.simulate` on the simulation calendar, each result cut to the run calendar (from the
    base close; see `backtest.schedule.resolve_period`)."""
    from .engine import simulate

    sims = simulate(prices, plans, **kwargs)
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
                               fees=sim.fees.loc[keep], cash=sim.cash.loc[keep])


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
    return rotation_analytics(inputs.prices, shares, inputs.membership,
                              asof=a.asof if a.asof is not None else inputs.calendar[-1], windows=a.windows,
                              groups=dict(cfg.groups), benchmark=cfg.benchmark, snapshot=a.snapshot,
                              full_start=inputs.calendar[0],
                              portfolios={name: sim.holdings for name, sim in sims.items()})


def snapshot_table(store, tickers: list[str], *, asof: str | None, since: str) -> str:
    """Text table of total returns of `tickers` over a window ending at `asof` (for `bt snapshot`)."""
    from .analytics import asset_snapshot, format_snapshot

    prices = store.prices(tickers)
    missing = [t for t in tickers if t not in prices.columns or prices[t].dropna().empty]
    if len(missing) == len(tickers):
        raise DataError(f"no prices in the store for {', '.join(missing)}; fix: `bt data import "
                        f"../shared/market-data` or `bt data fetch {' '.join(missing)}`")
    when = pd.Timestamp(asof) if asof else prices.dropna(how="all").index[-1]
    return format_snapshot(asset_snapshot(prices, tickers, when, since))
