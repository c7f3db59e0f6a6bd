"""Companies, not share classes (issue 17), on the snapshot: equal splits count companies (Alphabet is one of
the Mag 7, its GOOG and GOOGL split its slot by cap from share counts known on the date), groups are point
in time (TSLA is in `universe: mag7` from 2020-12-21, when it joined the S&P 500), and no class split looks
at a share count observed after the decision date."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from backtest.config import parse_config
from backtest.plans import build_plans
from backtest.data.inputs import load_inputs
from backtest.marketcap import daily_shares
from backtest.universe import MAG7, SHARE_CLASSES

CONFIG = """
name: companies
start: 2020-06-01
end: 2021-06-30
rebalance: monthly
shares: backfill     # TSLA's first share count is from 2024-10: point_in_time leaves it out of cap weights
strategies:
  - name: Mag 7 at 40%, equal inside
    weighting: cap
    universe: sp500
    tilt: {group: mag7, weight: 0.4, inside: equal}
  - name: Mag 7 at 40%, equal per line
    weighting: cap
    universe: sp500
    tilt: {group: mag7, weight: 0.4, inside: equal}
    per: line
  - name: Mag 7 EW
    weighting: equal
    universe: mag7
  - name: Mag 7 EW static
    weighting: equal
    universe: {tickers: [mag7], membership: static}
  - name: Mag 7 EW per line
    weighting: equal
    universe: mag7
    per: line
  - name: EW 493
    weighting: equal
    universe: {index: sp500, exclude: [mag7]}
  - name: EW 493 per line
    weighting: equal
    universe: {index: sp500, exclude: [mag7]}
    per: line
"""
ALPHABET = ["GOOG", "GOOGL"]
OTHERS = [t for t in MAG7 if t not in ALPHABET]
PREFERENCE = ("yahoo", "snapshot:marketcap_snapshots", "snapshot:shares_sp500")
JOINED = pd.Timestamp("2020-12-21")   # TSLA's first day in the S&P 500


@pytest.fixture(scope="module")
def built(snapshot_store):
    cfg = parse_config(CONFIG)
    inputs = load_inputs(cfg, snapshot_store, offline=True)
    return cfg, inputs, build_plans(cfg, inputs)


def known_caps(shares_long: pd.DataFrame, prices: pd.DataFrame, tickers, date) -> pd.Series:
    """Plain pandas on the store's share observations: each ticker's preferred source, its last observation
    on or before `date`, times the price on `date` (NaN when there is none)."""
    out = {}
    for t in tickers:
        rows = shares_long[shares_long["ticker"] == t]
        source = next((s for s in PREFERENCE if (rows["source"] == s).any()), None)
        rows = rows[(rows["source"] == source) & (pd.to_datetime(rows["date"]) <= date)]
        last = rows.sort_values("date")["shares"].iloc[-1] if len(rows) else np.nan
        out[t] = last * prices.loc[date, t]
    return pd.Series(out)


def test_mag7_group_weight_is_seven_company_slots_alphabet_split_by_cap(built):
    """tilt weight 0.4 inside equal: 7 slots of 0.4/7 once TSLA is a member (6 of 0.4/6 before), Alphabet's
    slot split between GOOG and GOOGL in proportion to their caps from share counts known on the date."""
    _, inputs, b = built
    t = b.plans["Mag 7 at 40%, equal inside"].targets
    shares_long = inputs.shares
    for date, row in t.iterrows():
        n = 7 if date >= JOINED else 6
        held = [x for x in OTHERS if row.get(x, 0) > 0]
        assert len(held) == n - 1, (date, held)
        np.testing.assert_allclose(row[held], 0.4 / n, rtol=0, atol=1e-15)
        assert row[ALPHABET].sum() == pytest.approx(0.4 / n, abs=1e-15)
        assert row.reindex(list(MAG7)).sum() == pytest.approx(0.4, abs=1e-12)
        caps = known_caps(shares_long, inputs.prices, ALPHABET, date)
        assert caps.notna().all()
        assert row["GOOG"] / row[ALPHABET].sum() == pytest.approx(caps["GOOG"] / caps.sum(), rel=1e-12)
    assert (t.loc[t.index < JOINED, "TSLA"] == 0).all()
    lines = b.plans["Mag 7 at 40%, equal per line"].targets
    for date, row in lines.iterrows():   # as before issue 17: every class a slot, Alphabet 2 of 8
        n = 8 if date >= JOINED else 7
        np.testing.assert_allclose(row[row.index.isin(MAG7) & (row > 0)], 0.4 / n, rtol=0, atol=1e-15)


def test_mag7_universe_is_point_in_time_unless_static(built):
    """`universe: mag7` holds TSLA only from 2020-12-21; `membership: static` holds it from the start. Equal
    weight per company: 1/6 then 1/7 per company, Alphabet's two classes sharing one slot."""
    _, _, b = built
    pit = b.plans["Mag 7 EW"].targets
    before, after = pit.loc[pit.index < JOINED], pit.loc[pit.index >= JOINED]
    assert len(before) == 7 and len(after) == 6
    assert (before["TSLA"] == 0).all() and (after["TSLA"] > 0).all()
    np.testing.assert_allclose(before[[t for t in OTHERS if t != "TSLA"]], 1 / 6, atol=1e-15)
    np.testing.assert_allclose(before[ALPHABET].sum(axis=1), 1 / 6, atol=1e-15)
    np.testing.assert_allclose(after[OTHERS], 1 / 7, atol=1e-15)
    np.testing.assert_allclose(after[ALPHABET].sum(axis=1), 1 / 7, atol=1e-15)
    static = b.plans["Mag 7 EW static"].targets
    np.testing.assert_allclose(static[OTHERS], 1 / 7, atol=1e-15)
    lines = b.plans["Mag 7 EW per line"].targets      # RSP's convention: Alphabet 2/8 once TSLA is in
    np.testing.assert_allclose(lines.loc[lines.index >= JOINED, list(MAG7)], 1 / 8, atol=1e-15)
    assert any("group(s) mag7 resolved by index membership" in n for n in b.notes["Mag 7 EW"])
    assert any("point-in-time group(s) mag7" in n and "TSLA (7)" in n for n in b.notes["Mag 7 EW"])
    assert any("membership: static" in n for n in b.notes["Mag 7 EW static"])


def test_sp493_counts_companies_and_splits_classes_without_counts_equally(built):
    """The S&P 493 per company: FOX/FOXA, NWS/NWSA, UA/UAA, WBD(DISCA)/DISCK each one slot. FOX and FOXA have
    no share count observed before 2024-10, so their slot is split equally, and the note names them."""
    _, inputs, b = built
    t = b.plans["EW 493"].targets
    lines = b.plans["EW 493 per line"].targets
    for date, row in t.iterrows():
        held = row[row > 0]
        slots = {SHARE_CLASSES.get(x, x) for x in held.index}
        assert len(slots) < len(held)
        single = [x for x in held.index if x not in SHARE_CLASSES]
        np.testing.assert_allclose(held[single], 1 / len(slots), rtol=0, atol=1e-15)
        for key in {SHARE_CLASSES[x] for x in held.index if x in SHARE_CLASSES}:
            assert held[[x for x in held.index if SHARE_CLASSES.get(x) == key]].sum() == pytest.approx(
                1 / len(slots), abs=1e-15)
        if {"FOX", "FOXA"} <= set(held.index):
            assert held["FOX"] == held["FOXA"] == pytest.approx(0.5 / len(slots), abs=1e-15)
        if {"NWS", "NWSA"} <= set(held.index):
            caps = known_caps(inputs.shares, inputs.prices, ["NWS", "NWSA"], date)
            assert held["NWS"] / (held["NWS"] + held["NWSA"]) == pytest.approx(caps["NWS"] / caps.sum(),
                                                                                rel=1e-12)
        per_line = lines.loc[date]
        per_line = per_line[per_line > 0]
        assert list(per_line.index) == list(held.index)
        np.testing.assert_allclose(per_line, 1 / len(per_line), rtol=0, atol=1e-15)
    note = next(n for n in b.notes["EW 493"] if "split equally between its classes" in n)
    assert "FOX (" in note and "FOXA (" in note and "NWS" not in note


def test_class_split_uses_no_share_count_observed_after_the_decision(built):
    """Perturbing every share observation after a date leaves the equal per-company weights on and before it
    unchanged, and the split of Alphabet's slot inside the tilted group too. Not vacuous: FOX and FOXA are
    held throughout and their only share counts are from 2024-10 on, so a split that backfilled counts from
    later observations (as the cap weights' basis does) would move with the perturbation."""
    cfg, inputs, b = built
    d = b.plans["Mag 7 EW"].targets.index[5]
    rng = np.random.default_rng(17)
    shaken = inputs.shares.copy()
    later = pd.to_datetime(shaken["date"]) > d
    shaken.loc[later, "shares"] = shaken.loc[later, "shares"] * rng.uniform(0.5, 2.0, size=int(later.sum()))
    shaken_daily = daily_shares(shaken, inputs.prices)
    fox = ["FOX", "FOXA"]
    backfilled = shaken_daily.shares.loc[:d, fox] / inputs.shares_daily.shares.loc[:d, fox]
    assert ((backfilled - 1).abs() > 1e-3).all().all(), "the perturbation reaches what a backfill would read"
    again = build_plans(cfg, replace(inputs, shares=shaken, shares_daily=shaken_daily))
    for name in ("Mag 7 EW", "EW 493"):
        old, new = b.plans[name].targets, again.plans[name].targets
        pd.testing.assert_frame_equal(new.loc[:d], old.loc[:d], rtol=0, atol=0)
    assert (b.plans["EW 493"].targets.loc[:d, ["FOX", "FOXA"]] > 0).all().all()

    def split(targets):
        return targets["GOOG"] / targets[ALPHABET].sum(axis=1)

    old, new = b.plans["Mag 7 at 40%, equal inside"].targets, again.plans["Mag 7 at 40%, equal inside"].targets
    pd.testing.assert_series_equal(split(new).loc[:d], split(old).loc[:d], rtol=0, atol=0)


def test_rotation_run_says_funds_are_not_looked_through(rotation_run):
    """SPY 70% + AVUV 30%: the concentration table shows the whole portfolio in funds, a top-10 share of
    100% and a Mag 7 share of 0, and the notes and the report say the funds are not looked through."""
    conc = pd.read_csv(rotation_run / "analytics" / "concentration.csv")
    tilt = conc[conc["portfolio"] == "Small-cap value tilt"].dropna(subset=["top10_share"])  # days invested
    assert len(tilt) > 2500
    np.testing.assert_allclose(tilt["funds_not_looked_through"], 1.0, atol=1e-12)
    np.testing.assert_allclose(tilt["top10_share"], 1.0, atol=1e-12)
    assert (tilt["mag7_share"] == 0).all()
    for name in ("sp500_cap", "Equal-weight S&P 493", "Mag 7 overweight"):
        part = conc.loc[conc["portfolio"] == name].dropna(subset=["top10_share"])
        assert len(part) > 100 and (part["funds_not_looked_through"] == 0).all(), name
    notes = pd.read_csv(rotation_run / "analytics" / "notes.csv")["note"].tolist()
    said = [n for n in notes if "not looked through" in n]
    assert len(said) == 1 and said[0].startswith("concentration Small-cap value tilt: holds funds not looked "
                                                 "through (AVUV~IWN, SPY; 100% of the portfolio)")
    assert "are not looked through: each counts as one security" in (rotation_run / "report.html").read_text()


def test_rotation_run_equal_weight_493_counts_companies_as_the_readme_says(rotation_run):
    """The S&P 493 of configs/rotation.yaml is per company: its figure is the README's, and the warnings
    name the classes whose slot was split equally for lack of a share count."""
    import json
    import re
    from pathlib import Path

    metrics = json.loads((rotation_run / "metrics.json").read_text())["strategies"]["Equal-weight S&P 493"]
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    m = re.search(r"returns \*\*\+([\d.]+)% \(([\d.]+)%/yr, Sharpe ([\d.]+)\)\*\* per\s+company", readme)
    assert m, "the README states the S&P 493 figure per company"
    assert round(metrics["total_return"] * 100, 2) == float(m.group(1))
    assert round(metrics["cagr"] * 100, 2) == float(m.group(2))
    assert round(metrics["sharpe"], 3) == float(m.group(3))
    warnings = json.loads((rotation_run / "manifest.json").read_text())["warnings"]
    split = [w for w in warnings if w.startswith("Equal-weight S&P 493: per company:")]
    assert len(split) == 1 and "FOX (23), FOXA (23)" in split[0]
