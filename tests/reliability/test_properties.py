"""Hypothesis on the weighting families as a run calls them (`strategies.REGISTRY[weighting](spec, inputs)`):
random universes, prices, share counts, tilts and caps.

Whatever the draw: the weights are non-negative, sum to 1, every feasible cap holds, an infeasible cap set
is an `InfeasibleCapsError` naming the strategy and date (never a wrong vector), and the result does not
depend on the order of the universe or of the share table.

Covered elsewhere and not repeated: the cap solvers alone (tests/strategies/test_capping_properties.py:
non-negative, sum to 1, caps respected, order-independent, idempotent, proportions kept), and the config
loader on random documents and mutations
(tests/test_config.py::test_random_documents_load_or_raise_config_error and the three tests after it).
"""

from __future__ import annotations

import math
from types import MappingProxyType

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from strategies import REGISTRY, InfeasibleCapsError
from strategies.base import DecisionInputs
from tests.strategies.specs import AggregateCap, Caps, Spec, Tilt

PROPERTY = settings(max_examples=120, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TOL = 1e-9
DAY = pd.Timestamp("2024-01-02")


@st.composite
def market(draw, min_size: int = 1, max_size: int = 30):
    """(prices, shares, group) over tickers T00..: positive prices, share counts spanning six decades (some
    missing), and a group of some of the tickers."""
    n = draw(st.integers(min_size, max_size))
    names = [f"T{i:02d}" for i in range(n)]
    prices = draw(st.lists(st.floats(0.5, 5000), min_size=n, max_size=n))
    count = st.one_of(st.none(), st.floats(1, 6).map(lambda e: 10 ** e))
    shares = draw(st.lists(count, min_size=n, max_size=n))
    if all(s is None for s in shares):
        shares[0] = 1e6
    group = draw(st.lists(st.sampled_from(names), max_size=min(n, 8), unique=True))
    return dict(zip(names, prices)), {t: s for t, s in zip(names, shares) if s is not None}, tuple(group)


def _inputs(prices: dict, shares: dict, group: tuple, order: list[int] | None = None) -> DecisionInputs:
    names = list(prices)
    if order is not None:
        names = [names[i] for i in order]
    history = pd.DataFrame([{t: prices[t] for t in names}], index=pd.DatetimeIndex([DAY], name="date"))
    share_items = [(t, shares[t]) for t in names if t in shares]
    return DecisionInputs(date=DAY, history=history.astype("float64"),
                          shares=pd.Series(dict(share_items), dtype="float64"), universe=tuple(names),
                          groups=MappingProxyType({"grp": group}))


def _check(weights: pd.Series) -> None:
    assert weights.index.is_unique and list(weights.index) == sorted(weights.index)
    assert (weights > 0).all() and np.isfinite(weights).all()
    assert math.isclose(float(weights.sum()), 1.0, abs_tol=1e-12)


tilts = st.one_of(st.none(),
                  st.builds(Tilt, group=st.just("grp"), multiplier=st.floats(0.1, 10)),
                  st.builds(Tilt, group=st.just("grp"), weight=st.floats(0.05, 0.95),
                            inside=st.sampled_from(["cap", "equal"])))
RULES = (AggregateCap(), AggregateCap(threshold=0.2, limit=0.35, single=0.35))    # 5/10/40 and 35/20
caps = st.one_of(st.none(),
                 st.builds(Caps, single=st.one_of(st.none(), st.floats(0.02, 1.0)),
                           groups=st.one_of(st.just(()), st.floats(0.05, 1.0).map(lambda c: (("grp", c),))),
                           aggregate=st.one_of(st.none(), st.sampled_from(RULES))))


@PROPERTY
@given(market(), tilts, caps, st.randoms(use_true_random=False))
def test_cap_weights_with_any_tilt_and_caps(case, tilt, cap_spec, rnd):
    prices, shares, group = case
    spec = Spec(name="Random", tilt=tilt, caps=cap_spec)
    try:
        out = REGISTRY["cap"](spec, _inputs(prices, shares, group))
    except InfeasibleCapsError as exc:
        event("infeasible caps")
        assert str(exc).startswith("strategy 'Random' on 2024-01-02: "), str(exc)
        return
    event("weighted" + (" with caps" if cap_spec is not None else "") + (" and tilt" if tilt else ""))
    w = out.weights
    _check(w)
    assert set(w.index) <= set(shares)                     # no share count, no weight (and it is noted)
    if set(shares) != set(prices):
        assert any("no share count" in n for n in out.notes)
    if cap_spec is not None:
        if cap_spec.single is not None:
            assert w.max() <= cap_spec.single + TOL
        for _, limit in cap_spec.groups:
            assert w.reindex(list(group)).fillna(0).sum() <= limit + TOL
        if cap_spec.aggregate is not None:
            a = cap_spec.aggregate
            assert w.max() <= a.single + TOL
            assert w[w > a.threshold + TOL].sum() <= a.limit + TOL
    if tilt is not None and tilt.weight is not None and cap_spec is None:
        inside = w.reindex(list(group)).fillna(0).sum()
        held = set(group) & set(w.index)
        if held and held != set(w.index):
            assert math.isclose(inside, tilt.weight, abs_tol=1e-9)
    order = list(range(len(prices)))
    rnd.shuffle(order)
    again = REGISTRY["cap"](spec, _inputs(prices, shares, group, order)).weights
    pd.testing.assert_series_equal(again, w, rtol=0, atol=1e-12)


@PROPERTY
@given(market(), st.floats(1.01, 10))
def test_a_multiplier_above_one_never_lowers_the_group_weight(case, multiplier):
    prices, shares, group = case
    base = REGISTRY["cap"](Spec(), _inputs(prices, shares, group)).weights
    tilted = REGISTRY["cap"](Spec(tilt=Tilt(group="grp", multiplier=multiplier)),
                             _inputs(prices, shares, group)).weights
    members = [t for t in group if t in base.index]
    assert tilted.reindex(members).sum() >= base.reindex(members).sum() - 1e-12


@PROPERTY
@given(market(), st.randoms(use_true_random=False))
def test_equal_weights_are_one_over_n_in_any_order(case, rnd):
    prices, shares, group = case
    w = REGISTRY["equal"](Spec(weighting="equal"), _inputs(prices, shares, group)).weights
    _check(w)
    assert np.allclose(w.to_numpy(), 1 / len(prices), rtol=0, atol=1e-15)
    order = list(range(len(prices)))
    rnd.shuffle(order)
    pd.testing.assert_series_equal(REGISTRY["equal"](Spec(weighting="equal"),
                                                     _inputs(prices, shares, group, order)).weights, w)


@PROPERTY
@given(st.dictionaries(st.sampled_from([f"E{i}" for i in range(12)]), st.floats(0, 1), min_size=1,
                       max_size=12).filter(lambda d: sum(d.values()) > 0))
def test_fixed_weights_are_the_spec_normalised(raw):
    total = sum(raw.values())
    weights = {t: v / total for t, v in raw.items()}
    prices = {t: 100.0 for t in raw}
    w = REGISTRY["fixed"](Spec(weighting="fixed", weights=weights), _inputs(prices, {}, ())).weights
    _check(w)
    assert set(w.index) == {t for t, v in weights.items() if v > 0}
    for t in w.index:
        assert w[t] == pytest.approx(weights[t], abs=1e-12)
