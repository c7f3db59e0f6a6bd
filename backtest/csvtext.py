"""CSV text of a DataFrame, byte for byte what ``frame.to_csv(index=..., lineterminator="\\n",
date_format=...)`` writes, several times faster for the run folder's frames (pure; no I/O).

pandas formats a float block with numpy's ``astype(str)`` and writes rows through the `csv` module, about
1 microsecond a cell; the run folder has over a million cells (holdings, trades, weights, analytics). Here
each column becomes a list of strings (floats by Python's ``repr``, the same shortest round-trip digits and
the same switch to exponent notation as numpy's) and rows are joined directly. Only the simple cases are
taken: single-level columns, float/int/bool/datetime/string columns, no text that would need quoting, at
least two fields a row. Anything else returns None and the caller uses ``to_csv``
(tests/test_results.py compares both on real run frames and on edge values).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_SPECIAL = (",", '"')           # quoted as the csv module does (QUOTE_MINIMAL)
_REFUSED = ("\n", "\r")         # line breaks: left to the csv module


def csv_text(frame: pd.DataFrame, *, index: bool = True, date_format: str = "%Y-%m-%d",
             header: bool = True) -> str | None:
    """The CSV text of ``frame`` as ``to_csv`` writes it, or None when the frame is not a simple case.
    ``header=False``: the rows only (consecutive row blocks of a frame, the first with its header, join to
    the text of the whole frame)."""
    if isinstance(frame.columns, pd.MultiIndex) or isinstance(frame.index, pd.MultiIndex):
        return None
    if len(frame.columns) + bool(index) < 2:
        return None
    names = _fields([str(c) for c in frame.columns])
    cells = np.empty((len(frame), len(frame.columns)), dtype=object)
    dtypes = list(frame.dtypes)
    floats = [i for i, d in enumerate(dtypes) if d == np.float64]
    if floats:          # all float columns at once: one array, Python's repr per value, NaN empty
        values = frame.iloc[:, floats].to_numpy()
        text = np.array(list(map(repr, values.ravel().tolist())), dtype=object).reshape(values.shape)
        text[np.isnan(values)] = ""
        cells[:, floats] = text
    for i, d in enumerate(dtypes):
        if d != np.float64:
            column = _strings(frame.iloc[:, i], date_format)
            if column is None:
                return None
            cells[:, i] = column
    if index:
        labels = _strings(frame.index.to_series(), date_format)
        if labels is None or names is None:
            return None
        names.insert(0, "" if frame.index.name is None else str(frame.index.name))
        cells = np.column_stack([np.array(labels, dtype=object), cells]) if len(frame) else cells
    if names is None or _fields(names[:1]) is None:
        return None
    lines = [",".join(names)] if header else []
    lines += map(",".join, cells.tolist())
    return "\n".join(lines) + "\n" if lines else ""


def _strings(column: pd.Series, date_format: str) -> list[str] | None:
    """One non-float column as its CSV fields (missing values empty), or None when not a simple case."""
    dtype = column.dtype
    if dtype == np.int64 or dtype == np.bool_:
        return list(map(str, column.to_numpy().tolist()))
    if isinstance(dtype, np.dtype) and dtype.kind == "M":
        return column.dt.strftime(date_format).fillna("").tolist()
    if pd.api.types.is_string_dtype(dtype):
        values = column.tolist()
        if not all(isinstance(v, str) for v in values):
            if not all(isinstance(v, str) or (isinstance(v, float) and v != v) for v in values):
                return None
            values = ["" if not isinstance(v, str) else v for v in values]
        return _fields(values)
    return None


def _fields(values: list[str]) -> list[str] | None:
    """``values`` as CSV fields: quoted (inner quotes doubled) where they hold a comma or a quote; None
    when one holds a line break."""
    text = "".join(values)
    if any(c in text for c in _REFUSED):
        return None
    if not any(c in text for c in _SPECIAL):
        return values
    return [f'"{v.replace(chr(34), chr(34) * 2)}"' if "," in v or '"' in v else v for v in values]
