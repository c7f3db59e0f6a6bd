"""Engine only: this project's `backtest.engine.simulate` against the `bt` package on identical portfolios.

Equal weight over the snapshot's S&P 500 names with a full price history in the period, minus the Mag 7
("S&P 493"), rebalanced on the first trading day of each month at that day's close (``fill="close"``), zero
costs, fractional shares, $1,000,000. Both engines run side by side in one process: one warm-up run each
(numba's cached kernels load, bt's first-call costs), then ``--repeat`` timed runs each, interleaved. The
bt setup is the one tests/test_engine_oracle.py checks to agree to 1e-9 (in practice ~1e-15).

    python benchmarks/engine_vs_bt.py [--data ../shared/market-data/prices_sp500.parquet] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import pandas as pd
from _common import BASE_COMMIT, MAG7, MARKET_DATA, env_for, header, median, previous_tree, table, timed


def universe(path: Path, start: str, end: str) -> pd.DataFrame:
    """Adjusted closes of every name priced on every day of [start, end], Mag 7 removed."""
    prices = pd.read_parquet(path).loc[start:end]
    full = prices.columns[prices.notna().all()]
    return prices[[c for c in full if c not in MAG7]].astype(float)


def ours(prices: pd.DataFrame, targets: pd.DataFrame) -> pd.Series:
    from backtest.engine import StrategyPlan, simulate

    return simulate(prices, {"s": StrategyPlan(targets)}, capital=1e6, fill="close")["s"].equity


def ours_batch(prices: pd.DataFrame, targets: pd.DataFrame) -> pd.Series:
    """The same portfolio through the project's own batch kernel (what sweeps run; bit-identical to the
    vectorbt path, tests/test_engine_batch.py)."""
    from backtest.engine import StrategyPlan
    from backtest.engine.batch import simulate_many

    return simulate_many(prices, {"s": StrategyPlan(targets)}, capital=1e6, fill="close").equity["s"]


def theirs(prices: pd.DataFrame, dates: pd.DatetimeIndex) -> pd.Series:
    import bt

    algos = [bt.algos.RunOnDate(*dates), bt.algos.SelectAll(), bt.algos.WeighEqually(), bt.algos.Rebalance()]
    test = bt.Backtest(bt.Strategy("s", algos), prices, initial_capital=1e6, integer_positions=False,
                       progress_bar=False, commissions=lambda q, p: abs(q) * p * 0.0)
    return bt.run(test).backtests["s"].strategy.values


def bt_package_seconds() -> float:
    """One backtest of the bt package, timed after a warm-up run: equal-weight S&P 493, monthly, 2016-2026
    (the portfolio above). Printed beside other benchmarks' figures for scale (sweeps, the warm `bt run`)."""
    from backtest.schedule import calendar_dates

    prices = universe(MARKET_DATA / "prices_sp500.parquet", "2016-01-01", "2026-06-30")
    dates = calendar_dates(prices.index, SimpleNamespace(every="monthly", day="first", weekday=None, nth=None))
    theirs(prices, dates)                                   # warm-up
    seconds, _ = timed(theirs, prices, dates)
    return seconds


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=MARKET_DATA / "prices_sp500.parquet")
    ap.add_argument("--start", default="2016-01-01")
    ap.add_argument("--end", default="2026-06-30")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per engine (after one warm-up each)")
    ap.add_argument("--previous", default=BASE_COMMIT,
                    help="commit of the previous version, timed in a subprocess ('none' to skip)")
    ap.add_argument("--only-ours", action="store_true", help=argparse.SUPPRESS)   # the previous version's run
    args = ap.parse_args(argv)
    if args.only_ours:
        return _only_ours(args)
    header("engine_vs_bt: equal-weight S&P 493, monthly, zero costs")

    from backtest.schedule import calendar_dates

    prices = universe(args.data, args.start, args.end)
    monthly = SimpleNamespace(every="monthly", day="first", weekday=None, nth=None)
    dates = calendar_dates(prices.index, monthly)
    targets = pd.DataFrame(1.0 / prices.shape[1], index=dates, columns=prices.columns)
    print(f"portfolio: {prices.shape[1]} names x {len(prices)} trading days "
          f"({prices.index[0]:%Y-%m-%d} .. {prices.index[-1]:%Y-%m-%d}), {len(dates)} monthly rebalances")

    t_ours, a = timed(ours, prices, targets)      # warm-up (loads the compiled kernels)
    t_batch, c = timed(ours_batch, prices, targets)
    t_bt, b = timed(theirs, prices, dates)
    print(f"warm-up (excluded): this project {t_ours:.3f} s (batch kernel {t_batch:.3f} s), bt {t_bt:.3f} s\n")
    mine, batch, peer = [], [], []
    for _ in range(args.repeat):
        t, a = timed(ours, prices, targets)
        mine.append(t)
        t, c = timed(ours_batch, prices, targets)
        batch.append(t)
        t, b = timed(theirs, prices, dates)
        peer.append(t)
    prev = None
    if args.previous != "none":
        tree = previous_tree(args.previous)
        try:
            done = subprocess.run([sys.executable, __file__, "--only-ours", "--repeat", str(args.repeat),
                                   "--data", str(args.data), "--start", args.start, "--end", args.end],
                                  env=env_for(tree), cwd=tree, capture_output=True, text=True, check=True)
            prev = json.loads(done.stdout.strip().splitlines()[-1])
        finally:
            shutil.rmtree(tree, ignore_errors=True)
    common = a.index.intersection(b.index)
    diff = float(np.max(np.abs(a[common].to_numpy() / b[common].to_numpy() - 1.0)))
    rows = [["this project (vectorbt kernel)", f"{median(mine):.4f}", f"{min(mine):.4f}", f"{max(mine):.4f}",
             f"{a.iloc[-1]:,.2f}"],
            ["this project (own batch kernel, sweeps)", f"{median(batch):.4f}", f"{min(batch):.4f}",
             f"{max(batch):.4f}", f"{c.iloc[-1]:,.2f}"],
            ["bt " + _version("bt"), f"{median(peer):.4f}", f"{min(peer):.4f}", f"{max(peer):.4f}",
             f"{b.iloc[-1]:,.2f}"]]
    if prev:
        rows.insert(1, [f"previous version ({args.previous}, run after)", f"{prev['median']:.4f}",
                        f"{prev['min']:.4f}", f"{prev['max']:.4f}", f"{prev['final']:,.2f}"])
    print(table(["engine", "median s", "min s", "max s", "final value"], rows))
    print(f"\nspeed-up (bt median / ours median): {median(peer) / median(mine):.1f}x with vectorbt's kernel "
          f"(bt run), {median(peer) / median(batch):.1f}x with the batch kernel (bt sweep), over {args.repeat} "
          f"runs each (target >= 100x)")
    same = a.index.intersection(c.index)
    print(f"batch kernel vs vectorbt path: max abs difference of the value series "
          f"{float(np.max(np.abs(a[same].to_numpy() - c[same].to_numpy()))):.1e}")
    if prev:
        print(f"previous version / this version: {prev['median'] / median(mine):.2f}x (separate process, "
              f"run after: the machine load may differ)")
    print(f"max relative difference of the daily value series ({len(common)} common days): {diff:.2e}")


def _only_ours(args) -> None:
    """Time `ours` alone and print one JSON line (run by the previous version's code, see --previous)."""
    from backtest.schedule import calendar_dates

    prices = universe(args.data, args.start, args.end)
    monthly = SimpleNamespace(every="monthly", day="first", weekday=None, nth=None)
    targets = pd.DataFrame(1.0 / prices.shape[1], index=calendar_dates(prices.index, monthly),
                           columns=prices.columns)
    timed(ours, prices, targets)
    times = []
    for _ in range(args.repeat):
        t, a = timed(ours, prices, targets)
        times.append(t)
    print(json.dumps({"median": median(times), "min": min(times), "max": max(times), "final": a.iloc[-1]}))


def _version(name: str) -> str:
    from importlib import metadata

    return metadata.version(name)


if __name__ == "__main__":
    main()
