"""Data gaps in the target weights: prices that end inside the run while the name is still an index member.

`find_ended` lists the tickers whose prices end inside the run (once per sweep); `data_gaps` names, per
strategy, the ones its targets hold at their last price (or refuses them, per ``data_gaps``). Pure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import DataError


def find_ended(prices: pd.DataFrame, calendar: pd.DatetimeIndex, membership) -> pd.DataFrame:
    """Tickers whose prices end inside the run: ``last_price`` (date), ``next_day`` (the first trading day
    without a price) and ``member_after`` (True: still an index member on ``next_day``, a DATA GAP; False:
    no longer a member, a delisting or removal; NA: no membership data). Indexed by ticker."""
    from .universe import members_at

    window = prices.loc[calendar[0]:calendar[-1]]
    if len(window) and len(window.columns):     # each column's last valid date, on arrays
        valid = window.notna().to_numpy()
        has = valid.any(axis=0)
        at = len(window) - 1 - np.argmax(valid[::-1], axis=0)
        last = pd.to_datetime(pd.Series(window.index[at[has]].to_numpy(), index=window.columns[has]))
    else:
        last = window.apply(pd.Series.last_valid_index)
        last = pd.to_datetime(last[last.notna()])
    last = last[last < calendar[-1]]
    rows = []
    members: dict = {}
    for t, day in last.items():
        nxt = calendar[calendar.searchsorted(day, side="right")]
        if membership is None:
            member = pd.NA
        else:
            if nxt not in members:
                members[nxt] = set(members_at(membership, nxt))
            member = t.split("~")[0] in members[nxt]
        rows.append({"ticker": t, "last_price": day, "next_day": nxt, "member_after": member})
    return pd.DataFrame(rows, columns=["ticker", "last_price", "next_day", "member_after"]).set_index("ticker")


def data_gaps(spec, targets: pd.DataFrame, ended: pd.DataFrame, policy: str, notes: list[str], *,
               memo: dict | None = None) -> tuple:
    """Names the strategy targets whose prices end while they are still index members (data gaps), per
    ``data_gaps``: named in the notes with the target weight at the last rebalance before the gap; refused
    with a DataError under ``refuse``. ``memo``: the gaps found in a targets frame are kept for the
    strategies that share it (sweep variants)."""
    if ended.empty or spec.universe is None or spec.universe.index is None:
        return ()
    if memo is None:
        return _gap_notes(spec, _gap_text(_gap_rows(targets, ended)), policy, notes)
    key = ("gap rows", id(targets))     # the frame is kept with its rows, so its id is not reused meanwhile
    hit = memo.get(key)
    if hit is None or hit[0] is not targets or hit[1] is not ended:
        memo[key] = hit = (targets, ended, _gap_text(_gap_rows(targets, ended)))
    return _gap_notes(spec, hit[2], policy, notes)


def _gap_rows(targets: pd.DataFrame, ended: pd.DataFrame) -> list[tuple]:
    """``(ticker, last price date, target weight at the last rebalance on or before it)`` of each name in
    ``targets`` whose prices end while it is still an index member, with a positive weight there."""
    gaps = ended[ended["member_after"].eq(True)]
    rows = []
    column = targets.columns.get_indexer(gaps.index)
    gaps, column = gaps[column >= 0], column[column >= 0]
    if len(gaps):       # the target weight at the last rebalance on or before each gap's last price
        last = targets.index.searchsorted(pd.DatetimeIndex(gaps["last_price"]), side="right") - 1
        values = targets.to_numpy()[np.maximum(last, 0), column]
        held = (last >= 0) & (values > 0)
        for t, day, weight in zip(gaps.index[held], gaps["last_price"][held], values[held]):
            rows.append((t, day, float(weight)))
    return rows


def _gap_text(rows: list[tuple]) -> tuple:
    """``(rows, listed, more, total)``: `_gap_rows`' rows and the parts of their note that do not depend on
    the strategy (computed once per targets frame)."""
    listed = ", ".join(f"{t} ({d:%Y-%m-%d}, {w:.2%})" for t, d, w in rows[:30])
    more = f" and {len(rows) - 30} more" if len(rows) > 30 else ""
    return rows, listed, more, sum(w for _, _, w in rows)


def _gap_notes(spec, text: tuple, policy: str, notes: list[str]) -> tuple:
    """The data-gap note of one strategy (or the refusal); the names to hold under ``hold``. ``text``: the
    rows and their note parts (`_gap_text`)."""
    rows, listed, more, total = text
    if not rows:
        return ()
    if policy == "refuse":
        raise DataError(f"data_gaps: refuse: strategy {spec.name!r} holds {len(rows)} name(s) whose prices end "
                        f"while they are still {spec.universe.index} members (last price, target weight): "
                        f"{listed}{more}; fix: import the missing prices, end the run before the gap, or set "
                        f"data_gaps: sell (sold at the last close) or hold (held at the last close)")
    action = ("sold at their last close, the cash waits for the next rebalance" if policy == "sell" else
              "held at their last close until the next rebalance, then sold at that close")
    notes.append(f"{spec.name}: DATA GAP: {len(rows)} name(s) have prices ending while still "
                 f"{spec.universe.index} members ({total:.2%} of target weight in all); data_gaps: {policy}: "
                 f"{action}: {listed}{more}")
    return tuple(t for t, _, _ in rows)
