"""Where output goes and how commands end: `bt compare --out` never clobbers what it did not write, a damaged
run folder never stops `bt list`, interrupts exit cleanly and leave nothing behind, and temporaries of killed
processes are swept by the next command."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest.results import list_runs, sweep_stale_temporaries
from backtest.runner import save_run
from tests.conftest import REPO, alive, children_of
from tests.report.synthetic import make_run


from .conftest import bt_process


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".lock"}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("runs")
    a = save_run(make_run(), root, folder_name="a")
    b = save_run(make_run(name="other", names=("Only",), seed=3), root, folder_name="b")
    return a, b


@pytest.fixture
def runs(two_runs, tmp_path) -> tuple[Path, Path]:
    """Private copies of the two runs (tests damage them)."""
    out = []
    for src in two_runs:
        out.append(Path(shutil.copytree(src, tmp_path / "results" / src.name)))
    return out[0], out[1]


def test_compare_without_out_writes_the_documented_default(bt, runs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default is results/ under the working folder
    done = bt("compare", *runs)
    assert done.code == 0, done.err
    written = sorted((tmp_path / "results").glob("compare-*.html"))
    assert len(written) == 1 and f"comparison: {Path('results') / written[0].name}" in done.out


@pytest.mark.parametrize("target,message", [
    ("run:metrics.json", "is inside the run folder"),
    ("run:new.html", "is inside the run folder"),
    ("store:prices_adj_close.parquet", "is inside the price store"),
    ("notes.txt", "exists and is not a page written by `bt compare`, so it is not overwritten"),
])
def test_compare_out_never_clobbers(bt, runs, tmp_path, store_copy, target, message):
    if target.startswith("run:"):
        out = runs[0] / target[4:]
    elif target.startswith("store:"):
        out = store_copy / target[6:]
    else:
        out = tmp_path / target
        out.write_text("my notes\n")
    before = {p: _digest(p) for p in (runs[0], runs[1], store_copy, tmp_path)}
    done = bt("compare", *runs, "--out", out)
    assert done.code == 2 and message in done.err and "Traceback" not in done.err, done.err
    assert {p: _digest(p) for p in before} == before
    assert all(s.problem is None for s in list_runs(runs[0].parent))


def test_compare_out_replaces_an_earlier_comparison_page(bt, runs, tmp_path):
    out = tmp_path / "cmp.html"
    assert bt("compare", *runs, "--out", out).code == 0
    first = out.read_bytes()
    done = bt("compare", *runs, "--out", out)
    assert done.code == 0 and out.read_bytes().startswith(first[:200]) and b"Comparison of 2 runs" in first


@pytest.mark.parametrize("damage,shown", [
    (lambda run: _edit_json(run / "metrics.json", lambda d: {**d, "strategies": None}), "unexpected content"),
    (lambda run: _edit_json(run / "manifest.json", lambda d: {**d, "run_folder": {
        k: v for k, v in d["run_folder"].items() if k != "benchmark"}}), "missing entry 'benchmark'"),
    (lambda run: (run / "metrics.json").write_text("[1, 2"), "not valid JSON"),
])
def test_one_damaged_run_never_stops_list_or_compare(bt, runs, damage, shown):
    good, bad = runs
    damage(bad)
    done = bt("list", "--results", good.parent)
    assert done.code == 0, done.err
    assert f"{bad.name}  DAMAGED" in done.out or f"{bad.name}  INCOMPLETE" in done.out
    assert shown in done.out and "synthetic" in done.out  # the good run is still listed in full
    done = bt("compare", good, bad, "--out", good.parent.parent / "c.html")
    assert done.code == 2 and bad.name in done.err and "Traceback" not in done.err, done.err


def _edit_json(path: Path, change) -> None:
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_stale_temporaries_of_dead_processes_are_swept_and_nothing_else(tmp_path, two_runs):
    dead, live = _dead_pid(), os.getpid()
    results = tmp_path / "results"
    results.mkdir()
    stale = Path(shutil.copytree(two_runs[0], results / f".a-20260101-000000.tmp-{dead}"))
    running = Path(shutil.copytree(two_runs[0], results / f".b-20260101-000000.tmp-{live}"))
    page = results / f".cmp.html.tmp-{dead}"
    page.write_text("<!doctype html>half")
    foreign = results / f".thesis.tmp-{dead}"
    foreign.mkdir()
    (foreign / "chapter1.tex").write_text("mine")
    removed = sweep_stale_temporaries(results)
    assert sorted(removed) == sorted([stale, page])
    assert running.is_dir() and (foreign / "chapter1.tex").read_text() == "mine"


def _interrupt_run(store_root: Path, results: Path, sig: int, group: bool = False,
                   after: str = "simulating", delay: float = 0.3) -> tuple[int, str, set[int]]:
    """Start `bt run` on the rotation config, send `sig` ``delay`` seconds after stderr shows ``after`` (to
    the whole process group with ``group``, as a terminal's Ctrl-C does), return (exit code, stderr, the pids
    of the run's child processes just before the signal: its evidence worker)."""
    proc = bt_process("--data-dir", store_root, "run", REPO / "configs" / "rotation.yaml", "--offline",
                      "--out", results, "--start", "2016-01-01", new_session=group)
    err = ""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        err += line
        if after in line or not line:
            break
    time.sleep(delay)
    workers = children_of(proc.pid)
    if group:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    out, rest = proc.communicate(timeout=120)
    return proc.returncode, err + rest, workers


@pytest.mark.slow
@pytest.mark.parametrize("sig,code,word,group,after,delay", [
    (signal.SIGINT, 130, "aborted", False, "simulating", 0.3),
    (signal.SIGTERM, 143, "terminated", False, "simulating", 0.3),
    (signal.SIGINT, 130, "aborted", True, "computing the evidence", 0.3),   # Ctrl-C while the worker computes
    (signal.SIGINT, 130, "aborted", True, "computing rotation analytics", 1.2)])   # ... or writes CSV files
def test_interrupts_exit_cleanly_and_leave_nothing(snapshot_store, tmp_path, sig, code, word, group, after,
                                                   delay):
    results = tmp_path / "results"
    results.mkdir()
    returncode, err, workers = _interrupt_run(snapshot_store.root, results, sig, group, after, delay)
    if returncode == 0:
        pytest.skip("the run finished before the signal landed (machine too fast for this check)")
    assert returncode == code and err.rstrip().endswith(word), err[-2000:]
    assert "Traceback" not in err and "internal error" not in err and "SystemError" not in err
    assert list(results.iterdir()) == []  # no run folder, no `.name.tmp-PID` left behind
    assert len(workers) == 1                                  # bt run's evidence worker was running ...
    assert [pid for pid in workers if alive(pid)] == []       # ... and ended with the run


@pytest.fixture
def full_disk(tmp_path):
    """A 64 KB tmpfs: a real file system that fills up (needs root and mount; skipped otherwise)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (not root, or no mount)")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=True)


def test_a_full_disk_is_a_clear_error_and_leaves_nothing(bt, full_disk, tmp_path, snapshot_store):
    big = tmp_path / "big.csv"
    idx = pd.bdate_range("2000-01-03", periods=3000, name="date")
    pd.DataFrame(np.linspace(1, 2, 3000 * 10).reshape(3000, 10), index=idx,
                 columns=[f"T{i}" for i in range(10)]).to_csv(big)
    done = bt("--data-dir", full_disk / "store", "data", "import", big)
    assert done.code == 2 and "the disk is full" in done.err and "nothing was changed" in done.err, done.err
    assert sorted(p.name for p in (full_disk / "store").iterdir()) == [".lock", "meta.json"]
    done = bt("--data-dir", snapshot_store.root, "run", REPO / "configs" / "rotation.yaml", "--offline",
              "--out", full_disk / "results", "--start", "2025-01-01")
    assert done.code == 2 and "cannot write the run (the disk is full" in done.err, done.err
    assert not (full_disk / "results").exists() or list((full_disk / "results").iterdir()) == []


def test_long_commands_say_they_are_still_working(capsys):
    from backtest.cli import _Progress

    with _Progress(every=0.05) as progress:
        progress.echo("simulating 2000 strategies on 2515 days ...")
        time.sleep(0.3)
    err = capsys.readouterr().err
    assert err.startswith("simulating 2000 strategies on 2515 days ...\n")
    assert "  ... still simulating 2000 strategies on 2515 days (0 s)" in err


@pytest.mark.slow
def test_ctrl_c_during_a_dask_sweep_prints_no_worker_tracebacks(snapshot_store, tmp_path):
    """Ctrl-C reaches the whole process group: the local cluster's worker processes printed a
    KeyboardInterrupt traceback each (27-129 lines) and the nannies logged errors, while the sweep itself
    stopped cleanly. The workers now start with SIGINT ignored and the cluster's logs are silenced on the
    way out: exit 130, 'aborted', no traceback, nothing written."""
    results = tmp_path / "results"
    results.mkdir()
    proc = bt_process("--data-dir", snapshot_store.root, "sweep", REPO / "configs" / "examples" / "sweep.yaml",
                      "--offline", "--workers", "2", "--out", results, new_session=True)
    err = ""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        err += line
        if "simulating" in line or not line:
            break
    os.killpg(proc.pid, signal.SIGINT)
    out, rest = proc.communicate(timeout=120)
    err += rest
    if proc.returncode == 0:
        pytest.skip("the sweep finished before the signal landed")
    assert proc.returncode == 130 and err.rstrip().endswith("aborted"), err[-3000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err and "ERROR" not in err, err[-3000:]
    assert list(results.iterdir()) == []
