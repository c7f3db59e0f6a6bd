"""The sweeps' batch kernel (`engine.batch.simulate_many`): time per variant of this version on 1 and 2
threads beside a previous version's, on the first chunks of the 1,000-variant grid, in one process.

The plans (target weights) of the first ``--variants`` strategies are built once (`plans.build_plans` with
the sweep's memo, chunks of 32 as `bt sweep` makes them); then every setting simulates all of them,
interleaved, ``--repeat`` times: the previous version (``--previous``, default fb421b0, the commit before
the threaded kernel: its ``backtest/engine/batch.py`` loaded as a module of its own, calling this checkout's
engine helpers, so only the batch code differs), this version with ``threads=1`` and ``threads=2``. Printed
per variant: wall and CPU milliseconds of `simulate_many` (medians), the kernel call alone (wall), and the
results checked bit-identical across the settings. The machine may be shared: the load average is printed;
compare the ratios within one run. The store must hold the snapshot (``BT_DATA_DIR``).

    python benchmarks/batch_kernel.py [--config benchmarks/sweep_1000.yaml] [--variants 160] [--repeat 3]
        [--previous fb421b0]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, header, median, table

HERE = Path(__file__).resolve().parent
PREVIOUS = "fb421b0"


def previous_batch(commit: str):
    """``backtest/engine/batch.py`` at ``commit`` as a module of its own (kept in the temp folder, so numba's
    cache of its kernel survives between runs)."""
    folder = Path(tempfile.gettempdir()) / f"bt-batch-{commit}"
    path = folder / "previous_batch.py"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        text = subprocess.run(["git", "-C", str(REPO), "show", f"{commit}:backtest/engine/batch.py"],
                              check=True, capture_output=True, text=True).stdout
        path.write_text(text)
    spec = importlib.util.spec_from_file_location("previous_batch", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["previous_batch"] = module
    spec.loader.exec_module(module)
    return module


def chunks(config: Path, limit: int, chunk_size: int = 32) -> list[tuple]:
    """(prices, plans, capital, fill, base) of the first chunks holding ``limit`` strategies."""
    from backtest.config import load_config
    from backtest.data.inputs import load_inputs
    from backtest.data.store import PriceStore, default_store_dir
    from backtest.plans import build_plans
    from backtest.sweep import chunk_payloads, expand_variants

    swept, _, _ = expand_variants(load_config(config))
    inputs = load_inputs(swept, PriceStore(default_store_dir()), offline=True)
    memo: dict = {}
    out, count = [], 0
    for chunk in chunk_payloads(swept, chunk_size):
        if count >= limit:
            break
        built = build_plans(chunk, inputs, memo=memo)
        out.append((built.prices, built.plans, chunk.capital, chunk.fill, inputs.calendar[0]))
        count += len(built.plans)
    return out


def run(module, work, kernel_time: list[float], **kw) -> tuple[float, float, list]:
    """Wall and CPU seconds of `simulate_many` over every chunk, and the results; the kernel's own wall time
    is added to ``kernel_time``."""
    inner = module.simulate_batch_nb

    def timed_kernel(*args):
        t0 = time.perf_counter()
        try:
            return inner(*args)
        finally:
            kernel_time[0] += time.perf_counter() - t0

    module.simulate_batch_nb = timed_kernel
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        out = [module.simulate_many(p, plans, capital=c, fill=f, base=b, **kw) for p, plans, c, f, b in work]
        return time.perf_counter() - t0, time.process_time() - c0, out
    finally:
        module.simulate_batch_nb = inner


def same(a: list, b: list) -> bool:
    for x, y in zip(a, b, strict=True):
        if not ((x.equity.to_numpy() == y.equity.to_numpy()).all() and x.equity.columns.equals(y.equity.columns)
                and (x.fees.to_numpy() == y.fees.to_numpy()).all() and x.notes == y.notes
                and all(x.turnover[n].equals(y.turnover[n]) for n in x.turnover)):
            return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=HERE / "sweep_1000.yaml")
    ap.add_argument("--variants", type=int, default=160)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--previous", default=PREVIOUS, help="'none' to skip the previous version")
    args = ap.parse_args()
    header("Batch kernel: simulate_many per variant, previous version vs this one on 1 and 2 threads")

    import numba

    from backtest.engine import batch

    work = chunks(args.config, args.variants)
    n = sum(len(w[1]) for w in work)
    settings = [("this version, threads=1", batch, {"threads": 1}),
                ("this version, threads=2", batch, {"threads": 2})]
    if args.previous != "none":
        prev = previous_batch(args.previous)
        settings.insert(0, (f"previous ({args.previous}), one thread", prev, {}))
    for _, module, kw in settings:          # warm-up: load (or compile) the kernels, start the threads
        module.warm_up()
        run(module, work[:1], [0.0], **kw)
    times = {name: ([], [], []) for name, _, _ in settings}
    results = {}
    loads = []
    for _ in range(args.repeat):
        for name, module, kw in settings:
            kernel = [0.0]
            wall, cpu, out = run(module, work, kernel, **kw)
            for series, value in zip(times[name], (wall, cpu, kernel[0]), strict=True):
                series.append(value)
            results[name] = out
            loads.append(os.getloadavg()[0])
    first = next(iter(results.values()))
    identical = all(same(first, out) for out in results.values())
    base_wall = median(times[settings[0][0]][0])
    rows = []
    for name, _, _ in settings:
        wall, cpu, kernel = (median(s) for s in times[name])
        rows.append([name, f"{wall / n * 1e3:.2f}", f"{cpu / n * 1e3:.2f}", f"{kernel / n * 1e3:.2f}",
                     f"{n / wall:.0f}", f"{base_wall / wall:.2f}x"])
    print(f"{n} variants in {len(work)} chunks ({args.config.name}); medians of {args.repeat}, interleaved; "
          f"numba threading layer {numba.threading_layer()}; load average {min(loads):.2f}-{max(loads):.2f}")
    print(table(["setting", "wall ms/variant", "CPU ms/variant", "kernel wall ms/variant", "variants/s (wall)",
                 "speed-up (wall)"], rows))
    print("results bit-identical across settings:", "yes" if identical else "NO")
    if not identical:
        sys.exit(1)


if __name__ == "__main__":
    main()
