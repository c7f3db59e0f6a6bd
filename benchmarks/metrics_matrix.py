"""Matrix metrics: `compute_metrics` once per variant against `compute_metrics_many` on the whole matrix.

Synthetic variants on one 10-year business-day calendar (``--days``, default 2,640), each with fees,
turnover on monthly rebalance days (a few forced sales off them), an expense ratio, a benchmark and a
risk-free series, as a sweep has them. `compute_metrics` is timed on ``--sample`` variants (its time per
variant does not depend on how many there are) and `compute_metrics_many` on all ``--variants`` at once,
best of ``--repeat``; the sampled variants' metrics are checked equal (json bytes). Prints the time per
variant of each and the ratio; compare the ratio, not the absolute times, on a shared machine. Target (issue
13's sweeps): 1,000 variants x 2,640 days well under 2 s.

    python benchmarks/metrics_matrix.py [--variants 1000] [--days 2640] [--sample 50] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import header, table, timed

from backtest import metrics as M
from backtest.metrics_matrix import compute_metrics_many

CAPITAL = 1e6


def synthetic(variants: int, days: int, seed: int = 0):
    """``(equity, turnover, fees, rebalances, expense ratios, benchmark returns, risk-free returns)``."""
    rng = np.random.default_rng(seed)
    cal = pd.bdate_range("2016-01-04", periods=days, name="date")
    bench = rng.normal(3e-4, 0.011, days)
    r = 0.8 * bench[:, None] + rng.normal(0.0, 0.004, (days, variants))
    r[0] = -rng.uniform(0, 2e-3, variants)                       # opening fees
    names = [f"v{i:05d}" for i in range(variants)]
    equity = pd.DataFrame(CAPITAL * np.cumprod(1 + r, axis=0), index=cal, columns=names)
    months = cal.to_series().groupby(cal.to_period("M")).min().to_numpy()
    rebalance = pd.DatetimeIndex(months)
    exec_days = rebalance.union(cal[17::250])                    # a few forced sales
    turnover = pd.DataFrame(rng.uniform(0, 0.1, (len(exec_days), variants)), index=exec_days, columns=names)
    fees = pd.DataFrame(0.0, index=cal, columns=names)
    fees.loc[exec_days] = turnover.to_numpy() * 2 * CAPITAL * 5e-4
    rebalances = dict.fromkeys(names, rebalance)
    expense = {n: 0.0009 for n in names}
    rf = pd.Series(rng.uniform(0, 2e-4, days), index=cal)
    return equity, turnover, fees, rebalances, expense, pd.Series(bench, index=cal), rf


def one_by_one(equity, turnover, fees, rebalances, expense, bench, rf) -> dict:
    return {c: M.compute_metrics(M.simple_returns(equity[c], CAPITAL), bench, rf,
                                 turnover=turnover[c].dropna(), fees=fees[c], equity=equity[c],
                                 rebalances=rebalances[c], expense_ratio=expense[c], from_base=True)
            for c in equity.columns}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", type=int, default=1000)
    ap.add_argument("--days", type=int, default=2640)
    ap.add_argument("--sample", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    header(f"metrics of {args.variants:,} variants x {args.days:,} days")
    equity, turnover, fees, rebalances, expense, bench, rf = synthetic(args.variants, args.days)
    sample = list(equity.columns[:args.sample])
    one, many = [], []
    for _ in range(args.repeat):            # interleaved, so both see the same machine load
        t, want = timed(one_by_one, equity[sample], turnover[sample], fees[sample], rebalances, expense,
                        bench, rf)
        one.append(t / len(sample))
        t, got = timed(compute_metrics_many, equity, CAPITAL, bench, rf, turnover=turnover, fees=fees,
                       rebalances=rebalances, expense_ratio=expense)
        many.append(t)
    same = all(json.dumps(got[c]) == json.dumps(want[c]) for c in sample)
    per_one, total_many = min(one), min(many)
    per_many = total_many / args.variants
    print(table(["", "per variant (ms)", f"{args.variants:,} variants (s)"], [
        ["compute_metrics, one call per variant", f"{per_one * 1e3:.2f}", f"{per_one * args.variants:.2f}"
         + " (extrapolated)"],
        ["compute_metrics_many, one call", f"{per_many * 1e3:.3f}", f"{total_many:.2f}"],
    ]))
    print(f"ratio: {per_one / per_many:.1f}x faster per variant; sampled metrics equal (json bytes): {same}")


if __name__ == "__main__":
    main()
