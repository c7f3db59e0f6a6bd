"""End to end: `bt run configs/rotation.yaml --offline` in a subprocess, cold and warm; `bt --help`.

* previous version: the same runs with the code of ``--previous`` (default the commit before issue 13),
  interleaved with this version's, so both see the same machine load (compare their ratio);
* first run after install: a fresh numba cache filled by scripts/setup.sh's warm-up step, then one run;
* cold: the first run with an empty numba cache (a fresh NUMBA_CACHE_DIR in a temporary folder), so numba
  compiles vectorbt's kernels, as on a fresh install;
* warm: ``--repeat`` further runs with that cache (the everyday case);
* wall time and peak RSS of each run (``os.wait4`` rusage of that child), median of the warm runs; the CPU
  seconds include `bt run`'s evidence worker (a forked child the run reaps), the peak RSS is the largest
  single process's (the run's, not the sum with its worker);
* `bt --help` wall time, median of ``--help-repeat`` runs;
* for scale, one backtest of the bt package (`engine_vs_bt.bt_package_seconds`: its engine alone on the
  equal-weight S&P 493; it cannot run the config itself), skipped with ``--no-bt``;
* the children run without ``PYTHONDONTWRITEBYTECODE`` (set in some sandboxes): an installed copy has its
  modules' bytecode cached, so every run but the first reads ``__pycache__`` instead of compiling the
  project's modules again (the same for both versions);
* where a warm run spends its time: the same pipeline in this process, stage by stage (``--no-breakdown``
  skips it).

The price store must hold the snapshot: ``export BT_DATA_DIR=...``, ``bt data import ../shared/market-data``.

    python benchmarks/end_to_end.py [--config configs/rotation.yaml] [--repeat 5] [--help-repeat 10] [--no-bt]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BASE_COMMIT, REPO, env_for, header, median, previous_tree, table


def bt_command() -> list[str]:
    """`bt` as the console script pip writes runs it, for whichever tree is first on PYTHONPATH: its
    `backtest.cli.console` (the script's entry point since 2026-12-01), else its `main` (earlier versions,
    whose script called `main`). The installed script names this version's entry point, which an older
    tree may not have, so every version is started this way (``-P``: not from the working directory, which
    is this checkout, but from PYTHONPATH, as the script does)."""
    return [sys.executable, "-P", "-c", "import sys; import backtest.cli as c; sys.argv[0] = 'bt'; "
            "sys.exit(getattr(c, 'console', c.main)())"]


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(wall seconds, peak RSS MiB, CPU seconds: user + system) of one child process; exits on failure.
    CPU seconds move less with the machine's load than wall time (other processes' time is not in them)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(argv)}\n{err}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def child_env(tree: Path | None, **extra: str) -> dict[str, str]:
    """`env_for` as a user's shell has it: bytecode cached (see the module docstring)."""
    env = env_for(tree, **extra)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def breakdown(config: Path) -> list[list[str]]:
    """Stage timings of one warm run inside this process (uses the library's internal steps), with the
    garbage collector as `bt run` has it (`backtest.gcpolicy`: no full collections)."""
    from backtest.gcpolicy import young_collections_only

    with young_collections_only():
        return _breakdown(config)


def _breakdown(config: Path) -> list[list[str]]:
    stages: list[tuple[str, float, float]] = []
    t, c = time.perf_counter(), time.process_time()

    def lap(name: str) -> None:
        nonlocal t, c
        now, cpu = time.perf_counter(), time.process_time()
        stages.append((name, now - t, cpu - c))
        t, c = now, cpu

    from backtest import runner
    from backtest.data.inputs import load_inputs
    from backtest.config import load_config
    from backtest.data.store import PriceStore, default_store_dir
    lap("import backtest (pandas, numpy)")
    cfg = load_config(config)
    store = PriceStore(default_store_dir())
    lap("load config")
    inputs = load_inputs(cfg, store, offline=True)
    lap("load prices, membership, shares")
    from backtest.plans import build_plans
    built = build_plans(cfg, inputs)
    lap("target weights (rebalance dates only)")
    from backtest.engine import simulate
    sims = simulate(built.prices, built.plans, capital=cfg.capital, fill=cfg.fill)
    lap("simulate (incl. loading the numba kernels)")
    runner._rotation_analytics(cfg, inputs, sims, lambda m: None)
    lap("rotation analytics")
    result = runner.run_backtest(cfg, store, offline=True)
    lap("(whole run_backtest again, for reference; evidence in-process)")
    from backtest.results import read, write
    from backtest.report import render_report
    out = Path(tempfile.mkdtemp(prefix="bt-e2e-"))
    try:
        layout = write._layout(result, "now", "bench")
        lap("-")
        write._write_contents(result, out, layout)
        lap("write CSV/JSON files (metrics included)")
        saved = read._load(out, require_report=False)
        lap("read the folder back")
        html = render_report(saved)
        lap(f"render report.html ({len(html) / 1e6:.1f} MB)")
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return [[name, f"{sec:.3f}", f"{cpu:.3f}"] for name, sec, cpu in stages if name != "-"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=REPO / "configs" / "rotation.yaml")
    ap.add_argument("--repeat", type=int, default=5, help="warm runs (of each version)")
    ap.add_argument("--help-repeat", type=int, default=10)
    ap.add_argument("--previous", default=BASE_COMMIT,
                    help="commit of the previous version, timed in the same run ('none' to skip)")
    ap.add_argument("--no-breakdown", action="store_true")
    ap.add_argument("--no-bt", action="store_true", help="skip timing one backtest of the bt package")
    args = ap.parse_args(argv)
    header(f"end_to_end: bt run {args.config.name} --offline")
    if not os.environ.get("BT_DATA_DIR"):
        print("note: BT_DATA_DIR is not set; using the default store folder\n")
    work = Path(tempfile.mkdtemp(prefix="bt-e2e-"))
    old = previous_tree(args.previous) if args.previous != "none" else None
    try:
        env = child_env(None, NUMBA_CACHE_DIR=str(work / "numba-cache"))
        run = [*bt_command(), "run", str(args.config), "--offline", "--out", str(work / "results")]
        rows = []
        wall, rss, cpu = measure(run, env)
        rows.append(["this version, cold (empty numba cache: compiles)", f"{wall:.2f}", f"{cpu:.2f}", f"{rss:.0f}"])
        # a fresh install: scripts/setup.sh compiles the kernels (its last step), then the first run
        fresh = child_env(None, NUMBA_CACHE_DIR=str(work / "numba-cache-setup"))
        setup, _, _ = measure([sys.executable, "-c", "from backtest.engine.kernel import kernels; kernels()"], fresh)
        wall, rss, cpu = measure(run, fresh)
        rows.append([f"this version, first run after setup.sh's warm-up step ({setup:.1f} s)", f"{wall:.2f}",
                     f"{cpu:.2f}", f"{rss:.0f}"])
        walls, rsss, cpus, old_walls, old_rsss, old_cpus, same_walls, same_rsss, same_cpus = ([] for _ in range(9))
        old_env = child_env(old, NUMBA_CACHE_DIR=str(work / "numba-cache")) if old else None
        # the previous version runs its own copy of the config (the current one may use keys it does not
        # know, e.g. `controls`); this version also runs that copy: the same work as the previous version
        old_config = old / args.config.resolve().relative_to(REPO) if old else None
        old_run = [str(old_config) if a == str(args.config) else a for a in run] if old else None
        if old_env:
            measure(old_run, old_env)               # the previous version's first run (excluded)
        for _ in range(args.repeat):                # interleaved: all see the same machine load
            wall, rss, cpu = measure(run, env)
            walls.append(wall)
            rsss.append(rss)
            cpus.append(cpu)
            if old_env:
                wall, rss, cpu = measure(old_run, old_env)
                old_walls.append(wall)
                old_rsss.append(rss)
                old_cpus.append(cpu)
                wall, rss, cpu = measure(old_run, env)
                same_walls.append(wall)
                same_rsss.append(rss)
                same_cpus.append(cpu)
        if old_env:
            rows.append([f"previous version ({args.previous}) on its {args.config.name}, warm, median of "
                         f"{args.repeat}", f"{median(old_walls):.2f}", f"{median(old_cpus):.2f}",
                         f"{median(old_rsss):.0f}"])
            rows.append([f"this version on {args.previous}'s {args.config.name} (the same work), warm, median "
                         f"of {args.repeat}", f"{median(same_walls):.2f}", f"{median(same_cpus):.2f}",
                         f"{median(same_rsss):.0f}"])
        rows.append([f"this version, warm, median of {args.repeat}", f"{median(walls):.2f}", f"{median(cpus):.2f}",
                     f"{median(rsss):.0f}"])
        rows.append(["this version, warm, min / max", f"{min(walls):.2f} / {max(walls):.2f}",
                     f"{min(cpus):.2f} / {max(cpus):.2f}", f"{max(rsss):.0f} (max)"])
        helps = [measure([*bt_command(), "--help"], env)[0] for _ in range(args.help_repeat)]
        rows.append([f"bt --help, median of {args.help_repeat}", f"{median(helps):.3f}", "", ""])
        print(table(["run", "wall s", "CPU s", "peak RSS MiB"], rows))
        if old_env:
            print(f"\nwarm run, this version / previous version (target <= 0.5): wall "
                  f"{median(walls) / median(old_walls):.2f}, CPU {median(cpus) / median(old_cpus):.2f}; on the "
                  f"previous version's config (the same work): wall {median(same_walls) / median(old_walls):.2f}, "
                  f"CPU {median(same_cpus) / median(old_cpus):.2f}")
        if not args.no_bt:              # for scale: the bt package cannot run this config (no membership,
            from engine_vs_bt import bt_package_seconds     # shares, caps or report), so its own job

            seconds = bt_package_seconds()
            print(f"one backtest of the bt package, its engine alone in this process (equal-weight S&P 493, "
                  f"monthly, 2016-2026, benchmarks/engine_vs_bt.py): {seconds:.2f} s; a whole warm `bt run` of "
                  f"{args.config.name} (five strategies, analytics, evidence, report): {median(walls):.2f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    if not args.no_breakdown:
        print("\nwhere a warm run's time goes (in this process, one pass):")
        print(table(["stage", "wall s", "CPU s"], breakdown(args.config)))


if __name__ == "__main__":
    main()
