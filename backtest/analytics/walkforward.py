"""Walk-forward selection over a sweep's variants: choose on a training window, hold over the next window.

``walk_forward(returns, benchmark, train_years=3, test_years=1, metric="sharpe")``: the first test window
starts ``train_years`` after the first date; at each test window's start the variant with the best
``metric`` over the trailing ``train_years`` is chosen and held (its own daily returns, rebalancing as it
would) until the window ends; windows follow each other until the data end (the last may be shorter). The
chosen variants' returns are stitched into one out-of-sample series and compared with the in-sample best (the
variant best over the whole period, on the same out-of-sample dates) and the benchmark. Every window runs
from one close to another, so a switch between variants costs nothing here (no trade is simulated at the
switch: the stitched series is an upper bound on a real switch, by the variants' own turnover at the seam).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from backtest import metrics as M

METRICS = ("sharpe", "sortino", "cagr", "total_return", "excess_return", "information_ratio", "calmar")


def _score(metric: str, r: pd.Series, b: pd.Series, rf: pd.Series | None) -> float:
    if metric == "sharpe":
        return M.sharpe_ratio(r, risk_free=rf)
    if metric == "sortino":
        return M.sortino_ratio(r, risk_free=rf)
    if metric == "cagr":
        return M.cagr(r)
    if metric == "total_return":
        return M.total_return(r)
    if metric == "excess_return":
        return M.excess_return(r, b)
    if metric == "information_ratio":
        return M.information_ratio(r, b)
    if metric == "calmar":
        dd = M.max_drawdown(r)
        return M.cagr(r) / abs(dd) if dd < 0 else math.nan
    raise ValueError(f"walk_forward: metric must be one of {', '.join(METRICS)}, got {metric!r}")


def _scores(metric: str, frame: pd.DataFrame, b: pd.Series, rf: pd.Series | None) -> dict[str, float]:
    """``{c: _score(metric, frame[c], b, rf)}``. The Sharpe ratio of a frame without NaN is computed for all
    columns at once (`metrics_matrix`'s sums, equal bit for bit to `metrics.sharpe_ratio`: a sweep of 10,000
    variants scores them in each window); other metrics and frames column by column."""
    x = frame.to_numpy(dtype=float)
    if metric != "sharpe" or len(frame) < 2 or not np.isfinite(x).all():
        return {c: _score(metric, frame[c], b, rf) for c in frame.columns}
    from backtest.metrics_matrix import _ratio, _std

    ex = np.asfortranarray(x if rf is None else
                           x - rf.astype(float).reindex(frame.index).fillna(0.0).to_numpy()[:, None])
    n = len(ex)
    return dict(zip(frame.columns, _ratio(ex.sum(axis=0) / n, _std(ex, n)), strict=True))


def _window(series: pd.Series | pd.DataFrame, a: pd.Timestamp, z: pd.Timestamp):
    """Returns from the close of ``a`` to the close of ``z``, in the metrics convention (0.0 at ``a``)."""
    w = series.loc[a:z].copy()
    if len(w):
        w.iloc[0] = 0.0
    return w


def walk_forward(returns: pd.DataFrame, benchmark: pd.Series, *, train_years: float = 3, test_years: float = 1,
                 metric: str = "sharpe", risk_free: pd.Series | None = None) -> dict:
    """Walk-forward selection (module docstring).

    Parameters
    ----------
    returns : DataFrame indexed by trading date, one column per variant, daily simple returns (metrics
        convention: the first row is the starting point).
    benchmark : the benchmark's daily returns on the same dates.

    Returns
    -------
    dict with ``windows`` (DataFrame: train_start, test_start, test_end, chosen, train_score, oos_return,
    in_sample_best_return, benchmark_return), ``returns`` (DataFrame of the stitched out-of-sample series,
    the in-sample best and the benchmark on the out-of-sample dates) and ``summary`` ({series: {cagr,
    sharpe, total_return, excess_return}}), plus ``in_sample_best`` and ``metric``. ``windows`` is empty when
    the data are shorter than one training window plus a day.
    """
    if metric not in METRICS:
        _score(metric, pd.Series(dtype=float), pd.Series(dtype=float), None)
    idx = returns.index
    months_train, months_test = int(round(train_years * 12)), int(round(test_years * 12))
    if months_train < 1 or months_test < 1:
        raise ValueError("walk_forward: train and test must each be at least one month")
    rows, pieces = [], []
    # window boundaries: the last close on or before first date + train + k * test; consecutive windows
    # share their boundary close, so the stitched series has every day once
    bounds = []
    k = 0
    while True:
        target = idx[0] + pd.DateOffset(months=months_train + k * months_test)
        pos = idx.searchsorted(target, side="right") - 1
        if pos >= len(idx) - 1:
            if bounds and bounds[-1] < len(idx) - 1:
                bounds.append(len(idx) - 1)
            break
        if not bounds or pos > bounds[-1]:
            bounds.append(int(pos))
        k += 1
    for i0, i1 in zip(bounds[:-1], bounds[1:]):
        a, z = idx[i0], idx[i1]
        train_a = idx[max(idx.searchsorted(a - pd.DateOffset(months=months_train), side="left"), 0)]
        b_train = _window(benchmark, train_a, a)
        scores = _scores(metric, _window(returns, train_a, a), b_train, risk_free)
        valid = {c: s for c, s in scores.items() if not math.isnan(s)}
        if not valid:
            if pieces:      # nothing to choose from: the window is skipped, and so is its stretch of time
                break
            continue
        chosen = max(valid, key=valid.get)
        oos = _window(returns[chosen], a, z)
        pieces.append(oos.iloc[1:])
        rows.append({"train_start": train_a, "test_start": a, "test_end": z, "chosen": chosen,
                     "train_score": valid[chosen], "oos_return": M.total_return(oos),
                     "benchmark_return": M.total_return(_window(benchmark, a, z))})
    windows = pd.DataFrame(rows, columns=["train_start", "test_start", "test_end", "chosen", "train_score",
                                          "oos_return", "benchmark_return"])
    full = _scores(metric, returns, benchmark, risk_free)
    full = {c: s for c, s in full.items() if not math.isnan(s)}
    best = max(full, key=full.get) if full else None
    out = {"metric": metric, "train_years": train_years, "test_years": test_years, "in_sample_best": best,
           "windows": windows, "returns": pd.DataFrame(), "summary": {}}
    if not rows:
        return out
    first = rows[0]["test_start"]
    stitched = pd.concat([pd.Series([0.0], index=[first]), *pieces])
    stitched.index.name = "date"
    last = rows[-1]["test_end"]
    frame = pd.DataFrame({"walk_forward": stitched,
                          "in_sample_best": _window(returns[best], first, last) if best else math.nan,
                          "benchmark": _window(benchmark, first, last)})
    windows["in_sample_best_return"] = [M.total_return(_window(returns[best], r["test_start"], r["test_end"]))
                                        for r in rows] if best else math.nan
    bench = frame["benchmark"]
    out["returns"] = frame
    out["windows"] = windows
    out["summary"] = {c: {"total_return": M.total_return(frame[c]), "cagr": M.cagr(frame[c]),
                          "sharpe": M.sharpe_ratio(frame[c], risk_free=risk_free),
                          "excess_return": M.excess_return(frame[c], bench)} for c in frame.columns}
    return out
