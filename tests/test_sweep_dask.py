"""How a sweep's chunks are cut and spread over Dask workers, and how their results travel back: whole
weighting groups per chunk and per worker, balanced loads, packed outcomes equal bit for bit, and an
existing scheduler (`--scheduler`) running the sweep to the same bytes as one process."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest.config import load_config
from backtest.plans import weighting_key
from backtest.sweep import chunk_payloads, expand_variants, run_sweep
from backtest.sweep_workers import (
    QUIET,
    TRIM_KEY,
    Outcome,
    Packed,
    assign_chunks,
    pack,
    runner,
    unpack,
)
from tests.test_sweep import SAME_FILES    # the run folder's result files (one list for both test modules)

REPO = Path(__file__).resolve().parents[1]
MIXES = textwrap.dedent("""\
    name: mixes
    start: 2019-01-01
    end: 2020-12-31
    benchmark: SPY
    costs: {commission_bps: 1, slippage_bps: 2}
    strategies:
      - name: Stocks
        weighting: fixed
        weights: {SPY: 0.8, AGG: 0.2}
      - name: Bonds
        weighting: fixed
        weights: {SPY: 0.3, AGG: 0.7}
    sweep:
      grid:
        rebalance: [monthly, quarterly]
        costs.commission_bps: [0, 5, 10]
    """)


def _swept(path: Path):
    return expand_variants(load_config(path))[0]


def _groups(payload) -> set:
    return {weighting_key(s) for s in payload.strategies}


def test_chunks_never_split_a_weighting_group_they_need_not(tmp_path):
    """sweep_1000.yaml: 25 weightings x 40 variants (rebalance and costs are not part of the weights). In
    chunks of at most 32, each weighting is cut in two chunks of 20 (not 32 + 8 mixed with the next one)."""
    swept = _swept(REPO / "benchmarks" / "sweep_1000.yaml")
    payloads = chunk_payloads(swept, 32)
    assert [len(p.strategies) for p in payloads] == [20] * 50
    assert all(len(_groups(p)) == 1 for p in payloads)
    chunks_per_group = Counter(g for p in payloads for g in _groups(p))
    assert len(chunks_per_group) == 25 and set(chunks_per_group.values()) == {2}
    names = [s.name for p in payloads for s in p.strategies]
    assert sorted(names) == sorted(s.name for s in swept.strategies) and len(set(names)) == 1000
    # groups smaller than the chunk are packed together, whole
    mixes = tmp_path / "mixes.yaml"
    mixes.write_text(MIXES)
    small = chunk_payloads(_swept(mixes), 7)
    assert [len(p.strategies) for p in small] == [6, 6]
    assert [len(_groups(p)) for p in small] == [1, 1]
    assert [len(p.strategies) for p in chunk_payloads(_swept(mixes), 12)] == [12]
    assert [len(p.strategies) for p in chunk_payloads(_swept(mixes), 4)] == [3, 3, 3, 3]


def test_assignment_keeps_groups_on_one_worker_and_balances_the_load():
    payloads = chunk_payloads(_swept(REPO / "benchmarks" / "sweep_1000.yaml"), 32)
    order = assign_chunks(payloads, 2)
    assert sorted(i for i, _ in order) == list(range(50))             # every chunk, once
    load = Counter()
    workers_of: dict = {}
    for i, w in order:
        load[w] += len(payloads[i].strategies)
        workers_of.setdefault(_groups(payloads[i]).pop(), set()).add(w)
    assert load == {0: 500, 1: 500}       # 12 weightings each, the 25th split (not 520 against 480)
    assert sorted(len(ws) for ws in workers_of.values()) == [1] * 24 + [2]
    assert order == assign_chunks(payloads, 2)                          # deterministic
    three = assign_chunks(payloads, 3)
    spread = Counter()
    for i, w in three:
        spread[w] += len(payloads[i].strategies)
    assert max(spread.values()) - min(spread.values()) <= 20 and sum(spread.values()) == 1000
    # a worker's chunks come largest first: here, unequal chunks of one weighting each
    sizes = [payloads[i] for i in (0, 2, 4)]
    mixed = [sizes[0], _trim(sizes[1], 5), _trim(sizes[2], 12)]
    assert assign_chunks(mixed, 1) == [(0, 0), (2, 0), (1, 0)]


def _trim(payload, n: int):
    import dataclasses

    return dataclasses.replace(payload, strategies=payload.strategies[:n])


def test_packed_outcomes_come_back_bit_for_bit():
    index = pd.DatetimeIndex(["2020-01-02", "2020-01-03", "2020-01-06"], name="date")
    rng = np.random.default_rng(7)
    outcomes = [Outcome(name=f"V [x={k}]", equity=pd.Series(1e6 + rng.normal(size=3) * 1e3, index=index,
                                                             name=f"V [x={k}]"),
                        fees=pd.Series([0.0, -0.0, 1.25e-7 * k], index=index, name="fees"),
                        turnover=pd.Series([0.5 * k], index=index[:1], name="turnover"),
                        notes=(f"V [x={k}]: a note",), metrics={"sharpe": 0.1 * k, "cagr": float("nan")})
                for k in range(3)]
    packed = pack(outcomes)
    assert isinstance(packed, Packed) and packed.equity.shape == (3, 3)
    back = unpack(packed)
    for a, b in zip(outcomes, back, strict=True):
        assert a.name == b.name and a.notes == b.notes and a.metrics.keys() == b.metrics.keys()
        for x, y in ((a.equity, b.equity), (a.fees, b.fees), (a.turnover, b.turnover)):
            assert x.name == y.name and x.index.equals(y.index) and x.index.name == y.index.name
            assert x.to_numpy().tobytes() == y.to_numpy().tobytes()
    # equity on different days: sent as they are
    odd = outcomes[:1] + [Outcome(**{**outcomes[1].__dict__, "equity": outcomes[1].equity.iloc[1:]})]
    assert all(a is b for a, b in zip(pack(odd), odd, strict=True))
    assert all(a is b for a, b in zip(unpack(pack(odd)), odd, strict=True))


@pytest.fixture(scope="module")
def mixes(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("mixes") / "mixes.yaml"
    path.write_text(MIXES)
    return path


def test_existing_scheduler_runs_groups_on_one_worker_each_to_the_same_bytes(mixes, snapshot_store, tmp_path):
    """`--scheduler`: a cluster started outside the sweep (work stealing off, so the placement is the
    assignment's). Each weighting group's two chunks run on one worker, the two groups on different
    workers, and the run folder equals the one-process run's."""
    import dask
    from distributed import Client, LocalCluster, get_task_stream


    kw = {"store": snapshot_store, "offline": True}
    one = run_sweep(mixes, results_dir=tmp_path / "one", **kw)
    with dask.config.set({"distributed.scheduler.work-stealing": False, TRIM_KEY: None}), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client, get_task_stream(client) as stream:
        dist = run_sweep(mixes, results_dir=tmp_path / "dist", scheduler=cluster.scheduler_address, chunk_size=3,
                         **kw)
        trim = client.run(os.environ.get, "MALLOC_TRIM_THRESHOLD_")
    for name in SAME_FILES:
        assert (one / name).read_bytes() == (dist / name).read_bytes(), name
    timings = json.loads((dist / "manifest.json").read_text())["timings_s"]
    assert 0 < timings["simulate_cpu_busiest"] < timings["simulate_cpu_all"]      # a worker's; all and the client's
    payloads = chunk_payloads(_swept(mixes), 3)
    ran = {int(str(t["key"]).rsplit("-", 1)[1]): t["worker"] for t in stream.data
           if str(t["key"]).startswith("bt-sweep-")}
    assert sorted(ran) == [0, 1, 2, 3]
    by_group: dict = {}
    for i, worker in ran.items():
        by_group.setdefault(_groups(payloads[i]).pop(), set()).add(worker)
    assert sorted(len(w) for w in by_group.values()) == [1, 1]
    assert len(set.union(*by_group.values())) == 2
    assert set(trim.values()) == {None}


def test_local_cluster_workers_start_without_dask_malloc_trim(mixes, snapshot_store, tmp_path):
    """`--workers`: the local cluster's workers run without Dask's MALLOC_TRIM_THRESHOLD_ (it costs the
    simulation ~35% more CPU) and with one numba thread each; tests/test_sweep.py checks its run is
    byte-identical to one process."""
    from distributed import default_client

    from backtest.sweep import simulate_chunk

    import dask

    with runner(2, None, lambda m: None, simulate_chunk, ("market", "data")) as (_, where, n, cpu):
        client = default_client()
        trim = client.run(os.environ.get, "MALLOC_TRIM_THRESHOLD_")
        threads = client.run(_numba_threads)
        quiet = client.run(lambda: {key: dask.config.get(key) for key in QUIET})
        time.sleep(2.5)             # past a cycle of Dask's active memory manager (2 s), which drops copies
        held = client.run(lambda dask_worker: sorted(v for v in dask_worker.data.values() if isinstance(v, str)))
        warm = client.run(lambda: "backtest.engine.batch" in sys.modules)
        seconds = cpu()
    assert n == 2 and where == "on a local Dask cluster of 2 workers"
    assert list(held.values()) == [["data", "market"]] * 2     # the shared data sent to every worker
    assert set(warm.values()) == {True}                         # and each warmed up before the first chunk
    assert list(quiet.values()) == [QUIET] * 2                  # the diagnostics slowed down on the workers
    assert dask.config.get("distributed.worker.profile.enabled") is True    # not in this process afterwards
    assert "MALLOC_TRIM_THRESHOLD_" not in os.environ, "set in this shell: the workers inherit it"
    assert len(trim) == 2 and set(trim.values()) == {None}
    assert set(threads.values()) == {1}                 # one numba thread per single-threaded worker
    assert "NUMBA_NUM_THREADS" not in os.environ        # and this process's numba left alone
    assert len(seconds) == 2 and all(t > 0 for t in seconds)      # each worker's CPU (imports, warm-up)


def _numba_threads() -> int:
    import numba

    return numba.config.NUMBA_NUM_THREADS


def test_an_external_cluster_started_as_documented_runs_the_sweep_to_the_same_bytes(mixes, snapshot_store, tmp_path):
    """docs/performance.md ("Sweeps on Dask") tells users of `--scheduler` how to start their own scheduler and
    workers with the settings `bt sweep --workers` gives its local cluster: a real `dask scheduler` and `dask
    worker` started with those environment variables have Dask's malloc trim unset and the profiler off on
    the worker and the active memory manager off on the scheduler, and run the sweep to the one-process
    bytes."""
    import subprocess

    import dask
    from distributed import Client

    dask_cli = Path(sys.executable).with_name("dask")
    if not dask_cli.exists():
        pytest.skip("the dask command is not installed beside this Python")
    file = tmp_path / "scheduler.json"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen(
        [str(dask_cli), "scheduler", "--scheduler-file", str(file), "--host", "127.0.0.1", "--port", "0",
         "--no-dashboard"],
        env={**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ACTIVE_MEMORY_MANAGER__START": "False"}, **quiet)
    worker = None
    try:
        deadline = time.monotonic() + 60
        while not file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        worker = subprocess.Popen(
            [str(dask_cli), "worker", "--scheduler-file", str(file), "--nworkers", "1", "--nthreads", "1",
             "--no-dashboard"],
            env={**os.environ, "DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON__MALLOC_TRIM_THRESHOLD_": "None",
                 "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False"}, **quiet)
        with Client(scheduler_file=str(file), timeout="30s") as client:
            client.wait_for_workers(1, timeout=60)
            assert set(client.run(os.environ.get, "MALLOC_TRIM_THRESHOLD_").values()) == {None}
            assert set(client.run(dask.config.get, "distributed.worker.profile.enabled").values()) == {False}
            assert client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.extensions["amm"].running) is False
            address = client.scheduler.address
        kw = {"store": snapshot_store, "offline": True}
        one = run_sweep(mixes, results_dir=tmp_path / "one", **kw)
        dist = run_sweep(mixes, results_dir=tmp_path / "dist", scheduler=address, chunk_size=3, **kw)
        for name in SAME_FILES:
            assert (one / name).read_bytes() == (dist / name).read_bytes(), name
    finally:
        for proc in (worker, scheduler):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@pytest.mark.parametrize("address", ["bogus", "foo://127.0.0.1:1"])
def test_a_malformed_scheduler_address_is_a_usage_error(address):
    """`--scheduler bogus` (no port) or an unknown scheme was an internal error (ValueError, exit 1); like
    an unreachable address it is the user's: exit 2 naming the address and the fix."""
    from backtest.errors import UsageError
    from backtest.sweep_workers import runner

    with pytest.raises(UsageError, match=f"--scheduler: cannot reach a Dask scheduler at '{address}'") as info:
        with runner(0, address, lambda m: None, None, ()):
            pass
    assert info.value.exit_code == 2


def test_workers_are_capped_at_the_number_of_variants():
    from backtest.sweep import worker_count

    said = []
    assert worker_count(64, 14, said.append) == 14
    assert said == ["--workers 64: only 14 variant(s), so 14 worker(s) are started"]
    assert worker_count(2, 14, said.append) == 2 and worker_count(0, 3, said.append) == 0 and len(said) == 1


def test_a_local_cluster_starts_no_more_workers_than_chunks(tmp_path):
    """A sleeves strategy is simulated with its sleeves in one chunk, so 3 strategies can be 1 chunk: 3
    workers were started (capped at the strategies) and two sat idle. `local_chunks` plans the chunks before
    the cluster starts and says how many workers it starts."""
    from backtest.sweep import chunk_payloads_for, local_chunks

    path = tmp_path / "ls.yaml"
    path.write_text(textwrap.dedent("""\
        name: ls
        start: 2019-06-01
        end: 2021-12-31
        strategies:
          - {name: longleg, weighting: fixed, weights: {TLT: 1}}
          - {name: shortleg, weighting: fixed, weights: {SPY: 1}}
          - {name: LS, weighting: sleeves, sleeves: {longleg: 1, shortleg: -1}, rebalance: never}
        sweep: {strategy: LS, grid: {borrow_fee: [0.01, 0.02]}}
        """))
    swept = _swept(path)
    said = []
    size, payloads = local_chunks(swept, 3, 32, said.append)
    assert len(swept.strategies) == 4 and len(payloads) == 1 and size == 2      # LS' variants share sleeves
    assert said == ["--workers 3: only 1 chunk(s) (a sleeves strategy is simulated with its sleeves, in one "
                    "chunk), so 1 worker(s) are started"]
    assert local_chunks(swept, 1, 32, said.append)[1][0] == payloads[0] and len(said) == 1
    assert chunk_payloads_for(swept, 1, 32) == (4, payloads)
