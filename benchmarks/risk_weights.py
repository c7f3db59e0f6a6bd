"""Risk-based weights: time per rebalance date of each family on configs/examples/risk.yaml (S&P 493, one
year of daily returns, Ledoit-Wolf), and the whole run without writing the folder; this version and the
previous one (``--previous``, default b7a9848: main before the issue-14 speed work), one after the other in
child processes, so compare their ratio.

The price store must hold the snapshot: ``export BT_DATA_DIR=...``, ``bt data import ../shared/market-data``.

    python benchmarks/risk_weights.py [--config configs/examples/risk.yaml] [--previous b7a9848] [--no-run]
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, env_for, machine, previous_tree, table

PREVIOUS = "b7a9848"


def measure(config: Path, whole_run: bool) -> None:
    """Print the weights time per strategy (each alone, in config order) and the whole run's."""
    from backtest.config import load_config
    from backtest.data.inputs import load_inputs
    from backtest.data.store import PriceStore, default_store_dir
    from backtest.plans import build_plans
    from backtest.runner import run_backtest

    cfg = load_config(config)
    store = PriceStore(default_store_dir())
    inputs = load_inputs(cfg, store, offline=True)
    build_plans(dataclasses.replace(cfg, strategies=cfg.strategies[:1]), inputs)   # imports, caches: warm
    rows = []
    for spec in cfg.strategies:
        one = dataclasses.replace(cfg, strategies=(spec,))
        t0 = time.perf_counter()
        built = build_plans(one, inputs)
        seconds = time.perf_counter() - t0
        dates = len(built.plans[spec.name].targets.index)
        rows.append([spec.name, spec.weighting, dates, f"{seconds:.2f}", f"{seconds / dates:.3f}"])
    print(table(["strategy", "weighting", "dates", "weights s", "s per date"], rows))
    if whole_run:
        t0 = time.perf_counter()
        run_backtest(cfg, store, offline=True)
        print(f"whole run (run_backtest, nothing written): {time.perf_counter() - t0:.1f} s")
    print(machine())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=str(REPO / "configs" / "examples" / "risk.yaml"))
    ap.add_argument("--previous", default=PREVIOUS, help="commit to compare with ('' = none)")
    ap.add_argument("--no-run", action="store_true", help="skip the whole-run timing")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        measure(Path(args.config), not args.no_run)
        return
    argv = [sys.executable, __file__, "--child", "--config", args.config] + (["--no-run"] if args.no_run else [])
    trees = ([("previous " + args.previous, previous_tree(args.previous))] if args.previous else [])
    for label, tree in [*trees, ("this version", None)]:
        print(f"== {label}")
        sys.stdout.flush()
        subprocess.run(argv, env=env_for(tree), check=True)


if __name__ == "__main__":
    main()
