"""CSV text of a DataFrame, byte for byte what ``frame.to_csv(index=..., lineterminator="\\n",
date_format=...)`` writes, several times faster for the run folder's frames (pure; no I/O).

pandas formats a float block with numpy's ``astype(str)`` and writes rows through the `csv` module, about
1 microsecond a cell; the run folder has over a million cells (holdings, trades, weights, analytics), a
1,000-variant sweep's folder ~8 million. Here the float block's rows come from orjson (`_float_rows`: the
shortest round-trip digits, compiled, ~0.05 microseconds a cell; the few values it writes differently from
Python's ``repr`` are written by ``repr``) and the other columns become lists of strings; rows are joined
directly. Only the simple cases are taken: single-level columns, float/int/bool/datetime/string columns, no
text that would need quoting, at least two fields a row. Anything else returns None and the caller uses
``to_csv`` (tests/test_csvtext.py compares both on real run frames, on edge values and on millions of random
floats).
"""

from __future__ import annotations

import numpy as np
import orjson
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
    rows = None
    if floats:          # all float columns at once: each row's fields as one string
        rows = _float_rows(frame.iloc[:, floats].to_numpy())
        if len(floats) < len(dtypes) and len(frame):
            cells[:, floats] = np.array([r.split(",") for r in rows], dtype=object).reshape(len(frame), -1)
            rows = None
    for i, d in enumerate(dtypes):
        if d != np.float64:
            column = _strings(frame.iloc[:, i], date_format)
            if column is None:
                return None
            cells[:, i] = column
    labels = None
    if index:
        labels = _strings(frame.index.to_series(), date_format)
        if labels is None or names is None:
            return None
        names.insert(0, "" if frame.index.name is None else str(frame.index.name))
    if names is None or _fields(names[:1]) is None:
        return None
    lines = [",".join(names)] if header else []
    if rows is not None:            # every column a float: the rows as orjson wrote them, after the label
        lines += rows if labels is None else [f"{label},{row}" for label, row in zip(labels, rows)]
    else:
        if labels is not None and len(frame):
            cells = np.column_stack([np.array(labels, dtype=object), cells])
        lines += map(",".join, cells.tolist())
    return "\n".join(lines) + "\n" if lines else ""


def _float_rows(values: np.ndarray) -> list[str]:
    """Each row of the (rows x columns) float64 array ``values`` as its CSV fields joined by commas: every
    value as Python's ``repr`` writes it (pandas' text), NaN empty.

    orjson writes the rows (compiled, the shortest digits that read back to the same float: the text of
    ``repr`` for 0 and for every value of magnitude in [1e-4, 1e16), where both write plain decimals; checked
    on millions of values in tests/test_csvtext.py). Outside that range ``repr`` uses exponent notation and
    orjson's differs (``1e-5`` for ``1e-05``; orjson 3.10 wrote ``1e16`` for ``1e+16``), and orjson writes
    infinities as ``null``: those cells are written by ``repr`` itself. NaN, which orjson writes as ``null``,
    becomes an empty field."""
    n, k = values.shape
    if n == 0:
        return []
    if k == 0:
        return [""] * n
    values = np.ascontiguousarray(values, dtype=np.float64)
    text = orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY).decode("ascii")
    rows = text[2:-2].split("],[")
    size = np.abs(values)
    own = ((size < 1e-4) & (values != 0)) | (size >= 1e16)         # infinities too; NaN compares False
    for i in np.flatnonzero(own.any(axis=1)).tolist():
        fields = rows[i].split(",")
        for j in np.flatnonzero(own[i]).tolist():
            fields[j] = repr(float(values[i, j]))
        rows[i] = ",".join(fields)
    for i in np.flatnonzero(np.isnan(values).any(axis=1)).tolist():
        rows[i] = rows[i].replace("null", "")
    return rows


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
