"""Scaling: synthetic universes through `backtest.engine.simulate`, time and memory per cell.

Geometric random walks (seeded; 1% of names list late and 1% delist, so the engine's listing and delisting
paths run) of 100, 500, 2,000 and 5,000 assets over 5, 10 and 30 years of trading days, equal weight,
rebalanced monthly, zero costs. Each cell runs in its own process (so one cell's memory never counts in
the next): data built first, then one warm-up call on a tiny universe (loads the compiled kernels), then
the timed call. Memory is the peak RSS above the RSS just before the call (Linux ``clear_refs``), i.e. what
the simulation itself needs on top of its input prices. ``--no-detail`` runs with ``detail=False`` (no
daily holdings frame, as sweeps do).

    python benchmarks/scaling.py [--assets 100 500 2000 5000] [--years 5 10 30] [--no-detail]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import header, peak_rss_mb, reset_peak_rss, rss_mb, table

TRADING_DAYS = 252


def synthetic(n_assets: int, years: int, seed: int = 0):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    days = TRADING_DAYS * years
    index = pd.bdate_range("1990-01-01", periods=days, name="date")
    steps = rng.normal(0.0003, 0.015, size=(days, n_assets)).astype(np.float64)
    prices = 100.0 * np.exp(np.cumsum(steps, axis=0))
    k = max(1, n_assets // 100)
    late, gone = rng.choice(n_assets, size=(2, k), replace=False)
    for j in late:
        prices[: rng.integers(days // 4, days // 2), j] = np.nan
    for j in gone:
        prices[rng.integers(days // 2, days - 5):, j] = np.nan
    return pd.DataFrame(prices, index=index, columns=[f"S{i:05d}" for i in range(n_assets)])


def cell(n_assets: int, years: int, detail: bool) -> dict:
    from types import SimpleNamespace

    import pandas as pd

    from backtest.engine import StrategyPlan, simulate
    from backtest.schedule import calendar_dates

    prices = synthetic(n_assets, years)
    monthly = SimpleNamespace(every="monthly", day="first", weekday=None, nth=None)
    dates = calendar_dates(prices.index, monthly)
    targets = pd.DataFrame(1.0 / n_assets, index=dates, columns=prices.columns)
    small = prices.iloc[:60, :3]
    warm = {"w": StrategyPlan(targets.loc[:small.index[-1], small.columns])}
    simulate(small, warm, capital=1e6, fill="close")
    before = rss_mb()
    exact = reset_peak_rss()
    t0 = time.perf_counter()
    out = simulate(prices, {"ew": StrategyPlan(targets)}, capital=1e6, fill="close", detail=detail)["ew"]
    seconds = time.perf_counter() - t0
    peak = peak_rss_mb()
    assert out.equity.notna().all()
    return {"assets": n_assets, "years": years, "days": len(prices), "rebalances": len(dates),
            "seconds": seconds, "extra_mb": peak - before, "input_mb": prices.memory_usage().sum() / 2**20,
            "exact_peak": exact}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--assets", type=int, nargs="+", default=[100, 500, 2000, 5000])
    ap.add_argument("--years", type=int, nargs="+", default=[5, 10, 30])
    ap.add_argument("--no-detail", action="store_true", help="simulate(detail=False), as sweeps do")
    ap.add_argument("--cell", type=int, nargs=2, metavar=("ASSETS", "YEARS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.cell:
        print(json.dumps(cell(*args.cell, detail=not args.no_detail)))
        return
    header(f"scaling: equal weight, monthly, simulate(detail={not args.no_detail})")
    results = {}
    for n in args.assets:
        for y in args.years:
            cmd = [sys.executable, __file__, "--cell", str(n), str(y)]
            cmd += ["--no-detail"] if args.no_detail else []
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode:
                results[n, y] = {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
            else:
                results[n, y] = json.loads(done.stdout.strip().splitlines()[-1])
            r = results[n, y]
            print(f"  {n:>5} assets x {y:>2} years: " + (r["error"] if "error" in r else
                  f"{r['seconds']:.3f} s, +{r['extra_mb']:.0f} MiB"), file=sys.stderr)
    ok = [r for r in results.values() if "error" not in r]
    print("time (s) per cell:")
    print(grid(results, args, "seconds", "{:.3f}"))
    print("\npeak memory above the input (MiB) per cell; input prices alone are assets x days x 8 bytes:")
    print(grid(results, args, "extra_mb", "{:.0f}"))
    if ok:
        rows = [[f"{r['assets']} x {r['years']}y", f"{r['assets'] * r['days'] / 1e6:.2f}",
                 f"{r['seconds'] / (r['assets'] * r['days']) * 1e9:.1f}",
                 f"{r['extra_mb'] * 2**20 / (r['assets'] * r['days']):.1f}"] for r in ok]
        print("\nper asset-day (linear scaling shows as flat columns):")
        print(table(["cell", "asset-days (M)", "ns / asset-day", "bytes / asset-day"], rows))
        if not all(r["exact_peak"] for r in ok):
            print("(peak RSS could not be reset here: memory figures include the data generation)")


def grid(results: dict, args, key: str, spec: str) -> str:
    rows = [[str(n), *[_fmt(results[n, y], key, spec) for y in args.years]] for n in args.assets]
    return table(["assets \\ years", *map(str, args.years)], rows)


def _fmt(r: dict, key: str, spec: str) -> str:
    return "failed" if "error" in r else spec.format(r[key])


if __name__ == "__main__":
    main()
