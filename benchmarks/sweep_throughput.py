"""Sweep throughput: strategies per second of `bt sweep`, in one process and on a local Dask cluster, beside
the previous version and one backtest of the `bt` package.

Each setting is its own process (`backtest.sweep.run_sweep`, timings read from the run's manifest; peak RSS
of that process from ``os.wait4``: the largest of it and the children it waited for, such as its forked
evidence worker, not their sum; Dask workers not included; benchmarks/sweep_memory.py sums a sweep's whole
process tree). "simulate" is the phase that does the work:
weights on the rebalance dates, vectorised simulation and metrics of every chunk, and on Dask also sending
the market data to the workers (scatter) and the results back; loading the data ("load") and starting the
cluster and warming up the workers ("start": imports, compiled kernels) are shown apart and not in the rate.
Results are checked identical across settings (metrics.json bytes).

The issue-13 target is R2 >= 1.8 x R1 on this 2-core machine: R1 the one-process rate with the kernel on one
thread (``NUMBA_NUM_THREADS=1`` in that process), R2 the rate on 2 Dask workers of one thread each. With
``--threaded`` the one-process rate with the kernel's default threads (the cores) is printed beside them.
The load average (1 minute) before each setting is printed: the machine may be shared, so compare ratios
within one run.

The previous version (``--previous``, default the commit before issue 13, run in this virtualenv) is timed
on ``--previous-config`` with the same ``--workers`` settings; dd680c0 cannot run the 1,000-variant grid
(its variant names were limited to 80 characters), so its default config is benchmarks/sweep_28.yaml; give
``--previous fb421b0 --previous-config benchmarks/sweep_1000.yaml`` to compare Dask scaling on one grid. The
store must hold the snapshot (``BT_DATA_DIR``).

``--stages N`` (default 160, 0 to skip) also times the three stages of the first N strategies' chunks in this
process, CPU seconds (``time.process_time``, so a shared machine's load inflates them less than wall time):
target weights (`plans.build_plans`, with the sweep's memo), simulation (`sweep.simulate_plans`: the batch
kernel) beside the same chunks through vectorbt's kernel (`runner.simulate_trimmed`, what sweeps ran before),
and metrics (`sweep._metrics`).

    python benchmarks/sweep_throughput.py [--config benchmarks/sweep_1000.yaml] [--workers 0 2] [--threaded]
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

from _common import BASE_COMMIT, REPO, env_for, header, previous_tree, table

HERE = Path(__file__).resolve().parent
RUN = ("import sys; from backtest.sweep import run_sweep; "
       "print(run_sweep(sys.argv[1], results_dir=sys.argv[2], offline=True, workers=int(sys.argv[3])))")


def sweep(config: Path, out: Path, workers: int, tree: Path | None, threads: int | None = 1
          ) -> tuple[dict, float, float, bytes]:
    """(manifest, wall s, peak RSS MiB, metrics.json bytes) of one sweep in its own process; ``threads``: the
    one-process kernel's numba threads (``NUMBA_NUM_THREADS``; None: numba's default, the cores)."""
    extra = {"NUMBA_NUM_THREADS": str(threads)} if threads and not workers else {}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", RUN, str(config), str(out), str(workers)],
                            env=env_for(tree, **extra), cwd=tree or REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    out_text, err = proc.stdout.read().decode(), proc.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status):
        sys.exit(f"sweep failed: {config} workers={workers}\n{err[-3000:]}")
    folder = Path(out_text.strip().splitlines()[-1])
    return (json.loads((folder / "manifest.json").read_text()), wall, usage.ru_maxrss / 1024,
            (folder / "metrics.json").read_bytes())


def _cpu(timings: dict, key: str) -> str:
    return f"{timings[key]:.1f}" if key in timings else "-"        # the previous version has no CPU timings


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
        equity, fees, slippage, borrow, turnover, _ = simulate_plans(built, inputs, capital=chunk.capital,
                                                                     fill=chunk.fill)
        t2 = time.process_time()
        simulate_trimmed(built.prices, built.plans, inputs, capital=chunk.capital, fill=chunk.fill, detail=False)
        t3 = time.process_time()
        _metrics(equity, fees, slippage, turnover, built.plans, chunk, bench, rf, borrow)
        t4 = time.process_time()
        for key, dt in zip(spent, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            spent[key] += dt
        count += len(built.plans)
    return [[stage, str(count), f"{dt:.2f}", f"{count / dt:.1f}" if dt > 0 else "-"] for stage, dt in spent.items()]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=HERE / "sweep_1000.yaml")
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2],
                    help="settings to run: 0 = in one process (kernel on one thread), N = local Dask cluster "
                         "of N single-threaded workers")
    ap.add_argument("--threaded", action="store_true",
                    help="also run this version in one process with the kernel's default threads")
    ap.add_argument("--previous", default=BASE_COMMIT, help="'none' to skip the previous version")
    ap.add_argument("--previous-config", type=Path, default=HERE / "sweep_28.yaml")
    ap.add_argument("--no-bt", action="store_true", help="skip timing one backtest of the bt package")
    ap.add_argument("--stages", type=int, default=160, metavar="N",
                    help="time each stage on the first N strategies in this process (0: skip)")
    args = ap.parse_args(argv)
    header(f"sweep_throughput: bt sweep {args.config.name} --offline")
    work = Path(tempfile.mkdtemp(prefix="bt-sweep-"))
    old = previous_tree(args.previous) if args.previous != "none" else None
    rows, metrics, rate, busiest = [], {}, {}, {}
    prev = f"previous ({args.previous})"
    runs = []                                   # the previous version's settings interleaved with this one's
    for n in args.workers:
        if old:
            runs.append((prev, old, args.previous_config, n, 1))
        runs.append(("this version", None, args.config, n, 1))
    if old and args.previous_config.resolve() != args.config.resolve():
        runs += [("this version", None, args.previous_config, n, 1) for n in args.workers]
    if args.threaded:
        runs.append(("this version", None, args.config, 0, None))
    try:
        for i, (version, tree, config, n, threads) in enumerate(runs):
            load = os.getloadavg()[0]
            manifest, wall, rss, data = sweep(config.resolve(), work / str(i), n, tree, threads)
            s, timings = manifest["sweep"], manifest["timings_s"]
            metrics.setdefault((version, config.name), set()).add(data)
            rate.setdefault((version, config.name, n, threads), []).append(s["strategies_per_second"])
            where = (f"{n} Dask workers" if n else
                     "1 process, 1 thread" if threads == 1 else "1 process, threaded")
            rows.append([version, config.name, where, str(s["strategies"]), f"{s['chunks']} x {s['chunk_size']}",
                         f"{load:.1f}", f"{timings['load']:.1f}", f"{timings['start']:.1f}",
                         f"{timings['simulate']:.1f}", _cpu(timings, "simulate_cpu_busiest"),
                         _cpu(timings, "simulate_cpu_all"), f"{s['strategies_per_second']:.2f}", f"{rss:,.0f}",
                         f"{wall:.1f}"])
            busiest.setdefault((version, config.name, n, threads), []).append(timings.get("simulate_cpu_busiest"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    print(table(["version", "config", "where", "strategies", "chunks", "load avg", "load s", "start s",
                 "simulate s", "busiest CPU s", "all CPU s", "strategies/s", "peak RSS MiB", "total s"], rows))
    print("(simulate s: wall; busiest CPU s: CPU seconds of the busiest process running chunks in that phase;"
          " all CPU s: of every process, the Dask client included)")
    print()
    for version, config in dict.fromkeys((r[0], r[2].name) for r in runs):
        ones = rate.get((version, config, 0, 1), [])
        for n in dict.fromkeys(w for w in args.workers if w):      # each series: its R1 beside its Rn
            for k, (one, many) in enumerate(zip(ones, rate.get((version, config, n, 1), []))):
                series = f" (series {k + 1})" if len(ones) > 1 else ""
                print(f"{version}, {config}{series}: R{n} / R1 = {many:.2f} / {one:.2f} = {many / one:.2f}x "
                      f"(target >= 1.8x on 2 workers)")
                cpu1 = busiest.get((version, config, 0, 1), [None] * (k + 1))[k]
                cpun = busiest.get((version, config, n, 1), [None] * (k + 1))[k]
                if cpu1 and cpun:
                    print(f"  by CPU (what a machine without other load would approach): busiest process "
                          f"{cpu1:.2f} s in one process, {cpun:.2f} s on {n} workers: {cpu1 / cpun:.2f}x")
        if (version, config, 0, None) in rate and ones:
            print(f"{version}, {config}: one process threaded / one thread = "
                  f"{rate[(version, config, 0, None)][-1] / ones[-1]:.2f}x")
    one = rate.get(("this version", args.config.name, 0, 1), [None])[-1]
    if old and 0 in args.workers:
        new, before = (rate[("this version", args.previous_config.name, 0, 1)][-1],
                       rate[(prev, args.previous_config.name, 0, 1)][-1])
        print(f"this version / previous on {args.previous_config.name}, one process: {new / before:.2f}x")
    if args.stages:
        print(f"\nstages in this process, first {args.stages} strategies of {args.config.name} (CPU seconds):")
        print(table(["stage", "strategies", "CPU s", "strategies per CPU s"], stages(args.config, args.stages)))
    same = all(len(v) == 1 for v in metrics.values())
    print(f"metrics.json identical across settings of one version and config: {'yes' if same else 'NO'}")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if not args.no_bt:
        from engine_vs_bt import bt_package_seconds

        seconds = bt_package_seconds()
        print(f"one backtest of the bt package (equal-weight S&P 493, monthly, 2016-2026): {seconds:.2f} s; "
              f"this version runs {one * seconds:.0f} variants in that time" if one else "")


if __name__ == "__main__":
    main()
