"""A run as a notebook cell shows it (`backtest.api.Result._repr_html_`) and as `bt run` prints it: the
headline table and, in HTML, a small growth chart drawn as inline SVG (no JavaScript, so it also shows in
static notebook viewers). Pure: values in, text out."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .figures import LOG_YEARS
from .page import BENCHMARK_COLOR, color, esc, fmt, visible

HEADLINE = (("cagr", "CAGR", "pct"), ("volatility", "Volatility", "pct"), ("sharpe", "Sharpe", "ratio"),
            ("max_drawdown", "Max drawdown", "pct"), ("excess_return", "Excess return", "pct_signed"))


def metrics_frame(metrics: dict, names: list[str], bench: str) -> pd.DataFrame:
    """metrics.json content as a DataFrame: one row per strategy in ``names`` order, then the benchmark
    (labelled ``bench``); one column per metric key; JSON null as NaN."""
    rows = {n: metrics.get("strategies", {}).get(n, {}) for n in names}
    rows[bench] = metrics.get("benchmark", {})
    frame = pd.DataFrame.from_dict(rows, orient="index").map(lambda v: math.nan if v is None else v)
    frame.index.name = "series"
    return frame.infer_objects()


def headline_rows(metrics: pd.DataFrame) -> list[list[str]]:
    """[name, CAGR, volatility, Sharpe, max drawdown, excess return] formatted, one row per series."""
    rows = []
    for name, m in metrics.iterrows():
        rows.append([str(name)] + [fmt(m.get(key), kind) for key, _, kind in HEADLINE])
    return rows


def headline_text(metrics: pd.DataFrame, *, width: int = 100) -> str:
    """The headline table as aligned plain text for a terminal (names never cut: a long name gets a line of
    its own, its numbers on the next)."""
    heads = [label for _, label, _ in HEADLINE]
    rows = headline_rows(metrics)
    cell = max(len(h) for h in heads) + 2
    names = [visible(r[0]).replace("\n", " ") for r in rows]
    name_w = min(max([len(n) for n in names] + [8]), max(12, width - cell * len(heads)))
    lines = [" " * name_w + "".join(f"{h:>{cell}}" for h in heads)]
    for name, row in zip(names, rows, strict=True):
        numbers = "".join(f"{v.replace('−', '-'):>{cell}}" for v in row[1:])
        if len(name) > name_w:
            lines += [name, " " * name_w + numbers]
        else:
            lines.append(f"{name:<{name_w}}{numbers}")
    return "\n".join(lines)


def _svg_growth(equity: pd.DataFrame, bench: str | None, *, width: int = 640, height: int = 240) -> str:
    """Growth of each column (rebased to 1), a polyline per series, log scale when LOG_YEARS or longer."""
    data = equity.dropna(how="all")
    if len(data) < 2:
        return ""
    rebased = data / data.ffill().bfill().iloc[0]
    years = (data.index[-1] - data.index[0]).days / 365.25
    log = years >= LOG_YEARS
    values = rebased.to_numpy(dtype=float)
    finite = values[np.isfinite(values) & (values > 0)]
    if not len(finite):
        return ""
    lo, hi = float(finite.min()), float(finite.max())
    f = (lambda v: math.log(v)) if log else (lambda v: v)
    ylo, yhi = f(lo), f(hi) if hi > lo else f(lo) + 1
    pad_l, pad_r, pad_t, pad_b = 44, 8, 8, 22
    xs = np.linspace(pad_l, width - pad_r, len(data))
    step = max(1, len(data) // 400)  # at most ~400 points per line
    parts = []
    for j, col in enumerate(rebased.columns):
        pts = []
        for i in range(0, len(data), step) if step > 1 else range(len(data)):
            v = values[i, j]
            if np.isfinite(v) and v > 0:
                y = pad_t + (yhi - f(v)) / (yhi - ylo) * (height - pad_t - pad_b)
                pts.append(f"{xs[i]:.1f},{y:.1f}")
        is_bench = col == bench
        style = (f'stroke="{BENCHMARK_COLOR}" stroke-dasharray="5,3"' if is_bench else f'stroke="{color(j)}"')
        parts.append(f'<polyline fill="none" stroke-width="1.5" {style} points="{" ".join(pts)}">'
                     f"<title>{esc(col)}</title></polyline>")
    labels = (f'<text x="2" y="{pad_t + 10}" font-size="10">{hi:.2f}</text>'
              f'<text x="2" y="{height - pad_b}" font-size="10">{lo:.2f}</text>'
              f'<text x="{pad_l}" y="{height - 6}" font-size="10">{data.index[0]:%Y-%m-%d}</text>'
              f'<text x="{width - pad_r}" y="{height - 6}" font-size="10" text-anchor="end">'
              f"{data.index[-1]:%Y-%m-%d}</text>")
    scale = "log scale" if log else "linear scale"
    legend = "".join(
        f'<span style="margin-right:12px"><span style="display:inline-block;width:14px;height:3px;'
        f'vertical-align:middle;background:{BENCHMARK_COLOR if c == bench else color(j)}"></span> '
        f"{esc(c)}</span>"
        for j, c in enumerate(rebased.columns))
    return (f'<div style="font-size:12px;color:#495057">Growth of 1 ({scale})</div>'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'style="font-family:sans-serif;fill:#495057">'
            f'<rect x="{pad_l}" y="{pad_t}" width="{width - pad_l - pad_r}" '
            f'height="{height - pad_t - pad_b}" '
            f'fill="none" stroke="#dee2e6"/>{labels}{"".join(parts)}</svg>'
            f'<div style="font-size:12px">{legend}</div>')


def result_html(*, name: str, period: str, metrics: pd.DataFrame, equity: pd.DataFrame, bench: str | None,
                warnings: int, path: str | None) -> str:
    """The notebook view of a run: title, headline table, growth chart, warning count and folder."""
    heads = "".join(f"<th>{esc(label)}</th>" for _, label, _ in HEADLINE)
    body = "".join("<tr>" + f'<td style="text-align:left">{esc(r[0])}</td>'
                   + "".join(f"<td>{esc(v)}</td>" for v in r[1:]) + "</tr>" for r in headline_rows(metrics))
    where = f" · {esc(path)}" if path else " · in memory (result.save(folder) writes a run folder)"
    return (f'<div class="bt-result"><b>{esc(name)}</b> <span style="color:#6c757d">{esc(period)} · '
            f"{warnings} warning{'s' if warnings != 1 else ''}{where}</span>"
            f'<table><thead><tr><th style="text-align:left">Series</th>{heads}</tr></thead>'
            f"<tbody>{body}</tbody></table>{_svg_growth(equity, bench)}</div>")
