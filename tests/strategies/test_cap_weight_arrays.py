"""`cap_weight._weigh_arrays` (the array path sweeps take) equals `_weigh_series` (the Series steps) bit for
bit: the same weights (every float equal, same tickers and names) and the same notes, on random inputs and on
the S&P 500 snapshot; where the Series steps raise, the array path steps aside (returns None)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from strategies import cap_weight, decision_inputs
from strategies.capping import InfeasibleCapsError

from .specs import MAG7, AggregateCap, Caps, Spec, Tilt

SINGLES = (None, 0.03, 0.04, 0.05, 0.06, 0.08, 0.2, 1.0)
TILTS = (None, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0)


def both(spec, inputs):
    caps, notes = cap_weight.market_caps(inputs)
    return (cap_weight._weigh_arrays(spec, inputs, caps, notes),
            cap_weight._weigh_series(spec, inputs, caps, notes))


def assert_same(fast, slow):
    assert fast is not None
    assert fast.weights.index.equals(slow.weights.index)
    assert fast.weights.index.dtype == slow.weights.index.dtype
    assert (fast.weights.index.name, fast.weights.name) == (slow.weights.index.name, slow.weights.name)
    assert np.array_equal(fast.weights.to_numpy(), slow.weights.to_numpy())     # every bit, not 1e-15
    assert fast.notes == slow.notes


def spec_of(single, multiplier, group="mag7"):
    return Spec(caps=None if single is None else Caps(single=single),
                tilt=None if multiplier is None else Tilt(group=group, multiplier=multiplier))


def random_inputs(rng, n):
    names = [f"T{i:03d}" for i in range(n)]
    date = pd.Timestamp("2024-01-02")
    prices = pd.DataFrame([rng.uniform(5, 500, n)], index=[date], columns=names)
    shares = pd.Series(np.exp(rng.normal(18, 2, n)), index=names)
    shares[rng.random(n) < 0.05] = np.nan                       # some names without a share count
    group = tuple(rng.choice(names, size=min(n, 8), replace=False)) + ("ABSENT",)
    return decision_inputs(prices, shares.dropna(), date, names, {"mag7": group})


@pytest.mark.parametrize("seed", range(12))
def test_random_inputs_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    inputs = random_inputs(rng, int(rng.integers(20, 600)))
    n = len(cap_weight.market_caps(inputs)[0])
    singles = SINGLES + tuple(rng.uniform(1 / n, 0.1, 3))
    bound = 0
    for single, multiplier in itertools.product(singles, TILTS + (float(rng.uniform(0, 5)),)):
        fast, slow = both(spec_of(single, multiplier), inputs)
        assert_same(fast, slow)
        bound += any(": caps bound: " in note for note in slow.notes)
    assert bound > 0        # the solver ran, not only the "caps already hold" shortcut


def test_snapshot_dates_bit_for_bit(market_data_dir):
    prices = pd.read_parquet(market_data_dir / "prices_sp500.parquet")
    snap = pd.read_parquet(market_data_dir / "marketcap_snapshots.parquet",
                           columns=["date", "symbol", "market_cap_usd"])
    snap = snap[snap["date"].isin(prices.index)]
    wide = snap.pivot_table(index="date", columns="symbol", values="market_cap_usd", aggfunc="first")
    checked = 0
    for day in wide.index[:: max(1, len(wide.index) // 8)]:
        row = wide.loc[day].dropna()
        on_day = prices.loc[day].reindex(wide.columns)
        universe = tuple(on_day.index[on_day.notna()])
        shares = (row / on_day.reindex(row.index)).dropna()
        inputs = decision_inputs(prices, shares, day, universe, {"mag7": MAG7})
        for single, multiplier in itertools.product(SINGLES, TILTS):
            fast, slow = both(spec_of(single, multiplier), inputs)
            assert_same(fast, slow)
            checked += 1
    assert checked >= 8 * len(SINGLES) * len(TILTS)


def test_other_cases_take_the_series_steps():
    inputs = random_inputs(np.random.default_rng(1), 100)
    for spec in (Spec(caps=Caps(single=0.05, groups=(("mag7", 0.2),))),
                 Spec(caps=Caps(aggregate=AggregateCap())),
                 Spec(tilt=Tilt(weight=0.3)),
                 Spec(tilt=Tilt(multiplier=2.0, while_leading=21)),
                 Spec(tilt=Tilt(group="nope", multiplier=2.0))):
        assert cap_weight._weigh_arrays(spec, inputs, *cap_weight.market_caps(inputs)) is None
    # an infeasible single cap: the array path steps aside and weigh raises the Series steps' message
    spec = spec_of(0.001, 1.5)
    caps, notes = cap_weight.market_caps(inputs)
    assert cap_weight._weigh_arrays(spec, inputs, caps, notes) is None
    with pytest.raises(InfeasibleCapsError, match=r"strategy 'test' on 2024-01-02: single-name cap 0.001 is "
                                                  r"infeasible for \d+ names"):
        cap_weight.weigh(spec, inputs)


def test_weigh_takes_the_array_path_and_caches_market_caps():
    inputs = random_inputs(np.random.default_rng(2), 50)
    first = cap_weight.weigh(spec_of(0.05, 2.0), inputs)
    assert inputs.cache["market_caps"][0] is cap_weight.market_caps(inputs)[0]      # computed once
    assert_same(first, cap_weight._weigh_series(spec_of(0.05, 2.0), inputs, *cap_weight.market_caps(inputs)))
