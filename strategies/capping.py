"""Concentration caps on a weight vector, solved exactly.

Every solver takes weights ``w`` (a ``pd.Series`` indexed by unique tickers, non-negative, positive sum; it is
normalised to sum to one first) and returns a Series with the same tickers sorted by ticker, summing to one,
with every cap respected. Zero weights stay zero (nothing is bought that the strategy did not hold).

What "exact" and "minimal change" mean here
-------------------------------------------
Index providers redistribute the weight cut from a capped name *pro rata* to the names that are not capped,
repeating until nothing exceeds its cap. The result of that process is the feasible vector ``x`` closest to
``w`` in relative entropy ``KL(x || w) = sum x_i log(x_i / w_i)``: its optimality (KKT) conditions say that
every name not held at a bound is ``x_i = t * w_i`` for one common factor ``t``, which is exactly "pro rata".
So all solvers here return the KL projection of ``w`` onto the capped set:

- names below their cap keep their relative proportions (one common factor ``t``);
- a capped group is scaled down as a block (proportions inside kept), the rest scaled up;
- a vector that already satisfies the caps comes back unchanged (idempotent), whatever the input order.

The projection is computed in closed form, not by a loop that converges: ``x_i = min(u_i, t * w_i)``, and
the total ``T(t) = sum_i min(u_i, t * w_i)`` (with each capped group's total clipped at its maximum) is a
piecewise-linear non-decreasing function of ``t``. The solver sorts its breakpoints (``t = u_i / w_i``, and
the ``t`` at which a group reaches its maximum), finds the segment where ``T`` crosses 1 by bisection and
solves the linear equation on it. This is the fixed point of iterative water-filling, reached in O(n log n).

The aggregate rule (UCITS 5/10/40, and 35/20-style capped indexes) is not convex: which names may stay above
the threshold is a choice. :func:`cap_aggregate` enumerates it: the optimal set of names allowed above the
threshold is always the ``k`` largest (exchanging a larger and a smaller input weight never increases KL), so
for each ``k`` it solves the convex problem "top ``k`` names <= ``single`` and together <= ``limit``, every
other name <= ``threshold``" exactly and keeps the ``k`` with the smallest KL (ties: the smaller ``k``).

Composition: :func:`apply_caps` runs, in this fixed order, (1) single-name and group caps together
(:func:`cap_groups`), then (2) the aggregate rule (:func:`cap_aggregate`, with the tighter of the two single
caps), and while a constraint is broken repeats (1) with per-name bounds read off (2) (names (2) left above
the threshold at most its ``single``, the others at most the threshold) and (2) again, until every constraint
holds within ``TOL``. The bounds stop the two steps from handing the same weight back and forth: a group's
cut can no longer push names over the threshold. Each step is a minimal-change projection, so the combined
result is feasible and close to ``w``, but the minimal-change guarantee holds per solver, not for the
combination (the cycle can stop at a feasible point that is not the joint KL projection).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from backtest.errors import ConfigError, DataError, Problem
from strategies.projection import project

TOL = 1e-12
"""Absolute tolerance of every constraint and of the sum to one."""

CAP_BINDS = 1e-9
"""A weight the caps move by more than this counts as bound (`caps_bound_note`)."""

AggregateRule = tuple[float, float, float]
"""``(threshold, limit, single)``: no name above ``single``; names above ``threshold`` sum to <= ``limit``."""


class InfeasibleCapsError(DataError):
    """No weight vector over the given names satisfies the caps (e.g. cap x names < 1)."""


# --------------------------------------------------------------------------------------------- public solvers


def caps_bound_note(date: pd.Timestamp, moved) -> tuple[str, ...]:
    """The weighting's note for a date its caps bound, which the run counts (`backtest.plan_notes` reads
    ``"<date>: caps bound: "``): how many weights the caps moved by more than `CAP_BINDS` and the share of
    the portfolio moved (``moved``: each weight's absolute change, a Series or array); ``()`` if none."""
    bound = int((moved > CAP_BINDS).sum())
    if not bound:
        return ()
    return (f"{date:%Y-%m-%d}: caps bound: {bound} weight(s) changed, {moved.sum() / 2:.2%} of the portfolio "
            "moved",)


def cap_single(w: pd.Series, cap: float) -> pd.Series:
    """No name above ``cap``; the excess goes pro rata to the names below the cap (water-filling).

    Parameters
    ----------
    w : pd.Series
        Weights indexed by ticker, non-negative, positive sum (normalised here).
    cap : float
        Maximum weight of any name, in (0, 1].

    Returns
    -------
    pd.Series
        Same tickers sorted, sums to 1, ``x_i = min(cap, t * w_i)`` for one factor ``t``.

    Raises
    ------
    InfeasibleCapsError
        ``cap * n < 1`` for the ``n`` names with positive weight; the message gives the minimum cap ``1/n``.
    """
    _check_fraction("cap", cap)
    x = _prepare(w)
    held = x.to_numpy() > 0
    n = int(held.sum())
    if cap * n < 1 - TOL:
        raise InfeasibleCapsError(
            f"single-name cap {cap:g} is infeasible for {n} names: {n} x {cap:g} = {n * cap:.6g} < 1; "
            f"the minimum feasible cap is 1/{n} = {1 / n:.6g}; raise caps.single to at least that "
            "or widen the universe"
        )
    if x.max() <= cap + TOL:
        return x
    return _assemble(x, held, project(x.to_numpy()[held], np.full(n, float(cap)), []))


def cap_groups(
    w: pd.Series,
    groups: Mapping[str, tuple[Iterable[str], float]],
    single: float | pd.Series | None = None,
    *,
    max_rounds: int = 1000,
) -> pd.Series:
    """Each group's total weight at most its maximum, optionally with a single-name cap, solved together.

    The weight cut from a group goes pro rata to the names outside it (and below their caps); proportions
    inside a capped group are kept (except for names held at the single cap).

    Parameters
    ----------
    w : pd.Series
        Weights indexed by ticker, non-negative, positive sum.
    groups : Mapping[str, tuple[Iterable[str], float]]
        ``{name: (members, max_total)}``. Members absent from ``w`` (or with zero weight) are ignored.
    single : float | pd.Series | None
        Optional single-name cap in (0, 1], or per-name caps (Series indexed by ticker; names it does not list
        are uncapped).
    max_rounds : int
        Only for overlapping groups (see below).

    Returns
    -------
    pd.Series
        Same tickers sorted, sums to 1. For disjoint groups this is the exact minimal-change (KL) solution.
        Groups that share names are handled by cyclic projection (each group in turn, until all hold), which
        converges to a feasible vector but not necessarily the minimal-change one.

    Raises
    ------
    InfeasibleCapsError
        The caps leave less than 100% to place (message lists what each part can hold), or overlapping groups
        could not all be met in ``max_rounds`` rounds.
    """
    x = _prepare(w)
    held = x.to_numpy() > 0
    labels = x.index[held]
    wv = x.to_numpy()[held]
    if isinstance(single, pd.Series):
        upper = single.reindex(labels).fillna(1.0).to_numpy(dtype="float64")
        if not ((upper > 0) & (upper <= 1)).all():
            raise ValueError("per-name caps must be in (0, 1]")
    else:
        if single is not None:
            _check_fraction("single", single)
        upper = np.full(len(wv), 1.0 if single is None else float(single))
    resolved = _resolve_groups(groups, labels)
    if not resolved and not isinstance(single, pd.Series):
        return x if single is None else cap_single(x, single)
    if not _group_violations(x, resolved, single):
        return x
    members = np.zeros(len(wv), dtype=int)
    for _, idx, _ in resolved:
        members[idx] += 1
    if (members <= 1).all():
        _check_group_feasible(resolved, upper, members == 0)
        spec = [(idx, cap) for _, idx, cap in resolved]
        return _assemble(x, held, project(wv, upper, spec))
    for _ in range(max_rounds):
        for _, idx, cap in resolved:
            wv = project(wv, upper, [(idx, cap)])
        if not _group_violations(_assemble(x, held, wv), resolved, single):
            return _assemble(x, held, wv)
    shared = sorted(labels[members > 1])
    raise InfeasibleCapsError(
        f"group caps could not all be met after {max_rounds} rounds; groups overlap on {', '.join(shared)}; "
        f"the caps are probably infeasible together: {'; '.join(_group_violations(x, resolved, single))}; "
        "relax a group maximum or the single cap"
    )


def cap_aggregate(
    w: pd.Series, threshold: float = 0.05, limit: float = 0.40, single: float = 0.10
) -> pd.Series:
    """Aggregate concentration rule: no name above ``single``; names above ``threshold`` sum to <= ``limit``.

    UCITS 5/10/40 is the default (``threshold=0.05, limit=0.40, single=0.10``); a 35/20-style capped index
    (one name up to 35%, every other name at most 20%) is ``threshold=0.20, limit=0.35, single=0.35``.
    "Above" is strict: a name exactly at ``threshold`` does not count towards ``limit``.

    Algorithm (exact minimal-change solution, see the module docstring): for ``k = 0, 1, ...`` let ``A`` be
    the ``k`` largest names (ties broken by ticker); solve exactly "names in ``A`` <= ``single`` and together
    <= ``limit``, names outside ``A`` <= ``threshold``" by pro-rata projection; keep the feasible ``k`` whose
    result is closest to ``w`` in KL divergence. A vector that already satisfies the rule is returned as is.

    Returns
    -------
    pd.Series
        Same tickers sorted, sums to 1.

    Raises
    ------
    InfeasibleCapsError
        Too few names to place 100% under the rule (the message gives the minimum number of names).
    """
    _check_fraction("threshold", threshold)
    _check_fraction("limit", limit)
    _check_fraction("single", single)
    if threshold > single:
        raise ValueError(f"aggregate cap: threshold ({threshold:g}) must not exceed single ({single:g})")
    x = _prepare(w)
    if not _aggregate_violations(x, (threshold, limit, single)):
        return x
    held = x.to_numpy() > 0
    wv = x.to_numpy()[held]
    n = len(wv)
    # descending weight, ties by ticker (x is sorted by ticker, so a stable sort keeps ticker order)
    order = np.argsort(-wv, kind="stable")
    best: tuple[float, np.ndarray] | None = None
    for k in range(0, min(n, math.ceil(limit / threshold)) + 1):
        if _aggregate_capacity(n, k, threshold, limit, single) < 1 - TOL:
            continue
        upper = np.full(n, float(threshold))
        upper[order[:k]] = single
        candidate = project(wv, upper, [(order[:k], float(limit))] if k else [])
        divergence = float(np.sum(candidate * np.log(candidate / wv)))
        if best is None or divergence < best[0] - 1e-14:
            best = (divergence, candidate)
    if best is None:
        capacity = max(_aggregate_capacity(n, k, threshold, limit, single) for k in range(n + 1))
        raise InfeasibleCapsError(
            f"aggregate cap (no name above {single:g}; names above {threshold:g} together at most {limit:g}) "
            f"is infeasible for {n} names: at most {capacity:.6g} of the portfolio can be placed; the rule "
            f"needs at least {_aggregate_min_names(threshold, limit, single)} names with positive weight; "
            "widen the universe or relax the rule"
        )
    return _assemble(x, held, best[1])


def apply_caps(
    w: pd.Series, caps: Any, groups: Mapping[str, Sequence[str]], *, max_rounds: int = 100
) -> pd.Series:
    """Apply a ``Caps`` spec (attributes ``single``, ``groups``, ``aggregate``) to ``w``.

    Order (fixed): single-name and group caps together (:func:`cap_groups`), then the aggregate rule
    (:func:`cap_aggregate`, whose ``single`` is the tighter of ``caps.single`` and ``aggregate.single``);
    then, while a constraint is broken (at most ``max_rounds`` times), the group caps again with per-name
    bounds taken from the aggregate step (names it left above the threshold at most its ``single``, every
    other name at most the threshold), then the aggregate rule again. A ``caps.single`` at or below
    ``aggregate.threshold`` implies the aggregate rule, which is then skipped.

    Parameters
    ----------
    w : pd.Series
        Weights indexed by ticker.
    caps : Caps-like
        ``single: float | None``; ``groups``: pairs ``(group_name, max_total)`` or a mapping of them;
        ``aggregate``: None or an object with ``threshold``, ``limit``, ``single``.
    groups : Mapping[str, Sequence[str]]
        Group name -> members (e.g. ``inputs.groups``).

    Raises
    ------
    InfeasibleCapsError
        From a solver, or if the constraints still conflict after ``max_rounds`` rounds.
    ConfigError
        ``caps.groups`` names a group that ``groups`` does not define.
    """
    single = caps.single
    group_caps = resolve_group_caps(caps.groups, groups)
    rule = None
    agg = caps.aggregate
    if agg is not None and (single is None or single > agg.threshold):
        # a single cap at or below the threshold already implies the rule: no name is above the threshold
        rule = (agg.threshold, agg.limit, agg.single if single is None else min(single, agg.single))
    x = _prepare(w)
    if single is None and not group_caps and rule is None:
        return x
    x = cap_groups(x, group_caps, single)
    for _ in range(max_rounds if rule is not None else 0):
        x = cap_aggregate(x, *rule)
        if not cap_violations(x, single=single, groups=group_caps, aggregate=rule):
            return x
        # the aggregate step left some names above the threshold: in the group step keep those at most
        # rule-single and every other name at most the threshold, so the weight cut from a group is not pushed
        # straight back over the aggregate limit (without this the two steps can bounce for many rounds)
        threshold, _, agg_single = rule
        bounds = pd.Series(np.where(x > threshold + TOL, agg_single, threshold), index=x.index)
        try:
            x = cap_groups(x, group_caps, bounds)
        except InfeasibleCapsError:
            x = cap_groups(x, group_caps, single)
    if not cap_violations(x, single=single, groups=group_caps, aggregate=rule):
        return x
    problems = cap_violations(x, single=single, groups=group_caps, aggregate=rule)
    raise InfeasibleCapsError(
        f"the caps could not all be met together after {max_rounds} rounds ({'; '.join(problems)}); "
        "the group maximum and the aggregate rule conflict on these names: relax one of them"
    )


def resolve_group_caps(
    pairs: Iterable[tuple[str, float]] | Mapping[str, float], groups: Mapping[str, Sequence[str]]
) -> dict[str, tuple[tuple[str, ...], float]]:
    """``caps.groups`` (``(name, max)`` pairs or a mapping) -> ``{name: (members, max)}``."""
    items = pairs.items() if isinstance(pairs, Mapping) else (pairs or ())
    out: dict[str, tuple[tuple[str, ...], float]] = {}
    for name, cap in items:
        if name not in groups:
            known = ", ".join(sorted(groups)) or "none"
            raise ConfigError(Problem("caps.groups", f"unknown group {name!r}; defined groups: {known}"))
        out[name] = (tuple(groups[name]), float(cap))
    return out


def cap_violations(
    w: pd.Series,
    *,
    single: float | pd.Series | None = None,
    groups: Mapping[str, tuple[Iterable[str], float]] | None = None,
    aggregate: AggregateRule | None = None,
    tol: float = TOL,
) -> list[str]:
    """Every broken constraint of ``w`` (as it is, not normalised), one readable line each; empty if all hold.

    Checks: non-negative, sums to 1, no name above ``single`` (a number, or per-name caps as a Series), each
    group total <= its max, and
    ``aggregate = (threshold, limit, single)``: no name above ``single``, names above ``threshold`` together
    at most ``limit``. Every comparison allows ``tol``.
    """
    out = []
    values = w.astype("float64")
    if (values < -tol).any() or values.isna().any():
        out.append("weights must be non-negative and finite")
    if abs(float(values.sum()) - 1) > tol:
        out.append(f"weights sum to {values.sum()!r}, not 1")
    if isinstance(single, pd.Series):
        excess = values - single.reindex(values.index).fillna(1.0)
        if excess.max() > tol:
            name = excess.idxmax()
            out.append(f"{name} at {values[name]:.6g} > its cap {single[name]:g}")
    elif single is not None and values.max() > single + tol:
        out.append(f"{values.idxmax()} at {values.max():.6g} > single cap {single:g}")
    for name, (members, cap) in (groups or {}).items():
        total = float(values.reindex(list(members)).fillna(0).sum())
        if total > cap + tol:
            out.append(f"group {name} at {total:.6g} > {cap:g}")
    if aggregate is not None:
        out += _aggregate_violations(values, aggregate, tol)
    return out


# ------------------------------------------------------------------------------------------------- helpers


def _prepare(w: pd.Series) -> pd.Series:
    """Validate and normalise: float64, unique tickers sorted, non-negative, sums to 1."""
    if not w.index.is_unique:
        duplicated = sorted(set(w.index[w.index.duplicated()]))
        raise ValueError(f"weights must have unique tickers, duplicated: {duplicated}")
    x = w.astype("float64").sort_index()
    if x.isna().any() or (x < 0).any() or not np.isfinite(x.to_numpy()).all():
        raise ValueError("weights must be finite and non-negative")
    total = float(x.sum())
    if total <= 0:
        raise ValueError("weights must have a positive sum")
    return x if total == 1.0 else x / total


def _assemble(x: pd.Series, held: np.ndarray, values: np.ndarray) -> pd.Series:
    """``x`` with its held (positive) entries replaced by ``values``."""
    out = np.zeros(len(x))
    out[held] = values
    return pd.Series(out, index=x.index, name=x.name)


def _check_fraction(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and 0 < value <= 1):
        raise ValueError(f"{name} must be in (0, 1], got {value!r}")


def _resolve_groups(
    groups: Mapping[str, tuple[Iterable[str], float]], labels: pd.Index
) -> list[tuple[str, np.ndarray, float]]:
    """``(name, positions in labels, cap)`` for each group with at least one held member."""
    out = []
    for name, (members, cap) in groups.items():
        _check_fraction(f"group {name} maximum", cap)
        idx = labels.get_indexer(pd.Index(sorted(set(members))))
        idx = np.sort(idx[idx >= 0])
        if len(idx):
            out.append((name, idx, float(cap)))
    return out


def _group_violations(
    x: pd.Series, resolved: list[tuple[str, np.ndarray, float]], single: float | pd.Series | None
) -> list[str]:
    held = x[x > 0]
    groups = {name: (held.index[idx], cap) for name, idx, cap in resolved}
    return cap_violations(x, single=single, groups=groups)


def _check_group_feasible(
    resolved: list[tuple[str, np.ndarray, float]],
    upper: np.ndarray,
    outside: np.ndarray,
) -> None:
    """Raise if disjoint group caps and the per-name caps cannot hold 100% of the portfolio."""
    parts = [(f"group {name} <= {cap:g} ({len(idx)} names)", min(cap, float(upper[idx].sum())))
             for name, idx, cap in resolved]
    n_out = int(outside.sum())
    each = f"{upper[0]:g} each" if (upper == upper[0]).all() else "their caps"
    parts.append((f"{n_out} names outside the groups <= {each}", float(upper[outside].sum())))
    capacity = sum(c for _, c in parts)
    if capacity < 1 - TOL:
        raise InfeasibleCapsError(
            f"the caps are infeasible: at most {capacity:.6g} of the portfolio can be placed "
            f"({'; '.join(p for p, _ in parts)}); raise a group maximum or the single cap, "
            "or widen the universe"
        )


def _aggregate_violations(x: pd.Series, rule: AggregateRule, tol: float = TOL) -> list[str]:
    threshold, limit, single = rule
    out = []
    if x.max() > single + tol:
        out.append(f"{x.idxmax()} at {x.max():.6g} > aggregate single cap {single:g}")
    above = float(x[x > threshold + tol].sum())
    if above > limit + tol:
        out.append(f"names above {threshold:g} sum to {above:.6g} > {limit:g}")
    return out


def _aggregate_capacity(n: int, k: int, threshold: float, limit: float, single: float) -> float:
    """Most weight ``n`` names can hold when ``k`` of them may exceed ``threshold``."""
    return min(limit, k * single) + (n - k) * threshold


def _aggregate_min_names(threshold: float, limit: float, single: float) -> int:
    """Fewest names with which the aggregate rule can hold 100%."""
    n = 1
    while max(_aggregate_capacity(n, k, threshold, limit, single) for k in range(n + 1)) < 1 - TOL:
        n += 1
    return n
