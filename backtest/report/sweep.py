"""`render_sweep(saved) -> str`: the report of a sweep folder (`backtest.sweep`), one self-contained page.

A heatmap of the chosen metric over the first two swept keys of each swept strategy (a menu picks the
values of any further keys), the growth of the best variants against the benchmark, and a table of every
variant's metrics with its swept values, sortable by any column (plain JavaScript in the page, no CDN).
The variants and their parameters come from the manifest's ``sweep`` entry.
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING

import plotly.graph_objects as go
import yaml

from ..errors import UsageError
from . import figures as F
from .labels import INFO, info
from .page import SharedDates, _asset, esc, figure_fragment, fmt, new_figure, ptext, section

if TYPE_CHECKING:
    from ..results import SavedRun

TABLE_METRICS = ("total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar",
                 "excess_return", "tracking_error", "information_ratio", "annual_turnover", "fee_drag",
                 "slippage_drag", "cost_drag")
LOWER_IS_BETTER = frozenset({"volatility", "tracking_error", "annual_turnover", "total_turnover", "fee_drag",
                             "fees_paid", "slippage_paid", "slippage_drag", "cost_drag", "expense_ratio",
                             "borrow_drag",
                             "initial_turnover", "forced_sale_turnover",
                             "n_forced_sales", "max_drawdown_days", "max_drawdown_recovery_days",
                             "longest_drawdown_days", "longest_recovery_days", "down_capture", "beta"})
NO_BETTER = frozenset({"years", "n_rebalances", "correlation", "r_squared", "skew", "kurtosis"})  # ranked, not "best"
TOP_GROWTH = 10


def check_metric(metric: str) -> None:
    """Raise UsageError unless ``metric`` is a numeric metric of metrics.json (e.g. sharpe, cagr)."""
    numeric = [k for k, (_, kind, _) in INFO.items() if kind not in ("date",)]
    if metric not in numeric:
        from ..config.check import suggest

        raise UsageError(f"--metric: unknown metric {metric!r}{suggest(metric, numeric)} (the metrics: "
                         f"{', '.join(numeric)})")


def _value(m: dict, key: str) -> float:
    v = m.get(key)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else math.nan


def ranked(saved: SavedRun, metric: str) -> list[str]:
    """Strategy names, best first by ``metric`` (higher is better unless it is a cost or a risk; a metric with no
    better side, `NO_BETTER`, highest first and called so); NaN last."""
    sign = 1.0 if metric in LOWER_IS_BETTER else -1.0
    strat = saved.metrics.get("strategies", {})
    values = {s.name: _value(strat.get(s.name, {}), metric) for s in saved.strategies}
    return sorted(values, key=lambda n: (math.isnan(values[n]),
                                         0.0 if math.isnan(values[n]) else sign * values[n]))


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _rows(saved: SavedRun) -> list[dict]:
    table = (saved.manifest.get("sweep") or {}).get("table")
    if table:
        return table
    return [{"name": s.name, "base": None, "params": {}} for s in saved.strategies]


DIVERGING = [[0, "#b2182b"], [0.25, "#ef8a62"], [0.5, "#f7f7f7"], [0.75, "#67a9cf"], [1, "#2166ac"]]


def colour_range(saved: SavedRun, metric: str) -> dict:
    """Heatmap colour settings shared by every heatmap of the sweep: centred on the benchmark's value of
    ``metric`` (white), blue better and red worse than the benchmark, symmetric around it so that equal
    distances look equally strong; Viridis from the lowest to the highest variant without a benchmark value.
    """
    strat = saved.metrics.get("strategies", {})
    values = [v for r in _rows(saved) if r.get("base")
              for v in [_value(strat.get(r["name"], {}), metric)] if not math.isnan(v)]
    bench = _value(saved.metrics.get("benchmark", {}), metric)
    if not values:
        return dict(colorscale="Viridis")
    lo, hi = min(values), max(values)
    if math.isnan(bench):
        return dict(colorscale="Viridis", zmin=lo, zmax=hi if hi > lo else lo + 1e-12,
                    reversescale=metric in LOWER_IS_BETTER)
    half = max(abs(hi - bench), abs(lo - bench)) or 1e-12
    return dict(colorscale=DIVERGING, zmin=bench - half, zmax=bench + half,
                reversescale=metric in LOWER_IS_BETTER)


def heatmaps(saved: SavedRun, metric: str) -> list[tuple[str, go.Figure]]:
    """One heatmap per swept strategy: ``metric`` over its first two keys (one row if it has one key); every
    heatmap uses the same colour range (`colour_range`)."""
    label, kind, _ = info(metric)
    fmt_spec = {"pct": ".2%", "pct_signed": "+.2%", "ratio": ".3f"}.get(kind, ".4g")
    colours = colour_range(saved, metric)
    grids = (saved.manifest.get("sweep") or {}).get("grids") or {}
    by_params = {(r["base"], tuple(sorted(r["params"].items()))): r["name"]
                 for r in _rows(saved) if r["base"]}
    strat_metrics = saved.metrics.get("strategies", {})
    out = []
    for base, grid in grids.items():
        keys = [k for k, _ in grid]
        values = {k: v for k, v in grid}
        xk = keys[0]
        yk = keys[1] if len(keys) > 1 else None
        rest = keys[2:]
        fig = new_figure(hovermode="closest", height=max(300, 120 + 46 * (len(values[yk]) if yk else 1)),
                         margin=dict(l=90, r=20, t=60, b=60))
        combos = list(itertools.product(*(values[k] for k in rest))) or [()]
        for i, combo in enumerate(combos):
            fixed = dict(zip(rest, combo, strict=True))
            z = []
            for yv in (values[yk] if yk else [None]):
                row = []
                for xv in values[xk]:
                    params = {**fixed, xk: xv, **({yk: yv} if yk else {})}
                    name = by_params.get((base, tuple(sorted(params.items()))))
                    v = _value(strat_metrics.get(name, {}), metric) if name else math.nan
                    row.append(None if math.isnan(v) else v)
                z.append(row)
            fig.add_trace(go.Heatmap(
                z=z, x=[ptext(v) for v in values[xk]],
                y=[ptext(v) for v in values[yk]] if yk else [ptext(label)],
                visible=i == 0, **colours,
                texttemplate=f"%{{z:{fmt_spec}}}", xgap=2, ygap=2,
                name=ptext(", ".join(f"{k}={v}" for k, v in fixed.items()) or base),
                hovertemplate=(f"{ptext(xk)}=%{{x}}" + (f"<br>{ptext(yk)}=%{{y}}" if yk else "")
                               + f"<br>{ptext(label)}: %{{z:{fmt_spec}}}<extra></extra>"),
                colorbar=dict(title=dict(text=ptext(label)), tickformat=fmt_spec)))
        if len(combos) > 1:
            buttons = [dict(label=ptext(", ".join(f"{k}={v}" for k, v in zip(rest, combo, strict=True))),
                            method="restyle", args=[{"visible": [j == i for j in range(len(combos))]}])
                       for i, combo in enumerate(combos)]
            fig.update_layout(updatemenus=[dict(type="dropdown", buttons=buttons, x=0, xanchor="left", y=1.12,
                                                yanchor="bottom", bgcolor="#f8f9fa", bordercolor="#ced4da")])
        fig.update_xaxes(type="category", title_text=ptext(xk), showgrid=False)
        fig.update_yaxes(type="category", title_text=ptext(yk) if yk else "", showgrid=False)
        out.append((base, fig))
    return out


def variants_table(saved: SavedRun, metric: str) -> str:
    """Every strategy (variants and the strategies the sweep left alone) and the benchmark: swept values and
    metrics, one row each; every column sorts on a click (numbers by value, missing values last)."""
    rows = _rows(saved)
    keys = list(dict.fromkeys(k for r in rows for k in r["params"]))
    metrics = list(dict.fromkeys((metric, *TABLE_METRICS)))
    strat = saved.metrics.get("strategies", {})
    numeric = {k: all(_number(r["params"][k]) is not None for r in rows if k in r["params"]) for k in keys}
    head = ['<th data-type="text">Strategy</th>',
            *(f'<th class="param" data-type="{"num" if numeric[k] else "text"}">{esc(k)}</th>' for k in keys)]
    for key in metrics:
        label, _, definition = info(key)
        head.append(f'<th class="num" data-type="num" title="{esc(definition)}">{esc(label)}</th>')
    body = []
    entries = [(r["name"], r.get("base") or r["name"], r["params"], strat.get(r["name"], {}), False)
               for r in rows]
    entries.append((saved.benchmark_name, f"{saved.benchmark_name} (benchmark)", {},
                    saved.metrics.get("benchmark", {}), True))
    for name, shown, params, m, is_bench in entries:
        cells = [f'<td title="{esc(name)}">{esc(shown)}</td>']
        cells += [f'<td data-v="{_number(params[k]) if k in params and numeric[k] else ""}">'
                  f"{esc(params.get(k, ''))}</td>" for k in keys]
        for key in metrics:
            v = _value(m, key)
            kind = info(key)[1]
            sort = "" if math.isnan(v) else repr(v)
            neg = " neg" if kind in ("pct", "pct_signed", "ratio") and v < 0 else ""
            shown = fmt(None if math.isnan(v) else v, kind)
            cells.append(f'<td class="num{neg}" data-v="{sort}">{esc(shown)}</td>')
        body.append(f'<tr{" class=bench" if is_bench else ""}>{"".join(cells)}</tr>')
    return (f'<div class="tbl-wrap"><table class="tbl sortable" id="variants-table"><thead>'
            f'<tr>{"".join(head)}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'
            f'<script>{_asset("sweep.js")}</script>')


def render_sweep(saved: SavedRun, *, metric: str | None = None) -> str:
    """The sweep report of a saved sweep folder; ``metric`` (default: the one the sweep was run with, else
    sharpe) colours the heatmaps and ranks the variants."""
    info_ = saved.manifest.get("sweep") or {}
    metric = metric or info_.get("metric") or "sharpe"
    label, kind, definition = info(metric)
    best = ranked(saved, metric)
    strat = saved.metrics.get("strategies", {})
    parts: list[tuple[str, str, str]] = []

    def add(anchor: str, nav: str, title: str, body: str, intro: str = "") -> None:
        parts.append((anchor, nav, section(anchor, title, body, intro=intro)))

    n_var = info_.get("variants", len(saved.strategies))
    grids = info_.get("grids") or {}
    swept = "; ".join(f"{base}: " + ", ".join(f"{k} ({len(v)} value{'' if len(v) == 1 else 's'})"
                                              for k, v in grid)
                      for base, grid in grids.items())
    others = len(saved.strategies) - n_var
    overview = [(f"<p>{n_var} variant{'' if n_var == 1 else 's'} ({esc(swept) or 'no grid recorded'}) and "
                 f"{others} other "
                 f"strateg{'y' if others == 1 else 'ies'}, against {esc(saved.benchmark_name)}.</p>")]
    if best:
        top = best[0]
        overview.append(f"<p>{'Highest' if metric in NO_BETTER else 'Best by'} {esc(label)}: <b>{esc(top)}</b> "
                        f"({esc(fmt(strat.get(top, {}).get(metric), kind))}); benchmark "
                        f"{esc(fmt(saved.metrics.get('benchmark', {}).get(metric), kind))}.</p>")
    if info_.get("where"):
        n = info_.get("chunks")
        chunks = f"{esc(n)} chunk{'' if n == 1 else 's'} of up to" if n is not None else "chunks of"
        overview.append(f'<p class="note">Simulated {esc(info_.get("where"))} in {chunks} '
                        f'{esc(info_.get("chunk_size"))}: {esc(info_.get("strategies_per_second"))} '
                        f"strategies per second.</p>")
    add("overview", "Overview", "Sweep overview", "".join(overview))
    maps = "".join(f"<h3>{esc(base)}</h3>" + figure_fragment(fig) for base, fig in heatmaps(saved, metric))
    if maps:
        bench_v = saved.metrics.get("benchmark", {}).get(metric)
        centre = (f" Every heatmap shares one colour scale, centred (white) on the benchmark's "
                  f"{fmt(bench_v, kind)}: blue is better than the benchmark, red worse."
                  if not math.isnan(_value(saved.metrics.get("benchmark", {}), metric)) else
                  " Every heatmap shares one colour scale, from the lowest to the highest variant.")
        add("heatmap", "Heatmap", f"{label} over the swept values", maps,
            f"{definition}. Cells are variants; a menu chooses the values of any further swept key." + centre)
    shared = SharedDates()
    equity = {s.name: s.equity for s in saved.strategies}
    chosen = [(n, equity[n]) for n in best[:TOP_GROWTH]] + [(f"{saved.benchmark_name} (benchmark)",
                                                             saved.benchmark)]
    add("growth", "Highest" if metric in NO_BETTER else "Best",
        f"The {min(TOP_GROWTH, len(best))} {'highest' if metric in NO_BETTER else 'best by'} {label}",
        figure_fragment(F.growth_figure(chosen, len(chosen) - 1, shared=shared)),
        f"Portfolio value of the {'variants ranked first' if metric in NO_BETTER else 'best variants'} and the "
        "buy-and-hold benchmark (dashed).")
    add("variants", "Variants", "Every variant", variants_table(saved, metric),
        "Click a column heading to sort by it (again to reverse). Hover a strategy for its full name.")
    from .evidence_section import sweep_evidence

    if ev := sweep_evidence(saved):
        add("evidence", "Overfitting", "Better than luck?", ev, "The deflated Sharpe ratio and the probability "
            "of backtest overfitting of each swept strategy's variants, and a walk-forward selection "
            "(docs/evidence.md).")
    from .html import _warnings, _warnings_html

    warnings = _warnings(saved, notes=False)     # the manifest holds every variant's notes, folded
    add("warnings", f"Warnings ({len(warnings)})", "Warnings", _warnings_html(warnings))
    config_text = yaml.safe_dump(saved.config, sort_keys=False, allow_unicode=True)
    add("config", "Config", "Config as run", f'<pre class="yaml">{esc(config_text)}</pre>')
    from .html import run_page

    return run_page(saved, parts, shared, kind="sweep report", count=f"{n_var} variants", suffix=" (sweep)")
