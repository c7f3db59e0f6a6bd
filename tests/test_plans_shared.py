"""A sweep's weights stage (the chunks' `build_plans` calls sharing one memo: universes, row readers, cap basis
frames, tilted weights, target layouts) equals each variant planned alone, with nothing shared, bit for bit:
targets, notes, cap-basis tables and data gaps. On the S&P 500 snapshot, with the edge cases named: a name
capped in one variant but not in another on the same date, a tilt that makes a cap bind, members without a
price on a rebalance date."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from backtest.config import parse_config
from backtest.data.inputs import load_inputs
from backtest.plans import build_plans
from backtest.sweep import chunk_payloads, expand_variants

GRID = """
name: grid
start: 2019-06-01
end: 2021-06-30
benchmark: SPY
strategies:
  - {name: v, weighting: cap, universe: sp500, tilt: {group: mag7, multiplier: 1.5}, caps: {single: 0.05}}
sweep:
  grid:
    caps.single: [0.03, 0.08]
    tilt.multiplier: [0.5, 3.0]
    rebalance: [monthly, quarterly]
    costs.commission_bps: [0, 5]
"""


@pytest.fixture(scope="module")
def shared_and_alone(snapshot_store):
    swept, _, _ = expand_variants(parse_config(GRID))
    inputs = load_inputs(swept, snapshot_store, offline=True)
    memo: dict = {}
    shared = {}
    for chunk in chunk_payloads(swept, 3):          # chunks straddle weightings, as in a real sweep
        built = build_plans(chunk, inputs, memo=memo)
        shared.update({name: (built, name) for name in built.plans})
    alone = {s.name: build_plans(dataclasses.replace(swept, strategies=(s,)), inputs) for s in swept.strategies}
    return swept, shared, alone


def _spec(swept, single, multiplier, every):
    return next(s for s in swept.strategies if s.caps.single == single and s.tilt.multiplier == multiplier
                and s.rebalance.every == every and s.costs.commission_bps == 0)


def test_shared_memo_equals_each_variant_alone(shared_and_alone):
    swept, shared, alone = shared_and_alone
    assert len(alone) == 16
    for name, own in alone.items():
        built, _ = shared[name]
        got, want = built.plans[name], own.plans[name]
        pd.testing.assert_frame_equal(got.targets, want.targets, check_exact=True)
        assert got.targets.columns.dtype == want.targets.columns.dtype
        assert np.array_equal(got.targets.to_numpy(), want.targets.to_numpy())     # every bit
        assert got.hold_ended == want.hold_ended
        assert built.notes[name] == own.notes[name]
        pd.testing.assert_frame_equal(built.gaps, own.gaps, check_exact=True)
        pd.testing.assert_frame_equal(built.prices[want.targets.columns], own.prices[want.targets.columns],
                                      check_exact=True)


def test_cap_basis_tables_equal(shared_and_alone):
    """Each variant of a chunk keeps its own cap-basis table, equal to that of the variant planned alone (the
    variants' names share their first 40 characters, so their slugs collide: the keys are numbered in
    config order, `plans._table_key`)."""
    from backtest.plans import _slug, _table_key

    _, shared, alone = shared_and_alone
    checked = 0
    for built in {id(b): b for b, _ in shared.values()}.values():
        keys: dict[str, None] = {}
        for name in built.plans:
            key = _table_key("cap_basis", name, keys)
            keys[key] = None
            pd.testing.assert_frame_equal(built.tables[key], alone[name].tables[f"cap_basis_{_slug(name)}"],
                                          check_exact=True)
            checked += 1
        assert list(built.tables) == list(keys)
    assert checked >= 16


def test_the_edge_cases_are_exercised(shared_and_alone):
    swept, _, alone = shared_and_alone
    tight, loose = (_spec(swept, s, 3.0, "monthly").name for s in (0.03, 0.08))
    a, b = alone[tight].plans[tight].targets, alone[loose].plans[loose].targets
    assert a.index.equals(b.index)
    # a name capped at 3% in one variant and held between 3% and 8% (not capped) in the other, same date
    cols = a.columns.intersection(b.columns)
    capped = np.isclose(a[cols].to_numpy(), 0.03, rtol=0, atol=1e-12)
    free = (b[cols].to_numpy() > 0.03 + 1e-9) & (b[cols].to_numpy() < 0.08 - 1e-9)
    assert (capped & free).any()
    # the tilt makes the 8% cap bind (x3), where the 0.5 tilt leaves it slack
    low = _spec(swept, 0.08, 0.5, "monthly").name
    bound = [n for n in alone[loose].notes[loose] if "caps (single 0.08) bound on" in n]
    slack = [n for n in alone[low].notes[low] if "caps (single 0.08) bound on" in n]
    assert bound and not bound[0].split("bound on ")[1].startswith("0 of")
    assert slack and slack[0].split("bound on ")[1].startswith("0 of")
    # members without a price on some rebalance dates are left out (and named)
    assert any("had no price on some rebalance dates" in n for n in alone[tight].notes[tight])
