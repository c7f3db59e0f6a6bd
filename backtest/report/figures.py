"""The report's plotly figures, built from value and return series (no I/O).

Series are passed as ``[(label, series), ...]`` with the benchmark last and flagged, so every figure
colours a strategy the same way. Labels are plain text; they are escaped here for plotly.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from .. import metrics as M
from .page import BENCHMARK_COLOR, SharedDates, color, column_kind, f4, new_figure, ptext, words, xcoords

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
WEEKLY = 5  # rolling statistics are drawn on every 5th trading day (and the last)
TOP_HOLDINGS = 10
RED_GREEN = [[0, "#c92a2a"], [0.5, "#f8f9fa"], [1, "#2b8a3e"]]

Labelled = list[tuple[str, pd.Series]]


def _line_style(i: int, is_bench: bool) -> dict:
    if is_bench:
        return dict(color=BENCHMARK_COLOR, width=1.6, dash="dash")
    return dict(color=color(i), width=1.8)


def _traces(fig: go.Figure, series: Labelled, bench: int | None, *, shared: SharedDates | None,
            hover: str) -> None:
    for i, (label, s) in enumerate(series):
        fig.add_trace(go.Scatter(**xcoords(s.index, shared), y=f4(s.to_numpy()), name=ptext(label),
                                 mode="lines", line=_line_style(i, i == bench), hovertemplate=hover))


LOG_YEARS = 5.0  # growth charts of runs at least this long open on a log scale
LOG_STEPS = ((1,), (1, 3), (1, 2, 5), (1, 1.5, 2, 3, 5, 7), (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8))
MIN_TICK_PX = 28  # log-axis tick labels at least this far apart


def _tick_label(v: float, yformat: str) -> str:
    if yformat != ",.0f":
        return f"{v:.4g}" if v < 1000 else f"{v:,.0f}"
    for div, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.4g}{unit}"
    return f"{v:.4g}"


def log_ticks(low: float, high: float, *, plot_px: float = 300.0, yformat: str = ",.0f") -> dict:
    """Tick values and labels for a log axis from ``low`` to ``high``: the finest of the 1-3-10, 1-2-5, ...
    mantissa sets whose neighbouring labels are at least MIN_TICK_PX apart on a ``plot_px`` high axis (so
    labels never overlap; plotly's own log ticks label 2..9 of a short decade on top of each other)."""
    if not (low > 0 and high > low and math.isfinite(high)):
        return {}
    lo, hi = math.log10(low), math.log10(high)
    px_per_decade = plot_px / max(hi - lo, 1e-9)
    chosen = LOG_STEPS[0]
    for steps in LOG_STEPS:
        gaps = [math.log10(b / a) for a, b in zip(steps, (*steps[1:], 10), strict=True)]
        if min(gaps) * px_per_decade >= MIN_TICK_PX:
            chosen = steps
    vals = [m * 10 ** e for e in range(math.floor(lo) - 1, math.ceil(hi) + 1) for m in chosen]
    vals = [v for v in vals if low / 1.05 <= v <= high * 1.05]
    if len(vals) < 2:  # less than a factor ~1.2: evenly spaced round values (nearly linear at this scale)
        raw = (high - low) / 4
        step = min((m * 10 ** math.floor(math.log10(raw)) for m in (1, 2, 5, 10)
                    if m * 10 ** math.floor(math.log10(raw)) >= raw), default=raw)
        vals = [k * step for k in range(math.ceil(low / step), math.floor(high / step) + 1)]
        if len(vals) < 2:
            return {}
    return {"tickmode": "array", "tickvals": vals, "ticktext": [_tick_label(v, yformat) for v in vals]}


def log_toggle(axis: str = "yaxis", ticks: dict | None = None, *, active: int = 0) -> list[dict]:
    """An updatemenus entry with Linear / Log buttons for ``axis``; ``ticks`` (see `log_ticks`) are the
    log axis's fixed ticks. ``active``: 0 Linear, 1 Log."""
    log = {f"{axis}.type": "log", **{f"{axis}.{k}": v for k, v in (ticks or {}).items()}}
    linear = {f"{axis}.type": "linear", f"{axis}.tickmode": "auto"}
    return [dict(type="buttons", direction="left", x=1.0, xanchor="right", y=1.12, yanchor="bottom",
                 showactive=True, active=active, bgcolor="#f8f9fa", bordercolor="#ced4da", font=dict(size=11),
                 buttons=[dict(label="Linear", method="relayout", args=[linear]),
                          dict(label="Log", method="relayout", args=[log])])]


RANGE_BUTTONS = dict(buttons=[dict(count=1, label="1y", step="year", stepmode="backward"),
                              dict(count=3, label="3y", step="year", stepmode="backward"),
                              dict(count=5, label="5y", step="year", stepmode="backward"),
                              dict(step="all", label="All")],
                     x=0, y=1.12, yanchor="bottom", font=dict(size=11), bgcolor="#f8f9fa")


def growth_figure(values: Labelled, bench: int | None, *, shared: SharedDates | None = None,
                  title: str = "Portfolio value", yformat: str = ",.0f",
                  log: bool | None = None, further: Labelled = ()) -> go.Figure:
    """Value curves (strategies, benchmark dashed, ``further`` benchmarks dotted) with a Linear/Log toggle and
    range buttons. ``log``: open on the log scale (default: when the series span LOG_YEARS or more)."""
    finite = [s[s > 0].dropna() for _, s in (*values, *further)]
    low = min((float(s.min()) for s in finite if len(s)), default=math.nan)
    high = max((float(s.max()) for s in finite if len(s)), default=math.nan)
    span = max(((s.index[-1] - s.index[0]).days / M.DAYS_PER_YEAR for _, s in values if len(s)), default=0.0)
    log = span >= LOG_YEARS if log is None else log
    height = 440
    ticks = log_ticks(low, high, plot_px=height - 150, yformat=yformat)
    fig = new_figure(height=height, updatemenus=log_toggle(ticks=ticks, active=1 if log else 0),
                     margin=dict(l=70, r=20, t=80, b=40),
                     legend=dict(orientation="h", yanchor="top", y=-0.08, x=0))
    _traces(fig, values, bench, shared=shared, hover=f"%{{y:{yformat}}}")
    for k, (label, s) in enumerate(further):
        fig.add_trace(go.Scatter(**xcoords(s.index, shared), y=f4(s.to_numpy()), name=ptext(label), mode="lines",
                                 line=dict(color=BENCHMARK_COLOR, width=1.4, dash=("dot", "dashdot")[k % 2]),
                                 hovertemplate=f"%{{y:{yformat}}}"))
    fig.update_xaxes(rangeselector=RANGE_BUTTONS, type="date")
    fig.update_yaxes(tickformat=yformat if yformat != ",.0f" else "~s", title_text=ptext(title))
    if log:
        fig.update_yaxes(type="log", **ticks)
    return fig


def drawdown_figure(returns: Labelled, bench: int | None, *, shared: SharedDates | None = None) -> go.Figure:
    """Underwater curves: the fall from the running peak, in percent. With more than one strategy a menu
    shows all of them or one at a time (with the benchmark)."""
    fig = new_figure(height=340)
    _traces(fig, [(lab, M.drawdown(r)) for lab, r in returns], bench, shared=shared, hover="%{y:.1%}")
    fig.update_yaxes(tickformat=".0%", title_text="Drawdown")
    fig.update_xaxes(type="date")
    strategies = [i for i in range(len(returns)) if i != bench]
    if len(strategies) > 1:
        buttons = [dict(label="All strategies", method="restyle", args=[{"visible": [True] * len(returns)}])]
        for i in strategies:
            buttons.append(dict(label=ptext(returns[i][0]), method="restyle",
                                args=[{"visible": [j in (i, bench) for j in range(len(returns))]}]))
        fig.update_layout(margin=dict(l=60, r=20, t=70, b=40), legend=dict(y=1.0, yanchor="bottom"),
                          updatemenus=[dict(type="dropdown", buttons=buttons, x=1.0, xanchor="right", y=1.12,
                                            yanchor="bottom", showactive=True, bgcolor="#f8f9fa",
                                            bordercolor="#ced4da", font=dict(size=12))])
    return fig


def _weekly(s: pd.Series) -> pd.Series:
    if len(s) <= 1:
        return s
    picks = list(range(len(s) - 1, -1, -WEEKLY))[::-1]
    return s.iloc[picks]


def rolling_figures(returns: Labelled, bench: int | None, risk_free: pd.Series | None,
                    *, shared: SharedDates | None = None) -> list[tuple[str, go.Figure]]:
    """Rolling 12-month return, volatility, Sharpe and beta (vs the benchmark, strategies only)."""
    out = []
    specs = [("Rolling 12-month return", lambda r: M.rolling_return(r), ".0%", True),
             ("Rolling 12-month volatility", lambda r: M.rolling_volatility(r), ".0%", True),
             ("Rolling 12-month Sharpe ratio", lambda r: M.rolling_sharpe(r, risk_free=risk_free), ".2f",
              True)]
    if bench is not None:
        bench_r = returns[bench][1]
        specs.append(("Rolling 12-month beta vs benchmark",
                      lambda r: M.rolling_beta(r, bench_r, risk_free=risk_free), ".2f", False))
    for title, fn, tick, with_bench in specs:
        fig = new_figure(height=300, margin=dict(l=55, r=15, t=60, b=30),
                         title=dict(text=ptext(title), font=dict(size=13), x=0, xanchor="left"),
                         legend=dict(orientation="h", yanchor="top", y=-0.1, x=0, font=dict(size=11)))
        rows = [(lab, _weekly(fn(r))) for i, (lab, r) in enumerate(returns) if with_bench or i != bench]
        _traces(fig, rows, bench if with_bench else None, shared=shared, hover=f"%{{y:{tick}}}")
        fig.update_yaxes(tickformat=tick)
        fig.update_xaxes(type="date")
        out.append((title, fig))
    return out


def calendar_figure(returns: Labelled, bench: int | None) -> go.Figure:
    """Calendar-year returns, grouped bars; a first or last year the run covers only in part is labelled
    "(partial)"."""
    fig = new_figure(height=360, barmode="group", bargap=0.25, bargroupgap=0.05, hovermode="x")
    for i, (label, r) in enumerate(returns):
        years = M.annual_returns(r, from_base=True)
        partial = M.partial_years(r)
        fig.add_trace(go.Bar(x=[f"{y} (partial)" if y in partial else str(y) for y in years.index],
                             y=f4(years.to_numpy()), name=ptext(label),
                             marker_color=BENCHMARK_COLOR if i == bench else color(i),
                             hovertemplate="%{x}: %{y:.1%}"))
    fig.update_yaxes(tickformat=".0%", title_text="Return")
    fig.update_xaxes(type="category")
    return fig


def _selector(labels: list[str], trace_groups: list[int], *, y: float = 1.04) -> list[dict]:
    """A dropdown showing one group of traces at a time; ``trace_groups[k]`` is the group of trace k."""
    buttons = []
    for g, label in enumerate(labels):
        visible = [tg == g for tg in trace_groups]
        buttons.append(dict(label=ptext(label), method="restyle", args=[{"visible": visible}]))
    return [dict(type="dropdown", buttons=buttons, x=0, xanchor="left", y=y, yanchor="bottom",
                 showactive=True, bgcolor="#f8f9fa", bordercolor="#ced4da", font=dict(size=12))]


def monthly_heatmap(returns: Labelled) -> go.Figure:
    """Monthly returns, year x month, and each year's compounded total in a last column (its own colour
    scale, since a year moves more than a month); one series at a time, a dropdown chooses it."""
    fig = new_figure(hovermode="closest", margin=dict(l=50, r=20, t=56, b=30),
                     coloraxis=dict(colorscale=RED_GREEN, cmid=0, colorbar=dict(tickformat=".0%", len=0.9,
                                                                                title=dict(text="Month"))),
                     coloraxis2=dict(colorscale=RED_GREEN, cmid=0, showscale=False))
    n_years = 1
    groups = []
    for g, (label, r) in enumerate(returns):
        table = M.monthly_returns_table(r, from_base=True)
        years = M.annual_returns(r, from_base=True).reindex(table.index)
        n_years = max(n_years, len(table))
        z = [[None if pd.isna(v) else round(float(v), 6) for v in row] for row in table.to_numpy()]
        ys = [str(y) for y in table.index]
        fig.add_trace(go.Heatmap(
            z=z, x=list(MONTHS), y=ys, visible=g == 0, name=ptext(label), coloraxis="coloraxis",
            texttemplate="%{z:.1%}", textfont=dict(size=10), xgap=2, ygap=2,
            hovertemplate="%{y} %{x}: %{z:.2%}<extra></extra>"))
        fig.add_trace(go.Heatmap(
            z=[[None if pd.isna(v) else round(float(v), 6)] for v in years.to_numpy()], x=["Year"], y=ys,
            visible=g == 0, name=ptext(f"{label}: year"), coloraxis="coloraxis2", xaxis="x2",
            texttemplate="<b>%{z:.1%}</b>", textfont=dict(size=10), xgap=2, ygap=2,
            hovertemplate="%{y}, whole year: %{z:.2%}<extra></extra>"))
        groups += [g, g]
    fig.update_layout(height=max(280, 110 + 28 * n_years),
                      updatemenus=_selector([lab for lab, _ in returns], groups))
    fig.update_layout(xaxis=dict(domain=[0, 0.86], showgrid=False, type="category"),
                      xaxis2=dict(domain=[0.875, 0.94], showgrid=False, type="category", anchor="y"))
    fig.update_yaxes(autorange="reversed", type="category", showgrid=False)
    return fig


def top_weights(holdings: pd.DataFrame, n: int = TOP_HOLDINGS) -> pd.DataFrame:
    """Holdings reduced to the ``n`` names with the highest average weight, ``Rest`` and ``Cash``
    (1 - sum of weights, shown only when it ever exceeds 0.1%)."""
    h = holdings.fillna(0.0)
    top = h.mean().sort_values(ascending=False, kind="stable").index[:n]
    out = h[top].copy()
    out["Rest"] = h.drop(columns=top).sum(axis=1)
    cash = 1.0 - h.sum(axis=1)
    if (cash > 1e-3).any():
        out["Cash"] = cash.clip(lower=0.0)
    return out


def weights_figure(holdings: list[tuple[str, pd.DataFrame]], *,
                   shared: SharedDates | None = None) -> go.Figure:
    """Stacked areas of the top holdings per strategy (month-end sample); a dropdown chooses the strategy."""
    fig = new_figure(height=440, hovermode="x unified", margin=dict(l=55, r=20, t=56, b=40),
                     legend=dict(orientation="v", x=1.02, xanchor="left", y=1, yanchor="top",
                                 font=dict(size=11), traceorder="reversed"))
    groups = []
    for g, (label, frame) in enumerate(holdings):
        top = top_weights(frame)
        for j, col in enumerate(top.columns):
            grey = {"Rest": "#adb5bd", "Cash": "#dee2e6"}.get(col)
            fig.add_trace(go.Scatter(
                **xcoords(top.index, shared), y=f4(top[col].to_numpy()), name=ptext(col), stackgroup=f"s{g}",
                mode="lines", line=dict(width=0.5, color=grey or color(j)), visible=g == 0,
                hovertemplate="%{y:.1%}"))
            groups.append(g)
    fig.update_layout(updatemenus=_selector([lab for lab, _ in holdings], groups))
    fig.update_yaxes(tickformat=".0%", range=[0, 1.0], title_text="Weight")
    fig.update_xaxes(type="date")
    return fig


def line_figure(frame: pd.DataFrame, *, shared: SharedDates | None = None) -> go.Figure:
    """Numeric columns (at most 20) of a date-indexed table as lines (generic analytics tables), named in
    words. Fractions (`page.column_kind`: shares, weights, turnover) beside counts go on a second axis in %:
    on the counts' axis (0-500 names) an 8.9% weight was a flat line at zero."""
    numeric = frame.select_dtypes("number")
    cols = list(numeric.columns[:20])
    pct = [c for c in cols if column_kind(c) == "pct"]
    split = bool(pct) and len(pct) < len(cols)
    fig = new_figure(height=320, margin=dict(l=55, r=55 if split else 20, t=40, b=30))
    for i, col in enumerate(cols):
        right = split and col in pct
        fig.add_trace(go.Scatter(**xcoords(numeric.index, shared), y=f4(numeric[col].to_numpy()),
                                 name=ptext(words(col) + (" (right, %)" if right else "")), mode="lines",
                                 line=dict(color=color(i), width=1.5, dash="dot" if right else None),
                                 yaxis="y2" if right else None,
                                 hovertemplate="%{y:.2%}" if col in pct else None))
    if split:
        fig.update_layout(yaxis2=dict(overlaying="y", side="right", tickformat=".1%", showgrid=False,
                                      rangemode="tozero", tickmode="auto"))   # not plotly.js' "sync"
    elif pct:
        fig.update_yaxes(tickformat=".1%")
    fig.update_xaxes(type="date")
    return fig
