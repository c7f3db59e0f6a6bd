"""The exact kernel behind the cap solvers: KL projection onto per-name bounds and disjoint group caps.

Arrays in, arrays out (no pandas, no tickers); :mod:`strategies.capping` wraps it with Series, validation,
feasibility messages and the aggregate rule. See that module's docstring for why KL is "minimal change".
"""

from __future__ import annotations

import numpy as np


def level(w: np.ndarray, upper: np.ndarray, total: float) -> float:
    """Smallest ``t >= 0`` with ``sum(min(upper, t * w)) == total``; ``w > 0``, ``total <= sum(upper)``.

    Exact: with the breakpoints ``b = upper / w`` sorted,
    ``S(b_j) = sum_{i<=j} upper_i + b_j * sum_{i>j} w_i``; on the first segment where ``S`` reaches
    ``total`` it is linear in ``t``. Sums of the unsaturated weights are taken from the small end (suffix
    sums), never as ``1 - prefix``, so a tiny remaining weight keeps its precision.
    """
    b = upper / w
    order = np.argsort(b, kind="stable")
    b, cu = b[order], np.cumsum(upper[order])
    suffix = np.append(np.cumsum(w[order][::-1])[::-1], 0.0)  # suffix[j] = sum_{i>=j} w_i
    reached = cu + b * suffix[1:] >= total
    if not reached.any():
        return float(b[-1])
    j = int(np.argmax(reached))
    saturated = cu[j - 1] if j else 0.0
    return float((total - saturated) / suffix[j])


def project(w: np.ndarray, upper: np.ndarray, groups: list[tuple[np.ndarray, float]]) -> np.ndarray:
    """KL projection of ``w > 0`` onto ``{x: sum x = 1, x <= upper, sum_g x <= cap_g}``, groups disjoint.

    Returns ``x`` with ``x_i = min(upper_i, t * w_i)`` outside binding groups and ``min(upper_i, t_g * w_i)``
    inside a binding group ``g`` (``t_g <= t`` puts the group exactly at its cap). The caller has checked
    feasibility; if the caps hold just under 1 (within TOL) every name ends at its bound.
    """
    return _project_bounds(w, upper) if not groups else _project_groups(w, upper, groups)


def _project_groups(w: np.ndarray, upper: np.ndarray, groups: list[tuple[np.ndarray, float]]) -> np.ndarray:
    """`project`'s general steps (with or without groups)."""
    free = np.ones(len(w), dtype=bool)
    binding_at = []
    for idx, cap in groups:
        free[idx] = False
        binding_at.append(level(w[idx], upper[idx], cap) if upper[idx].sum() > cap else np.inf)
    binding_at = np.array(binding_at)

    def total(t: float) -> float:
        x = np.minimum(upper, t * w)
        return float(x[free].sum() + sum(min(cap, x[idx].sum()) for idx, cap in groups))

    points = np.unique(np.concatenate([upper / w, binding_at[np.isfinite(binding_at)]]))
    bracket = _bracket(total, points)
    if bracket is None:
        t, binding = float(points[-1]), binding_at <= points[-1]
    else:
        # no breakpoint inside (a, b): which names are saturated and which groups bind is fixed there, and
        # T(t) = C + t * D; read that state at the midpoint and solve C + t * D = 1
        a, b = bracket
        m = (a + b) / 2
        binding = binding_at < m
        moving = upper > m * w
        constant = float(upper[~moving & free].sum())
        slope = float(w[moving & free].sum())
        for (idx, cap), bound in zip(groups, binding):
            constant += cap if bound else float(upper[idx][~moving[idx]].sum())
            slope += 0.0 if bound else float(w[idx][moving[idx]].sum())
        t = (1 - constant) / slope if slope > 0 else b
    x = np.minimum(upper, t * w)
    for (idx, _), t_g, bound in zip(groups, binding_at, binding):
        if bound:
            x[idx] = np.minimum(upper[idx], t_g * w[idx])
    return x


def _bracket(total, points: np.ndarray) -> tuple[float, float] | None:
    """``(a, b)``: the consecutive breakpoints (sorted ``points``; a = 0 before the first) with
    ``total(a) < 1 <= total(b)``, found by bisection; None when even the last breakpoint totals under 1."""
    # invariant: total(points[lo]) < 1 <= total(points[hi]); lo = -1 stands for t = 0
    lo, hi = -1, len(points) - 1
    if total(points[hi]) < 1:
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if total(points[mid]) < 1:
            lo = mid
        else:
            hi = mid
    return (0.0 if lo < 0 else float(points[lo])), float(points[hi])


def _project_bounds(w: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """`project` without groups: the same operations on the same values (every name free, no group level),
    so the same bits, without the masks and group bookkeeping (a sweep's single caps solve this thousands of
    times; tests/strategies/test_capping.py compares the two)."""
    def total(t) -> float:
        return float(np.minimum(upper, t * w).sum())

    points = np.unique(upper / w)
    bracket = _bracket(total, points)
    if bracket is None:
        t = float(points[-1])
    else:
        a, b = bracket
        m = (a + b) / 2
        moving = upper > m * w
        constant = float(upper[~moving].sum())
        slope = float(w[moving].sum())
        t = (1 - constant) / slope if slope > 0 else b
    return np.minimum(upper, t * w)
