"""Cap weights and caps on the full S&P 500 (and its largest names) at 31 snapshot dates, 2015-2026.

Market caps are the snapshot's ``market_cap_usd`` (Yahoo full caps; GOOG and GOOGL each carry Alphabet's
whole cap and BRK-B's is missing, which is fine here: the test is about the solvers). Shares are built as
``cap / adjusted close`` so that ``shares * price`` gives the cap back, as the store's shares do.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from strategies import REGISTRY, decision_inputs
from strategies.capping import TOL, cap_single, cap_violations

from .specs import MAG7, AggregateCap, Caps, Spec, Tilt

FIVE_TEN_FORTY = AggregateCap(0.05, 0.40, 0.10)
MIXED = Caps(single=0.08, groups=(("mag7", 0.25),), aggregate=FIVE_TEN_FORTY)
# (universe: None = every member with a price, n = the n largest caps at the date; caps)
CASES = {
    "S&P 500, single 5%": (None, Caps(single=0.05)),
    "S&P 500, mag7 <= 25%": (None, Caps(groups=(("mag7", 0.25),))),
    "S&P 500, 5/10/40": (None, Caps(aggregate=FIVE_TEN_FORTY)),
    "S&P 500, mag7 <= 25% + single 8% + 5/10/40": (None, MIXED),
    "top 50, 5/10/40": (50, Caps(aggregate=FIVE_TEN_FORTY)),  # a mega-cap fund under UCITS
    "top 40, mag7 <= 25% + single 8% + 5/10/40": (40, MIXED),
    "top 6, 35/20": (6, Caps(aggregate=AggregateCap(0.20, 0.35, 0.35))),
}


@pytest.fixture(scope="module")
def snapshot(market_data_dir):
    columns = ["date", "symbol", "market_cap_usd"]
    caps = pd.read_parquet(market_data_dir / "marketcap_snapshots.parquet", columns=columns)
    prices = pd.read_parquet(market_data_dir / "prices_sp500.parquet")
    caps = caps[caps["date"].isin(prices.index)]
    wide = caps.pivot_table(index="date", columns="symbol", values="market_cap_usd", aggfunc="first")
    # every snapshot date before 2026 (2015-2025, 17 dates) and every fourth of the 2026 daily run (14)
    recent = wide.index[wide.index >= "2026-01-01"]
    return prices, wide.loc[wide.index[wide.index < "2026-01-01"].append(recent[::4])]


def inputs_at(prices: pd.DataFrame, caps: pd.DataFrame, day: pd.Timestamp):
    row = caps.loc[day].dropna()
    on_day = prices.loc[day].reindex(caps.columns)
    universe = tuple(on_day.index[on_day.notna()])
    shares = (row / on_day.reindex(row.index)).dropna()
    return decision_inputs(prices, shares, day, universe, {"mag7": MAG7}), row.reindex(universe).dropna()


def test_snapshot_has_many_dates(snapshot):
    _, caps = snapshot
    assert len(caps.index) >= 30
    assert caps.index.min() < pd.Timestamp("2016-01-01") and caps.index.max() > pd.Timestamp("2026-07-01")


def test_cap_weights_are_market_cap_shares_and_missing_caps_are_reported(snapshot):
    prices, caps = snapshot
    for day in caps.index[::7]:
        inputs, market_caps = inputs_at(prices, caps, day)
        out = REGISTRY["cap"](Spec(), inputs)
        expected = (market_caps / market_caps.sum()).sort_index()
        np.testing.assert_allclose(out.weights.to_numpy(), expected.to_numpy(), rtol=1e-12, atol=0)
        assert out.weights.index.tolist() == expected.index.tolist()
        missing = sorted(set(inputs.universe) - set(market_caps.index))
        if missing:
            assert out.notes[0].endswith("left out: " + ", ".join(missing))
        else:
            assert out.notes == ()


@pytest.mark.parametrize("name", list(CASES))
def test_caps_hold_at_every_date(snapshot, name):
    prices, caps = snapshot
    top, spec = CASES[name]
    agg = spec.aggregate
    rule = None if agg is None else (agg.threshold, agg.limit, agg.single)
    groups = {"mag7": (MAG7, 0.25)} if spec.groups else {}
    binding = 0
    for day in caps.index:
        inputs, market_caps = inputs_at(prices, caps, day)
        if top is not None:
            universe = tuple(market_caps.nlargest(top).index)
            inputs = decision_inputs(prices, inputs.shares, day, universe, inputs.groups)
        raw = REGISTRY["cap"](Spec(), inputs).weights
        out = REGISTRY["cap"](Spec(caps=spec), inputs).weights
        assert out.index.tolist() == raw.index.tolist(), day  # no name dropped, none added
        assert abs(out.sum() - 1) <= TOL and (out > 0).all()
        problems = cap_violations(out, single=spec.single, groups=groups, aggregate=rule)
        assert problems == [], (day, problems)
        binding += bool(cap_violations(raw, single=spec.single, groups=groups, aggregate=rule))
    assert binding > 0  # the caps had work to do on some dates


def test_single_cap_agrees_with_literal_water_filling(snapshot):
    """An independent, literal implementation: cap, hand the excess pro rata to the uncapped names, repeat."""
    prices, caps = snapshot

    def water_fill(w: pd.Series, cap: float) -> pd.Series:
        w = w.copy()
        capped = pd.Series(False, index=w.index)
        while (w > cap).any():
            over = w > cap
            excess = float((w[over] - cap).sum())
            w[over] = cap
            capped |= over
            w[~capped] += excess * w[~capped] / w[~capped].sum()
        return w

    for day in caps.index[::5]:
        inputs, _ = inputs_at(prices, caps, day)
        raw = REGISTRY["cap"](Spec(), inputs).weights
        pd.testing.assert_series_equal(cap_single(raw, 0.03), water_fill(raw, 0.03), rtol=0, atol=1e-12)


def test_mag7_tilt_then_group_cap(snapshot):
    prices, caps = snapshot
    day = caps.index[-1]
    inputs, _ = inputs_at(prices, caps, day)
    raw = REGISTRY["cap"](Spec(), inputs).weights
    mag7_raw = raw.reindex(MAG7).sum()
    tilted = REGISTRY["cap"](Spec(tilt=Tilt(multiplier=1.5)), inputs).weights
    # multiplier m on a group of cap share s gives m s / (m s + 1 - s)
    expected = 1.5 * mag7_raw / (1.5 * mag7_raw + 1 - mag7_raw)
    assert tilted.reindex(MAG7).sum() == pytest.approx(expected, abs=1e-12)
    lines = REGISTRY["cap"](Spec(tilt=Tilt(weight=0.4, inside="equal"), per="line"), inputs).weights
    assert lines.reindex(MAG7).to_numpy() == pytest.approx([0.05] * 8, abs=1e-15)
    fixed = REGISTRY["cap"](Spec(tilt=Tilt(weight=0.4, inside="equal")), inputs).weights   # per company
    others = [t for t in MAG7 if t not in ("GOOG", "GOOGL")]
    assert fixed.reindex(others).to_numpy() == pytest.approx([0.4 / 7] * 6, abs=1e-15)
    alphabet = fixed.reindex(["GOOG", "GOOGL"])
    assert alphabet.sum() == pytest.approx(0.4 / 7, abs=1e-15)
    cap = inputs.shares.reindex(alphabet.index) * inputs.last_prices().reindex(alphabet.index)
    assert alphabet["GOOG"] / alphabet["GOOGL"] == pytest.approx(cap["GOOG"] / cap["GOOGL"], rel=1e-12)
    spec = Spec(tilt=Tilt(multiplier=1.5), caps=Caps(groups=(("mag7", 0.25),)))
    capped = REGISTRY["cap"](spec, inputs).weights
    assert capped.reindex(MAG7).sum() == pytest.approx(0.25, abs=1e-12)
    outside = capped.index.difference(list(MAG7))
    ratio = capped[outside] / raw[outside]  # the weight cut from the group went to the rest pro rata
    np.testing.assert_allclose(ratio, ratio.iloc[0], rtol=1e-9)
