"""Cap weights of many strategies on one date at once, for sweeps: the market caps of a date computed once,
then the tilt and the single-name cap of every variant on plain arrays.

`prefill(cfg, inputs, px, shares, memo)` fills `plans.build_plans`' per-date memo with the weights of every
cap-weighted strategy it covers, before the strategies are planned one by one; `plans._targets` then finds
them there instead of calling `strategies.cap_weight.weigh` per strategy and date. Covered: ``weighting:
cap`` with no proxies, an optional tilt by ``multiplier`` and optional caps with ``single`` only (group caps
and the aggregate rule are left to the general path, as is any date on which a step would raise: the
general path then raises its own error).

Exact: every step is the same floating-point operation on the same values, in the same order, as the
pandas steps of `cap_weight.weigh` (``normalise`` divides by the sum; `capping.apply_caps` normalises three
times through ``_prepare``; the cap itself is `strategies.projection.project`, called as `capping.cap_single`
calls it), so the weights are equal bit for bit; the notes come from the same functions
(`cap_weight.market_caps`, `cap_weight.apply_tilt`). tests/test_plans_batch.py checks both on the snapshot.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

import numpy as np
import pandas as pd


def covered(spec) -> bool:
    """Whether `prefill` computes this strategy's weights."""
    if spec.weighting != "cap" or spec.proxies:
        return False
    tilt = getattr(spec, "tilt", None)
    if tilt is not None and tilt.multiplier is None:
        return False
    caps = getattr(spec, "caps", None)
    return caps is None or (not caps.groups and caps.aggregate is None)


def prefill(cfg, inputs, px: pd.DataFrame, shares, memo: dict, key_of, *, min_group: int = 2) -> None:
    """Put ``("weights", weighting key, date, (), universe) -> Weights`` into ``memo`` for the covered
    cap-weighted strategies of ``cfg`` that share a universe with at least ``min_group - 1`` other distinct
    weighting keys (a lone strategy gains nothing), on every date any of them rebalances on. ``key_of``:
    `plans.weighting_key` (passed in: this module sits below `plans`)."""
    from strategies.base import DecisionInputs
    from strategies.cap_weight import apply_tilt, market_caps

    from .schedule import calendar_dates
    from .universe import resolve_universe

    if shares is None:
        return
    by_universe: dict = defaultdict(dict)
    for spec in cfg.strategies:
        if covered(spec):
            key = key_of(spec)
            if key is not None:
                by_universe[spec.universe].setdefault(key, (spec, set()))[1].update(
                    calendar_dates(inputs.calendar, spec.rebalance))
    groups = dict(cfg.groups)
    for universe_spec, specs in by_universe.items():
        if len(specs) < min_group:
            continue
        dates = sorted(set().union(*(d for _, d in specs.values())))
        for date in dates:
            ukey = ("universe", universe_spec, date, ())
            if ukey not in memo:
                memo[ukey] = resolve_universe(universe_spec, date, inputs.membership, groups, px.loc[date])
            universe = tuple(memo[ukey].tickers)
            if not universe:
                continue
            todo = [(key, spec) for key, (spec, on) in specs.items()
                    if date in on and ("weights", key, date, (), universe) not in memo]
            if not todo:
                continue
            bkey = ("cap base", date, universe)
            if bkey not in memo:
                sh = shares.shares.loc[date].dropna()
                decision = DecisionInputs(date=date, history=px.loc[:date], shares=sh, universe=universe,
                                          groups=groups)
                try:
                    caps, notes = market_caps(decision)
                except Exception:  # noqa: BLE001 - the general path raises it, with its own message
                    memo[bkey] = None
                    continue
                base = caps.astype("float64")
                base = base / float(base.sum())                      # strategies.base.normalise
                # apply_tilt reads only the date and the groups: keep no price history in the memo
                light = dataclasses.replace(decision, history=px.iloc[:0], shares=sh.iloc[:0])
                memo[bkey] = (light, base, notes, {})
            if memo[bkey] is None:
                continue
            decision, base, notes, tilt_notes = memo[bkey]
            for key, spec in todo:
                weights = _weigh(spec, base, decision, tilt_notes, apply_tilt)
                if weights is not None:
                    memo[("weights", key, date, (), universe)] = weights._replace_notes(notes)


class _Result:
    """A `strategies.base.Weights` under construction (its notes are added last)."""

    def __init__(self, series: pd.Series, extra_notes: tuple[str, ...]):
        self.series, self.extra = series, extra_notes

    def _replace_notes(self, notes: tuple[str, ...]):
        from strategies.base import Weights

        return Weights(self.series, tuple(notes) + self.extra)


def _weigh(spec, base: pd.Series, decision, tilt_notes: dict, apply_tilt) -> _Result | None:
    """`cap_weight.weigh` after `market_caps`, on arrays; None when a step would raise (general path)."""
    from strategies.capping import TOL
    from strategies.projection import project

    labels = base.index
    w = base.to_numpy()
    extra: tuple[str, ...] = ()
    tilt = getattr(spec, "tilt", None)
    if tilt is not None:
        if tilt.group not in decision.groups:
            return None
        if tilt.group not in tilt_notes:      # which members are present: the same for every multiplier
            try:
                _, notes = apply_tilt(base, tilt, decision)
            except Exception:  # noqa: BLE001 - the general path raises it, with its own message
                return None
            present = [t for t in decision.groups[tilt.group] if t in labels]
            tilt_notes[tilt.group] = (labels.isin(present), bool(present), tuple(notes))
        inside, any_present, notes = tilt_notes[tilt.group]
        extra = notes
        if any_present:
            if tilt.multiplier < 0:
                return None
            w = np.where(~inside, w, w * tilt.multiplier)
            w = w / float(w.sum())
    caps = getattr(spec, "caps", None)
    if caps is not None:
        w = _prepare(w)                       # apply_caps
        single = caps.single
        if single is not None:
            w = _prepare(w)                   # cap_groups
            w = _prepare(w)                   # cap_single
            held = w > 0
            n = int(held.sum())
            if not (isinstance(single, (int, float)) and 0 < single <= 1) or single * n < 1 - TOL:
                return None
            if w.max() > single + TOL:
                out = np.zeros(len(w))
                out[held] = project(w[held], np.full(n, float(single)), [])
                w = out
            if w.max() > single + TOL or (w < -TOL).any() or abs(float(w.sum()) - 1) > TOL:
                return None                   # cap_violations would raise: the general path says why
    keep = w > 0                              # strategies.base.finalise
    series = pd.Series(w[keep], index=labels[keep], dtype="float64")
    if abs(float(series.sum()) - 1.0) > 1e-12:
        return None
    series.index.name = "ticker"
    series.name = "weight"
    return _Result(series, extra)


def _prepare(w: np.ndarray) -> np.ndarray:
    """`capping._prepare` on an array already sorted by ticker, finite and non-negative."""
    total = float(w.sum())
    return w if total == 1.0 else w / total
