"""The run folder: what a run hands over (`RunResult`), writing it atomically, reading it back (`SavedRun`).

Layout (documented for pandas users in docs/report.md)::

    <name>-<YYYYmmdd-HHMMSS>/
      report.html  metrics.json  equity.csv  returns.csv  fees.csv  turnover.csv  [risk_free.csv]
      weights/<slug>.csv  holdings/<slug>.csv  trades/<slug>.csv  [analytics/<slug>.csv]
      config.yaml  manifest.json

CSV columns and file names use slugs (ascii, unique, never a path); ``manifest.json["run_folder"]`` maps
each slug to its strategy name. The folder is built as ``.<name>.tmp-<pid>`` beside the target and renamed
into place only when complete, so a folder with a final name is always a complete run.
"""

from __future__ import annotations

import errno
import json
import math
import os
import platform
import re
import shutil
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from . import metrics as M
from .csvtext import csv_text
from .errors import DataError, UsageError

FORMAT_VERSION = 1
BENCHMARK_SLUG = "benchmark"
HEADLINE = ("total_return", "cagr", "volatility", "sharpe", "max_drawdown")
REQUIRED_FILES = ("manifest.json", "metrics.json", "equity.csv", "returns.csv", "fees.csv", "turnover.csv",
                  "config.yaml", "report.html")
TRADE_COLUMNS = ("date", "ticker", "side", "shares", "price", "value", "fees")
_WINDOWS_DEVICES = {"con", "prn", "aux", "nul", *(f"{d}{i}" for d in ("com", "lpt") for i in range(1, 10))}
_RESERVED = {BENCHMARK_SLUG, "date", "risk-free", *_WINDOWS_DEVICES}   # slugs never used as file names
_DATE_FMT = "%Y-%m-%d"


@dataclass(frozen=True)
class StrategyResult:
    """One strategy's simulation, as the runner hands it over. Frames are indexed by trading date."""

    name: str
    equity: pd.Series  # daily portfolio value, DatetimeIndex 'date'
    targets: pd.DataFrame  # rebalance decision dates x tickers, target weights (rows sum to 1)
    holdings: pd.DataFrame  # trading dates x tickers, end-of-day weights held (cash excluded)
    trades: pd.DataFrame  # columns: date, ticker, side ('buy'|'sell'), shares, price, value, fees
    fees: pd.Series  # daily fees paid (currency)
    turnover: pd.Series  # per rebalance date, one-sided turnover as a fraction of portfolio value
    notes: tuple[str, ...] = ()  # warnings for this strategy


@dataclass(frozen=True)
class RunResult:
    """A whole run: every strategy, the buy-and-hold benchmark on the same dates, config and manifest."""

    name: str
    config: dict  # the resolved config (YAML-safe dict)
    strategies: tuple[StrategyResult, ...]
    benchmark_name: str  # e.g. "SPY"
    benchmark: pd.Series  # daily buy-and-hold benchmark value on the same dates, same capital
    risk_free: pd.Series | None  # daily simple risk-free returns on the same dates, or None (= 0)
    manifest: dict  # versions, data ranges and sources, warnings list, timings
    analytics: dict[str, pd.DataFrame] = field(default_factory=dict)  # saved as analytics/<slug>.csv
    metrics: dict | None = None  # metrics.json content if already computed (sweeps: on the workers), else None
    benchmarks: dict[str, pd.Series] = field(default_factory=dict)  # further benchmarks: name -> daily value


@dataclass(frozen=True)
class SavedRun:
    """A run folder read back. Mirrors `RunResult`; ``holdings`` are the saved month-end sample.

    ``metrics`` is metrics.json: ``{"strategies": {name: {metric: value}}, "benchmark": {...}}`` with NaN
    for JSON null. ``slugs`` maps each strategy name to its file slug.
    """

    path: Path
    name: str
    config: dict
    strategies: tuple[StrategyResult, ...]
    benchmark_name: str
    benchmark: pd.Series
    risk_free: pd.Series | None
    manifest: dict
    analytics: dict[str, pd.DataFrame]
    metrics: dict
    slugs: dict[str, str]
    benchmarks: dict[str, pd.Series] = field(default_factory=dict)  # further benchmarks: name -> daily value

    @property
    def created(self) -> str:
        """When the run was written (ISO 8601 with offset)."""
        return str(self.manifest.get("run_folder", {}).get("created", ""))

    @property
    def folder(self) -> str:
        """The run folder's name (its final name, also while the folder is still being written)."""
        return str(self.manifest.get("run_folder", {}).get("folder", self.path.name))


@dataclass(frozen=True)
class SavedRunSummary:
    """One line of `bt list`. ``problem`` is set (and the rest may be empty) for an incomplete folder."""

    path: Path
    name: str
    created: str
    start: str
    end: str
    strategies: tuple[str, ...]
    benchmark_name: str
    headline: dict[str, dict[str, float]]  # strategy name -> HEADLINE metrics
    benchmark_headline: dict[str, float]
    problem: str | None = None


# --- names -----------------------------------------------------------------------------------------------


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode("ascii")


def safe_folder_name(text: str, *, default: str = "run") -> str:
    """One path component from any text: ascii letters, digits, ``.``, ``_``, ``-``; no leading dot."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", _ascii(text)).strip(".-_")[:80].strip(".-_")
    if name.split(".")[0].lower() in _WINDOWS_DEVICES:  # CON, COM1.x, ... cannot be folders on Windows
        name = f"{default}-{name}"
    return name or default


def slugify(text: str, taken: set[str] | frozenset[str] = frozenset()) -> str:
    """Lower-case ascii slug, unique against ``taken`` (adds ``-2``, ``-3``...) and the reserved names."""
    base = re.sub(r"[^a-z0-9]+", "-", _ascii(text).lower()).strip("-")[:60].strip("-") or "strategy"
    slug, n = base, 1
    while slug in taken or slug in _RESERVED:
        n += 1
        slug = f"{base}-{n}"
    return slug


# --- writing --------------------------------------------------------------------------------------------


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


STREAMED_CELLS = 2_000_000    # larger frames are written by pandas in chunks (bounded memory), not as one text


def _write_csv(path: Path, frame: pd.DataFrame | pd.Series, *, index: bool = True) -> None:
    """Write ``frame.to_csv(...)``'s text to ``path``: through `csvtext.csv_text` (faster, the same text)
    for frames up to `STREAMED_CELLS` cells; larger ones (a sweep's value matrix: 10,000 variants x 2,600 days)
    streamed by pandas' chunked writer, so the text of the whole frame is never held in memory."""
    text = csv_text(frame, index=index, date_format=_DATE_FMT) if frame.size <= STREAMED_CELLS else None
    if text is not None:
        return _write(path, text.encode("utf-8"))
    with open(path, "w", encoding="utf-8", newline="") as fh:
        frame.to_csv(fh, index=index, lineterminator="\n", date_format=_DATE_FMT)
        fh.flush()
        os.fsync(fh.fileno())


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


def _dated(frame: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    out = frame.copy()
    out.index = pd.DatetimeIndex(out.index, name="date")
    return out


def month_end_sample(holdings: pd.DataFrame) -> pd.DataFrame:
    """The last row of each calendar month (so the final date is always kept)."""
    if len(holdings.index) == 0:
        return holdings
    return holdings.groupby(holdings.index.to_period("M")).tail(1)


def _check(result: RunResult) -> None:
    names = [s.name for s in result.strategies]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"RunResult.strategies: duplicate strategy names {dupes}; names must be unique")
    for s in result.strategies:
        if not s.equity.index.equals(result.benchmark.index):
            raise ValueError(f"strategy {s.name!r}: equity dates differ from the benchmark's; the runner "
                             "must hand over every series on the same trading dates")


def _layout(result: RunResult, created: str, folder: str) -> dict:
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
    }


def run_capital(config: Mapping) -> float | None:
    """The capital a run started with (its returns are measured from it), None if the config lacks it."""
    value = config.get("capital") if isinstance(config, Mapping) else None
    return float(value) if isinstance(value, int | float) and value > 0 else None


def compute_run_metrics(result: RunResult) -> dict:
    """metrics.json: ``{"strategies": {name: metrics}, "benchmark": metrics, "benchmarks": {name: metrics},
    "relative": {strategy: {benchmark: relative metrics}}}``. Strategy and benchmark metrics are measured
    against the primary benchmark; "benchmarks" holds every benchmark (the primary first) and "relative" the
    benchmark-relative metrics of each strategy against each benchmark."""
    from .metrics_matrix import compute_metrics_many

    capital = run_capital(result.config)
    bench = M.simple_returns(result.benchmark, capital)
    out = {"strategies": {}, "benchmark": M.compute_metrics(bench, bench, result.risk_free, from_base=True)}
    fill = result.config.get("fill", "next_close")
    expense = {d.get("name"): d.get("expense_ratio", 0.0) for d in result.config.get("strategies", [])
               if isinstance(d, Mapping)}
    if result.strategies:     # all strategies at once, equal bit for bit to compute_metrics on each
        frame = lambda attr: pd.concat({s.name: getattr(s, attr) for s in result.strategies},  # noqa: E731
                                       axis=1, sort=True)      # union of dates in order (pandas 4 won't sort)
        out["strategies"] = compute_metrics_many(
            frame("equity"), capital, bench, result.risk_free, turnover=frame("turnover").sort_index(),
            fees=frame("fees"),
            rebalances={s.name: rebalance_fills(s.targets.index, s.equity.index, fill) for s in result.strategies},
            expense_ratio={s.name: float(expense.get(s.name) or 0.0) for s in result.strategies}, from_base=True)
    out.update(relative_metrics(result, capital))
    return out


def rebalance_fills(decisions: pd.Index, calendar: pd.DatetimeIndex, fill: str) -> pd.DatetimeIndex:
    """The days the rebalance decisions ``decisions`` filled on ``calendar`` (the run's days, from the base
    close): the decision day under ``close``, the next trading day under ``next_close`` (the opening
    decision, on the day before the base, fills at the base)."""
    decisions = pd.DatetimeIndex(decisions)
    pos = calendar.searchsorted(decisions, side="left" if fill == "close" else "right")
    return pd.DatetimeIndex(calendar[pos[pos < len(calendar)]]).unique()


def relative_metrics(result, capital: float | None) -> dict:
    """``{"benchmarks": {name: metrics}, "relative": {strategy: {benchmark: {metric: value}}}}`` for every
    benchmark of ``result`` (the primary first), then every control strategy (config ``controls``)."""
    series = {result.benchmark_name: result.benchmark, **result.benchmarks}
    returns = {n: M.simple_returns(v, capital) for n, v in series.items()}
    out = {"benchmarks": {n: M.compute_metrics(r, r, result.risk_free, from_base=True)
                          for n, r in returns.items()},
           "relative": {}}
    controls = result.config.get("controls", []) if isinstance(result.config, Mapping) else []
    by_name = {s.name: s for s in result.strategies}
    returns.update({n: M.simple_returns(by_name[n].equity, capital) for n in controls if n in by_name})
    if result.strategies:
        from .metrics_matrix import relative_metrics_many

        equity = pd.concat({s.name: s.equity for s in result.strategies}, axis=1)
        against = {n: relative_metrics_many(equity, capital, b, result.risk_free) for n, b in returns.items()}
        out["relative"] = {s.name: {n: against[n][s.name] for n in returns} for s in result.strategies}
    return out


def _write_contents(result: RunResult, root: Path, layout: dict, helper=None) -> None:
    """Every file of the run folder but report.html. ``helper``: see `write_run`."""
    jobs = _CsvFiles(helper)
    slugs = [s["slug"] for s in layout["strategies"]]
    extra = [b["slug"] for b in layout.get("benchmarks", [])]
    equity = pd.concat([s.equity.astype(float) for s in result.strategies] + [result.benchmark.astype(float)]
                       + [v.astype(float) for v in result.benchmarks.values()],
                       axis=1, keys=[*slugs, BENCHMARK_SLUG, *extra])
    equity = _dated(equity)
    jobs.append((root / "equity.csv", equity, True))
    capital = run_capital(result.config)
    jobs.append((root / "returns.csv", equity.apply(M.simple_returns, initial=capital), True))
    fees = _dated(pd.concat([s.fees.astype(float) for s in result.strategies], axis=1, keys=slugs)
                  if slugs else pd.DataFrame(index=equity.index))
    jobs.append((root / "fees.csv", fees, True))
    turnover = (pd.concat([s.turnover.astype(float) for s in result.strategies], axis=1, keys=slugs, sort=True)
                if slugs else pd.DataFrame(index=pd.DatetimeIndex([])))
    jobs.append((root / "turnover.csv", _dated(turnover.sort_index()), True))
    if result.risk_free is not None:
        jobs.append((root / "risk_free.csv", _dated(result.risk_free.astype(float).rename("risk_free")).to_frame(),
                     True))
    for sub in ("weights", "holdings", "trades"):
        (root / sub).mkdir()
    for slug, s in zip(slugs, result.strategies, strict=True):
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
        self.jobs: list[tuple[Path, pd.DataFrame | pd.Series, bool]] = []

    def append(self, job: tuple[Path, pd.DataFrame | pd.Series, bool]) -> None:
        if self.helper is None:
            _write_csv_jobs([job])
        else:
            self.jobs.append(job)

    def finish(self) -> None:
        if not self.jobs:
            return
        from .forked import WorkerFailed

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
              renderer: Callable[[SavedRun], str], helper=None) -> Path:
    """Write ``result`` as a complete run folder inside ``results_dir`` and return its path.

    The folder is ``<name>-<YYYYmmdd-HHMMSS>`` (``folder_name`` replaces the whole name when given), made
    path-safe, with ``-2``, ``-3``... added if it exists. It is built as ``.<name>.tmp-<pid>`` beside the
    target, ``report.html`` last (``renderer`` on the folder read back: the caller passes
    `backtest.report.render_report`, so this module never imports the report), fsynced, then renamed. On any error the temporary folder is removed and nothing else remains.
    ``helper``: a started `backtest.forked.ForkedWorker` that writes about half of the CSV files
    (`_CsvFiles`); on any error it is closed (killed) before the temporary folder is removed.
    """
    _check(result)
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
        layout = _layout(result, now.isoformat(timespec="seconds"), base)
        _write_contents(result, temp, layout, helper)
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


RUN_ENTRIES = (*REQUIRED_FILES, "risk_free.csv", "weights", "holdings", "trades", "analytics")


def sweep_stale_temporaries(results_dir: Path | str) -> list[Path]:
    """Remove the temporary run folders and comparison pages of processes killed outright (see
    `backtest.tempfiles.sweep_dead_temporaries`); returns what was removed."""
    from .tempfiles import sweep_dead_temporaries

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


# --- reading --------------------------------------------------------------------------------------------


def _read_csv(path: Path, *, dated: bool = True) -> pd.DataFrame:
    """A run CSV as a frame (dated: indexed by ``date``). pandas' reader returns one block per column; the
    frame is copied into one block per dtype (the same values), which makes whole-frame work on it several
    times cheaper: the report's 600-name holdings and weights frames took ~30 ms per operation as 600 blocks."""
    try:
        if not dated:
            return pd.read_csv(path).copy()
        frame = pd.read_csv(path, index_col=0, parse_dates=[0]).copy()
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot read it as a run CSV ({exc}); the run folder is damaged, re-run it")
    frame.index = pd.DatetimeIndex(frame.index, name="date")
    return frame


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc}); the run folder is damaged, re-run it") from exc
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _nan_for_null(obj):
    if isinstance(obj, dict):
        return {k: _nan_for_null(v) for k, v in obj.items()}
    return float("nan") if obj is None else obj


def _check_folder(path: Path, require_report: bool) -> dict:
    """Cheap completeness check; returns the run_folder layout from manifest.json."""
    if not path.is_dir():
        raise DataError(f"{path}: not a run folder (it does not exist or is not a directory); "
                        "fix: pass a folder printed by `bt run` or listed by `bt list`")
    wanted = [f for f in REQUIRED_FILES if require_report or f != "report.html"]
    missing = [f for f in wanted if not (path / f).is_file()]
    if missing:
        raise DataError(f"{path}: not a complete run folder, missing {', '.join(missing)}; "
                        "fix: re-run the config (an interrupted run never gets a final folder name)")
    layout = _read_json(path / "manifest.json").get("run_folder")
    if not isinstance(layout, dict) or layout.get("format_version") != FORMAT_VERSION:
        raise DataError(f"{path / 'manifest.json'}: no run_folder entry of format {FORMAT_VERSION}; "
                        "this folder was not written by this version of bt")
    for entry in layout["strategies"]:
        for sub in ("weights", "holdings", "trades"):
            if not (path / sub / f"{entry['slug']}.csv").is_file():
                raise DataError(f"{path}: not a complete run folder, missing {sub}/{entry['slug']}.csv")
    return layout


def load_run(path: Path | str) -> SavedRun:
    """Read a run folder back into pandas. Raises DataError naming the problem if it is not a complete run
    or is damaged (a missing or null entry in its JSON files, a column missing from a CSV)."""
    path = Path(path)
    try:
        return _load(path, require_report=True)
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        what = f"missing entry {exc}" if isinstance(exc, KeyError) else f"unexpected content ({exc})"
        raise DataError(f"{path}: damaged run folder: a file has a {what}; fix: re-run the config, or leave "
                        "this folder out") from None


def _load(path: Path, *, require_report: bool) -> SavedRun:
    layout = _check_folder(path, require_report)
    manifest = _read_json(path / "manifest.json")
    metrics = _nan_for_null(_read_json(path / "metrics.json"))
    for key in ("strategies", "benchmark"):
        if not isinstance(metrics.get(key), dict):
            raise DataError(f"{path / 'metrics.json'}: damaged run folder: {key!r} is "
                            f"{'missing' if key not in metrics else 'not an object'}; fix: re-run the config, "
                            "or leave this folder out")
    try:
        config = yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DataError(f"{path / 'config.yaml'}: not valid YAML ({exc})") from exc
    equity = _read_csv(path / "equity.csv").astype(float)
    fees = _read_csv(path / "fees.csv").astype(float)
    turnover = _read_csv(path / "turnover.csv").astype(float)
    strategies = []
    for entry in layout["strategies"]:
        slug, name = entry["slug"], entry["name"]
        trades = _read_csv(path / "trades" / f"{slug}.csv", dated=False)
        if "date" in trades:
            trades["date"] = pd.to_datetime(trades["date"])
        strategies.append(StrategyResult(
            name=name, equity=equity[slug].rename(name),
            targets=_read_csv(path / "weights" / f"{slug}.csv").astype(float),
            holdings=_read_csv(path / "holdings" / f"{slug}.csv").astype(float),
            trades=trades, fees=fees[slug].rename(name), turnover=turnover[slug].dropna().rename(name),
            notes=tuple(entry.get("notes", ()))))
    risk_free = None
    if layout.get("risk_free"):
        risk_free = _read_csv(path / "risk_free.csv")["risk_free"].astype(float)
    analytics = {}
    for entry in layout.get("analytics", []):
        file = path / "analytics" / f"{entry['slug']}.csv"
        if entry.get("date_index"):
            table = _read_csv(file)
        else:
            table = _read_csv(file, dated=False)
            table = table.set_index(table.columns[0])
        table.index.name = entry.get("index_name")
        analytics[entry["key"]] = table
    bench_name = layout["benchmark"]["name"]
    return SavedRun(path=path, name=layout["name"], config=config, strategies=tuple(strategies),
                    benchmark_name=bench_name, benchmark=equity[BENCHMARK_SLUG].rename(bench_name),
                    risk_free=risk_free, manifest=manifest, analytics=analytics, metrics=metrics,
                    slugs={e["name"]: e["slug"] for e in layout["strategies"]},
                    benchmarks={b["name"]: equity[b["slug"]].rename(b["name"]) for b in layout.get("benchmarks", [])})


def summarize_run(path: Path) -> SavedRunSummary:
    """The `bt list` line of one folder, from manifest.json and metrics.json only (no CSV parsing). A folder
    that is incomplete or damaged (a file that is not JSON, a missing or null entry) is returned with
    ``problem`` set, so one bad folder never stops the listing of the others."""
    try:
        layout = _check_folder(path, require_report=True)
        metrics = _nan_for_null(_read_json(path / "metrics.json"))
        return _summary(path, layout, metrics)
    except DataError as exc:
        problem = str(exc)
    except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
        what = f"missing entry {exc}" if isinstance(exc, KeyError) else f"unexpected content ({exc})"
        problem = (f"{path}: damaged run folder: manifest.json or metrics.json has a {what}; "
                   "fix: re-run the config")
    return SavedRunSummary(path=path, name=path.name, created="", start="", end="", strategies=(),
                           benchmark_name="", headline={}, benchmark_headline={}, problem=problem)


def _summary(path: Path, layout: dict, metrics: dict) -> SavedRunSummary:
    names = tuple(str(e["name"]) for e in layout["strategies"])
    bench = str(layout["benchmark"]["name"])
    per = metrics["strategies"]
    if not isinstance(per, dict) or not isinstance(metrics["benchmark"], dict):
        raise TypeError("'strategies' and 'benchmark' in metrics.json must be objects")
    headline = {n: {k: _metric(per.get(n), k) for k in HEADLINE} for n in names}
    headline_bench = {k: _metric(metrics["benchmark"], k) for k in HEADLINE}
    return SavedRunSummary(path=path, name=str(layout["name"]), created=str(layout.get("created", "")),
                           start=layout.get("start") or "", end=layout.get("end") or "", strategies=names,
                           benchmark_name=bench, headline=headline, benchmark_headline=headline_bench)


def _metric(block, key: str) -> float:
    """One headline number; NaN (shown as a dash) when the block or the key is absent or not a number."""
    value = block.get(key) if isinstance(block, dict) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float("nan")


def list_runs(results_dir: Path | str) -> list[SavedRunSummary]:
    """Every run folder in ``results_dir``, oldest first. Temporary (dot) folders are ignored; a folder
    that holds run files but is not complete is listed with ``problem`` set. Other folders are skipped."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        return []
    out = []
    for child in sorted(results_dir.iterdir()):
        if child.name.startswith(".") or not child.is_dir():
            continue
        if not any((child / f).exists() for f in REQUIRED_FILES):
            continue
        out.append(summarize_run(child))
    return sorted(out, key=lambda s: (s.problem is not None, s.created, s.path.name))


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
