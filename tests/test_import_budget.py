"""What a `bt run` imports: heavy packages only when a feature of the run needs them (issue 13, the warm run).

A run in a fresh interpreter (imports are per process), on the session's snapshot store; the modules left in
`sys.modules` afterwards are what the run imported. Each forbidden module below once cost the warm run
0.1-1.3 s: vectorbt's complete package (the kernels are loaded alone: `backtest.engine.kernel`), its
`_settings` (every plotting theme), plotly's `FigureWidget` with ipywidgets and IPython, `statsmodels.api`
(everything statsmodels has, where the factor regressions need `regression.linear_model`), scipy.stats and
statsmodels when no evidence is asked for, and the optimisers and Dask that other features use. With `bt run`'s
evidence worker (a forked process, `backtest.runner.evidence_worker`) statsmodels is imported there, not in
the run's process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ALWAYS_ABSENT = ("vectorbt", "ipywidgets", "IPython", "plotly.express", "statsmodels.api", "sklearn", "cvxpy",
                 "distributed", "dask", "matplotlib", "yfinance")
WITHOUT_EVIDENCE = ("statsmodels", "scipy.stats")

CONFIG = """\
name: budget
start: 2022-01-01
end: 2023-12-31
benchmark: SPY
strategies:
  - name: SPY 60 + AGG 40
    weighting: fixed
    weights: {{SPY: 0.6, AGG: 0.4}}
evidence: {evidence}
"""

CHILD = textwrap.dedent("""
    import json, multiprocessing, os, sys
    from backtest.data.store import PriceStore
    from backtest.runner import run_config

    folder = run_config(sys.argv[1], store=PriceStore(sys.argv[2]), results_dir=sys.argv[3], offline=True,
                        fork_evidence=sys.argv[4] == "fork")
    children = [e for e in os.listdir("/proc") if e.isdigit() and os.path.exists(f"/proc/{e}/stat")
                and open(f"/proc/{e}/stat").read().rsplit(")", 1)[1].split()[1] == str(os.getpid())]
    print(json.dumps({"folder": str(folder), "modules": sorted(sys.modules),
                      "children": children + [p.name for p in multiprocessing.active_children()]}))
    """)


def _imported(config: Path, store_root: Path, out: Path, fork: bool = True) -> tuple[Path, set[str]]:
    """Run ``config`` in a fresh interpreter (``fork``: the evidence on `bt run`'s forked worker, as `bt run`
    does; else in the process, as a notebook's call): the run folder and the modules the process imported."""
    done = subprocess.run([sys.executable, "-c", CHILD, str(config), str(store_root), str(out),
                           "fork" if fork else "here"], capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["children"] == []                               # no process left behind by the run
    return Path(report["folder"]), set(report["modules"])


def _present(modules: set[str], names) -> list[str]:
    return sorted(n for n in names if any(m == n or m.startswith(n + ".") for m in modules))


def test_a_run_without_evidence_imports_no_statistics_package(snapshot_store, tmp_path):
    config = tmp_path / "budget.yaml"
    config.write_text(CONFIG.format(evidence="false"))
    folder, modules = _imported(config, snapshot_store.root, tmp_path / "results")
    assert (folder / "report.html").is_file()                    # the run happened, report included
    assert "backtest.engine.kernel" in modules and "plotly" in modules
    assert _present(modules, ALWAYS_ABSENT + WITHOUT_EVIDENCE) == []


def test_a_run_with_factor_regressions_imports_only_statsmodels_ols(snapshot_store, tmp_path):
    config = tmp_path / "budget.yaml"
    config.write_text(CONFIG.format(evidence="{}"))
    folder, modules = _imported(config, snapshot_store.root, tmp_path / "results", fork=False)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["evidence"]["strategies"]["SPY 60 + AGG 40"]["factors"]   # the regressions ran
    assert "statsmodels.regression.linear_model" in modules
    assert _present(modules, ALWAYS_ABSENT) == []


def test_with_the_evidence_worker_the_run_itself_imports_no_statistics_package(snapshot_store, tmp_path):
    """`bt run`'s way: statsmodels and scipy.stats are imported by the forked worker, which computes the
    evidence (a fresh interpreter has no other thread, so the worker is used), never by the run's process."""
    config = tmp_path / "budget.yaml"
    config.write_text(CONFIG.format(evidence="{}"))
    folder, modules = _imported(config, snapshot_store.root, tmp_path / "results", fork=True)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["evidence"]["strategies"]["SPY 60 + AGG 40"]["factors"]   # the regressions ran (there)
    assert _present(modules, ALWAYS_ABSENT + WITHOUT_EVIDENCE) == []
