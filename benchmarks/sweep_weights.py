"""The target-weights stage of `bt sweep`: `plans.build_plans` over a sweep's chunks with one shared memo (as a
sweep's process runs them), this version beside a previous commit, in one run.

Each version runs in its own process (the previous one from ``git archive``, in this virtualenv: only the
project's code differs), ``--repeat`` times, the versions interleaved; each repeat starts with an empty memo
and times, in CPU seconds (``time.process_time``: a shared machine's load inflates them less than wall time),
the first ``--first`` strategies' chunks (what `sweep_throughput.py --stages` times: the per-date work of the
first weightings is all in it) and then the whole grid. A digest of everything `build_plans` returns (targets,
notes, cap-basis tables, data gaps, prices) is compared between the versions: they must be identical.

    python benchmarks/sweep_weights.py [--config benchmarks/sweep_1000.yaml] [--previous fb421b0]
        [--first 160] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, env_for, header, median, previous_tree, table

HERE = Path(__file__).resolve().parent
PREVIOUS = "fb421b0"
"""main before the weights-stage work of issue 13 (the second round)."""

CHILD = r'''
import hashlib, json, sys, time
from pathlib import Path
from backtest.config import load_config
from backtest.data.inputs import load_inputs
from backtest.data.store import PriceStore, default_store_dir
from backtest.plans import build_plans
from backtest.sweep import chunk_payloads, expand_variants

config, first = Path(sys.argv[1]), int(sys.argv[2])
swept, _, _ = expand_variants(load_config(config))
inputs = load_inputs(swept, PriceStore(default_store_dir()), offline=True)
chunks = chunk_payloads(swept, 32)

def frame(h, f):
    if f is None:
        h.update(b"-")
        return
    h.update(repr((f.index.tolist(), f.columns.tolist(), [str(d) for d in f.dtypes])).encode())
    for c in range(f.shape[1]):
        a = f.iloc[:, c].to_numpy()
        h.update(a.tobytes() if a.dtype.kind in "fiMmb" else repr(a.tolist()).encode())

memo, digest, count, t0 = {}, hashlib.sha256(), 0, time.process_time()
first_s = None
for chunk in chunks:
    built = build_plans(chunk, inputs, memo=memo)
    count += len(chunk.strategies)
    if first_s is None and count >= first:
        first_s, first_n = time.process_time() - t0, count
total_s = time.process_time() - t0
for chunk in chunks:            # the digest, untimed (a second pass on the warm memo)
    built = build_plans(chunk, inputs, memo=memo)
    frame(digest, built.prices)
    for name, plan in built.plans.items():
        digest.update(name.encode())
        frame(digest, plan.targets)
        digest.update(repr(plan.hold_ended).encode())
    digest.update(repr(built.notes).encode())
    for key in sorted(built.tables):
        frame(digest, built.tables[key])
    frame(digest, built.gaps)
print(json.dumps({"first": first_s, "first_n": first_n, "total": total_s, "n": count,
                  "digest": digest.hexdigest()}))
'''


def run(tree: Path | None, config: Path, first: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(config), str(first)], env=env_for(tree),
                         cwd=tree or REPO, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"failed ({tree or 'this version'}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=HERE / "sweep_1000.yaml")
    ap.add_argument("--previous", default=PREVIOUS)
    ap.add_argument("--first", type=int, default=160)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    header(f"sweep_weights: build_plans over the chunks of {args.config.name}")
    old = previous_tree(args.previous)
    results: dict[str, list[dict]] = {f"previous ({args.previous})": [], "this version": []}
    try:
        for _ in range(args.repeat):
            for version, tree in ((f"previous ({args.previous})", old), ("this version", None)):
                results[version].append(run(tree, args.config.resolve(), args.first))
    finally:
        shutil.rmtree(old, ignore_errors=True)
    rows, rate = [], {}
    for version, runs in results.items():
        first, total = median([r["first"] for r in runs]), median([r["total"] for r in runs])
        n_first, n = runs[0]["first_n"], runs[0]["n"]
        rate[version] = (n_first / first, n / total)
        rows.append([version, f"{first:.2f}", f"{n_first / first:.0f}", f"{total:.2f}", f"{n / total:.0f}"])
    print(table(["version", f"first {runs[0]['first_n']}: CPU s", "variants per CPU s",
                 f"all {runs[0]['n']}: CPU s", "variants per CPU s"], rows))
    (old_first, old_all), (new_first, new_all) = rate.values()
    print(f"\nthis version / previous: {new_first / old_first:.1f}x on the first {runs[0]['first_n']}, "
          f"{new_all / old_all:.1f}x on all {runs[0]['n']} (medians of {args.repeat}, interleaved)")
    same = len({r["digest"] for rs in results.values() for r in rs}) == 1
    print(f"build_plans results identical between the versions: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
