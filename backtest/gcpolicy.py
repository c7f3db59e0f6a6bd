"""The cyclic garbage collector while a run or a sweep works: its young generations only.

A run builds a heap of a few million objects (pandas, plotly, statsmodels, numba's registries and the run's
own frames) that lives until the run ends. CPython's full collections walk all of it each time they trigger,
with no garbage to find there: ~0.2-0.4 s of a warm `bt run` and ~1.3 s of a 1,000-variant `bt sweep` in
one process (measured with `gc.callbacks`; docs/performance.md). During a run the full passes are off; the
young generations are still collected (short-lived cycles go as usual, reference counting frees the rest),
and the caller's thresholds come back when the run ends, so a notebook keeps its own settings. Peak memory is
unchanged (`benchmarks/end_to_end.py` and `benchmarks/sweep_throughput.py` print it).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

NEVER = 2**31 - 1   # a full-collection threshold never reached


def pause_full_collections() -> None:
    """No full collections from now on (the young generations' thresholds kept). For a process's whole life
    only in worker processes a sweep started itself (a local Dask cluster's workers end with the sweep);
    never for a cluster the user runs."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, NEVER)


@contextlib.contextmanager
def young_collections_only() -> Iterator[None]:
    """No full collections inside the block; the thresholds as they were after it (on error too)."""
    before = gc.get_threshold()
    pause_full_collections()
    try:
        yield
    finally:
        gc.set_threshold(*before)
