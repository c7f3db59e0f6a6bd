"""Row reads of wide (date x ticker) frames on arrays, for the per-date work of `backtest.plans`.

A sweep reads the same rows of the prices and share-count frames for every weighting on every rebalance date;
pandas' label lookups on string columns (``frame.loc[date].reindex(names)``) cost far more than the reads.
`FrameRows` looks a frame's dates and columns up once and reads rows as numpy arrays: the same values, so
every number computed from them is the same bits. Pure: nothing here reads files.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


class FrameRows:
    """``frame.loc[date].reindex(names).to_numpy()`` (NaN, or NaT for a datetime frame, where a name is not a
    column) on the frame's values. ``frame``: indexed by date, one column per ticker, one dtype; the row
    positions of dates and the column positions of name tuples are remembered (a sweep asks for the same
    universe on a date again and again)."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self.values = frame.to_numpy()
        self.missing = np.datetime64("NaT") if self.values.dtype.kind == "M" else np.nan
        self.columns = np.asarray(frame.columns.tolist(), dtype=object)
        self._column = {c: i for i, c in enumerate(self.columns.tolist())}
        self._dates: dict = {}
        self._names: dict = {}

    def row_of(self, date) -> int:
        """Position of ``date`` in the frame's index (KeyError, as ``frame.loc``, when it is not there)."""
        i = self._dates.get(date)
        if i is None:
            i = self.frame.index.get_loc(date)
            if not isinstance(i, (int, np.integer)):
                raise ValueError(f"FrameRows: date {date} is not a unique row of the frame")
            self._dates[date] = i = int(i)
        return i

    def positions(self, names) -> np.ndarray:
        """Column position of each of ``names`` (-1: not a column)."""
        key = names if isinstance(names, tuple) else tuple(names)
        pos = self._names.get(key)
        if pos is None:
            get = self._column.get
            pos = self._names[key] = np.fromiter((get(n, -1) for n in key), dtype=np.intp, count=len(key))
        return pos

    def at(self, date, names) -> np.ndarray:
        """The frame's values on ``date`` at ``names``: missing (NaN / NaT) where a name is not a column."""
        values = self.values[self.row_of(date)]
        pos = self.positions(names)
        return np.where(pos >= 0, values[pos], self.missing) if len(values) else np.full(len(pos), self.missing)

    def priced(self, date) -> frozenset:
        """Columns with a positive value on ``date`` (a float frame of prices: NaN is no price)."""
        return frozenset(self.columns[self.values[self.row_of(date)] > 0].tolist())


def frame_rows(memo: dict | None, role: str, frame: pd.DataFrame) -> FrameRows:
    """The `FrameRows` of ``frame`` kept in ``memo`` under ``role`` (rebuilt when ``frame`` is another object;
    the frame is kept with it, so a reused ``id`` never maps to a stale one). ``memo`` None: a new one."""
    if memo is None:
        return FrameRows(frame)
    key = ("frame rows", role)
    hit = memo.get(key)
    if hit is None or hit.frame is not frame:
        memo[key] = hit = FrameRows(frame)
    return hit


def target_frame(rows: list[pd.Series], dates, memo: dict | None = None) -> pd.DataFrame:
    """One row per date from weight Series (index = ticker): the union of their tickers as columns, sorted,
    0 where a row has no weight. ``pd.DataFrame(rows, index=dates).fillna(0.0)`` with sorted columns, built
    on arrays (sweeps build thousands; tests/test_plans.py checks it equals the pandas form). ``memo``: the
    columns and each row's positions in them are kept per tuple of row indexes (the weightings of a sweep
    share the index of a date's weights wherever no name is dropped, so they share the layout too)."""
    if not rows or any(r.dtype != np.float64 or not r.index.is_unique for r in rows):
        frame = pd.DataFrame(rows, index=dates).fillna(0.0)
        return frame.reindex(columns=sorted(frame.columns))
    columns, positions, dtype, name = _layout([r.index for r in rows], memo)
    values = np.zeros((len(rows), len(columns)))
    for i, (r, pos) in enumerate(zip(rows, positions)):
        values[i, pos] = np.nan_to_num(r.to_numpy(), nan=0.0)
    return pd.DataFrame(values, index=dates, columns=pd.Index(columns, dtype=dtype, name=name))


def _layout(indexes: list[pd.Index], memo: dict | None) -> tuple:
    """``(sorted union of the indexes' labels, each index's positions in it, the first index's dtype, the
    common name or None)``; kept in ``memo`` with the index objects themselves (so their ids stay theirs)."""
    key = ("target layout", tuple(id(ix) for ix in indexes))
    hit = memo.get(key) if memo is not None else None
    if hit is not None and all(a is b for a, b in zip(hit[0], indexes)):
        return hit[1]
    names = [ix.tolist() for ix in indexes]
    columns = sorted(set().union(*names))
    pos = {c: i for i, c in enumerate(columns)}
    positions = [np.fromiter((pos[t] for t in tickers), dtype=np.intp, count=len(tickers)) for tickers in names]
    label = {ix.name for ix in indexes}     # the union keeps the tickers' index name when all agree
    layout = (columns, positions, indexes[0].dtype, label.pop() if len(label) == 1 else None)
    if memo is not None:
        memo[key] = (tuple(indexes), layout)
    return layout
