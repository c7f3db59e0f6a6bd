"""The weights stage's notes: what `plans.build_plans` tells the user about how each strategy's weights
were formed (drift-band trades, members left out, caps that bound, point-in-time groups, the per-date notes of
the strategy families folded into one line per kind), and the message for an empty universe. Pure text from
values the planner hands over."""

from __future__ import annotations

import re
from collections import Counter

import pandas as pd

from .plan_basis import basis_notes


def finish_notes(spec, groups, notes, dates, candidates, missing, outside, strategy_notes, basis, *,
                 memo=None) -> None:
    """Add one strategy's planning notes to ``notes`` (``memo``: `build_plans`' memo, for the lines that
    strategies sharing a universe and tilt group share)."""
    if spec.rebalance.drift is not None:
        notes.append(f"{spec.name}: drift bands traded on {len(dates)} of {len(candidates)} check dates")
    if missing:
        top = ", ".join(f"{t} ({n})" for t, n in missing.most_common())
        notes.append(f"{spec.name}: {len(missing)} member(s) had no price on some rebalance dates and were left "
                     f"out of those dates' targets, so a position held in one is sold at that rebalance's fill "
                     f"if it has a price there (dates missed in brackets): {top}")
    if spec.weighting in ("cap", "inverse_vol", "min_variance", "risk_parity", "hrp") and \
            getattr(spec, "caps", None) is not None:
        bound = {n[:10] for n in strategy_notes if n[10:24] == ": caps bound: "}
        strategy_notes = [n for n in strategy_notes if n[10:24] != ": caps bound: "]
        k = sum(f"{d:%Y-%m-%d}" in bound for d in dates)
        notes.append(f"{spec.name}: caps {caps_text(spec.caps)} bound on {k} of {len(dates)} rebalance dates"
                     + (f"; the weights equal uncapped {spec.weighting} weighting" if k == 0 else ""))
    if outside:
        top = ", ".join(f"{t} ({n})" for t, n in outside.most_common())
        notes.append(f"{spec.name}: point-in-time group(s) {', '.join(groups_named(spec, groups))}: members "
                     f"not in the S&P 500 on some of the {len(dates)} rebalance dates were left out there "
                     f"(dates missed in brackets; `membership: static` holds them): {top}")
    key = ("summary", tuple(strategy_notes))     # weightings of one universe and tilt group share their notes
    lines = memo.get(key) if memo is not None else None
    if lines is None:
        lines = summarize_notes(strategy_notes)
        if memo is not None:
            memo[key] = lines
    notes.extend(f"{spec.name}: {line}" for line in lines)
    method = getattr(spec, "shares", "point_in_time")
    if basis is not None and "share_refresh_turnover" in basis.columns:
        key = ("basis notes", method, id(basis))        # the same for every strategy sharing the frame
        hit = memo.get(key) if memo is not None else None
        if hit is None or hit[0] is not basis:
            hit = (basis, basis_notes(method, basis))
            if memo is not None:
                memo[key] = hit
        notes.extend(f"{spec.name}: {line}" for line in hit[1])


def unpriced_why(missing, date: pd.Timestamp, px: pd.DataFrame) -> str:
    """Why a universe of `missing` tickers (none priced on `date`) is empty there, and the fix: prices that
    end before `date` call for an earlier end, prices that start after it for a later start (a message only;
    the weights never see `px` beyond `date`)."""
    ended, late, gaps = {}, {}, []
    for t in missing:
        col = px[t] if t in px.columns else pd.Series(dtype=float)
        before, after = col.loc[:date].last_valid_index(), col.loc[date:].first_valid_index()
        if before is not None and after is None:
            ended[t] = before
        elif before is None and after is not None:
            late[t] = after
        elif before is not None:
            gaps.append(t)
    if not missing or len(ended) + len(late) + len(gaps) < len(missing):
        return "no member has a price); fix: start later or widen the universe"
    parts, fixes = [], []
    if ended:
        last = max(ended.values())
        parts.append("prices end before it: " + ", ".join(f"{t} (last price {d:%Y-%m-%d})" for t, d in ended.items()))
        fixes.append(f"end the run earlier (`end: {last:%Y-%m-%d}` or before)")
    if late:
        first = min(late.values())
        parts.append("prices start after it: " + ", ".join(f"{t} (first price {d:%Y-%m-%d})" for t, d in late.items()))
        fixes.append(f"start later (`start: {first:%Y-%m-%d}` or after)")
    if gaps:
        parts.append(f"a gap in the prices of {', '.join(gaps)}")
        fixes.append("import the missing prices (bt data import FILE)")
    return f"no member has a price: {'; '.join(parts)}); fix: {', or '.join(fixes)}, or choose other tickers"


_DATED = re.compile(r"(\d{4}-\d{2}-\d{2}): (.*)", re.S)
_NAMES = re.compile(r"[A-Z0-9.~\-]+(, [A-Z0-9.~\-]+)*")


def summarize_notes(notes: list[str]) -> list[str]:
    """Fold per-date strategy notes ("2016-01-04: cap weights: 3 of 430 ... left out: JEF, TNL") into one
    line per kind of note: how many dates, the first and last, and every name with its count of dates."""
    kinds: dict[str, dict] = {}
    for note in notes:
        m = _DATED.fullmatch(note)
        date, text = m.groups() if m else ("", note)
        head, sep, names = text.rpartition(": ")
        if not (sep and _NAMES.fullmatch(names)):
            head, names = text, ""
        key = re.sub(r"\d+", "#", head)
        k = kinds.setdefault(key, {"head": head, "dates": [], "names": Counter()})
        k["dates"].append(date)
        k["names"].update(n for n in names.split(", ") if n)
    out = []
    for k in kinds.values():
        dates = sorted(d for d in k["dates"] if d)
        line = k["head"]
        if len(dates) > 1:
            line += f" [on {len(dates)} rebalance dates, {dates[0]} .. {dates[-1]}; counts as on {dates[0]}]"
        elif dates:
            line = f"{dates[0]}: {line}"
        if k["names"]:
            line += ": " + ", ".join(f"{n} ({c})" if len(dates) > 1 else n for n, c in k["names"].most_common())
        out.append(line)
    return out


def caps_text(caps) -> str:
    """``single 5%, aggregate 5/10/40`` (threshold/single/limit in percent), ``group mag7 30%``."""
    parts = [f"single {caps.single:.4g}".rstrip()] if caps.single is not None else []
    parts += [f"group {g} {v:.4g}" for g, v in dict(caps.groups).items()]
    if caps.aggregate is not None:
        a = caps.aggregate
        parts.append(f"aggregate {a.threshold * 100:g}/{a.single * 100:g}/{a.limit * 100:g}")
    return "(" + ", ".join(parts) + ")"


def group_membership_notes(spec, groups) -> list[str]:
    """Say how the groups a universe names are resolved (point in time or static) and how equal weights
    count share classes."""
    out = []
    named = groups_named(spec, groups)
    if named and spec.universe.membership == "static":
        out.append(f"{spec.name}: group(s) {', '.join(named)} held as listed on every date (membership: "
                   "static), whether or not their members were S&P 500 members then")
    elif named:
        which = ("in today's S&P 500 list" if spec.universe.membership == "current"
                 else "in the S&P 500 on each rebalance date")
        out.append(f"{spec.name}: group(s) {', '.join(named)} resolved by index membership: only their members "
                   f"{which} are held (membership: {spec.universe.membership})")
    return out


def groups_named(spec, groups) -> list[str]:
    from .universe import group_refs

    return group_refs(spec.universe.tickers, groups) if spec.universe is not None else []
