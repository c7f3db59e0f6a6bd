"""Market-cap weights, with an optional tilt of one group (e.g. Mag 7 overweight) and optional caps.

The steps, each a plain function on a weight Series indexed by ticker::

    caps, notes = market_caps(inputs)          # select: universe names with a share count
    weights = normalise(caps)                  # weigh: cap weights
    weights = tilt_multiplier(...) | tilt_group_weight(...)   # tilt, if the spec has one
    weights = apply_caps(weights, spec.caps, inputs.groups)   # constrain, last: caps always win

Caps are applied after the tilt, so a group cap can undo part of a tilt on the same group (``tilt`` to 40%
with a 25% cap on the group gives 25%); that is deliberate: a cap is a hard limit.

Market cap is ``shares * price on the date`` (shares in the store's adjusted-price units). Universe tickers
without a positive share count are left out of the weights and reported in the notes, never silently.

A tilt with ``inside: equal`` gives each *company* of the group an equal slot (``spec.per``, default
``"company"``: Alphabet's GOOG and GOOGL share one slot, split by their caps from share counts observed on or
before the date, as in `strategies.equal_weight`); ``per: "line"`` gives every share-class line its own slot.
GOOG and GOOGL are separate share classes with separate share counts; if the share source gives each class
the whole company's count (the snapshot's ``marketcap_snapshots`` does), Alphabet is double counted: fix
that in the share data, not here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from backtest.errors import ConfigError, DataError, Problem
from strategies.base import SUM_TOLERANCE, DecisionInputs, Weights, finalise, normalise
from strategies.capping import TOL, InfeasibleCapsError, apply_caps, caps_bound_note
from strategies.projection import project
from strategies.equal_weight import class_caps, equal_slots, fill_slots, split_note


def market_caps(inputs: DecisionInputs) -> tuple[pd.Series, tuple[str, ...]]:
    """Market caps of the universe on ``inputs.date``: Series indexed by ticker (sorted) and notes.

    Tickers without a positive, finite share count are excluded and named in a note.

    Raises
    ------
    DataError
        No universe ticker has a share count (nothing to weigh).
    """
    if "market_caps" not in inputs.cache:  # the same for every strategy weighing these inputs
        inputs.cache["market_caps"] = _market_caps(inputs)
    return inputs.cache["market_caps"]


def _market_caps(inputs: DecisionInputs) -> tuple[pd.Series, tuple[str, ...]]:
    universe = pd.Index(sorted(set(inputs.universe)))
    prices = inputs.last_prices()
    values = (_aligned(inputs.shares, universe) * _aligned(prices, universe)).astype("float64")
    good = ~np.isnan(values) & (values > 0)
    caps = pd.Series(values, index=universe, name=prices.name)
    missing = universe[~good].tolist()
    notes = ()
    if missing:
        notes = (
            f"{inputs.date:%Y-%m-%d}: cap weights: {len(missing)} of {len(universe)} universe tickers have "
            f"no share count and were left out: {', '.join(missing)}",
        )
    if not good.any():
        raise DataError(
            f"cap weights on {inputs.date:%Y-%m-%d}: none of the {len(universe)} universe tickers has a "
            "share count; import share data (bt data import) or choose dates the share data covers"
        )
    return caps[good], notes


def _aligned(values: pd.Series, names: pd.Index) -> np.ndarray:
    """``values.reindex(names).to_numpy()`` (NaN where a name is absent), on arrays: one call per date."""
    pos = values.index.get_indexer(names)
    return np.where(pos >= 0, values.to_numpy()[pos] if len(values) else np.nan, np.nan)


def tilt_multiplier(weights: pd.Series, members: Sequence[str], multiplier: float) -> pd.Series:
    """Multiply the weights of ``members`` (those present in ``weights``) by ``multiplier``, renormalise.

    ``weights``: Series indexed by ticker summing to 1. Returns the same index.
    """
    if multiplier < 0:
        raise ValueError(f"tilt multiplier must be >= 0, got {multiplier!r}")
    inside = weights.index.isin(list(members))
    return normalise(weights.where(~inside, weights * multiplier))


def tilt_group_weight(
    weights: pd.Series, members: Sequence[str], total: float, inside: str = "cap", *,
    per: str = "company", class_caps: pd.Series | None = None,
) -> pd.Series:
    """Give the ``members`` present in ``weights`` exactly ``total`` together; the rest get ``1 - total``.

    Inside the group the split is by cap weight (``inside="cap"``) or equal (``"equal"``): one equal slot per
    company (``per="company"``; a company's share classes split their slot by ``class_caps``, Series indexed
    by ticker, or equally where a class has none) or per line (``per="line"``). Outside, names keep their
    cap-weight proportions. ``weights``: Series indexed by ticker summing to 1, with at least one member and
    (if ``total < 1``) one non-member present. Returns the same index.
    """
    if not 0 <= total <= 1:
        raise ValueError(f"tilt weight must be in [0, 1], got {total!r}")
    if inside not in ("cap", "equal"):
        raise ValueError(f"tilt inside must be 'cap' or 'equal', got {inside!r}")
    mask = weights.index.isin(list(members))
    if inside == "cap":
        group = normalise(weights[mask]) * total
    else:
        group, _ = fill_slots(equal_slots(weights.index[mask], per), class_caps, total)
    rest = weights[~mask]
    out = pd.concat([group, normalise(rest) * (1 - total) if len(rest) else rest])
    return out.reindex(weights.index)


def tilt_members(tilt: Any, inputs: DecisionInputs, names: Sequence[str]) -> tuple[list[str], list[str]]:
    """The members of the tilt's group among ``names`` (the weighted tickers), in the group's order, and the
    notes: members not weighted, or none present (then no tilt applies). Raises ConfigError for an unknown
    group."""
    day = f"{inputs.date:%Y-%m-%d}"
    if tilt.group not in inputs.groups:
        known = ", ".join(sorted(inputs.groups)) or "none"
        raise ConfigError(Problem("tilt.group", f"unknown group {tilt.group!r}; defined groups: {known}"))
    members = tuple(inputs.groups[tilt.group])
    present = [t for t in members if t in names]
    absent = [t for t in members if t not in names]
    notes: list[str] = []
    if absent:
        notes.append(f"{day}: tilt: {len(absent)} member(s) of group {tilt.group} not weighted "
                     f"(not in the universe or no share count), ignored: {', '.join(absent)}")
    if not present:
        notes.append(f"{day}: tilt: no member of group {tilt.group} is in the weights; no tilt applied")
    return present, notes


def apply_tilt(weights: pd.Series, tilt: Any, inputs: DecisionInputs,
               per: str = "company") -> tuple[pd.Series, tuple[str, ...]]:
    """Apply a ``Tilt`` spec (``group``, ``multiplier`` or ``weight``, ``inside``) to cap ``weights``;
    ``per`` says what an equal split inside the group counts (``"company"`` or ``"line"``).

    Group members not in ``weights`` (not in the universe, or without shares) are ignored and noted; if no
    member is present the weights are returned unchanged with a note.
    """
    day = f"{inputs.date:%Y-%m-%d}"
    present, notes = tilt_members(tilt, inputs, weights.index)
    if not present:
        return weights, tuple(notes)
    lead_days = getattr(tilt, "while_leading", None)
    if lead_days:
        from strategies.signals import group_leads

        leads, group, rest = group_leads(inputs, present, weights.index, lead_days)
        if not leads:
            notes.append(f"{day}: tilt off: group {tilt.group}'s trailing {lead_days}-day return (equal-weighted) "
                         "does not beat the rest's")
            return weights, tuple(notes)
    if tilt.multiplier is not None:
        return tilt_multiplier(weights, present, tilt.multiplier), tuple(notes)
    if len(present) == len(weights) and tilt.weight < 1:
        notes.append(f"{day}: tilt: every weighted name is in group {tilt.group}; it gets 100%, "
                     f"not {tilt.weight:g}")
        return weights, tuple(notes)
    caps = None
    if tilt.inside == "equal":
        multi = [t for lines in equal_slots(present, per).values() if len(lines) > 1 for t in lines]
        caps = class_caps(inputs, multi) if multi else None
        _, equal_split = fill_slots(equal_slots(present, per), caps, tilt.weight)
        if equal_split:
            notes.append(split_note(inputs.date, equal_split))
    out = tilt_group_weight(weights, present, tilt.weight, tilt.inside, per=per, class_caps=caps)
    return out, tuple(notes)


def weigh(spec: Any, inputs: DecisionInputs) -> Weights:
    """Cap weights of ``inputs.universe``, tilted by ``spec.tilt``, capped by ``spec.caps`` (both optional).

    Returns
    -------
    Weights
        ``weights`` indexed by ticker (sorted, zero weights dropped), summing to 1; ``notes`` name the tickers
        left out for lack of a share count and any tilt-group members that could not be tilted.

    Raises
    ------
    DataError
        No universe ticker has a share count.
    InfeasibleCapsError
        The caps cannot be met over the weighted names (a ``DataError``).
    """
    caps, notes = market_caps(inputs)
    fast = _weigh_arrays(spec, inputs, caps, notes)
    return fast if fast is not None else _weigh_series(spec, inputs, caps, notes)


def _weigh_series(spec: Any, inputs: DecisionInputs, caps: pd.Series, notes: tuple[str, ...]) -> Weights:
    """`weigh`'s steps on Series, for every case (`_weigh_arrays` does the common ones faster)."""
    weights = normalise(caps)
    tilt = getattr(spec, "tilt", None)
    if tilt is not None:
        per = getattr(spec, "per", "company") or "company"
        weights, tilt_notes = apply_tilt(weights, tilt, inputs, per)
        notes += tilt_notes
    caps_spec = getattr(spec, "caps", None)
    if caps_spec is not None:
        try:
            capped = apply_caps(weights, caps_spec, inputs.groups)
            moved = capped.reindex(weights.index, fill_value=0.0).sub(weights).abs()
            notes += caps_bound_note(inputs.date, moved)      # the run counts the dates its caps bound
            weights = capped
        except InfeasibleCapsError as exc:  # say which strategy and which date, as the run reports it
            name = getattr(spec, "name", None)
            who = f"strategy {name!r}" if name else "cap weights"
            raise InfeasibleCapsError(f"{who} on {inputs.date:%Y-%m-%d}: {exc}") from None
    return Weights(finalise(weights), notes)


def _weigh_arrays(spec: Any, inputs: DecisionInputs, caps: pd.Series, notes: tuple[str, ...]) -> Weights | None:
    """`weigh` on numpy arrays for the common case (no tilt or a ``multiplier`` tilt without
    ``while_leading``; caps with ``single`` only, or none): the same operations in the same order as the
    Series steps (normalise, tilt, the three normalisations of `apply_caps` -> `cap_groups` -> `cap_single`,
    `project`, `finalise`), so the same bits, without their per-call pandas overhead (sweeps weigh thousands
    of times; tests/test_cap_weight_arrays.py checks equality). None: another case, or an input the Series
    steps reject (they then raise their own message)."""
    tilt, caps_spec = getattr(spec, "tilt", None), getattr(spec, "caps", None)
    if tilt is not None and (tilt.multiplier is None or getattr(tilt, "while_leading", None)
                             or tilt.group not in inputs.groups or tilt.multiplier < 0):
        return None
    single = None if caps_spec is None else caps_spec.single
    if caps_spec is not None and (caps_spec.groups or caps_spec.aggregate is not None
                                  or not (single is None or isinstance(single, (int, float)) and 0 < single <= 1)):
        return None
    tilted = _tilted(tilt, inputs, caps)
    if tilted is None:
        return None
    w, tilt_notes = tilted
    notes += tilt_notes
    if caps_spec is not None:
        capped = w
        for _ in range(1 if single is None else 3):     # apply_caps, cap_groups and cap_single each normalise
            total = float(capped.sum())
            capped = capped if total == 1.0 else capped / total
        if single is not None:
            held = capped > 0
            n = int(held.sum())
            if single * n < 1 - TOL:
                return None                              # infeasible: the Series steps raise the message
            if capped.max() > single + TOL:
                out = np.zeros(len(capped))
                out[held] = project(capped[held], np.full(n, float(single)), [])
                capped = out
        if (capped < -TOL).any() or abs(float(capped.sum()) - 1) > TOL or (
                single is not None and capped.max() > single + TOL):
            return None                                  # apply_caps's final check fails: it raises
        notes += caps_bound_note(inputs.date, np.abs(capped - w))
        w = capped
    keep = w > 0
    if abs(float(w[keep].sum()) - 1.0) > SUM_TOLERANCE:
        return None
    if keep.all():      # the usual case: every name kept, the index shared by the strategies of these inputs
        if "cap index" not in inputs.cache:
            inputs.cache["cap index"] = caps.index.rename("ticker")
        index = inputs.cache["cap index"]
    else:
        index = caps.index[keep].rename("ticker")
    return Weights(pd.Series(w[keep], index=index, name="weight"), notes)


def _tilted(tilt: Any, inputs: DecisionInputs, caps: pd.Series) -> tuple[np.ndarray, tuple[str, ...]] | None:
    """Normalised cap weights of ``caps`` after the ``multiplier`` tilt (or none) and the tilt's notes; None
    where a normalisation would raise. Once per tilt group and multiplier for the strategies sharing these
    inputs (a sweep's variants differ in their caps; the arrays are never modified in place)."""
    key = ("tilted", None if tilt is None else (tilt.group, tilt.multiplier))
    if key not in inputs.cache:
        w, notes = _normalised(caps.to_numpy(dtype="float64")), ()
        if w is not None and tilt is not None:
            inside, notes = _tilt_mask(tilt, inputs, caps)
            if inside is not None:
                w = _normalised(np.where(inside, w * tilt.multiplier, w))
        inputs.cache[key] = None if w is None else (w, notes)
    return inputs.cache[key]


def _tilt_mask(tilt: Any, inputs: DecisionInputs, caps: pd.Series) -> tuple[np.ndarray | None, tuple[str, ...]]:
    """Which of ``caps``' names (the weighted tickers of `market_caps`) are tilted (None: no member present)
    and `tilt_members`' notes; once per group for the strategies sharing these inputs."""
    key = ("tilt mask", tilt.group)
    if key not in inputs.cache:
        names = caps.index.tolist()
        present, notes = tilt_members(tilt, inputs, set(names))
        chosen = set(present)
        inside = np.fromiter((t in chosen for t in names), dtype=bool, count=len(names)) if present else None
        inputs.cache[key] = (inside, tuple(notes))
    return inputs.cache[key]


def _normalised(values: np.ndarray) -> np.ndarray | None:
    """`strategies.base.normalise` on an array; None where it would raise."""
    total = float(values.sum())
    if not np.isfinite(total) or total <= 0 or (values < 0).any():
        return None
    return values / total
