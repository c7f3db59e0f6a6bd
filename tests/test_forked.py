"""`backtest.forked.ForkedWorker`: one forked helper process (bt run's evidence worker). Real processes: values
come back bit for bit, failures come back as `WorkerFailed` with the child's traceback, and the child never
outlives its block (closed, interrupted, or its parent killed)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pandas as pd
import pytest

from backtest.forked import ForkedWorker, WorkerFailed, can_fork
from tests.conftest import REPO, alive, children_of


def _frame_stats(frame: pd.DataFrame, scale: float) -> tuple[pd.DataFrame, dict]:
    out = frame * scale
    return out.cumsum(), {"sum": float(np.nansum(out.to_numpy())), "when": out.index[-1]}


def _raise(message: str):
    raise ValueError(message)


def _unpicklable():
    return threading.Lock()


class _Unloadable:
    """Pickles, but cannot be rebuilt (its reconstructor raises)."""

    def __reduce__(self):
        return _raise, ("cannot be rebuilt",)


def _unloadable():
    return _Unloadable()


def _pid() -> int:
    return os.getpid()


def test_values_come_back_bit_for_bit_and_calls_run_in_order():
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(rng.standard_normal((300, 4)) * 1e-3,
                         index=pd.bdate_range("2020-01-01", periods=300, name="date"), columns=list("ABCD"))
    frame.iloc[5, 2] = np.nan
    with ForkedWorker() as worker:
        worker.submit(_frame_stats, frame, scale=3.0)
        worker.submit(_pid)
        got, stats = worker.result()
        child = worker.result()
    want, want_stats = _frame_stats(frame, 3.0)
    pd.testing.assert_frame_equal(got, want, check_exact=True, check_freq=True)
    assert got.to_numpy().tobytes() == want.to_numpy().tobytes()       # the same bits, NaN included
    assert stats == want_stats
    assert child != os.getpid() and not alive(child)                    # another process, now ended


def test_an_error_in_the_child_comes_back_with_its_traceback():
    with ForkedWorker() as worker:
        worker.submit(_raise, "the factor file has no RF column")
        with pytest.raises(WorkerFailed, match="raised in the worker") as failed:
            worker.result()
        assert "ValueError: the factor file has no RF column" in failed.value.remote
        assert "_raise" in failed.value.remote                          # the child's own traceback
        worker.submit(_pid)                                             # the worker goes on after an error
        assert worker.result() != os.getpid()


def test_a_value_that_cannot_be_pickled_and_a_dead_child_are_failures():
    with ForkedWorker() as worker:
        worker.submit(_unpicklable)
        with pytest.raises(WorkerFailed) as failed:
            worker.result()
        assert "pickle" in failed.value.remote
        worker.submit(_unloadable)
        with pytest.raises(WorkerFailed, match="answer could not be read: ValueError.'cannot be rebuilt"):
            worker.result()
        os.kill(worker.pid, signal.SIGKILL)
        worker.submit(_pid)
        with pytest.raises(WorkerFailed, match="ended|could not be sent"):
            worker.result()


def test_the_child_ignores_ctrl_c_and_is_killed_when_the_block_is_left():
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        with ForkedWorker(warm=lambda: time.sleep(60)) as worker:
            pid = worker.pid
            os.kill(pid, signal.SIGINT)          # a terminal's Ctrl-C reaches the whole process group
            time.sleep(0.2)
            assert alive(pid)                    # ignored: the parent decides
            worker.submit(time.sleep, 60)        # still warming up: sent on a thread, no wait here
            raise KeyboardInterrupt              # as the parent's handler raises it
    assert not alive(pid) and pid not in children_of(os.getpid())
    assert time.monotonic() - started < 30
    assert [p for p in multiprocessing.active_children() if p.name == "bt-worker"] == []


def test_the_child_dies_with_its_parent(tmp_path):
    script = textwrap.dedent("""
        import sys, time
        from backtest.forked import ForkedWorker
        worker = ForkedWorker(warm=lambda: time.sleep(120))
        print(worker.pid, flush=True)
        time.sleep(120)
        """)
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert alive(child)
        parent.kill()                             # SIGKILL: no clean-up runs in the parent
        parent.wait(timeout=30)
        deadline = time.monotonic() + 10
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(child)
    finally:
        parent.kill()
        parent.wait(timeout=30)


def test_can_fork_only_from_a_lone_main_thread():
    assert can_fork() == (threading.active_count() == 1 and sys.platform.startswith("linux"))
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    try:
        assert not can_fork()
    finally:
        stop.set()
        other.join()
    seen = []
    worker_thread = threading.Thread(target=lambda: seen.append(can_fork()))
    worker_thread.start()
    worker_thread.join()
    assert seen == [False]


def _freeze_count() -> int:
    import gc

    return gc.get_freeze_count()


@pytest.mark.skipif(not can_fork(), reason="fork: Linux, main thread, no other thread")
def test_the_child_keeps_the_inherited_heap_frozen_and_the_parent_does_not():
    """`gc.freeze` around the fork: the child's collections never walk the heap it inherited (nor touch its
    pages), while the parent's objects stay collectable as before."""
    import gc

    before = gc.get_freeze_count()
    with ForkedWorker() as worker:
        assert gc.get_freeze_count() == before
        worker.submit(_freeze_count)
        assert worker.result() > max(before, 1000)


_OFFLOAD_PARENT = os.getpid()


def _pid_unless_child_raises(tag: str) -> tuple[str, int]:
    """Raises in any process but the test's own (a forked worker); else the tag and this process's pid."""
    if os.getpid() != _OFFLOAD_PARENT:
        raise RuntimeError("failed in the worker")
    return tag, os.getpid()


def test_offload_runs_on_the_worker_or_here_with_the_same_value():
    """`offload`: the value from the worker when it answers; computed here (this process's pid) with no
    worker, with an argument that cannot be sent, or when the call fails there; an error of the function
    itself reaches the caller as raised here."""
    from backtest.forked import offload

    with ForkedWorker() as worker:
        child = worker.pid
        frame = pd.DataFrame({"x": [1.0, 2.0]}, index=pd.date_range("2024-01-01", periods=2))
        got = offload(worker, _frame_stats, frame, 2.0)()
        pd.testing.assert_frame_equal(got[0], _frame_stats(frame, 2.0)[0])
        assert offload(worker, os.getpid)() == child                      # computed there
        assert offload(None, os.getpid)() == os.getpid()                  # no worker
        lock = threading.Lock()                                          # cannot be pickled: not sent
        assert offload(worker, lambda _: os.getpid(), lock)() == os.getpid()
        assert offload(worker, _pid_unless_child_raises, "a")() == ("a", os.getpid())   # failed there
        with pytest.raises(ValueError, match="^raised here$"):
            offload(worker, _raise, "raised here")()
        assert offload(worker, os.getpid)() == child                      # the worker still answers
