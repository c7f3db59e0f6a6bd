"""Writing a run folder atomically (`write_run`): built as ``.<name>.tmp-<pid>`` beside the target, the CSV
and JSON files, then report.html (rendered from the folder read back), fsynced, renamed into place. On any
error the temporary folder is removed and nothing else remains. Also the results folder's own checks
(`check_results_dir`, `sweep_stale_temporaries`) and the manifest's package versions."""

from __future__ import annotations

import errno
import json
import math
import os
import platform
import shutil
from collections.abc import Callable, Mapping
from datetime import date, datetime
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from .. import metrics as M
from ..csvtext import csv_text
from ..errors import UsageError
from .model import (
    BENCHMARK_SLUG,
    DETAIL_KEY,
    FORMAT_VERSION,
    RUN_ENTRIES,
    TRADE_COLUMNS,
    RunResult,
    SavedRun,
    compute_run_metrics,
    has_detail_files,
    month_end_sample,
    run_capital,
    safe_folder_name,
    slugify,
)
from .read import _load

# --- writing --------------------------------------------------------------------------------------------

_DATE_FMT = "%Y-%m-%d"      # dates in every CSV file and in the layout's start and end


def _dated(frame: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    """A copy of ``frame`` indexed by a DatetimeIndex named ``date`` (the first column of a dated CSV)."""
    out = frame.copy()
    out.index = pd.DatetimeIndex(out.index, name="date")
    return out


def _jsonable(value):
    """Plain JSON values: NaN/inf -> None, numpy -> Python, dates -> ISO strings, tuples -> lists."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, pd.Timestamp | datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    return str(value)


def _json_bytes(obj) -> bytes:
    return (json.dumps(_jsonable(obj), indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


STREAMED_CELLS = 2_000_000    # larger frames are written in row blocks (bounded memory), not as one text


def _write_csv(path: Path, frame: pd.DataFrame, *, index: bool = True) -> None:
    """Write ``frame.to_csv(...)``'s text to ``path`` through `csvtext.csv_text` (faster, the same text):
    frames up to `STREAMED_CELLS` cells as one text; larger ones (a sweep's value matrix: 10,000 variants x
    2,600 days) in blocks of rows of about a quarter of that, the header once, so the text of the whole frame
    is never held in memory. A frame `csv_text` declines is written by pandas (chunked, for large ones)."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        if not _write_blocks(fh, frame, index=index):
            fh.seek(0)
            fh.truncate()
            frame.to_csv(fh, index=index, lineterminator="\n", date_format=_DATE_FMT)
        fh.flush()
        os.fsync(fh.fileno())


def _write_blocks(fh, frame: pd.DataFrame, *, index: bool) -> bool:
    """``frame``'s CSV text written to ``fh``: one block up to `STREAMED_CELLS` cells, else blocks of rows
    (`csv_text` of each, the first with the header; an empty frame is one block, its header); False as soon
    as a block is not a simple case (the caller then starts the file again)."""
    small = frame.size <= STREAMED_CELLS
    rows = max(1, len(frame) if small else STREAMED_CELLS // 4 // max(1, frame.shape[1]))
    for start in range(0, max(1, len(frame)), rows):
        text = csv_text(frame.iloc[start:start + rows], index=index, date_format=_DATE_FMT, header=start == 0)
        if text is None:
            return False
        fh.write(text)
    return True


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check(result: RunResult, detail: bool = True) -> None:
    names = [s.name for s in result.strategies]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"RunResult.strategies: duplicate strategy names {dupes}; names must be unique")
    for s in result.strategies:
        if not s.equity.index.equals(result.benchmark.index):
            raise ValueError(f"strategy {s.name!r}: equity dates differ from the benchmark's; the runner "
                             "must hand over every series on the same trading dates")
        if not detail and (s.targets.size or len(s.targets.columns) or s.holdings.size
                           or len(s.holdings.columns) or len(s.trades)):
            raise ValueError(f"strategy {s.name!r}: has targets, holdings or trades, which a folder written "
                             "with detail=False would not keep")


def _layout(result: RunResult, created: str, folder: str, detail: bool = True) -> dict:
    taken: set[str] = set()
    strategies = []
    for s in result.strategies:
        slug = slugify(s.name, taken)
        taken.add(slug)
        strategies.append({"slug": slug, "name": s.name, "notes": list(s.notes)})
    akeys: set[str] = set()
    analytics = []
    for key, table in result.analytics.items():
        slug = slugify(key, akeys)
        akeys.add(slug)
        analytics.append({"slug": slug, "key": str(key), "index_name": table.index.name,
                          "date_index": isinstance(table.index, pd.DatetimeIndex)})
    idx = result.benchmark.index
    bslugs = []
    for name in result.benchmarks:
        slug = slugify(f"benchmark {name}", taken)
        taken.add(slug)
        bslugs.append({"slug": slug, "name": name})
    return {
        "format_version": FORMAT_VERSION,
        "name": result.name,
        "folder": folder,
        "created": created,
        "start": idx[0].strftime(_DATE_FMT) if len(idx) else None,
        "end": idx[-1].strftime(_DATE_FMT) if len(idx) else None,
        "benchmark": {"slug": BENCHMARK_SLUG, "name": result.benchmark_name},
        "benchmarks": bslugs,
        "risk_free": result.risk_free is not None,
        "strategies": strategies,
        "analytics": analytics,
        **({} if detail else {DETAIL_KEY: False}),
    }


def _write_contents(result: RunResult, root: Path, layout: dict, helper=None,
                    late_metrics: Callable[[], dict] | None = None) -> None:
    """Every file of the run folder but report.html. ``helper``, ``late_metrics``: see `write_run`."""
    jobs = _CsvFiles(helper)
    slugs = [s["slug"] for s in layout["strategies"]]
    extra = [b["slug"] for b in layout.get("benchmarks", [])]
    equity = pd.concat([s.equity.astype(float) for s in result.strategies] + [result.benchmark.astype(float)]
                       + [v.astype(float) for v in result.benchmarks.values()],
                       axis=1, keys=[*slugs, BENCHMARK_SLUG, *extra])
    equity = _dated(equity)
    jobs.append((root / "equity.csv", equity, True))
    capital = run_capital(result.config)
    jobs.append((root / "returns.csv", M.simple_returns(equity, initial=capital), True))   # every column at once
    fees = _dated(pd.concat([s.fees.astype(float) for s in result.strategies], axis=1, keys=slugs)
                  if slugs else pd.DataFrame(index=equity.index))
    jobs.append((root / "fees.csv", fees, True))
    detail = has_detail_files(layout)       # a sweep's folder has none (`write_run`)
    if detail and slugs and all(s.slippage is not None for s in result.strategies):
        slippage = _dated(pd.concat([s.slippage.astype(float) for s in result.strategies], axis=1, keys=slugs))
        jobs.append((root / "slippage.csv", slippage, True))
    turnover = (pd.concat([s.turnover.astype(float) for s in result.strategies], axis=1, keys=slugs, sort=True)
                if slugs else pd.DataFrame(index=pd.DatetimeIndex([])))
    jobs.append((root / "turnover.csv", _dated(turnover.sort_index()), True))
    if result.risk_free is not None:
        jobs.append((root / "risk_free.csv", _dated(result.risk_free.astype(float).rename("risk_free")).to_frame(),
                     True))
    for sub in ("weights", "holdings", "trades") if detail else ():
        (root / sub).mkdir()
    for slug, s in zip(slugs, result.strategies, strict=True) if detail else ():
        jobs.append((root / "weights" / f"{slug}.csv", _dated(s.targets), True))
        jobs.append((root / "holdings" / f"{slug}.csv", _dated(month_end_sample(s.holdings)), True))
        trades = s.trades if len(s.trades.columns) else pd.DataFrame(columns=list(TRADE_COLUMNS))
        jobs.append((root / "trades" / f"{slug}.csv", trades, False))
    if layout["analytics"]:
        (root / "analytics").mkdir()
    for entry, table in zip(layout["analytics"], result.analytics.values(), strict=True):
        table = table.to_frame() if isinstance(table, pd.Series) else table
        jobs.append((root / "analytics" / f"{entry['slug']}.csv", table, True))
    jobs.finish()
    metrics = result.metrics if result.metrics is not None else compute_run_metrics(result)
    if late_metrics is not None:        # after the CSV files: computed meanwhile elsewhere (a sweep's evidence)
        metrics = {**metrics, **late_metrics()}
    _write(root / "metrics.json", _json_bytes(metrics))
    config_text = yaml.safe_dump(_jsonable(result.config), sort_keys=False, allow_unicode=True)
    _write(root / "config.yaml", config_text.encode("utf-8"))
    _write(root / "manifest.json", _json_bytes({**result.manifest, "run_folder": layout}))


class _CsvFiles:
    """The run folder's CSV files. Without a helper each is written when added (one frame's text at a time,
    as a sweep's large frames need). With a ``helper`` (a started `backtest.forked.ForkedWorker`) they are
    collected and `finish` has about half of the cells written by it, in its process, while this process
    writes the rest (the text is float formatting: CPU-bound); if the helper fails, its files are written
    here (an error, a full disk say, is then raised here as without it). The same function writes each
    file either way, so the bytes are the same."""

    def __init__(self, helper=None):
        self.helper = helper
        self.jobs: list[tuple[Path, pd.DataFrame, bool]] = []

    def append(self, job: tuple[Path, pd.DataFrame, bool]) -> None:
        if self.helper is None:
            _write_csv_jobs([job])
        else:
            self.jobs.append(job)

    def finish(self) -> None:
        if not self.jobs:
            return
        from ..forked import WorkerFailed

        mine: list = []
        theirs: list = []
        load = [0, 0]
        for job in sorted(self.jobs, key=lambda j: -j[1].size):   # the largest first, each to the lighter side
            side = 0 if load[0] <= load[1] else 1
            (mine if side == 0 else theirs).append(job)
            load[side] += job[1].size
        self.helper.submit(_write_csv_jobs, theirs)
        _write_csv_jobs(mine)
        try:
            self.helper.result()
        except WorkerFailed:
            _write_csv_jobs(theirs)
        self.jobs = []


def _write_csv_jobs(jobs) -> None:
    for path, frame, index in jobs:
        _write_csv(path, frame, index=index)


def write_run(result: RunResult, results_dir: Path, *, folder_name: str | None = None,
              renderer: Callable[[SavedRun], str], helper=None,
              on_written: Callable[[Path], None] | None = None, detail: bool = True,
              late_metrics: Callable[[], dict] | None = None) -> Path:
    """Write ``result`` as a complete run folder inside ``results_dir`` and return its path.

    The folder is ``<name>-<YYYYmmdd-HHMMSS>`` (``folder_name`` replaces the whole name when given), made
    path-safe, with ``-2``, ``-3``... added if it exists. It is built as ``.<name>.tmp-<pid>`` beside the
    target, ``report.html`` last (``renderer`` on the folder read back: the caller passes
    `backtest.report.render_report`, so this module never imports the report), fsynced, then renamed. On any error the temporary folder is removed and nothing else remains.
    ``helper``: a started `backtest.forked.ForkedWorker` that writes about half of the CSV files
    (`_CsvFiles`); on any error it is closed (killed) before the temporary folder is removed.
    ``on_written``: called with the temporary folder once every file but report.html is in it, before it
    is read back for ``renderer`` (`bt run` starts rendering part of the report on its helper there).
    ``detail`` False (a sweep, whose strategies hold no targets, holdings or trades): no weights/, holdings/
    and trades/ folders (not an empty file per strategy in each); the layout says so (``detail_files``) and
    `load_run` gives the empty frames those files held. Raises ValueError if a strategy has any.
    ``late_metrics``: entries added to metrics.json, asked for once the CSV files are written (`bt sweep`'s
    evidence, computed by its worker process meanwhile); an error it raises leaves nothing behind.
    """
    _check(result, detail)
    results_dir = Path(results_dir)
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"results folder {results_dir}: cannot create it ({exc.strerror}); "
                         "fix: choose a writable folder with --out") from exc
    now = datetime.now().astimezone()
    base = safe_folder_name(folder_name) if folder_name else (
        f"{safe_folder_name(result.name)}-{now:%Y%m%d-%H%M%S}")
    temp = results_dir / f".{base}.tmp-{os.getpid()}"
    try:
        if temp.exists():
            shutil.rmtree(temp)
        temp.mkdir()
        layout = _layout(result, now.isoformat(timespec="seconds"), base, detail)
        _write_contents(result, temp, layout, helper, late_metrics)
        if on_written is not None:
            on_written(temp)
        html = renderer(_load(temp, require_report=False))
        _write(temp / "report.html", html.encode("utf-8"))
        for sub in ("weights", "holdings", "trades", "analytics", "."):
            if (temp / sub).is_dir():
                _fsync_dir(temp / sub)
        final = _rename_into_place(temp, results_dir, base)
        _fsync_dir(results_dir)
    except OSError as exc:  # a full disk, a folder made read-only meanwhile: a user error, nothing left
        _stop(helper)
        shutil.rmtree(temp, ignore_errors=True)
        why = {errno.ENOSPC: "the disk is full", errno.EROFS: "the file system is read-only",
               errno.EACCES: "permission denied", errno.EDQUOT: "the disk quota is exceeded"}.get(
            exc.errno, exc.strerror or type(exc).__name__)
        raise UsageError(f"results folder {results_dir}: cannot write the run ({why}: {exc.filename or temp}); "
                         "nothing was written; fix: free space or choose a writable folder with --out") from exc
    except BaseException:
        _stop(helper)
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return final


def _stop(helper) -> None:
    """Close ``helper`` (if any) before its files are removed: a child still writing into the temporary
    folder would leave files behind."""
    if helper is not None:
        helper.close()


def sweep_stale_temporaries(results_dir: Path | str) -> list[Path]:
    """Remove the temporary run folders and comparison pages of processes killed outright (see
    `backtest.tempfiles.sweep_dead_temporaries`); returns what was removed."""
    from ..tempfiles import sweep_dead_temporaries

    return sweep_dead_temporaries(results_dir, RUN_ENTRIES)


def _rename_into_place(temp: Path, results_dir: Path, base: str) -> Path:
    for n in range(1, 1000):
        final = results_dir / (base if n == 1 else f"{base}-{n}")
        if final.resolve().parent != results_dir.resolve():  # defence in depth: base is one safe component
            raise ValueError(f"run folder {final} would leave {results_dir}")
        if final.exists():
            continue
        try:
            os.rename(temp, final)
        except OSError as exc:  # created by a concurrent writer since the check
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                continue
            raise
        return final
    raise UsageError(f"results folder {results_dir}: too many runs named {base!r}; fix: pick another name")


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("bt-rotation-backtester", "vectorbt", "numba", "pandas", "numpy", "pyarrow", "yfinance",
                 "plotly", "index-constitution", "PyYAML", "click"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def check_results_dir(path: Path) -> Path:
    if path.exists() and not path.is_dir():
        what = "a file" if path.is_file() else "not a folder"
        raise UsageError(f"--out: {path} is {what}, expected a folder; fix: pass a folder path")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{np.random.randint(1 << 30)}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"--out: cannot write to {path} ({exc.strerror}); fix: choose a writable folder")
    return path
