"""Checks run before anything is written to the store; each DataError lists every problem found, naming
the file or source, the row and the fix."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from backtest.errors import DataError
from backtest.tickers import normalize_ticker

MAX_LISTED = 10  # problems listed in one DataError before "... and N more"


def _show(value) -> str:
    """A cell for a message: strings quoted, numbers plain (no numpy reprs)."""
    return repr(value) if isinstance(value, str) else str(value)


def _problems_message(head: str, problems: list[str], fix: str) -> str:
    lines = [head] + [f"  - {p}" for p in problems[:MAX_LISTED]]
    if len(problems) > MAX_LISTED:
        lines.append(f"  ... and {len(problems) - MAX_LISTED} more")
    lines.append(fix)
    return "\n".join(lines)


def validate_prices(frame: pd.DataFrame, where: str, row_labels: Sequence[str] | None = None) -> pd.DataFrame:
    """Check a wide price frame and return it as float64 with a normalised ``DatetimeIndex`` named ``date``
    and normalised ticker columns. ``where`` names the file or source in messages; ``row_labels`` (one per
    row) names rows, e.g. ``"line 12"`` of a CSV. Raises DataError listing every problem found: dates that are
    not dates, duplicated or unsorted dates, duplicated tickers, non-numeric cells, zero, negative or infinite
    prices. NaN cells are allowed (no price that day)."""
    labels = list(row_labels) if row_labels is not None else [f"row {i + 1}" for i in range(len(frame))]
    problems: list[str] = []
    try:
        idx = pd.DatetimeIndex(pd.to_datetime(frame.index))
    except (ValueError, TypeError) as exc:
        raise DataError(f"{where}: the date column has values that are not dates ({exc}); "
                        "write dates as YYYY-MM-DD") from None
    if idx.tz is not None:
        idx = idx.tz_convert("America/New_York").tz_localize(None)
    idx = idx.normalize()
    if idx.hasnans:
        bad = [labels[i] for i in np.flatnonzero(idx.isna())]
        problems.append(f"missing date on {', '.join(bad[:5])}")
    dup = idx.duplicated(keep=False) & ~idx.isna()
    if dup.any():
        for d in pd.unique(idx[dup])[:MAX_LISTED]:
            rows = [labels[i] for i in np.flatnonzero(idx == d)]
            problems.append(f"date {d:%Y-%m-%d} appears more than once ({', '.join(rows)})")
    elif not idx.hasnans and not idx.is_monotonic_increasing:
        i = int(np.flatnonzero(np.diff(idx.asi8) < 0)[0]) + 1
        problems.append(f"dates are not in ascending order: {idx[i]:%Y-%m-%d} on {labels[i]} comes after "
                        f"{idx[i - 1]:%Y-%m-%d}")
    cols = [normalize_ticker(c) for c in frame.columns]
    dcols = sorted({c for c in cols if cols.count(c) > 1})
    if dcols:
        problems.append(f"ticker columns appear more than once: {', '.join(dcols)}")
    columns = []
    for name, col in zip(cols, frame.columns):
        s = frame[col]
        if pd.api.types.is_float_dtype(s) or pd.api.types.is_integer_dtype(s):
            columns.append(s.to_numpy(dtype="float64"))
            continue
        num = pd.to_numeric(s, errors="coerce").astype("float64")
        text = s.astype(object)
        filled = text.notna().to_numpy() & (text.astype(str).str.strip() != "").to_numpy()
        for i in np.flatnonzero(num.isna().to_numpy() & filled)[:3]:
            problems.append(f"{name} on {labels[i]}: {_show(s.iloc[i])} is not a number")
        columns.append(num.to_numpy())
    values = np.column_stack(columns) if columns else np.empty((len(idx), 0))
    for kind, bad in (("infinite price", np.isinf(values)), ("not positive", values <= 0)):
        rows, cidx = np.nonzero(bad)
        for i, j in list(zip(rows, cidx))[:MAX_LISTED]:
            day = f" ({idx[i]:%Y-%m-%d})" if not pd.isna(idx[i]) else ""
            problems.append(f"{cols[j]} on {labels[i]}{day}: price {values[i, j]:g} is {kind}"
                            if kind == "not positive" else f"{cols[j]} on {labels[i]}{day}: {kind}")
    if problems:
        raise DataError(_problems_message(
            f"{where}: {len(problems)} problem{'s' if len(problems) != 1 else ''} in the price data:",
            problems, "Fix the file (one row per date, ascending, positive numbers, empty cell for no price) "
            "and import it again; nothing was written."))
    out = pd.DataFrame(values, index=pd.DatetimeIndex(idx, name="date"), columns=cols, dtype="float64")
    return out


def validate_membership(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    absent = [c for c in ("ticker", "start_date") if c not in frame.columns]
    if absent:
        raise DataError(f"{source}: membership table lacks columns {absent}; expected ticker, start_date, "
                        "end_date, price_column")
    df = pd.DataFrame({"ticker": frame["ticker"].astype(str).map(normalize_ticker)})
    problems = []
    for c in ("start_date", "end_date"):
        raw = frame[c] if c in frame.columns else pd.Series([None] * len(frame), index=frame.index)
        parsed = pd.to_datetime(raw, errors="coerce")
        bad = parsed.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
        for i in np.flatnonzero(bad.to_numpy())[:5]:
            problems.append(f"row {i + 1} ({df['ticker'].iloc[i]}): {c} {_show(raw.iloc[i])} is not a date")
        df[c] = parsed.dt.normalize().astype("datetime64[us]").to_numpy()
    for i in np.flatnonzero(df["start_date"].isna().to_numpy())[:5]:
        problems.append(f"row {i + 1} ({df['ticker'].iloc[i]}): start_date is missing")
    inverted = df["end_date"].notna() & (df["end_date"] < df["start_date"])
    for i in np.flatnonzero(inverted.to_numpy())[:5]:
        problems.append(f"row {i + 1} ({df['ticker'].iloc[i]}): end_date before start_date")
    if problems:
        raise DataError(_problems_message(f"{source}: bad membership rows:", problems,
                                          "Fix the membership file; nothing was written."))
    pc = frame["price_column"] if "price_column" in frame.columns else frame["ticker"]
    df["price_column"] = [normalize_ticker(x) if isinstance(x, str) and x.strip() else None for x in pc]
    if "source" in frame.columns:
        given = frame["source"].astype(object)
        df["source"] = given.where(given.notna(), source).astype(str).to_numpy()
    else:
        df["source"] = source
    return df.reset_index(drop=True)


def validate_shares(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    absent = [c for c in ("date", "ticker", "shares") if c not in frame.columns]
    if absent:
        raise DataError(f"{source}: shares table lacks columns {absent}; expected date, ticker, shares")
    df = pd.DataFrame({
        "date": pd.to_datetime(frame["date"], errors="coerce").dt.normalize().astype("datetime64[us]")
        .to_numpy(),
        "ticker": frame["ticker"].astype(str).map(normalize_ticker).to_numpy(),
        "shares": pd.to_numeric(frame["shares"], errors="coerce").astype("float64").to_numpy(),
        "source": source})
    problems = []
    for i in np.flatnonzero(df["date"].isna().to_numpy())[:5]:
        problems.append(f"row {i + 1}: date {_show(frame['date'].iloc[i])} is not a date")
    badv = ~(np.isfinite(df["shares"].to_numpy()) & (df["shares"].to_numpy() > 0))
    for i in np.flatnonzero(badv)[:5]:
        problems.append(f"row {i + 1} ({df['ticker'].iloc[i]}): shares {_show(frame['shares'].iloc[i])} is "
                        "not a positive number")
    dup = df.duplicated(["date", "ticker"], keep=False)
    for i in np.flatnonzero(dup.to_numpy())[:5]:
        problems.append(f"row {i + 1}: ({df['ticker'].iloc[i]}, {df['date'].iloc[i]:%Y-%m-%d}) appears twice")
    if problems:
        raise DataError(_problems_message(f"{source}: bad shares rows:", problems,
                                          "Fix the shares data; nothing was written."))
    return df
