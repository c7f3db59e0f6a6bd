"""`backtest.csvtext.csv_text` writes exactly what pandas' `to_csv` writes (the run folder's CSVs), or
declines (None) and leaves the case to pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtest.csvtext import csv_text


def _pandas(frame: pd.DataFrame, index: bool = True) -> str:
    return frame.to_csv(index=index, lineterminator="\n", date_format="%Y-%m-%d")


EDGE_FLOATS = [0.0, -0.0, 1.0, 0.1, 1 / 3, 1e-4, 9.99e-5, 1e-5, 123456.789, 1e15, 1e16, 9.999999999999999e15,
               1.2345678901234568e17, -2.5e-300, 5e-324, 1.7976931348623157e308, np.inf, -np.inf, np.nan, 2.0**53,
               0.30000000000000004]


def test_edge_floats_dates_strings_and_quoting_match_pandas():
    rng = np.random.default_rng(7)
    n = len(EDGE_FLOATS)
    dates = pd.date_range("2016-01-04", periods=n, freq="B", name="date")
    frame = pd.DataFrame({
        "x": EDGE_FLOATS,
        "y": rng.standard_normal(n) * 10.0 ** rng.integers(-12, 18, n),
        "k": np.arange(n, dtype="int64") - 5,
        "flag": np.arange(n) % 2 == 0,
        "when": pd.to_datetime(["2020-02-29"] * (n - 1) + [None]),
        "names": ["AAPL", "A, B", 'say "hi"', None] + ["MSFT"] * (n - 4),
        "has,comma": 1.5,
    }, index=dates)
    frame["names"] = frame["names"].astype("str")
    text = csv_text(frame)
    assert text is not None and text == _pandas(frame)
    assert csv_text(frame, index=False) == _pandas(frame, index=False)
    plain = frame.reset_index(drop=True)
    assert csv_text(plain) == _pandas(plain)          # a RangeIndex with no name: an empty first header
    assert csv_text(frame.iloc[:0]) == _pandas(frame.iloc[:0])
    for rows in (1, 3, n - 1):          # row blocks, the header on the first only, join to the whole text
        blocks = [csv_text(frame.iloc[i:i + rows], header=i == 0) for i in range(0, n, rows)]
        assert "".join(blocks) == text
    assert csv_text(frame.iloc[:0], header=False) == ""


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"a": ["line\nbreak", "x"], "b": [1.0, 2.0]}),                          # needs the csv module
    pd.DataFrame({"a": [1.0]}),                                                          # one field a row
    pd.DataFrame({"a": pd.array([True, None], dtype="boolean"), "b": [1.0, 2.0]}),       # nullable booleans
    pd.DataFrame([[1.0, 2.0]], columns=pd.MultiIndex.from_tuples([("a", "x"), ("a", "y")])),
])
def test_other_cases_are_left_to_pandas(frame):
    assert csv_text(frame, index=False) is None


def test_every_csv_of_the_rotation_run_is_written_identically(rotation_run):
    """Every CSV of a real run folder read back and written again: where the fast path takes a frame
    (holdings, weights, trades, analytics), its text equals pandas'."""
    taken = 0
    for path in sorted(rotation_run.rglob("*.csv")):
        dated = path.parent.name != "trades"
        frame = pd.read_csv(path, index_col=0 if dated else None)
        if dated and frame.index.name == "date":
            frame.index = pd.DatetimeIndex(frame.index, name="date")
        if "date" in frame.columns:
            frame["date"] = pd.to_datetime(frame["date"])
        text = csv_text(frame, index=dated)
        if text is not None:
            taken += 1
            assert text == _pandas(frame, index=dated), path.name
    assert taken >= 30


def test_large_frames_are_streamed_in_row_blocks_with_the_same_bytes(tmp_path, monkeypatch):
    """A frame over `results.write.STREAMED_CELLS` (a 10,000-variant sweep's values) is written in blocks of
    rows straight to the file, never held as one text: the memory it takes does not grow with the rows; the
    bytes are pandas' and those of the one-text path."""
    import tracemalloc

    from backtest.results import write as results

    def frame_of(rows: int) -> pd.DataFrame:
        rng = np.random.default_rng(3)
        dates = pd.date_range("2016-01-04", periods=rows, freq="B", name="date")
        out = pd.DataFrame(rng.standard_normal((rows, 400)) * 1e6, index=dates,
                           columns=[f"variant {i}" for i in range(400)])
        out.iloc[::7, ::3] = np.nan
        return out

    def streamed_peak(frame: pd.DataFrame, path) -> int:
        tracemalloc.start()
        results._write_csv(path, frame)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak

    small, large = frame_of(600), frame_of(2400)
    results._write_csv(tmp_path / "fast.csv", small)          # 240,000 cells: the fast path
    monkeypatch.setattr(results, "STREAMED_CELLS", 1000)
    peak_small = streamed_peak(small, tmp_path / "streamed.csv")
    text = (tmp_path / "fast.csv").read_bytes()
    assert (tmp_path / "streamed.csv").read_bytes() == text == _pandas(small).encode()
    peak_large = streamed_peak(large, tmp_path / "large.csv")
    assert (tmp_path / "large.csv").read_bytes() == _pandas(large).encode()
    assert (tmp_path / "large.csv").stat().st_size > 3.5 * len(text)
    assert peak_large < 1.5 * peak_small, (peak_small, peak_large)    # bounded by pandas' chunk, not the file


def test_a_large_frame_the_fast_path_declines_midway_is_written_by_pandas(tmp_path, monkeypatch):
    """A text with a line break in a later block of rows: the blocks already written are dropped and the file
    is pandas' text from the start (quoted by the csv module), not a mix."""
    from backtest.results import write as results

    dates = pd.date_range("2016-01-04", periods=40, freq="B", name="date")
    frame = pd.DataFrame({"x": np.arange(40) / 7.0, "note": ["plain"] * 39 + ["two\nlines"]}, index=dates)
    frame["note"] = frame["note"].astype("str")
    monkeypatch.setattr(results, "STREAMED_CELLS", 20)          # blocks of 2 rows; the last one declines
    results._write_csv(tmp_path / "f.csv", frame)
    assert (tmp_path / "f.csv").read_bytes() == _pandas(frame).encode()
    assert b'"two\nlines"' in (tmp_path / "f.csv").read_bytes()


def _repr_rows(values: np.ndarray) -> list[str]:
    return [",".join("" if v != v else repr(v) for v in row) for row in values.tolist()]


def test_float_rows_are_repr_on_millions_of_floats_of_every_kind():
    """`csvtext._float_rows` (orjson's digits, ``repr`` where orjson writes otherwise) against ``repr`` itself:
    random bit patterns (every exponent, subnormals, infinities, NaN), magnitudes spread over 1e-6..1e18 (the
    switches to exponent notation at 1e-4 and 1e16), prices, returns, cents, whole numbers, and runs of
    neighbouring floats around each switch and around 0.1, 0.5, 1."""
    from backtest.csvtext import _float_rows

    rng = np.random.default_rng(13)
    n = 400_000
    edges = []
    for x in (1e-4, 1e15, 1e16, 0.1, 0.5, 1.0):
        for direction in (np.inf, -np.inf):
            y = np.float64(x)
            for _ in range(1500):
                edges += [y, -y]
                y = np.nextafter(y, direction)
    kinds = {
        "bit patterns": rng.integers(0, 2**64, n, dtype=np.uint64).view(np.float64),
        "log-uniform": np.sign(rng.standard_normal(n)) * rng.uniform(1, 10, n) * 10.0 ** rng.uniform(-6, 18, n),
        "prices": 1e6 * np.cumprod(1 + rng.normal(0, 0.01, n)),
        "returns": rng.normal(0, 0.01, n),
        "cents": np.round(rng.uniform(0, 1e5, n), 2),
        "whole": rng.integers(-10**17, 10**17, n).astype(np.float64),
        "edges": np.array(edges + [0.0, -0.0, np.nan, np.inf, -np.inf, 5e-324, 1.7976931348623157e308]),
    }
    for kind, values in kinds.items():
        block = values[: len(values) - len(values) % 50].reshape(-1, 50)
        assert _float_rows(block) == _repr_rows(block), kind
    assert _float_rows(np.empty((0, 3))) == [] and _float_rows(np.empty((2, 0))) == ["", ""]
    assert _float_rows(np.array([[np.nan, 1e-5, np.inf], [2.5, np.nan, np.nan]])) == ["," + "1e-05,inf", "2.5,,"]
