"""Where a sweep's chunks run: in this process, on a local Dask cluster (`--workers N`) or on an existing
one (`--scheduler`). Used by `backtest.sweep`, which cuts the chunks and says what a chunk does
(`sweep.simulate_chunk`, passed in as ``simulate``).

On Dask: the market data is scattered to every worker once, while the workers warm up; each weighting group's chunks go to one worker
(`assign_chunks`: a worker's per-date memo then solves a group's weights once), largest first, with the
scheduler still free to move a chunk to an idle worker; each chunk's outcomes come back packed (`pack`: two
float arrays for the equity and fees of all its strategies). A local cluster's workers start without Dask's
``MALLOC_TRIM_THRESHOLD_`` (`TRIM_KEY`). None of this changes a result: a chunk's outcomes depend neither on
where it runs nor on its neighbours (tests/test_sweep.py, tests/test_sweep_dask.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd

from .errors import UsageError

DIST_INSTALL = "pip install -e '.[dist]'"
THREADS_KEY = "distributed.nanny.environ.NUMBA_NUM_THREADS"
"""A local cluster's workers run one Dask thread each, and the compiled kernels on one numba thread each
(``NUMBA_NUM_THREADS=1``, set in the worker process before it imports numba): N workers on N cores, not N x
cores threads. Not a pre-spawn variable, which Dask also writes into this process's environment: numba here
would then refuse to compile once its threads run with another count."""
TRIM_KEY = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"
"""Dask's nannies start workers with ``MALLOC_TRIM_THRESHOLD_=65536`` (memory handed back to the system
early), which turns off glibc's adaptive mmap threshold: every large numpy temporary is then a fresh mmap
with its page faults, and a chunk costs ~35% more CPU (docs/performance.md). `bt sweep --workers` starts its
workers without it (None unsets a variable of that setting)."""

AMM_KEY = "distributed.scheduler.active-memory-manager.start"
"""Off on a local cluster: Dask's active memory manager drops "excess" copies of data every 2 s, so the market
data broadcast to every worker could be left on one of them and fetched again, inside the simulate phase,
by the first chunk of the other."""
QUIET = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
}
"""A local cluster's diagnostics, slowed or off: the workers' statistical profiler (a thread sampling the
running chunk's stack every 10 ms, for the dashboard's profile page, which `bt sweep` does not serve), the
event loops' 20 ms tick (it reports a blocked loop), the 0.5 s system monitor and the nannies' 0.1 s memory
check. Measured on 2 idle workers: 0.08 CPU s per second of wall with Dask's defaults, 0.02 with these
(docs/performance.md); on 2 busy workers the profiler also samples every chunk. A worker's memory limit
still holds, checked every second. Results do not depend on any of them."""


@dataclass(frozen=True)
class Outcome:
    """One strategy's result from a chunk (plain, pickle-able data). Series are indexed by trading date."""

    name: str
    equity: pd.Series
    fees: pd.Series
    turnover: pd.Series
    notes: tuple[str, ...]
    metrics: dict


def assign_chunks(payloads: Sequence, n_workers: int) -> list[tuple[int, int]]:
    """``(chunk position, worker number)`` for each chunk, in the order to submit them: whole weighting
    groups on one worker each (so a worker solves a group's weights on a date once, with its memo), spread by
    longest processing time first (each group, largest first, to the least loaded worker; load counted in
    strategies). A group larger than a worker's share (all strategies / ``n_workers``), or one that would
    take its worker past that share, is spread chunk by chunk instead (1,000 variants in 25 groups of 40 on 2
    workers: 12 groups each and the 25th split, 500 and 500, not 520 and 480). Each worker's chunks come
    largest first, so the last ones to finish are small.
    Deterministic: it depends only on the chunks and ``n_workers``."""
    from .plans import weighting_key

    units: dict = {}
    for i, payload in enumerate(payloads):
        keys = {weighting_key(s) for s in payload.strategies}
        key = keys.pop() if len(keys) == 1 and None not in keys else ("chunk", i)
        units.setdefault(key, []).append(i)
    size = [len(p.strategies) for p in payloads]
    share = sum(size) / max(1, n_workers)
    todo: list[list[int]] = []
    for members in units.values():
        todo += [members] if sum(size[i] for i in members) <= share else [[i] for i in members]
    load = [0] * max(1, n_workers)
    pieces: list[list[int]] = []
    owned: list[list[int]] = [[] for _ in load]
    while todo:
        todo.sort(key=lambda piece: (-sum(size[i] for i in piece), piece[0]))
        piece = todo.pop(0)
        weight = sum(size[i] for i in piece)
        w = min(range(len(load)), key=lambda w: (load[w], w))
        if len(piece) > 1 and load[w] + weight > share:    # it would end past a fair share: its chunks alone
            todo += [[i] for i in piece]
            continue
        load[w] += weight
        owned[w].append(len(pieces))
        pieces.append(piece)
    queues = [[i for k in ks for i in pieces[k]] for ks in owned]
    out: list[tuple[int, int]] = []
    for depth in range(max(len(q) for q in queues)):      # interleaved: each worker's first chunk first
        out += [(q[depth], w) for w, q in enumerate(queues) if depth < len(q)]
    return out


def warm_up(own_process: bool = False) -> None:
    """Import the pipeline and load the compiled kernels: once per process, before its first chunk, so the
    simulate time (and the throughput) measures the chunks' own work. ``own_process``: a worker of the local
    cluster this sweep started (it ends with the sweep): no full garbage collections there either
    (`gcpolicy`); a cluster the user runs keeps its settings."""
    if own_process:
        from .gcpolicy import pause_full_collections

        pause_full_collections()
    import strategies  # noqa: F401

    from . import engine, metrics, plans  # noqa: F401
    from .engine.batch import warm_up as batch_warm_up
    from .engine.kernel import kernels

    kernels()
    batch_warm_up()


def _progress(total: int):
    """The sweep's progress bar on stderr (off when stderr is not a terminal), without tqdm's monitor
    thread (`backtest.progress`)."""
    from .progress import bar

    return bar(total, unit="strategy", desc="sweep", leave=False)


def _in_process(simulate, shared):
    def run(payloads, total) -> list[Outcome]:
        out: list[Outcome] = []
        memo: dict = {}
        with _progress(total) as bar:
            for payload in payloads:
                part = simulate(payload, *shared, memo)
                out += part
                bar.update(len(part))
        return out
    return run


_WORKER_MEMO: dict[str, dict] = {}      # on a Dask worker: the per-date memo of the sweep it works for


@dataclass(frozen=True)
class Packed:
    """A chunk's outcomes as they travel back from a Dask worker: the equity and fees of every strategy as
    two (days x strategies) float arrays on one shared index, instead of two pandas Series per strategy
    (half the bytes, a tenth of the pickling). `unpack` gives back the same `Outcome`s, bit for bit."""

    names: tuple[str, ...]
    index: pd.Index
    equity: object          # numpy array, days x strategies
    fees: object
    turnover: tuple[pd.Series, ...]
    notes: tuple[tuple[str, ...], ...]
    metrics: tuple[dict, ...]


def pack(outcomes: Sequence[Outcome]) -> Packed | list[Outcome]:
    """``outcomes`` as a `Packed`, or unchanged when their equity and fees are not all on one index."""
    import numpy as np

    if not outcomes:
        return list(outcomes)
    index = outcomes[0].equity.index
    if not all(o.equity.index.equals(index) and o.fees.index.equals(index) and o.fees.name == "fees"
               and o.equity.name == o.name for o in outcomes):
        return list(outcomes)
    return Packed(names=tuple(o.name for o in outcomes), index=index,
                  equity=np.column_stack([o.equity.to_numpy() for o in outcomes]),
                  fees=np.column_stack([o.fees.to_numpy() for o in outcomes]),
                  turnover=tuple(o.turnover for o in outcomes), notes=tuple(o.notes for o in outcomes),
                  metrics=tuple(o.metrics for o in outcomes))


def unpack(part: Packed | list[Outcome]) -> list[Outcome]:
    """The `Outcome`s of a chunk that `pack` packed (a list of them is returned as it is)."""
    if not isinstance(part, Packed):
        return list(part)
    return [Outcome(name=name, equity=pd.Series(part.equity[:, j], index=part.index, name=name),
                    fees=pd.Series(part.fees[:, j], index=part.index, name="fees"), turnover=part.turnover[j],
                    notes=part.notes[j], metrics=part.metrics[j])
            for j, name in enumerate(part.names)]


def _chunk_on_worker(simulate, payload, inputs, bench_returns, risk_free, token: str) -> Packed | list[Outcome]:
    """``simulate`` (`sweep.simulate_chunk`) on a worker, sharing one memo between the chunks of sweep
    ``token`` it runs, the batch kernel on one numba thread (each Dask thread of the worker runs a chunk);
    the outcomes packed for the way back (`pack`)."""
    if token not in _WORKER_MEMO:
        _WORKER_MEMO.clear()                # one sweep at a time: drop an earlier sweep's memo
        _WORKER_MEMO[token] = {}
    return pack(simulate(payload, inputs, bench_returns, risk_free, _WORKER_MEMO[token], threads=1))


def _worker_addresses(client) -> list[str]:
    """The addresses of the workers the scheduler knows now, sorted (the order `assign_chunks` numbers)."""
    return sorted(client.scheduler_info(n_workers=-1).get("workers", {}))


def _start_workers(client, shared, *, own: bool = False) -> list:
    """Warm up every worker of ``client`` (`warm_up`, as a task pinned to it; ``own``: a local cluster this
    sweep started) while the market data ``shared`` is sent to all of them (scattered: the workers receive
    it while they import and load kernels). Returns the futures of ``shared``, once every worker is warm and
    holds them."""
    workers = _worker_addresses(client)
    client.wait_for_workers(len(workers))   # all running: a broadcast goes to the running workers only
    warm = [client.submit(warm_up, own, key=f"bt-warm-up-{uuid.uuid4().hex[:8]}", workers=[w],
                          allow_other_workers=False, pure=False) for w in workers]
    data = client.scatter(list(shared), broadcast=True, hash=False) if shared else []
    client.gather(warm)                 # re-raises a worker's failure to warm up (e.g. a missing package)
    return data


def _on_dask(client, simulate, shared):
    def run(payloads, total) -> list[Outcome]:
        from distributed import as_completed

        workers = _worker_addresses(client)
        token = uuid.uuid4().hex[:8]
        futures, position = [], {}
        for i, w in assign_chunks(payloads, len(workers)):  # a weighting group's chunks on one worker; the
            future = client.submit(                           # scheduler may still move one to an idle worker
                _chunk_on_worker, simulate, payloads[i], *shared, token, key=f"bt-sweep-{token}-{i}", pure=False,
                workers=[workers[w]] if workers else None, allow_other_workers=True)
            futures.append(future)
            position[future.key] = i
        parts: list[list[Outcome] | None] = [None] * len(payloads)
        with _progress(total) as bar:
            for future in as_completed(futures):
                part = unpack(future.result())   # re-raises a chunk's error here, with its own type and message
                parts[position[future.key]] = part
                bar.update(len(part))
        return [o for part in parts for o in part]
    return run


def _cpu_seconds() -> float:
    import time

    return time.process_time()


@contextmanager
def runner(workers: int, scheduler: str | None, echo, simulate, shared: tuple
           ) -> Iterator[tuple[Callable, str, int, Callable[[], list[float]]]]:
    """``(run_chunks, where, number of workers, cpu)`` for this process (``workers`` 0, no ``scheduler``), a
    local cluster of ``workers`` processes, or the cluster of ``scheduler``, each process warm and holding
    ``shared`` (the market data: ``(inputs, bench_returns, risk_free)``, sent to Dask workers while they warm
    up); ``run_chunks(payloads, total)`` runs ``simulate(payload, *shared, memo)`` (`sweep.simulate_chunk`) on
    every chunk and returns the outcomes in chunk order; ``cpu()`` the CPU seconds so far of each process that
    runs chunks (this one, or each Dask worker), for the manifest's timings."""
    if not workers and not scheduler:
        warm_up()
        yield _in_process(simulate, shared), "in this process", 1, lambda: [_cpu_seconds()]
        return
    try:
        import logging

        from distributed import Client, LocalCluster
    except ImportError:
        raise UsageError(f"{'--scheduler' if scheduler else '--workers'}: needs Dask distributed, which is "
                         f"not installed; fix: {DIST_INSTALL}, or run without it (one process)") from None

    def cpu_of(client) -> Callable[[], list[float]]:
        return lambda: [t for _, t in sorted(client.run(_cpu_seconds).items())]

    if scheduler:
        echo(f"connecting to the Dask scheduler at {scheduler} ...")
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as exc:   # ValueError: 'bogus' (no port), a bad scheme
            raise UsageError(f"--scheduler: cannot reach a Dask scheduler at {scheduler!r} ({exc}); fix: "
                             f"start one (`dask scheduler`, then `dask worker {scheduler}`) or check the "
                             f"address") from None
        with client:
            data = _start_workers(client, shared)
            n = max(1, len(_worker_addresses(client)))
            try:
                yield (_on_dask(client, simulate, data), f"on the Dask cluster at {scheduler} ({n} workers)", n,
                       cpu_of(client))
            finally:
                client.cancel(data)         # an existing cluster outlives the sweep: free its copies
        return
    import dask

    echo(f"starting a local Dask cluster of {workers} worker process{'es' if workers > 1 else ''} ...")
    # the client's IO loop logs its callbacks' errors through tornado; on Ctrl-C, distributed's `sync` cancel
    # callback can race the interrupt and log a NameError traceback (a Dask bug): a chunk's own failure
    # reaches this process through its future, so the loop's log is quiet until the cluster is closed
    loop_log, dist_log = logging.getLogger("tornado.application"), logging.getLogger("distributed")
    levels = loop_log.level, dist_log.level
    loop_log.setLevel(logging.CRITICAL + 1)
    try:
        with dask.config.set({TRIM_KEY: None, THREADS_KEY: 1, AMM_KEY: False, **QUIET}), \
                _started_deaf_to_ctrl_c(lambda: LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                    silence_logs=logging.ERROR)) as cluster, Client(cluster) as client:
            try:
                data = _start_workers(client, shared, own=True)
                where = f"on a local Dask cluster of {workers} worker{'s' if workers > 1 else ''}"
                yield _on_dask(client, simulate, data), where, workers, cpu_of(client)
            except BaseException:    # Ctrl-C, an error: the cluster is torn down mid-work; its logs are noise
                dist_log.setLevel(logging.CRITICAL + 1)
                raise
    finally:        # the caller's levels again (a notebook goes on after a sweep it interrupted)
        loop_log.setLevel(levels[0])
        dist_log.setLevel(levels[1])


def _started_deaf_to_ctrl_c(start):
    """``start()`` (a local cluster) with SIGINT ignored while it spawns its worker processes, which inherit
    that (POSIX keeps an ignored signal ignored across exec, and Python then installs no KeyboardInterrupt):
    Ctrl-C reaches every process of the terminal's group, and each worker printed a KeyboardInterrupt
    traceback while this process was already stopping the sweep (and its cluster) cleanly. A Ctrl-C during
    the cluster's start (a few seconds) is ignored; the next one stops the sweep."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return start()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return start()
    finally:
        signal.signal(signal.SIGINT, previous)
