"""Invariants of the cap solvers on random weight vectors and feasible caps (hypothesis).

For every solver: weights non-negative and summing to 1, every cap respected (1e-12), zero weights stay
zero, the result does not depend on the input order, capping a capped vector changes nothing, and names
below their cap keep their relative proportions.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from strategies.capping import TOL, apply_caps, cap_aggregate, cap_groups, cap_single, cap_violations
from strategies.projection import project

from .specs import AggregateCap, Caps

SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def weights(draw, min_size: int = 1, max_size: int = 40) -> pd.Series:
    """Positive-sum weights over tickers T000.., some zero, raw (not normalised), log-uniform over 1e-6..1
    (concentrated like index weights, so caps bind), with ties from the "equal" draws."""
    n = draw(st.integers(min_size, max_size))
    value = st.one_of(st.just(0.0), st.just(0.5), st.floats(-14, 0).map(math.exp))
    values = draw(
        st.lists(value, min_size=n, max_size=n).filter(lambda v: sum(x > 0 for x in v) >= min_size)
    )
    return pd.Series(values, index=[f"T{i:03d}" for i in range(n)], dtype="float64")


def shuffled(draw, w: pd.Series) -> pd.Series:
    return w.iloc[draw(st.permutations(range(len(w))))]


def check_basics(out: pd.Series, w: pd.Series) -> None:
    assert out.index.tolist() == sorted(w.index)
    assert (out >= 0).all()
    assert abs(out.sum() - 1) <= TOL
    assert (out[w.reindex(out.index) == 0] == 0).all()  # nothing bought that was not held


def check_idempotent(again: pd.Series, out: pd.Series) -> None:
    np.testing.assert_allclose(again.to_numpy(), out.to_numpy(), rtol=0, atol=1e-15)


def assert_common_ratio(out: pd.Series, w: pd.Series, names) -> None:
    """``out / w`` is one number over ``names`` (their relative proportions are kept)."""
    names = [t for t in names if w[t] > 0]
    if len(names) > 1:
        ratio = (out[names] / (w[names] / w.sum())).to_numpy()
        np.testing.assert_allclose(ratio, ratio[0], rtol=1e-9)


# ---------------------------------------------------------------------------------------------- single


@SETTINGS
@given(data=st.data())
def test_single_cap_invariants(data):
    w = data.draw(weights())
    n = int((w > 0).sum())
    largest = w.max() / w.sum()
    cap = max(data.draw(st.floats(1 / n, max(1 / n, min(1.0, 1.2 * largest)))), 1 / n)
    event(f"binding: {largest > cap}")
    out = cap_single(w, cap)
    check_basics(out, w)
    assert out.max() <= cap + TOL
    pd.testing.assert_series_equal(cap_single(shuffled(data.draw, w), cap), out, check_exact=True)
    check_idempotent(cap_single(out, cap), out)
    below = out.index[(out < cap - TOL)]
    assert_common_ratio(out, w, below)
    at_cap = out.index[(out >= cap - TOL) & (w > 0)]
    if len(at_cap) and len(below):  # water-filling caps the largest names first
        assert w[at_cap].min() >= w[below].max() * (1 - 1e-9)


# ---------------------------------------------------------------------------------------------- groups


@st.composite
def group_case(draw):
    w = draw(weights(min_size=2))
    held = w.index[w > 0]
    labels = draw(st.lists(st.integers(-1, 2), min_size=len(w), max_size=len(w)))
    groups = {}
    for g in range(3):
        members = [t for t, label in zip(w.index, labels) if label == g]
        if members:
            share = w[members].sum() / w.sum()
            groups[f"g{g}"] = (members, draw(st.floats(0.02, max(0.02, min(1.0, 1.2 * share)))))
    single = draw(st.one_of(st.none(), st.floats(0.02, 1.0)))
    upper = 1.0 if single is None else single
    capacity = sum(min(cap, upper * len(set(m) & set(held))) for m, cap in groups.values())
    outside = set(held) - {t for m, _ in groups.values() for t in m}
    capacity += upper * len(outside)
    assume(capacity >= 1 + 1e-9)
    return w, groups, single


@SETTINGS
@given(case=group_case(), data=st.data())
def test_group_cap_invariants(case, data):
    w, groups, single = case
    event(f"binding: {bool(cap_violations(w / w.sum(), single=single, groups=groups))}")
    out = cap_groups(w, groups, single)
    check_basics(out, w)
    assert cap_violations(out, single=single, groups=groups) == []
    pd.testing.assert_series_equal(cap_groups(shuffled(data.draw, w), groups, single), out, check_exact=True)
    check_idempotent(cap_groups(out, groups, single), out)
    upper = 1.0 if single is None else single
    below = set(out.index[out < upper - TOL])
    binding = {name for name, (m, cap) in groups.items() if out[m].sum() >= cap - 1e-12}
    in_binding = {t for name in binding for t in groups[name][0]}
    assert_common_ratio(out, w, sorted(below - in_binding))  # the free names share one factor
    for name in binding:  # and inside a capped group, the names below the single cap keep proportions
        assert_common_ratio(out, w, sorted(below & set(groups[name][0])))


# ------------------------------------------------------------------------------------------- aggregate


@st.composite
def aggregate_case(draw, max_size: int = 40):
    threshold = draw(st.floats(0.02, 0.3))
    single = draw(st.floats(threshold, 1.0))
    limit = draw(st.floats(single, 1.0))
    w = draw(weights(min_size=2, max_size=max_size))
    n = int((w > 0).sum())
    capacity = max(min(limit, k * single) + (n - k) * threshold for k in range(n + 1))
    assume(capacity >= 1 + 1e-9)
    return w, (threshold, limit, single)


@SETTINGS
@given(case=aggregate_case(), data=st.data())
def test_aggregate_cap_invariants(case, data):
    w, rule = case
    event(f"binding: {bool(cap_violations(w / w.sum(), aggregate=rule))}")
    out = cap_aggregate(w, *rule)
    check_basics(out, w)
    assert cap_violations(out, aggregate=rule) == []
    pd.testing.assert_series_equal(cap_aggregate(shuffled(data.draw, w), *rule), out, check_exact=True)
    check_idempotent(cap_aggregate(out, *rule), out)
    threshold, _, single = rule
    small = out.index[(out < threshold - TOL)]
    # names below the threshold that are not among the names allowed above it share one factor: check it on
    # those smaller (by input weight) than every name the solver kept above the threshold
    above = out.index[out > threshold + TOL]
    if len(above):
        small = [t for t in small if w[t] < w[above].min()]
    assert_common_ratio(out, w, small)


@settings(max_examples=40, deadline=None)
@given(case=aggregate_case(max_size=8))
def test_aggregate_cap_is_the_minimal_change_over_every_threshold_set(case):
    """Brute force: no set of names allowed above the threshold gives a smaller KL divergence."""
    w, (threshold, limit, single) = case
    out = cap_aggregate(w, threshold, limit, single)
    x = w[w > 0] / w.sum()
    divergence = float((out[x.index] * np.log(out[x.index] / x)).sum())
    n = len(x)
    for k in range(n + 1):
        if min(limit, k * single) + (n - k) * threshold < 1 - TOL:
            continue
        for chosen in itertools.combinations(range(n), k):
            idx = np.array(chosen, dtype=int)
            upper = np.full(n, threshold)
            upper[idx] = single
            y = project(x.to_numpy(), upper, [(idx, limit)] if k else [])
            assert divergence <= float(np.sum(y * np.log(y / x.to_numpy()))) + 1e-12


# ----------------------------------------------------------------------------------------- apply_caps


@st.composite
def combined_case(draw):
    w = draw(weights(min_size=30, max_size=80))
    boost = draw(st.lists(st.floats(1.0, 300.0), min_size=1, max_size=10))  # a few mega caps
    w.iloc[: len(boost)] *= boost
    members = tuple(draw(st.lists(st.sampled_from(list(w.index[:12])), min_size=1, max_size=8, unique=True)))
    caps = Caps(
        single=draw(st.one_of(st.none(), st.floats(0.05, 0.3))),
        groups=(("big", draw(st.floats(0.1, 0.5))),),
        aggregate=draw(st.sampled_from([None, AggregateCap(), AggregateCap(0.2, 0.35, 0.35)])),
    )
    return w, caps, {"big": members}


@SETTINGS
@given(case=combined_case(), data=st.data())
def test_apply_caps_meets_every_constraint_together(case, data):
    w, caps, groups = case
    out = apply_caps(w, caps, groups)
    event(f"changed: {not np.allclose(out.to_numpy(), (w / w.sum()).sort_index().to_numpy())}")
    check_basics(out, w)
    agg = caps.aggregate
    rule = None if agg is None else (agg.threshold, agg.limit, agg.single)
    group_caps = {"big": (groups["big"], caps.groups[0][1])}
    assert cap_violations(out, single=caps.single, groups=group_caps, aggregate=rule) == []
    pd.testing.assert_series_equal(apply_caps(shuffled(data.draw, w), caps, groups), out, check_exact=True)
    check_idempotent(apply_caps(out, caps, groups), out)
