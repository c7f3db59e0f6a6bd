"""What a long-lived, preloaded `bt` process would save a warm `bt run` (a prototype measurement, not a feature).

Issue 13 asks for a warm `bt run configs/rotation.yaml` at half of dd680c0's time. docs/performance.md ("What
is left") lists the imports and kernel loading among what a run still spends. This script measures how much
a server in the manner of Spring or dmypy would save: a process that has imported every module a run imports
and loaded the simulation kernels, then forks one child per run. Per round, interleaved so that all three
see the same machine load:

* the previous version (``--previous``, default dd680c0) on its own config, as `benchmarks/end_to_end.py`;
* this version's `bt run`, a fresh process;
* this version forked from the preloaded process (what a `bt serve` child would do), timed from the fork
  to the child's exit, its evidence worker included.

The preloaded process imports the modules a first (untimed) forked run left in ``sys.modules``, loads the
kernels, freezes its heap (`gc.freeze`) and forks before any thread exists, as `backtest.forked` requires.
The price store must hold the snapshot (``export BT_DATA_DIR=...``).

    python benchmarks/preloaded_fork.py [--repeat 4] [--previous dd680c0]
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BASE_COMMIT, REPO, header, median, previous_tree, table
from end_to_end import bt_command, child_env, measure


def forked_run(argv: list[str], keep_modules: Path | None = None) -> float:
    """Wall seconds of `bt <argv>` in a child forked from this process (output discarded); with
    ``keep_modules``, the child writes the names of the modules it imported there."""
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:                                     # the child: `bt` as the console script runs it
        code = 1
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            import backtest.cli as cli

            sys.argv = ["bt", *argv]
            code = cli.console()
            if keep_modules is not None:
                keep_modules.write_text("\n".join(sorted(sys.modules)))
        finally:
            os._exit(code)
    _, status, _ = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status):
        sys.exit(f"the forked run failed: bt {' '.join(argv)}")
    return time.perf_counter() - t0


def preload(names: list[str]) -> int:
    """Import ``names`` (vectorbt's own modules are left to `kernels`, which loads them apart) and load the
    kernels; returns how many modules are loaded."""
    for name in names:
        if not name.startswith("vectorbt"):
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - a module that imports only inside its package's context
                pass
    from backtest.engine.kernel import kernels

    kernels()
    gc.collect()
    gc.freeze()
    return len(sys.modules)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=REPO / "configs" / "rotation.yaml")
    ap.add_argument("--repeat", type=int, default=4)
    ap.add_argument("--previous", default=BASE_COMMIT)
    args = ap.parse_args(argv)
    header(f"preloaded_fork: bt run {args.config.name} --offline, a fresh process against a preloaded fork")
    work = Path(tempfile.mkdtemp(prefix="bt-fork-"))
    old = previous_tree(args.previous)
    try:
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)        # as `end_to_end.child_env`
        run_args = ["run", str(args.config), "--offline", "--out", str(work / "results")]
        listed = work / "modules.txt"
        forked_run(run_args, keep_modules=listed)               # untimed: which modules a run imports
        loaded = preload(listed.read_text().split())
        env, old_env = child_env(None), child_env(old)
        old_config = old / args.config.resolve().relative_to(REPO)
        old_run = [*bt_command(), *[str(old_config) if a == str(args.config) else a for a in run_args]]
        measure(old_run, old_env)                               # the previous version's first run (excluded)
        rounds = []
        for _ in range(args.repeat):
            rounds.append((measure(old_run, old_env)[0], measure([*bt_command(), *run_args], env)[0],
                           forked_run(run_args)))
        rows = [[f"round {i + 1}", f"{p:.2f}", f"{n:.2f}", f"{f:.2f}", f"{n / p:.2f}", f"{f / p:.2f}"]
                for i, (p, n, f) in enumerate(rounds)]
        p, n, f = (median(col) for col in zip(*rounds, strict=True))
        rows.append(["median", f"{p:.2f}", f"{n:.2f}", f"{f:.2f}", f"{n / p:.2f}", f"{f / p:.2f}"])
        print(f"preloaded: {loaded} modules and the kernels\n")
        print(table(["", f"{args.previous} s", "bt run s", "preloaded fork s", "bt run / prev",
                     "fork / prev (target <= 0.5)"], rows))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


if __name__ == "__main__":
    main()
