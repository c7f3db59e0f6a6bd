"""Reading a run folder back: `load_run` -> `SavedRun` (what the report renders, from the files alone),
`summarize_run` / `list_runs` (`bt list`). A damaged or incomplete folder is a `DataError` naming the file."""

from __future__ import annotations

import functools
import io
import json
from pathlib import Path

import pandas as pd
import yaml

from ..errors import DataError
from .model import (
    BENCHMARK_SLUG,
    FORMAT_VERSION,
    HEADLINE,
    REQUIRED_FILES,
    TRADE_COLUMNS,
    SavedRun,
    SavedRunSummary,
    StrategyResult,
    has_detail_files,
)

# --- reading --------------------------------------------------------------------------------------------


EMPTY_DETAIL = {"weights": b"date\n", "holdings": b"date\n",
                "trades": (",".join(TRADE_COLUMNS) + "\n").encode()}
"""The text of a strategy's weights, holdings and trades files when it has none (a sweep variant's): a folder
whose layout has ``detail_files: false`` (a sweep's) leaves those files out and reads them as this."""
HEADER_ONLY_BYTES = 4096    # a file this small with one line is a header alone (a sweep variant's empty table)


def _read_csv(path: Path, *, dated: bool = True) -> pd.DataFrame:
    """A run CSV as a frame (dated: indexed by ``date``). pandas' reader returns one block per column; the
    frame is copied into one block per dtype (the same values), which makes whole-frame work on it several
    times cheaper: the report's 600-name holdings and weights frames took ~30 ms per operation as 600 blocks.
    A file that is a header alone is parsed once per distinct header (`_header_only`) and copied: a sweep's
    variants have three such files each (weights, holdings, trades; 30,000 in a 10,000-variant sweep), ~1 ms
    of pandas' reader apiece."""
    try:
        small = path.stat().st_size <= HEADER_ONLY_BYTES
        data = path.read_bytes() if small else b""
        if small and data.endswith(b"\n") and data.count(b"\n") == 1:
            return _header_only(data, dated).copy()
        return _parsed(io.BytesIO(data) if small else path, dated)     # a small file is read once
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot read it as a run CSV ({exc}); the run folder is damaged, re-run it")


def _parsed(source, dated: bool) -> pd.DataFrame:
    if not dated:
        return pd.read_csv(source).copy()
    frame = pd.read_csv(source, index_col=0, parse_dates=[0]).copy()
    frame.index = pd.DatetimeIndex(frame.index, name="date")
    return frame


@functools.lru_cache(maxsize=64)
def _header_only(data: bytes, dated: bool) -> pd.DataFrame:
    """`_parsed` of a one-line CSV (kept: callers get a copy)."""
    return _parsed(io.BytesIO(data), dated)


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
    for entry in layout["strategies"] if has_detail_files(layout) else ():
        for sub in ("weights", "holdings", "trades"):
            if not (path / sub / f"{entry['slug']}.csv").is_file():
                raise DataError(f"{path}: not a complete run folder, missing {sub}/{entry['slug']}.csv")
    return layout


def load_run(path: Path | str, *, require_report: bool = True) -> SavedRun:
    """Read a run folder back into pandas. Raises DataError naming the problem if it is not a complete run
    or is damaged (a missing or null entry in its JSON files, a column missing from a CSV).
    ``require_report`` False: a folder still being written, complete but for report.html."""
    path = Path(path)
    try:
        return _load(path, require_report=require_report)
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
    slipped = path / "slippage.csv"         # a `bt run` folder's; not a sweep's, nor one saved before it was
    slippage = _read_csv(slipped).astype(float) if slipped.is_file() else None
    strategies = []
    detail = has_detail_files(layout)

    def read(sub: str, slug: str | None, dated: bool) -> pd.DataFrame:
        if detail:
            return _read_csv(path / sub / f"{slug}.csv", dated=dated)
        return _header_only(EMPTY_DETAIL[sub], dated).copy()    # what the file held when it was written

    def details(slug: str | None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """A strategy's (targets, holdings, trades)."""
        trades = read("trades", slug, False)
        if "date" in trades:
            trades["date"] = pd.to_datetime(trades["date"])
        return read("weights", slug, True).astype(float), read("holdings", slug, True).astype(float), trades

    empty = None if detail else details(None)     # a sweep's folder: the frames of its empty files, made once
    for entry in layout["strategies"]:
        slug, name = entry["slug"], entry["name"]
        targets, holdings, trades = details(slug) if detail else (frame.copy() for frame in empty)
        strategies.append(StrategyResult(
            name=name, equity=equity[slug].rename(name), targets=targets, holdings=holdings,
            trades=trades, fees=fees[slug].rename(name), turnover=turnover[slug].dropna().rename(name),
            notes=tuple(entry.get("notes", ())),
            slippage=slippage[slug].rename(name) if slippage is not None and slug in slippage else None))
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
                           benchmark_name=bench, headline=headline, benchmark_headline=headline_bench,
                           sweep=not has_detail_files(layout))


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
