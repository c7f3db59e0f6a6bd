"""Plan building: proxy splicing, note folding, weights only from data up to the decision date."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtest.config import parse_config
from backtest.plan_notes import summarize_notes
from backtest.plans import build_plans, splice
from backtest.data.inputs import load_inputs


def test_splice_chains_proxy_returns_before_the_primary_starts():
    idx = pd.bdate_range("2020-01-01", periods=5)
    primary = pd.Series([np.nan, np.nan, 10.0, 11.0, 12.0], index=idx)
    proxy = pd.Series([50.0, 55.0, 60.0, 60.0, 63.0], index=idx)
    out, first = splice(primary, proxy)
    assert first == idx[2]
    assert out.iloc[2:].tolist() == [10.0, 11.0, 12.0], "real prices untouched"
    assert out.iloc[1] / out.iloc[0] == pytest.approx(55 / 50), "proxy returns before the start"
    assert out.iloc[2] / out.iloc[1] == pytest.approx(60 / 55)


def test_summarize_notes_folds_dates_and_counts_names():
    lines = summarize_notes([
        "2016-01-04: cap weights: 3 of 430 universe tickers have no share count and were left out: A, B, C",
        "2016-04-01: cap weights: 2 of 436 universe tickers have no share count and were left out: B, C",
        "2017-01-03: tilt: no member of group mag7 is in the weights; no tilt applied",
    ])
    assert lines[0].startswith("cap weights: 3 of 430")
    assert "on 2 rebalance dates, 2016-01-04 .. 2016-04-01" in lines[0]
    assert lines[0].endswith("B (2), C (2), A (1)")
    assert lines[1] == "2017-01-03: tilt: no member of group mag7 is in the weights; no tilt applied"


CONFIG = """
name: t
start: 2020-06-01
end: 2021-06-30
rebalance: monthly
strategies:
  - name: Mag 7 x2
    weighting: cap
    universe: sp500
    tilt: {group: mag7, multiplier: 2}
    shares: backfill          # TSLA's first share count is from 2024: point_in_time leaves it out until then
  - name: EW 493
    weighting: equal
    universe: {index: sp500, exclude: [mag7]}
"""


@pytest.fixture(scope="module")
def built(snapshot_store):
    cfg = parse_config(CONFIG)
    inputs = load_inputs(cfg, snapshot_store, offline=True)
    return cfg, inputs, build_plans(cfg, inputs)


def test_weights_sum_to_one_and_follow_point_in_time_membership(built):
    _, _, b = built
    for plan in b.plans.values():
        np.testing.assert_allclose(plan.targets.sum(axis=1), 1.0, atol=1e-12)
        assert (plan.targets >= 0).all().all()
    ew = b.plans["EW 493"].targets
    assert "TSLA" not in ew.columns or (ew["TSLA"] == 0).all(), "Mag 7 excluded"
    cap = b.plans["Mag 7 x2"].targets
    assert (cap.loc[:"2020-12-18", "TSLA"] == 0).all(), "TSLA is not a member before 2020-12-21"
    assert (cap.loc["2021-01-01":, "TSLA"] > 0).all()
    n = (ew > 0).sum(axis=1)
    assert n.between(430, 500).all(), n.describe()


def test_no_look_ahead_weights_ignore_prices_after_the_decision(built):
    cfg, inputs, b = built
    d = b.plans["Mag 7 x2"].targets.index[5]
    shaken = inputs.prices.copy()
    later = shaken.index > d
    shaken.loc[later] = shaken.loc[later] * np.random.default_rng(0).uniform(0.5, 2.0, size=shaken.loc[later].shape)
    from dataclasses import replace

    b2 = build_plans(cfg, replace(inputs, prices=shaken))
    for name in b.plans:
        before = b.plans[name].targets.loc[:d]
        pd.testing.assert_frame_equal(before, b2.plans[name].targets.loc[:d].reindex(columns=before.columns,
                                                                                     fill_value=0.0))


def test_cap_basis_table_shows_which_share_dates_caps_rest_on(built):
    _, _, b = built
    basis = next(v for k, v in b.tables.items() if k.startswith("cap_basis"))
    assert {"oldest_observation", "newest_observation", "backfilled_names", "names"} <= set(basis.columns)
    assert (basis["names"] > 400).all()


FAMILIES = """
name: families
start: 2020-06-01
end: 2021-06-30
rebalance: monthly
strategies:
  - {name: RP, weighting: risk_parity, universe: [AAPL, MSFT, JPM, XOM, JNJ, PG, KO, WMT], lookback: 126,
     covariance: ledoit_wolf}
  - {name: MV, weighting: min_variance, universe: [AAPL, MSFT, JPM, XOM, JNJ, PG, KO, WMT], lookback: 126,
     caps: {single: 0.3}}
  - {name: HRP, weighting: hrp, universe: [AAPL, MSFT, JPM, XOM, JNJ, PG, KO, WMT], lookback: 126}
  - {name: Mom, weighting: inverse_vol, universe: sp500, lookback: 63,
     select: {by: momentum, lookback: 126, skip: 21, top: 10}}
  - {name: Trend, weighting: fixed, weights: {SPY: 1}, trend: {ticker: SPY, days: 50, defensive: BIL}}
  - {name: Mix, weighting: sleeves, sleeves: {RP: 0.5, Mom: 0.3, Trend: 0.2}, rebalance: quarterly}
"""


def test_no_look_ahead_in_any_family_or_sleeve(snapshot_store):
    """Perturbing every price after a decision date leaves that date's weights, in every family, unchanged."""
    from dataclasses import replace

    cfg = parse_config(FAMILIES)
    inputs = load_inputs(cfg, snapshot_store, offline=True)
    b = build_plans(cfg, inputs)
    d = b.plans["Mix"].targets.index[1]
    shaken = inputs.prices.copy()
    later = shaken.index > d
    shaken.loc[later] = shaken.loc[later] * np.random.default_rng(5).uniform(0.5, 2.0, size=shaken.loc[later].shape)
    b2 = build_plans(cfg, replace(inputs, prices=shaken))
    for name, plan in b.plans.items():
        before = plan.targets.loc[:d]
        assert len(before) >= 2
        after = b2.plans[name].targets.loc[:d].reindex(columns=before.columns, fill_value=0.0)
        pd.testing.assert_frame_equal(before, after, check_exact=True)
        # Mix's targets are its fixed sleeve shares (no data); its values are perturbed through its sleeves
        # in tests/test_sleeves.py::test_no_look_ahead_through_the_sleeves
        assert not plan.targets.equals(b2.plans[name].targets) or name in ("Trend", "Mix"), f"{name}: later dates move"


def test_target_frame_equals_the_pandas_form():
    """`target_frame` (arrays) equals ``pd.DataFrame(rows, index=dates).fillna(0.0)`` with sorted columns:
    values, column order and dtype, index and column names."""
    from backtest.plans import target_frame

    rng = np.random.default_rng(3)
    names = [f"T{i:03d}" for i in range(60)]
    dates = pd.DatetimeIndex(pd.bdate_range("2020-01-01", periods=25), name=None)
    for label in ("ticker", None):
        rows = [pd.Series(rng.random(k), index=pd.Index(sorted(rng.choice(names, k, replace=False)), name=label),
                          name="weight") for k in rng.integers(1, 50, len(dates))]
        expected = pd.DataFrame(rows, index=dates).fillna(0.0)
        expected = expected.reindex(columns=sorted(expected.columns))
        got = target_frame(rows, dates)
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
        assert got.columns.name == label and (got.to_numpy() == expected.to_numpy()).all()


SHARED = """
name: shared
start: 2019-01-01
end: 2020-12-31
benchmark: SPY
strategies:
  - {name: A, weighting: cap, universe: sp500, tilt: {group: mag7, multiplier: 2}, caps: {single: 0.04},
     costs: {commission_bps: 1}}
  - {name: Bee, weighting: cap, universe: sp500, tilt: {group: mag7, multiplier: 2}, caps: {single: 0.04},
     costs: {commission_bps: 9}}
"""


def test_strategies_sharing_targets_get_their_own_notes(snapshot_store):
    """Strategies differing only in costs share targets and planning notes through the memo (computed for
    the first, the name swapped for the second): each equals the strategy planned alone, without a memo."""
    import dataclasses

    cfg = parse_config(SHARED)
    inputs = load_inputs(cfg, snapshot_store, offline=True)
    memo: dict = {}
    both = build_plans(cfg, inputs, memo=memo)
    assert both.plans["A"].targets is both.plans["Bee"].targets
    alone = build_plans(dataclasses.replace(cfg, strategies=cfg.strategies[1:]), inputs)
    assert both.notes["Bee"] == alone.notes["Bee"]
    assert [n.replace("A: ", "Bee: ", 1) for n in both.notes["A"]] == both.notes["Bee"]
    assert any("caps (single 0.04) bound on" in n for n in both.notes["Bee"])
    pd.testing.assert_frame_equal(both.plans["Bee"].targets, alone.plans["Bee"].targets, check_exact=True)
    again = build_plans(dataclasses.replace(cfg, strategies=cfg.strategies[1:]), inputs, memo=memo)  # a later chunk
    assert again.notes["Bee"] == alone.notes["Bee"]


def test_a_data_error_while_planning_names_the_strategy_or_variant(snapshot_store):
    """With several strategies (or a sweep's variants), "no universe name has a full 504-day window" alone
    left the user to guess which one failed: the message now starts with the strategy's name, a variant's
    with its values; a message that names it already is left as it is."""
    from backtest.config import swept_config
    from backtest.errors import DataError

    text = ("name: v\nstart: 2016-06-01\nend: 2017-12-29\nstrategies:\n"
            "  - {name: F, weighting: fixed, weights: {SPY: 1}}\n"
            "  - {name: M, weighting: equal, universe: sp500, select: {by: momentum, lookback: 63, top: 20}}\n")
    cfg = parse_config(text.replace("lookback: 63", "lookback: 504"))
    with pytest.raises(DataError, match=r"^strategy 'M': 2016-05-27: select by momentum: no universe name has "
                                        r"a full 504-day window"):
        build_plans(cfg, load_inputs(cfg, snapshot_store, offline=True))
    swept = swept_config(parse_config(text + "sweep: {strategy: M, grid: {select.lookback: [63, 504]}}\n"))
    with pytest.raises(DataError, match=r"^strategy 'M \[select.lookback=504\]': 2016-05-27: select by momentum"):
        build_plans(swept, load_inputs(swept, snapshot_store, offline=True))
    late = parse_config(text.replace("{SPY: 1}", "{SPY: 0.5, AVUV: 0.5}").replace("2016-06-01", "2019-06-03")
                        .replace("2017-12-29", "2020-12-31"))
    with pytest.raises(DataError, match=r"^strategy 'F': fixed weights name 1 ticker\(s\) without a price"):
        build_plans(late, load_inputs(late, snapshot_store, offline=True))      # named once, not twice
