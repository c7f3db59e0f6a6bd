"""`render_report(saved) -> str`: the run's single self-contained HTML page (plotly.js inlined once)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import pandas as pd
import yaml

from .. import __version__
from .. import metrics as M
from . import figures as F
from . import tearsheet as T
from .labels import GROUPS, INFO, info
from .page import SharedDates, esc, figure_fragment, fmt, frame_table, render_page, section, table, td_class

if TYPE_CHECKING:
    from ..results import SavedRun

OVERVIEW = ("total_return", "cagr", "volatility", "sharpe", "max_drawdown", "excess_return", "beta")
_MANIFEST_SHOWN = {"data", "warnings", "versions", "timings", "timings_s", "run_folder"}


def bench_label(saved: SavedRun) -> str:
    return f"{saved.benchmark_name} (benchmark)"


def labelled_series(saved: SavedRun) -> tuple[list[tuple[str, pd.Series]], list[tuple[str, pd.Series]], int]:
    """(values, returns, benchmark position): strategies in order, the benchmark last."""
    from ..results import run_capital

    values = [(s.name, s.equity) for s in saved.strategies] + [(bench_label(saved), saved.benchmark)]
    capital = run_capital(saved.config)       # returns measured from the capital (the opening fee counts)
    returns = [(lab, M.simple_returns(v, capital)) for lab, v in values]
    return values, returns, len(values) - 1


def metric_columns(saved: SavedRun) -> list[tuple[str, dict, bool]]:
    """(label, metrics, is_benchmark) for every strategy, then the benchmark, then any further benchmarks
    (their benchmark-relative rows are against the primary benchmark)."""
    cols = [(s.name, saved.metrics.get("strategies", {}).get(s.name, {}), False) for s in saved.strategies]
    more = [(f"{n} (benchmark)", m, True) for n, m in saved.metrics.get("benchmarks", {}).items()
            if n != saved.benchmark_name]
    return cols + [(bench_label(saved), saved.metrics.get("benchmark", {}), True)] + more


def relative_table(saved: SavedRun) -> str:
    """Each strategy against each benchmark and control (metrics.json "relative"); '' with only one."""
    rel = saved.metrics.get("relative", {})
    against = list(dict.fromkeys(b for per in rel.values() for b in per))
    if len(against) < 2 and not saved.config.get("controls"):
        return ""
    keys = M.RELATIVE_KEYS
    header = [esc(h) for h in ("Strategy", "Against", *(info(k)[0] for k in keys))]
    rows = []
    for name, per in rel.items():
        for b in against:
            m = per.get(b, {})
            rows.append([esc(name), esc(b)] + [f'<span class="{td_class(m.get(k), info(k)[1])}">'
                                               f'{esc(fmt(m.get(k), info(k)[1]))}</span>' for k in keys])
    return ("<h3>Against each benchmark and control</h3>"
            + table(header, rows, raw=True))


def metrics_table(columns: list[tuple[str, dict, bool]], *, keys: tuple[str, ...] | None = None,
                  grouped: bool = True, header_html: str | None = None,
                  run_starts: frozenset[int] = frozenset()) -> str:
    """Metrics side by side: one row per metric, one column per series; labels carry the definition.
    ``run_starts``: column positions that begin a new run (a separator line, for comparisons)."""
    present: list[str] = []
    for _, m, _ in columns:
        present += [k for k in m if k not in present]
    wanted = list(keys) if keys else present
    groups = GROUPS + [("Other", {k: info(k) for k in wanted if k not in INFO})]
    head = header_html or ("<tr><th>Metric</th>" + "".join(
        f'<th class="num{" bench" if b else ""}">{esc(lab)}</th>' for lab, _, b in columns) + "</tr>")
    body = []
    for group, entries in groups:
        rows = [k for k in entries if k in wanted]
        if not rows:
            continue
        if grouped:
            body.append(f'<tr class="group"><td colspan="{len(columns) + 1}">{esc(group)}</td></tr>')
        for key in rows:
            label, kind, definition = info(key)
            cells = []
            for j, (_, m, is_b) in enumerate(columns):
                value = m.get(key)
                classes = td_class(value, kind) + (" bench" if is_b else "") + (
                    " run-start" if j in run_starts else "")
                cells.append(f'<td class="{classes}">{esc(fmt(value, kind))}</td>')
            title = f' title="{esc(definition)}"' if definition else ""
            body.append(f'<tr><td class="label"><abbr{title}>{esc(label)}</abbr></td>{"".join(cells)}</tr>')
    return (f'<div class="tbl-wrap"><table class="tbl metrics"><thead>{head}</thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _drawdowns_table(returns: list[tuple[str, pd.Series]]) -> str:
    rows = []
    for label, r in returns:
        top = M.top_drawdowns(r, 5)
        if top.empty:
            rows.append([label, "–", "no drawdown", "", "", "", "", ""])
        for i, row in zip(top.index, top.itertuples(), strict=True):
            rows.append([label if i == 1 else "", str(i), fmt(row.depth, "pct"), fmt(_day(row.peak)),
                         fmt(_day(row.trough)), fmt(_day(row.recovery)), fmt(row.days, "days"),
                         fmt(row.recovery_days, "days")])
    return table(["Series", "#", "Depth", "Peak", "Trough", "Recovery", "Days", "Recovery days"], rows,
                 css_class="tbl drawdowns")


def _years(saved: SavedRun) -> float:
    idx = saved.benchmark.index
    return (idx[-1] - idx[0]).days / M.DAYS_PER_YEAR if len(idx) > 1 else 0.0


def _sectors(saved: SavedRun) -> pd.Series | None:
    """ticker -> sector from the run's ``sectors`` analytics table (first column), if it has one."""
    table = saved.analytics.get("sectors")
    if table is None or table.empty:
        return None
    return table.iloc[:, 0].astype(str)


def _activity_table(activity: list[tuple[str, pd.DataFrame]]) -> str:
    """Per strategy: days traded (rebalances and forced sales: the metrics' "Rebalances" counts rebalances
    only), orders, average and largest turnover, value traded and commission (the trades' fees)."""
    rows = []
    for name, a in activity:
        traded = a[a["turnover"].fillna(0) > 0]
        rows.append([name, fmt(len(traded), "count"), fmt(a["orders"].sum(), "count"),
                     fmt(traded["turnover"].mean() if len(traded) else None, "pct"),
                     fmt(a["turnover"].max() if len(a) else None, "pct"),
                     fmt(a["traded"].sum(), "money"), fmt(a["fees"].sum(), "money")])
    return table(["Strategy", "Days traded", "Orders", "Turnover, mean", "Turnover, max", "Value traded",
                  "Commission"], rows, css_class="tbl activity")


def _day(ts) -> str | float:
    return float("nan") if pd.isna(ts) else ts.strftime("%Y-%m-%d")


def _warnings(saved: SavedRun, *, notes: bool = True) -> list[str]:
    """The manifest's warnings (duplicates once), a strategy note prefixed with the strategies that have it,
    then any strategy note the manifest does not list (``notes=False``: the manifest's alone, for a sweep,
    whose manifest folds every variant's notes: `backtest.sweep.fold_notes`)."""
    raw = saved.manifest.get("warnings") or []
    listed = list(dict.fromkeys(str(w) for w in (raw if isinstance(raw, list) else [raw])))
    owners: dict[str, list[str]] = {}
    for s in saved.strategies if notes else ():
        for n in s.notes:
            owners.setdefault(n, []).append(s.name)
    out = []
    for w in [*listed, *(n for n in owners if n not in listed)]:
        names = owners.get(w, [])
        out.append(f"{', '.join(names)}: {w}" if names and not any(w.startswith(n) for n in names) else w)
    return out


WARNINGS_SHOWN = 12
WARNING_CHARS = 240  # a longer warning shows its start; the whole text unfolds


def _warnings_html(warnings: list[str]) -> str:
    """Every warning; past the first WARNINGS_SHOWN they fold into a <details>."""
    if not warnings:
        return '<p class="ok">No warnings.</p>'

    def item(w: str) -> str:
        if len(w) <= WARNING_CHARS:
            return f"<li>{esc(w)}</li>"
        cut = w.rfind(" ", 0, WARNING_CHARS)
        cut = cut if cut > 0 else WARNING_CHARS
        return (f"<li><details><summary>{esc(w[:cut])} <span class=\"more\">(show all "
                f"{len(w):,} characters)</span></summary>{esc(w)}</details></li>")

    def items(ws: list[str]) -> str:
        return '<ul class="warnings">' + "".join(item(w) for w in ws) + "</ul>"

    html = items(warnings[:WARNINGS_SHOWN])
    rest = warnings[WARNINGS_SHOWN:]
    if rest:
        html += f"<details><summary>{len(rest)} more warnings</summary>{items(rest)}</details>"
    return html


def _kv(mapping: dict) -> str:
    items = []
    for k, v in mapping.items():
        shown = v if isinstance(v, str | int | float | bool) or v is None else yaml.safe_dump(
            v, sort_keys=False, allow_unicode=True, default_flow_style=True).strip()
        items.append(f"<dt>{esc(k)}</dt><dd>{esc('–' if v is None else shown)}</dd>")
    return f'<dl class="kv">{"".join(items)}</dl>'


def _coverage(saved: SavedRun) -> str:
    data = saved.manifest.get("data")
    if not data:
        return '<p class="note">The manifest records no data coverage.</p>'
    if isinstance(data, dict) and all(isinstance(v, dict) for v in data.values()):
        frame = pd.DataFrame.from_dict(data, orient="index")
        frame.index.name = "ticker"
    elif isinstance(data, list) and all(isinstance(v, dict) for v in data):
        frame = pd.DataFrame(data)
    else:
        return f'<pre class="yaml">{esc(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))}</pre>'
    start, end = saved.benchmark.index[0], saved.benchmark.index[-1]
    partial = []
    if {"first", "last"} <= set(frame.columns):
        first = pd.to_datetime(frame["first"], errors="coerce")
        last = pd.to_datetime(frame["last"], errors="coerce")
        partial = list(frame.index[(first > start) | (last < end) | first.isna()])
    summary = (f"{len(frame)} series; {len(frame) - len(partial)} cover the whole period "
               f"{start:%Y-%m-%d} – {end:%Y-%m-%d}")
    summary += f"; {len(partial)} do not: {', '.join(map(str, partial[:30]))}" if partial else "."
    if len(partial) > 30:
        summary += f" and {len(partial) - 30} more"
    rows = [[str(i), *[("–" if pd.isna(v) else str(v)) for v in row]]
            for i, row in zip(frame.index, frame.itertuples(index=False), strict=True)]
    tbl = table([str(frame.index.name or ""), *map(str, frame.columns)], rows)
    return f'<p class="intro">{esc(summary)}</p><details><summary>Every series</summary>{tbl}</details>'


DATA_TABLES = {
    "data_quality": ("Data quality", "Traded names whose prices end inside the run. A DATA GAP is a name still in "
                     "its index on the next trading day: the data stops, the company did not; the run did what "
                     "data_gaps says (sell: sold at the last close; hold: held at it until the next rebalance; "
                     "refuse: stops). held_weight_max: the largest weight any strategy held going into the "
                     "last close."),
    "idle_cash": ("Idle cash", "Cash of every origin (before the first fill, unallocated targets, sale proceeds "
                  "waiting for the next rebalance, names without a price): its mean and largest share of value, "
                  "the days above 1% of value and the longest such spell, and what it earned at the rate named "
                  "in earns (cash_yield). A long/short strategy's cash includes its short proceeds (the "
                  "collateral of the shorts): a dollar-neutral one holds about 100% of its value in cash."),
}


def _data_tables(saved: SavedRun) -> str:
    """The data-quality and idle-cash tables (saved as analytics/data-quality.csv and idle-cash.csv), when the run has them."""
    parts = []
    for key, (title, intro) in DATA_TABLES.items():
        frame = (saved.analytics or {}).get(key)
        if frame is not None and len(frame):
            parts.append(f"<h3>{esc(title)}</h3><p class=\"intro\">{esc(intro)}</p>" + frame_table(frame))
    return "".join(parts)


def extra_sections(saved: SavedRun, sections: Sequence[Callable[[SavedRun], str]] | None = None) -> str:
    """The HTML of the report's extra sections (``sections``, default `backtest.report.sections.SECTIONS`:
    the rotation analytics and the evidence), as `render_report` places them; a section that raises shows
    its error instead. Depends on ``saved`` only, so it may be rendered in another process (`bt run` has
    its helper process render it from the folder while this one renders the rest: `extra_sections_of`)."""
    if sections is None:
        from .sections import SECTIONS as sections
    parts = []
    for fn in sections:
        try:
            parts.append(fn(saved))
        except Exception as exc:  # noqa: BLE001 - one broken section must not lose the whole report
            name = getattr(fn, "__name__", repr(fn))
            parts.append(f'<div class="section-error">Section {esc(name)} failed: '
                         f"{esc(type(exc).__name__)}: {esc(exc)}</div>")
    return "".join(p for p in parts if p)


def extra_sections_of(folder: str) -> str:
    """`extra_sections` of the run folder ``folder`` (complete but for report.html), read back here."""
    from pathlib import Path

    from ..results import load_run

    return extra_sections(load_run(Path(folder), require_report=False))


def render_report(saved: SavedRun, *, sections: Sequence[Callable[[SavedRun], str]] | None = None,
                  extra: Callable[[], str] | None = None) -> str:
    """The run's report: one HTML string, self-contained (plotly.js inlined once, no network).

    ``sections``: extra section functions, default `backtest.report.sections.SECTIONS`. ``extra``: a
    function giving their HTML (`extra_sections` of the same run, e.g. rendered by another process),
    called once the page's other sections are rendered; ``sections`` is then not used.
    """
    values, returns, b = labelled_series(saved)
    shared = SharedDates()
    warnings = _warnings(saved)
    parts: list[tuple[str, str, str]] = []  # (anchor, nav label, html)

    def add(anchor: str, nav: str, title: str, body: str, intro: str = "") -> None:
        parts.append((anchor, nav, section(anchor, title, body, intro=intro)))

    cols = metric_columns(saved)
    warn_note = (f'<p class="note"><a href="#warnings">{len(warnings)} warning'
                 f'{"s" if len(warnings) != 1 else ""}</a> recorded for this run.</p>') if warnings else ""
    add("overview", "Overview", "Overview", metrics_table(cols, keys=OVERVIEW, grouped=False) + warn_note)
    add("growth", "Growth", "Growth of capital",
        figure_fragment(F.growth_figure(values, b, shared=shared, further=[
            (f"{n} (benchmark)", v) for n, v in (saved.benchmarks or {}).items()])),
        "Portfolio value of each strategy and the buy-and-hold benchmark (dashed; further benchmarks "
        "dotted), same starting capital."
        + (f" Runs of {F.LOG_YEARS:g} years or more open on a log scale (equal heights = equal percentage "
           "moves); Linear switches back." if _years(saved) >= F.LOG_YEARS else ""))
    if saved.strategies:
        relative = "".join(figure_fragment(fig) for _, fig in T.relative_figures(values, b, shared=shared))
        add("relative", "Vs benchmark", f"Relative to {saved.benchmark_name}",
            f'<div class="grid2">{relative}</div>',
            "Left: cumulative return minus the benchmark's (V/V0 - B/B0). Right: growth of the strategy "
            "divided by the benchmark's ((V/V0) / (B/B0)); above 1 = ahead since the start. Drawn weekly.")
    add("drawdowns", "Drawdowns", "Drawdowns",
        figure_fragment(F.drawdown_figure(returns, b, shared=shared)) + "<h3>Top 5 drawdowns</h3>"
        + _drawdowns_table(returns),
        "Fall from the running peak; the menu shows one strategy at a time. Days are calendar days; recovery "
        "is the first date back at the peak.")
    days = len(saved.benchmark)
    if days > M.ROLLING_WINDOW:
        rolling = "".join(figure_fragment(fig)
                          for _, fig in F.rolling_figures(returns, b, saved.risk_free, shared=shared))
        add("rolling", "Rolling", "Rolling 12 months", f'<div class="grid2">{rolling}</div>',
            "Trailing 252 trading days, drawn weekly.")
    else:
        add("rolling", "Rolling", "Rolling 12 months",
            f'<p class="note">Not shown: the run has {days} trading days, and a rolling 12-month figure '
            f"needs more than {M.ROLLING_WINDOW}.</p>")
    add("calendar", "Years", "Calendar-year returns",
        figure_fragment(F.calendar_figure(returns, b)) + T.annual_table(returns, b),
        "The first year starts at the run's base close (the last close before start); a first or last year "
        "the run covers only in part is marked with the dates it covers.")
    add("monthly", "Months", "Monthly returns", figure_fragment(F.monthly_heatmap(returns)),
        "Choose the strategy with the menu. The last column is the year's compounded return.")
    add("distribution", "Distribution", "Distribution of returns",
        '<div class="grid2">' + figure_fragment(T.histogram_figure(returns, freq="D"))
        + figure_fragment(T.histogram_figure(returns, freq="M")) + "</div>",
        "Daily (left) and calendar-month (right) returns: observed counts per bin, and the counts a normal "
        "distribution with the same mean and standard deviation predicts (dotted). Fat tails show as bars "
        "beyond the dotted line.")
    held = [(s.name, s.holdings) for s in saved.strategies if not s.holdings.empty]
    if held:
        sectors = _sectors(saved)
        body = T.holdings_now_table(held, sectors)
        if sectors is not None:
            body += "<h3>Sector weights over time</h3>" + figure_fragment(
                T.sector_figure(held, sectors, shared=shared))
        else:
            body += ('<p class="note">The run records no sectors (an analytics table "sectors" indexed by '
                     "ticker), so sector weights are not shown.</p>")
        add("holdings", "Holdings", "Holdings now", body,
            f"Weights held at the close of the last date: the {T.TOP_NOW} largest per strategy.")
        add("weights", "Weights", "Weights over time", figure_fragment(F.weights_figure(held, shared=shared)),
            f"Month-end weights held: the {F.TOP_HOLDINGS} largest names on average, the rest, and cash.")
    activity = [(s.name, T.rebalance_activity(s.turnover, s.trades)) for s in saved.strategies]
    activity = [(n, a) for n, a in activity if len(a)]
    if activity:
        add("trading", "Trading", "Trades and turnover per rebalance",
            figure_fragment(T.trading_figure(activity)) + _activity_table(activity),
            "Turnover is one-sided (the engine's), as a fraction of the portfolio's value; orders count "
            "every buy and sell on that date. The menu chooses the strategy.")
    add("metrics", "Metrics", "Metrics", metrics_table(cols) + relative_table(saved),
        "Hover a metric for its definition.")
    at = len(parts)                 # the extra sections go here, rendered last (see ``extra``)
    warn_body = _warnings_html(warnings)
    add("warnings", f"Warnings ({len(warnings)})", "Warnings", warn_body)
    config_text = yaml.safe_dump(saved.config, sort_keys=False, allow_unicode=True)
    add("config", "Config", "Config as run", f'<pre class="yaml">{esc(config_text)}</pre>')
    details = {k: v for k, v in saved.manifest.items() if k not in _MANIFEST_SHOWN}
    add("data", "Data", "Data coverage", _coverage(saved) + _data_tables(saved) + "<h3>Run details</h3>"
        + _kv(details))
    versions = saved.manifest.get("versions") or {}
    timings = saved.manifest.get("timings_s") or saved.manifest.get("timings") or {}
    env = _kv(versions) if isinstance(versions, dict) else esc(versions)
    if timings:
        env += "<h3>Timings (seconds)</h3>" + (_kv(timings) if isinstance(timings, dict) else esc(timings))
    add("versions", "Versions", "Package versions", env)
    html = extra() if extra is not None else extra_sections(saved, sections)
    if html:
        parts.insert(at, ("analytics", "Analytics", f'<div id="analytics">{html}</div>'))

    n = len(saved.strategies)
    return run_page(saved, parts, shared, kind="backtest report",
                    count=f"{n} strateg{'y' if n == 1 else 'ies'}")


def run_page(saved: SavedRun, parts, shared: SharedDates, *, kind: str, count: str, suffix: str = "") -> str:
    """The page around a run's sections: header (name, period, `count` vs the benchmark, run, folder),
    navigation from `parts` ((anchor, label, html) triples) and footer. Shared by the run and sweep reports."""
    idx = saved.benchmark.index
    period = f"{idx[0]:%Y-%m-%d} – {idx[-1]:%Y-%m-%d}" if len(idx) else "empty"
    header = (f"<h1>{esc(saved.name)}{esc(suffix)}</h1><div class=\"sub\"><span>{esc(period)}</span>"
              f"<span>{esc(count)} vs {esc(saved.benchmark_name)}</span>"
              f"<span>run {esc(saved.created)}</span><span>{esc(saved.folder)}</span></div>")
    label = kind.replace("backtest ", "")
    footer = f"bt-rotation-backtester {esc(__version__)} · {esc(label)} of {esc(saved.folder)}"
    return render_page(title=f"{saved.name} – {kind}", header=header,
                       nav=[(a, label) for a, label, _ in parts], body="".join(h for _, _, h in parts),
                       footer=footer, shared=shared.arrays)
