"""Robustness of a result: other start dates, stress periods, and sampling error. Pure functions.

Return series follow `backtest.metrics`: daily simple returns indexed by trading date, the first value the
starting point (``0.0``); CAGR uses calendar days (365.25 a year), Sharpe ``sqrt(252)``, and the excess
return is ``cagr(strategy) - cagr(benchmark)``, exactly as in metrics.json.

- ``rolling_excess``: for every start date, the annualised excess return over the next 1, 3, 5 years.
- ``stress_table``: strategy and benchmark returns and drawdowns over named periods (data, overridable).
- ``block_bootstrap``: circular block-bootstrap confidence intervals for CAGR, Sharpe and excess return
  (seeded: the same inputs and seed give the same intervals).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from backtest.metrics import DAYS_PER_YEAR, PERIODS_PER_YEAR

#: Default stress periods: (label, first close, last close). The window's return runs from the close of the
#: first date to the close of the last (peak to trough of the S&P 500 in each episode).
STRESS_PERIODS: tuple[tuple[str, str, str], ...] = (
    ("Q4 2018 sell-off", "2018-09-20", "2018-12-24"),
    ("2020 Covid crash", "2020-02-19", "2020-03-23"),
    ("2022 bear market", "2022-01-03", "2022-10-12"),
    ("2023 regional-bank stress", "2023-03-08", "2023-03-13"),
    ("2025 spring sell-off", "2025-02-19", "2025-04-08"),
)


def _wealth(returns: pd.Series) -> pd.Series:
    return (1.0 + returns.astype(float).fillna(0.0)).cumprod()


def rolling_excess(returns: pd.Series, benchmark: pd.Series, years: Sequence[int] = (1, 3, 5)) -> pd.DataFrame:
    """Annualised excess return (``cagr(strategy) - cagr(benchmark)``) of every window of ``years`` years.

    A window starts at the close of each trading date ``t`` and ends at the close of the last trading date
    on or before ``t + years`` calendar years (the window's CAGR uses its actual calendar-day span). Returns
    a DataFrame indexed by the start date, one column per horizon (``"1y"``, ``"3y"``, ...), NaN where the
    window would end after the data.
    """
    r, b = returns.align(benchmark, join="inner")
    ws, wb = _wealth(r).to_numpy(), _wealth(b).to_numpy()
    idx = r.index
    out = {}
    days = idx.to_numpy()
    for y in years:
        target = idx + pd.DateOffset(years=int(y))
        ends = idx.searchsorted(target, side="right") - 1
        ok = target < idx[-1] + pd.offsets.BDay(1)      # no weekday between the data's end and the target
        ends = np.where(ok, ends, 0)
        span = (days[ends] - days).astype("timedelta64[D]").astype(float) / DAYS_PER_YEAR
        with np.errstate(invalid="ignore", divide="ignore"):
            cs = (ws[ends] / ws) ** (1.0 / span) - 1.0
            cb = (wb[ends] / wb) ** (1.0 / span) - 1.0
        out[f"{int(y)}y"] = np.where(ok & (span > 0), cs - cb, np.nan)
    return pd.DataFrame(out, index=pd.DatetimeIndex(idx, name="date"))


def rolling_summary(rolling: pd.DataFrame) -> pd.DataFrame:
    """Per horizon: number of windows, share with a positive excess return, and quantiles of the excess."""
    rows = {}
    for col in rolling.columns:
        x = rolling[col].dropna()
        q = x.quantile([0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0]).to_numpy() if len(x) else [math.nan] * 7
        rows[col] = {"windows": int(len(x)), "share_beating": float((x > 0).mean()) if len(x) else math.nan,
                     "min": q[0], "p05": q[1], "p25": q[2], "median": q[3], "p75": q[4], "p95": q[5],
                     "max": q[6]}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("horizon")


def stress_table(returns: pd.Series, benchmark: pd.Series,
                 periods: Sequence[tuple[str, object, object]] = STRESS_PERIODS) -> pd.DataFrame:
    """Total return, benchmark return, excess (difference of total returns) and maximum drawdown inside each
    period ``(label, first close, last close)``. The period is cut to the data's trading dates (the first
    close on or after its start, the last on or before its end); a period with fewer than two dates in the
    data gets NaN and ``note`` says why."""
    r, b = returns.align(benchmark, join="inner")
    ws, wb = _wealth(r), _wealth(b)
    rows = []
    for label, start, end in periods:
        s, e = pd.Timestamp(start), pd.Timestamp(end)
        inside = ws.index[(ws.index >= s) & (ws.index <= e)]
        row = {"period": label, "start": s, "end": e}
        if len(inside) < 2:
            rows.append({**row, "return": math.nan, "benchmark_return": math.nan, "excess": math.nan,
                         "max_drawdown": math.nan, "benchmark_max_drawdown": math.nan,
                         "note": "outside the run's dates"})
            continue
        a, z = inside[0], inside[-1]
        path_s, path_b = ws.loc[a:z] / ws.loc[a], wb.loc[a:z] / wb.loc[a]
        tr_s, tr_b = float(path_s.iloc[-1] - 1.0), float(path_b.iloc[-1] - 1.0)
        cut = "" if (a - s).days <= 4 and (e - z).days <= 4 else f"data cover {a:%Y-%m-%d} .. {z:%Y-%m-%d} only"
        rows.append({**row, "start": a, "end": z, "return": tr_s, "benchmark_return": tr_b, "excess": tr_s - tr_b,
                     "max_drawdown": float((path_s / path_s.cummax() - 1.0).min()),
                     "benchmark_max_drawdown": float((path_b / path_b.cummax() - 1.0).min()), "note": cut})
    return pd.DataFrame(rows).set_index("period")


def block_starts(n: int, *, samples: int, block: int, seed: int) -> np.ndarray:
    """``samples x ceil(n / block)`` random start positions (uniform on ``0 .. n-1``, numpy's PCG64 seeded by
    ``seed``) of a circular block bootstrap of ``n`` observations."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(samples, -(-n // block)))


def block_indices(starts: np.ndarray, n: int, block: int) -> np.ndarray:
    """The resampled positions of `block_starts`: each start's ``block`` consecutive positions (wrapping
    around the end), concatenated and cut to ``n`` (the last block is shorter when ``block`` does not divide
    ``n``). ``samples x n``; `block_bootstrap` computes the same sums without building it."""
    pos = (starts[:, :, None] + np.arange(block)[None, None, :]) % n
    return pos.reshape(len(starts), -1)[:, :n]


def _block_sums(q: np.ndarray, starts: np.ndarray, block: int) -> np.ndarray:
    """Sum of ``q`` over each resampled path of `block_indices`, from circular prefix sums (no copy of the
    path): full blocks of ``block`` and a last block of ``n - (k - 1) block``."""
    n = len(q)
    c = np.concatenate([[0.0], np.cumsum(np.concatenate([q, q]))])
    k = starts.shape[1]
    lengths = np.full(k, block)
    lengths[-1] = n - (k - 1) * block
    return (c[starts + lengths[None, :]] - c[starts]).sum(axis=1)


def block_bootstrap(returns: pd.Series, benchmark: pd.Series, risk_free: pd.Series | None = None, *,
                    samples: int = 1000, block: int = 21, seed: int = 0, confidence: float = 0.90,
                    starts: np.ndarray | None = None) -> pd.DataFrame:
    """Circular block-bootstrap confidence intervals for CAGR, Sharpe and excess return.

    The daily returns after the starting point (strategy, benchmark and risk-free together, so their
    co-movement is kept) are resampled in blocks of ``block`` trading days; each resampled path spans the
    original calendar days (CAGR) and is scored with the metrics.json formulas. Percentile intervals at
    ``confidence``. Returns a DataFrame indexed by metric (``cagr``, ``sharpe``, ``excess_return``) with
    ``estimate`` (on the original data), ``low``, ``high``, ``std`` (of the bootstrap distribution), and
    ``share_positive``. NaN with fewer than ``2 * block`` returns, or when a value reaches zero or below (a
    return at or below -100%: its metrics are NaN, `metrics.compute_metrics`). ``starts``: the draw of
    `block_starts`
    (``samples x ceil((len(returns) - 1) / block)``), to share one draw between several strategies.
    """
    r, b = returns.align(benchmark, join="inner")
    rf = (risk_free.reindex(r.index).fillna(0.0) if risk_free is not None
          else pd.Series(0.0, index=r.index))
    years = (r.index[-1] - r.index[0]).days / DAYS_PER_YEAR if len(r) >= 2 else math.nan
    x = np.nan_to_num(np.column_stack([r.to_numpy()[1:], b.to_numpy()[1:], rf.to_numpy()[1:]]).astype(float))
    cols = ["estimate", "low", "high", "std", "share_positive"]
    names = ["cagr", "sharpe", "excess_return"]
    n = len(x)
    if n < 2 * block or not years > 0 or (r <= -1.0).any() or (b <= -1.0).any():
        return pd.DataFrame(math.nan, index=pd.Index(names, name="metric"), columns=cols)
    ls, lb, ex = np.log1p(x[:, 0]), np.log1p(x[:, 1]), x[:, 0] - x[:, 2]
    # metrics.sharpe_ratio counts the starting point (its return minus the risk-free's, 0.0 in a run) as a
    # day: kept fixed here so that the estimate is metrics.json's Sharpe exactly
    x0 = float(np.nan_to_num(r.iloc[0] - rf.iloc[0]))
    # the first day's growth (from the capital: the opening fees) is kept fixed too, so the CAGR estimate is
    # metrics.json's exactly
    l0s, l0b = (float(np.log1p(np.nan_to_num(v.iloc[0]))) for v in (r, b))

    def score(sum_ls, sum_lb, s1, s2):
        cagr_s = np.exp((sum_ls + l0s) / years) - 1.0
        cagr_b = np.exp((sum_lb + l0b) / years) - 1.0
        m = n + 1
        mean = (s1 + x0) / m
        sd = np.sqrt(np.clip((s2 + x0 ** 2 - m * mean ** 2) / (m - 1), 0.0, None))
        with np.errstate(invalid="ignore", divide="ignore"):
            sharpe = np.where(sd > 1e-12, mean / sd, np.nan) * math.sqrt(PERIODS_PER_YEAR)
        return np.stack([cagr_s, sharpe, cagr_s - cagr_b], axis=-1)

    est = score(ls.sum(), lb.sum(), ex.sum(), (ex ** 2).sum())
    st = starts if starts is not None else block_starts(n, samples=samples, block=block, seed=seed)
    boot = score(*(_block_sums(q, st, block) for q in (ls, lb, ex, ex ** 2)))
    a = (1.0 - confidence) / 2.0
    lo, hi = np.nanquantile(boot, [a, 1.0 - a], axis=0)
    return pd.DataFrame({"estimate": est, "low": lo, "high": hi, "std": np.nanstd(boot, axis=0, ddof=1),
                         "share_positive": (boot > 0).mean(axis=0)}, index=pd.Index(names, name="metric"))
