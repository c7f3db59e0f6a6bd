"""Risk-based weights: time per rebalance date of each family on configs/examples/risk.yaml (S&P 493, one
year of daily returns, Ledoit-Wolf), and the whole run without writing the folder.

The price store must hold the snapshot: ``export BT_DATA_DIR=...``, ``bt data import ../shared/market-data``.

    python benchmarks/risk_weights.py [--config configs/examples/risk.yaml] [--no-run]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, machine, table


def main() -> None:
    from backtest.config import load_config
    from backtest.data.inputs import load_inputs
    from backtest.data.store import PriceStore, default_store_dir
    from backtest.plans import build_plans
    from backtest.runner import run_backtest

    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=str(REPO / "configs" / "examples" / "risk.yaml"))
    ap.add_argument("--no-run", action="store_true", help="skip the whole-run timing")
    args = ap.parse_args()
    print(machine())
    cfg = load_config(Path(args.config))
    store = PriceStore(default_store_dir())
    inputs = load_inputs(cfg, store, offline=True)
    rows = []
    for spec in cfg.strategies:
        one = dataclasses.replace(cfg, strategies=(spec,))
        t0 = time.perf_counter()
        built = build_plans(one, inputs)
        seconds = time.perf_counter() - t0
        dates = len(built.plans[spec.name].targets.index)
        rows.append([spec.name, spec.weighting, dates, f"{seconds:.2f}", f"{seconds / dates:.3f}"])
    print(table(["strategy", "weighting", "dates", "weights s", "s per date"], rows))
    if not args.no_run:
        t0 = time.perf_counter()
        run_backtest(cfg, store, offline=True)
        print(f"whole run (run_backtest, nothing written): {time.perf_counter() - t0:.1f} s; {machine()}")


if __name__ == "__main__":
    main()
