"""The run folder: round trip, determinism, atomicity, hostile names, listing."""

from __future__ import annotations

import json
import math
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from backtest.errors import DataError, UsageError
from backtest.results import (
    REQUIRED_FILES,
    RunResult,
    StrategyResult,
    compute_run_metrics,
    list_runs,
    load_run,
    month_end_sample,
    safe_folder_name,
    slugify,
    write_run,
)
from backtest.runner import save_run
from tests.report.synthetic import HOSTILE_NAMES, make_run

CHECK = dict(check_freq=False, check_names=False)


@pytest.fixture(scope="module")
def result() -> RunResult:
    return make_run()


@pytest.fixture(scope="module")
def folder(tmp_path_factory, result) -> Path:
    return save_run(result, tmp_path_factory.mktemp("results"))


def _same_metrics(a: dict, b: dict) -> bool:
    def norm(v):
        return None if isinstance(v, float) and math.isnan(v) else v
    return {k: norm(v) for k, v in a.items()} == {k: norm(v) for k, v in b.items()}


def test_layout(folder, result):
    assert folder.name.startswith("synthetic-") and len(folder.name) == len("synthetic-YYYYmmdd-HHMMSS")
    for name in REQUIRED_FILES + ("risk_free.csv",):
        assert (folder / name).is_file(), name
    for sub in ("weights", "holdings", "trades"):
        assert sorted(p.name for p in (folder / sub).iterdir()) == ["equal-weight.csv", "tilted.csv"]
    assert sorted(p.name for p in (folder / "analytics").iterdir()) == ["group-summary.csv",
                                                                        "top-holdings-share.csv"]
    equity = pd.read_csv(folder / "equity.csv", index_col="date", parse_dates=True)
    assert list(equity.columns) == ["equal-weight", "tilted", "benchmark"]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert list(metrics) == ["strategies", "benchmark", "benchmarks", "relative"]
    assert list(metrics["strategies"]) == ["Equal weight", "Tilted"]
    assert {"total_return", "cagr", "volatility", "sharpe", "max_drawdown"} <= set(metrics["benchmark"])
    layout = json.loads((folder / "manifest.json").read_text())["run_folder"]
    assert [(e["slug"], e["name"]) for e in layout["strategies"]] == [("equal-weight", "Equal weight"),
                                                                      ("tilted", "Tilted")]
    assert not any(p.name.startswith(".") for p in folder.parent.iterdir())  # temp folder renamed away


def test_round_trip(folder, result):
    saved = load_run(folder)
    assert saved.name == result.name and saved.benchmark_name == "SPY"
    assert saved.config == result.config
    as_json = json.loads(json.dumps(result.manifest))
    assert {k: v for k, v in saved.manifest.items() if k != "run_folder"} == as_json
    pd.testing.assert_series_equal(saved.benchmark, result.benchmark, **CHECK)
    pd.testing.assert_series_equal(saved.risk_free, result.risk_free, **CHECK)
    for got, want in zip(saved.strategies, result.strategies, strict=True):
        assert got.name == want.name and got.notes == want.notes
        pd.testing.assert_series_equal(got.equity, want.equity, **CHECK)
        pd.testing.assert_series_equal(got.fees, want.fees, **CHECK)
        pd.testing.assert_series_equal(got.turnover, want.turnover, **CHECK)
        pd.testing.assert_frame_equal(got.targets, want.targets, check_freq=False)
        pd.testing.assert_frame_equal(got.holdings, month_end_sample(want.holdings), check_freq=False)
        pd.testing.assert_frame_equal(got.trades, want.trades, check_dtype=False)
    pd.testing.assert_frame_equal(saved.analytics["top_holdings_share"], result.analytics["top_holdings_share"],
                                  check_freq=False)
    pd.testing.assert_frame_equal(saved.analytics["group <summary>"], result.analytics["group <summary>"],
                                  check_index_type=False)
    want = compute_run_metrics(result)
    assert _same_metrics(saved.metrics["benchmark"], want["benchmark"])
    for name in ("Equal weight", "Tilted"):
        assert _same_metrics(saved.metrics["strategies"][name], want["strategies"][name])
    assert saved.slugs == {"Equal weight": "equal-weight", "Tilted": "tilted"}


def test_holdings_are_a_month_end_sample(folder, result):
    held = load_run(folder).strategies[0].holdings
    assert held.index[-1] == result.benchmark.index[-1]
    assert len(held) == len(result.benchmark.index.to_period("M").unique())


def test_identical_inputs_give_identical_bytes(tmp_path):
    a = save_run(make_run(), tmp_path / "a")
    b = save_run(make_run(), tmp_path / "b")
    for name in ("metrics.json", "equity.csv", "returns.csv", "weights/tilted.csv", "trades/tilted.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    created = json.loads((a / "manifest.json").read_text())["run_folder"]["created"]
    for name in ("metrics.json", "equity.csv"):  # timestamps live in manifest.json only
        assert created[:10].encode() not in (a / name).read_bytes()


def test_no_folder_when_rendering_fails(tmp_path, result):
    def broken(saved):
        raise RuntimeError("renderer exploded")

    with pytest.raises(RuntimeError, match="renderer exploded"):
        write_run(result, tmp_path, renderer=broken)
    assert list(tmp_path.iterdir()) == []  # neither a final folder nor the temporary one


def test_existing_name_gets_a_suffix(tmp_path, result):
    first = save_run(result, tmp_path, folder_name="fixed")
    second = save_run(result, tmp_path, folder_name="fixed")
    assert (first.name, second.name) == ("fixed", "fixed-2")


def test_hostile_names_stay_inside(tmp_path):
    hostile = make_run(name="../../etc/<script>x</script>", names=HOSTILE_NAMES)
    root = tmp_path / "results"
    folder = save_run(hostile, root, folder_name="../../../escape")
    assert folder.parent == root
    for path in tmp_path.rglob("*"):
        assert path.resolve().is_relative_to(root.resolve()), path
        assert all(ch.isascii() and ch.isprintable() for ch in path.name), path
    saved = load_run(folder)
    assert [s.name for s in saved.strategies] == list(HOSTILE_NAMES)
    assert len(set(saved.slugs.values())) == len(HOSTILE_NAMES)
    default = save_run(hostile, root)
    assert default.parent == root and not default.name.startswith(".")


def test_slugs():
    assert slugify("Mag 7 overweight") == "mag-7-overweight"
    assert slugify("Équal-weight S&P 493") == "equal-weight-s-p-493"
    assert slugify("../../etc") == "etc"
    assert slugify("<>") == "strategy"
    assert slugify("benchmark") == "benchmark-2"  # reserved for the benchmark column
    assert slugify("a b", {"a-b", "a-b-2"}) == "a-b-3"
    # long sweep variants: cut, with a digest of the whole name (a '-2' suffix read like a grid value)
    a, b = (f"Cap-weighted S&P 500 with Mag 7 tilt [caps.single=0.05, select.skip={k}]" for k in (21, 2))
    assert len(slugify(a)) <= 60 and slugify(a) != slugify(b) and slugify(a) == slugify(a, {slugify(b)})
    assert slugify(a).startswith("cap-weighted-s-p-500-with-mag-7-tilt-caps-single-0")
    assert re.fullmatch(r".*-[0-9a-f]{8}", slugify(a)) and slugify("x" * 60) == "x" * 60
    assert safe_folder_name("../..") == "run" and safe_folder_name(".hidden") == "hidden"
    assert safe_folder_name("x/y\\z\x00") == "x-y-z"


def test_contract_violations_are_reported(tmp_path, result):
    twice = RunResult(**{**result.__dict__, "strategies": result.strategies[:1] * 2})
    with pytest.raises(ValueError, match="duplicate strategy names"):
        save_run(twice, tmp_path)
    short = RunResult(**{**result.__dict__, "benchmark": result.benchmark.iloc[:-1]})
    with pytest.raises(ValueError, match="equity dates differ"):
        save_run(short, tmp_path)


def test_unwritable_results_dir(tmp_path, result):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UsageError, match="cannot create it"):
        save_run(result, blocker / "results")


@pytest.mark.parametrize("damage, message", [
    (lambda p: (p / "metrics.json").unlink(), "missing metrics.json"),
    (lambda p: (p / "report.html").unlink(), "missing report.html"),
    (lambda p: (p / "weights" / "tilted.csv").unlink(), "missing weights/tilted.csv"),
    (lambda p: (p / "manifest.json").write_text("{not json"), "not valid JSON"),
    (lambda p: (p / "manifest.json").write_text("{}"), "no run_folder entry"),
])
def test_incomplete_folder_is_a_data_error(tmp_path, result, damage, message):
    folder = save_run(result, tmp_path)
    damage(folder)
    with pytest.raises(DataError, match=message):
        load_run(folder)


def test_not_a_folder(tmp_path):
    with pytest.raises(DataError, match="not a run folder"):
        load_run(tmp_path / "nope")


def test_list_runs(tmp_path, result):
    older = save_run(result, tmp_path, folder_name="a-run")
    newer = save_run(make_run(name="other", names=("Only",), risk_free=False, analytics=False), tmp_path)
    (tmp_path / f".half.tmp-{os.getpid()}").mkdir()  # a run being written (or a crashed one)
    (tmp_path / "notes").mkdir()  # unrelated folder
    broken = tmp_path / "broken-run"
    broken.mkdir()
    (broken / "equity.csv").write_text("date\n")
    summaries = list_runs(tmp_path)
    assert [s.path for s in summaries] == [older, newer, broken]
    first = summaries[0]
    assert (first.name, first.start) == ("synthetic", "2021-01-04")
    assert first.strategies == ("Equal weight", "Tilted")
    assert first.problem is None and set(first.headline["Tilted"]) == {
        "total_return", "cagr", "volatility", "sharpe", "max_drawdown"}
    assert first.benchmark_name == "SPY" and first.benchmark_headline["cagr"] > -1
    assert summaries[2].problem and "missing" in summaries[2].problem
    assert list_runs(tmp_path / "absent") == []


def test_run_without_risk_free_or_analytics(tmp_path):
    saved = load_run(save_run(make_run(names=("Only",), risk_free=False, analytics=False), tmp_path))
    assert saved.risk_free is None and saved.analytics == {}
    assert not (saved.path / "risk_free.csv").exists()


def test_strategy_that_never_trades(tmp_path):
    run = make_run(names=("A",), analytics=False)
    s = run.strategies[0]
    idle = StrategyResult(name="Idle", equity=s.equity * 0 + 1e6, targets=pd.DataFrame(),
                          holdings=pd.DataFrame(index=s.equity.index), trades=pd.DataFrame(), fees=s.fees * 0,
                          turnover=pd.Series(dtype=float))
    saved = load_run(save_run(RunResult(**{**run.__dict__, "strategies": (s, idle)}), tmp_path))
    got = saved.strategies[1]
    assert got.targets.empty and got.trades.empty and got.turnover.empty
    assert list(got.trades.columns) == ["date", "ticker", "side", "shares", "price", "value", "fees"]
    assert len(got.holdings) == len(saved.strategies[0].holdings)  # month-end sample as well
    m = saved.metrics["strategies"]["Idle"]
    assert m["total_return"] == 0 and m["n_rebalances"] == 0 and math.isnan(m["sharpe"])


REPO = Path(__file__).resolve().parents[1]


def _child(results: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.report.write_child", str(results), *args], cwd=REPO,
                            stdout=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})


def test_killed_writers_never_leave_a_complete_looking_folder(tmp_path):
    """SIGKILL real writer processes at random points of write_run: only complete runs get a final name."""
    rng = random.Random(1234)
    for attempt in range(6):
        proc = _child(tmp_path, f"run-{attempt}")
        assert proc.stdout.readline().strip() == "writing"
        time.sleep(rng.uniform(0.0, 1.5))
        proc.kill()
        proc.wait()
        proc.stdout.close()
    for summary in list_runs(tmp_path):
        assert summary.problem is None, summary.problem
        load_run(summary.path)  # complete: every file present and readable
    finals = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    assert len(finals) == len(list_runs(tmp_path))


def test_bytes_identical_across_processes(tmp_path):
    """Same inputs in two fresh interpreters (different hash seeds) give byte-identical files."""
    procs = [_child(tmp_path / name, env={"PYTHONHASHSEED": seed}) for name, seed in (("a", "1"), ("b", "2"))]
    folders = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        folders.append(Path(out.split()[-1]))
    for name in ("metrics.json", "equity.csv", "returns.csv", "fees.csv", "turnover.csv",
                 "weights/tilted.csv"):
        assert (folders[0] / name).read_bytes() == (folders[1] / name).read_bytes(), name


def test_header_only_files_read_as_pandas_reads_them_and_independently(tmp_path):
    """A sweep variant's empty weights, holdings and trades files (a header alone) are parsed once per distinct
    header and copied: the same frame, dtypes and index as pandas' reader gives for each file, and a change
    to one frame never reaches the next one read."""
    from backtest.results.read import _read_csv

    files = {"w.csv": "date\n", "h.csv": "date,AAPL,MSFT\n", "t.csv": "date,ticker,side,shares,price,value,fees\n",
             "full.csv": "date,AAPL\n2016-01-04,1.5\n"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    for name in files:
        for dated in (True, False):
            got = _read_csv(tmp_path / name, dated=dated)
            want = (pd.read_csv(tmp_path / name, index_col=0, parse_dates=[0]) if dated
                    else pd.read_csv(tmp_path / name))
            if dated:
                want.index = pd.DatetimeIndex(want.index, name="date")
            pd.testing.assert_frame_equal(got, want, check_exact=True)
            assert got.index.dtype == want.index.dtype and list(got.dtypes) == list(want.dtypes)
    first = _read_csv(tmp_path / "h.csv")
    first["added"] = 1.0
    assert list(_read_csv(tmp_path / "h.csv").columns) == ["AAPL", "MSFT"]
