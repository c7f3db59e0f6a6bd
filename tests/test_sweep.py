"""Sweeps: the grid expanded into variants, all simulated; chunking and Dask workers never change a result."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from backtest.config import expand_sweep, load_config
from backtest.errors import UsageError
from backtest.results import load_run
from backtest.sweep import expand_variants, run_sweep
from tests.conftest import dump_dom

REPO = Path(__file__).resolve().parents[1]
SWEEP = textwrap.dedent("""\
    name: tiny-sweep
    start: 2019-01-01
    end: 2020-12-31
    benchmark: SPY
    rebalance: monthly
    costs: {commission_bps: 1, slippage_bps: 2}
    strategies:
      - name: Core
        weighting: fixed
        weights: {SPY: 0.6, IWN: 0.4}
      - name: Capped
        weighting: cap
        universe: sp500
        caps: {single: 0.05}
      - name: Equal
        weighting: equal
        universe: {index: sp500, exclude: [mag7]}
    sweep:
      grid:
        caps.single: [0.03, 0.1]
        caps.groups.mag7: [0.2, 0.3]
        universe.exclude: [[], [mag7]]
    """)
SAME_FILES = ("metrics.json", "equity.csv", "returns.csv", "fees.csv", "turnover.csv", "config.yaml")


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sweep") / "sweep.yaml"
    path.write_text(SWEEP)
    return path


@pytest.fixture(scope="module")
def runs(config, snapshot_store, tmp_path_factory) -> dict[str, Path]:
    """The sweep run three ways: one chunk in this process, one strategy per chunk, 2 Dask workers."""
    out = tmp_path_factory.mktemp("sweep-runs")
    kw = dict(store=snapshot_store, offline=True)
    return {"one chunk": run_sweep(config, results_dir=out / "a", chunk_size=64, **kw),
            "chunks of 1": run_sweep(config, results_dir=out / "b", chunk_size=1, **kw),
            "dask x2": run_sweep(config, results_dir=out / "c", chunk_size=64, workers=2, **kw)}


def test_every_variant_is_simulated_with_its_parameters(config, runs):
    cfg = load_config(config)
    expanded = [v.name for _, v in expand_sweep(cfg)]
    assert len(expanded) == 2 * 2 * 2 + 2          # Capped: every key; Equal: universe.exclude only
    saved = load_run(runs["one chunk"])
    names = [s.name for s in saved.strategies]
    assert names[0] == "Core" and names[1:] == expanded     # unswept strategies stay, variants in order
    assert set(saved.metrics["strategies"]) == set(names)
    assert all(len(s.equity) == len(saved.benchmark) and s.equity.notna().all() for s in saved.strategies)
    table = {row["name"]: row for row in saved.manifest["sweep"]["table"]}
    row = table["Capped [caps.single=0.1, caps.groups.mag7=0.3, universe.exclude=[mag7]]"]
    assert row["base"] == "Capped"
    assert row["params"] == {"caps.single": "0.1", "caps.groups.mag7": "0.3", "universe.exclude": "[mag7]"}
    assert table["Core"] == {"name": "Core", "base": None, "params": {}}
    m = saved.metrics["strategies"]
    assert m["Equal [universe.exclude=[]]"]["cagr"] != m["Equal [universe.exclude=[mag7]]"]["cagr"]


def test_variant_equals_the_same_strategy_run_on_its_own(config, runs, snapshot_store, tmp_path):
    """A variant in a sweep is exactly `bt run` of a config holding that strategy."""
    from backtest.runner import run_config

    single = tmp_path / "one.yaml"
    single.write_text(SWEEP.split("sweep:")[0].replace(
        "    caps: {single: 0.05}", "    caps: {single: 0.03, groups: {mag7: 0.2}}"))
    run = load_run(run_config(single, store=snapshot_store, results_dir=tmp_path / "out", offline=True))
    swept = load_run(runs["one chunk"])
    name = "Capped [caps.single=0.03, caps.groups.mag7=0.2, universe.exclude=[]]"
    a = run.metrics["strategies"]["Capped"]
    b = swept.metrics["strategies"][name]
    assert json.dumps(a) == json.dumps(b)     # (NaN written as NaN: equal here, unlike in ==)
    assert a["slippage_paid"] > 0 and a["cost_drag"] == a["fee_drag"] + a["slippage_drag"] + a["expense_ratio"]
    assert (run.strategies[1].equity.to_numpy() == swept.strategies[[s.name for s in swept.strategies]
                                                                    .index(name)].equity.to_numpy()).all()


def test_a_sweep_folder_has_no_detail_files_and_reads_as_if_it_had_them(runs, tmp_path):
    """A sweep's folder leaves out weights/, holdings/ and trades/ (its variants have none: an empty file per
    variant in each was 3 files a variant, 30,000 for 10,000 variants). `load_run` gives every variant the
    frames those files held: the same as the folder with them written back as `write_run` writes them for
    a strategy with no targets, holdings or trades."""
    import shutil

    from backtest.results import read, write

    folder = runs["one chunk"]
    assert not any((folder / sub).exists() for sub in ("weights", "holdings", "trades"))
    layout = json.loads((folder / "manifest.json").read_text())["run_folder"]
    assert layout["detail_files"] is False
    saved = load_run(folder)

    # the files write_run writes for a strategy without detail, in a plain run folder of the sweep's result
    plain = write.write_run(_result_without_detail(saved), tmp_path / "plain", renderer=lambda _: "")
    old = tmp_path / "old"
    shutil.copytree(folder, old)
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["run_folder"]["detail_files"]
    (old / "manifest.json").write_text(json.dumps(manifest))
    for sub in ("weights", "holdings", "trades"):
        (old / sub).mkdir()
        for entry in layout["strategies"]:
            text = (plain / sub / f"{entry['slug']}.csv").read_bytes()
            assert text == read.EMPTY_DETAIL[sub]
            (old / sub / f"{entry['slug']}.csv").write_bytes(text)
    before = load_run(old)
    first, second = saved.strategies[1], saved.strategies[2]
    assert all(getattr(first, f) is not getattr(second, f) for f in ("targets", "holdings", "trades"))  # own copies
    for a, b in zip(saved.strategies, before.strategies, strict=True):
        for field in ("targets", "holdings", "trades"):
            x, y = getattr(a, field), getattr(b, field)
            pd.testing.assert_frame_equal(x, y)
            assert x.index.dtype == y.index.dtype and list(x.dtypes) == list(y.dtypes)
    with pytest.raises(ValueError, match="detail=False"):          # a run's detail is never dropped silently
        write.write_run(_result_with_a_trade(saved), tmp_path / "x", renderer=lambda _: "", detail=False)


def test_a_loaded_sweep_saves_as_a_sweep_folder(runs, tmp_path):
    """`backtest.load(sweep).save()` writes a sweep folder again: no detail files, `detail_files: false`, the
    sweep report, and the same CSV files and metrics as the folder it was loaded from."""
    import backtest

    folder = runs["one chunk"]
    again = backtest.load(folder).save(tmp_path, folder_name="again")
    assert not any((again / sub).exists() for sub in ("weights", "holdings", "trades"))
    assert json.loads((again / "manifest.json").read_text())["run_folder"]["detail_files"] is False
    for name in ("equity.csv", "returns.csv", "fees.csv", "turnover.csv", "metrics.json"):
        assert (again / name).read_bytes() == (folder / name).read_bytes(), name
    assert "sweep report" in (again / "report.html").read_text()


def _result_without_detail(saved):
    from backtest.results import RunResult

    return RunResult(name=saved.name, config=saved.config, strategies=saved.strategies,
                     benchmark_name=saved.benchmark_name, benchmark=saved.benchmark, risk_free=saved.risk_free,
                     manifest={}, metrics=saved.metrics, benchmarks=dict(saved.benchmarks))


def _result_with_a_trade(saved):
    import dataclasses

    result = _result_without_detail(saved)
    first = result.strategies[0]
    trade = pd.DataFrame([[saved.benchmark.index[0], "SPY", "buy", 1.0, 1.0, 1.0, 0.0]],
                         columns=list(first.trades.columns))
    return dataclasses.replace(result, strategies=(dataclasses.replace(first, trades=trade),
                                                   *result.strategies[1:]))


def test_warnings_shared_by_variants_are_written_once_with_their_count(runs):
    """The sweep's warnings fold a note that variants share into one line with how many (and which) variants
    it concerns; nothing a variant noted is lost."""
    from backtest.sweep import Outcome, Variant, fold_notes

    saved = load_run(runs["one chunk"])
    warnings = saved.manifest["warnings"]
    assert len(warnings) == len(set(warnings))
    folded = [w for w in warnings if w.startswith("Capped [all 8 variants]: ")]
    assert folded, warnings     # e.g. the members without a share count: the same on every variant's dates
    html = (runs["one chunk"] / "report.html").read_text()
    assert f"Warnings ({len(warnings)})" in html, "the report shows the folded warnings, not every variant's"
    import backtest

    assert backtest.load(runs["one chunk"]).warnings == warnings, "and so does a notebook's load"
    assert not any(w.startswith("Capped [caps.single=") and w.split("]: ", 1)[1] in {f.split("]: ", 1)[1]
                                                                                    for f in folded}
                   for w in warnings)
    variants = [Variant("A [x=1]", "A", (("x", "1"),)), Variant("A [x=2]", "A", (("x", "2"),)),
                Variant("A [x=3]", "A", (("x", "3"),)), Variant("B", None)]
    out = lambda name, *notes: Outcome(name=name, equity=None, fees=None, turnover=None, notes=notes,  # noqa
                                       metrics={})
    outcomes = [out("A [x=1]", "A [x=1]: gap in XYZ", "A [x=1]: caps bound on 3 of 10 dates", "run note"),
                out("A [x=2]", "A [x=2]: gap in XYZ", "A [x=2]: caps bound on 5 of 10 dates"),
                out("A [x=3]", "A [x=3]: gap in XYZ", "A [x=3]: caps bound on 3 of 10 dates", "run note"),
                out("B", "B: its own note")]
    assert fold_notes(variants, outcomes) == [
        "A [all 3 variants]: gap in XYZ", "A [2 of 3 variants: A [x=1]; A [x=3]]: caps bound on 3 of 10 dates",
        "run note", "A [x=2]: caps bound on 5 of 10 dates", "B: its own note"]


@pytest.mark.parametrize("other", ["chunks of 1", "dask x2"])
def test_chunking_and_workers_give_identical_bytes(runs, other):
    for name in SAME_FILES:
        assert (runs["one chunk"] / name).read_bytes() == (runs[other] / name).read_bytes(), name
    a, b = (json.loads((runs[k] / "manifest.json").read_text())["sweep"] for k in ("one chunk", other))
    assert a["table"] == b["table"] and a["grids"] == b["grids"]
    assert b["chunks"] == (11 if other == "chunks of 1" else 2)   # two workers: the work is split in two
    assert b["workers"] == (2 if other == "dask x2" else 1)


def test_sweep_report_has_the_sortable_table_and_the_heatmaps(runs):
    html = (runs["one chunk"] / "report.html").read_text(encoding="utf-8")
    assert '<table class="tbl sortable" id="variants-table">' in html
    assert "table.sortable" in html and "aria-sort" in html        # the sorting script, inlined
    assert len(re.findall(r'<tr(?: class=bench)?><td title=', html)) == 11 + 1   # every strategy + benchmark
    figures = [json.loads(m.replace("\\u003c", "<").replace("\\u003e", ">").replace("\\u0026", "&"))
               for m in re.findall(r'<script type="application/json" class="bt-fig">(.*?)</script>', html)]
    heat = [f for f in figures if f["data"] and f["data"][0]["type"] == "heatmap"]
    assert len(heat) == 2                                           # Capped and Equal
    capped = heat[0]
    assert capped["layout"]["xaxis"]["title"]["text"] == "caps.single"
    assert capped["layout"]["yaxis"]["title"]["text"] == "caps.groups.mag7"
    assert len(capped["data"]) == 2                     # one trace per universe.exclude value, and a menu
    assert len(capped["layout"]["updatemenus"][0]["buttons"]) == 2
    assert "Sharpe ratio over the swept values" in html and "http" not in html.split("<script>")[0][:2000]
    info = json.loads((runs["one chunk"] / "manifest.json").read_text())["sweep"]
    assert f"in {info['chunks']} chunk{'' if info['chunks'] == 1 else 's'} of up to {info['chunk_size']}:" in html


def test_report_metric_option(config, snapshot_store, tmp_path):
    folder = run_sweep(config, store=snapshot_store, results_dir=tmp_path, offline=True,
                       metric="max_drawdown")
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "Max drawdown over the swept values" in html
    assert json.loads((folder / "manifest.json").read_text())["sweep"]["metric"] == "max_drawdown"


def test_cli_sweep_prints_the_report(config, snapshot_store, tmp_path, capsys):
    from backtest.cli import main

    code = main(["--data-dir", str(snapshot_store.root), "sweep", str(config), "--offline",
                 "--out", str(tmp_path), "--chunk-size", "5"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith("report: ") and out.strip().endswith("report.html")
    assert "10 variants" in err and "simulated 11 strategies" in err


@pytest.mark.parametrize("kwargs, message", [
    ({"workers": 2, "scheduler": "tcp://127.0.0.1:1"}, "give one, not both"),
    ({"chunk_size": 0}, "--chunk-size: must be at least 1"),
    ({"metric": "sharp"}, "unknown metric 'sharp'.*did you mean 'sharpe'"),
])
def test_usage_errors(config, snapshot_store, tmp_path, kwargs, message):
    with pytest.raises(UsageError, match=message):
        run_sweep(config, store=snapshot_store, results_dir=tmp_path, offline=True, **kwargs)
    assert not any(tmp_path.iterdir())


def test_config_without_a_sweep_block_is_a_usage_error(snapshot_store, tmp_path):
    with pytest.raises(UsageError, match=r"rotation.yaml: has no sweep: block.*fix: add one"):
        run_sweep(REPO / "configs" / "rotation.yaml", store=snapshot_store, results_dir=tmp_path,
                  offline=True)


def test_unreachable_scheduler_is_a_usage_error(config, snapshot_store, tmp_path):
    unreachable = r"--scheduler: cannot reach a Dask scheduler at 'tcp://127\.0\.0\.1:9'"
    with pytest.raises(UsageError, match=unreachable):
        run_sweep(config, store=snapshot_store, results_dir=tmp_path, offline=True,
                  scheduler="tcp://127.0.0.1:9")


def test_missing_dask_names_the_extra(config, snapshot_store, tmp_path):
    """Without `distributed` installed (simulated in a child process), --workers says how to install it."""
    code = textwrap.dedent(f"""
        import sys
        sys.modules["distributed"] = None        # as if the package were not installed
        from backtest.data.store import PriceStore
        from backtest.errors import UsageError
        from backtest.sweep import run_sweep
        try:
            run_sweep({str(config)!r}, store=PriceStore({str(snapshot_store.root)!r}),
                      results_dir={str(tmp_path)!r}, offline=True, workers=2)
        except UsageError as exc:
            print(exc)
        """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          check=False)
    expected = "needs Dask distributed, which is not installed; fix: pip install -e '.[dist]'"
    assert expected in done.stdout, done.stderr


def test_expand_variants_rejects_nothing_and_keeps_order(config):
    swept, variants, grids = expand_variants(load_config(config))
    assert [v.name for v in variants] == [s.name for s in swept.strategies]
    assert grids["Capped"] == [("caps.single", ["0.03", "0.1"]), ("caps.groups.mag7", ["0.2", "0.3"]),
                               ("universe.exclude", ["[]", "[mag7]"])]
    assert grids["Equal"] == [("universe.exclude", ["[]", "[mag7]"])]


def test_variants_sharing_weights_match_their_own_runs(snapshot_store, tmp_path):
    """Variants that differ only in costs share their weights (computed once); each equals its own run."""
    from backtest.runner import run_config

    base = textwrap.dedent("""\
        name: costs
        start: 2019-01-01
        end: 2020-12-31
        rebalance: monthly
        strategies:
          - name: Core
            weighting: fixed
            weights: {SPY: 0.6, IWN: 0.4}
            costs: {commission_bps: COMMISSION, slippage_bps: 2}
        """)
    swept = tmp_path / "sweep.yaml"
    swept.write_text(base.replace("COMMISSION", "0") + "sweep: {grid: {costs.commission_bps: [0, 10]}}\n")
    folder = load_run(run_sweep(swept, store=snapshot_store, results_dir=tmp_path / "s", offline=True))
    for bps in (0, 10):
        single = tmp_path / f"single{bps}.yaml"
        single.write_text(base.replace("COMMISSION", str(bps)))
        out = run_config(single, store=snapshot_store, results_dir=tmp_path / f"r{bps}", offline=True)
        run = load_run(out)
        mine = folder.metrics["strategies"][f"Core [costs.commission_bps={bps}]"]
        assert json.dumps(mine) == json.dumps(run.metrics["strategies"]["Core"])
        assert mine["slippage_paid"] > 0 and (mine["fees_paid"] > 0) == (bps > 0)


@pytest.mark.browser
def test_sweep_report_draws_and_sorts_in_chromium(runs, tmp_path):
    """Debian's chromium loads the sweep report: every figure drawn, no script error, and a click on a
    column heading sorts the table (numbers by value, the empty cells of the benchmark row last)."""
    probe = textwrap.dedent("""
        <script>
        var h = document.documentElement;
        window.addEventListener('error', function (e) {
          h.setAttribute('data-js-errors', (h.getAttribute('data-js-errors') || '') + e.message + '|'); });
        window.addEventListener('load', function () {
          var t = document.getElementById('variants-table');
          var th = t.tHead.rows[0].cells, r = t.tBodies[0].rows;
          var col = -1;
          for (var i = 0; i < th.length; i++) { if (th[i].textContent.indexOf('Sharpe') === 0) { col = i; } }
          th[col].click();
          var up = [r[0].cells[col].getAttribute('data-v'),
                    r[r.length - 1].cells[col].getAttribute('data-v')];
          th[1].click(); th[1].click();
          h.setAttribute('data-sorted', up.join('|') + '#' + r[0].cells[1].textContent + '#'
                         + r[r.length - 1].cells[1].textContent + '#' + th[1].getAttribute('aria-sort'));
        });
        </script>
        """)
    page = tmp_path / "report.html"
    page.write_text((runs["one chunk"] / "report.html").read_text(encoding="utf-8")
                    .replace("<body>", "<body>" + probe, 1), encoding="utf-8")
    dom = dump_dom(page, tmp_path / "profile")
    head = dom[:dom.index(">", dom.index("<html")) + 1]
    assert "data-js-errors" not in head, head
    assert dom.count('class="plot-container plotly"') == 3          # two heatmaps and the growth chart
    sharpe = sorted(json.loads((runs["one chunk"] / "metrics.json").read_text().replace("NaN", "null"))
                    ["strategies"].values(), key=lambda m: m["sharpe"])
    low, high = re.search(r'data-sorted="([^"|]*)\|([^"#]*)#', head).groups()
    assert float(low) <= sharpe[0]["sharpe"] + 1e-12
    assert float(high) >= sharpe[-1]["sharpe"] - 1e-12
    first, last, order = re.search(r'data-sorted="[^#]*#([^#]*)#([^#]*)#([a-z]*)"', head).groups()
    assert (first, last, order) == ("0.1", "", "descending")      # caps.single, descending; empty cells last


WORKER_CHECK = textwrap.dedent("""\
    import json, multiprocessing, os, sys
    from pathlib import Path

    from backtest import forked
    from backtest import sweep as S
    from backtest.analytics import evidence
    from backtest.data.store import PriceStore

    config, store, out = sys.argv[1], PriceStore(sys.argv[2]), Path(sys.argv[3])
    parent, real = os.getpid(), evidence.run_sweep_evidence
    used, failures = [], []
    spy_of = S._sweep_evidence
    S._sweep_evidence = lambda worker, *a, **k: (used.append(worker is not None), spy_of(worker, *a, **k))[1]
    result_of = forked.ForkedWorker.result

    def recording(self):
        try:
            return result_of(self)
        except forked.WorkerFailed as exc:
            failures.append(exc.remote)
            raise

    forked.ForkedWorker.result = recording

    def fails_in_the_worker(*args, **kwargs):
        if os.getpid() != parent:
            raise RuntimeError("evidence failed in the worker")
        return real(*args, **kwargs)

    a = S.run_sweep(config, store=store, results_dir=out / "worker", offline=True)
    evidence.run_sweep_evidence = fails_in_the_worker      # the worker is forked after this: it has it too
    b = S.run_sweep(config, store=store, results_dir=out / "failed", offline=True)
    evidence.run_sweep_evidence = real
    d = S.run_sweep(config, store=store, results_dir=out / "dask", offline=True, workers=2)   # forked first
    forked.can_fork = lambda: False
    c = S.run_sweep(config, store=store, results_dir=out / "here", offline=True)
    left = [p.name for p in multiprocessing.active_children() if p.name == "bt-worker"]
    print(json.dumps({"used": used, "failures": failures, "left": left,
                      "metrics": [(f / "metrics.json").read_text() for f in (a, b, d, c)]}))
    """)


def test_the_sweep_evidence_on_its_worker_is_the_evidence_computed_here(config, snapshot_store, tmp_path):
    """The sweep's evidence is computed by a forked worker while the folder's CSV files are written; it is
    byte for byte what this process computes (no worker where forking is unsafe), and a worker whose call
    fails (it raises there) has it computed here instead; a sweep on a local Dask cluster forks its worker
    before starting the cluster. No worker process outlives the sweep. In a fresh process: this one has other
    tests' threads (Dask's), where no worker is forked."""
    done = subprocess.run([sys.executable, "-c", WORKER_CHECK, str(config), str(snapshot_store.root),
                           str(tmp_path)], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["used"] == [True, True, True, False]
    assert len(seen["failures"]) == 1 and "evidence failed in the worker" in seen["failures"][0]
    a, b, d, c = seen["metrics"]
    assert '"evidence"' in c and '"pbo"' in c and a == b == d == c
    assert seen["left"] == []


def test_a_variant_whose_short_outgrows_the_account_warns_as_its_own_run(snapshot_store, tmp_path):
    """A long/short variant whose value falls below zero (short TSLA from mid-2019) has in the sweep the
    warning and the metrics (NaN but the dates) its own `bt run` has."""
    from backtest.runner import run_config

    base = textwrap.dedent("""\
        name: outgrown
        start: 2019-06-01
        end: 2021-12-31
        benchmark: SPY
        strategies:
          - {name: longleg, weighting: fixed, weights: {TLT: 1}}
          - {name: shortleg, weighting: fixed, weights: {TSLA: 1}}
          - {name: LS, weighting: sleeves, sleeves: {longleg: 1, shortleg: -1}, rebalance: never,
             borrow_fee: FEE}
        """)
    swept = tmp_path / "sweep.yaml"
    grid = "sweep: {strategy: LS, grid: {borrow_fee: [0.01, 0.02]}}\n"
    swept.write_text(base.replace("FEE", "0.01") + grid)
    folder = load_run(run_sweep(swept, store=snapshot_store, results_dir=tmp_path / "s", offline=True))
    single = tmp_path / "single.yaml"
    single.write_text(base.replace("FEE", "0.02"))
    run = load_run(run_config(single, store=snapshot_store, results_dir=tmp_path / "r", offline=True))
    mine = folder.metrics["strategies"]["LS [borrow_fee=0.02]"]
    assert json.dumps(mine) == json.dumps(run.metrics["strategies"]["LS"])
    assert [k for k, v in mine.items() if v == v and v is not None] == ["start", "end", "years"]
    own = [w for w in run.manifest["warnings"] if "fell to zero or below" in w]
    assert len(own) == 1 and own[0].startswith("LS: ")
    assert "LS [borrow_fee=0.02]" + own[0][len("LS"):] in folder.manifest["warnings"]
