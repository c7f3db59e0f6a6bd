"""The report's evidence section (factor loadings, rolling excess returns, stress periods, bootstrap
intervals) and the sweep report's overfitting section (PSR, DSR, PBO, walk-forward).

Reads the ``evidence_*`` analytics tables (as computed, or read back from CSV) and metrics.json's
``evidence`` entry; docs/evidence.md explains each figure. Every text goes through `page.esc` / `page.ptext`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd
import plotly.graph_objects as go

from ..analytics.evidence import finite as _f
from .page import color, date_array, esc, figure_fragment, fmt, new_figure, ptext, section, table

if TYPE_CHECKING:
    from ..results import SavedRun

MODEL_LABELS = {"ff3_daily": "FF3, daily", "ff5_mom_monthly": "FF5 + momentum, monthly"}
KIND_LABELS = {"total": "return − RF", "active": "− benchmark"}
FACTOR_LABELS = {"MKT_RF": "Mkt−RF", "SMB": "SMB", "HML": "HML", "RMW": "RMW", "CMA": "CMA", "MOM": "Mom"}


def _day(value) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)[:10]


def _table(saved: SavedRun, key: str) -> pd.DataFrame | None:
    for k, v in (saved.analytics or {}).items():
        if k.replace("-", "_") == f"evidence_{key}":
            return v
    return None


def _h3(title: str, intro: str = "") -> str:
    return f"<h3>{esc(title)}</h3>" + (f'<p class="note">{esc(intro)}</p>' if intro else "")


def _beta(row, f: str) -> str:
    b, t = _f(row.get(f"beta_{f}")), _f(row.get(f"t_{f}"))
    if math.isnan(b):
        return ""
    return f"{b:.2f} ({'–' if math.isnan(t) else f'{t:.1f}'})".replace("-", "−")     # t undefined: "–"


def factor_table(frame: pd.DataFrame) -> str:
    factors = [f for f in FACTOR_LABELS if f"beta_{f}" in frame.columns and frame[f"beta_{f}"].notna().any()]
    header = ["Strategy", "Model", "Dependent", "Window", "n", "Alpha / yr", "t(alpha)",
              *(FACTOR_LABELS[f] for f in factors), "R²"]
    rows = []
    for _, r in frame.iterrows():
        rows.append([str(r["strategy"]), MODEL_LABELS.get(str(r["model"]), str(r["model"])),
                     KIND_LABELS.get(str(r["kind"]), str(r["kind"])),
                     f"{_day(r.get('start'))} – {_day(r.get('end'))}", fmt(_f(r.get("n")), "count"),
                     fmt(_f(r.get("alpha")), "pct_signed"), fmt(_f(r.get("alpha_t")), "ratio"),
                     *(_beta(r, f) for f in factors), fmt(_f(r.get("r2")), "ratio")])
    return table(header, rows)


def _selector(labels: list[str], groups: list[int]) -> list[dict]:
    buttons = [dict(label=ptext(lab), method="restyle", args=[{"visible": [g == i for g in groups]}])
               for i, lab in enumerate(labels)]
    return [dict(type="dropdown", buttons=buttons, x=0, xanchor="left", y=1.04, yanchor="bottom",
                 showactive=True, bgcolor="#f8f9fa", bordercolor="#ced4da", font=dict(size=12))]


def rolling_loadings_figure(frame: pd.DataFrame, window: int) -> go.Figure:
    """Rolling loadings, one strategy at a time (menu), one line per factor."""
    names = list(dict.fromkeys(c.split("|")[0] for c in frame.columns))
    fig = new_figure(height=400, margin=dict(l=60, r=20, t=70, b=40),
                     title=dict(text=ptext(f"Rolling {window}-month loadings (FF5 + momentum)"),
                                font=dict(size=13), x=0.25, xanchor="left"))
    groups = []
    x = date_array(frame.index)
    for g, name in enumerate(names):
        for j, f in enumerate(FACTOR_LABELS):
            col = f"{name}|{f}"
            if col not in frame.columns:
                continue
            fig.add_trace(go.Scatter(x=x, y=frame[col].astype(float).to_numpy(), mode="lines",
                                     name=ptext(FACTOR_LABELS[f]), line=dict(color=color(j), width=1.6),
                                     visible=g == 0, legendgroup=f))
            groups.append(g)
    fig.update_layout(updatemenus=_selector(names, groups), yaxis_title="loading")
    return fig


def rolling_excess_figure(summary: pd.DataFrame) -> go.Figure:
    """Distribution of rolling excess returns: per window length and strategy, the median (marker), the 25th
    to 75th percentile (thick bar) and the 5th to 95th (thin whiskers). Scatter traces with error bars (the
    report's plotly.js bundle has no box traces)."""
    fig = new_figure(height=380, hovermode="closest", scattermode="group", yaxis=dict(tickformat=".1%"))
    for i, (name, rows) in enumerate(summary.groupby("strategy", sort=False)):
        med = rows["median"].astype(float).to_numpy()
        x = [str(h) for h in rows["horizon"]]
        for lo, hi, width, show in (("p05", "p95", 1.2, False), ("p25", "p75", 6, True)):
            fig.add_trace(go.Scatter(
                x=x, y=med, mode="markers", name=ptext(name), legendgroup=ptext(name), showlegend=show,
                marker=dict(color=color(i), size=9 if show else 1),
                error_y=dict(type="data", symmetric=False, array=rows[hi].astype(float).to_numpy() - med,
                             arrayminus=med - rows[lo].astype(float).to_numpy(), thickness=width, width=0,
                             color=color(i))))
    fig.update_layout(xaxis_title="window length", yaxis_title="annualised excess return")
    return fig


def rolling_table(summary: pd.DataFrame) -> str:
    header = ["Strategy", "Window", "Windows", "Share beating", "5th pct", "Median", "95th pct", "Worst", "Best"]
    rows = [[str(r["strategy"]), str(r["horizon"]), fmt(_f(r["windows"]), "count"),
             fmt(_f(r["share_beating"]), "pct"), *(fmt(_f(r[k]), "pct_signed")
                                                   for k in ("p05", "median", "p95", "min", "max"))]
            for _, r in summary.iterrows()]
    return table(header, rows)


def stress_html(frame: pd.DataFrame, bench: str) -> str:
    periods = list(dict.fromkeys(frame["period"]))
    names = list(dict.fromkeys(frame["strategy"]))
    header = ["Period", "Dates", bench, *(f"{n} (excess)" for n in names)]
    rows = []
    for p in periods:
        sub = frame.loc[frame["period"] == p].set_index("strategy")
        first = sub.iloc[0]
        cells = [str(p), f"{_day(first['start'])} – {_day(first['end'])}",
                 fmt(_f(first["benchmark_return"]), "pct_signed")]
        for n in names:
            r = sub.loc[n] if n in sub.index else None
            cells.append("–" if r is None or math.isnan(_f(r["return"])) else
                         f"{fmt(_f(r['return']), 'pct_signed')} ({fmt(_f(r['excess']), 'pct_signed')})")
        rows.append(cells)
    return table(header, rows)


def bootstrap_html(frame: pd.DataFrame) -> str:
    names = list(dict.fromkeys(frame["strategy"]))
    labels = {"cagr": ("CAGR", "pct"), "sharpe": ("Sharpe", "ratio"), "excess_return": ("Excess return", "pct_signed")}
    header = ["Strategy", *(labels[m][0] for m in labels), "P(excess > 0)"]
    rows = []
    for n in names:
        sub = frame.loc[frame["strategy"] == n].set_index("metric")
        cells = [n]
        for m, (_, kind) in labels.items():
            if m not in sub.index:
                cells.append("–")
                continue
            r = sub.loc[m]
            cells.append(f"{fmt(_f(r['estimate']), kind)} [{fmt(_f(r['low']), kind)}, {fmt(_f(r['high']), kind)}]")
        cells.append(fmt(_f(sub.loc["excess_return", "share_positive"]), "pct") if "excess_return" in sub.index
                     else "–")
        rows.append(cells)
    return table(header, rows)


def risk_figure(frame: pd.DataFrame, grouping: str, group: str) -> go.Figure:
    """``group``'s share of weight (dashed) and of risk (solid) over time, one colour per strategy."""
    sub = frame.loc[(frame["grouping"] == grouping) & (frame["group"] == group)]
    fig = new_figure(height=360, yaxis=dict(tickformat=".0%"), legend=dict(orientation="h", y=-0.15, x=0))
    for i, (name, rows) in enumerate(sub.groupby("strategy", sort=False)):
        x = date_array(pd.DatetimeIndex(pd.to_datetime(rows["date"])))
        fig.add_trace(go.Scatter(x=x, y=rows["risk"].astype(float).to_numpy(), mode="lines",
                                 name=ptext(f"{name}: risk"), line=dict(color=color(i), width=2)))
        fig.add_trace(go.Scatter(x=x, y=rows["weight"].astype(float).to_numpy(), mode="lines",
                                 name=ptext(f"{name}: weight"), line=dict(color=color(i), width=1.2, dash="dash")))
    return fig


def risk_table(frame: pd.DataFrame, grouping: str) -> str:
    """Latest date: share of weight and of risk per group (rows) and strategy (columns)."""
    sub = frame.loc[frame["grouping"] == grouping]
    names = list(dict.fromkeys(sub["strategy"]))
    last = {n: sub.loc[(sub["strategy"] == n) & (sub["date"] == sub.loc[sub["strategy"] == n, "date"].max())]
            .set_index("group") for n in names}
    groups = sorted({g for t in last.values() for g in t.index})
    header = ["Group", *(f"{n}: weight / risk" for n in names)]
    rows = [[g, *(f"{fmt(_f(last[n].loc[g, 'weight']), 'pct')} / {fmt(_f(last[n].loc[g, 'risk']), 'pct')}"
                  if g in last[n].index else "–" for n in names)] for g in groups]
    when = ", ".join(sorted({_day(t["date"].iloc[0]) for t in last.values() if len(t)}))
    return f'<p class="note">As of {esc(when)}.</p>' + table(header, rows)


def attribution_html(ev: dict, frame: pd.DataFrame) -> str:
    """Summary per strategy, a bar chart of linked effects by sector (menu), and each sector's effects."""
    rows = []
    for name, s in (ev.get("strategies") or {}).items():
        a = s.get("attribution")
        if not a:
            continue
        rows.append([name, f"{_day(a.get('start'))} – {_day(a.get('end'))}",
                     *(fmt(_f(a.get(k)), "pct_signed") for k in ("portfolio", "benchmark_return", "excess",
                                                                "allocation", "selection", "interaction",
                                                                "trading"))])
    out = table(["Strategy", "Period", "Strategy return", "Index return", "Excess", "Allocation", "Selection",
                 "Interaction", "Trading and costs"], rows)
    body = frame.loc[~frame["sector"].isin(["TOTAL"])]
    names = list(dict.fromkeys(body["strategy"]))
    fig = new_figure(height=420, barmode="relative", hovermode="closest", yaxis=dict(tickformat=".1%"),
                     margin=dict(l=60, r=20, t=70, b=120))
    groups = []
    for g, name in enumerate(names):
        sub = body.loc[body["strategy"] == name]
        for j, effect in enumerate(("allocation", "selection", "interaction", "total")):
            if effect == "total":
                continue
            fig.add_trace(go.Bar(x=[ptext(x) for x in sub["sector"]], y=sub[effect].astype(float).to_numpy(),
                                 name=ptext(effect), marker_color=color(j), visible=g == 0))
            groups.append(g)
    fig.update_layout(updatemenus=_selector(names, groups))
    out += figure_fragment(fig)
    for name in names:
        sub = body.loc[body["strategy"] == name]
        out += (f"<details><summary>{esc(name)}: effects by sector (linked)</summary>"
                + table(["Sector", "Allocation", "Selection", "Interaction", "Total"],
                        [[str(r["sector"]), *(fmt(_f(r[k]), "pct_signed")
                                              for k in ("allocation", "selection", "interaction", "total"))]
                         for _, r in sub.iterrows()]) + "</details>")
    return out


def evidence_section(saved: SavedRun) -> str:
    """The run report's evidence section; "" when the run computed none."""
    ev = (saved.metrics or {}).get("evidence")
    if not isinstance(ev, dict):
        return ""
    settings = ev.get("settings") or {}
    parts = []
    factors = _table(saved, "factors")
    if factors is not None and len(factors):
        parts.append(_h3("Factor loadings", "OLS of daily (Fama-French 3) and monthly (5 factors + momentum) "
                         "returns; 'return − RF' regresses the strategy's return over the factor files' "
                         "risk-free rate, '− benchmark' its return minus the benchmark's. Alpha is annualised "
                         "(× 252 or × 12); loadings show their Newey-West t-statistic in brackets.")
                     + factor_table(factors))
    loads = _table(saved, "rolling_loadings")
    if loads is not None and len(loads):
        parts.append(figure_fragment(rolling_loadings_figure(loads, int(settings.get("rolling_loadings", 36)))))
    risk = _table(saved, "risk")
    if risk is not None and len(risk):
        groups = [g for g in dict.fromkeys(risk.loc[risk["grouping"] == "group", "group"]) if g not in ("rest", "Cash")]
        intro = ("Share of the portfolio's variance (Euler contributions w_i cov(r_i, p) / var(p) over the trailing "
                 "252 days, month ends) next to the share of its value; cash carries no risk.")
        body = _h3("Where the risk comes from", intro)
        for g in groups[:1]:
            body += figure_fragment(risk_figure(risk, "group", g))
        body += risk_table(risk, "group")
        if (risk["grouping"] == "sector").any():
            body += "<h3>By GICS sector</h3>" + risk_table(risk, "sector")
        parts.append(body)
    attr = _table(saved, "attribution")
    if attr is not None and len(attr):
        parts.append(_h3("Attribution against the cap-weighted S&P 500", "Brinson-Fachler by GICS sector, month by "
                         "month against the cap-weighted S&P 500 rebuilt from the same prices (point-in-time "
                         "members; share counts back-filled, a look-ahead the strategies' default point-in-time "
                         "counts do not have: docs/analytics.md), linked over time (Carino): allocation + "
                         "selection + interaction + "
                         "trading and costs add up to the excess return over that index (cumulative, not "
                         "annualised).") + attribution_html(ev, attr))
    summary = _table(saved, "rolling_summary")
    if summary is not None and len(summary):
        drawn = summary["windows"].fillna(0).sum() > 0   # a run shorter than the shortest window has none
        parts.append(_h3("Every start date", "Annualised excess return over the benchmark (CAGR difference) of "
                         "every window of 1, 3 and 5 years, one window per trading day it could start; the marker is "
                         "the median, the thick bar the 25th to 75th percentile, the thin one the 5th to 95th.")
                     + (figure_fragment(rolling_excess_figure(summary)) if drawn else "")
                     + rolling_table(summary))
    stress = _table(saved, "stress")
    if stress is not None and len(stress):
        parts.append(_h3("Stress periods", "Total return from the first to the last close of each period; in "
                         "brackets the difference from the benchmark's. The periods are data: override them "
                         "with evidence.stress in the config.") + stress_html(stress, saved.benchmark_name))
    boot = _table(saved, "bootstrap")
    if boot is not None and len(boot):
        b = settings.get("bootstrap") or {}
        parts.append(_h3("Sampling error", f"Circular block bootstrap: {b.get('samples', '?')} resampled "
                         f"histories of {b.get('block', '?')}-day blocks (seed {b.get('seed', '?')}); "
                         f"{fmt(_f(b.get('confidence')), 'pct')} percentile intervals in brackets.")
                     + bootstrap_html(boot))
    notes = [n for n in ev.get("notes") or [] if n]
    if notes:
        parts.append("<h3>Notes</h3><ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    if not parts:
        return ""
    return section("evidence", "Evidence", "".join(parts),
                   intro="Is the result alpha or factor beta, does it hold for other start dates and in stress, "
                         "and how wide is the sampling error? See docs/evidence.md for how to read each table.")


def sweep_evidence(saved: SavedRun) -> str:
    """The sweep report's overfitting section (PSR of every variant, DSR of the best, PBO, walk-forward)."""
    ev = (saved.metrics or {}).get("evidence")
    if not isinstance(ev, dict):
        return ""
    parts = []
    for base, res in (ev.get("by_strategy") or {}).items():
        dsr, pbo = res.get("dsr") or {}, res.get("pbo") or {}
        parts.append(f"<h3>{esc(base)}</h3>")
        parts.append(table(["Best variant", "Sharpe (annual)", "Expected best of unskilled", "Trials (effective)",
                            "Mean correlation", "DSR", "PBO", "CSCV splits"],
                           [[str(dsr.get("best")), fmt(_f(dsr.get("sharpe_annual")), "ratio"),
                             fmt(_f(dsr.get("threshold_annual")), "ratio"),
                             f"{fmt(_f(dsr.get('trials')), 'years')} of {dsr.get('variants')}",
                             fmt(_f(dsr.get("mean_correlation")), "ratio"), fmt(_f(dsr.get("dsr")), "pct"),
                             fmt(_f(pbo.get("pbo")), "pct"), fmt(_f(pbo.get("splits")), "count")]]))
        wf = res.get("walk_forward") or {}
        if wf.get("summary"):
            head = ["Series", "Total return", "CAGR", "Sharpe", "Excess return"]
            rows = [[{"walk_forward": "walk-forward (out of sample)", "in_sample_best":
                      f"in-sample best ({wf.get('in_sample_best')})", "benchmark": saved.benchmark_name}.get(k, k),
                     fmt(_f(v.get("total_return")), "pct_signed"), fmt(_f(v.get("cagr")), "pct"),
                     fmt(_f(v.get("sharpe")), "ratio"), fmt(_f(v.get("excess_return")), "pct_signed")]
                    for k, v in wf["summary"].items()]
            parts.append(f'<p class="note">Walk-forward: best by {esc(wf.get("metric"))} over the trailing '
                         f'{esc(wf.get("train_months"))} months, held {esc(wf.get("test_months"))} months, '
                         f'from {esc(_day(wf.get("first")))}.</p>' + table(head, rows))
            chosen = wf.get("windows") or []
            if chosen:
                parts.append("<details><summary>Chosen variant per window</summary>" + table(
                    ["Test from", "to", "Chosen", "Train score", "Return", "Benchmark"],
                    [[_day(w.get("test_start")), _day(w.get("test_end")), str(w.get("chosen")),
                      fmt(_f(w.get("train_score")), "ratio"), fmt(_f(w.get("oos_return")), "pct_signed"),
                      fmt(_f(w.get("benchmark_return")), "pct_signed")] for w in chosen]) + "</details>")
    psr = ev.get("psr") or {}
    if psr:
        vals = sorted(((n, _f(v)) for n, v in psr.items()), key=lambda kv: -kv[1] if not math.isnan(kv[1]) else 1)
        parts.append(_h3("Probabilistic Sharpe ratio of every variant",
                         "Probability that the true Sharpe ratio is above zero given the track record's length, "
                         "skewness and kurtosis; it does not account for the number of variants tried (DSR does).")
                     + "<details><summary>Every variant</summary>"
                     + table(["Strategy", "PSR (SR > 0)"], [[n, fmt(v, "pct")] for n, v in vals]) + "</details>")
    notes = [n for n in ev.get("notes") or [] if n]
    if notes:
        parts.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    return "".join(parts)
