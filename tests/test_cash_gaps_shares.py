"""Idle cash earns the cash instrument, data gaps are named as such, share counts are point in time.

Every figure is checked on the offline snapshot against a closed form or the raw files.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from backtest.config import parse_config
from backtest.engine import StrategyPlan, simulate
from backtest.errors import ConfigError, DataError
from backtest.plans import build_plans, cash_returns, find_ended
from backtest.data.inputs import load_inputs
from backtest.marketcap import daily_shares
from backtest.runner import run_backtest

CAPITAL = 1_000_000.0


@pytest.fixture(scope="module")
def etf_prices(snapshot_store) -> pd.DataFrame:
    px = snapshot_store.prices(["SPY", "BIL", "ALXN"], start="2020-12-31", end="2021-06-30")
    return px.loc[px["SPY"].notna()]


# --- Idle cash ------------------------------------------------------------------------------------------

def test_unallocated_cash_earns_the_cash_instrument_exactly(etf_prices):
    """60% SPY bought and held, 40% never allocated: the 40% grows with BIL's total return (closed form)."""
    px = etf_prices[["SPY", "BIL"]]
    targets = pd.DataFrame({"SPY": [0.6]}, index=px.index[:1])
    rate = cash_returns(px, "BIL", px.index)
    sims = simulate(px, {"bil": StrategyPlan(targets, cash_rate=rate), "none": StrategyPlan(targets)},
                    capital=CAPITAL, fill="close")
    spy, bil = px["SPY"], px["BIL"]
    expected = 0.6 * CAPITAL * spy / spy.iloc[0] + 0.4 * CAPITAL * bil / bil.iloc[0]
    assert np.allclose(sims["bil"].equity.to_numpy(), expected.to_numpy(), rtol=1e-12, atol=0)
    flat = 0.6 * CAPITAL * spy / spy.iloc[0] + 0.4 * CAPITAL
    assert np.allclose(sims["none"].equity.to_numpy(), flat.to_numpy(), rtol=1e-12, atol=0)
    assert sims["bil"].cash.iloc[-1] == pytest.approx(0.4 * CAPITAL * bil.iloc[-1] / bil.iloc[0], rel=1e-12)
    assert sims["bil"].trades["price"].iloc[0] == pytest.approx(spy.iloc[0], rel=1e-12), "trades in currency"


def test_sale_proceeds_of_an_ended_name_earn_the_cash_instrument(etf_prices):
    """ALXN's prices end 2021-04-21; its proceeds wait in cash and accrue at BIL until the run ends."""
    px = etf_prices
    targets = pd.DataFrame({"SPY": [0.5], "ALXN": [0.5]}, index=px.index[:1])
    rate = cash_returns(px, "BIL", px.index)
    sim = simulate(px, {"s": StrategyPlan(targets, commission_bps=10, cash_rate=rate)}, capital=CAPITAL,
                   fill="close")["s"]
    last = px["ALXN"].last_valid_index()
    assert last == pd.Timestamp("2021-04-21")
    fee = 10 / 1e4
    # fill: close, one buy of two names: each gets half the capital net of its commission
    spy_sh = sim.trades.query("ticker == 'SPY' and side == 'buy'")["shares"].iloc[0]
    alxn_sh = sim.trades.query("ticker == 'ALXN' and side == 'buy'")["shares"].iloc[0]
    cash0 = CAPITAL - (spy_sh * px["SPY"].iloc[0] + alxn_sh * px["ALXN"].iloc[0]) * (1 + fee)
    proceeds = alxn_sh * px["ALXN"].loc[last] * (1 - fee)
    bil = px["BIL"]
    expected_cash = (cash0 * bil.loc[last] / bil.iloc[0] + proceeds) * bil.iloc[-1] / bil.loc[last]
    assert sim.cash.iloc[-1] == pytest.approx(expected_cash, rel=1e-12)
    assert sim.equity.iloc[-1] == pytest.approx(expected_cash + spy_sh * px["SPY"].iloc[-1], rel=1e-12)


def test_run_default_idle_cash_earns_the_runs_risk_free_and_is_reported(snapshot_store):
    text = """
name: t
start: 2021-01-04
end: 2021-06-30
fill: close
risk_free: BIL
strategies:
  - {name: EW, weighting: equal, universe: [SPY, ALXN], rebalance: never}
  - {name: EW none, weighting: equal, universe: [SPY, ALXN], rebalance: never, cash_yield: none}
"""
    res = run_backtest(parse_config(text), snapshot_store, offline=True)
    idle = res.analytics["idle_cash"]
    assert idle.loc["EW", "earns"] == "BIL (the run's risk_free)"
    assert idle.loc["EW none", "earns"].startswith("nothing")
    eq = {s.name: s.equity for s in res.strategies}
    bil = snapshot_store.prices(["BIL"], start="2020-12-01", end="2021-06-30")["BIL"]
    last = pd.Timestamp("2021-04-21")
    # zero costs, fill at the close: no cash until ALXN's sale on 2021-04-21; from then on the proceeds grow
    # with BIL (negative in 2021: BIL's fee exceeded the T-bill yield) where cash_yield: none keeps them flat
    proceeds = _cash(res, "EW none")
    gained = eq["EW"].iloc[-1] - eq["EW none"].iloc[-1]
    assert gained == pytest.approx(proceeds * (bil.iloc[-1] / bil.loc[last] - 1), rel=1e-9)
    assert gained < 0
    assert idle.loc["EW", "days_over_1pct"] == len(eq["EW"].loc[last:])   # from the sale at that close
    assert idle.loc["EW", "longest_spell_days"] == idle.loc["EW", "days_over_1pct"]
    assert idle.loc["EW", "interest_earned"] == pytest.approx(gained, rel=1e-9)
    assert idle.loc["EW", "mean_cash_share"] > 0.1


def _cash(res, name) -> float:
    """Idle cash at the end of a run without cash yield, from its trades: capital - buys + sales."""
    t = [s for s in res.strategies if s.name == name][0].trades
    return float(CAPITAL - t.loc[t.side == "buy", "value"].sum() + t.loc[t.side == "sell", "value"].sum())


def test_cash_yield_and_shares_keys_are_validated():
    base = "name: t\nstart: 2020-01-01\nstrategies:\n  - {name: s, weighting: fixed, weights: {SPY: 1}%s}\n"
    with pytest.raises(ConfigError, match=r"strategies\[0\].shares .*does not apply to weighting: fixed"):
        parse_config(base % ", shares: backfill")
    with pytest.raises(ConfigError, match=r"data_gaps .*must be one of sell, hold, refuse, got 'drop'"):
        parse_config("data_gaps: drop\n" + base % "")
    cfg = parse_config("cash_yield: none\nshares: backfill\n" + base % "")
    assert cfg.strategies[0].cash_yield == "none" and cfg.data_gaps == "sell"


# --- Data gaps ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ended(snapshot_store):
    from backtest.data.inputs import members_in_range
    from backtest.data.membership import load_membership

    membership = load_membership(snapshot_store, "snapshot")
    names = members_in_range(membership, "2016-01-01", None)
    px = snapshot_store.prices([*names, "SPY"], start="2016-01-01")
    return find_ended(px, px["SPY"].dropna().index, membership)


def test_prices_ending_while_a_member_are_data_gaps(ended, market_data_dir):
    raw = pd.read_parquet(market_data_dir / "prices_sp500.parquet")
    raw_last = raw.apply(pd.Series.last_valid_index)
    july = sorted(ended.index[ended["last_price"] == "2026-07-13"])
    assert july == ["ED", "LULU", "ROP", "UNH", "XYL"]
    april = sorted(ended.index[ended["last_price"] == "2021-04-21"])
    assert april == sorted(raw_last.index[raw_last == pd.Timestamp("2021-04-21")])
    assert len(april) == 23      # the raw file: 23 columns end on 2021-04-21 (VAR ends on the 16th)
    assert ended.loc[[*july, *april], "member_after"].eq(True).all(), "still members: data gaps, not delistings"


GAP_CONFIG = """
name: gaps
start: 2021-01-04
end: 2021-09-30
fill: close
data_gaps: {policy}
strategies:
  - {{name: EW, weighting: equal, universe: sp500, rebalance: quarterly}}
"""


@pytest.fixture(scope="module")
def gap_runs(snapshot_store):
    return {p: run_backtest(parse_config(GAP_CONFIG.format(policy=p)), snapshot_store, offline=True)
            for p in ("sell", "hold")}


def test_data_gap_is_named_with_its_weight_and_the_policy(gap_runs):
    res = gap_runs["sell"]
    q = res.analytics["data_quality"]
    assert set(q.index) >= {"ALXN", "XLNX", "TWTR"}
    assert (q.loc["ALXN", "issue"], q.loc["ALXN", "action"]) == (
        "DATA GAP: prices end while an index member", "data_gaps: sell")
    hold = res.strategies[0].holdings
    assert q.loc["ALXN", "held_weight_max"] == pytest.approx(hold["ALXN"].shift(1).loc["2021-04-21"])
    assert 0.0015 < q.loc["ALXN", "held_weight_max"] < 0.003       # about 1/500
    gap_lines = [w for w in res.manifest["warnings"] if "DATA GAP" in w]
    assert len(gap_lines) == 1 and "ALXN (2021-04-21, 0." in gap_lines[0]


def test_hold_policy_keeps_the_name_at_its_last_close_until_the_next_rebalance(gap_runs):
    sell, hold = gap_runs["sell"].strategies[0], gap_runs["hold"].strategies[0]
    after = pd.Timestamp("2021-04-22")
    assert sell.holdings.loc[after, "ALXN"] == 0.0
    assert hold.holdings.loc[after, "ALXN"] > 0.0
    sold = hold.trades.query("ticker == 'ALXN' and side == 'sell'")
    assert sold["date"].tolist() == [pd.Timestamp("2021-07-01")], "sold on the next rebalance ..."
    last_close = sell.trades.query("ticker == 'ALXN' and side == 'sell'")["price"].iloc[0]
    assert sold["price"].iloc[0] == pytest.approx(last_close), "... at the last close"
    assert gap_runs["hold"].analytics["data_quality"].loc["ALXN", "action"] == "data_gaps: hold"


def test_refuse_policy_stops_the_run_naming_the_gaps(snapshot_store):
    with pytest.raises(DataError, match=r"data_gaps: refuse: strategy 'EW' holds 24 name\(s\) whose prices end "
                                        r"while they are still sp500 members .*ALXN \(2021-04-21, "):
        run_backtest(parse_config(GAP_CONFIG.format(policy="refuse")), snapshot_store, offline=True)


# --- Share counts ---------------------------------------------------------------------------------------

SHARES_CONFIG = """
name: shares
start: 2016-01-04
end: 2025-06-30
rebalance: quarterly
strategies:
  - {name: PIT, weighting: cap, universe: sp500, shares: point_in_time}
  - {name: Backfill, weighting: cap, universe: sp500, shares: backfill}
"""
CUT = pd.Timestamp("2019-12-31")


@pytest.fixture(scope="module")
def share_plans(snapshot_store):
    cfg = parse_config(SHARES_CONFIG)
    inputs = load_inputs(cfg, snapshot_store, offline=True)
    base = build_plans(cfg, inputs)
    # perturb only share observations dated after CUT (every later count x a random factor in [0.5, 2])
    rng = np.random.default_rng(7)
    long = inputs.shares.copy()
    later = pd.to_datetime(long["date"]) > CUT
    long.loc[later, "shares"] = long.loc[later, "shares"] * rng.uniform(0.5, 2.0, int(later.sum()))
    moved = dataclasses.replace(inputs, shares=long, shares_daily=daily_shares(long, inputs.prices))
    return base, build_plans(cfg, moved)


def test_point_in_time_weights_ignore_later_share_observations(share_plans):
    base, moved = share_plans
    a, b = base.plans["PIT"].targets, moved.plans["PIT"].targets
    assert len(a.loc[:CUT]) == 16
    pd.testing.assert_frame_equal(a.loc[:CUT], b.loc[:CUT].reindex(columns=a.columns, fill_value=0.0))
    assert not np.allclose(a.loc["2025"].to_numpy(), b.loc["2025"].reindex(columns=a.columns,
                                                                           fill_value=0.0).to_numpy())


def test_backfill_weights_move_with_later_observations_and_are_marked_look_ahead(share_plans):
    base, moved = share_plans
    a, b = base.plans["Backfill"].targets, moved.plans["Backfill"].targets
    b = b.reindex(columns=a.columns, fill_value=0.0)
    assert (a.loc[:CUT] - b.loc[:CUT]).abs().to_numpy().max() > 1e-3, "look-ahead: earlier weights moved"
    basis = base.tables["cap_basis_backfill"]
    assert (basis.loc[:"2024-06-30", "weight_on_later_obs"] > 0.015).all()   # 1.7% .. 8.4% on the snapshot
    assert (basis["left_out_weight_est"] == 0).all()
    assert any("LOOK-AHEAD (shares: backfill)" in n for n in base.notes["Backfill"])


def test_point_in_time_names_what_it_leaves_out_with_the_estimated_weight(share_plans):
    base, _ = share_plans
    pit, bf = base.tables["cap_basis_pit"], base.tables["cap_basis_backfill"]
    assert (pit["weight_on_later_obs"] == 0).all()
    # the weight left out under point_in_time is the weight backfill rests on later observations
    np.testing.assert_allclose(pit["left_out_weight_est"], bf["weight_on_later_obs"], rtol=1e-12)
    assert "BRK-B" in pit.loc["2024-04-01", "left_out"]
    assert not pit.loc["2024-04-01":, "backfilled_names"].any()
    assert any(n.startswith("PIT: shares: point_in_time: on ") for n in base.notes["PIT"])


def test_the_2025_share_refresh_shows_as_method_made_turnover(share_plans):
    base, _ = share_plans
    refresh = base.tables["cap_basis_pit"]["share_refresh_turnover"]
    assert refresh.loc["2025-01-02"] > 0.05
    quiet = refresh.drop(pd.Timestamp("2025-01-02")).dropna()
    assert quiet.max() < 0.02
    assert "PIT: method-made turnover: new share counts alone (not prices) move the cap weights by more than " \
           "2% one-sided on: 2025-01-02 (7.8%)" in base.notes["PIT"]


# --- The report ------------------------------------------------------------------------------------------

def test_the_report_data_section_shows_data_quality_and_idle_cash(rotation_run):
    html = (rotation_run / "report.html").read_text(encoding="utf-8")
    data = html[html.index('<section id="data">'):]
    data = data[:data.index("</section>")]
    assert "<h3>Data quality</h3>" in data and "<h3>Idle cash</h3>" in data
    assert "DATA GAP: prices end while an index member" in data and ">ALXN<" in data
    quality = pd.read_csv(rotation_run / "analytics" / "data-quality.csv", index_col=0)
    assert quality.loc["ALXN", "member_next_day"] == "yes"
    assert quality.loc["ALXN", "last_price"].startswith("2021-04-21")
    idle = pd.read_csv(rotation_run / "analytics" / "idle-cash.csv", index_col=0)
    assert (idle["earns"] == "BIL (the run's risk_free)").all()
    assert idle.loc["Equal-weight S&P 493", "days_over_1pct"] > 40     # 2021-04-21 .. the next rebalance
