"""The cap basis of cap-weighted targets: which share-count observations the weights rest on, the weight on
counts observed later, share-refresh turnover, and the day's share counts handed to the strategies. Read on
arrays (`plan_rows.FrameRows`); the values are those the pandas rows give, bit for bit. Pure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .plan_rows import FrameRows


REFRESH_NOTE = 0.02     # share-refresh turnover above this is named in the warnings


def day_shares(date, shares: pd.DataFrame | None, observed: pd.DataFrame | None, shares_rows: FrameRows | None,
                observed_rows: FrameRows | None) -> tuple:
    """``(shares.loc[date].dropna(), observed.loc[date].reindex(those names))`` (an empty Series and None
    without share data), the rows read on arrays where the two frames have the same float and datetime
    columns (as `marketcap.SharesAsOf` makes them)."""
    if shares is None:
        return pd.Series(dtype=float), None
    same = (observed is not None and shares_rows.values.dtype == np.float64
            and observed_rows.values.dtype.kind == "M" and shares.columns.equals(observed.columns))
    if not same:
        sh = shares.loc[date].dropna()
        return sh, observed.loc[date].reindex(sh.index) if observed is not None else None
    i, j = shares_rows.row_of(date), observed_rows.row_of(date)
    values = shares_rows.values[i]
    keep = ~np.isnan(values)
    names = shares.columns[keep]
    return (pd.Series(values[keep], index=names, name=shares.index[i]),
            pd.Series(observed_rows.values[j][keep], index=names, name=observed.index[j]))


def cap_basis_row(date: pd.Timestamp, observed: np.ndarray) -> dict:
    """Which share-count observations the caps of one rebalance rest on (shown in the report).
    ``observed``: datetime64 array, the observation date of each universe name's count (NaT: none)."""
    seen = observed[~np.isnat(observed)]
    if len(seen):   # the most frequent date, the earliest of equally frequent ones (as Series.mode)
        values, counts = np.unique(seen, return_counts=True)
        typical = pd.Timestamp(values[np.argmax(counts)])
    return {"date": date, "names": len(observed), "without_shares": int(len(observed) - len(seen)),
            "oldest_observation": pd.Timestamp(seen.min()) if len(seen) else pd.NaT,
            "newest_observation": pd.Timestamp(seen.max()) if len(seen) else pd.NaT,
            "typical_observation": typical if len(seen) else pd.NaT,
            "backfilled_names": int((seen > np.datetime64(date)).sum())}


def later_weight(date, universe, shares: FrameRows, px: FrameRows, observed: FrameRows, method: str) -> dict:
    """How much plain cap weight on ``date`` rests on share counts observed later: under ``backfill`` it is
    in the weights (look-ahead); under ``point_in_time`` those names are left out and this is the weight they
    would have had, estimated with the later count. Plain cap weights of the universe, before tilts and caps.
    ``shares``, ``px``, ``observed``: rows of the (unfiltered) share counts, the prices and the observation
    dates of the counts."""
    names = tuple(universe)
    caps = shares.at(date, names) * px.at(date, names)
    later = (observed.at(date, names) > np.datetime64(date)) & ~np.isnan(caps)
    total = np.where(np.isnan(caps), 0.0, caps).sum()       # NaN skipped, as pandas' sum does
    weight = float(caps[later].sum() / total) if total > 0 else 0.0
    left = ", ".join(sorted(np.asarray(names, dtype=object)[later].tolist()))
    return {"shares_method": method, "later_obs_names": int(later.sum()),
            "weight_on_later_obs": weight if method == "backfill" else 0.0,
            "left_out_weight_est": weight if method == "point_in_time" else 0.0,
            "left_out": left if method == "point_in_time" else ""}


def refresh_turnover(dates: pd.DatetimeIndex, universes: dict, shares: FrameRows, px: FrameRows) -> list:
    """Per rebalance date, turnover made by the share-count method alone: half the absolute change of plain
    cap weights when the date's share counts replace the previous rebalance's, both at the date's prices
    (names with a count in both). Price moves and membership changes are not in it; NaN on the first date.
    ``shares``, ``px``: rows of the share counts (of the method) and of the prices."""
    out = [float("nan")]
    for prev, date in zip(dates[:-1], dates[1:]):
        names = tuple(universes.get(date, ()))
        p = px.at(date, names)
        new, old = shares.at(date, names) * p, shares.at(prev, names) * p
        ok = ~np.isnan(new) & ~np.isnan(old) & (new > 0) & (old > 0)
        if not ok.any():
            out.append(float("nan"))
            continue
        out.append(float(np.abs(new[ok] / new[ok].sum() - old[ok] / old[ok].sum()).sum() / 2))
    return out


def _note_left_out(name: str, method: str, basis: pd.DataFrame, notes: list[str]) -> None:
    """Name the share-count method's cost: look-ahead weight (backfill) or names left out (point_in_time)."""
    col = "weight_on_later_obs" if method == "backfill" else "left_out_weight_est"
    hit = basis[basis[col] > 0]
    if hit.empty:
        return
    top = hit[col].idxmax()
    if method == "backfill":
        notes.append(f"{name}: LOOK-AHEAD (shares: backfill): on {len(hit)} of {len(basis)} rebalance dates "
                     f"part of the cap weight rests on share counts observed later, up to "
                     f"{hit[col].max():.2%} (on {top:%Y-%m-%d}); shares: point_in_time avoids it")
    else:
        names = sorted({n for cell in hit["left_out"] for n in cell.split(", ") if n})
        notes.append(f"{name}: shares: point_in_time: on {len(hit)} of {len(basis)} rebalance dates names with "
                     f"no share count observed yet are left out, estimated weight up to {hit[col].max():.2%} "
                     f"(on {top:%Y-%m-%d}; estimated with their later count): {', '.join(names)}")


def basis_notes(method: str, basis: pd.DataFrame) -> list[str]:
    """The cap basis's notes, without the leading strategy name: the share-count method's cost
    (`_note_left_out`) and the dates when new share counts alone move the weights."""
    lines: list[str] = []
    _note_left_out("", method, basis, lines)
    lines = [line[2:] for line in lines]                # `_note_left_out` starts each line with "<name>: "
    jumps = basis["share_refresh_turnover"][basis["share_refresh_turnover"] > REFRESH_NOTE]
    if len(jumps):
        listed = ", ".join(f"{d:%Y-%m-%d} ({v:.1%})" for d, v in jumps.items())
        lines.append(f"method-made turnover: new share counts alone (not prices) move the cap "
                     f"weights by more than {REFRESH_NOTE:.0%} one-sided on: {listed}")
    return lines
