"""The report's rotation-analytics section, from the frames of `backtest.analytics.rotation_analytics`.

``render_analytics_section(analytics)`` takes the ``{key: DataFrame}`` dict (as computed, or as read back
from ``analytics/<key>.csv``, where dates are strings and empty notes are NaN) and returns one HTML
``<section>``; parts whose frames are absent are skipped. Figures are embedded with
`page.figure_fragment` (inert JSON drawn by the page script once plotly.js has loaded; plotly's own
``to_html`` snippets would call ``Plotly`` before the page loads it) and every text goes through
`page.esc` / `page.ptext`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from .figures import _weekly, log_toggle
from .page import color, date_array, esc, f4, figure_fragment, fmt, new_figure, ptext, section, table

INDEX_LABEL = "sp500_cap"
_LEVELS = {"cap": "cap-weighted", "equal": "equal-weighted"}


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA \
        or value is pd.NaT


def _text(value: object) -> str:
    return "" if _missing(value) else str(value)


def _day(value: object) -> str:
    """A date cell: Timestamps and ISO strings (CSV round trip) both as YYYY-MM-DD."""
    if _missing(value):
        return "–"
    if isinstance(value, pd.Timestamp):
        return f"{value:%Y-%m-%d}"
    return str(value)[:10]


def _num(value: object, kind: str = "num") -> str:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return value
    return fmt(value, kind)


def _windows(analytics: dict[str, pd.DataFrame], prefix: str) -> list[str]:
    """Window labels having a ``<prefix>_<window>`` frame, in the order of the ``windows`` frame."""
    order = [str(w) for w in analytics["windows"].index] if "windows" in analytics else []
    found = [k[len(prefix) + 1:] for k in analytics if k.startswith(prefix + "_")]
    return [w for w in order if w in found] + [w for w in found if w not in order]


def _window_title(analytics: dict[str, pd.DataFrame], label: str) -> str:
    w = analytics.get("windows")
    if w is not None and label in w.index:
        row = w.loc[label]
        return f"{label.upper() if len(label) <= 4 else label}: close {_day(row['start_date'])} to close " \
               f"{_day(row['end_date'])}"
    return label


def _titled(text: str, height: int = 380, **layout) -> go.Figure:
    """A figure with a small title on top and the legend below the plot (so they never overlap)."""
    base = dict(height=height, title=dict(text=ptext(text), font=dict(size=13), x=0, xanchor="left"),
                margin=dict(l=60, r=20, t=70, b=40), legend=dict(orientation="h", yanchor="top", y=-0.1, x=0))
    base.update(layout)
    return new_figure(**base)


def _part(title: str, body: str, intro: str = "") -> str:
    return f"<h3>{esc(title)}</h3>" + (f'<p class="note">{esc(intro)}</p>' if intro else "") + body


# --- tables --------------------------------------------------------------------------------------------


def _snapshot(analytics: dict[str, pd.DataFrame]) -> str:
    out = []
    for label in _windows(analytics, "snapshot"):
        frame = analytics[f"snapshot_{label}"]
        rows = [[str(t), _day(r.get("start_date")), _num(r.get("start_price"), "ratio"),
                 _day(r.get("end_date")), _num(r.get("end_price"), "ratio"),
                 _num(r.get("total_return"), "pct_signed"), _text(r.get("note"))]
                for t, r in frame.iterrows()]
        out.append(f"<h4>{esc(_window_title(analytics, label))}</h4>" + table(
            ["Ticker", "Start close", "Start price", "End close", "End price", "Total return", "Note"], rows))
    if not out:
        return ""
    return _part("Asset-class snapshot", "".join(out),
                 "Total return from the base close (the last close before the window) to the end close, "
                 "adjusted for splits and dividends. A ticker without data keeps its row, with a note.")


#: the rebuilt index's row label: point-in-time members, share counts back-filled (docs/analytics.md)
INDEX_ROW = "S&P 500 (cap, point-in-time members, back-filled shares)"
SHARE_BASIS = ("Share counts are back-filled: a name with no earlier count uses its first later one (look-ahead; "
               "1.6-8.5% of the index's weight on every date 2018-2024, docs/analytics.md), unlike the strategies' "
               "default point-in-time counts, so a cap-weighted strategy also differs from this index by its "
               "share basis.")


def _attribution(analytics: dict[str, pd.DataFrame]) -> str:
    out = []
    for label in _windows(analytics, "attribution"):
        frame = analytics[f"attribution_{label}"]
        rows = [[str(g), _num(r.get("contribution"), "pct_signed"),
                 _num(r.get("contribution_arithmetic"), "pct_signed"), _num(r.get("share_of_total"), "pct"),
                 _num(r.get("group_return"), "pct_signed"), _num(r.get("weight_start"), "pct"),
                 _num(r.get("weight_avg"), "pct"), _num(r.get("n_names"), "count")]
                for g, r in frame.iterrows()]
        out.append(f"<h4>{esc(_window_title(analytics, label))}</h4>" + table(
            ["Group", "Contribution", "Arithmetic sum", "Share of total", "Group return", "Weight at start",
             "Average weight", "Names"], rows))
    if not out:
        return ""
    return _part("Return attribution of the cap-weighted S&P 500", "".join(out),
                 "Contribution: gain per dollar in the index at the start that came from each group (each "
                 "day's weight x return, scaled by the index's growth so far); the groups add up to the "
                 "total exactly. Arithmetic sum: the plain sum of daily weight x return; the compounding row "
                 "closes the gap to the total. " + SHARE_BASIS)


def _dispersion(analytics: dict[str, pd.DataFrame]) -> str:
    out = []
    summary = analytics.get("dispersion")
    for label in _windows(analytics, "dispersion"):
        frame = analytics[f"dispersion_{label}"].copy()
        frame["_r"] = pd.to_numeric(frame["total_return"], errors="coerce")
        frame = frame.sort_values("_r", ascending=False, na_position="last")
        rows = [[str(t), _num(r["_r"], "pct_signed"), _text(r.get("note"))] for t, r in frame.iterrows()]
        head = ""
        if summary is not None and label in summary.index:
            s = summary.loc[label]
            head = (f'<p class="note">Spread (best − worst): <b>{esc(_num(s.get("spread"), "pct"))}</b>; '
                    f'cross-sectional standard deviation: <b>{esc(_num(s.get("std"), "pct"))}</b>; best '
                    f'{esc(_text(s.get("best")))}, worst {esc(_text(s.get("worst")))}.</p>')
        out.append(f"<h4>{esc(_window_title(analytics, label))}</h4>" + head
                   + table(["Ticker", "Total return", "Note"], rows))
    if not out:
        return ""
    return _part("Dispersion of the Mag 7", "".join(out),
                 "Each member's total return over the window; the standard deviation is over these names "
                 "(population, ddof=0).")


# --- figures -------------------------------------------------------------------------------------------


def _thin(frame: pd.DataFrame, dates: pd.Series | pd.Index) -> pd.DataFrame:
    """The rows a chart draws: a daily series is drawn weekly, every WEEKLY-th row counted back from the
    last (`figures._weekly`, as the tearsheet's weekly charts), so the page stays small; monthly or sparser series are drawn
    whole. The tables and CSV files keep every row."""
    days = pd.Series(pd.to_datetime(dates)).diff().dt.days.median() if len(frame) > 1 else None
    return frame if days is None or days > 4 else _weekly(frame)


def _concentration(analytics: dict[str, pd.DataFrame]) -> str:
    frame = analytics.get("concentration")
    if frame is None or frame.empty:
        return ""
    frame = frame.reset_index() if "date" not in frame.columns else frame
    frame = frame.assign(date=pd.to_datetime(frame["date"])).sort_values("date")
    top = next((c for c in frame.columns if re.fullmatch(r"top\d+_share", str(c))), None)
    shares = [c for c in frame.columns if str(c).endswith("_share") and c != top
              and not str(c).endswith("_companies_share")]
    share_fig = _titled("Weight share")
    eff_fig = _titled("Effective number of names (1 / HHI)")
    portfolios = list(dict.fromkeys(frame["portfolio"].astype(str)))
    for i, name in enumerate(portfolios):
        part = frame.loc[frame["portfolio"].astype(str) == name]
        part = _thin(part, part["date"])
        label = INDEX_ROW if name == INDEX_LABEL else name
        for j, col in enumerate([c for c in (top, *shares) if c]):
            share_fig.add_trace(go.Scatter(
                x=date_array(part["date"]), y=f4(pd.to_numeric(part[col], errors="coerce")),
                name=ptext(f"{label}: {col.removesuffix('_share').replace('top', 'top ')}"), mode="lines",
                line=dict(color=color(i), width=1.8, dash=("solid", "dot", "dash", "dashdot")[j % 4]),
                hovertemplate="%{y:.1%}"))
        eff_fig.add_trace(go.Scatter(
            x=date_array(part["date"]), y=f4(pd.to_numeric(part["effective_n"], errors="coerce")),
            name=ptext(label), mode="lines", line=dict(color=color(i), width=1.8), hovertemplate="%{y:.1f}"))
    share_fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    eff_fig.update_yaxes(rangemode="tozero")
    for fig in (share_fig, eff_fig):
        fig.update_xaxes(type="date")
    body = f'<div class="grid2">{figure_fragment(share_fig)}{figure_fragment(eff_fig)}</div>'
    latest = frame.groupby(frame["portfolio"].astype(str), sort=False).tail(1)
    cols = [c for c in (top, f"{top.split('_')[0]}_companies_share" if top else None, *shares)
            if c and c in frame.columns]
    rows = [[INDEX_ROW if r["portfolio"] == INDEX_LABEL else str(r["portfolio"]),
             _day(r["date"]), *[_num(r[c], "pct") for c in cols], _num(r.get("hhi"), "ratio"),
             _num(r.get("effective_n"), "ratio"), _num(r.get("n_names"), "count")]
            for _, r in latest.iterrows()]
    body += table(["Portfolio", "Date", *[c.replace("_", " ") for c in cols], "HHI", "Effective N", "Names"],
                  rows)
    return _part("Concentration over time", body,
                 "Top-10 share: weight of the ten largest positions; Mag 7 share: their combined weight; "
                 "effective N = 1 / sum of squared weights. The index uses full market caps of point-in-time "
                 "members with a price and known shares (see the coverage table). " + SHARE_BASIS + " Funds (ETFs) "
                 "a strategy holds are not looked through: each counts as one security (see the notes).")


def _mag7_vs_rest(analytics: dict[str, pd.DataFrame]) -> str:
    key = next((k for k in analytics if k.endswith("_vs_rest")), None)
    if key is None:
        return ""
    frame = analytics[key].copy()
    frame.index = pd.to_datetime(frame.index)
    name = key.removesuffix("_vs_rest")
    nice = "Mag 7" if name == "mag7" else name
    levels = [(f"{name}_cap", f"{nice}, cap-weighted"), ("rest_cap", "Rest, cap-weighted"),
              ("rest_equal", "Rest, equal-weighted"), ("index_cap", "S&P 500, cap-weighted")]
    drawn = _thin(frame, frame.index)
    cum = _titled("Growth of 1", height=420, updatemenus=log_toggle())
    for i, (col, label) in enumerate(levels):
        if col in frame.columns:
            cum.add_trace(go.Scatter(x=date_array(drawn.index), y=f4(drawn[col]), name=ptext(label),
                                     mode="lines",
                                     line=dict(color=color(i), width=1.2 if col == "index_cap" else 1.8,
                                               dash="dash" if col == "index_cap" else "solid"),
                                     hovertemplate="%{y:.3f}"))
    rel = _titled(f"Rolling 12-month relative return of the {nice}", height=420)
    for i, kind in enumerate(("cap", "equal")):
        col = f"{name}_vs_rest_{kind}_12m"
        if col in frame.columns and frame[col].notna().sum() > 1:   # one point draws no line
            rel.add_trace(go.Scatter(x=date_array(drawn.index), y=f4(drawn[col]), mode="lines",
                                     name=ptext(f"vs rest, {_LEVELS[kind]}"),
                                     line=dict(color=color(i), width=1.8), hovertemplate="%{y:+.1%}"))
    rel.add_hline(y=0, line=dict(color="#868e96", width=1))
    rel.update_yaxes(tickformat="+.0%")
    for fig in (cum, rel):
        fig.update_xaxes(type="date")
    last = frame.dropna(subset=[c for c, _ in levels if c in frame.columns]).tail(1)
    summary = ""
    if len(last):
        row = last.iloc[0]
        first = frame.dropna(subset=[f"{name}_cap"]).index[0]
        summary = (f'<p class="note">From close {first:%Y-%m-%d} to close {last.index[0]:%Y-%m-%d}: '
                   + "; ".join(f"{esc(label)} {esc(fmt(row[c] - 1, 'pct_signed'))}" for c, label in levels
                               if c in frame.columns) + ".</p>")
    return _part(f"{nice} vs the rest of the S&P 500",
                 summary + f'<div class="grid2">{figure_fragment(cum)}'
                 + (figure_fragment(rel) if rel.data else
                    '<p class="intro">Rolling 12-month relative return: not shown, the analytics window holds '
                    'fewer than two 12-month windows.</p>') + '</div>',
                 "Point-in-time members only (a name counts from the day it joins the index); cap weights from "
                 "back-filled share counts (see the concentration section). Cap-weighted "
                 "baskets drift with prices daily; the equal-weighted rest is reset to equal weights "
                 "monthly. "
                 "Relative return over 12 months = (1 + group return) / (1 + rest return) − 1: above zero, "
                 "the group led.")


def _breadth(analytics: dict[str, pd.DataFrame]) -> str:
    summary = analytics.get("breadth")
    if summary is None or summary.empty:
        return ""
    labels = [str(w) for w in summary.index]
    share = pd.to_numeric(summary["share"], errors="coerce")
    fig = _titled("Share of members beating the benchmark", height=320, hovermode="closest", showlegend=False)
    fig.add_trace(go.Bar(
        x=[ptext(w) for w in labels], y=f4(share), marker_color=color(0),
        text=[ptext(f"{_num(c, 'count')} of {_num(n, 'count')}")
              for c, n in zip(summary["count"], summary["n"], strict=True)],
        textposition="outside", hovertemplate="%{y:.1%}<extra></extra>"))
    fig.add_hline(y=0.5, line=dict(color="#868e96", width=1, dash="dot"))
    fig.update_yaxes(tickformat=".0%", range=[0, 1])
    rows = [[w, _day(r.get("start_date")), _day(r.get("end_date")), _day(r.get("members_date")),
             _num(r.get("benchmark_return"), "pct_signed"), _num(r.get("count"), "count"),
             _num(r.get("n"), "count"), _num(r.get("share"), "pct"), _num(r.get("n_missing"), "count")]
            for w, (_, r) in zip(labels, summary.iterrows())]
    body = figure_fragment(fig) + table(
        ["Window", "Base close", "End close", "Members of", "Benchmark return", "Beating", "With data",
         "Share", "Without data (listed under caveats)"], rows)
    return _part("Breadth", body,
                 "Point-in-time S&P 500 members on the window's first day whose total return beat the "
                 "benchmark's. Members without a close on both dates are listed, not counted.")


def _notes(analytics: dict[str, pd.DataFrame]) -> str:
    parts = []
    notes = analytics.get("notes")
    if notes is not None and "note" in notes.columns and len(notes):
        items = "".join(f"<li>{esc(_text(n))}</li>" for n in notes["note"] if _text(n))
        parts.append(f'<ul class="warnings">{items}</ul>')
    cov = analytics.get("coverage")
    if cov is not None and len(cov):
        rows = [[_day(d), _num(r.get("n_members"), "count"), _num(r.get("n_priced"), "count"),
                 _num(r.get("n_capped"), "count"), _text(r.get("no_price")), _text(r.get("no_shares"))]
                for d, r in cov.tail(6).iterrows()]
        parts.append("<h4>Cap-weight coverage (latest dates)</h4>" + table(
            ["Date", "Members", "With price", "With price and shares", "No price", "No shares"], rows))
    return _part("Data caveats", "".join(parts)) if parts else ""


def render_analytics_section(analytics: dict[str, pd.DataFrame], *, anchor: str = "rotation") -> str:
    """One HTML ``<section>`` with the rotation analytics: snapshot, concentration, Mag 7 vs the rest,
    attribution, dispersion, breadth and the data caveats. ``""`` when none of those frames is present."""
    parts: Sequence[str] = [
        _snapshot(analytics), _concentration(analytics), _mag7_vs_rest(analytics), _attribution(analytics),
        _dispersion(analytics), _breadth(analytics), _notes(analytics),
    ]
    body = "".join(p for p in parts if p)
    if not body:
        return ""
    return section(anchor, "Rotation analytics", body,
                   intro="Is mega-cap concentration unwinding? Each table is also saved as "
                         "analytics/<name>.csv in the run folder; docs/analytics.md explains each figure.")
