"""Whole-process time and peak memory of `bt sweep` on a large grid (default benchmarks/sweep_10000.yaml):
this version beside the previous one, each in its own process, interleaved.

Peak memory is sampled every 0.1 s as the sum of the resident memory (RSS) of the sweep's process and all its
descendants (the forked evidence worker; a local Dask cluster's processes with ``--workers``). The sum counts
twice the pages a parent and a forked child still share, so it is an upper bound of what the machine holds.
Beside it: the peak of the sweep's own process (``ru_maxrss`` from ``os.wait4``, which on Linux is the largest
of the process and the children it waited for, not their sum). Issue 13's target: 10,000 variants in bounded
memory (< 4 GB).

The previous version (``--previous``, default e5bca6e, the end of the session before the evidence worker;
dd680c0 cannot run this grid: its variant names were limited to 80 characters) runs in this virtualenv from
its own tree, after a small sweep that compiles its kernels into that tree's cache (so its time is not the
compile); this checkout gets the same small sweep first. The results are checked identical (metrics.json
bytes). The store must hold the snapshot (``BT_DATA_DIR``).

    python benchmarks/sweep_memory.py [--config benchmarks/sweep_10000.yaml] [--previous e5bca6e]
        [--repeat 1] [--workers 0]
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

from _common import REPO, env_for, header, previous_tree, table

HERE = Path(__file__).resolve().parent
CLI = "from backtest import cli; getattr(cli, 'console', cli.main)()"


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                with open(f"/proc/{p}/task/{t}/children") as fh:
                    kids = [int(k) for k in fh.read().split()]
            except OSError:
                continue
            out += kids
            todo += kids
    return out


def sampled_sweep(config: Path, out: Path, tree: Path | None, workers: int) -> dict:
    """One `bt sweep` in its own process: wall s, peak RSS of the process tree (sum, KB, sampled every 0.1 s),
    the process's own ``ru_maxrss`` (KB), the run folder."""
    args = [sys.executable, "-P", "-c", CLI, "sweep", str(config), "--offline", "--out", str(out)]
    if workers:
        args += ["--workers", str(workers)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, env=env_for(tree), cwd=tree or REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    peak_tree = peak_main = 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        main = _rss_kb(proc.pid)
        total = main + sum(_rss_kb(k) for k in _descendants(proc.pid))
        if total > peak_tree:
            peak_tree, peak_main = total, main
        time.sleep(0.1)
    wall = time.perf_counter() - t0
    stdout, stderr = proc.stdout.read().decode(), proc.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status):
        sys.exit(f"sweep failed: {config}\n{stderr[-3000:]}")
    folder = next(p for p in out.iterdir() if p.is_dir() and not p.name.startswith("."))
    return {"wall": wall, "tree_kb": peak_tree, "main_at_peak_kb": peak_main, "maxrss_kb": usage.ru_maxrss,
            "folder": folder, "stdout": stdout}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=HERE / "sweep_10000.yaml")
    ap.add_argument("--previous", default="e5bca6e", help="'none' to skip the previous version")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--workers", type=int, default=0, help="0: one process (default); N: a local Dask cluster")
    args = ap.parse_args(argv)
    header(f"sweep_memory: bt sweep {args.config.name} --offline" + (f" --workers {args.workers}" if args.workers
                                                                      else ""))
    work = Path(tempfile.mkdtemp(prefix="bt-sweep-memory-"))
    old = previous_tree(args.previous) if args.previous != "none" else None
    versions = ([(f"previous ({args.previous})", old)] if old else []) + [("this version", None)]
    rows, metrics = [], {}
    try:
        for k, (_, tree) in enumerate(versions):     # kernels compiled (or loaded) before the timed runs
            sampled_sweep(REPO / "configs" / "examples" / "sweep.yaml", work / f"warm-{k}", tree, 0)
        for i in range(args.repeat):
            for name, tree in versions:
                load = os.getloadavg()[0]
                r = sampled_sweep(args.config.resolve(), work / f"{i}-{len(rows)}", tree, args.workers)
                manifest = json.loads((r["folder"] / "manifest.json").read_text())
                metrics.setdefault(name, set()).add((r["folder"] / "metrics.json").read_bytes())
                files = sum(1 for p in r["folder"].rglob("*") if p.is_file())
                size = sum(p.stat().st_size for p in r["folder"].rglob("*") if p.is_file())
                rows.append([name, f"{load:.1f}", f"{r['wall']:.1f}",
                             f"{manifest['sweep']['strategies_per_second']:.1f}",
                             f"{r['tree_kb'] / 2**20:.2f}", f"{r['main_at_peak_kb'] / 2**20:.2f}",
                             f"{r['maxrss_kb'] / 2**20:.2f}", f"{files:,}", f"{size / 1e9:.2f}"])
                shutil.rmtree(r["folder"], ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    print(table(["version", "load avg", "whole process s", "strategies/s (simulate)",
                 "peak GiB, process tree (sum)", "of it the sweep's process", "sweep's ru_maxrss GiB",
                 "files", "folder GB"], rows))
    print("(process tree: the sweep, its forked evidence worker and any other descendant, RSS summed, sampled "
          "every 0.1 s; the sum counts pages they share twice)")
    same = len({b for v in metrics.values() for b in v}) == 1
    print(f"metrics.json identical across versions and runs: {'yes' if same else 'NO'}")
    print("target (issue 13): 10,000 variants under 4 GB")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
