"""PriceStore: round trip, incremental merge and rebasing, validation, atomic writes, locking."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from filelock import FileLock

from backtest.data.store import PriceStore, atomic_write, default_store_dir, validate_prices
from backtest.errors import DataError

REPO = Path(__file__).resolve().parents[2]


def frame(columns: dict[str, list[float]], start: str = "2024-01-02") -> pd.DataFrame:
    idx = pd.bdate_range(start, periods=len(next(iter(columns.values()))), name="date")
    return pd.DataFrame(columns, index=idx, dtype="float64")


def test_round_trip(tmp_path):
    store = PriceStore(tmp_path)
    data = frame({"AAPL": [1.0, 2.0, np.nan, 4.0], "MSFT": [10.0, 11.0, 12.0, 13.0]})
    report = store.write_prices(data, "test")
    assert report.tickers == ("AAPL", "MSFT") and report.cells == 7
    got = store.prices()
    pd.testing.assert_frame_equal(got, data, check_freq=False, check_index_type=False)
    assert got.index.name == "date" and (got.dtypes == "float64").all()
    assert np.isnan(got.loc["2024-01-04", "AAPL"])  # never forward-filled
    cat = store.catalog().set_index("ticker")
    assert cat.loc["AAPL", "rows"] == 3 and cat.loc["MSFT", "rows"] == 4
    assert cat.loc["AAPL", "start"] == pd.Timestamp("2024-01-02") and cat.loc["AAPL", "source"] == "test"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "catalog.parquet", "meta.json",
                                                          "prices_adj_close.parquet"]


def test_selection_order_unknown_and_slicing(tmp_path):
    store = PriceStore(tmp_path)
    store.write_prices(frame({"AAPL": [1.0, 2, 3, 4], "BRK-B": [5.0, 6, 7, 8]}), "test")
    got = store.prices(["brk.b", "ZZZ", "AAPL"], start="2024-01-03", end="2024-01-04")
    assert list(got.columns) == ["BRK-B", "AAPL"]
    assert list(got.index) == [pd.Timestamp("2024-01-03"), pd.Timestamp("2024-01-04")]
    assert store.missing(["aapl", "ZZZ", "brk.b", "zzz"]) == ["ZZZ"]
    assert store.prices(["ZZZ"]).empty
    assert store.prices(field="close").empty  # fields are separate files
    assert store.tickers() == ["AAPL", "BRK-B"]


def test_empty_store_reads(tmp_path):
    store = PriceStore(tmp_path / "nowhere")
    assert store.prices().empty and store.catalog().empty and store.shares().empty
    assert store.membership().empty and store.tickers() == [] and not store.exists()
    assert not (tmp_path / "nowhere").exists()  # reading creates nothing


def test_incremental_merge_keeps_old_and_extends(tmp_path):
    store = PriceStore(tmp_path)
    jan = frame({"AAPL": [1.0, 2.0, 3.0]}, "2024-01-02")
    store.write_prices(jan, "yahoo", covered=("2024-01-01", "2024-01-04"))
    later = frame({"AAPL": [3.0, 4.0, np.nan], "MSFT": [7.0, 8.0, 9.0]}, "2024-01-04")
    report = store.write_prices(later, "yahoo", covered=("2024-01-04", "2024-01-08"))
    assert report.rebased == {}  # same base on the common day
    got = store.prices()
    assert got["AAPL"].tolist()[:4] == [1.0, 2.0, 3.0, 4.0] and np.isnan(got["AAPL"].iloc[4])
    cat = store.catalog().set_index("ticker").loc["AAPL"]
    assert (cat["start"], cat["end"]) == (pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-05"))
    assert cat["covered_start"] == pd.Timestamp("2024-01-01")
    assert cat["covered_end"] == pd.Timestamp("2024-01-08")
    assert cat["rows"] == 4


def test_nan_never_erases_a_stored_price(tmp_path):
    store = PriceStore(tmp_path)
    store.write_prices(frame({"AAPL": [1.0, 2.0], "MSFT": [5.0, 6.0]}), "a")
    store.write_prices(frame({"AAPL": [np.nan, 2.0], "MSFT": [5.0, 6.0]}), "b")
    assert store.prices()["AAPL"].tolist() == [1.0, 2.0]


def test_new_source_is_rebased_onto_the_stored_series(tmp_path):
    """Adjusted closes from two sources differ by a constant factor: the new part continues the old one and
    the return across the seam is the new source's return."""
    store = PriceStore(tmp_path)
    store.write_prices(frame({"X": [100.0, 101.0, 102.0]}, "2024-01-02"), "snapshot")
    report = store.write_prices(frame({"X": [51.0, 52.0, 54.6]}, "2024-01-04"), "yahoo")
    assert report.rebased == {"X": pytest.approx(2.0)}
    got = store.prices()["X"]
    assert got.tolist() == pytest.approx([100.0, 101.0, 102.0, 104.0, 109.2])


def test_adjoining_data_without_overlap_is_reported_unanchored(tmp_path):
    store = PriceStore(tmp_path)
    store.write_prices(frame({"X": [100.0, 101.0]}, "2024-01-02"), "a")
    report = store.write_prices(frame({"X": [50.0, 51.0]}, "2024-01-08"), "b")
    assert report.unanchored == ("X",) and report.rebased == {}
    raw = store.write_prices(frame({"X": [2.0]}, "2024-01-02"), "c", field="close")
    assert raw.rebased == {}  # raw closes are never rescaled


BAD_FRAMES = [
    ("non-numeric", pd.DataFrame({"AAPL": [1.0, "abc"]}, index=pd.to_datetime(["2024-01-02", "2024-01-03"])),
     r"AAPL on row 2: 'abc' is not a number"),
    ("zero", frame({"AAPL": [1.0, 0.0]}), r"AAPL on row 2 \(2024-01-03\): price 0 is not positive"),
    ("negative", frame({"MSFT": [-5.0, 1.0]}), r"MSFT on row 1 \(2024-01-02\): price -5 is not positive"),
    ("infinite", frame({"MSFT": [np.inf, 1.0]}), r"MSFT on row 1 \(2024-01-02\): infinite price"),
    ("duplicated date", pd.DataFrame({"A": [1.0, 2.0]}, index=pd.to_datetime(["2024-01-02", "2024-01-02"])),
     r"date 2024-01-02 appears more than once \(row 1, row 2\)"),
    ("unsorted", pd.DataFrame({"A": [1.0, 2.0]}, index=pd.to_datetime(["2024-01-03", "2024-01-02"])),
     r"dates are not in ascending order: 2024-01-02 on row 2 comes after 2024-01-03"),
    ("duplicated ticker", pd.DataFrame([[1.0, 2.0]], columns=["BRK.B", "BRK-B"],
                                       index=pd.to_datetime(["2024-01-02"])),
     r"ticker columns appear more than once: BRK-B"),
    ("not dates", pd.DataFrame({"A": [1.0]}, index=["yesterday"]), r"values that are not dates"),
]


@pytest.mark.parametrize("name,bad,message", BAD_FRAMES, ids=[b[0] for b in BAD_FRAMES])
def test_bad_data_is_rejected_and_nothing_written(tmp_path, name, bad, message):
    store = PriceStore(tmp_path)
    with pytest.raises(DataError, match=message) as err:
        store.write_prices(bad, "file:prices.csv")
    assert "file:prices.csv" in str(err.value) or "prices.csv" in str(err.value)
    assert not store.exists()


def test_validate_lists_every_problem_with_the_fix():
    bad = frame({"A": [1.0, -1.0, 0.0], "B": [np.inf, 1.0, 2.0]})
    with pytest.raises(DataError) as err:
        validate_prices(bad, "x.csv", row_labels=["line 2", "line 3", "line 4"])
    text = str(err.value)
    assert text.startswith("x.csv: 3 problems in the price data:")
    assert "A on line 3 (2024-01-03): price -1 is not positive" in text
    assert "B on line 2 (2024-01-02): infinite price" in text
    assert "nothing was written" in text


def test_atomic_write_failure_leaves_old_file_and_no_temp(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def half_then_crash(fh):
        fh.write(b"new but incomp")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, half_then_crash)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_failed_merge_leaves_store_intact(tmp_path):
    store = PriceStore(tmp_path)
    store.write_prices(frame({"AAPL": [1.0, 2.0]}), "a")
    before = (tmp_path / "prices_adj_close.parquet").read_bytes()
    with pytest.raises(DataError):
        store.write_prices(frame({"AAPL": [3.0, -1.0]}), "b")
    assert (tmp_path / "prices_adj_close.parquet").read_bytes() == before
    assert not list(tmp_path.glob(".*.tmp"))


def test_stale_temp_files_of_a_killed_writer_are_removed(tmp_path):
    store = PriceStore(tmp_path)
    store.write_prices(frame({"A": [1.0]}), "a")
    stale = tmp_path / ".prices_adj_close.parquet.99999.deadbeef.tmp"
    stale.write_bytes(b"half")
    store.write_prices(frame({"B": [1.0]}), "a")
    assert not stale.exists()


def test_files_the_store_did_not_create_are_never_deleted(tmp_path):
    """Only `.<store file>.<pid>.<8 hex>.tmp` of a dead process is swept: a user's `.thesis.tex.tmp`, a folder
    named `.x.tmp` and a live process's temporary file stay, and the import still works."""
    store = PriceStore(tmp_path)
    store.write_prices(frame({"A": [1.0]}), "a")
    mine = tmp_path / ".thesis.tex.tmp"
    mine.write_bytes(b"chapter 1")
    (tmp_path / ".x.tmp").mkdir()
    live = tmp_path / f".catalog.parquet.{os.getpid()}.0badcafe.tmp"
    live.write_bytes(b"in progress")
    dead = tmp_path / ".catalog.parquet.99999999.0badcafe.tmp"
    dead.write_bytes(b"left by a kill")
    store.write_prices(frame({"B": [1.0]}), "a")
    assert mine.read_bytes() == b"chapter 1" and (tmp_path / ".x.tmp").is_dir() and live.exists()
    assert not dead.exists()
    assert store.tickers() == ["A", "B"]


def _half_committed(tmp_path: Path, with_journal: bool) -> PriceStore:
    """The state a writer killed just after (or just before) its commit point leaves: complete temporary
    files for the prices and the catalog of a write of ticker B, with (or without) commit.json."""
    import json
    import subprocess

    store = PriceStore(tmp_path)
    store.write_prices(frame({"A": [1.0, 2.0]}), "a")
    other = PriceStore(tmp_path / "scratch")
    other.write_prices(frame({"A": [1.0, 2.0]}), "a")
    other.write_prices(frame({"B": [3.0, 4.0]}), "b")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()  # a process that has exited
    renames = []
    for name in ("prices_adj_close.parquet", "catalog.parquet"):
        tmp = tmp_path / f".{name}.{dead}.0123abcd.tmp"
        tmp.write_bytes((tmp_path / "scratch" / name).read_bytes())
        renames.append([tmp.name, name])
    if with_journal:
        (tmp_path / "commit.json").write_text(json.dumps({"renames": renames}))
    return store


def test_a_write_killed_after_its_commit_point_is_rolled_forward(tmp_path):
    _half_committed(tmp_path, with_journal=True)
    store = PriceStore(tmp_path)  # a new process: its first read completes the commit
    assert store.tickers() == ["A", "B"]
    assert sorted(store.catalog()["ticker"]) == ["A", "B"]
    assert not (tmp_path / "commit.json").exists() and not list(tmp_path.glob(".*.tmp"))


def test_a_write_killed_before_its_commit_point_leaves_the_old_store(tmp_path):
    _half_committed(tmp_path, with_journal=False)
    store = PriceStore(tmp_path)
    assert store.tickers() == ["A"] and list(store.catalog()["ticker"]) == ["A"]
    store.tidy()  # what every bt command does first: the dead writer's temporary files go
    assert not list(tmp_path.glob(".*.tmp"))


def test_lock_held_elsewhere_gives_clear_error(tmp_path):
    store = PriceStore(tmp_path, lock_timeout=0.2)
    store.write_prices(frame({"A": [1.0]}), "a")
    with FileLock(str(tmp_path / ".lock")):
        with pytest.raises(DataError, match=r"is locked by another process .* wait for the other bt command"):
            store.write_prices(frame({"B": [1.0]}), "a")
    assert store.tickers() == ["A"]


WRITER = """
import sys, numpy as np, pandas as pd
from backtest.data.store import PriceStore
store = PriceStore(sys.argv[1])
prefix, n = sys.argv[2], int(sys.argv[3])
idx = pd.bdate_range("2020-01-01", periods=500, name="date")
print("ready", flush=True)
for i in range(n):
    store.write_prices(pd.DataFrame({f"{prefix}{i}": np.arange(1.0, 501.0)}, index=idx), prefix)
"""


def _python(*args, env=None):
    return subprocess.Popen([sys.executable, "-c", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_two_processes_writing_at_once_both_land(tmp_path):
    procs = [_python(WRITER, str(tmp_path), p, "6") for p in ("P", "Q")]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    store = PriceStore(tmp_path)
    assert store.tickers() == sorted([f"P{i}" for i in range(6)] + [f"Q{i}" for i in range(6)])
    assert set(store.catalog()["ticker"]) == set(store.tickers())


def test_killed_writer_never_corrupts_the_store(tmp_path):
    """SIGKILL a writer at several points of its write loop: the store stays readable, old data intact, every
    ticker it holds is complete, and the next write clears the dead writer's temporary files."""
    store = PriceStore(tmp_path)
    store.write_prices(frame({"BASE": [1.0, 2.0]}), "a")
    landed = 0
    for k, delay in enumerate((0.05, 0.2, 0.45)):
        proc = _python(WRITER, str(tmp_path), f"K{k}_", "200")
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        got = PriceStore(tmp_path).prices()
        assert got["BASE"].dropna().tolist() == [1.0, 2.0]
        written = [c for c in got.columns if c.startswith(f"K{k}_")]
        assert len(written) < 200  # killed mid-loop
        assert (got[written].notna().sum() == 500).all()
        reopened = PriceStore(tmp_path)  # the catalog and the prices agree after any kill (one commit point)
        assert set(reopened.catalog()["ticker"]) == set(reopened.tickers())
        landed += len(written)
    assert landed > 0  # the kills did land between writes, not before the first one
    store.write_prices(frame({"AFTER": [1.0]}), "a")
    assert not list(tmp_path.glob(".*.tmp"))


def test_default_dir_follows_bt_data_dir(tmp_path):
    code = "from backtest.data.store import default_store_dir; print(default_store_dir())"
    env = {**os.environ, "BT_DATA_DIR": str(tmp_path / "store")}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    assert out.stdout.strip() == str(tmp_path / "store")
    env.pop("BT_DATA_DIR")
    env["HOME"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    assert out.stdout.strip() == str(tmp_path / ".local" / "share" / "bt-backtest")
    assert isinstance(default_store_dir(), Path)


def test_newer_format_is_refused(tmp_path):
    store = PriceStore(tmp_path)
    store.write_prices(frame({"A": [1.0]}), "a")
    (tmp_path / "meta.json").write_text('{"format_version": 99}')
    with pytest.raises(DataError, match=r"format version 99, this bt reads version 1"):
        store.prices()


def test_membership_and_shares_tables(tmp_path):
    store = PriceStore(tmp_path)
    n = store.write_membership(pd.DataFrame({"ticker": ["FB", "META", "BRK.B"],
                                             "start_date": ["2013-12-23", "2022-06-09", "2010-02-16"],
                                             "end_date": ["2022-06-09", None, None],
                                             "price_column": ["META", "META", "BRK-B"]}), "test")
    m = store.membership()
    assert n == 3 and list(m.columns) == ["ticker", "start_date", "end_date", "price_column", "source"]
    assert m["ticker"].tolist() == ["FB", "META", "BRK-B"]
    assert m["end_date"].isna().tolist() == [False, True, True]
    with pytest.raises(DataError, match=r"row 1 \(X\): end_date before start_date"):
        store.write_membership(pd.DataFrame({"ticker": ["X"], "start_date": ["2020-01-02"],
                                             "end_date": ["2019-01-01"]}), "bad")
    store.write_shares(pd.DataFrame({"date": ["2024-01-02", "2024-01-03"], "ticker": ["AAPL", "AAPL"],
                                     "shares": [10.0, 11.0]}), "s1")
    store.write_shares(pd.DataFrame({"date": ["2024-01-03"], "ticker": ["AAPL"], "shares": [12.0]}), "s1")
    store.write_shares(pd.DataFrame({"date": ["2024-01-03"], "ticker": ["AAPL"], "shares": [99.0]}), "s2")
    sh = store.shares(["aapl"])
    assert sh[["shares", "source"]].values.tolist() == [[10.0, "s1"], [12.0, "s1"], [99.0, "s2"]]
    with pytest.raises(DataError, match=r"row 1 \(AAPL\): shares -1.0 is not a positive number"):
        store.write_shares(pd.DataFrame({"date": ["2024-01-02"], "ticker": ["AAPL"], "shares": [-1.0]}), "s1")


def test_new_prices_that_move_unlike_the_stored_ones_are_refused_and_nothing_is_written(tmp_path):
    """An unadjusted 2-for-1 split inside the overlap: no single factor puts the new series onto the stored
    one, and rescaling by the median would rewrite the stored history (100 -> 149). Refused, naming the
    ticker, the date and the prices; the store's files are byte for byte as before."""
    store = PriceStore(tmp_path)
    store.write_prices(frame({"FOO": [100.0, 101.0, 102.0, 103.0], "BAR": [10.0, 11.0, 12.0, 13.0]}),
                       "a")
    before = {p.name: p.read_bytes() for p in tmp_path.glob("*.parquet")}
    split = frame({"FOO": [100.0, 101.0, 51.0, 52.0, 53.0], "BAR": [20.0, 22.0, 24.0, 26.0, 28.0]})
    with pytest.raises(DataError, match=r"FOO from b on 2024-01-0[45]: stored 10[23], new 5[12].*none of them was "
                                        r"written.*bt --data-dir NEW_FOLDER data import") as err:
        store.write_prices(split, "b")
    assert "BAR" not in str(err.value)          # BAR moves alike (a constant factor of 0.5): not named
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*.parquet")} == before


def test_a_small_disagreement_on_the_overlap_is_rebased_not_refused(tmp_path):
    """A dividend one source adjusted for and the other not (1% here) stays under the 2% limit: the new
    series is rebased by the median ratio and wins on the common dates, as before."""
    store = PriceStore(tmp_path)
    store.write_prices(frame({"X": [100.0, 101.0, 102.0]}), "a")
    report = store.write_prices(frame({"X": [50.0, 50.5, 51.5, 52.0]}), "b")    # 102/51.5 = 1.98 vs 2.0
    assert report.rebased == {"X": pytest.approx(2.0)}
    assert store.prices()["X"].tolist() == pytest.approx([100.0, 101.0, 103.0, 104.0])
    with pytest.raises(DataError, match="X from c"):       # the same step at 3% is refused
        store.write_prices(frame({"X": [50.0, 50.5, 53.1]}), "c")
