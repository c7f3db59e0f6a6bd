"""`metrics.compute_metrics` for many value series at once: one (days x series) matrix, one pass.

Sweeps compute the metrics of thousands of variants on one calendar. The per-series functions in
`backtest.metrics` pay pandas overhead for every series (alignment, groupby by month and year, a Python loop
over every drawdown episode): ~60 ms each. Here the work that is the same for every series (calendar spans,
month and year boundaries, benchmark and risk-free alignment, trailing anchors) is done once, the elementwise
work (returns, wealth, drawdowns, period returns) on the whole matrix, and the reductions per column.

Equal to `compute_metrics` bit for bit: the matrices are in column-major (Fortran) order, so a reduction over
days adds each column's values in the order (and with numpy's pairwise grouping) that a 1-d sum of that
series uses; every formula is written exactly as in `backtest.metrics` (pandas' mean is ``sum / n``, its
variance ``sum((mean - x) ** 2) / (n - ddof)``), and the few reductions whose grouping would change with
masking (CVaR, captures, turnover sums) run on each column's own 1-d array. tests/test_metrics_matrix.py
checks the equality on real and synthetic series, NaN results and edge cases included. A column the fast
path does not cover (a NaN in the values, a benchmark on other dates) is computed by `compute_metrics`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from . import metrics as M

_TINY = M._TINY
NAN = M.NAN
_SQRT = math.sqrt(M.PERIODS_PER_YEAR)


def compute_metrics_matrix(equity: pd.DataFrame, benchmark_returns: pd.Series | None = None,
                           risk_free: pd.Series | None = None, *,
                           turnover: Sequence[pd.Series | None] | None = None,
                           fees: pd.DataFrame | None = None) -> list[dict]:
    """``[compute_metrics(simple_returns(equity[c]), benchmark_returns, risk_free, turnover=turnover[i],
    fees=fees[c], equity=equity[c]) for i, c in enumerate(equity)]``, computed together.

    ``equity``: DataFrame indexed by trading date, one column per series (values, not returns); ``fees``:
    the same shape (daily fees paid); ``turnover``: one Series per column (per execution date) or None.
    """
    index = pd.DatetimeIndex(equity.index)
    k = equity.shape[1]
    turnover = list(turnover) if turnover is not None else [None] * k
    values = np.asfortranarray(equity.to_numpy(dtype=float))
    fee_values = np.asfortranarray(fees.to_numpy(dtype=float)) if fees is not None else None
    fast = np.isfinite(values).all(axis=0) & (len(index) >= 2)
    bench = _benchmark(benchmark_returns, index)
    if benchmark_returns is not None and bench is None:
        fast[:] = False
    out: list[dict | None] = [None] * k
    cols = np.flatnonzero(fast)
    if len(cols):
        rows = _fast(values[:, cols], index, bench, benchmark_returns is not None, risk_free,
                     [turnover[c] for c in cols], None if fee_values is None else fee_values[:, cols])
        for c, row in zip(cols, rows, strict=True):
            out[c] = row
    for c in np.flatnonzero(~fast):
        eq = equity.iloc[:, c]
        out[c] = M.compute_metrics(M.simple_returns(eq), benchmark_returns, risk_free, turnover=turnover[c],
                                   fees=None if fees is None else fees.iloc[:, c], equity=eq)
    return out


def _benchmark(benchmark_returns: pd.Series | None, index: pd.DatetimeIndex) -> np.ndarray | None:
    """The benchmark's returns on exactly ``index`` (no NaN), or None when it needs the general path."""
    if benchmark_returns is None:
        return None
    b = benchmark_returns.astype(float)
    if not b.index.equals(index) or b.isna().any():
        return None
    return b.to_numpy()


def _std(x: np.ndarray, n: int) -> np.ndarray:
    """pandas' ``std(ddof=1)`` of each column (F order): ``sqrt(sum((mean - x) ** 2) / (n - 1))``."""
    avg = x.sum(axis=0) / n
    return np.sqrt(((avg - x) ** 2).sum(axis=0) / (n - 1))


def _fast(values, index, bench, has_b, risk_free, turnover, fees) -> list[dict]:
    n, k = values.shape
    r = np.empty_like(values, order="F")
    r[0] = 0.0
    np.subtract(values[1:] / values[:-1], 1.0, out=r[1:])
    one_r = 1.0 + r
    days = (index[-1] - index[0]).days
    years = days / M.DAYS_PER_YEAR
    day = lambda ts: ts.strftime("%Y-%m-%d")  # noqa: E731
    growth = one_r.prod(axis=0)
    total = growth - 1.0
    cagr = _cagr(growth, days)
    vol = _std(r, n) * _SQRT
    if risk_free is None:
        ex = r
    else:
        rf = risk_free.astype(float).reindex(index).fillna(0.0).to_numpy()
        ex = np.asfortranarray(r - rf[:, None])
    ex_mean = ex.sum(axis=0) / n
    ex_sd = _std(ex, n)
    sharpe = np.where(ex_sd > _TINY, ex_mean / np.where(ex_sd > _TINY, ex_sd, 1.0) * _SQRT, NAN)
    downside = np.sqrt((np.minimum(ex, 0.0) ** 2).sum(axis=0) / n)
    sortino = np.where(downside > _TINY, ex_mean / np.where(downside > _TINY, downside, 1.0) * _SQRT, NAN)
    wealth = np.cumprod(one_r, axis=0)
    dd = wealth / np.maximum(np.maximum.accumulate(wealth, axis=0), 1.0) - 1.0
    mdd = dd.min(axis=0)
    episodes = _episodes(dd, index)
    months = _period_starts(index, "M")
    years_at = _period_starts(index, "Y")
    m_ret = np.multiply.reduceat(one_r, months, axis=0) - 1.0
    y_ret = np.multiply.reduceat(one_r, years_at, axis=0) - 1.0
    pos_months = (m_ret > 0).sum(axis=0) / len(months)
    d = r - r.sum(axis=0) / n
    m2 = (d**2).sum(axis=0) / n
    m3 = (d**3).sum(axis=0) / n
    m4 = (d**4).sum(axis=0) / n
    flat = np.sqrt(m2) <= _TINY
    skew = [NAN if f or n < 3 else c / b**1.5 for f, b, c in zip(flat, m2.tolist(), m3.tolist())]
    kurt = [NAN if f or n < 4 else c / b**2 - 3.0 for f, b, c in zip(flat, m2.tolist(), m4.tolist())]
    trailing = _trailing(wealth, index)
    if has_b:
        bm = _benchmark_metrics(r, ex, ex_mean, cagr, bench, risk_free, index, months, m_ret)
    rows = []
    for j in range(k):
        col = r[:, j]
        var = float(np.quantile(col, 1.0 - 0.95))      # as metrics.value_at_risk(level=0.95): not 0.05
        worst = episodes[j]
        m: dict = {
            "start": day(index[0]),
            "end": day(index[-1]),
            "years": years,
            "total_return": float(total[j]),
            "cagr": float(cagr[j]),
            "volatility": float(vol[j]),
            "sharpe": float(sharpe[j]),
            "sortino": float(sortino[j]),
            "max_drawdown": float(mdd[j]),
            **worst,
            "calmar": float(cagr[j]) / abs(float(mdd[j])) if mdd[j] < -_TINY else NAN,
            "best_day": float(col.max()),
            "worst_day": float(col.min()),
            "best_month": float(m_ret[:, j].max()),
            "worst_month": float(m_ret[:, j].min()),
            "best_year": float(y_ret[:, j].max()),
            "worst_year": float(y_ret[:, j].min()),
            "pct_positive_months": float(pos_months[j]),
            "skew": float(skew[j]),
            "kurtosis": float(kurt[j]),
            "var_95": var,
            "cvar_95": float(col[col <= var].mean()),
        }
        m.update(trailing[j])
        m.update(_trading(turnover[j], None if fees is None else fees[:, j], values[:, j], years))
        if has_b:
            m.update(bm[j])
        else:
            m.update(dict.fromkeys(("excess_return", "beta", "alpha", "correlation", "r_squared",
                                    "tracking_error", "information_ratio", "up_capture", "down_capture"), NAN))
        rows.append(m)
    return rows


def _cagr(growth: np.ndarray, days: int) -> np.ndarray:
    # powers on Python floats, one by one, as metrics.cagr: numpy's vectorised power may round differently
    if days <= 0:
        return np.full(growth.shape, NAN)
    return np.array([g ** (M.DAYS_PER_YEAR / days) - 1.0 if g > 0 else -1.0 for g in growth.tolist()])


def _period_starts(index: pd.DatetimeIndex, freq: str) -> np.ndarray:
    key = index.year * 100 + (index.month if freq == "M" else 0)
    key = np.asarray(key)
    return np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))


def _episodes(dd: np.ndarray, index: pd.DatetimeIndex) -> list[dict]:
    """Per column, the keys of `compute_metrics` read off `drawdown_table` (worst episode, longest ones)."""
    n = len(index)
    daynum = np.asarray(index.values.astype("datetime64[D]").astype(np.int64))
    under = dd < -_TINY
    edges = np.diff(np.vstack([np.zeros((1, dd.shape[1]), bool), under, np.zeros((1, dd.shape[1]), bool)])
                    .astype(np.int8), axis=0)
    out = []
    for j in range(dd.shape[1]):
        starts = np.flatnonzero(edges[:, j] == 1)
        stops = np.flatnonzero(edges[:, j] == -1)
        if not len(starts):
            out.append({"max_drawdown_peak": NAN, "max_drawdown_trough": NAN, "max_drawdown_recovery": NAN,
                        "max_drawdown_days": NAN, "max_drawdown_recovery_days": NAN,
                        "longest_drawdown_days": 0.0, "longest_recovery_days": NAN})
            continue
        col = dd[:, j]
        depth = np.minimum.reduceat(col, np.column_stack([starts, stops]).ravel()[:-1]
                                    if stops[-1] == n else np.column_stack([starts, stops]).ravel())[::2]
        peak = np.where(starts > 0, starts - 1, 0)
        recovered = stops < n
        end = np.where(recovered, np.minimum(stops, n - 1), n - 1)
        span = (daynum[end] - daynum[peak]).astype(float)
        w = int(np.argmin(depth))                 # first of the deepest: sort by depth, then peak, stable
        trough = starts[w] + int(np.argmin(col[starts[w]:stops[w]]))
        rec_days = NAN
        if recovered[w]:
            rec_days = float(daynum[stops[w]] - daynum[trough])
        troughs_rec = [starts[i] + int(np.argmin(col[starts[i]:stops[i]])) for i in np.flatnonzero(recovered)]
        longest_rec = (float(max(daynum[stops[i]] - daynum[t] for i, t in
                                 zip(np.flatnonzero(recovered), troughs_rec, strict=True)))
                       if troughs_rec else NAN)
        out.append({
            "max_drawdown_peak": f"{index[peak[w]]:%Y-%m-%d}",
            "max_drawdown_trough": f"{index[trough]:%Y-%m-%d}",
            "max_drawdown_recovery": f"{index[stops[w]]:%Y-%m-%d}" if recovered[w] else NAN,
            "max_drawdown_days": float(span[w]),
            "max_drawdown_recovery_days": rec_days,
            "longest_drawdown_days": float(span.max()),
            "longest_recovery_days": longest_rec,
        })
    return out


def _trailing(wealth: np.ndarray, index: pd.DatetimeIndex) -> list[dict]:
    keys = ["trailing_ytd"] + [f"trailing_{n}y" + ("_ann" if n > 1 else "") for n in M.TRAILING_YEARS]
    last = index[-1]
    anchors = [pd.Timestamp(last.year - 1, 12, 31)] + [last - pd.DateOffset(years=n) for n in M.TRAILING_YEARS]
    cols = {}
    for key, anchor, years in zip(keys, anchors, (0, *M.TRAILING_YEARS), strict=True):
        if index[0] > anchor:
            cols[key] = np.full(wealth.shape[1], NAN)
            continue
        pos = int(index.searchsorted(anchor, side="right")) - 1
        ret = (wealth[-1] / wealth[pos] - 1.0).tolist()
        days = (last - index[pos]).days
        cols[key] = [(1.0 + x) ** (M.DAYS_PER_YEAR / days) - 1.0 for x in ret] if years > 1 else ret
    return [{key: float(cols[key][j]) for key in keys} for j in range(wealth.shape[1])]


def _trading(turnover: pd.Series | None, fees: np.ndarray | None, equity: np.ndarray, years: float) -> dict:
    out = dict.fromkeys(["total_turnover", "annual_turnover", "n_rebalances", "fees_paid", "fee_drag"], NAN)
    if turnover is not None:
        t = turnover.astype(float).dropna().to_numpy()
        out["total_turnover"] = float(t.sum())
        out["annual_turnover"] = float(t.sum()) / years if years > 0 else NAN
        out["n_rebalances"] = float((t > 0).sum())
    if fees is not None:
        f = np.where(np.isnan(fees), 0.0, fees)
        out["fees_paid"] = float(f.sum())
        if years > 0:
            out["fee_drag"] = float((f / equity).sum()) / years
    return out


def _benchmark_metrics(r, ex, ex_mean, cagr, b, risk_free, index, months, m_ret) -> list[dict]:
    n, k = r.shape
    days = (index[-1] - index[0]).days
    b_growth = float((1.0 + b).prod())
    b_cagr = float(_cagr(np.array([b_growth]), days)[0])
    if risk_free is None:
        b_ex = b
    else:
        b_ex = b - risk_free.astype(float).reindex(index).fillna(0.0).to_numpy()
    b_ex_mean = b_ex.sum() / n
    b_ex_var = float(((b_ex.sum() / n - b_ex) ** 2).sum() / (n - 1))
    b_ex_sd = math.sqrt(b_ex_var)
    b_sd = float(_std(b[:, None], n)[0])
    r_sd = _std(r, n)
    diff = np.asfortranarray(r - b[:, None])
    te = _std(diff, n) * _SQRT
    diff_mean = diff.sum(axis=0) / n
    bm = np.multiply.reduceat(1.0 + b, months) - 1.0
    up, down = bm > 0, bm < 0
    capture = {}
    for name, mask in (("up_capture", up), ("down_capture", down)):
        if not mask.any():
            capture[name] = np.full(k, NAN)
            continue
        denom = float((1.0 + bm[mask]).prod() ** (1.0 / int(mask.sum())) - 1.0)
        if abs(denom) <= _TINY:
            capture[name] = np.full(k, NAN)
            continue
        sel = np.asfortranarray(m_ret[mask])
        capture[name] = [(g ** (1.0 / int(mask.sum())) - 1.0) / denom for g in (1.0 + sel).prod(axis=0).tolist()]
    out = []
    for j in range(k):
        beta = NAN
        if b_ex_sd > _TINY:
            beta = float(np.cov(ex[:, j], b_ex, ddof=1)[0, 1] / b_ex_var)
        alpha = (float(ex_mean[j]) - beta * float(b_ex_mean)) * M.PERIODS_PER_YEAR if not math.isnan(beta) else NAN
        corr = NAN
        if r_sd[j] > _TINY and b_sd > _TINY:
            corr = float(np.corrcoef(r[:, j], b)[0, 1])
        out.append({
            "excess_return": float(cagr[j]) - b_cagr,
            "beta": beta,
            "alpha": alpha,
            "correlation": corr,
            "r_squared": corr**2,
            "tracking_error": float(te[j]),
            "information_ratio": float(diff_mean[j]) * M.PERIODS_PER_YEAR / float(te[j]) if te[j] > _TINY else NAN,
            "up_capture": float(capture["up_capture"][j]),
            "down_capture": float(capture["down_capture"][j]),
        })
    return out
