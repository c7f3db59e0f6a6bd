"""Parameter sweeps: a config's ``sweep:`` grid expanded into variants, simulated in memory-bounded chunks
(in this process or on a Dask cluster), saved as one run folder with a sweep report.

    from backtest.sweep import run_sweep
    folder = run_sweep("configs/examples/sweep.yaml", offline=True, workers=2)

A chunk is ``chunk_size`` strategies of the swept config (`config.swept_config`: each swept strategy replaced
by its variants, the others kept as they are). For each chunk, `simulate_chunk` computes the target weights
on the rebalance dates, simulates every strategy with one cash pool each (`simulate_plans`: the batch
kernel `engine.batch.simulate_many`, bit-identical to vectorbt's path `engine.simulate(..., detail=False)`,
which runs what the kernel does not support) and the metrics of every strategy (`_metrics`). Memory is
bounded by the chunk, not by the number of variants.

A chunk travels as plain data: the chunk's config (a frozen `RunConfig`), the market data (`backtest.data.inputs.Inputs`, sent to each
Dask worker once), the benchmark's returns and the risk-free rate. Workers need neither the store nor the
config file, and a chunk's result does not depend on where it runs or on which other strategies share its
chunk (tests/test_sweep.py checks both, byte for byte).

The run folder has the layout of `bt run` (docs/report.md) with every variant as a strategy: metrics.json,
equity.csv, returns.csv, fees.csv and turnover.csv hold every variant. It has no weights/, holdings/ or
trades/ folder (``detail_files: false`` in the manifest's layout; `load_run` gives each variant the empty
tables a run without them has): the detail of one variant is `bt run` of a config with that variant. The
manifest's ``sweep`` entry lists the variants with their parameters; report.html is the sweep report
(`backtest.report.sweep`).
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .errors import UsageError
from .sweep_workers import Outcome, assign_chunks, runner, warm_up  # noqa: F401  (this module's face too)

DEFAULT_METRIC = "sharpe"



@dataclass(frozen=True)
class Variant:
    """One strategy of the swept config: its name, the strategy it varies (None for a strategy the sweep
    leaves alone) and the swept values as ``(key path, value as in the name)`` pairs, in grid order."""

    name: str
    base: str | None
    params: tuple[tuple[str, str], ...] = ()


def expand_variants(cfg) -> tuple[object, list[Variant], dict[str, list[tuple[str, list[str]]]]]:
    """``(swept config, one Variant per strategy of it in order, grid per swept strategy)``.

    The grid maps each swept strategy's name to ``[(key path, [value labels in grid order]), ...]``.
    Raises UsageError when the config has no ``sweep:`` block.
    """
    from .config import expand_sweep, swept_config
    from .config.dump import thaw
    from .config.sweep import label, plan

    if cfg.sweep is None:
        where = cfg.source_path or "the config"
        raise UsageError(f"{where}: has no sweep: block, so there is nothing to sweep; fix: add one (see "
                         f"docs/config.md and configs/examples/sweep.yaml) or run it with `bt run`")
    grids: dict[str, list[tuple[str, list[str]]]] = {}
    combos: dict[str, list[tuple[tuple[str, str], ...]]] = {}
    for base, grid in plan(cfg.sweep, cfg.strategies):
        grids[base.name] = [(key, [label(thaw(v)) for v in values]) for key, values in grid]
        combos[base.name] = [tuple((key, label(thaw(v))) for (key, _), v in zip(grid, combo, strict=True))
                             for combo in itertools.product(*(values for _, values in grid))]
    params: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {}
    taken = {name: 0 for name in combos}
    for base_name, variant in expand_sweep(cfg):
        params[variant.name] = (base_name, combos[base_name][taken[base_name]])
        taken[base_name] += 1
    swept = swept_config(cfg)
    variants = [Variant(s.name, *params.get(s.name, (None, ()))) for s in swept.strategies]
    return swept, variants, grids


def chunk_payloads(swept, chunk_size: int) -> list:
    """The swept config cut into chunks of at most ``chunk_size`` strategies, each a `RunConfig` (frozen,
    picklable: a chunk is not parsed again, so generated variant names need no length limit).

    Strategies whose target weights are the same computation (`plans.weighting_key`: they differ only in
    schedule, costs, expense ratio or cash yield) form a weighting group, in `chunk_order`. A chunk never
    mixes a part of a group with other strategies: a group larger than ``chunk_size`` is cut into its fewest
    chunks of near-equal size (40 strategies in chunks of 32: two of 20), and smaller groups are packed
    together, in order, up to ``chunk_size``. So each chunk solves the weights on a date once per group, and
    `assign_chunks` can keep a group's chunks on one Dask worker. A sleeves strategy and its sleeves are
    simulated together (`sleeves.kept_together`): their chunk may hold more than ``chunk_size`` strategies.
    """
    from .plans import weighting_key
    from .sleeves import kept_together

    groups: list[list[list]] = []        # runs of units (a strategy, or a sleeves parent with its sleeves)
    last = object()                      # of one weighting key
    for unit in kept_together([swept.strategies[i] for i in chunk_order(swept)]):
        key = weighting_key(unit[0]) if len(unit) == 1 else None
        if key is None or key != last:
            groups.append([])
        groups[-1].append(unit)
        last = key
    chunks: list[list] = []
    for units in groups:
        size = sum(len(u) for u in units)
        if size > chunk_size:                  # a group of its own chunks, of near-equal size
            target = -(-size // -(-size // chunk_size))
            chunks.append([])
            for unit in units:
                if chunks[-1] and len(chunks[-1]) + len(unit) > target:
                    chunks.append([])
                chunks[-1].extend(unit)
            chunks.append([])
            continue
        if not chunks or len(chunks[-1]) + size > chunk_size:    # small groups packed together
            chunks.append([])
        for unit in units:
            chunks[-1].extend(unit)
    return [dataclasses.replace(swept, strategies=tuple(c), sweep=None) for c in chunks if c]


def chunk_order(swept) -> list[int]:
    """Positions of the swept config's strategies in chunk order: grouped by weighting key, in order of first
    appearance, the config's order kept within a group."""
    from .plans import weighting_key

    first: dict = {}
    keys = [weighting_key(s) for s in swept.strategies]
    for i, key in enumerate(keys):
        first.setdefault(key if key is not None else ("alone", i), i)
    return sorted(range(len(keys)), key=lambda i: (first[keys[i] if keys[i] is not None else ("alone", i)], i))


def simulate_chunk(payload, inputs, benchmark_returns: pd.Series,
                   risk_free: pd.Series | None, memo: dict | None = None, threads: int | None = None
                   ) -> list[Outcome]:
    """Weights, simulation and metrics of one chunk (``payload``: a `RunConfig` from `chunk_payloads`;
    ``inputs``: `backtest.data.inputs.Inputs`). Pure: runs the same in this process and on a Dask worker. ``memo``: the
    per-date work (universe, market caps, weights) of earlier chunks on the same inputs, reused
    (`plans.build_plans`); the result does not depend on it. Each variant's metrics are those `bt run`
    computes (`metrics.compute_metrics` on its values from capital), computed for the whole chunk at once
    (`metrics_matrix.compute_metrics_many`, equal bit for bit). ``threads``: the batch kernel's numba
    threads (`simulate_plans`; a Dask worker passes 1: its cluster runs one chunk per Dask thread)."""
    from .plans import build_plans

    cfg = payload
    built = build_plans(cfg, inputs, memo=memo)
    equity, fees, slippage, borrow, turnover, notes = simulate_plans(built, inputs, capital=cfg.capital,
                                                                     fill=cfg.fill, threads=threads)
    metrics = _metrics(equity, fees, slippage, turnover, built.plans, cfg, benchmark_returns, risk_free,
                       borrow)
    return [Outcome(name=name, equity=equity[name], fees=fees[name].rename("fees"), turnover=turnover[name],
                    notes=tuple(built.notes.get(name, ())) + notes[name], metrics=metrics[name])
            for name in built.plans]


def simulate_plans(built, inputs, *, capital: float, fill: str, threads: int | None = None
                   ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, float],
                              dict[str, pd.Series], dict[str, tuple[str, ...]]]:
    """``(equity, fees, slippage, borrow, turnover, notes)`` of every plan of ``built`` (`plans.Built`) on the
    run calendar: equity, fees (commission) and slippage as DataFrames (days from the base close x
    strategies, in plan order), each strategy's borrow fee charged (``Simulation.borrow_charged``; 0 without
    one), turnover per strategy on its trade dates, the engine's notes per strategy. Equal to
    `runner.simulate_trimmed(..., detail=False)`: plans the batch kernel supports (`engine.batch.supports`)
    run there, all in one call (bit-identical to vectorbt's path, tests/test_engine_batch.py); the others (a
    borrow fee on shorts; sleeve parents and the sleeves they hold, simulated in two passes by
    `sleeves.simulate_with_sleeves`) run through vectorbt (`runner.simulate_trimmed`). ``threads``: the batch
    kernel's thread count (default: the cores this process may use; pass 1 where the process has one core's
    share, e.g. a Dask worker)."""
    from .engine.batch import simulate_many, supports
    from .runner import simulate_trimmed
    from .sleeves import sleeves_of

    held = {s for p in built.plans.values() for s in sleeves_of(p)}    # sleeves: simulated with their parent
    fast = {n: p for n, p in built.plans.items() if supports(p) and n not in held}    # supports: no parents
    slow = {n: p for n, p in built.plans.items() if n not in fast}
    equity, fees, slippage, borrow, turnover, notes = [], [], [], {}, {}, {}
    if fast:
        batch = simulate_many(built.prices, fast, capital=capital, fill=fill, base=inputs.calendar[0],
                              threads=threads)
        equity.append(batch.equity)
        fees.append(batch.fees)
        slippage.append(batch.slippage)
        borrow.update(dict.fromkeys(fast, 0.0))             # the kernel runs no borrow fee (`supports`)
        turnover.update(batch.turnover)
        notes.update(batch.notes)
    if slow:
        sims = simulate_trimmed(built.prices, slow, inputs, capital=capital, fill=fill, detail=False)
        equity.append(pd.DataFrame({n: s.equity for n, s in sims.items()}))
        fees.append(pd.DataFrame({n: s.fees for n, s in sims.items()}))
        slippage.append(pd.DataFrame({n: s.slippage for n, s in sims.items()}))
        borrow.update({n: s.borrow_charged for n, s in sims.items()})
        turnover.update({n: s.turnover for n, s in sims.items()})
        notes.update({n: s.notes for n, s in sims.items()})
    order = list(built.plans)
    if not order:
        empty = pd.DataFrame(index=inputs.calendar)
        return empty, empty.copy(), empty.copy(), {}, {}, {}
    join = (lambda frames: frames[0][order] if len(frames) == 1 else pd.concat(frames, axis=1)[order])
    return (join(equity), join(fees), join(slippage), {n: borrow[n] for n in order},
            {n: turnover[n] for n in order}, {n: notes[n] for n in order})


def _metrics(equity: pd.DataFrame, fees: pd.DataFrame, slippage: pd.DataFrame, turnover: dict[str, pd.Series],
             plans: dict, cfg, benchmark_returns: pd.Series, risk_free: pd.Series | None,
             borrow: dict[str, float] | None = None) -> dict[str, dict]:
    """Metrics of every strategy of a chunk, as `bt run` computes them: ``equity``, ``fees`` and ``slippage``
    are (days x strategies) frames, ``turnover`` each strategy's series on its trade dates, ``borrow`` each
    strategy's borrow fee charged (left out: 0). The one place a sweep computes metrics: the whole chunk at
    once (`metrics_matrix.compute_metrics_many`)."""
    from .metrics_matrix import compute_metrics_many
    from .results import rebalance_fills

    return compute_metrics_many(
        equity, cfg.capital, benchmark_returns, risk_free, turnover=pd.DataFrame(turnover), fees=fees,
        rebalances={name: rebalance_fills(plans[name].targets.index, equity.index, cfg.fill) for name in equity},
        expense_ratio={name: plans[name].expense_ratio for name in equity}, from_base=True,
        slippage=slippage, borrow_charged=borrow)


def run_sweep(config, *, store=None, results_dir=Path("results"), offline: bool = False, workers: int = 0,
              scheduler: str | None = None, chunk_size: int = 32, metric: str = DEFAULT_METRIC,
              echo: Callable[[str], None] = lambda m: None) -> Path:
    """Expand, simulate and save the sweep of the config file ``config``; returns the run folder.

    ``workers``: 0 runs the chunks in this process; N > 0 on a local Dask cluster of N single-threaded
    worker processes. ``scheduler``: address of an existing Dask scheduler (``tcp://host:8786``) instead.
    ``chunk_size``: the most strategies per vectorised simulation (bounds memory); with several workers,
    chunks are made smaller when needed so that every worker gets one. ``metric``: the metric the report's
    heatmaps and ranking show. The collector's full passes are off while it works (`gcpolicy`; also in the
    workers of a local cluster, which end with the sweep).
    """
    from .gcpolicy import young_collections_only

    with young_collections_only():
        return _run_sweep(config, store=store, results_dir=results_dir, offline=offline, workers=workers,
                          scheduler=scheduler, chunk_size=chunk_size, metric=metric, echo=echo)


def _run_sweep(config, *, store, results_dir, offline: bool, workers: int, scheduler: str | None,
               chunk_size: int, metric: str, echo: Callable[[str], None]) -> Path:
    from .analytics.evidence import preload_sweep
    from .config import load_config
    from .report.sweep import check_metric
    from .results import check_results_dir
    from .runner import evidence_worker

    t0 = time.perf_counter()
    if chunk_size < 1:
        raise UsageError(f"--chunk-size: must be at least 1, got {chunk_size}")
    if workers < 0:
        raise UsageError(f"--workers: must be 0 (this process) or more, got {workers}")
    if workers and scheduler:
        raise UsageError("--workers and --scheduler: give one, not both (--workers starts a local cluster, "
                         "--scheduler uses an existing one)")
    check_metric(metric)
    cfg = load_config(Path(config))
    python = [s.name for s in cfg.strategies if s.weighting == "python"]
    if python:
        raise UsageError(f"strategies: {', '.join(python)} use{'s' if len(python) == 1 else ''} weighting: "
                         "{python: ...}, which bt sweep does not run (its workers would import your code); fix: "
                         "take it out of this config to sweep the others, or loop over bt run --allow-python")
    swept, variants, grids = expand_variants(cfg)
    results_dir = check_results_dir(Path(results_dir))
    with evidence_worker(cfg, warm=preload_sweep) as worker:     # forked before any price is read: see below
        return _sweep_and_save(cfg, swept, variants, grids, store=store, results_dir=results_dir,
                               offline=offline, workers=workers, scheduler=scheduler, chunk_size=chunk_size,
                               metric=metric, echo=echo, t0=t0, worker=worker)


def worker_count(workers: int, n_variants: int, echo: Callable[[str], None]) -> int:
    """``--workers`` capped at the number of variants (each extra process would only cost memory and start-up:
    64 workers for 14 variants ran for minutes on 2 cores), saying so."""
    if workers > n_variants:
        echo(f"--workers {workers}: only {n_variants} variant(s), so {n_variants} worker(s) are started")
        return n_variants
    return workers


def chunk_payloads_for(swept, n_workers: int, chunk_size: int) -> tuple[int, list]:
    """(chunk size, chunks) for ``n_workers`` processes: at most ``chunk_size`` strategies a chunk, and small
    enough that every worker gets one."""
    size = min(chunk_size, -(-len(swept.strategies) // max(1, n_workers)))
    return size, chunk_payloads(swept, size)


def local_chunks(swept, workers: int, chunk_size: int, echo: Callable[[str], None], *,
                 asked: int | None = None) -> tuple[int, list]:
    """`chunk_payloads_for` before a local cluster of ``workers`` starts, saying so when there are fewer
    chunks than workers (a sleeves strategy and its sleeves are one chunk): the caller starts one worker a
    chunk, not idle ones that would only cost memory and start-up. ``asked``: the ``--workers`` typed (the
    message quotes it), when ``workers`` is already capped at the variants."""
    size, payloads = chunk_payloads_for(swept, workers, chunk_size)
    if len(payloads) < workers:
        echo(f"--workers {asked or workers}: only {len(payloads)} chunk(s) (a sleeves strategy is simulated with its "
             f"sleeves, in one chunk), so {len(payloads)} worker(s) are started")
    return size, payloads


def _sweep_and_save(cfg, swept, variants, grids, *, store, results_dir: Path, offline: bool, workers: int,
                    scheduler: str | None, chunk_size: int, metric: str, echo: Callable[[str], None], t0: float,
                    worker) -> Path:
    """The sweep of `_run_sweep` from its loaded config: data, chunks, run folder. ``worker``: a forked
    `backtest.forked.ForkedWorker` (or None) that imports the evidence's libraries while this process loads
    and simulates, then computes the evidence while this process writes the folder's CSV files
    (`_sweep_evidence`)."""
    from . import metrics as M
    from .config import config_to_dict
    from .data.inputs import coverage, load_inputs, risk_free_returns
    from .data.store import PriceStore, default_store_dir
    from .report.sweep import render_sweep
    from .results import package_versions, write_run
    from .runner import short_period_notes, simulate_benchmarks

    store = store if store is not None else PriceStore(default_store_dir())
    n_variants = sum(v.base is not None for v in variants)
    echo(f"sweep {cfg.name!r}: {n_variants} variants of {len(grids)} "
         f"strateg{'y' if len(grids) == 1 else 'ies'}, {len(variants)} strategies in all")
    inputs = load_inputs(swept, store, offline=offline, echo=echo)
    benchmarks = simulate_benchmarks(swept, inputs)
    benchmark = benchmarks.pop(swept.benchmark)
    bench_returns = M.simple_returns(benchmark, swept.capital)
    risk_free = risk_free_returns(swept, inputs)
    timings = {"load": time.perf_counter() - t0}
    shared = (inputs, bench_returns, risk_free)
    asked, workers = workers, worker_count(workers, len(variants), echo)
    planned = local_chunks(swept, workers, chunk_size, echo, asked=asked) if workers else None
    if planned:
        workers = min(workers, len(planned[1]))
    with runner(workers, scheduler, echo, simulate_chunk, shared) as (run_chunks, where, n_workers, cpu):
        timings["start"] = time.perf_counter() - t0 - timings["load"]     # cluster start, warm-up, data sent
        _, payloads = planned or chunk_payloads_for(swept, n_workers, chunk_size)
        size = max(len(p.strategies) for p in payloads)    # a sleeves chunk may exceed the planned size
        echo(f"simulating {len(payloads)} chunk{'s' if len(payloads) > 1 else ''} of up to {size} "
             f"strategies {where} ...")
        t1, cpu0, own0 = time.perf_counter(), cpu(), time.process_time()
        outcomes = run_chunks(payloads, len(variants))
        at = {o.name: o for o in outcomes}
        outcomes = [at[v.name] for v in variants]           # back in the config's order
        timings["simulate"] = time.perf_counter() - t1
        spent = [b - a for a, b in zip(cpu0, cpu(), strict=False)]
        client = time.process_time() - own0 if workers or scheduler else 0.0    # on Dask: this process too
        timings["simulate_cpu_busiest"] = max(spent, default=0.0)    # CPU s of the busiest chunk process
        timings["simulate_cpu_all"] = sum(spent) + client             # CPU s of all processes, simulate phase
    rate = len(variants) / timings["simulate"] if timings["simulate"] > 0 else float("nan")
    echo(f"simulated {len(variants)} strategies in {timings['simulate']:.2f} s ({rate:.2f} per second)")
    manifest = {
        "name": swept.name,
        "config_path": str(cfg.source_path) if cfg.source_path else None,
        "period": {"start": f"{inputs.calendar[0]:%Y-%m-%d}", "end": f"{inputs.calendar[-1]:%Y-%m-%d}",
                   "trading_days": len(inputs.calendar)},
        "fill": swept.fill,
        "offline": offline,
        "membership_source": swept.membership_source if inputs.membership is not None else None,
        "data": coverage(store, inputs.prices, inputs.calendar),
        "warnings": list(dict.fromkeys([*inputs.warnings, *fold_notes(variants, outcomes),
                                        *short_period_notes(inputs.calendar)])),
        "versions": package_versions(),
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "sweep": {"metric": metric, "variants": n_variants, "strategies": len(variants),
                  "chunk_size": size, "chunks": len(payloads), "workers": n_workers, "where": where,
                  "strategies_per_second": round(rate, 3),
                  "grids": {base: [[key, labels] for key, labels in grid] for base, grid in grids.items()},
                  "table": [{"name": v.name, "base": v.base, "params": dict(v.params)} for v in variants]},
    }
    evidence = None
    if cfg.evidence.enabled:        # started first: on the worker, it runs while the rest is assembled and written
        echo("computing PSR, DSR, PBO and the walk-forward selection ...")
        returns = pd.DataFrame({o.name: M.simple_returns(o.equity, swept.capital) for o in outcomes})
        groups = {base: [v.name for v in variants if v.base == base] for base in grids}
        evidence = _sweep_evidence(worker, returns, bench_returns, risk_free=risk_free, variants=groups,
                                   spec=cfg.evidence)
    result = sweep_result(swept, outcomes, benchmark, bench_returns, risk_free, manifest, config_to_dict(cfg),
                          benchmarks=benchmarks)
    return write_run(result, results_dir, renderer=lambda saved: render_sweep(saved, metric=metric), detail=False,
                     late_metrics=evidence)


def _sweep_evidence(worker, returns: pd.DataFrame, bench_returns: pd.Series, **kwargs) -> Callable[[], dict]:
    """The sweep's evidence (`analytics.evidence.run_sweep_evidence`), started on ``worker`` (or None) by
    `forked.offload`: a function returning metrics.json's ``{"evidence": ...}``, which `write_run` calls once
    the CSV files are written. A call that cannot be sent or fails there is computed in this process, so an
    error reaches the user as it is raised here; the same bytes either way."""
    from .analytics.evidence import run_sweep_evidence
    from .forked import offload

    evidence = offload(worker, run_sweep_evidence, returns, bench_returns, **kwargs)
    return lambda: {"evidence": evidence()}


def fold_notes(variants: Sequence[Variant], outcomes: Sequence[Outcome]) -> list[str]:
    """The run's warnings from every strategy's notes, one line per distinct note of a swept strategy:
    a note that several variants of one strategy share (after their own name) is written once, as
    ``<strategy> [all N variants]: <note>`` or ``<strategy> [k of N variants: <the first three>; and k-3 more]:
    <note>``;
    so 10,000 variants with the same data note give one line, not 10,000. Notes in first-seen order."""
    base_of = {v.name: v.base for v in variants}
    size = Counter(v.base for v in variants if v.base is not None)
    groups: dict[tuple, list[str]] = {}
    for o in outcomes:
        base = base_of.get(o.name)
        for note in o.notes:
            own = f"{o.name}: "
            if base is None or not note.startswith(own):
                groups.setdefault((None, note), [])
                continue
            groups.setdefault((base, note[len(own):]), []).append(o.name)
    out = []
    for (base, text), names in groups.items():
        if base is None:
            out.append(text)
        elif len(names) == 1:
            out.append(f"{names[0]}: {text}")
        elif len(names) == size[base]:
            out.append(f"{base} [all {len(names)} variants]: {text}")
        else:
            shown = "; ".join(names[:3]) + (f"; and {len(names) - 3} more" if len(names) > 3 else "")
            out.append(f"{base} [{len(names)} of {size[base]} variants: {shown}]: {text}")
    return out


def sweep_result(swept, outcomes: Sequence[Outcome], benchmark: pd.Series, bench_returns: pd.Series,
                 risk_free: pd.Series | None, manifest: dict, config: dict,
                 benchmarks: dict[str, pd.Series] | None = None):
    """The sweep as a `RunResult`: metrics as the chunks computed them, no per-variant detail frames."""
    from . import metrics as M
    from .results import TRADE_COLUMNS, RunResult, StrategyResult, relative_metrics

    no_dates = pd.DatetimeIndex([], name="date")
    strategies = tuple(
        StrategyResult(name=o.name, equity=o.equity, targets=pd.DataFrame(index=no_dates),
                       holdings=pd.DataFrame(index=no_dates),
                       trades=pd.DataFrame(columns=list(TRADE_COLUMNS)),
                       fees=o.fees, turnover=o.turnover, notes=o.notes)
        for o in outcomes)
    metrics = {"strategies": {o.name: o.metrics for o in outcomes},
               "benchmark": M.compute_metrics(bench_returns, bench_returns, risk_free, from_base=True)}
    result = RunResult(name=swept.name, config=config, strategies=strategies, benchmark_name=swept.benchmark,
                       benchmark=benchmark, risk_free=risk_free, manifest=manifest, metrics=metrics,
                       benchmarks=dict(benchmarks or {}))
    if benchmarks or swept.controls:   # each variant against each further benchmark and control
        metrics.update(relative_metrics(result, swept.capital))
    return result
