"""Is the best variant of a sweep better than luck? Pure functions on daily simple returns.

- ``probabilistic_sharpe``: PSR, the probability that the true Sharpe ratio exceeds a threshold given the
  track record's length, skewness and kurtosis (Bailey and Lopez de Prado 2012, "The Sharpe Ratio Efficient
  Frontier").
- ``expected_max_sharpe`` / ``deflated_sharpe``: DSR, the PSR of the best of N trials against the Sharpe
  ratio expected from the best of N unskilled trials (Bailey and Lopez de Prado 2014, "The Deflated Sharpe
  Ratio"); ``effective_trials`` discounts N for the trials' correlation.
- ``pbo``: the probability of backtest overfitting by combinatorially symmetric cross-validation (CSCV;
  Bailey, Borwein, Lopez de Prado and Zhu 2017, "The Probability of Backtest Overfitting").

Sharpe ratios here are **per period** (daily, not annualised) unless a name says otherwise: that is the
scale of the papers' formulas. Multiply by ``sqrt(252)`` to annualise.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from scipy import stats

EULER_GAMMA = 0.5772156649015329


def _sharpe(x: np.ndarray) -> float:
    sd = float(np.std(x, ddof=1)) if len(x) >= 2 else math.nan
    return float(np.mean(x)) / sd if sd > 1e-12 else math.nan


def psr_from_stats(sharpe: float, n: int, skew: float, kurtosis: float, threshold: float = 0.0) -> float:
    """PSR from the moments: ``Phi((SR - SR*) sqrt(n - 1) / sqrt(1 - skew SR + (kurtosis - 1) / 4 SR^2))``.

    ``sharpe`` and ``threshold`` per period; ``kurtosis`` is the plain (not excess) kurtosis, 3 for a normal
    distribution. NaN when the inputs cannot define it."""
    if not (n > 1 and math.isfinite(sharpe) and math.isfinite(threshold)):
        return math.nan
    var = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe ** 2
    if not var > 0:
        return math.nan
    return float(stats.norm.cdf((sharpe - threshold) * math.sqrt(n - 1) / math.sqrt(var)))


def probabilistic_sharpe(returns: pd.Series | np.ndarray, threshold: float = 0.0, *,
                         risk_free: pd.Series | None = None) -> float:
    """PSR of a daily return series (the metrics.json convention: a leading ``0.0`` starting point is
    dropped when ``returns`` is a Series whose first value is exactly 0) against the per-period Sharpe
    ``threshold``, on returns in excess of ``risk_free``."""
    x = _excess_array(returns, risk_free)
    if len(x) < 3:
        return math.nan
    return psr_from_stats(_sharpe(x), len(x), float(stats.skew(x)), float(stats.kurtosis(x, fisher=False)),
                          threshold)


def probabilistic_sharpe_frame(returns: pd.DataFrame, threshold: float = 0.0, *,
                               risk_free: pd.Series | None = None) -> pd.Series:
    """`probabilistic_sharpe` of every column of ``returns`` (date x variant) at once. Every row counts, the
    first (the base day's return from the capital) included, as metrics.json counts it: a frame has no
    starting-point convention to guess from its values."""
    x = returns.astype(float)
    if risk_free is not None:
        x = x.sub(risk_free.astype(float).reindex(x.index).fillna(0.0), axis=0)
    full = x.columns[x.notna().all().to_numpy()]
    out = pd.Series(math.nan, index=x.columns, dtype=float)
    if len(full) and len(x) >= 3:             # columns without gaps: the moments at once
        v = x[full].to_numpy()
        sd = v.std(axis=0, ddof=1)
        sr = np.where(sd > 1e-12, v.mean(axis=0) / np.where(sd > 1e-12, sd, 1.0), np.nan)
        g3, g4 = stats.skew(v, axis=0), stats.kurtosis(v, axis=0, fisher=False)
        out[full] = [psr_from_stats(float(a), len(v), float(b), float(c), threshold) for a, b, c in zip(sr, g3, g4)]
    for c in x.columns.difference(full):
        v = x[c].dropna().to_numpy()
        out[c] = (psr_from_stats(_sharpe(v), len(v), float(stats.skew(v)), float(stats.kurtosis(v, fisher=False)),
                                 threshold) if len(v) >= 3 else math.nan)
    return out


def _excess_array(returns, risk_free) -> np.ndarray:
    if isinstance(returns, pd.Series):
        r = returns.astype(float)
        if len(r) and r.iloc[0] == 0.0:
            r = r.iloc[1:]
        if risk_free is not None:
            r = r - risk_free.astype(float).reindex(r.index).fillna(0.0)
        return r.dropna().to_numpy()
    return np.asarray(returns, dtype=float)


def expected_max_sharpe(variance: float, trials: float) -> float:
    """Expected maximum per-period Sharpe ratio of ``trials`` unskilled trials whose Sharpe estimates have
    ``variance`` across trials: ``sqrt(V) ((1 - g) Phi^-1(1 - 1/N) + g Phi^-1(1 - 1/(N e)))``, g the
    Euler-Mascheroni constant. Zero for one trial or fewer (nothing to deflate), and never below zero: between
    one and ~1.28 effective trials the formula turns negative, which would make the "deflated" ratio exceed
    the undeflated one (the expected best of unskilled trials is taken as no better than zero then)."""
    if not (variance >= 0 and trials > 1):
        return 0.0 if trials <= 1 else math.nan
    z1 = stats.norm.ppf(1.0 - 1.0 / trials)
    z2 = stats.norm.ppf(1.0 - 1.0 / (trials * math.e))
    return max(0.0, float(math.sqrt(variance) * ((1.0 - EULER_GAMMA) * z1 + EULER_GAMMA * z2)))


def effective_trials(returns: pd.DataFrame) -> tuple[float, float]:
    """``(effective number of trials, mean pairwise correlation)``: ``rho + (1 - rho) N`` with ``rho`` the
    mean off-diagonal correlation of the variants' daily returns (1 trial when all are perfectly
    correlated, N when uncorrelated; negative mean correlations count as zero)."""
    n = returns.shape[1]
    if n < 2:
        return float(n), math.nan
    # The mean of the off-diagonal correlations without the n x n matrix (800 MB for 10,000 variants): with
    # z the standardised columns (ddof 1), the sum of all correlations is sum_t (sum_i z[t, i])^2 / (T - 1);
    # take away the diagonal's ones and divide by the pairs. Constant columns have no correlation (NaN in
    # np.corrcoef, left out of the mean as there).
    x = returns.to_numpy(dtype=float)
    t = len(x)
    sd = x.std(axis=0, ddof=1) if t > 1 else np.zeros(n)
    live = np.isfinite(sd) & (sd > 0)
    m = int(live.sum())
    if m < 2:
        return float(n), math.nan
    y = x[:, live]
    z = (y - y.mean(axis=0)) / sd[live]
    total = float((z.sum(axis=1) ** 2).sum()) / (t - 1)
    rho = (total - m) / (m * (m - 1))
    r = min(max(rho, 0.0), 1.0)
    return r + (1.0 - r) * n, rho


def deflated_sharpe(returns: pd.DataFrame, *, risk_free: pd.Series | None = None,
                    trials: float | None = None) -> dict:
    """DSR of the best variant (highest Sharpe) of ``returns`` (date x variant, daily simple returns).

    The threshold is `expected_max_sharpe` of the variance of the variants' per-period Sharpe ratios and
    ``trials`` (default `effective_trials`). Returns ``best``, ``sharpe`` (per period) and
    ``sharpe_annual``, ``threshold`` (per period) and ``threshold_annual``, ``trials``, ``variants``,
    ``mean_correlation``, ``skew``, ``kurtosis``, ``n`` and ``dsr``. Every row counts (see
    `probabilistic_sharpe_frame`), so ``sharpe_annual`` is the best variant's metrics.json Sharpe."""
    x = returns.astype(float)
    if risk_free is not None:
        x = x.sub(risk_free.astype(float).reindex(x.index).fillna(0.0), axis=0)
    x = x.dropna(how="any")
    sr = pd.Series({c: _sharpe(x[c].to_numpy()) for c in x.columns}, dtype=float)
    n_eff, rho = effective_trials(x)
    trials = n_eff if trials is None else float(trials)
    out = {"variants": int(x.shape[1]), "trials": trials, "mean_correlation": rho, "n": int(len(x))}
    if sr.dropna().empty:
        return {**out, "best": None, "sharpe": math.nan, "sharpe_annual": math.nan, "threshold": math.nan,
                "threshold_annual": math.nan, "skew": math.nan, "kurtosis": math.nan, "dsr": math.nan}
    best = sr.idxmax()
    b = x[best].to_numpy()
    sr0 = expected_max_sharpe(float(sr.var(ddof=1)) if sr.count() > 1 else 0.0, trials)
    sk, ku = float(stats.skew(b)), float(stats.kurtosis(b, fisher=False))
    return {**out, "best": best, "sharpe": float(sr[best]), "sharpe_annual": float(sr[best]) * math.sqrt(252),
            "threshold": sr0, "threshold_annual": sr0 * math.sqrt(252), "skew": sk, "kurtosis": ku,
            "dsr": psr_from_stats(float(sr[best]), len(b), sk, ku, sr0)}


def pbo(returns: pd.DataFrame, *, blocks: int = 16, risk_free: pd.Series | None = None,
        batch: int = 2048) -> dict:
    """Probability of backtest overfitting by CSCV.

    The dates (rows of ``returns``, date x variant) are cut into ``blocks`` (even) contiguous blocks of equal
    length (the earliest rows left over are dropped). For every way of choosing half the blocks as the
    in-sample set (the rest out of sample), the variant with the best in-sample Sharpe ratio is found and
    its out-of-sample rank ``r`` (1 = worst of N, ties averaged) gives ``w = r / (N + 1)`` and the logit
    ``log(w / (1 - w))``. PBO is the share of splits whose logit is <= 0: the in-sample winner did no better
    than the median variant out of sample. Returns ``pbo``, ``splits``, ``blocks``, ``variants``,
    ``logit_median`` and ``oos_loss_share`` (splits where the winner's out-of-sample Sharpe was negative).
    Variants with identical returns (swept values that change nothing) have no PBO: NaN, with ``identical``
    True (every rank would tie and count as overfit). Every row counts (see `probabilistic_sharpe_frame`).
    """
    if blocks < 2 or blocks % 2:
        raise ValueError(f"pbo: blocks must be an even number >= 2, got {blocks}")
    x = returns.astype(float)
    if risk_free is not None:
        x = x.sub(risk_free.astype(float).reindex(x.index).fillna(0.0), axis=0)
    m = x.dropna(how="any").to_numpy()
    t, n = m.shape
    size = t // blocks
    base = {"blocks": blocks, "variants": n}
    if n < 2 or size < 2 or (m == m[:, :1]).all():     # identical variants: every rank ties, nothing to select
        return {**base, "pbo": math.nan, "splits": 0, "logit_median": math.nan, "oos_loss_share": math.nan,
                **({"identical": True} if n >= 2 and size >= 2 else {})}
    m = m[t - size * blocks:].reshape(blocks, size, n)
    s1, s2 = m.sum(axis=1), (m ** 2).sum(axis=1)                  # blocks x n
    combos = np.array([[i in c for i in range(blocks)] for c in itertools.combinations(range(blocks), blocks // 2)],
                      dtype=float)
    logits, losses = [], []
    half = size * blocks // 2
    batch = max(16, min(batch, 2_000_000 // n))     # splits x variants per pass: bounded memory for 10,000 variants
    for lo in range(0, len(combos), batch):
        ins = combos[lo:lo + batch]
        outs = 1.0 - ins
        sr_in = _block_sharpe(ins @ s1, ins @ s2, half)
        sr_out = _block_sharpe(outs @ s1, outs @ s2, half)
        best = np.nanargmax(np.where(np.isnan(sr_in), -np.inf, sr_in), axis=1)
        ranks = stats.rankdata(sr_out, axis=1)                     # 1 = worst, ties averaged
        w = ranks[np.arange(len(ins)), best] / (n + 1.0)
        logits.append(np.log(w / (1.0 - w)))
        losses.append(sr_out[np.arange(len(ins)), best] < 0)
    lam = np.concatenate(logits)
    return {**base, "pbo": float((lam <= 0).mean()), "splits": int(len(lam)),
            "logit_median": float(np.median(lam)), "oos_loss_share": float(np.concatenate(losses).mean())}


def _block_sharpe(s1: np.ndarray, s2: np.ndarray, n: int) -> np.ndarray:
    mean = s1 / n
    var = (s2 - n * mean ** 2) / (n - 1)
    sd = np.sqrt(np.clip(var, 0.0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sd > 1e-12, mean / sd, np.nan)
