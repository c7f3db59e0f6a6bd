"""The Python API (`backtest.run`, `backtest.load`, `Result`), the tour in docs/api.md run block by block,
and the headline table `bt run` prints."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import backtest
from backtest.cli import main
from backtest.errors import DataError
from backtest.report.notebook import headline_text, metrics_frame

REPO = Path(__file__).resolve().parents[2]
TOUR = REPO / "docs" / "api.md"


def test_importing_the_package_stays_light():
    """`import backtest` (so `bt --help`) loads neither pandas nor the engine; `run` comes on first use."""
    code = ("import sys, backtest; heavy = [m for m in ('pandas', 'vectorbt', 'plotly', 'backtest.api') "
            "if m in sys.modules]; print(heavy); backtest.run; print('backtest.api' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:2] == ["[]", "True"]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        backtest.nope  # noqa: B018


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", TOUR.read_text(encoding="utf-8"), re.S)


@pytest.fixture(scope="module")
def tour(snapshot_store, tmp_path_factory) -> dict:
    """docs/api.md's code blocks run in order in one namespace, from a folder with configs/ (a link to the
    repository's) and the snapshot store as $BT_DATA_DIR; the namespace they leave."""
    import os

    work = tmp_path_factory.mktemp("tour")
    (work / "configs").symlink_to(REPO / "configs")
    before, env = Path.cwd(), os.environ.get("BT_DATA_DIR")
    os.chdir(work)
    os.environ["BT_DATA_DIR"] = str(snapshot_store.root)
    namespace: dict = {}
    try:
        for i, block in enumerate(_blocks()):
            exec(compile(block, f"docs/api.md block {i + 1}", "exec"), namespace)  # noqa: S102
    finally:
        os.chdir(before)
        if env is None:
            os.environ.pop("BT_DATA_DIR", None)
        else:
            os.environ["BT_DATA_DIR"] = env
    namespace["work"] = work
    return namespace


def test_the_tour_runs_and_matches_the_saved_folder(tour):
    assert len(_blocks()) >= 4
    result, folder = tour["result"], tour["folder"]
    assert folder.parent == tour["work"] / "results" and (folder / "report.html").is_file()
    assert result.path is None and tour["same"].path == folder
    # the Result is the run folder's content: equity.csv, metrics.json, trades/, weights/
    equity = pd.read_csv(folder / "equity.csv", index_col="date", parse_dates=True)
    layout = json.loads((folder / "manifest.json").read_text())["run_folder"]
    names = {s["slug"]: s["name"] for s in layout["strategies"]} | {"benchmark": "SPY"}
    pd.testing.assert_frame_equal(equity.rename(columns=names), result.equity, check_freq=False)
    metrics = json.loads((folder / "metrics.json").read_text())
    mag7 = metrics["strategies"]["Mag 7 overweight"]
    assert result.metrics.loc["Mag 7 overweight", "sharpe"] == mag7["sharpe"]
    assert result.metrics.loc["SPY", "cagr"] == metrics["benchmark"]["cagr"]
    assert list(result.metrics.index) == [*result.strategies, "SPY"]
    slug = layout["strategies"][0]["slug"]
    trades = pd.read_csv(folder / "trades" / f"{slug}.csv")
    mine = result.trades[result.trades["strategy"] == result.strategies[0]]
    assert len(mine) == len(trades) and mine["value"].sum() == pytest.approx(trades["value"].sum(), rel=1e-12)
    weights = pd.read_csv(folder / "weights" / f"{slug}.csv", index_col="date", parse_dates=True)
    assert result.weights[result.strategies[0]].shape == weights.shape
    assert result.warnings == json.loads((folder / "manifest.json").read_text())["warnings"]
    slippage = pd.read_csv(folder / "slippage.csv", index_col="date", parse_dates=True).rename(columns=names)
    pd.testing.assert_frame_equal(slippage, result.slippage, check_freq=False)
    assert float(result.slippage["Mag 7 overweight"].sum()) == mag7["slippage_paid"] > 0
    pd.testing.assert_frame_equal(tour["same"].slippage, result.slippage, check_freq=False)   # loaded back
    # returns: simple returns of the equity measured from the capital (the opening fees count), as
    # returns.csv holds them and the metrics use them
    r = result.returns["Mag 7 overweight"]
    capital = result.config["capital"]
    assert r.iloc[0] == pytest.approx(result.equity["Mag 7 overweight"].iloc[0] / capital - 1, rel=1e-12)
    assert r.iloc[0] < 0     # the opening trade paid costs
    assert r.iloc[1:].tolist() == pytest.approx(
        (result.equity["Mag 7 overweight"].pct_change().iloc[1:]).tolist(), rel=1e-12)
    saved = pd.read_csv(folder / "returns.csv", index_col="date", parse_dates=True).rename(columns=names)
    assert saved["Mag 7 overweight"].to_numpy() == pytest.approx(r.to_numpy(), rel=1e-9, abs=1e-15)
    assert (1 + r).prod() - 1 == pytest.approx(mag7["total_return"], rel=1e-12)


def test_notebook_display(tour):
    html = tour["result"]._repr_html_()
    assert "<table>" in html and "<svg" in html and "log scale" in html   # 10 years: log scale
    row = re.search(r"<td[^>]*>Mag 7 overweight</td>(.*?)</tr>", html).group(1)
    cagr = tour["result"].metrics.loc["Mag 7 overweight", "cagr"]
    assert f"{cagr:.2%}" in row
    assert html.count("<polyline") == len(tour["result"].equity.columns)
    assert "Mag 7 overweight" in repr(tour["result"])


def test_load_names_the_problem(tmp_path):
    with pytest.raises(DataError, match="not a run folder"):
        backtest.load(tmp_path / "missing")


def test_headline_text_never_cuts_a_name():
    long = "Capped [caps.single=0.05, caps.groups.mag7=0.3, universe.exclude=[mag7]]"
    frame = metrics_frame({"strategies": {long: {"cagr": 0.1, "volatility": 0.2, "sharpe": 0.5,
                                                 "max_drawdown": -0.3, "excess_return": 0.01}},
                           "benchmark": {"cagr": 0.09, "sharpe": None}}, [long], "SPY (benchmark)")
    text = headline_text(frame, width=60)
    assert long in text.splitlines()
    assert re.search(r"10\.00%\s+20\.00%\s+0\.50\s+-30\.00%\s+\+1\.00%", text)
    assert re.search(r"SPY \(benchmark\)\s+9\.00%\s+–\s+–", text)


def test_bt_run_ends_with_the_headline_table_and_the_report(snapshot_store, tmp_path, capsys):
    code = main(["--data-dir", str(snapshot_store.root), "run", str(REPO / "configs" / "rotation.yaml"),
                 "--offline", "--out", str(tmp_path), "--start", "2025-01-01"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith("report: ") and out.strip().endswith("report.html")   # stdout: the path only
    folder = Path(out.strip().removeprefix("report: ")).parent
    metrics = json.loads((folder / "metrics.json").read_text())
    table = err[err.index("CAGR"):]
    for head in ("Volatility", "Sharpe", "Max drawdown", "Excess return"):
        assert head in table
    for name, m in metrics["strategies"].items():
        line = next(ln for ln in table.splitlines() if ln.startswith(name))
        assert f"{m['cagr']:.2%}" in line and f"{m['sharpe']:.2f}" in line
        assert f"{m['excess_return']:+.2%}".replace("−", "-") in line
    assert "SPY (benchmark)" in table


def test_run_takes_a_mapping_or_a_run_config_as_well_as_a_path(snapshot_store, tmp_path):
    """A notebook builds or edits the config as a dict: `backtest.run(dict)` checks it by the file's rules and
    gives the file's result; a RunConfig runs as it is; python weightings need allow_python=True."""
    import yaml

    from backtest.config import load_config
    from backtest.errors import ConfigError, UsageError

    text = ("name: m\nstart: 2024-01-01\nend: 2024-12-31\nstrategies:\n"
            "  - {name: Core, weighting: fixed, weights: {SPY: 0.6, AGG: 0.4}, rebalance: quarterly}\n")
    path = tmp_path / "m.yaml"
    path.write_text(text)
    kw = {"offline": True, "data_dir": snapshot_store.root}
    from_file = backtest.run(path, **kw)
    data = yaml.safe_load(text)
    pd.testing.assert_frame_equal(backtest.run(data, **kw).equity, from_file.equity)
    pd.testing.assert_frame_equal(backtest.run(load_config(path), **kw).equity, from_file.equity)
    # values straight from numpy and pandas (a notebook's) read as the numbers and dates they are
    import numpy as np
    typed = {**data, "start": pd.Timestamp("2024-01-01"), "end": np.datetime64("2024-12-31").astype(object),
             "strategies": [{**data["strategies"][0], "weights": {"SPY": np.float64(0.6), "AGG": np.float64(0.4)}}]}
    pd.testing.assert_frame_equal(backtest.run(typed, **kw).equity, from_file.equity)
    data["strategies"][0]["weights"] = {"SPY": 0.8, "AGG": 0.2}       # a parameter changed in the notebook
    assert not backtest.run(data, **kw).equity["Core"].equals(from_file.equity["Core"])
    data["strategies"][0]["weight"] = 1                                 # checked like the file: a typo named
    with pytest.raises(ConfigError, match=r"(?s)<config mapping>.*weight.*did you mean 'weights'"):
        backtest.run(data, **kw)
    with pytest.raises(UsageError, match="expected a YAML file's path, a mapping or a RunConfig, got int"):
        backtest.run(3, **kw)
    plugin = yaml.safe_load(text.replace("weighting: fixed, weights: {SPY: 0.6, AGG: 0.4}",
                                         "weighting: {python: 'tests.strategies.plugins.weights:cheapest_half'}, "
                                         "universe: [SPY, AGG]"))
    with pytest.raises(UsageError, match="would run Python code named in the config"):
        backtest.run(plugin, **kw)
    assert list(backtest.run(plugin, allow_python=True, **kw).weights) == ["Core"]
