"""Brinson-Fachler attribution of a portfolio's excess return over a benchmark, by sector (pure).

Each period runs from one close ``d0`` to the next period's close ``d1`` (month ends in the run). With the
weights held at ``d0`` (portfolio ``w_p``; benchmark ``w_b``) and each name's return to ``d1``:

- sector weights ``W_s = sum w_i`` and sector returns ``R_s = sum w_i r_i / W_s`` for both sides; the
  benchmark's total ``R_b = sum_s W_b,s R_b,s``; a sector the benchmark does not hold (ETFs, cash) takes
  ``R_b,s = R_b``;
- allocation ``(W_p,s - W_b,s)(R_b,s - R_b)``, selection ``W_b,s (R_p,s - R_b,s)``, interaction
  ``(W_p,s - W_b,s)(R_p,s - R_b,s)``; over the sectors they add up to ``R_p,held - R_b``, where
  ``R_p,held`` is the return of the weights held at ``d0`` had they not been traded;
- ``trading``: the portfolio's actual return minus ``R_p,held`` (trades inside the period, costs, cash yield),
  so that the effects add up to the actual excess return of the period.

Periods are linked with Carino's log-linking: each effect is scaled by ``k_t / k`` where
``k_t = (ln(1+R_t) - ln(1+B_t)) / (R_t - B_t)`` and ``k`` the same on the cumulative returns, so the linked
effects add up exactly to the cumulative excess return ``prod(1+R_t) - prod(1+B_t)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

EFFECTS = ("allocation", "selection", "interaction")
CASH = "Cash"


def _carino(r: float, b: float) -> float:
    if abs(r - b) < 1e-12:
        return 1.0 / (1.0 + r)
    return (math.log1p(r) - math.log1p(b)) / (r - b)


def brinson_fachler(portfolio: pd.DataFrame, benchmark: pd.DataFrame, prices: pd.DataFrame,
                    sectors: Mapping[str, str], period_ends: pd.DatetimeIndex, actual: pd.Series, *,
                    other: str = "Other") -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per-period and linked Brinson-Fachler effects by sector (module docstring).

    Parameters
    ----------
    portfolio : weights held at each close (date x ticker, fractions of the portfolio's value; what is not
        invested is cash). Rows at ``period_ends[:-1]`` are used.
    benchmark : the benchmark's weights (date x ticker, rows summing to 1) at ``period_ends[:-1]``.
    prices : daily closes of every ticker of both (date x ticker).
    sectors : ticker -> sector (a proxy column ``"AVUV~IWN"`` by its first part); others get ``other``.
    period_ends : the period boundaries (closes), increasing.
    actual : the portfolio's actual return per period, indexed by the period's end date.

    Returns
    -------
    ``(periods, summary, linked)``: ``periods`` long, one row per (period end ``date``, ``sector``) with
    ``w_p, w_b, r_p, r_b`` and the three effects; ``summary`` one row per period: ``start``, ``portfolio``
    (actual), ``held``, ``benchmark``, ``trading`` (actual - held), ``excess`` and the Carino factor ``k``
    (``k_t / k``); ``linked`` one row per sector with the linked effects and ``total``, a ``trading and
    costs`` row, and a ``TOTAL`` row whose ``total`` equals the cumulative excess return
    (``linked.attrs``: ``portfolio``, ``benchmark``, ``excess``, the cumulative returns).
    """
    ends = pd.DatetimeIndex(period_ends)
    cols = list(dict.fromkeys([*portfolio.columns, *benchmark.columns]))
    cols = [c for c in cols if c in prices.columns]
    raw = prices[cols]
    start = raw.reindex(ends).to_numpy(dtype=float)[:-1]
    # a name without a price at d1 keeps its last close (where the engine values a held name)
    end = raw.ffill().reindex(ends).to_numpy(dtype=float)[1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        r = end / start - 1.0                                           # T x names, NaN without a start
    ok = np.isfinite(r)
    r0 = np.where(ok, r, 0.0)
    wp = np.nan_to_num(portfolio.reindex(index=ends[:-1], columns=cols).to_numpy(dtype=float))
    wb = np.nan_to_num(benchmark.reindex(index=ends[:-1], columns=cols).to_numpy(dtype=float))
    wb = np.where(ok & (wb > 0), wb, 0.0)                       # names without a return leave the benchmark
    with np.errstate(invalid="ignore", divide="ignore"):
        wb = wb / wb.sum(axis=1, keepdims=True)
    labels = np.array([sectors.get(str(c).split("~")[0], other) for c in cols], dtype=object).astype(str)
    names, code = np.unique(labels, return_inverse=True)
    onehot = np.zeros((len(cols), len(names)))
    onehot[np.arange(len(cols)), code] = 1.0
    wps, wbs = wp @ onehot, wb @ onehot                                   # T x sectors
    with np.errstate(invalid="ignore", divide="ignore"):
        rbs = (wb * r0) @ onehot / wbs
        rps = (wp * r0) @ onehot / wps
    total_b = np.nansum(wbs * np.nan_to_num(rbs), axis=1)
    cash = 1.0 - wp.sum(axis=1)
    held = np.nansum(wps * np.nan_to_num(rps), axis=1)                    # cash earns 0 here
    rbs = np.where(wbs > 0, rbs, total_b[:, None])
    rps = np.where(np.abs(wps) > 1e-12, rps, rbs)
    alloc = (wps - wbs) * (rbs - total_b[:, None])
    select = wbs * (rps - rbs)
    inter = (wps - wbs) * (rps - rbs)
    act = actual.reindex(ends[1:]).to_numpy(dtype=float)
    rows = []
    for t, d1 in enumerate(ends[1:]):
        used = np.flatnonzero((np.abs(wps[t]) > 1e-12) | (wbs[t] > 0))
        for k in used:
            rows.append({"date": d1, "sector": names[k], "w_p": wps[t, k], "w_b": wbs[t, k], "r_p": rps[t, k],
                         "r_b": rbs[t, k], "allocation": alloc[t, k], "selection": select[t, k],
                         "interaction": inter[t, k]})
        if abs(cash[t]) > 1e-9:
            rows.append({"date": d1, "sector": CASH, "w_p": cash[t], "w_b": 0.0, "r_p": 0.0, "r_b": total_b[t],
                         "allocation": 0.0, "selection": 0.0, "interaction": cash[t] * (0.0 - total_b[t])})
    per = [{"date": d1, "start": d0, "portfolio": act[t], "held": held[t], "benchmark": total_b[t],
            "trading": act[t] - held[t], "excess": act[t] - total_b[t]}
           for t, (d0, d1) in enumerate(zip(ends[:-1], ends[1:]))]
    periods = pd.DataFrame(rows)
    summary = pd.DataFrame(per)
    if summary.empty:
        return periods, summary, pd.DataFrame()
    r_cum = float(np.prod(1.0 + summary["portfolio"].to_numpy()) - 1.0)
    b_cum = float(np.prod(1.0 + summary["benchmark"].to_numpy()) - 1.0)
    k = _carino(r_cum, b_cum)
    kt = pd.Series([_carino(r, b) / k for r, b in zip(summary["portfolio"], summary["benchmark"])],
                   index=summary["date"])
    scaled = periods[list(EFFECTS)].mul(periods["date"].map(kt).to_numpy(), axis=0)
    linked = scaled.groupby(periods["sector"].to_numpy()).sum()
    linked["total"] = linked.sum(axis=1)
    trading = float((summary["trading"] * kt.to_numpy()).sum())
    linked.loc["trading and costs"] = [0.0, 0.0, 0.0, trading]
    linked.loc["TOTAL"] = [linked.loc[:, e].sum() for e in EFFECTS] + [linked["total"].sum()]
    linked.index.name = "sector"
    linked.attrs = {"portfolio": r_cum, "benchmark": b_cum, "excess": r_cum - b_cum}
    summary["k"] = kt.to_numpy()
    return periods, summary, linked
