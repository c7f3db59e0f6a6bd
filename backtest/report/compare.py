"""Comparing saved runs (`bt compare`) and listing them (`bt list`): library functions for a thin CLI."""

from __future__ import annotations

import math
import os
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from .. import __version__
from .. import metrics as M
from ..errors import UsageError
from . import figures as F
from .html import bench_label, metric_columns, metrics_table
from .page import BENCHMARK_COLOR, SharedDates, esc, figure_fragment, render_page, section

if TYPE_CHECKING:
    from ..results import SavedRun, SavedRunSummary

_MISSING = object()


def _cell(v: object) -> str:
    """A config value as its YAML spelling (null, true/false), not Python's repr (None, True)."""
    if v is _MISSING:
        return "(absent)"
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def flatten(obj, prefix: str = "") -> dict[str, object]:
    """Nested dicts/lists as dotted keys: ``{"a": {"b": [1]}}`` -> ``{"a.b[0]": 1}``. Empty containers
    are kept as values so that their presence still differs from absence."""
    out: dict[str, object] = {}
    if isinstance(obj, dict) and obj:
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(obj, list | tuple) and obj:
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}[{i}]"))
    else:
        out[prefix] = obj
    return out


def config_differences(configs: Sequence[dict]) -> tuple[list[str], dict[str, list[object]], int]:
    """(differing keys in first-seen order, key -> value per run (or _MISSING), number of equal keys)."""
    flat = [flatten(c) for c in configs]
    keys: list[str] = []
    for f in flat:
        keys += [k for k in f if k not in keys]
    values = {k: [f.get(k, _MISSING) for f in flat] for k in keys}
    differing = [k for k in keys if any(v != values[k][0] for v in values[k][1:])]
    return differing, values, len(keys) - len(differing)


def run_labels(runs: Sequence[SavedRun]) -> list[str]:
    """A unique label per run: its folder name, numbered if two folders share a name."""
    labels: list[str] = []
    for run in runs:
        label, n = run.folder, 1
        while label in labels:
            n += 1
            label = f"{run.folder} #{n}"
        labels.append(label)
    return labels


def _common_values(runs: Sequence[SavedRun],
                   labels: list[str]) -> tuple[list[tuple[str, pd.Series]], set[int]]:
    """Every strategy (and each distinct benchmark) as growth of 1 over the common dates. A series whose run
    starts on the first common date is divided by the run's capital, as its own report measures it (the
    opening trade's fees count); one that started earlier is rebased to 1 on the first common date."""
    from ..results import run_capital

    common = runs[0].benchmark.index
    for run in runs[1:]:
        common = common.intersection(run.benchmark.index)
    series: list[tuple[str, pd.Series]] = []
    bench_rows: set[int] = set()
    seen_bench: list[pd.Series] = []

    def rebased(values: pd.Series, capital: float) -> pd.Series:
        v = values.reindex(common)
        if not len(v):
            return v
        return v / (capital if values.index[0] == common[0] else v.iloc[0])

    for label, run in zip(labels, runs, strict=True):
        capital = run_capital(run.config)
        for s in run.strategies:
            series.append((f"{label} / {s.name}", rebased(s.equity, capital)))
        b = rebased(run.benchmark, capital)
        if not any(len(b) == len(o) and ((b - o).abs() < 1e-9).all() for o in seen_bench):
            seen_bench.append(b)
            bench_rows.add(len(series))
            series.append((f"{label} / {bench_label(run)}", b))
    return series, bench_rows


def _overlay(series: list[tuple[str, pd.Series]], bench_rows: set[int], shared: SharedDates):
    growth = F.growth_figure(series, None, shared=shared, title="Growth of 1", yformat=".2f")
    under = F.drawdown_figure([(lab, M.simple_returns(s, 1.0)) for lab, s in series], None, shared=shared)
    for fig in (growth, under):
        for i in bench_rows:
            fig.data[i].line.dash = "dash"
            fig.data[i].line.color = BENCHMARK_COLOR
    return growth, under


def conventions(run: SavedRun) -> dict[str, str]:
    """What must match for metrics to be comparable: benchmark, risk-free series, period, fill, capital, cash
    flows (the entries, not their count)."""
    idx = run.benchmark.index
    rf = run.config.get("risk_free")
    return {
        "benchmark": str(run.benchmark_name),
        "risk-free series": "none (0)" if run.risk_free is None else str(rf or "a series"),
        "period": f"{idx[0]:%Y-%m-%d} – {idx[-1]:%Y-%m-%d}" if len(idx) else "empty",
        "fill": str(run.manifest.get("fill") or run.config.get("fill") or "unrecorded"),
        "capital": f"{cap:,.0f}" if isinstance(cap := run.config.get("capital"), int | float) else "unrecorded",
        "cost drag": ("commission + expense ratio (saved before slippage and the borrow fee were counted)"
                      if (m := run.metrics.get("strategies") or {}) and not any(
                          "slippage_paid" in v for v in m.values()) else
                      "commission + slippage + expense ratio + borrow fee"),
        "cash-flow schedule": "; ".join(  # the entries themselves, not their count: same count != same flows
            ", ".join(f"{k} {v}" for k, v in f.items()) if isinstance(f, dict) else str(f) for f in flows)
            if (flows := run.config.get("cash_flows")) else "none",
    }


def convention_flags(runs: Sequence[SavedRun], labels: list[str]) -> str:
    """A warning box naming every convention that differs between the runs (with each run's value), or ""."""
    per_run = [conventions(r) for r in runs]
    differing = [k for k in per_run[0] if len({c[k] for c in per_run}) > 1]
    if not differing:
        return ""
    consequence = {
        "benchmark": "excess return, beta, alpha, tracking error and capture are measured against different "
                     "benchmarks",
        "risk-free series": "Sharpe, Sortino and alpha subtract different risk-free returns",
        "period": "each run's metrics cover its own period (the charts use the common dates only)",
        "fill": "orders fill at different prices (same close vs next close)",
        "capital": "money figures (fees paid, value traded, account values) scale with it, returns do not",
        "cost drag": "the cost drag rows count different costs; compare commission and slippage apart",
        "cash-flow schedule": "account values (and the money-weighted return) include different deposits or "
                              "withdrawals; the returns and the metrics on them are time-weighted in both",
    }
    items = "".join(
        f"<li><b>{esc(k.capitalize())} differs</b>: "
        + "; ".join(f"{esc(lab)}: {esc(c[k])}" for lab, c in zip(labels, per_run, strict=True))
        + f". So {esc(consequence[k])}.</li>" for k in differing)
    return (f'<div class="flags" id="flags"><b>Not like for like.</b> These runs differ in '
            f"{esc(', '.join(differing))}; read their metrics side by side with care."
            f'<ul class="warnings">{items}</ul></div>')


def _config_section(runs: Sequence[SavedRun], labels: list[str]) -> str:
    differing, values, same = config_differences([r.config for r in runs])
    if not differing:
        return f'<p class="ok">The configs are identical ({same} settings).</p>'
    head = "<tr><th>Setting</th>" + "".join(f"<th>{esc(lab)}</th>" for lab in labels) + "</tr>"
    rows = []
    for key in differing:
        vals = values[key]
        cells = "".join(
            f'<td class="{"diff" if v != vals[0] else ""}">{esc(_cell(v))}</td>'
            for v in vals)
        rows.append(f"<tr><td class=\"label\">{esc(key)}</td>{cells}</tr>")
    return (f'<p class="intro">{len(differing)} setting(s) differ, {same} are the same. Highlighted cells '
            f"differ from the first run.</p><div class=\"tbl-wrap\"><table class=\"tbl\">"
            f"<thead>{head}</thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def render_comparison(runs: Sequence[SavedRun]) -> str:
    """One self-contained HTML page comparing saved runs: metrics side by side (run / strategy), value
    curves rebased to 1 on the common dates, and the config settings that differ."""
    runs = list(runs)
    labels = run_labels(runs)
    columns, spans, starts = [], [], set()
    for label, run in zip(labels, runs, strict=True):
        cols = metric_columns(run)
        starts.add(len(columns))
        columns += cols
        spans.append((label, len(cols)))
    top = "<tr><th></th>" + "".join(
        f'<th colspan="{n}" class="num run-start">{esc(lab)}</th>' for lab, n in spans)
    sub = "<tr><th>Metric</th>" + "".join(
        f'<th class="num{" bench" if b else ""}{" run-start" if j in starts else ""}">{esc(lab)}</th>'
        for j, (lab, _, b) in enumerate(columns)) + "</tr>"
    series, bench_rows = _common_values(runs, labels)
    common = series[0][1].index if series else pd.DatetimeIndex([])
    shared = SharedDates()
    growth, under = _overlay(series, bench_rows, shared)
    period = f"{common[0]:%Y-%m-%d} – {common[-1]:%Y-%m-%d}" if len(common) else "no common dates"
    runs_rows = "".join(
        f"<tr><td>{esc(lab)}</td><td>{esc(r.name)}</td><td>{esc(r.created)}</td>"
        f"<td>{esc(conventions(r)['period'])}</td><td>{esc(r.benchmark_name)}</td>"
        f"<td>{esc(conventions(r)['risk-free series'])}</td><td>{esc(conventions(r)['fill'])}</td>"
        f"<td>{esc(', '.join(s.name for s in r.strategies))}</td><td>{esc(r.path)}</td></tr>"
        for lab, r in zip(labels, runs, strict=True))
    runs_table = ('<div class="tbl-wrap"><table class="tbl"><thead><tr><th>Run</th><th>Name</th><th>Created'
                  "</th><th>Period</th><th>Benchmark</th><th>Risk-free</th><th>Fill</th><th>Strategies</th>"
                  "<th>Folder</th>"
                  "</tr></thead>"
                  f"<tbody>{runs_rows}</tbody></table></div>")
    body = "".join([
        section("runs", "Runs", convention_flags(runs, labels) + runs_table),
        section("growth", "Growth of 1", figure_fragment(growth),
                intro=f"Common dates {period}: a run that starts there from its capital (its opening fees count), "
                      "one that started earlier rebased to 1 there; benchmarks dashed."),
        section("drawdowns", "Drawdowns", figure_fragment(under), intro="On the common dates."),
        section("metrics", "Metrics", metrics_table(columns, header_html=top + "</tr>" + sub,
                                                            run_starts=frozenset(starts)),
                intro="Each run's metrics over its own full period, as saved in metrics.json."),
        section("config", "Config differences", _config_section(runs, labels)),
    ])
    nav = [("runs", "Runs"), ("growth", "Growth"), ("drawdowns", "Drawdowns"), ("metrics", "Metrics"),
           ("config", "Config")]
    header = (f"<h1>Comparison of {len(runs)} runs</h1><div class=\"sub\">"
              + "".join(f"<span>{esc(lab)}</span>" for lab in labels) + "</div>")
    return render_page(title=f"Comparison: {', '.join(labels)}", header=header, nav=nav, body=body,
                       footer=f"bt-rotation-backtester {esc(__version__)}", shared=shared.arrays)


DEFAULT_OUT_DIR = Path("results")
_PAGE_MARKS = ("<h1>Comparison of ", "bt-rotation-backtester")  # what every comparison page holds


def _is_comparison_page(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(4_000_000).decode("utf-8", errors="replace")
    except OSError:
        return False
    return head.lstrip().lower().startswith("<!doctype html") and all(m in head for m in _PAGE_MARKS)


def _protected_folder(folder: Path) -> str | None:
    """What ``folder`` or one of its parents is, when writing there could damage bt's own data."""
    for d in (folder, *folder.parents):
        if (d / "manifest.json").is_file() and (d / "metrics.json").is_file():
            return f"inside the run folder {d}"
        if (d / "meta.json").is_file() and any((d / f).exists() for f in (
                "prices_adj_close.parquet", "catalog.parquet", ".lock")):
            return f"inside the price store {d}"
    return None


def check_out_path(out: Path | str | None, *, now: datetime | None = None) -> Path:
    """The file ``bt compare`` may write: ``out``, or ``compare-<YYYYmmdd-HHMMSS>.html`` inside it when it is
    a folder (default ``results/``). Raises UsageError for a path inside a run folder or the price store, and
    for an existing file that is not an earlier comparison page (never overwritten)."""
    stamp = f"compare-{(now or datetime.now()):%Y%m%d-%H%M%S}.html"
    out = DEFAULT_OUT_DIR / stamp if out is None else Path(out)
    if out.is_dir():
        out = out / stamp
    where = _protected_folder(out.parent.resolve())
    if where:
        raise UsageError(f"--out: {out} is {where}; a comparison page never goes there (it could replace the "
                         "run's or the store's files); fix: choose a path outside it, e.g. "
                         f"results/{stamp}")
    if out.is_symlink() or (out.exists() and not out.is_file()):
        raise UsageError(f"--out: {out} exists and is not a regular file; fix: choose another path")
    if out.exists() and not _is_comparison_page(out):
        raise UsageError(f"--out: {out} exists and is not a page written by `bt compare`, so it is not "
                         "overwritten; fix: choose another file name or remove it yourself")
    return out


def compare_runs(paths: Sequence[Path | str], out: Path | str | None = None) -> Path:
    """Load the run folders, render the comparison and write it atomically to ``out`` (see
    ``check_out_path``: default ``results/compare-<YYYYmmdd-HHMMSS>.html``). Returns the written path."""
    from ..results import load_run

    if len(paths) < 2:
        raise UsageError(f"compare: needs at least two run folders, got {len(paths)}; "
                         "fix: pass two or more folders listed by `bt list`")
    out = check_out_path(out)
    runs = [load_run(Path(p)) for p in paths]
    html = render_comparison(runs)
    temp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(temp, "w", encoding="utf-8") as fh:
            fh.write(html)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, out)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise UsageError(f"--out: cannot write {out} ({exc.strerror}); fix: choose a writable path") from exc
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return out


def _printable(text: object) -> str:
    """Text safe for a terminal: control characters shown as escapes."""
    return "".join(ch if unicodedata.category(ch)[0] != "C" else repr(ch)[1:-1] for ch in str(text))


LIST_SWEEP_BEST = 5      # rows `bt list` shows of a sweep with more strategies


def format_run_list(summaries: Sequence[SavedRunSummary]) -> str:
    """`bt list` output: one block per run (folder, created, period, strategies) with headline metrics."""
    if not summaries:
        return "no saved runs"
    lines = []
    cols = ("total_return", "cagr", "volatility", "sharpe", "max_drawdown")
    heads = ("total", "CAGR", "vol", "Sharpe", "max DD")
    for s in summaries:
        if s.problem:
            label = "DAMAGED" if "damaged" in s.problem else "INCOMPLETE"
            lines += [f"{_printable(s.path.name)}  {label}: {_printable(s.problem)}", ""]
            continue
        n = len(s.strategies)
        lines.append(f"{_printable(s.path.name)}  {_printable(s.name)}  {s.start} – {s.end}  "
                     f"{'sweep of ' if s.sweep else ''}{n} strateg{'y' if n == 1 else 'ies'} vs "
                     f"{_printable(s.benchmark_name)}  created {_printable(s.created)}")
        names = list(s.strategies)
        if s.sweep and n > LIST_SWEEP_BEST:     # thousands of variants: the best few, the rest in its report
            sharpe = {k: s.headline.get(k, {}).get("sharpe", float("nan")) for k in names}
            names = sorted(names, key=lambda k: (-sharpe[k] if sharpe[k] == sharpe[k] else math.inf))
            names = names[:LIST_SWEEP_BEST]
            lines.append(f"    the {LIST_SWEEP_BEST} highest Sharpe ratios of {n}; all in its report.html")
        rows = [(name, s.headline.get(name, {})) for name in names]
        rows.append((f"{s.benchmark_name} (benchmark)", s.benchmark_headline))
        width = min(40, max(len(_printable(name)) for name, _ in rows))
        lines.append("    " + " " * width + "".join(f"{h:>10}" for h in heads))
        for name, m in rows:
            cells = []
            for key in cols:
                v = m.get(key, float("nan"))
                if v is None or v != v:
                    cells.append(f"{'–':>10}")
                elif key == "sharpe":
                    cells.append(f"{v:>10.2f}")
                else:
                    cells.append(f"{v:>10.1%}")
            label = _printable(name)
            if len(label) <= width:
                lines.append(f"    {label:<{width}}{''.join(cells)}")
            else:  # never cut a name: variants differ only at the end ("... caps.single=0.05")
                lines += [f"    {label}", f"    {'':<{width}}{''.join(cells)}"]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
