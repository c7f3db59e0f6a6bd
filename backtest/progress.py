"""Progress bars on stderr (tqdm) without tqdm's monitor thread.

tqdm starts a monitor thread with its first bar (it checks every 10 s for a bar that stopped updating) and
leaves it running after the bar closes. A process with that thread can no longer fork safely, so a later
`bt run` or `bt sweep` in the same process (a notebook, a test) would compute its evidence without the forked
worker (`backtest.forked.can_fork`). Every bar of the tool comes from `bar`, which never starts it.
"""

from __future__ import annotations

import sys


def bar(total: int, *, unit: str, desc: str, disable: bool | None = None, leave: bool = True):
    """A tqdm bar on stderr with no monitor thread. ``disable``: None shows it only when stderr is a
    terminal (tqdm's rule), True hides it, False always shows it."""
    from tqdm import tqdm

    class Bar(tqdm):
        monitor_interval = 0

    return Bar(total=total, unit=unit, desc=desc, file=sys.stderr, disable=disable, leave=leave)
