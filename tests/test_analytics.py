"""Rotation analytics on the real offline snapshot, each figure against an independent plain-pandas check.

The "expected" side of every test reads the raw files itself and recomputes the figure with loops and
``.loc`` lookups, sharing no code with ``backtest.analytics``.
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest.analytics import (
    asset_snapshot,
    attribution,
    breadth,
    concentration,
    dispersion,
    format_snapshot,
    group_index,
    index_cap_weights,
    member_mask,
    resolve_window,
    rotation_analytics,
)
from backtest.analytics.groups import cap_holdings
from backtest.errors import DataError, UsageError
from tests.conftest import dump_dom

ASOF = "2026-06-22"
M7 = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "GOOG", "META", "TSLA"]


# --------------------------------------------------------------------------------------------- raw data
@pytest.fixture(scope="module")
def raw(market_data_dir: Path) -> dict[str, pd.DataFrame]:
    d = market_data_dir
    return {
        "stocks": pd.read_parquet(d / "prices_sp500.parquet"),
        "etf": pd.read_parquet(d / "prices_etf.parquet"),
        "membership": pd.read_csv(d / "sp500_membership_intervals.csv"),
        "universe": pd.read_csv(d / "sp500_universe_and_sources.csv"),
        "snapshots": pd.read_parquet(d / "marketcap_snapshots.parquet"),
        "spy_conc": pd.read_csv(d / "qa" / "spy_concentration_by_snapshot.csv", parse_dates=["date"]),
    }


def build_shares(raw: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Shares in adjusted-price units from the Yahoo cap snapshots, held constant forward (test-side stand-in
    for backtest/marketcap.py): shares = market_cap_usd / adj_close on the snapshot date (the last close on or
    before it). Snapshot symbols are mapped to price columns through the universe file (FB -> META,
    BRK-B -> BRK-B, BK -> BNY). GOOG/GOOGL and FOX/FOXA each carry the whole company's cap, so each class gets
    half when both are present."""
    px = raw["stocks"]
    uni = raw["universe"]
    to_col = {t: c for t, c in zip(uni["ticker"], uni["price_column"]) if isinstance(c, str)}

    def column(symbol: str) -> str | None:
        if symbol in px.columns:
            return symbol
        for s in (symbol, symbol.replace("-", ".")):
            if to_col.get(s) in px.columns:
                return to_col[s]
        return None

    snap = raw["snapshots"].dropna(subset=["market_cap_usd"])
    snap = snap.assign(col=snap["symbol"].map(column)).dropna(subset=["col"])
    rows = {}
    for date, g in snap.groupby("date"):
        pos = px.index.searchsorted(date, side="right") - 1
        if pos < 0:
            continue
        close_day = px.index[pos]
        caps = g.drop_duplicates("col").set_index("col")["market_cap_usd"]
        shares = caps / px.loc[close_day, caps.index]
        for a, b in (("GOOG", "GOOGL"), ("FOX", "FOXA")):
            if a in shares.index and b in shares.index:
                shares[[a, b]] = shares[[a, b]] / 2
        rows[close_day] = shares
    return pd.DataFrame(rows).T.sort_index().reindex(px.index, method="ffill")


@pytest.fixture(scope="module")
def shares(raw) -> pd.DataFrame:
    return build_shares(raw)


def raw_members(raw, date) -> list[tuple[str, str | None]]:
    """(ticker, price_column) of intervals with start <= date < end, straight from the CSV."""
    if "intervals" not in raw:  # parse once: plain tuples of (ticker, start, end or None, column or None)
        table = raw["membership"][["ticker", "start_date", "end_date", "price_column"]]
        raw["intervals"] = [
            (t, pd.Timestamp(s), pd.Timestamp(e) if isinstance(e, str) else None,
             c if isinstance(c, str) else None)
            for t, s, e, c in table.itertuples(index=False)
        ]
    date = pd.Timestamp(date)
    return [(t, c) for t, s, e, c in raw["intervals"] if s <= date and (e is None or date < e)]


def raw_cap_index(raw, shares, start, end, names=None):
    """Independent daily loop: cap-weighted returns of point-in-time members (optionally only ``names``).

    Returns (daily index returns, daily {column: contribution}) over the days (start, end]."""
    px = raw["stocks"]
    days = px.loc[start:end].index
    rets, contrib = [], []
    member_cols = {}
    for prev, day in zip(days[:-1], days[1:]):
        if day not in member_cols:
            member_cols[day] = {c for _, c in raw_members(raw, day) if c}
        caps, dayret = {}, {}
        before, after, held = px.loc[prev].to_dict(), px.loc[day].to_dict(), shares.loc[prev].to_dict()
        for col in member_cols[day]:
            if names is not None and col not in names:
                continue
            p0, p1, s = before.get(col, np.nan), after.get(col, np.nan), held.get(col, np.nan)
            if pd.notna(p0) and pd.notna(p1) and pd.notna(s) and s > 0:
                caps[col] = s * p0
                dayret[col] = p1 / p0 - 1
        total = sum(caps.values())
        today = {col: cap / total * dayret[col] for col, cap in caps.items()}
        contrib.append(today)
        rets.append(sum(today.values()))
    return rets, contrib


# ------------------------------------------------------------------------------------------- windows
def test_resolve_window_named_windows_use_the_close_before_the_window(raw):
    idx = raw["etf"].index
    before_2026 = idx[idx < "2026-01-01"][-1]
    on_asof = idx[idx <= ASOF][-1]
    assert resolve_window(idx, ASOF, "ytd") == (before_2026, on_asof)
    assert before_2026 == pd.Timestamp("2025-12-31")
    assert resolve_window(idx, ASOF, "mtd") == (idx[idx < "2026-06-01"][-1], on_asof)
    assert resolve_window(idx, ASOF, "1m") == (idx[idx <= "2026-05-22"][-1], on_asof)
    assert resolve_window(idx, ASOF, "3y") == (idx[idx <= "2023-06-22"][-1], on_asof)
    assert resolve_window(idx, ASOF, "full") == (idx[0], on_asof)
    # explicit: the first day of the window, base = the close before it; end replaces asof
    end_q1 = pd.Timestamp("2026-03-31")
    assert resolve_window(idx, None, ("2026-01-01", "2026-03-31")) == (before_2026, end_q1)
    assert resolve_window(idx, ASOF, "2026-01-02:2026-03-31") == (before_2026, end_q1)


def test_resolve_window_weekend_asof_and_empty_window(raw):
    idx = raw["etf"].index
    # 2026-03-01 is a Sunday: month-to-date has no trading day yet -> zero-length window on Friday's close
    assert resolve_window(idx, "2026-03-01", "mtd") == (pd.Timestamp("2026-02-27"),) * 2


def test_resolve_window_errors_name_the_problem(raw):
    idx = raw["stocks"].index  # starts 2015-01-02
    with pytest.raises(DataError, match="needs a close before 2015-01-01 but the data starts 2015-01-02"):
        resolve_window(idx, "2015-06-30", "ytd")
    with pytest.raises(DataError, match="ends before the data starts"):
        resolve_window(idx, "2010-01-01", "1y")
    with pytest.raises(UsageError, match="expected one of ytd"):
        resolve_window(idx, ASOF, "last-week")
    with pytest.raises(UsageError, match="ends .2026-01-01. before it starts .2026-03-01."):
        resolve_window(idx, ASOF, ("2026-03-01", "2026-01-01"))


# ----------------------------------------------------------------------------------------- snapshot
def test_snapshot_ytd_matches_raw_prices(raw):
    etf = raw["etf"]
    snap = asset_snapshot(etf, ["IWM", "AVUV", "VTV", "SPY"], ASOF, "ytd")
    for t in ["IWM", "AVUV", "VTV", "SPY"]:
        expected = etf.loc["2026-06-22", t] / etf.loc["2025-12-31", t] - 1
        assert snap.loc[t, "total_return"] == pytest.approx(expected, rel=1e-12)
        assert snap.loc[t, "start_date"] == pd.Timestamp("2025-12-31")
        assert snap.loc[t, "end_date"] == pd.Timestamp("2026-06-22")
        assert snap.loc[t, "note"] == ""
    text = format_snapshot(snap)
    iwm = etf.loc["2026-06-22", "IWM"] / etf.loc["2025-12-31", "IWM"] - 1
    assert re.search(rf"IWM\s+2025-12-31\s+[\d,.]+\s+2026-06-22\s+[\d,.]+\s+{re.escape(f'{iwm:+.2%}')}", text)


def test_snapshot_keeps_tickers_without_data_with_a_note(raw):
    etf = raw["etf"]
    snap = asset_snapshot(etf, ["NOSUCH", "AVUV", "SPY"], "2018-12-31", "1y")
    assert list(snap.index) == ["NOSUCH", "AVUV", "SPY"]
    assert math.isnan(snap.loc["NOSUCH", "total_return"])
    assert "no price series" in snap.loc["NOSUCH", "note"]
    assert math.isnan(snap.loc["AVUV", "total_return"])  # AVUV lists in 2019
    assert "series runs 2019-" in snap.loc["AVUV", "note"]
    assert snap.loc["SPY", "total_return"] == pytest.approx(
        etf.loc["2018-12-31", "SPY"] / etf.loc[:"2017-12-31", "SPY"].iloc[-1] - 1)
    assert "n/a" in format_snapshot(snap) and "NOSUCH: no price series" in format_snapshot(snap)


def test_one_day_window(raw):
    etf = raw["etf"]
    # 2026-06-19 was a market holiday: a one-day window on 06-22 starts from the 06-18 close
    snap = asset_snapshot(etf, ["SPY"], None, ("2026-06-22", "2026-06-22"))
    prev = etf.index[etf.index.get_loc(pd.Timestamp("2026-06-22")) - 1]
    assert snap.loc["SPY", "start_date"] == prev == pd.Timestamp("2026-06-18")
    assert snap.loc["SPY", "total_return"] == pytest.approx(
        etf.loc["2026-06-22", "SPY"] / etf.loc[prev, "SPY"] - 1)


# ------------------------------------------------------------------------------------ concentration
def test_concentration_formulas_on_a_small_frame():
    w = pd.DataFrame({"A": [0.5, 0.3, np.nan], "B": [0.3, 0.3, np.nan], "C": [0.2, 0.2, np.nan]},
                     index=pd.to_datetime(["2026-01-02", "2026-01-05", "2026-01-06"]))
    c = concentration(w, {"ab": ["A", "B"]}, top_n=2)
    assert c.loc["2026-01-02", "top2_share"] == pytest.approx(0.8)
    assert c.loc["2026-01-02", "hhi"] == pytest.approx(0.25 + 0.09 + 0.04)
    assert c.loc["2026-01-02", "effective_n"] == pytest.approx(1 / 0.38)
    # 20% cash: weights normalised over what is invested, which is reported
    assert c.loc["2026-01-05", "invested"] == pytest.approx(0.8)
    assert c.loc["2026-01-05", "ab_share"] == pytest.approx(0.75)
    assert c.loc["2026-01-06", "n_names"] == 0 and math.isnan(c.loc["2026-01-06", "hhi"])


def test_index_cap_weights_match_an_independent_calculation(raw, shares):
    date = pd.Timestamp("2025-07-01")
    w = index_cap_weights(raw["stocks"], shares, raw["membership"], [date]).loc[date].dropna()
    caps = {}
    for _, col in raw_members(raw, date):
        if col and col in shares and pd.notna(raw["stocks"].at[date, col]) and pd.notna(shares.at[date, col]):
            caps[col] = shares.at[date, col] * raw["stocks"].at[date, col]
    expected = pd.Series(caps) / sum(caps.values())
    assert set(w.index) == set(expected.index)
    assert (w - expected.reindex(w.index)).abs().max() < 1e-12
    top10 = sorted(expected.to_numpy(), reverse=True)[:10]
    c = concentration(w.to_frame().T, {"mag7": M7})
    assert c["top10_share"].iloc[0] == pytest.approx(sum(top10))
    assert c["mag7_share"].iloc[0] == pytest.approx(expected.reindex(M7).sum())
    assert c["hhi"].iloc[0] == pytest.approx((expected ** 2).sum())


def test_concentration_agrees_with_spy_holdings_2025(raw, shares):
    """Cap weights from Yahoo full caps vs SPY's published weights (qa/spy_concentration_by_snapshot.csv).

    Tolerance 1.5 points on the level: our weights use full (not float-adjusted) caps with shares held since
    the 2025-01-31 snapshot, and 20 members (BRK-B among them, ~1.7% of SPY) have no price or no cap, so every
    other weight is scaled up by ~1/(1 - 0.025); on a 36-39% top-10 that is about +1 point (observed
    +0.4..+0.7, Mag 7 +0.7..+0.9). The change between dates does not carry that level bias: observed within
    0.2 point, allowed 0.5."""
    q = raw["spy_conc"].set_index("date")
    c = concentration(index_cap_weights(raw["stocks"], shares, raw["membership"], q.index), {"mag7": M7})
    diff_top = c["top10_share"] - q["top10_securities"]
    diff_mag = c["mag7_share"] - q["mag7"]
    assert diff_top.abs().max() < 0.015
    assert diff_mag.abs().max() < 0.015
    first, last = q.index[0], q.index[-1]
    assert (c.at[last, "top10_share"] - c.at[first, "top10_share"]) == pytest.approx(
        q.at[last, "top10_securities"] - q.at[first, "top10_securities"], abs=0.005)


# ------------------------------------------------------------------------------- Mag 7 vs the rest
def test_tsla_is_not_in_the_mag7_before_it_joined_the_index(raw, shares):
    px, mem = raw["stocks"], raw["membership"]
    assert pd.notna(px.loc["2020-12-18", "TSLA"])  # it has prices: only membership keeps it out
    mask = member_mask(mem, px.loc["2020-12-15":"2020-12-23"].index, M7)
    assert not mask.loc[:"2020-12-18", "TSLA"].any() and mask.loc["2020-12-21":, "TSLA"].all()
    gi = group_index(px, shares, mem, M7, "2020-12-15", "2020-12-23")
    assert (gi.loc[:"2020-12-18", "mag7_members"] == 7).all()
    assert (gi.loc["2020-12-21":, "mag7_members"] == 8).all()
    # with TSLA's first known shares back-filled, the cap index holds it from 2020-12-21 on, never before
    _, held = cap_holdings(px, shares.bfill(), mem, "2020-12-15", "2020-12-23")
    assert held.loc[:"2020-12-18", "TSLA"].isna().all() and held.loc["2020-12-21":, "TSLA"].notna().all()


def test_group_index_ytd_matches_an_independent_loop(raw, shares):
    px, mem = raw["stocks"], raw["membership"]
    gi = group_index(px, shares, mem, M7, "2025-12-31", ASOF)
    mag_rets, _ = raw_cap_index(raw, shares, "2025-12-31", ASOF, names=set(M7))
    all_rets, _ = raw_cap_index(raw, shares, "2025-12-31", ASOF)
    assert gi["mag7_cap"].iloc[0] == 1.0 and gi.index[0] == pd.Timestamp("2025-12-31")
    assert gi["mag7_cap"].iloc[-1] == pytest.approx(np.prod([1 + r for r in mag_rets]), rel=1e-10)
    assert gi["index_cap"].iloc[-1] == pytest.approx(np.prod([1 + r for r in all_rets]), rel=1e-10)
    # equal-weighted rest, reset monthly: at each month-end close, 1/N over the next day's members
    days = px.loc["2025-12-31":ASOF].index
    level, reset_price, prev = 1.0, {}, days[0]
    for day in days[1:]:
        today = {c for _, c in raw_members(raw, day) if c}
        before, after = px.loc[prev].to_dict(), px.loc[day].to_dict()
        if day.month != prev.month:  # new period: equal dollars at prev's close in the day's members
            reset_price = {c: before[c] for c in today if c not in M7 and pd.notna(before.get(c, np.nan))}
        # a dollar put in at the reset is worth p[prev] / p[reset] at prev's close
        value = {c: before[c] / p0 for c, p0 in reset_price.items()
                 if c in today and pd.notna(after[c]) and pd.notna(before[c])}
        total = sum(value.values())
        level *= 1 + sum(v / total * (after[c] / before[c] - 1) for c, v in value.items())
        prev = day
    assert gi["rest_equal"].iloc[-1] == pytest.approx(level, rel=1e-9)
    # the index built from Yahoo full caps tracks SPY: YTD within 1 point (missing names, float adjustment)
    spy = raw["etf"]["SPY"]
    assert gi["index_cap"].iloc[-1] - 1 == pytest.approx(spy[ASOF] / spy["2025-12-31"] - 1, abs=0.01)


def test_rolling_12m_relative_return(raw, shares):
    gi = group_index(raw["stocks"], shares, raw["membership"], M7, "2024-12-31", ASOF)
    ratio = gi["mag7_cap"] / gi["rest_cap"]
    assert (gi["mag7_vs_rest_cap"] - ratio).abs().max() < 1e-12
    lag = ratio.loc[:"2025-06-22"].iloc[-1]
    assert gi.at[pd.Timestamp(ASOF), "mag7_vs_rest_cap_12m"] == pytest.approx(ratio[ASOF] / lag - 1)
    assert gi.loc[:"2025-12-30", "mag7_vs_rest_cap_12m"].isna().all()  # less than a year of history


def test_attribution_parts_add_up_and_match_an_independent_loop(raw, shares):
    a = attribution(raw["stocks"], shares, raw["membership"], {"mag7": M7}, "2025-12-31", ASOF)
    rets, contrib = raw_cap_index(raw, shares, "2025-12-31", ASOF)
    total = np.prod([1 + r for r in rets]) - 1
    assert a.at["total", "contribution"] == pytest.approx(total, rel=1e-10)
    parts = a.loc[["mag7", "rest", "compounding"]]
    assert parts["contribution"].sum() == pytest.approx(total, abs=1e-12)
    assert parts["contribution_arithmetic"].sum() == pytest.approx(total, abs=1e-12)
    assert abs(a.at["compounding", "contribution"]) < 1e-12
    mag_daily = np.array([sum(v for k, v in day.items() if k in M7) for day in contrib])
    assert a.at["mag7", "contribution_arithmetic"] == pytest.approx(mag_daily.sum(), rel=1e-10)
    # linked: each day's contribution scaled by the index's growth up to the day before
    growth = np.cumprod([1.0] + [1 + r for r in rets])[:-1]
    assert a.at["mag7", "contribution"] == pytest.approx(float((growth * mag_daily).sum()), rel=1e-10)


def test_attribution_one_day_window(raw, shares):
    a = attribution(raw["stocks"], shares, raw["membership"], {"mag7": M7}, "2026-06-18", ASOF)
    rets, _ = raw_cap_index(raw, shares, "2026-06-18", ASOF)
    assert len(rets) == 1
    assert a.at["total", "contribution"] == pytest.approx(rets[0], rel=1e-10)
    assert a.at["compounding", "contribution_arithmetic"] == pytest.approx(0.0, abs=1e-15)


# ------------------------------------------------------------------------------ dispersion, breadth
def test_dispersion_spread_and_std(raw):
    px = raw["stocks"]
    returns, spread, std = dispersion(px, M7 + ["NOSUCH"], "2025-12-31", ASOF)
    expected = {t: px.at[pd.Timestamp(ASOF), t] / px.at[pd.Timestamp("2025-12-31"), t] - 1 for t in M7}
    for t, r in expected.items():
        assert returns.at[t, "total_return"] == pytest.approx(r, rel=1e-12)
    assert math.isnan(returns.at["NOSUCH", "total_return"]) and returns.at["NOSUCH", "note"]
    assert spread == pytest.approx(max(expected.values()) - min(expected.values()))
    assert std == pytest.approx(np.std(list(expected.values())))  # numpy's default: population


def test_breadth_count_rederived(raw):
    px, spy = raw["stocks"], raw["etf"]["SPY"]
    b = breadth(px, raw["membership"], spy, "2025-12-31", ASOF)
    first_day = px.index[px.index > "2025-12-31"][0]
    bench = spy[ASOF] / spy["2025-12-31"] - 1
    count = n = 0
    missing = set()
    p0, p1 = px.loc["2025-12-31"], px.loc[ASOF]
    for ticker, col in raw_members(raw, first_day):
        if col is None or pd.isna(p0[col]) or pd.isna(p1[col]):
            missing.add(ticker)
            continue
        n += 1
        count += p1[col] / p0[col] - 1 > bench
    assert (b.count, b.n, set(b.missing)) == (count, n, missing)
    assert b.members_date == first_day and b.share == pytest.approx(count / n)
    assert b.benchmark_return == pytest.approx(bench)
    assert b.members["beats"].sum() == count


# --------------------------------------------------------------------------------------- assembled
@pytest.fixture(scope="module")
def assembled(raw, shares) -> dict[str, pd.DataFrame]:
    prices = raw["stocks"].join(raw["etf"], how="outer")
    windows = ("ytd", "full", ("2026-06-22", "2026-06-22"), ("1990-01-01", "1990-12-31"))
    return rotation_analytics(prices, shares, raw["membership"], asof=ASOF, windows=windows)


def test_rotation_analytics_keys_are_filesystem_safe_and_frames_csv_friendly(assembled):
    for key, frame in assembled.items():
        assert re.fullmatch(r"[a-z0-9_-]+", key), key
        buf = io.StringIO()
        frame.to_csv(buf)
        back = pd.read_csv(io.StringIO(buf.getvalue()))
        assert len(back) == len(frame), key
    expected = {"windows", "snapshot_ytd", "attribution_ytd", "dispersion_ytd", "breadth_ytd", "dispersion",
                "breadth", "mag7_vs_rest", "concentration", "coverage", "notes", "snapshot_full",
                "snapshot_2026-06-22_2026-06-22"}
    assert expected <= set(assembled)


def test_rotation_analytics_reports_rather_than_hides(assembled, raw):
    notes = " | ".join(assembled["notes"]["note"])
    assert "window 1990-01-01_1990-12-31: skipped" in notes      # window before the member data
    assert "snapshot full: AVUV: no close on 2015-01-02" in notes  # 'full' starts with the member data
    assert "without shares" in notes and "membership intervals record no change after" in notes
    w = assembled["windows"]
    assert w.at["ytd", "start_date"] == pd.Timestamp("2025-12-31")
    assert w.at["full", "start_date"] == raw["stocks"].index[0]
    snap = assembled["snapshot_ytd"]
    etf = raw["etf"]
    assert snap.at["IWM", "total_return"] == pytest.approx(etf.at[pd.Timestamp(ASOF), "IWM"]
                                                           / etf.at[pd.Timestamp("2025-12-31"), "IWM"] - 1)
    conc = assembled["concentration"]
    assert set(conc["portfolio"]) == {"sp500_cap"} and conc["date"].max() == pd.Timestamp(ASOF)
    assert assembled["breadth"].at["ytd", "n"] > 400


# ------------------------------------------------------------------------------------------- report
HOSTILE = "<script>window.__pwned = 1</script>"


def _hostile(analytics: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    out = dict(analytics)
    snap = out["snapshot_ytd"].copy()
    snap.loc[HOSTILE] = snap.iloc[0]
    snap.loc[HOSTILE, "note"] = HOSTILE
    out["snapshot_ytd"] = snap
    out["notes"] = pd.concat([out["notes"], pd.DataFrame({"note": [HOSTILE]})], ignore_index=True)
    conc = out["concentration"].copy()
    conc.loc[len(conc)] = conc.iloc[-1]
    conc.loc[len(conc) - 1, "portfolio"] = HOSTILE
    out["concentration"] = conc
    return out


def _csv_round_trip(analytics: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """What the run folder hands back: dated frames parsed, others with their first column as index."""
    back = {}
    for key, frame in analytics.items():
        text = frame.to_csv(lineterminator="\n", date_format="%Y-%m-%d")
        if isinstance(frame.index, pd.DatetimeIndex):
            table = pd.read_csv(io.StringIO(text), index_col=0, parse_dates=[0])
        else:
            table = pd.read_csv(io.StringIO(text))
            table = table.set_index(table.columns[0])
        table.index.name = frame.index.name
        back[key] = table
    return back


def test_render_analytics_section_escapes_and_survives_the_csv_round_trip(assembled):
    from backtest.report.analytics_section import render_analytics_section

    assert render_analytics_section({}) == ""
    html = render_analytics_section(_hostile(assembled))
    assert html.startswith('<section id="rotation">')
    for heading in ("Asset-class snapshot", "Concentration over time", "Mag 7 vs the rest of the S&amp;P 500",
                    "Return attribution", "Dispersion of the Mag 7", "Breadth", "Data caveats"):
        assert heading in html, heading
    assert "<script>window.__pwned" not in html and "&lt;script&gt;window.__pwned" in html
    assert html.count('class="bt-fig"') == 5  # 2 concentration, 2 Mag 7 vs rest, 1 breadth
    assert "plotly-graph-div" not in html and "Plotly.newPlot" not in html  # the page script draws
    again = render_analytics_section(_csv_round_trip(assembled))
    assert again.count('class="bt-fig"') == 5
    assert "2025-12-31" in again and "+" in again


@pytest.mark.browser
def test_analytics_section_draws_in_chromium(assembled, tmp_path):
    """Debian's chromium loads a page holding the section and dumps the DOM once scripts have run.

    Plain ``chromium --dump-dom`` rather than Playwright, so this test never shares an event loop with the
    report tests' Playwright session. Script errors and a hostile payload are recorded on <html>."""
    from backtest.report.analytics_section import render_analytics_section
    from backtest.report.page import render_page

    probe = ("<script>var h = document.documentElement;"
             "window.addEventListener('error', function (e) {"
             " h.setAttribute('data-js-errors', (h.getAttribute('data-js-errors') || '') + e.message + '|'); });"
             "window.addEventListener('load', function () {"
             " if (window.__pwned !== undefined) h.setAttribute('data-pwned', String(window.__pwned)); });"
             "</script>")
    body = probe + render_analytics_section(_hostile(assembled))
    page_file = tmp_path / "page.html"
    page_file.write_text(render_page(title="analytics", header="<h1>analytics</h1>",
                                     nav=[("rotation", "Rotation")], body=body, footer=""), encoding="utf-8")
    dom = dump_dom(page_file, tmp_path / "profile")
    head = dom[:dom.index(">", dom.index("<html")) + 1]
    assert "data-js-errors" not in head, head
    assert "data-pwned" not in head, head
    assert dom.count('<div class="plot js-plotly-plot"') == 5  # every figure div was handed to plotly
    assert dom.count('class="plot-container plotly"') == 5  # and plotly drew it
    assert dom.count("<table") >= 8


def test_windows_table_writes_each_window_as_the_config_does():
    """windows.csv's `since` column: "ytd", "3m", "2026-01-02 .. 2026-06-22" (it held a Python repr of a
    tuple of Timestamps for an explicit window)."""
    from backtest.analytics.windows import window_text

    assert window_text("ytd") == "ytd" and window_text("3m") == "3m"
    assert window_text(("2026-01-02", "2026-06-22")) == "2026-01-02 .. 2026-06-22"
    assert window_text((pd.Timestamp("2026-01-02"), None)) == "2026-01-02 .. asof"
    assert window_text("2026-01-02:2026-06-22") == "2026-01-02 .. 2026-06-22"


def test_snapshot_of_stocks_beside_a_seven_day_market_ends_each_on_its_own_last_close(raw, tmp_path):
    """`bt snapshot SPY COINX --asof <a Sunday>` with COINX priced every day: SPY's window ends on its last
    session (the Friday), COINX's on the Sunday. The union of their dates made SPY n/a (no close on Sunday)
    and could start a window on a weekend. A session the stock misses stays n/a (no silent earlier close)."""
    from backtest.data.store import PriceStore
    from backtest.runner import snapshot_table

    spy = raw["etf"].loc["2025-06-02":"2026-06-30", ["SPY"]]
    days = pd.date_range("2025-12-01", "2026-06-30", freq="D")
    coin = pd.DataFrame({"COINX": np.linspace(100.0, 160.0, len(days))}, index=days)
    store = PriceStore(tmp_path / "store")
    store.write_prices(spy, "snapshot:test")
    store.write_prices(coin, "file:coin")
    text = snapshot_table(store, ["SPY", "COINX"], asof="2026-06-14", since="ytd")       # a Sunday
    want = spy.loc["2026-06-12", "SPY"] / spy.loc["2025-12-31", "SPY"] - 1                # its Friday close
    assert re.search(rf"SPY\s+2025-12-31\s+[\d,.]+\s+2026-06-12\s+[\d,.]+\s+{re.escape(f'{want:+.2%}')}", text)
    c = coin["COINX"]
    got = f"{c.loc['2026-06-14'] / c.loc['2025-12-31'] - 1:+.2%}"
    assert re.search(rf"COINX\s+2025-12-31\s+[\d,.]+\s+2026-06-14\s+[\d,.]+\s+{re.escape(got)}", text)
    store.write_prices(spy.drop(pd.Timestamp("2026-06-12")).rename(columns={"SPY": "GAPPY"}), "file:gap")
    gap = snapshot_table(store, ["GAPPY", "COINX"], asof="2026-06-14", since="ytd")
    assert "GAPPY: no close on 2026-06-12" in gap
    # a window reaching before one ticker's dates: its row is n/a with a note, the others are figures (the
    # whole table was refused); a ticker without prices shows the shared window, not its neighbour's
    early = snapshot_table(store, ["COINX", "NOPE", "SPY"], asof="2026-02-27", since="3m")
    assert re.search(r"COINX\s+2025-11-26\s+n/a", early) and "COINX: no close on 2025-11-26" in early
    assert re.search(r"NOPE\s+2025-11-26\s+n/a\s+2026-02-27", early) and "NOPE: no price series" in early
    assert re.search(r"SPY\s+2025-11-26\s+[\d,.]+\s+2026-02-27\s+[\d,.]+\s+[+-]\d", early), early
