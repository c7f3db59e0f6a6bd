"""The tearsheet parts of the run report that a quant looks at first (no I/O): performance relative to the
benchmark, calendar-year returns with numbers, the distribution of returns against a normal fit, the
current holdings and sector weights, and the trading per rebalance.

Series are passed as ``[(label, series), ...]`` with the benchmark at position ``bench`` (see figures.py).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .. import metrics as M
from ..analytics.evidence import NO_SECTOR
from .figures import Labelled, _line_style, _selector, _weekly
from .page import BENCHMARK_COLOR, SharedDates, color, esc, f4, fmt, new_figure, ptext, table, xcoords

DAILY_BINS = 60
MONTHLY_BINS = 24
TOP_NOW = 15  # rows of the current-holdings table


def rebased(values: pd.Series) -> pd.Series:
    """The value series as growth of 1 from its first date."""
    return values / values.iloc[0]


def relative_series(values: Labelled, bench: int) -> tuple[Labelled, Labelled]:
    """(cumulative excess, growth ratio) of each strategy against the benchmark at ``bench``.

    Cumulative excess on date t: ``V[t]/V[0] - B[t]/B[0]`` (strategy's cumulative return minus the
    benchmark's, in return points); growth ratio: ``(V[t]/V[0]) / (B[t]/B[0])`` (1 = level with the
    benchmark; rising = outperforming since the start).
    """
    b = rebased(values[bench][1])
    excess, ratio = [], []
    for i, (label, v) in enumerate(values):
        if i == bench:
            continue
        g = rebased(v).reindex(b.index)
        excess.append((label, g - b))
        ratio.append((label, g / b))
    return excess, ratio


def relative_figures(values: Labelled, bench: int, *, shared: SharedDates | None = None
                     ) -> list[tuple[str, go.Figure]]:
    """Two line charts, drawn weekly (every 5th trading day and the last): cumulative excess return and the
    ratio of growth, one line per strategy, a zero (one) line for the benchmark."""
    excess, ratio = relative_series(values, bench)
    out = []
    for title, rows, tick, level in (("Cumulative return minus the benchmark's", excess, ".0%", 0.0),
                                     ("Growth relative to the benchmark (ratio)", ratio, ".2f", 1.0)):
        fig = new_figure(height=320, margin=dict(l=60, r=15, t=60, b=30),
                         title=dict(text=ptext(title), font=dict(size=13), x=0, xanchor="left"),
                         legend=dict(orientation="h", yanchor="top", y=-0.1, x=0, font=dict(size=11)))
        for i, (label, s) in enumerate(rows):
            w = _weekly(s)
            fig.add_trace(go.Scatter(**xcoords(w.index, shared), y=f4(w.to_numpy()), name=ptext(label),
                                     mode="lines", line=_line_style(i, False),
                                     hovertemplate=f"%{{y:{tick}}}"))
        fig.add_hline(y=level, line=dict(color=BENCHMARK_COLOR, width=1, dash="dash"))
        fig.update_yaxes(tickformat=tick)
        fig.update_xaxes(type="date")
        out.append((title, fig))
    return out


def annual_table(returns: Labelled, bench: int) -> str:
    """Calendar-year returns, one row per year, one column per series (benchmark last). The series start at
    the run's base close, which opens the first year (`metrics.period_returns` with ``from_base``); partial
    years (`metrics.partial_years`: the first unless the base is a close of the year before, the last unless
    the series reaches the year's last business day) are marked with the dates they cover."""
    years = {label: M.annual_returns(r, from_base=True) for label, r in returns}
    index = sorted({y for s in years.values() for y in s.index})
    partial = set().union(*(M.partial_years(r) for _, r in returns))
    first = min((r.index[1] for _, r in returns if len(r) > 1), default=None)
    base = min((r.index[0] for _, r in returns if len(r) > 1), default=None)   # the first year's return is from it
    last = max((r.index[-1] for _, r in returns if len(r)), default=None)
    rows = []
    for y in index:
        label = str(y)
        if first is not None and y == first.year and y in partial:
            label += f" (from {base:%d %b} close)"
        if last is not None and y == last.year and y in partial and last < pd.offsets.BYearEnd().rollforward(last):
            label += f" (to {last:%d %b})"
        cells = []
        for i, (lab, _) in enumerate(returns):
            v = years[lab].get(y, math.nan)
            neg = " neg" if not math.isnan(v) and v < 0 else ""
            cells.append(f'<td class="num{neg}{" bench" if i == bench else ""}">{esc(fmt(v, "pct"))}</td>')
        rows.append(f'<tr><td class="label">{esc(label)}</td>{"".join(cells)}</tr>')
    head = "<tr><th>Year</th>" + "".join(f'<th class="num{" bench" if i == bench else ""}">{esc(lab)}</th>'
                                         for i, (lab, _) in enumerate(returns)) + "</tr>"
    return (f'<div class="tbl-wrap"><table class="tbl metrics annual"><thead>{head}</thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def histogram_counts(returns: pd.Series, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bin edges, observed counts, counts expected under a normal with the sample mean and std)."""
    r = returns.dropna().to_numpy(dtype=float)
    if len(r) < 2 or np.ptp(r) == 0:
        return np.array([]), np.array([]), np.array([])
    edges = np.histogram_bin_edges(r, bins=bins)
    counts, _ = np.histogram(r, bins=edges)
    sd = float(np.std(r, ddof=1))
    dist = NormalDist(float(np.mean(r)), sd)
    cdf = np.array([dist.cdf(e) for e in edges])
    return edges, counts, len(r) * np.diff(cdf)


def histogram_figure(returns: Labelled, *, freq: str) -> go.Figure:
    """Distribution of daily (``freq="D"``) or calendar-month (``"M"``) returns: observed counts per bin
    (bars) and the counts a normal distribution with the same mean and standard deviation predicts (line);
    a menu chooses the series."""
    monthly = freq == "M"
    fig = new_figure(height=340, hovermode="x", bargap=0.03, margin=dict(l=55, r=20, t=56, b=40))
    groups = []
    for g, (label, r) in enumerate(returns):
        data = M.period_returns(r, "M", from_base=True) if monthly else r.dropna().iloc[1:]  # not the base day
        edges, counts, normal = histogram_counts(data, MONTHLY_BINS if monthly else DAILY_BINS)
        if not len(edges):
            continue
        mids = (edges[:-1] + edges[1:]) / 2
        fig.add_trace(go.Bar(x=f4(mids), y=counts.astype(int), width=float(edges[1] - edges[0]),
                             name=ptext(f"{label}: observed"), visible=g == 0, marker_color=color(g),
                             hovertemplate="%{x:.2%}: %{y} " + ("months" if monthly else "days")
                             + "<extra></extra>"))
        fig.add_trace(go.Scatter(x=f4(mids), y=f4(normal), name=ptext(f"{label}: normal fit"), mode="lines",
                                 visible=g == 0, line=dict(color=BENCHMARK_COLOR, width=1.5, dash="dot"),
                                 hovertemplate="normal: %{y:.1f}<extra></extra>"))
        groups += [g, g]
    fig.update_layout(updatemenus=_selector([lab for lab, _ in returns], groups))
    fig.update_xaxes(tickformat=".0%" if monthly else ".1%", title_text="Monthly return" if monthly
                     else "Daily return")
    fig.update_yaxes(title_text="Months" if monthly else "Days")
    return fig


def sector_of(sectors: pd.Series | None, ticker: str) -> str:
    if sectors is None:
        return "–"
    value = sectors.get(ticker)
    return NO_SECTOR if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def holdings_now_table(held: list[tuple[str, pd.DataFrame]], sectors: pd.Series | None) -> str:
    """The weights held on the last date, largest first (TOP_NOW rows per strategy), with sectors."""
    parts = []
    for label, frame in held:
        last = frame.iloc[-1].fillna(0.0)
        last = last[last > 0].sort_values(ascending=False, kind="stable")
        rows = [[t, sector_of(sectors, t), fmt(w, "pct")] for t, w in last.head(TOP_NOW).items()]
        rest = last.iloc[TOP_NOW:]
        if len(rest):
            rows.append([f"{len(rest)} others", "", fmt(rest.sum(), "pct")])
        cash = 1.0 - float(frame.iloc[-1].fillna(0.0).sum())
        if abs(cash) > 1e-4:
            rows.append(["Cash", "", fmt(cash, "pct")])
        parts.append(f'<div><h3>{esc(label)} <span class="note">on {frame.index[-1]:%Y-%m-%d}, '
                     f'{len(last)} names</span></h3>'
                     + table(["Ticker", "Sector", "Weight"], rows, css_class="tbl holdings") + "</div>")
    return f'<div class="cards">{"".join(parts)}</div>'


def sector_weights(frame: pd.DataFrame, sectors: pd.Series) -> pd.DataFrame:
    """Held weights summed by sector (date x sector, `NO_SECTOR` for tickers without one, as the
    evidence's attribution names them), sectors ordered by
    their average weight, largest first."""
    names = [sector_of(sectors, t) for t in frame.columns]
    out = frame.fillna(0.0).T.groupby(names).sum().T
    return out[out.mean().sort_values(ascending=False, kind="stable").index]


def sector_figure(held: list[tuple[str, pd.DataFrame]], sectors: pd.Series, *,
                  shared: SharedDates | None = None) -> go.Figure:
    """Stacked month-end sector weights per strategy; a menu chooses the strategy."""
    fig = new_figure(height=420, hovermode="x unified", margin=dict(l=55, r=20, t=56, b=40),
                     legend=dict(orientation="v", x=1.02, xanchor="left", y=1, yanchor="top",
                                 font=dict(size=11), traceorder="reversed"))
    groups = []
    order: dict[str, int] = {}
    for g, (_, frame) in enumerate(held):
        by_sector = sector_weights(frame, sectors)
        for col in by_sector.columns:
            k = order.setdefault(col, len(order))
            fig.add_trace(go.Scatter(**xcoords(by_sector.index, shared), y=f4(by_sector[col].to_numpy()),
                                     name=ptext(col), stackgroup=f"s{g}", mode="lines", visible=g == 0,
                                     line=dict(width=0.5, color="#adb5bd" if col == NO_SECTOR else color(k)),
                                     hovertemplate="%{y:.1%}"))
            groups.append(g)
    fig.update_layout(updatemenus=_selector([lab for lab, _ in held], groups))
    fig.update_yaxes(tickformat=".0%", range=[0, 1.0], title_text="Weight")
    fig.update_xaxes(type="date")
    return fig


def rebalance_activity(turnover: pd.Series, trades: pd.DataFrame) -> pd.DataFrame:
    """Per rebalance date: one-sided turnover (fraction of value), number of orders, buys, sells, value
    traded and fees (currency). Dates are those of the turnover series and of the orders."""
    t = trades.copy()
    if len(t):
        t["date"] = pd.to_datetime(t["date"])
        grouped = t.groupby("date")
        orders = pd.DataFrame({"orders": grouped.size(),
                               "buys": t["side"].eq("buy").groupby(t["date"]).sum(),
                               "sells": t["side"].eq("sell").groupby(t["date"]).sum(),
                               "traded": grouped["value"].sum(), "fees": grouped["fees"].sum()})
    else:
        orders = pd.DataFrame(columns=["orders", "buys", "sells", "traded", "fees"], dtype=float)
    out = pd.concat([turnover.rename("turnover"), orders], axis=1).sort_index()
    out[["orders", "buys", "sells"]] = out[["orders", "buys", "sells"]].fillna(0).astype(int)
    out.index.name = "date"
    return out


SMALL_COUNTS = 8    # up to this many orders a day, the orders axis ticks at every whole number


def trading_figure(activity: list[tuple[str, pd.DataFrame]]) -> go.Figure:
    """Turnover per rebalance (bars, left axis) and the number of orders (markers, right axis); a menu
    chooses the strategy."""
    fig = new_figure(height=360, hovermode="x unified", margin=dict(l=55, r=55, t=56, b=40),
                     yaxis2=dict(overlaying="y", side="right", title=dict(text="Orders"), showgrid=False,
                                 rangemode="tozero", tickformat=",d", tickmode="auto"))
    groups = []
    for g, (label, frame) in enumerate(activity):
        x = frame.index.strftime("%Y-%m-%d").tolist()
        fig.add_trace(go.Bar(x=x, y=f4(frame["turnover"].fillna(0.0)), name=ptext(f"{label}: turnover"),
                             marker_color=color(g), visible=g == 0, hovertemplate="%{y:.1%}"))
        fig.add_trace(go.Scatter(x=x, y=frame["orders"].to_numpy(), name=ptext(f"{label}: orders"),
                                 mode="markers", yaxis="y2", visible=g == 0,
                                 marker=dict(color=BENCHMARK_COLOR, size=5), hovertemplate="%{y} orders"))
        groups += [g, g]
    most = max((float(frame["orders"].max()) for _, frame in activity if len(frame)), default=0.0)
    if most <= SMALL_COUNTS:        # auto ticks at 0.5 steps print "0, 1, 1, 2, 2" as whole numbers
        fig.update_layout(yaxis2=dict(tickmode="linear", tick0=0, dtick=1))
    fig.update_layout(updatemenus=_selector([lab for lab, _ in activity], groups))
    fig.update_layout(yaxis=dict(tickformat=".0%", title_text="Turnover", rangemode="tozero"),
                      legend=dict(orientation="h", yanchor="top", y=-0.12, x=0))
    fig.update_xaxes(type="date")
    return fig
