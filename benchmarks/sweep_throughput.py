"""Sweep throughput: strategies per second of `bt sweep`, in one process and on a local Dask cluster, beside
the previous version and one backtest of the `bt` package.

Each setting is its own process (`backtest.sweep.run_sweep`, timings read from the run's manifest; peak RSS
of that process from ``os.wait4``, Dask workers not included). "simulate" is the phase that does the work:
weights on the rebalance dates, vectorised simulation and metrics of every chunk; loading the data, starting
the cluster and warming up the workers are shown apart. Results are checked identical across settings
(metrics.json bytes). The previous version (``--previous``, default the commit before issue 13, run in this
virtualenv) cannot run the 1,000-variant grid (its variant names were limited to 80 characters), so it is
timed on ``--previous-config`` (default benchmarks/sweep_28.yaml) beside this version on the same config.
The machine may be shared: compare ratios within one run. The store must hold the snapshot (``BT_DATA_DIR``).

``--stages N`` (default 160, 0 to skip) also times the three stages of the first N strategies' chunks in this
process, CPU seconds (``time.process_time``, so a shared machine's load inflates them less than wall time):
target weights (`plans.build_plans`, with the sweep's memo), simulation (`sweep.simulate_plans`: the batch
kernel) beside the same chunks through vectorbt's kernel (`runner.simulate_trimmed`, what sweeps ran before),
and metrics (`sweep._metrics`).

    python benchmarks/sweep_throughput.py [--config benchmarks/sweep_1000.yaml] [--workers 0 2]
        [--previous dd680c0] [--previous-config benchmarks/sweep_28.yaml] [--no-bt] [--stages 160]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BASE_COMMIT, MARKET_DATA, REPO, env_for, header, previous_tree, table

HERE = Path(__file__).resolve().parent
RUN = ("import sys; from backtest.sweep import run_sweep; "
       "print(run_sweep(sys.argv[1], results_dir=sys.argv[2], offline=True, workers=int(sys.argv[3])))")


def sweep(config: Path, out: Path, workers: int, tree: Path | None) -> tuple[dict, float, float, bytes]:
    """(manifest, wall s, peak RSS MiB, metrics.json bytes) of one sweep in its own process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", RUN, str(config), str(out), str(workers)], env=env_for(tree),
                            cwd=tree or REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    out_text, err = proc.stdout.read().decode(), proc.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status):
        sys.exit(f"sweep failed: {config} workers={workers}\n{err[-3000:]}")
    folder = Path(out_text.strip().splitlines()[-1])
    return (json.loads((folder / "manifest.json").read_text()), wall, usage.ru_maxrss / 1024,
            (folder / "metrics.json").read_bytes())


def bt_package_seconds() -> float:
    """One backtest of the bt package: equal-weight S&P 493, monthly, 2016-2026 (benchmarks/engine_vs_bt.py)."""
    from types import SimpleNamespace

    from engine_vs_bt import theirs, universe

    from backtest.schedule import calendar_dates

    prices = universe(MARKET_DATA / "prices_sp500.parquet", "2016-01-01", "2026-06-30")
    dates = calendar_dates(prices.index, SimpleNamespace(every="monthly", day="first", weekday=None, nth=None))
    theirs(prices, dates)                                   # warm-up
    t0 = time.perf_counter()
    theirs(prices, dates)
    return time.perf_counter() - t0


def stages(config: Path, limit: int, chunk_size: int = 32) -> list[list[str]]:
    """CPU seconds and strategies per CPU second of each stage of the first ``limit`` strategies' chunks."""
    from backtest import metrics as M
    from backtest.config import load_config
    from backtest.data.inputs import load_inputs, risk_free_returns
    from backtest.data.store import PriceStore, default_store_dir
    from backtest.plans import build_plans
    from backtest.runner import simulate_benchmarks, simulate_trimmed
    from backtest.sweep import _metrics, chunk_payloads, expand_variants, simulate_plans, warm_up

    swept, _, _ = expand_variants(load_config(config))
    inputs = load_inputs(swept, PriceStore(default_store_dir()), offline=True)
    bench = M.simple_returns(simulate_benchmarks(swept, inputs)[swept.benchmark], swept.capital)
    rf = risk_free_returns(swept, inputs)
    warm_up()
    spent = dict.fromkeys(["weights", "simulate (batch kernel)", "simulate (vectorbt kernel)", "metrics"], 0.0)
    memo: dict = {}
    count = 0
    for chunk in chunk_payloads(swept, chunk_size):
        if count >= limit:
            break
        t0 = time.process_time()
        built = build_plans(chunk, inputs, memo=memo)
        t1 = time.process_time()
        equity, fees, turnover, _ = simulate_plans(built, inputs, capital=chunk.capital, fill=chunk.fill)
        t2 = time.process_time()
        simulate_trimmed(built.prices, built.plans, inputs, capital=chunk.capital, fill=chunk.fill, detail=False)
        t3 = time.process_time()
        _metrics(equity, fees, turnover, built.plans, chunk, bench, rf)
        t4 = time.process_time()
        for key, dt in zip(spent, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            spent[key] += dt
        count += len(built.plans)
    return [[stage, str(count), f"{dt:.2f}", f"{count / dt:.1f}" if dt > 0 else "-"] for stage, dt in spent.items()]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=HERE / "sweep_1000.yaml")
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2],
                    help="settings to run: 0 = in one process, N = local Dask cluster of N workers")
    ap.add_argument("--previous", default=BASE_COMMIT, help="'none' to skip the previous version")
    ap.add_argument("--previous-config", type=Path, default=HERE / "sweep_28.yaml")
    ap.add_argument("--no-bt", action="store_true", help="skip timing one backtest of the bt package")
    ap.add_argument("--stages", type=int, default=160, metavar="N",
                    help="time each stage on the first N strategies in this process (0: skip)")
    args = ap.parse_args(argv)
    header(f"sweep_throughput: bt sweep {args.config.name} --offline")
    work = Path(tempfile.mkdtemp(prefix="bt-sweep-"))
    old = previous_tree(args.previous) if args.previous != "none" else None
    rows, metrics, rate = [], {}, {}
    runs = [("this version", None, args.config, n) for n in args.workers]
    if old:
        runs += [("this version", None, args.previous_config, 0),
                 (f"previous ({args.previous})", old, args.previous_config, 0)]
    try:
        for i, (version, tree, config, n) in enumerate(runs):
            manifest, wall, rss, data = sweep(config.resolve(), work / str(i), n, tree)
            s, timings = manifest["sweep"], manifest["timings_s"]
            metrics.setdefault((version, config.name), set()).add(data)
            rate[(version, config.name, n)] = s["strategies_per_second"]
            rows.append([version, config.name, "1 process" if n == 0 else f"{n} Dask workers",
                         str(s["strategies"]), f"{s['chunks']} x {s['chunk_size']}", f"{timings['load']:.1f}",
                         f"{timings['start']:.1f}", f"{timings['simulate']:.1f}",
                         f"{s['strategies_per_second']:.2f}", f"{rss:,.0f}", f"{wall:.1f}"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    print(table(["version", "config", "where", "strategies", "chunks", "load s", "start s", "simulate s",
                 "strategies/s", "peak RSS MiB", "total s"], rows))
    one = rate.get(("this version", args.config.name, 0))
    for n in args.workers:
        if n and one:
            print(f"\n{n} Dask workers / 1 process: {rate[('this version', args.config.name, n)] / one:.2f}x "
                  f"(target >= 1.8x)")
    if old:
        new, prev = (rate[("this version", args.previous_config.name, 0)],
                     rate[(f"previous ({args.previous})", args.previous_config.name, 0)])
        print(f"this version / previous on {args.previous_config.name}: {new / prev:.1f}x")
    if args.stages:
        print(f"\nstages in this process, first {args.stages} strategies of {args.config.name} (CPU seconds):")
        print(table(["stage", "strategies", "CPU s", "strategies per CPU s"], stages(args.config, args.stages)))
    same = all(len(v) == 1 for v in metrics.values())
    print(f"metrics.json identical across settings of one version and config: {'yes' if same else 'NO'}")
    if not args.no_bt:
        seconds = bt_package_seconds()
        print(f"one backtest of the bt package (equal-weight S&P 493, monthly, 2016-2026): {seconds:.2f} s; "
              f"this version runs {one * seconds:.0f} variants in that time" if one else "")


if __name__ == "__main__":
    main()
