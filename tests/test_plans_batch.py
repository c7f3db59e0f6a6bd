"""Cap weights of many variants solved together (backtest.plans_batch) equal the one-by-one path exactly."""

from __future__ import annotations

import dataclasses
import textwrap

import pytest

from backtest.config import parse_config, swept_config
from backtest.plans import build_plans
from backtest.plans_batch import covered
from backtest.data.inputs import load_inputs

CONFIG = textwrap.dedent("""\
    name: batch
    start: 2019-06-01
    end: 2021-06-30
    benchmark: SPY
    strategies:
      - name: Tilted
        weighting: cap
        universe: sp500
        tilt: {group: mag7, multiplier: 1.5}
        caps: {single: 0.05}
      - name: Plain
        weighting: cap
        universe: {index: sp500, exclude: [mag7]}
      - name: Grouped
        weighting: cap
        universe: sp500
        caps: {single: 0.06, groups: {mag7: 0.2}}
    sweep:
      grid:
        caps.single: [0.02, 0.04, 0.07, 1.0]
        tilt.multiplier: [0.25, 1.0, 3.0]
        rebalance: [monthly, quarterly]
    """)


@pytest.fixture(scope="module")
def setup(snapshot_store):
    cfg = swept_config(parse_config(CONFIG))
    return cfg, load_inputs(cfg, snapshot_store, offline=True)


def test_batched_weights_equal_one_strategy_at_a_time(setup):
    cfg, inputs = setup
    together = build_plans(cfg, inputs)
    assert sum(covered(s) for s in cfg.strategies) == 4 * 3 * 2 + 2      # Plain: 2 schedules; Grouped: group caps
    for spec in cfg.strategies:
        alone = build_plans(dataclasses.replace(cfg, strategies=(spec,)), inputs)   # one strategy: no batch
        a, b = together.plans[spec.name].targets, alone.plans[spec.name].targets
        assert a.index.equals(b.index) and a.columns.equals(b.columns), spec.name
        assert (a.to_numpy() == b.to_numpy()).all(), spec.name                    # bit for bit
        assert together.notes[spec.name] == alone.notes[spec.name], spec.name
        if spec.name.startswith("Plain"):    # short names: their cap-basis tables have their own slugs
            (key,) = alone.tables
            assert together.tables[key].equals(alone.tables[key]), spec.name


def test_a_binding_cap_is_really_applied(setup):
    cfg, inputs = setup
    built = build_plans(cfg, inputs)
    name = "Tilted [caps.single=0.02, tilt.multiplier=3, rebalance=monthly]"
    top = built.plans[name].targets.max(axis=1)
    assert (top <= 0.02 + 1e-12).all() and (top > 0.0199).all()
