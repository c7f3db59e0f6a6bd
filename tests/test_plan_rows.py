"""The array forms of the weights stage's per-date reads equal the pandas forms they replaced, bit for bit, on
the S&P 500 snapshot: `plan_rows.FrameRows` (rows of prices, share counts, observation dates), the membership
table, the cap-basis row, `find_ended`, `target_frame` with its layout memo and `project` without groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtest.config import parse_config
from backtest.data.inputs import load_inputs
from backtest.plan_rows import FrameRows, frame_rows, target_frame
from backtest.plan_basis import cap_basis_row as _cap_basis_row
from backtest.plans import find_ended
from backtest.universe import MembershipTable, _available_set, current_members, members_at
from strategies.projection import _project_bounds, _project_groups

CONFIG = """
name: rows
start: 2016-01-01
end: 2026-06-30
benchmark: SPY
strategies:
  - {name: c, weighting: cap, universe: sp500}
"""


@pytest.fixture(scope="module")
def inputs(snapshot_store):
    return load_inputs(parse_config(CONFIG), snapshot_store, offline=True)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal arrays, missing values (NaN / NaT) in the same places, same dtype."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    gone = np.isnat(a) & np.isnat(b) if a.dtype.kind == "M" else np.isnan(a) & np.isnan(b)
    return bool(((a == b) | gone).all())


def _dates(index, k=40):
    return index[:: max(1, len(index) // k)]


def test_frame_rows_equal_pandas_rows(inputs):
    shares, observed = inputs.shares_daily.method("point_in_time")
    rng = np.random.default_rng(0)
    for frame in (inputs.prices, shares, observed, inputs.shares_daily.observed):
        rows = FrameRows(frame)
        for date in _dates(frame.index):
            names = tuple(rng.choice(frame.columns.tolist(), 300, replace=False)) + ("NOT_A_TICKER", "AAPL")
            want = frame.loc[date].reindex(list(names)).to_numpy()
            assert _same(rows.at(date, names), want)
            assert _same(rows.at(date, names), want)        # the remembered positions
    assert observed.to_numpy().dtype.kind == "M" and np.isnat(FrameRows(observed).at(shares.index[0], ("X",)))[0]
    with pytest.raises(KeyError):
        FrameRows(inputs.prices).at(pd.Timestamp("1990-01-02"), ("AAPL",))


def test_priced_equals_the_universe_reading_of_a_price_row(inputs):
    rows = FrameRows(inputs.prices)
    for date in _dates(inputs.calendar):
        assert rows.priced(date) == _available_set(inputs.prices.loc[date])


def test_frame_rows_memo_follows_the_frame():
    memo: dict = {}
    a = pd.DataFrame({"X": [1.0, 2.0]}, index=pd.bdate_range("2020-01-01", periods=2))
    b = a * 2
    assert frame_rows(memo, "px", a) is frame_rows(memo, "px", a)
    assert frame_rows(memo, "px", b).frame is b                      # another object: rebuilt
    assert frame_rows(memo, "px", b).at(a.index[1], ("X",))[0] == 4.0


def test_membership_table_equals_the_frame(inputs):
    table = MembershipTable(inputs.membership)
    for date in pd.date_range("2014-01-01", "2026-06-30", freq="MS"):
        assert members_at(table, date) == members_at(inputs.membership, date)
    assert current_members(table) == current_members(inputs.membership)


def _basis_row_pandas(date, observed: pd.Series) -> dict:      # the Series form `_cap_basis_row` replaced
    seen = observed.dropna()
    return {"date": date, "names": len(observed), "without_shares": int(observed.isna().sum()),
            "oldest_observation": seen.min() if len(seen) else pd.NaT,
            "newest_observation": seen.max() if len(seen) else pd.NaT,
            "typical_observation": seen.mode().iloc[0] if len(seen) else pd.NaT,
            "backfilled_names": int((seen > date).sum())}


def _same_row(got: dict, want: dict) -> bool:
    return got.keys() == want.keys() and all(
        (pd.isna(got[k]) and pd.isna(want[k])) or (got[k] == want[k] and type(got[k]) is type(want[k]))
        for k in got)


def test_cap_basis_row_equals_the_series_form(inputs):
    for method in ("point_in_time", "backfill"):
        observed = inputs.shares_daily.method(method).observed
        for date in _dates(observed.index):
            values = observed.loc[date]
            assert _same_row(_cap_basis_row(date, values.to_numpy()), _basis_row_pandas(date, values))
    date = pd.Timestamp("2020-01-02")
    for values in (pd.Series(pd.to_datetime([pd.NaT, pd.NaT])),                         # no count at all
                   pd.Series(pd.to_datetime(["2019-06-30", "2019-03-31", "2019-06-30", "2019-03-31",
                                             "2020-03-31", pd.NaT])),               # a tie: the earlier
                   pd.Series(pd.to_datetime(["2020-03-31"]))):                       # backfilled only
        values = values.astype("datetime64[ns]")
        assert _same_row(_cap_basis_row(date, values.to_numpy()), _basis_row_pandas(date, values))


def _find_ended_pandas(prices, calendar, membership):       # the apply form `find_ended` replaced, for `last`
    window = prices.loc[calendar[0]:calendar[-1]]
    last = window.apply(pd.Series.last_valid_index)
    return pd.to_datetime(last[last.notna()])


def test_find_ended_equals_the_apply_form(inputs):
    got = find_ended(inputs.prices, inputs.calendar, inputs.membership)
    last = _find_ended_pandas(inputs.prices, inputs.calendar, inputs.membership)
    last = last[last < inputs.calendar[-1]]
    assert got.index.tolist() == last.index.tolist() and len(got) > 20
    assert (got["last_price"].to_numpy() == last.to_numpy()).all()
    assert got["member_after"].eq(True).any()          # data gaps: still members after the last price
    # a column with no price at all and one ending early, on a small frame
    idx = pd.bdate_range("2020-01-01", periods=6)
    small = pd.DataFrame({"A": [1.0] * 6, "B": [np.nan] * 6, "C": [1, 2, 3, np.nan, np.nan, np.nan]}, index=idx)
    ended = find_ended(small, idx, None)
    assert ended.index.tolist() == ["C"] and ended.loc["C", "last_price"] == idx[2]
    assert ended.loc["C", "next_day"] == idx[3] and pd.isna(ended.loc["C", "member_after"])


def test_target_frame_layout_memo_equals_no_memo():
    rng = np.random.default_rng(5)
    names = [f"T{i:03d}" for i in range(80)]
    dates = pd.bdate_range("2021-01-01", periods=12)
    indexes = [pd.Index(sorted(rng.choice(names, int(k), replace=False)), name="ticker")
               for k in rng.integers(5, 70, len(dates))]
    memo: dict = {}
    for _ in range(3):          # weightings sharing the dates' indexes: the layout is reused
        rows = [pd.Series(rng.random(len(ix)), index=ix, name="weight") for ix in indexes]
        pd.testing.assert_frame_equal(target_frame(rows, dates, memo), target_frame(rows, dates), check_exact=True)
    assert sum(k[0] == "target layout" for k in memo) == 1
    other = [pd.Series(rng.random(3), index=pd.Index(["A", "B", "C"], name="ticker")) for _ in dates]
    expected = pd.DataFrame(other, index=dates).fillna(0.0)
    pd.testing.assert_frame_equal(target_frame(other, dates, memo), expected, check_exact=True)


@pytest.mark.parametrize("seed", range(6))
def test_project_without_groups_equals_the_general_steps(seed):
    rng = np.random.default_rng(seed)
    for _ in range(300):
        n = int(rng.integers(1, 600))
        w = rng.lognormal(0, 2, n)
        w = w / w.sum()
        cap = max(float(rng.choice([0.01, 0.03, 0.05, 0.1, 0.5, 1.0])), 1.0 / n)
        upper = np.full(n, cap) if rng.random() < 0.8 else np.maximum(rng.uniform(0, 0.2, n), 1.0 / n)
        assert _project_bounds(w, upper).tobytes() == _project_groups(w, upper, []).tobytes()


def test_day_shares_equal_the_pandas_rows(inputs):
    from backtest.plan_basis import day_shares as _day_shares

    daily = inputs.shares_daily
    for shares, observed in (daily.method("point_in_time"), (daily.shares, daily.observed)):
        for date in _dates(shares.index, 30):
            got_shares, got_seen = _day_shares(date, shares, observed, FrameRows(shares), FrameRows(observed))
            want = shares.loc[date].dropna()
            pd.testing.assert_series_equal(got_shares, want, check_exact=True)
            pd.testing.assert_series_equal(got_seen, observed.loc[date].reindex(want.index), check_exact=True)
            assert got_shares.index.dtype == want.index.dtype
    empty, none = _day_shares(inputs.calendar[0], None, None, None, None)
    assert empty.empty and none is None


def test_last_prices_equal_dropna(inputs):
    from strategies.base import DecisionInputs

    px = inputs.prices
    for date in _dates(inputs.calendar, 30):
        got = DecisionInputs(date=date, history=px.loc[:date], shares=pd.Series(dtype=float), universe=()).last_prices()
        want = px.loc[date].dropna().astype("float64")
        pd.testing.assert_series_equal(got, want, check_exact=True)
        assert got.index.dtype == want.index.dtype and got.name == want.name
