"""`metrics.compute_metrics` for many value series at once: one (days x variants) matrix, one pass.

Sweeps compute the metrics of thousands of variants on one calendar. `compute_metrics` pays pandas overhead
for every series (alignment, a groupby per month and year, a Python loop over every drawdown episode). Here
the work that is the same for every series (calendar spans, month and year boundaries, benchmark and
risk-free alignment, trailing anchors) is done once, the elementwise work and the reductions over days on
the whole matrix, and the drawdown episodes of every column are found together (runs of "under water" in
the column-major matrix, reduced with ``reduceat``).

Equal to `compute_metrics` bit for bit, not only to 1e-9 (a sweep's metrics.json must be the bytes of
`bt run`'s): the matrices are column-major (Fortran order), so a reduction over days adds each column's
values in the order, and with numpy's pairwise grouping, that a 1-d sum of that series uses; every formula
is written as `backtest.metrics` writes it (pandas' mean is ``sum / n``, its variance ``sum((mean - x) ** 2)
/ (n - ddof)``; powers on Python floats). What BLAS or masking would change stays per column, on that
column's own 1-d array: the covariances of beta and correlation (``np.cov``), CVaR, the turnover sums.
tests/test_metrics_matrix.py checks the equality on random and real series, NaN results and edge cases
included. A column the matrix path does not cover (a NaN or infinite return, a return at or below -100%:
the value reached zero or below, fewer than two dates, a benchmark, fees or slippage on other dates) is
computed by `compute_metrics` itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from . import metrics as M

NAN = M.NAN
_TINY = M.TINY
_SQRT = math.sqrt(M.PERIODS_PER_YEAR)
_NS_PER_DAY = 86_400_000_000_000
_VAR_Q = 1.0 - 0.95             # metrics.value_at_risk(level=0.95): 1.0 - level, not 0.05


def compute_metrics_many(equity: pd.DataFrame, capital: float | None, benchmark_returns: pd.Series | None,
                         risk_free: pd.Series | None, *, turnover: pd.DataFrame | None = None,
                         fees: pd.DataFrame | None = None, rebalances: Mapping[str, pd.Index] | None = None,
                         expense_ratio: Mapping[str, float] | None = None,
                         from_base: bool = True, slippage: pd.DataFrame | None = None,
                         borrow_charged: Mapping[str, float] | None = None
                         ) -> dict[str, dict[str, float | str]]:
    """``{c: compute_metrics(simple_returns(equity[c], capital), benchmark_returns, risk_free,
    turnover=<c's turnover>, fees=fees[c], equity=equity[c], rebalances=rebalances[c],
    expense_ratio=expense_ratio[c], from_base=from_base, slippage=slippage[c],
    borrow_charged=borrow_charged[c])}`` for every column ``c``, computed together.

    ``equity``: DataFrame indexed by trading date (sorted), one column per variant (unique names): each
    variant's value from its base close, as `engine.simulate` gives it. ``turnover``: DataFrame indexed by
    execution date, one column per variant (every column of ``equity``), NaN (or 0) where the variant did not
    trade: column ``c`` stands for the Series ``turnover[c].dropna()``; None = no turnover for any variant
    (the trading keys NaN). ``fees``, ``slippage``: daily commission and slippage paid, the shape and index
    of ``equity`` (None: those keys NaN, ``cost_drag`` too without slippage). ``rebalances``: variant
    -> the dates its rebalance orders filled (a variant left out: None, every date with turnover);
    ``expense_ratio``: variant -> yearly expense ratio (left out: 0); ``borrow_charged``: variant -> its
    borrow fee's daily charges summed (left out: 0). Returns the metrics in ``equity``'s
    column order, each dict in `compute_metrics`' key order.
    """
    names = list(equity.columns)
    if len(set(names)) != len(names):
        raise ValueError("compute_metrics_many: equity has duplicate column names")
    for what, frame in (("turnover", turnover), ("fees", fees), ("slippage", slippage)):
        missing = [] if frame is None else [c for c in names if c not in frame.columns]
        if missing:
            raise ValueError(f"compute_metrics_many: {what} has no column for {missing[:3]}")
    rebalances = rebalances or {}
    expense_ratio = expense_ratio or {}
    borrow_charged = borrow_charged or {}
    index = equity.index
    values = np.asfortranarray(equity.to_numpy(dtype=float))
    r = _returns(values, capital)
    fast = _covered(r, index, benchmark_returns, fees, slippage)
    bench = _on(benchmark_returns, index)
    out: dict[str, dict] = {}
    cols = np.flatnonzero(fast)
    if len(cols):
        T = None if turnover is None else turnover[[names[j] for j in cols]]
        F = None if fees is None else np.asfortranarray(fees[[names[j] for j in cols]].to_numpy(dtype=float))
        S = (None if slippage is None
             else np.asfortranarray(slippage[[names[j] for j in cols]].to_numpy(dtype=float)))
        if not fast.all():
            r, values = np.asfortranarray(r[:, cols]), np.asfortranarray(values[:, cols])
        rows = _matrix(r, pd.DatetimeIndex(index), bench, benchmark_returns is not None, risk_free, from_base)
        chosen = [names[j] for j in cols]
        trading = _trading(chosen, T, F, values, M.span_years(index), rebalances, expense_ratio, S,
                           borrow_charged)
        for name, row, trade in zip(chosen, rows, trading, strict=True):
            out[name] = _ordered(row, trade)
    for j in np.flatnonzero(~fast):
        c = names[j]
        out[c] = M.compute_metrics(
            M.simple_returns(equity[c], capital), benchmark_returns, risk_free,
            turnover=None if turnover is None else turnover[c].dropna(),
            fees=None if fees is None else fees[c], equity=equity[c], rebalances=rebalances.get(c),
            expense_ratio=expense_ratio.get(c, 0.0), from_base=from_base,
            slippage=None if slippage is None else slippage[c], borrow_charged=borrow_charged.get(c, 0.0))
    return {c: out[c] for c in names}


def relative_metrics_many(equity: pd.DataFrame, capital: float | None, benchmark_returns: pd.Series,
                          risk_free: pd.Series | None = None, *,
                          from_base: bool = True) -> dict[str, dict[str, float]]:
    """``{c: relative_metrics(simple_returns(equity[c], capital), benchmark_returns, risk_free,
    from_base=from_base)}`` for every column ``c`` (`metrics.RELATIVE_KEYS`, bit for bit), computed together:
    a sweep's variants against a further benchmark or a control. ``equity`` as in `compute_metrics_many`
    (values from the base close, hence ``from_base`` by default). Columns off the matrix path
    (`matrix_columns`) get `relative_metrics`."""
    index = equity.index
    r = _returns(np.asfortranarray(equity.to_numpy(dtype=float)), capital)
    fast = _covered(r, index, benchmark_returns, None)
    names = list(equity.columns)
    out: dict[str, dict] = {}
    cols = np.flatnonzero(fast)
    if len(cols):
        r = r if fast.all() else np.asfortranarray(r[:, cols])
        idx = pd.DatetimeIndex(index)
        rf = None if risk_free is None else risk_free.astype(float).reindex(idx).fillna(0.0).to_numpy()
        ex = r if rf is None else np.asfortranarray(r - rf[:, None])
        cagr = _cagr((1.0 + r).prod(axis=0).tolist(), (idx[-1] - idx[0]).days)
        rows = _relative(r, ex, ex.sum(axis=0) / len(r), cagr, _on(benchmark_returns, index), rf, idx,
                         from_base)
        out.update(zip([names[j] for j in cols], rows, strict=True))
    for j in np.flatnonzero(~fast):
        c = names[j]
        out[c] = M.relative_metrics(M.simple_returns(equity[c], capital), benchmark_returns, risk_free,
                                    from_base=from_base)
    return {c: out[c] for c in names}


def matrix_columns(equity: pd.DataFrame, capital: float | None, benchmark_returns: pd.Series | None = None,
                   fees: pd.DataFrame | None = None, slippage: pd.DataFrame | None = None) -> np.ndarray:
    """Which columns of ``equity`` `compute_metrics_many` computes on the matrix (one bool per column). The
    others get one `compute_metrics` call each: a column with a NaN or infinite return or one at or below
    -100% (its value reached zero or below: every metric NaN but start, end, years), or every column when
    there are fewer than two dates, the dates are not sorted and unique, the benchmark's value reaches zero
    or below, or the benchmark's returns, the fees or the slippage are on other dates."""
    return _covered(_returns(np.asfortranarray(equity.to_numpy(dtype=float)), capital), equity.index,
                    benchmark_returns, fees, slippage)


def _returns(values: np.ndarray, capital: float | None) -> np.ndarray:
    """`metrics.simple_returns` of every column (F order): the first from ``capital`` (0 without one)."""
    r = np.empty_like(values, order="F")
    with np.errstate(divide="ignore", invalid="ignore"):    # such columns take the general path
        if len(r):
            r[0] = values[0] / capital - 1.0 if capital else 0.0
            np.subtract(values[1:] / values[:-1], 1.0, out=r[1:])
    return r


def _covered(r: np.ndarray, index: pd.Index, benchmark_returns: pd.Series | None,
             fees: pd.DataFrame | None, slippage: pd.DataFrame | None = None) -> np.ndarray:
    fast = np.isfinite(r).all(axis=0) & (r > -1.0).all(axis=0) & (len(r) >= 2)
    if not (isinstance(index, pd.DatetimeIndex) and index.is_monotonic_increasing and index.is_unique):
        fast[:] = False
    if benchmark_returns is not None and (_on(benchmark_returns, index) is None
                                          or (benchmark_returns.astype(float).dropna() <= -1.0).any()):
        fast[:] = False     # (a benchmark or control whose value reached zero: `relative_metrics` gives NaN)
    for costs in (fees, slippage):
        if costs is not None and not costs.index.equals(index):
            fast[:] = False
    return fast


def _ordered(row: dict, trade: dict) -> dict:
    """The keys in `compute_metrics`' order: the series' own, trading, then benchmark-relative."""
    rel = {key: row.pop(key) for key in M.RELATIVE_KEYS}
    return {**row, **trade, **rel}


def _on(benchmark_returns: pd.Series | None, index: pd.Index) -> np.ndarray | None:
    """The benchmark's returns on exactly ``index`` (no NaN), or None when its dates differ."""
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


def _ratio(num: np.ndarray, den: np.ndarray) -> list[float]:
    """``num / den * sqrt(252)`` where ``den > _TINY``, else NaN (the Sharpe and Sortino convention)."""
    return [a / b * _SQRT if b > _TINY else NAN for a, b in zip(num.tolist(), den.tolist(), strict=True)]


def _cagr(growth: list[float], days: int) -> list[float]:
    # powers on Python floats, one by one, as metrics.cagr: numpy's vectorised power may round differently
    if days <= 0:
        return [NAN] * len(growth)
    return [g ** (M.DAYS_PER_YEAR / days) - 1.0 if g > 0 else -1.0 for g in growth]


def _period_starts(index: pd.DatetimeIndex, freq: str, from_base: bool) -> np.ndarray:
    """Row positions where a calendar month (``"M"``) or year (``"Y"``) starts, as `metrics.period_returns`
    groups them (``from_base``: the first date belongs to the second date's period)."""
    key = np.asarray(index.year * 100 + (index.month if freq == "M" else 0))
    if from_base and len(key) > 1:
        key = key.copy()
        key[0] = key[1]
    return np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))


def _matrix(r, index, bench, has_b, risk_free, from_base) -> list[dict]:
    """Every metric but the trading ones, per column of the return matrix ``r`` (F order, no NaN)."""
    n, k = r.shape
    day = np.asarray(index.strftime("%Y-%m-%d"), dtype=object)
    days = (index[-1] - index[0]).days
    one_r = 1.0 + r
    growth = one_r.prod(axis=0).tolist()
    cagr = _cagr(growth, days)
    vol = (_std(r, n) * _SQRT).tolist()
    rf = None if risk_free is None else risk_free.astype(float).reindex(index).fillna(0.0).to_numpy()
    ex = r if rf is None else np.asfortranarray(r - rf[:, None])
    ex_mean = ex.sum(axis=0) / n
    sharpe = _ratio(ex_mean, _std(ex, n))
    sortino = _ratio(ex_mean, np.sqrt((np.minimum(ex, 0.0) ** 2).sum(axis=0) / n))
    wealth = np.cumprod(one_r, axis=0)
    dd = wealth / np.maximum(np.maximum.accumulate(wealth, axis=0), 1.0) - 1.0
    mdd = dd.min(axis=0).tolist()
    episodes = _drawdowns(dd, index, day)
    m_ret = np.multiply.reduceat(one_r, _period_starts(index, "M", from_base), axis=0) - 1.0
    y_ret = np.multiply.reduceat(one_r, _period_starts(index, "Y", from_base), axis=0) - 1.0
    pos_months = ((m_ret > 0).sum(axis=0) / len(m_ret)).tolist()
    d = r - r.sum(axis=0) / n
    m2 = ((d**2).sum(axis=0) / n).tolist()
    m3 = ((d**3).sum(axis=0) / n).tolist() if n >= 3 else [NAN] * k
    m4 = ((d**4).sum(axis=0) / n).tolist() if n >= 4 else [NAN] * k
    var = np.quantile(r, _VAR_Q, axis=0)
    trailing = _trailing(wealth, index)
    rel = _relative(r, ex, ex_mean, cagr, bench, rf, index, from_base) if has_b else None
    summary = {
        "best_day": r.max(axis=0).tolist(), "worst_day": r.min(axis=0).tolist(),
        "best_month": m_ret.max(axis=0).tolist(), "worst_month": m_ret.min(axis=0).tolist(),
        "best_year": y_ret.max(axis=0).tolist(), "worst_year": y_ret.min(axis=0).tolist(),
    }
    start, end, years = day[0], day[-1], M.span_years(index)
    rows = []
    for j in range(k):
        col = r[:, j]
        flat = math.sqrt(m2[j]) <= _TINY
        v = float(var[j])
        row = {
            "start": start, "end": end, "years": years,
            "total_return": growth[j] - 1.0,
            "cagr": cagr[j],
            "volatility": vol[j],
            "sharpe": sharpe[j],
            "sortino": sortino[j],
            "max_drawdown": mdd[j],
            **episodes[j],
            "calmar": cagr[j] / abs(mdd[j]) if mdd[j] < -_TINY else NAN,
            **{key: vals[j] for key, vals in summary.items()},
            "pct_positive_months": pos_months[j],
            "skew": NAN if n < 3 or flat else m3[j] / m2[j] ** 1.5,
            "kurtosis": NAN if n < 4 or flat else m4[j] / m2[j] ** 2 - 3.0,
            "var_95": v,
            "cvar_95": float(col[col <= v].mean()),
            **trailing[j],
        }
        row.update(rel[j] if rel is not None else dict.fromkeys(M.RELATIVE_KEYS, NAN))
        rows.append(row)
    return rows


def _drawdowns(dd: np.ndarray, index: pd.DatetimeIndex, day: np.ndarray) -> list[dict]:
    """Per column, the keys `compute_metrics` reads off `drawdown_table` (the deepest episode, the longest).

    An episode is a run of days under water (``dd < -_TINY``) within a column. Flattened in column-major
    order, every column's episodes are runs of one long array, so their depths (minimum), troughs (first
    minimum), peaks and recoveries are found for all columns at once."""
    n, k = dd.shape
    under2 = dd < -_TINY
    starts2 = under2.copy(order="F")         # under water, and not the day before (in the same column)
    starts2[1:] &= ~under2[:-1]
    ends2 = under2.copy(order="F")           # under water, and not the day after
    ends2[:-1] &= ~under2[1:]
    flat, under = dd.ravel(order="F"), under2.ravel(order="F")
    first = np.flatnonzero(starts2.ravel(order="F"))
    last = np.flatnonzero(ends2.ravel(order="F"))
    none = {"max_drawdown_peak": NAN, "max_drawdown_trough": NAN, "max_drawdown_recovery": NAN,
            "max_drawdown_days": NAN, "max_drawdown_recovery_days": NAN,
            "longest_drawdown_days": 0.0, "longest_recovery_days": NAN}
    out = [dict(none) for _ in range(k)]
    if not len(first):
        return out
    depth = np.minimum.reduceat(np.where(under, flat, np.inf), first)
    episode = np.cumsum(starts2.ravel(order="F")) - 1        # the episode of each day under water
    at_min = under & (flat == depth[episode])
    trough = np.minimum.reduceat(np.where(at_min, np.arange(n * k), n * k), first) % n
    col, start, stop = first // n, first % n, last % n + 1
    recovered = stop < n
    ns = index.as_unit("ns").asi8
    peak = np.where(start > 0, start - 1, 0)
    end = np.where(recovered, stop, n - 1)
    span = ((ns[end] - ns[peak]) // _NS_PER_DAY).astype(float)
    rec = np.where(recovered, (ns[np.minimum(stop, n - 1)] - ns[trough]) // _NS_PER_DAY, 0).astype(float)
    rec[~recovered] = NAN
    owners, firsts = np.unique(col, return_index=True)
    deepest = np.minimum.reduceat(depth, firsts)
    ids = np.arange(len(first))
    worst = np.minimum.reduceat(np.where(depth == np.repeat(deepest, np.diff(np.r_[firsts, len(first)])),
                                         ids, len(first)), firsts)
    longest = np.maximum.reduceat(span, firsts)
    longest_rec = np.fmax.reduceat(rec, firsts)
    for c, w, ld, lr in zip(owners.tolist(), worst.tolist(), longest.tolist(), longest_rec.tolist(),
                            strict=True):
        out[c] = {
            "max_drawdown_peak": day[peak[w]],
            "max_drawdown_trough": day[trough[w]],
            "max_drawdown_recovery": day[stop[w]] if recovered[w] else NAN,
            "max_drawdown_days": float(span[w]),
            "max_drawdown_recovery_days": float(rec[w]),
            "longest_drawdown_days": ld,
            "longest_recovery_days": lr,
        }
    return out


def _trailing(wealth: np.ndarray, index: pd.DatetimeIndex) -> list[dict]:
    """`metrics.trailing_returns` of every column: the anchors found once, the returns per column."""
    cols = {}
    last = index[-1]
    for key, anchor, years in M.trailing_anchors(last):
        if index[0] > anchor:
            cols[key] = [NAN] * wealth.shape[1]
            continue
        pos = int(index.searchsorted(anchor, side="right")) - 1
        ret = (wealth[-1] / wealth[pos] - 1.0).tolist()
        days = (last - index[pos]).days
        cols[key] = [(1.0 + x) ** (M.DAYS_PER_YEAR / days) - 1.0 for x in ret] if years > 1 else ret
    return [{key: vals[j] for key, vals in cols.items()} for j in range(wealth.shape[1])]


def _trading(names, turnover: pd.DataFrame | None, fees: np.ndarray | None, equity: np.ndarray, years: float,
             rebalances: Mapping[str, pd.Index], expense_ratio: Mapping[str, float],
             slippage: np.ndarray | None = None, borrow_charged: Mapping[str, float] | None = None
             ) -> list[dict]:
    """`metrics.trading_metrics` of every column. Fees and slippage on the matrix; turnover per column, on its
    own (few) trading days, since a masked sum over all days would group the additions differently."""
    k = len(names)
    cols: dict[str, list] = {key: [NAN] * k for key in M.TRADING_KEYS}
    if turnover is not None:
        dates = pd.DatetimeIndex(turnover.index)
        T = turnover.to_numpy(dtype=float)
        planned_at: dict[bytes | None, np.ndarray] = {}
        for j, name in enumerate(names):
            t = T[:, j]
            traded = t > 0                                      # NaN and 0: no trade
            reb = rebalances.get(name)
            key = None if reb is None else pd.DatetimeIndex(reb).as_unit("ns").asi8.tobytes()
            if key not in planned_at:                           # variants of one schedule share it
                planned_at[key] = np.ones(len(dates), bool) if reb is None else dates.isin(reb)
            planned = planned_at[key] & traded
            vals = t[traded]
            total = vals.sum()
            if reb is None:
                initial = float(vals[0]) if len(vals) else 0.0
            else:
                at = np.flatnonzero(dates == reb[0]) if len(reb) else []
                initial = float(t[at[0]]) if len(at) and traded[at[0]] else 0.0
            cols["total_turnover"][j] = float(total)
            cols["initial_turnover"][j] = initial
            cols["annual_turnover"][j] = float(total - initial) / years if years > 0 else NAN
            cols["n_rebalances"][j] = float(planned.sum())
            cols["n_forced_sales"][j] = float(len(vals) - planned.sum())
            cols["forced_sale_turnover"][j] = float(t[traded & ~planned].sum())
    if fees is not None:
        f = np.where(np.isnan(fees), 0.0, fees)
        cols["fees_paid"] = f.sum(axis=0).tolist()
        if years > 0:
            cols["fee_drag"] = [x / years for x in (f / equity).sum(axis=0).tolist()]
    if slippage is not None:
        s = np.where(np.isnan(slippage), 0.0, slippage)
        cols["slippage_paid"] = s.sum(axis=0).tolist()
        if years > 0:
            cols["slippage_drag"] = [x / years for x in (s / equity).sum(axis=0).tolist()]
    if turnover is not None or fees is not None:
        cols["expense_ratio"] = [float(expense_ratio.get(c, 0.0)) for c in names]
        borrow_charged = borrow_charged or {}
        cols["borrow_drag"] = [float(borrow_charged.get(c, 0.0)) / years if years > 0 else NAN for c in names]
        cols["cost_drag"] = [a + s + e + b for a, s, e, b in zip(cols["fee_drag"], cols["slippage_drag"],
                                                                 cols["expense_ratio"], cols["borrow_drag"],
                                                                 strict=True)]
    return [{key: cols[key][j] for key in M.TRADING_KEYS} for j in range(k)]


def _relative(r, ex, ex_mean, cagr, b, rf, index, from_base) -> list[dict]:
    """`metrics.relative_metrics` of every column against the benchmark ``b`` (on the same dates)."""
    n, k = r.shape
    b_series = pd.Series(b, index=index)
    b_cagr = M.cagr(b_series)
    b_ex = b if rf is None else b - rf
    b_ex_var = float(pd.Series(b_ex).var(ddof=1))
    b_ex_mean = float(pd.Series(b_ex).mean())
    flat_b_ex = float(pd.Series(b_ex).std(ddof=1)) <= _TINY
    flat_b = float(b_series.std(ddof=1)) <= _TINY
    r_sd = _std(r, n).tolist()
    diff = np.asfortranarray(r - b[:, None])
    te = (_std(diff, n) * _SQRT).tolist()
    diff_mean = (diff.sum(axis=0) / n).tolist()
    captures = _captures(r, b_series, index, from_base)
    out = []
    for j in range(k):
        beta = NAN if flat_b_ex else float(np.cov(ex[:, j], b_ex, ddof=1)[0, 1] / b_ex_var)
        corr = NAN
        if not flat_b and r_sd[j] > _TINY:
            corr = float(np.corrcoef(r[:, j], b)[0, 1])
        alpha = NAN if math.isnan(beta) else (float(ex_mean[j]) - beta * b_ex_mean) * M.PERIODS_PER_YEAR
        out.append({
            "excess_return": cagr[j] - b_cagr,
            "beta": beta,
            "alpha": alpha,
            "correlation": corr,
            "r_squared": corr**2,
            "tracking_error": te[j],
            "information_ratio": diff_mean[j] * M.PERIODS_PER_YEAR / te[j] if te[j] > _TINY else NAN,
            "up_capture": captures["up_capture"][j],
            "down_capture": captures["down_capture"][j],
        })
    return out


def _captures(r: np.ndarray, b: pd.Series, index: pd.DatetimeIndex,
              from_base: bool) -> dict[str, list[float]]:
    """Up and down capture of every column (`metrics.up_capture`), on the months of `_period_starts`."""
    k = r.shape[1]
    starts = _period_starts(index, "M", from_base)
    rm = np.multiply.reduceat(1.0 + r, starts, axis=0) - 1.0
    bm = M.period_returns(b, "M", from_base=from_base).to_numpy()
    out = {}
    for key, mask in (("up_capture", bm > 0), ("down_capture", bm < 0)):
        denom = M.geo_mean(pd.Series(bm[mask])) if mask.any() else NAN
        if not mask.any() or abs(denom) <= _TINY:
            out[key] = [NAN] * k
            continue
        m = int(mask.sum())
        growth = (1.0 + np.asfortranarray(rm[mask])).prod(axis=0)
        out[key] = [float(g ** (1.0 / m) - 1.0) / denom for g in growth]
    return out
