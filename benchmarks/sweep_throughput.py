"""Sweep throughput: strategies per second of `bt sweep` in one process and on 1 and 2 Dask workers.

Runs `backtest.sweep.run_sweep` on a sweep config (default benchmarks/sweep_28.yaml: 28 variants of two
cap-weighted S&P 500 strategies, 2016-2026) once per setting and reads the manifest's timings: the simulate
phase (weights on the rebalance dates, vectorised simulation, metrics, for every chunk) gives the throughput;
loading the data, starting the cluster and warming the workers up (imports, compiled kernels) are shown
apart. Results are checked identical across settings (metrics.json bytes). The store must hold the snapshot
(``BT_DATA_DIR``).

    python benchmarks/sweep_throughput.py [--config benchmarks/sweep_28.yaml] [--workers 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import header, table


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=Path(__file__).resolve().parent / "sweep_28.yaml")
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2],
                    help="settings to run: 0 = in this process, N = local Dask cluster of N workers")
    ap.add_argument("--chunk-size", type=int, default=32)
    args = ap.parse_args(argv)
    header(f"sweep_throughput: bt sweep {args.config.name} --offline")

    from backtest.sweep import run_sweep

    work = Path(tempfile.mkdtemp(prefix="bt-sweep-"))
    rows, metrics = [], {}
    try:
        for n in args.workers:
            t0 = time.perf_counter()
            folder = run_sweep(args.config, results_dir=work / str(n), offline=True, workers=n,
                               chunk_size=args.chunk_size)
            wall = time.perf_counter() - t0
            manifest = json.loads((folder / "manifest.json").read_text())
            sweep, timings = manifest["sweep"], manifest["timings_s"]
            metrics[n] = (folder / "metrics.json").read_bytes()
            rows.append(["in this process" if n == 0 else f"{n} Dask worker{'s' if n > 1 else ''}",
                         str(sweep["strategies"]), f"{sweep['chunks']} x {sweep['chunk_size']}",
                         f"{timings['load']:.2f}", f"{timings['start']:.2f}", f"{timings['simulate']:.2f}",
                         f"{sweep['strategies_per_second']:.2f}", f"{wall:.2f}"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(table(["setting", "strategies", "chunks", "load s", "start + warm-up s", "simulate s",
                 "strategies / s", "total s"], rows))
    same = len(set(metrics.values())) == 1
    print(f"\nmetrics.json identical across settings: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
