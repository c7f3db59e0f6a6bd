"""The price store's pure steps of a write: new prices rebased onto the stored ones, merged with them, and
the catalog updated (`backtest.data.store.PriceStore.write_prices` does the I/O around them)."""

from __future__ import annotations

import numpy as np
import pandas as pd

CATALOG_COLUMNS = ("ticker", "field", "source", "start", "end", "rows", "covered_start", "covered_end",
                   "written_at")


def empty_catalog() -> pd.DataFrame:
    return pd.DataFrame({
        "ticker": pd.Series(dtype=object), "field": pd.Series(dtype=object),
        "source": pd.Series(dtype=object),
        "start": pd.Series(dtype="datetime64[us]"), "end": pd.Series(dtype="datetime64[us]"),
        "rows": pd.Series(dtype="int64"), "covered_start": pd.Series(dtype="datetime64[us]"),
        "covered_end": pd.Series(dtype="datetime64[us]"),
        "written_at": pd.Series(dtype="datetime64[us, UTC]")})


def covered_span(new: pd.DataFrame, covered) -> tuple[pd.Timestamp, pd.Timestamp]:
    lo, hi = new.index.min(), new.index.max()
    if covered is not None:
        a, b = covered
        lo = min(lo, pd.Timestamp(a).normalize()) if a is not None else lo
        hi = max(hi, pd.Timestamp(b).normalize()) if b is not None else hi
    return lo, hi


MAX_OVERLAP_DISAGREEMENT = 0.02
"""How far (relative) a common date's stored/new ratio may sit from the median ratio before the two series
are taken to disagree (`overlap_disagreements`). Two sources of adjusted closes differ by a constant factor
(their bases); a dividend one of them adjusted for and the other not moves the ratio by that dividend
(~0.2-2%), rounding by far less. An unadjusted split (33% for 3-for-2, 50% for 2-for-1), a price-only
series against a total-return one over years, or a wrong price moves it by more."""


def overlap_disagreements(ratio: pd.DataFrame, median: pd.Series,
                          tolerance: float = MAX_OVERLAP_DISAGREEMENT) -> dict[str, tuple]:
    """Tickers (columns of ``ratio``, stored / new on the common dates) whose new adjusted closes do not move
    like the stored ones: some date's ratio is more than ``tolerance`` (relative) from the column's
    ``median``, so no single factor puts the new series onto the stored one. ``{ticker: (date, deviation)}``
    at the worst date."""
    deviation = (ratio / median - 1.0).abs()
    worst = deviation.max(skipna=True)
    return {c: (deviation[c].idxmax(), float(worst[c])) for c in ratio.columns if worst[c] > tolerance}


def rebase_prices(old: pd.DataFrame, new: pd.DataFrame
                  ) -> tuple[pd.DataFrame, dict[str, float], list[str], dict[str, tuple]]:
    """Scale new adjusted closes onto the stored base: factor = median(stored / new) on common dates.
    Returns the rescaled frame, ``{ticker: factor}``, the tickers without a common date (unanchored) and
    `overlap_disagreements` (``{ticker: (date, deviation)}``): the caller refuses those before writing."""
    cols = [c for c in new.columns if c in old.columns and old[c].notna().any()]
    if not cols:
        return new, {}, [], {}
    common = new.index.intersection(old.index)
    ratios = old.loc[common, cols] / new.loc[common, cols]
    ratio = ratios.median(skipna=True)
    disagree = overlap_disagreements(ratios, ratio)
    unanchored = [c for c in cols if not np.isfinite(ratio[c])]
    scale = ratio[[c for c in cols if np.isfinite(ratio[c]) and abs(ratio[c] - 1.0) > 1e-12]]
    if len(scale) == 0:
        return new, {}, unanchored, disagree
    out = new.copy()
    out[list(scale.index)] = new[list(scale.index)] * scale
    return out, {c: float(f) for c, f in scale.items()}, unanchored, disagree


def merge_prices(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """New non-NaN values win; NaN never erases a stored price. Columns sorted, index the union of dates."""
    idx = old.index.union(new.index)
    cols = sorted(set(old.columns) | set(new.columns))
    values = old.reindex(index=idx, columns=cols).to_numpy(dtype="float64", copy=True)
    incoming = new.reindex(index=idx, columns=cols).to_numpy(dtype="float64")
    have = ~np.isnan(incoming)
    values[have] = incoming[have]
    merged = pd.DataFrame(values, index=pd.DatetimeIndex(idx, name="date"), columns=cols)
    return merged


def update_catalog(cat: pd.DataFrame, merged: pd.DataFrame, new: pd.DataFrame, field: str, source: str,
                    cov: tuple[pd.Timestamp, pd.Timestamp]) -> pd.DataFrame:
    now = pd.Timestamp.now(tz="UTC")
    notna = new.notna()
    first = notna.idxmax()
    last = notna[::-1].idxmax()
    key = (cat["field"] == field) & (cat["source"] == source)
    prev = cat.loc[key & cat["ticker"].isin(new.columns)].set_index("ticker")
    sub = merged[list(new.columns)].notna().to_numpy()
    counts = np.vstack([np.zeros((1, sub.shape[1]), dtype=np.int64), sub.cumsum(axis=0)])
    rows = []
    for j, t in enumerate(new.columns):
        s, e, cs, ce = first[t], last[t], cov[0], cov[1]
        if t in prev.index:
            p = prev.loc[t]
            s, e = min(s, p["start"]), max(e, p["end"])
            cs, ce = min(cs, p["covered_start"]), max(ce, p["covered_end"])
        lo, hi = merged.index.searchsorted(s, "left"), merged.index.searchsorted(e, "right")
        rows.append((t, field, source, s, e, int(counts[hi, j] - counts[lo, j]), cs, ce, now))
    add = pd.DataFrame(rows, columns=list(CATALOG_COLUMNS))
    keep = cat.loc[~(key & cat["ticker"].isin(new.columns))]
    out = pd.concat([keep, add], ignore_index=True) if len(keep) else add
    for c in ("start", "end", "covered_start", "covered_end"):
        out[c] = pd.to_datetime(out[c]).astype("datetime64[us]")
    return out.sort_values(["ticker", "field", "source"], kind="stable").reset_index(drop=True)
