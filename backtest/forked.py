"""One helper process forked from this one, for work that can run on a second core beside the main thread.

`bt run` uses it for the evidence stage (`backtest.runner`): the child is forked right after the config is
read, imports statsmodels while the parent loads data, solves weights and simulates, then computes the
evidence while the parent computes the rotation analytics, writes about half of the run folder's CSV files
and renders the report's extra sections from the folder. The machine's second core does the work; the
results are the same bits (the same code on the same floats; pickling is exact).

    with ForkedWorker(warm=preload) as worker:    # forks now; the child runs ``preload()`` at once
        ...
        worker.submit(fn, *args, **kwargs)        # pickled and sent on a thread: the caller goes on
        ...
        value = worker.result()                   # fn's value, or WorkerFailed
        get = offload(worker, fn, *args)          # or: sent now; get() is fn's value, computed here if it fails

Rules that keep a fork safe (`can_fork` checks what it can):

* Linux only (the ``fork`` start method; elsewhere use the in-process path), from the main thread of a
  process with no other Python thread (a notebook kernel has several: it computes in-process);
* fork before the parent launches numba's parallel kernels or reads files with pyarrow (both start thread
  pools whose locks a child would inherit), and do neither in the child: send it data, not paths to the
  store (pandas' string columns are pyarrow arrays: the child then uses pyarrow from the state of a process
  that had only imported it; the run folder's CSV files it reads back are parsed by pandas' own C parser);
* the child ignores SIGINT (Ctrl-C reaches the whole process group: the parent handles it and ends the
  child), takes SIGTERM's default action, and is killed by the kernel if the parent dies
  (``PR_SET_PDEATHSIG``); `close` (and leaving the ``with`` block, on success or error) kills and reaps it,
  so the worker never outlives the block.

A call that raises in the child, a result that cannot be pickled, or a child that died all come back as
`WorkerFailed` with the child's traceback as text: the caller decides what to do (the runner computes again
in its own process, so the user sees the error that code raises there, with its type, message and exit
code).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from multiprocessing.reduction import ForkingPickler
from typing import Any

_PR_SET_PDEATHSIG = 1
_SIGNALS = {signal.SIGINT, signal.SIGTERM}


class WorkerFailed(Exception):
    """The call did not return a value from the worker: it raised there (``remote`` holds the child's
    traceback), its value could not be sent back, or the child ended."""

    def __init__(self, message: str, remote: str = ""):
        super().__init__(message)
        self.remote = remote


def can_fork() -> bool:
    """True where a `ForkedWorker` may be started here: Linux, the main thread, no other Python thread."""
    return (sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()
            and threading.current_thread() is threading.main_thread() and threading.active_count() == 1)


class ForkedWorker:
    """A child process forked at construction that runs calls sent to it, one at a time, in order.

    ``warm``: called first in the child (imports, say); an error there is ignored (the call that needs what
    it prepares raises it again). Use as a context manager, or call `close`."""

    def __init__(self, warm: Callable[[], Any] | None = None):
        ctx = multiprocessing.get_context("fork")
        self._conn, child_end = ctx.Pipe(duplex=True)
        self._sender: threading.Thread | None = None
        self._send_error: BaseException | None = None
        self._pending = 0
        self._process = ctx.Process(target=_serve, args=(child_end, self._conn, warm, os.getpid()),
                                    name="bt-worker", daemon=True)
        # the signals wait (blocked) across the fork: the parent takes one after it, and the child sets its
        # own handlers before it takes any (a Ctrl-C at that instant would otherwise run the parent's
        # handler in the child)
        held = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        # the objects alive now go to the collector's permanent generation across the fork (the recipe of
        # `gc.freeze`'s documentation): the child's collections then never walk (nor copy-on-write touch)
        # the heap it inherited; the parent takes them back at once
        gc.freeze()
        try:
            self._process.start()
        finally:
            gc.unfreeze()
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
            child_end.close()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def submit(self, fn: Callable, /, *args, **kwargs) -> None:
        """Send ``fn(*args, **kwargs)`` to the child. The arguments are pickled here, on the caller's thread
        (so later changes to them do not matter); the bytes go down the pipe on a thread, so this returns
        even while the child is still busy warming up (a second call waits until the first one's bytes are
        sent)."""
        payload = ForkingPickler.dumps((fn, args, kwargs))
        self._join_sender()
        self._pending += 1
        self._sender = threading.Thread(target=self._send, args=(payload,), name="bt-worker-send", daemon=True)
        self._sender.start()

    def _send(self, payload) -> None:
        try:
            self._conn.send_bytes(payload)
        except BaseException as exc:   # noqa: BLE001 - the child is gone: reported by result()
            self._send_error = exc

    def _join_sender(self) -> None:
        if self._sender is not None:
            self._sender.join()
            self._sender = None

    def result(self) -> Any:
        """The value of the oldest call not yet collected; `WorkerFailed` if it raised in the child, if its
        value could not be pickled or if the child ended."""
        if self._pending < 1:
            raise RuntimeError("ForkedWorker.result() without a call submitted")
        self._pending -= 1
        self._join_sender()
        if self._send_error is not None:
            raise WorkerFailed(f"the call could not be sent to the worker: {self._send_error!r}")
        try:
            data = self._conn.recv_bytes()
        except (EOFError, OSError) as exc:
            self._process.join(timeout=1.0)
            raise WorkerFailed(f"the worker process ended (exit code {self._process.exitcode}): {exc!r}") from None
        try:
            status, value = ForkingPickler.loads(data)
        except Exception as exc:   # noqa: BLE001 - an answer that pickles but cannot be rebuilt here
            raise WorkerFailed(f"the worker's answer could not be read: {exc!r}") from None
        if status != "ok":
            raise WorkerFailed("the call raised in the worker", remote=value)
        return value

    def close(self) -> None:
        """End the child (killed if still working) and reap it. Safe to call twice."""
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        if self._sender is not None:   # a write still under way fails now that the reader is gone
            self._sender.join(timeout=5.0)
            self._sender = None
        self._conn.close()

    def __enter__(self) -> ForkedWorker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def offload(worker: ForkedWorker | None, fn: Callable, /, *args, **kwargs) -> Callable[[], Any]:
    """``fn(*args, **kwargs)`` started on ``worker`` (sent now: the caller goes on) as a function that returns
    its value. Computed in this process instead, when that function is called, where there is no worker,
    where the call cannot be sent (an argument that cannot be pickled) or where it fails there (it raised,
    its value could not be sent back, the child died): an error then reaches the caller as this process
    raises it (type, message), not as the child's `WorkerFailed`. The same function on the same arguments:
    the same value either way."""
    def here() -> Any:
        return fn(*args, **kwargs)

    if worker is None:
        return here
    try:
        worker.submit(fn, *args, **kwargs)
    except Exception:   # noqa: BLE001 - not sent: computed here when asked for
        return here

    def collect() -> Any:
        try:
            return worker.result()
        except WorkerFailed:
            return here()
    return collect


def _serve(conn, parent_end, warm, parent_pid: int) -> None:
    """The child: signals as described in the module docstring, ``warm()``, then calls until the pipe ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # discards a Ctrl-C that arrived during the fork
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
    parent_end.close()
    _die_with_parent(parent_pid)
    if warm is not None:
        try:
            warm()
        except BaseException:   # noqa: BLE001 - see ForkedWorker: the call raises it again
            pass
    while True:
        try:
            fn, args, kwargs = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply = ("ok", fn(*args, **kwargs))
        except BaseException:   # noqa: BLE001 - sent back as text; the parent decides
            reply = ("error", traceback.format_exc())
        try:
            conn.send(reply)
        except (EOFError, OSError):   # the parent closed its end
            return
        except Exception:   # noqa: BLE001 - a value that cannot be pickled (nothing was written)
            try:
                conn.send(("error", traceback.format_exc()))
            except (EOFError, OSError):
                return


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies; leave at once if it already has."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):   # not Linux's libc: close() and daemon=True still end the child
        pass
    if os.getppid() != parent_pid:
        os._exit(0)
