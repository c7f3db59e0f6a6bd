"""Snapshot import: prices, membership (completed by the newest member list), shares in adjusted units."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest.data.membership import PriceColumnResolver
from backtest.data.snapshot import (
    CAPS_SOURCE,
    SHARES_SOURCE,
    import_snapshot,
    is_snapshot,
    shares_from_marketcaps,
    snapshot_sessions,
)
from backtest.data.store import PriceStore
from backtest.errors import DataError
from backtest.universe import members_at


def test_prices_imported_as_is(snapshot_store, market_data_dir):
    raw = pd.read_parquet(market_data_dir / "prices_sp500.parquet")
    got = snapshot_store.prices(["AAPL", "BRK-B", "SPY"])
    pd.testing.assert_series_equal(got["AAPL"].dropna(), raw["AAPL"].dropna(), check_names=False,
                                   check_index_type=False, check_freq=False)
    assert got["SPY"].first_valid_index() == pd.Timestamp("1993-01-29")
    cat = snapshot_store.catalog().set_index("ticker")
    assert len(cat) == 706 + 1, "640 members, 66 ETFs and the T-bill index ^IRX-TR"
    assert cat.loc["AAPL", "source"] == "snapshot:prices_sp500.parquet"
    assert cat.loc["SPY", "source"] == "snapshot:prices_etf.parquet"
    # a late listing is "covered" from the file's first date: nobody will ask Yahoo for its pre-IPO years
    assert cat.loc["ABNB", "covered_start"] == pd.Timestamp("2015-01-02")


def test_report_summarises_what_was_skipped(snapshot_import):
    _, report = snapshot_import
    text = report.summary()
    assert "640 tickers" in text and "66 tickers" in text
    assert "Yahoo's BRK-B cap in this file is wrong or missing" in text
    reasons = set(report.skipped_caps["reason"])
    assert {"market cap missing", "no price series in the store", "after the ticker's price history"} \
        <= reasons
    assert report.class_fractions["GOOGL"] == pytest.approx(1 - report.class_fractions["GOOG"])


def test_membership_renames_and_spelling(snapshot_store):
    m = snapshot_store.membership().set_index("ticker")
    assert m.loc["FB", "price_column"] == "META" and m.loc["ANTM", "price_column"] == "ELV"
    assert m.loc["BRK-B", "price_column"] == "BRK-B"  # BRK.B in the file
    assert pd.isna(m.loc["CELG", "price_column"])  # a member with no price series: kept, to be reported


def test_membership_completed_after_the_intervals_end(snapshot_store):
    m = snapshot_store.membership()
    assert "APP" not in members_at(m, "2025-09-19") and "APP" in members_at(m, "2025-09-22")
    assert "ANSS" in members_at(m, "2025-07-17") and "ANSS" not in members_at(m, "2025-07-18")
    for date in ("2025-06-30", "2025-12-31", "2026-06-30"):
        assert 500 <= len(members_at(m, date)) <= 506
    late = m.loc[m["ticker"] == "HOOD"].iloc[0]
    assert late["source"].startswith("snapshot:sp500_constituents_")


def test_shares_are_in_adjusted_units(snapshot_store, market_data_dir):
    """shares_sp500 is already in the price file's adjusted units and is stored unchanged (BK -> BNY)."""
    raw = pd.read_parquet(market_data_dir / "shares_sp500.parquet")
    sh = snapshot_store.shares(["AAPL", "BNY"]).query("source == @SHARES_SOURCE")
    on = sh.loc[sh["date"] == pd.Timestamp("2025-06-04")].set_index("ticker")["shares"]
    assert on["AAPL"] == pytest.approx(raw.loc["2025-06-04", "AAPL"])
    assert on["BNY"] == pytest.approx(raw.loc["2025-06-04", "BK"])


def test_old_snapshot_symbols_reach_the_company_column(snapshot_store):
    """The snapshot spells Booking PCLN until 2018; the membership file knows only BKNG: the alias table
    carries those caps over (checked by share-count continuity, see SYMBOL_ALIASES)."""
    caps = snapshot_store.shares(["BKNG", "SPGI"]).query("source == @CAPS_SOURCE")
    assert caps.loc[caps["ticker"] == "BKNG", "date"].min() < pd.Timestamp("2018-02-27")
    assert caps.loc[caps["ticker"] == "SPGI", "date"].min() < pd.Timestamp("2016-04-28")  # MHFI era


def test_no_cap_shares_for_brk_b(snapshot_store):
    sources = set(snapshot_store.shares(["BRK-B"])["source"])
    assert sources == {SHARES_SOURCE}


def test_snapshot_session_is_the_last_close_before_the_commit():
    dates = pd.Series(pd.to_datetime(["2016-07-05", "2024-12-31", "2016-07-02", "2016-02-23"]))
    commits = pd.Series(pd.to_datetime(["2016-07-05 13:16:38", "2025-01-01 01:37:29", "2016-07-02 18:48:26",
                                        "2016-02-23 15:18:46"]).tz_localize("UTC"))
    got = snapshot_sessions(dates, commits)
    # 09:16 ET before the open -> Friday 07-01 (07-04 holiday); 20:37 ET -> same day; Saturday -> Friday;
    # 10:18 ET intraday -> the previous close (no look-ahead)
    assert list(got) == list(pd.to_datetime(["2016-07-01", "2024-12-31", "2016-07-01", "2016-02-22"]))
    assert list(snapshot_sessions(dates, None)) == list(pd.to_datetime(["2016-07-05", "2024-12-31",
                                                                        "2016-07-01", "2016-02-23"]))


def test_dual_class_rules():
    """Same cap on both classes, or the same implied share count: company-wide -> split by fraction; other
    numbers are per class and kept; a lone class is company-wide."""
    idx = pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04"])
    adj = pd.DataFrame({"GOOGL": [100.0] * 3, "GOOG": [100.0] * 3}, index=idx)
    membership = pd.DataFrame({"ticker": ["GOOGL", "GOOG"], "start_date": pd.to_datetime(["2006-01-02"] * 2),
                               "end_date": pd.NaT, "price_column": ["GOOGL", "GOOG"]})
    caps = pd.DataFrame({
        "date": pd.to_datetime(["2024-01-02", "2024-01-02", "2024-01-03", "2024-01-03", "2024-01-04"]),
        "symbol": ["GOOGL", "GOOG", "GOOGL", "GOOG", "GOOG"],
        "price": [100.0, 90.0, 100.0, 100.0, 100.0],
        "market_cap_usd": [1000.0, 1000.0, 600.0, 400.0, 1000.0],
    })
    long, skipped = shares_from_marketcaps(caps, adj, PriceColumnResolver(membership, adj.columns),
                                           {"GOOGL": 0.6, "GOOG": 0.4})
    got = long.set_index(["date", "ticker"])["shares"]
    assert got[(idx[0], "GOOGL")] == pytest.approx(6.0) and got[(idx[0], "GOOG")] == pytest.approx(4.0)
    assert got[(idx[1], "GOOGL")] == pytest.approx(6.0) and got[(idx[1], "GOOG")] == pytest.approx(4.0)
    assert got[(idx[2], "GOOG")] == pytest.approx(4.0)
    assert skipped.empty


def mini_snapshot(src: Path, dst: Path) -> Path:
    """A small snapshot folder: a few tickers of every file, same layout."""
    dst.mkdir()
    keep = ["AAPL", "MSFT", "GOOG", "GOOGL", "META", "TSLA", "BRK-B"]
    pd.read_parquet(src / "prices_sp500.parquet")[keep].to_parquet(dst / "prices_sp500.parquet")
    pd.read_parquet(src / "prices_etf.parquet")[["SPY", "AVUV"]].to_parquet(dst / "prices_etf.parquet")
    iv = pd.read_csv(src / "sp500_membership_intervals.csv")
    iv = iv.loc[iv["ticker"].isin(keep + ["FB", "BRK.B"])]
    iv.to_csv(dst / "sp500_membership_intervals.csv", index=False)
    sh = pd.read_parquet(src / "shares_sp500.parquet")
    sh[[c for c in keep if c in sh.columns]].to_parquet(dst / "shares_sp500.parquet")
    mc = pd.read_parquet(src / "marketcap_snapshots.parquet")
    mc.loc[mc["symbol"].isin(keep + ["FB"])].to_parquet(dst / "marketcap_snapshots.parquet")
    return dst


def test_reimport_is_idempotent(market_data_dir, tmp_path):
    folder = mini_snapshot(market_data_dir, tmp_path / "snap")
    assert is_snapshot(folder) and not is_snapshot(tmp_path)
    store = PriceStore(tmp_path / "store")
    first = import_snapshot(store, folder)
    before = (store.prices(), store.shares(), store.membership())
    second = import_snapshot(store, folder)
    assert second.prices["prices_sp500.parquet"].rebased == {}
    pd.testing.assert_frame_equal(store.prices(), before[0])
    pd.testing.assert_frame_equal(store.shares(), before[1])
    pd.testing.assert_frame_equal(store.membership(), before[2])
    assert first.shares_rows[CAPS_SOURCE] == second.shares_rows[CAPS_SOURCE] > 0
    fb = store.shares(["META"]).query("source == @CAPS_SOURCE")
    assert fb["date"].min() < pd.Timestamp("2022-06-09")  # FB-era caps land on META


def test_snapshot_rebased_onto_existing_prices_keeps_caps_exact(market_data_dir, tmp_path):
    """If the store already holds AAPL on another base, the snapshot is rescaled onto it, and the shares
    follow, so cap = shares * stored adj_close still equals Yahoo's cap."""
    folder = mini_snapshot(market_data_dir, tmp_path / "snap")
    store = PriceStore(tmp_path / "store")
    raw = pd.read_parquet(folder / "prices_sp500.parquet")[["AAPL"]].loc["2024-01-02":"2024-03-01"] * 3.0
    store.write_prices(raw, "elsewhere")
    report = import_snapshot(store, folder)
    assert report.prices["prices_sp500.parquet"].rebased["AAPL"] == pytest.approx(3.0)
    adj = store.prices(["AAPL"])["AAPL"]
    sh = store.shares(["AAPL"]).set_index(["source", "date"])["shares"]
    cap = sh[(CAPS_SOURCE, pd.Timestamp("2024-12-31"))] * adj["2024-12-31"]
    assert cap == pytest.approx(3.785298542592e12, rel=1e-9)
    fl = sh[(SHARES_SOURCE, pd.Timestamp("2025-06-04"))] * adj["2025-06-04"]
    raw_fl = pd.read_parquet(folder / "shares_sp500.parquet").loc["2025-06-04", "AAPL"]
    raw_px = pd.read_parquet(folder / "prices_sp500.parquet").loc["2025-06-04", "AAPL"]
    assert fl == pytest.approx(raw_fl * raw_px, rel=1e-9)


def test_not_a_snapshot(tmp_path):
    store = PriceStore(tmp_path / "store")
    with pytest.raises(DataError, match=r"is not a market-data snapshot: missing prices_sp500.parquet"):
        import_snapshot(store, tmp_path)
    with pytest.raises(DataError, match=r"does not exist; pass the path of \.\./shared/market-data"):
        import_snapshot(store, tmp_path / "nope")


def test_damaged_snapshot_file(market_data_dir, tmp_path):
    folder = mini_snapshot(market_data_dir, tmp_path / "snap")
    (folder / "prices_etf.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match=r"prices_etf.parquet cannot be read as Parquet"):
        import_snapshot(PriceStore(tmp_path / "store"), folder)
    assert not (tmp_path / "store" / "prices_adj_close.parquet").exists()


def test_resolver_handles_recycled_and_unknown_tickers():
    m = pd.DataFrame({"ticker": ["FB", "META", "OLDCO", "OLDCO"],
                      "start_date": pd.to_datetime(["2013-12-23", "2022-06-09", "2000-01-03", "2019-01-02"]),
                      "end_date": pd.to_datetime(["2022-06-09", None, "2010-01-04", None]),
                      "price_column": ["META", "META", None, "OLDCO"]})
    r = PriceColumnResolver(m, ["META", "OLDCO", "SPY"], aliases={"FBOOK": "FB", "GONE": "OLDCO"})
    assert r("FB", "2016-01-04") == "META"
    assert r("OLDCO", "2005-06-01") is None  # the earlier company has no prices: do not borrow the new one's
    assert r("OLDCO", "2020-06-01") == "OLDCO"
    assert r("spy", "2020-06-01") == "SPY" and r("ZZZ", "2020-06-01") is None
    assert r("FBOOK", "2016-01-04") == "META"  # alias of a symbol without an interval, then the interval
    assert r("GONE", "2005-06-01") is None and r("GONE", "2020-06-01") == "OLDCO"
    assert r.many(["FB", "OLDCO", "OLDCO"], pd.to_datetime(["2016-01-04", "2005-06-01", "2020-06-01"])) == \
        ["META", None, "OLDCO"]


def test_shares_sp500_are_float_adjusted_and_smaller_for_low_float_names(snapshot_store):
    """Documented difference between the sources: TMUS (Deutsche Telekom holds ~half) float << full."""
    sh = snapshot_store.shares(["TMUS"]).pivot_table(index="date", columns="source", values="shares")
    full = sh[CAPS_SOURCE].dropna().loc["2025-01-31"]
    flt = sh[SHARES_SOURCE].dropna().iloc[0]
    assert 0.3 < flt / full < 0.7
    assert np.isfinite(full)


def test_a_snapshot_import_failing_part_way_keeps_the_store_marked_unfinished(market_data_dir, tmp_path):
    """A snapshot whose share-count file is damaged: its prices and membership are written before that file
    is read, so the import stopped part-way. The store stays marked (every run and validate refuse it) and
    the message says so; the mark was removed with any DataError, leaving a half-filled store validate
    called OK."""
    from backtest.data.files import import_paths

    snap = tmp_path / "snap"
    snap.mkdir()
    for f in market_data_dir.iterdir():
        (snap / f.name).symlink_to(f)
    (snap / "shares_sp500.parquet").unlink()
    (snap / "shares_sp500.parquet").write_text("garbage")
    store = PriceStore(tmp_path / "store")
    with pytest.raises(DataError, match=r"(?s)The import of the snapshot .*snap stopped part-way .* the store is "
                                        r"marked unfinished until `bt data import .*snap` completes"):
        import_paths(store, [snap])
    assert "holds an unfinished import" in store.unfinished_import()
