"""The `bt` command end to end on the real snapshot: exit codes, output, files written (and not written)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from backtest.cli import main
from tests.conftest import REPO

CONFIGS = sorted((REPO / "configs").rglob("*.yaml"))


def bt(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_rotation_run_writes_the_whole_folder(rotation_run):
    names = {p.name for p in rotation_run.iterdir()}
    assert {"report.html", "metrics.json", "equity.csv", "weights", "config.yaml", "manifest.json"} <= names
    metrics = json.loads((rotation_run / "metrics.json").read_text())
    assert set(metrics["strategies"]) == {"Mag 7 overweight", "Equal-weight S&P 493", "Small-cap value tilt",
                                          "Cap-weighted, 5% cap", "Cap-weighted, no cap"}
    for m in [*metrics["strategies"].values(), metrics["benchmark"]]:
        for key in ("total_return", "cagr", "volatility", "sharpe", "max_drawdown"):
            assert isinstance(m[key], float)
        assert -1 < m["max_drawdown"] <= 0 and 0 < m["volatility"] < 1, "fractions, not percent"
    equity = pd.read_csv(rotation_run / "equity.csv", index_col=0, parse_dates=True)
    # from the base close: the last close before the first trading day on or after start (2016-01-01)
    assert equity.index[0] == pd.Timestamp("2015-12-31") and equity.index[-1] == pd.Timestamp("2026-06-30")
    assert (equity.iloc[0] <= 1_000_000).all() and (equity.iloc[0] > 999_000).all()
    assert len(list((rotation_run / "weights").glob("*.csv"))) == 5
    manifest = json.loads((rotation_run / "manifest.json").read_text())
    assert manifest["versions"]["vectorbt"] and manifest["data"]["SPY"]["first"] == "2015-12-31"
    assert any("no price on some rebalance dates" in w for w in manifest["warnings"]), "missing members named"


def test_benchmark_is_spy_buy_and_hold_on_the_same_dates(rotation_run, market_data_dir):
    equity = pd.read_csv(rotation_run / "equity.csv", index_col=0, parse_dates=True)
    spy = pd.read_parquet(market_data_dir / "prices_etf.parquet")["SPY"].loc["2015-12-31":"2026-06-30"]
    bench = equity.iloc[:, -1]
    pd.testing.assert_index_equal(bench.index, spy.index, check_names=False)
    assert bench.iloc[-1] / bench.iloc[0] == pytest.approx(spy.iloc[-1] / spy.iloc[0], rel=1e-9)


def test_cli_prints_where_the_report_is(snapshot_store, tmp_path, capsys):
    code, out, err = bt(capsys, "--data-dir", snapshot_store.root, "run", REPO / "configs" / "rotation.yaml",
                        "--offline", "--out", tmp_path, "--start", "2025-01-01")
    assert code == 0, err
    assert out.startswith("report: ") and out.strip().endswith("report.html")
    run = Path(out.strip().removeprefix("report: ")).parent
    manifest = json.loads((run / "manifest.json").read_text())
    n = len(manifest["warnings"])
    assert n > 0        # the terminal says the period run and how many warnings the report holds
    assert (f"period: 2024-12-31 (base close) .. 2026-06-30, {manifest['period']['trading_days']:,} trading days\n"
            f"{n} warnings: see the report's Warnings section (or manifest.json)") in err


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_validates(config, capsys, snapshot_store):
    code, out, err = bt(capsys, "--data-dir", snapshot_store.root, "validate", config)
    assert code == 0, err
    assert "OK" in out


def test_bad_config_exits_2_with_every_problem_and_writes_nothing(tmp_path, capsys, snapshot_store):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("name: bad\nstart: 2020-01-01\nend: 2019-01-01\nstrategies:\n"
                   "  - name: x\n    weighting: fixed\n    weights: {SPY: 0.6, IWM: 0.3}\n    rebalnce: monthly\n")
    out_dir = tmp_path / "results"
    code, out, err = bt(capsys, "--data-dir", snapshot_store.root, "run", cfg, "--offline", "--out", out_dir)
    assert code == 2
    assert "Traceback" not in err
    assert "end (line 3)" in err and "must sum to 1" in err and "did you mean 'rebalance'" in err
    assert not out_dir.exists() or not any(out_dir.iterdir())


@pytest.mark.parametrize("args, message", [
    (["run", "no/such/file.yaml"], "not found"),
    (["run", "."], "directory"),
    (["validate", "no/such.yaml"], "not found"),
])
def test_cli_usage_errors_exit_2_without_traceback(args, message, capsys):
    code, out, err = bt(capsys, *args)
    assert code == 2 and message in err and "Traceback" not in err


def test_period_outside_the_data_is_a_clear_error(snapshot_store, tmp_path, capsys):
    cfg = tmp_path / "late.yaml"
    cfg.write_text("name: late\nstart: 2030-01-01\nstrategies:\n  - {name: s, weighting: fixed, weights: {SPY: 1}}\n")
    code, _, err = bt(capsys, "--data-dir", snapshot_store.root, "run", cfg, "--offline", "--out", tmp_path)
    assert code == 2 and "outside the data" in err and "SPY has prices from" in err


def test_out_folder_that_is_a_file_is_rejected(snapshot_store, tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    code, _, err = bt(capsys, "--data-dir", snapshot_store.root, "run", REPO / "configs" / "rotation.yaml",
                      "--offline", "--out", f)
    assert code == 2 and "is a file" in err


def test_verbose_shows_the_traceback(capsys):
    code, _, err = bt(capsys, "-v", "run", "no/such/file.yaml")
    assert code == 2 and "Traceback" in err


def test_list_and_compare_saved_runs(rotation_run, tmp_path, capsys):
    code, out, err = bt(capsys, "list", "--results", rotation_run.parent)
    assert code == 0 and "rotation" in out
    for folder, why in ((tmp_path / "typo", "no such folder"), (tmp_path, "no run folders in it")):
        code, out, err = bt(capsys, "list", "--results", folder)
        assert code == 0 and out.startswith(f"no saved runs in {folder} ({why}; ")
    html = tmp_path / "cmp.html"
    code, out, err = bt(capsys, "compare", rotation_run, rotation_run, "--out", html)
    assert code == 0, err
    assert html.exists() and "Mag 7 overweight" in html.read_text()


@pytest.mark.parametrize("args, message", [
    (("--start", "2024-13-01"), "error: --start: '2024-13-01' is not a calendar date; expected YYYY-MM-DD"),
    (("--start", "2024-02-01", "--end", "2024-02-30"), "error: --end: '2024-02-30' is not a calendar date"),
    (("--start", "2024-02-01", "--end", "2024-01-01"), "error: --end 2024-01-01 is before --start 2024-02-01"),
    (("--start", "2999-01-01"), "error: --start 2999-01-01 is in the future"),
])
def test_data_fetch_checks_its_dates_before_asking_yahoo(tmp_path, capsys, args, message):
    """Bad dates were an internal error (exit 1), and a start after the end or in the future reported
    '1 already stored' with exit 0, for a ticker the store did not hold."""
    code, out, err = bt(capsys, "--data-dir", tmp_path / "store", "data", "fetch", "ZZTOP", *args)
    assert code == 2 and err.startswith(message), err
    assert not (tmp_path / "store").exists() or not list((tmp_path / "store").rglob("*.parquet"))


def test_out_must_be_a_results_folder_not_empty_text_or_a_run_folder(rotation_run, tmp_path, capsys):
    """`--out ''` wrote the run into the current folder; `--out` naming a run folder nested the new run
    inside it. Both are refused (exit 2) before anything runs."""
    for command in ("run", "sweep"):
        code, out, err = bt(capsys, command, REPO / "configs" / "rotation.yaml", "--offline", "--out", "")
        assert code == 2 and "Invalid value for '--out': is empty; give the folder that receives run " \
                             "folders, e.g. --out results" in err
    code, out, err = bt(capsys, "run", REPO / "configs" / "rotation.yaml", "--offline", "--out", rotation_run)
    assert code == 2 and f"{rotation_run} is a run folder (it holds manifest.json)" in err
    assert sorted(p.name for p in rotation_run.parent.iterdir() if p.name.startswith("rotation")) == [
        rotation_run.name]


def test_a_mistyped_store_folder_is_named_as_no_store(tmp_path, capsys):
    """A --data-dir with no store was told 'no prices for SPY ... check the spelling' or that the store had
    no membership table; it is told there is no store there."""
    for command in ("run", "validate"):
        extra = ("--offline",) if command == "run" else ()
        code, out, err = bt(capsys, "--data-dir", tmp_path / "typo", command, REPO / "configs" / "rotation.yaml",
                            *extra)
        assert code == 2 and f"there is no price store at {tmp_path / 'typo'} (the folder does not exist); " \
                             "fix: check --data-dir / $BT_DATA_DIR" in err, err
    assert not (tmp_path / "typo").exists()


def test_snapshot_command(snapshot_store, capsys):
    code, out, err = bt(capsys, "--data-dir", snapshot_store.root, "snapshot", "IWM", "AVUV", "VTV", "SPY",
                        "--asof", "2026-06-22", "--since", "ytd")
    assert code == 0, err
    assert "2025-12-31" in out and "2026-06-22" in out and "IWM" in out


def test_data_ls_lists_tickers_with_sources(snapshot_store, capsys):
    code, out, err = bt(capsys, "--data-dir", snapshot_store.root, "data", "ls", "--ticker", "SPY")
    assert code == 0 and "SPY" in out and "snapshot" in out


def test_help_is_fast():
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "from backtest.cli import main; main(['--help'])"], check=True,
                   capture_output=True)
    assert time.perf_counter() - t < 3.0   # generous bound for a loaded CI box; benchmarks/ measures it


def test_a_run_pauses_only_the_full_collections_and_restores_them():
    """`bt run` and `bt sweep` keep the collector's young generations (short-lived cycles are freed as usual)
    and give the thresholds back when they end, on error too: an in-process caller (a notebook, these tests)
    keeps its own settings."""
    import gc

    from backtest.gcpolicy import young_collections_only

    before = gc.get_threshold()
    with young_collections_only():
        young, middle, old = gc.get_threshold()
        assert (young, middle) == before[:2] and old >= 2**31 - 1
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError), young_collections_only():
        raise RuntimeError("a failed run")
    assert gc.get_threshold() == before


def test_bad_input_leaves_the_collector_as_it_was(tmp_path, capsys):
    import gc

    before = gc.get_threshold()
    (tmp_path / "c.yaml").write_text("name: x\nstrategies: []\n")
    for command in ("run", "sweep"):
        code, _, err = bt(capsys, command, tmp_path / "c.yaml", "--offline", "--out", tmp_path / "out")
        assert code == 2 and "error:" in err
        assert gc.get_threshold() == before


def test_the_console_script_is_the_entry_point_that_freezes_at_exit():
    """setup.cfg's `bt` script calls `console` (main, then `gc.freeze()` so the interpreter's teardown skips
    its collections over the heap); `main` itself, which tests and notebooks call, freezes nothing."""
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    assert cfg["options.entry_points"]["console_scripts"].split() == ["bt", "=", "backtest.cli:console"]
    code = ("import gc, sys; from backtest import cli; sys.argv = ['bt', '--help']; n = gc.get_freeze_count(); "
            "rc = cli.main(['--help']); assert gc.get_freeze_count() == n, 'main froze'; rc = cli.console(); "
            "assert gc.get_freeze_count() > n, 'console did not freeze'; print('exit', rc)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("exit 0")
