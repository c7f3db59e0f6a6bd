"""The run folder: what a run hands over (`RunResult`), writing it atomically, reading it back (`SavedRun`).

Layout (documented for pandas users in docs/report.md)::

    <name>-<YYYYmmdd-HHMMSS>/
      report.html  metrics.json  equity.csv  returns.csv  fees.csv  [slippage.csv]  turnover.csv  [risk_free.csv]
      weights/<slug>.csv  holdings/<slug>.csv  trades/<slug>.csv  [analytics/<slug>.csv]
      config.yaml  manifest.json

CSV columns and file names use slugs (ascii, unique, never a path); ``manifest.json["run_folder"]`` maps
each slug to its strategy name. The folder is built as ``.<name>.tmp-<pid>`` beside the target and renamed
into place only when complete, so a folder with a final name is always a complete run.

The package (the public names are re-exported here; import them from ``backtest.results``):

    model.py   RunResult, StrategyResult, SavedRun, SavedRunSummary, the folder's constants and names,
               the metrics written to metrics.json (pure: no files)
    write.py   write_run (atomic), check_results_dir, sweep_stale_temporaries, package_versions
    read.py    load_run -> SavedRun, summarize_run, list_runs

`write` imports `read` (report.html is rendered from the folder read back); neither imports the report:
`runner.save_run` passes `report.render_report` to `write_run`.
"""

from __future__ import annotations

from .model import (
    BENCHMARK_SLUG,
    FORMAT_VERSION,
    HEADLINE,
    REQUIRED_FILES,
    RUN_ENTRIES,
    TRADE_COLUMNS,
    RunResult,
    SavedRun,
    SavedRunSummary,
    StrategyResult,
    compute_run_metrics,
    month_end_sample,
    rebalance_fills,
    relative_metrics,
    run_capital,
    safe_folder_name,
    slugify,
)
from .read import list_runs, load_run, summarize_run
from .write import (
    check_results_dir,
    package_versions,
    sweep_stale_temporaries,
    write_run,
)

__all__ = [
    "BENCHMARK_SLUG", "FORMAT_VERSION", "HEADLINE", "REQUIRED_FILES", "RUN_ENTRIES", "TRADE_COLUMNS",
    "RunResult", "SavedRun", "SavedRunSummary", "StrategyResult", "check_results_dir", "compute_run_metrics",
    "list_runs", "load_run", "month_end_sample", "package_versions", "rebalance_fills", "relative_metrics",
    "run_capital", "safe_folder_name", "slugify", "summarize_run", "sweep_stale_temporaries", "write_run",
]
