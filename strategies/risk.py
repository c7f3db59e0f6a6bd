"""Risk-based weights from trailing daily returns: inverse volatility, minimum variance, risk parity, HRP.

The steps, each a plain function::

    returns, notes = trailing_returns(inputs, lookback)   # select: names with a full lookback
    cov = covariance(returns, method)                     # estimate: sample or Ledoit-Wolf
    weights = min_variance(cov) | risk_parity(cov) | hrp(cov) | inverse_vol(returns)
    weights = apply_caps(weights, spec.caps, inputs.groups)   # constrain, last: caps always win

Conventions
-----------
* Returns are daily simple returns of the adjusted closes over the trailing ``lookback`` trading days that
  end at the decision close: ``lookback + 1`` closes, the last on the decision date. Nothing later is read
  (``inputs.history`` stops at the decision date).
* A universe name without a close on every one of those days (listed too recently, or a gap in its prices)
  has no full lookback: it is left out of the weights and named in a note. So is a name whose price did not
  move over the whole window (zero volatility: it would take all of a minimum-variance portfolio).
* ``sample`` is the unbiased sample covariance (ddof 1); ``ledoit_wolf`` is scikit-learn's
  :class:`~sklearn.covariance.LedoitWolf` (the maximum-likelihood covariance shrunk toward a scaled identity,
  with the optimal shrinkage of Ledoit and Wolf 2004).
* ``inverse_vol``: ``w_i`` proportional to ``1 / sigma_i``, ``sigma_i`` the standard deviation of daily
  returns (ddof 1). A closed form; ``covariance`` does not apply.
* ``min_variance``: the long-only, fully invested minimum of ``w' S w`` (cvxpy, Clarabel interior point with
  its ``faer`` direct solver).
* ``risk_parity``: long-only equal risk contribution, ``w_i (S w)_i`` equal for all ``i``, from the strictly
  convex problem ``min 1/2 x' S x - (1/n) sum log x_i`` (Spinu 2013), whose optimum satisfies
  ``x_i (S x)_i = 1/n``; ``w = x / sum x``. Solved by damped Newton steps (scipy's Cholesky solve of
  ``S + diag(1 / (n x^2))``, a step that keeps ``x > 0``, Armijo backtracking) from the inverse-volatility
  point (about ten Cholesky solves), risk contributions equal to ~1e-14.
* ``hrp``: hierarchical risk parity (Lopez de Prado 2016): single-linkage clustering (scipy) of the
  distance ``sqrt((1 - rho) / 2)``, names ordered by the dendrogram's leaves, then recursive bisection of
  that order with inverse-variance cluster variances.
* Caps: for ``min_variance`` the single-name and group caps are constraints of the optimisation (the result
  is the minimum variance under the caps; a projection afterwards would often be infeasible, since the
  minimum holds few names). Every other cap (all caps of inverse_vol, risk_parity and hrp, and the
  aggregate rule of min_variance, which is not convex) is applied after the weighting by the exact solvers
  of :mod:`strategies.capping`: the minimal-change projection of the computed weights.

Weights below ``DUST`` (1e-9, under the solvers' tolerance) are set to zero before the sum is renormalised.

Speed: the trailing returns and the covariance of a date are computed once and shared by every strategy that
asks for the same window (a small memo keyed by the window's content, so a different history never hits it),
and the numpy/scipy work runs with one BLAS thread (threadpoolctl): on two busy cores the default threads
oversubscribe them and run several times slower.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any

import numpy as np
import pandas as pd

from backtest.errors import DataError
from strategies.base import DecisionInputs, Weights, finalise, normalise
from strategies.capping import (
    CAP_BINDS,
    InfeasibleCapsError,
    apply_caps,
    caps_bound_note,
    resolve_group_caps,
)

DEFAULT_LOOKBACK = 252                    # = backtest.config.schema.DEFAULT_LOOKBACK (a test checks)
COVARIANCES = ("sample", "ledoit_wolf")   # = backtest.config.schema.COVARIANCES
DUST = 1e-9
FAMILIES = ("inverse_vol", "min_variance", "risk_parity", "hrp")


_MEMO: OrderedDict = OrderedDict()     # (what, content key) -> result; pure: the key is the inputs' content
_MEMO_SIZE = 16
_MEMO_LOCK = threading.Lock()


def _fingerprint(frame: pd.DataFrame) -> tuple:
    """A key for ``frame``'s exact content: its index, columns and the bytes of its values."""
    digest = hashlib.blake2b(np.ascontiguousarray(frame.to_numpy(dtype="float64")).tobytes(), digest_size=16)
    digest.update(frame.index.asi8.tobytes() if isinstance(frame.index, pd.DatetimeIndex) else
                  repr(tuple(frame.index)).encode())
    return tuple(frame.columns), frame.shape, digest.hexdigest()


def _memo(key: tuple, compute):
    """``compute()``, or the result it gave for the same ``key`` (the last ``_MEMO_SIZE`` kept)."""
    with _MEMO_LOCK:
        if key in _MEMO:
            _MEMO.move_to_end(key)
            return _MEMO[key]
    value = compute()
    with _MEMO_LOCK:
        _MEMO[key] = value
        while len(_MEMO) > _MEMO_SIZE:
            _MEMO.popitem(last=False)
    return value


def _one_blas_thread():
    """A context with one BLAS/OpenMP thread (threadpoolctl): the matrices here are a few hundred wide, where
    threads gain little on an idle machine and lose several times over on a busy one."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def trailing_returns(inputs: DecisionInputs, lookback: int) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Daily simple returns over the ``lookback`` trading days ending at ``inputs.date``.

    Returns
    -------
    (pd.DataFrame, tuple[str, ...])
        ``lookback`` rows indexed by trading date (the last is ``inputs.date``), one column per universe name
        with a close on all ``lookback + 1`` days and a non-zero volatility (sorted); and notes naming the
        names left out.
    """
    day = f"{inputs.date:%Y-%m-%d}"
    names = sorted(set(inputs.universe))
    window = inputs.history.reindex(columns=names).iloc[-(lookback + 1):]
    if len(window) < lookback + 1:
        raise DataError(f"{day}: the price history has only {len(window)} trading days up to the decision "
                        f"date, fewer than lookback + 1 = {lookback + 1}; start the run later or shorten "
                        "lookback")
    return _memo(("returns", day, len(names), _fingerprint(window)), lambda: _returns_of(window, names, day))


def _returns_of(window: pd.DataFrame, names: list[str], day: str) -> tuple[pd.DataFrame, tuple[str, ...]]:
    lookback = len(window) - 1
    full = window.notna().all()
    returns = window.loc[:, full].pct_change().iloc[1:]
    flat = returns.columns[(returns.std(ddof=1) == 0).to_numpy()]
    notes = []
    short = full.index[~full].tolist()
    if short:
        notes.append(f"{day}: {len(short)} of {len(names)} universe names have no full {lookback}-day lookback "
                     f"(listed later or a gap in prices) and were left out: {', '.join(short)}")
    if len(flat):
        notes.append(f"{day}: {len(flat)} universe name(s) had no price change over the {lookback}-day "
                     f"lookback (zero volatility) and were left out: {', '.join(flat)}")
    returns = returns.drop(columns=flat)
    if returns.shape[1] == 0:
        raise DataError(f"{day}: none of the {len(names)} universe names has a full {lookback}-day lookback "
                        "of moving prices; start the run later or shorten lookback")
    return returns, tuple(notes)


def covariance(returns: pd.DataFrame, method: str = "sample") -> pd.DataFrame:
    """Covariance of daily ``returns`` (rows = dates, columns = names): DataFrame names x names."""
    if method not in COVARIANCES:
        raise ValueError(f"covariance must be one of {COVARIANCES}, got {method!r}")
    return _memo(("covariance", method, _fingerprint(returns)), lambda: _covariance(returns, method))


def _covariance(returns: pd.DataFrame, method: str) -> pd.DataFrame:
    if method == "sample":
        values = np.atleast_2d(np.cov(returns.to_numpy(), rowvar=False, ddof=1))
    elif method == "ledoit_wolf":
        from sklearn.covariance import LedoitWolf

        with _one_blas_thread():
            values = LedoitWolf(store_precision=False).fit(returns.to_numpy()).covariance_
    return pd.DataFrame(values, index=returns.columns, columns=returns.columns)


def inverse_vol(returns: pd.DataFrame) -> pd.Series:
    """``1 / sigma`` (daily standard deviation, ddof 1) normalised: Series indexed by name."""
    return normalise(1.0 / returns.std(ddof=1))


def _scaled(cov: pd.DataFrame) -> np.ndarray:
    """The covariance divided by its mean variance (same optimum, better conditioned for the solver),
    symmetrised."""
    values = cov.to_numpy(dtype="float64")
    values = (values + values.T) / 2
    return values / float(np.mean(np.diag(values)))


def _solve(problem, what: str) -> None:
    """Solve with Clarabel at tolerances 1e-10, or if that ends inaccurate at its defaults (1e-8); an
    inaccurate or failed solve is an error, never used. Clarabel factors its KKT system with its supernodal
    ``faer`` solver on one thread (the covariance block is dense: about twice as fast as the default
    ``qdldl``, the same iterates to ~1e-12); a Clarabel without ``faer`` uses its default."""
    import warnings

    import cvxpy as cp

    fast = {"direct_solve_method": "faer", "max_threads": 1}
    for tol in (1e-10, 1e-8):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)   # cvxpy's "may be inaccurate": the status says it
            options = dict(solver=cp.CLARABEL, tol_gap_abs=tol, tol_gap_rel=tol, tol_feas=tol, max_iter=500)
            try:
                problem.solve(**options, **fast)
            except (cp.error.SolverError, TypeError, ValueError, AttributeError):
                fast = {}
                try:
                    problem.solve(**options)
                except cp.error.SolverError:
                    continue                # a failed solve: try the looser tolerance, then say so below
        if problem.status == cp.OPTIMAL:
            return
    if problem.status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
        raise InfeasibleCapsError(f"{what}: the caps cannot all be met over the names weighted; loosen them")
    raise DataError(f"{what}: the solver stopped with status {problem.status!r}; try covariance: "
                    "ledoit_wolf or a longer lookback")


def _clean(values: np.ndarray, index: pd.Index) -> pd.Series:
    values = np.where(values > DUST, values, 0.0)
    return normalise(pd.Series(values, index=index))


def min_variance(cov: pd.DataFrame, single: float | None = None,
                 groups: dict[str, tuple[tuple[str, ...], float]] | None = None) -> pd.Series:
    """Long-only, fully invested minimum-variance weights for ``cov`` (names x names): Series by name.

    ``single`` (max weight of a name) and ``groups`` (``{group: (members, max total)}``) are constraints of
    the problem: the result is the minimum variance under those caps.
    """
    import cvxpy as cp

    s = _scaled(cov)
    w = cp.Variable(len(s))
    constraints = [w >= 0, cp.sum(w) == 1]
    if single is not None:
        if single * len(s) < 1 - 1e-12:
            raise InfeasibleCapsError(f"caps.single {single:g} cannot be met by the {len(s)} names weighted "
                                      f"(at most {single * len(s):g} in total); loosen the cap")
        constraints.append(w <= single)
    for group, (members, cap) in (groups or {}).items():
        idx = np.flatnonzero(cov.index.isin(list(members)))
        if len(idx) and cap < 1:
            constraints.append(cp.sum(w[idx]) <= cap)
    problem = cp.Problem(cp.Minimize(cp.quad_form(w, cp.psd_wrap(s))), constraints)
    _solve(problem, "min_variance")
    return _clean(np.asarray(w.value, dtype="float64"), cov.index)


def risk_parity(cov: pd.DataFrame) -> pd.Series:
    """Long-only equal-risk-contribution weights for ``cov`` (names x names): Series by name."""
    s = _scaled(cov)
    with _one_blas_thread():
        x = _erc_newton(s)
    return _clean(x, cov.index)


def _erc_newton(s: np.ndarray, max_steps: int = 100) -> np.ndarray:
    """The minimiser ``x > 0`` of ``f(x) = 1/2 x' S x - (1/n) sum log x_i`` by damped Newton steps.

    ``f`` is strictly convex on ``x > 0`` (Hessian ``S + diag(1 / (n x^2))``, positive definite), so the
    minimiser is unique and Newton's method converges to it quadratically. Each step solves the Newton system
    by Cholesky (scipy), is cut to stay inside ``x > 0`` (99% of the way to the boundary at most) and halved
    until the Armijo condition holds, until the Newton decrement is below 1e-12 (``f`` within ~1e-12 of its
    minimum); then full steps while the optimality residual ``max |n x_i (S x)_i - 1|`` falls (it reaches
    ~1e-14). The start is
    the inverse-volatility point scaled to ``x' S x = 1`` (which the optimum satisfies: summing
    ``x_i (S x)_i = 1/n`` over ``i``). Raises DataError when no point with a residual below 1e-9 is found."""
    from scipy.linalg import LinAlgError, cho_factor, cho_solve

    n = len(s)
    x = 1.0 / np.sqrt(np.diag(s))
    x /= np.sqrt(x @ s @ x)

    def f(v: np.ndarray) -> float:
        return 0.5 * float(v @ s @ v) - float(np.log(v).sum()) / n

    def newton(v: np.ndarray) -> tuple[np.ndarray, float, float]:
        g = s @ v - 1.0 / (n * v)
        step = -cho_solve(cho_factor(s + np.diag(1.0 / (n * v * v))), g)
        down = step < 0
        t = min(1.0, 0.99 * float(np.min(-v[down] / step[down]))) if down.any() else 1.0
        return step, -float(g @ step), t

    def residual(v: np.ndarray) -> float:
        return float(np.abs(n * v * (s @ v) - 1.0).max())

    try:
        fx = f(x)
        for _ in range(max_steps):                     # damped phase
            step, decrement, t = newton(x)
            if decrement < 1e-12:                      # f within 1e-12 of its minimum: well inside the
                break                                  # region where full steps converge quadratically
            while f(x + t * step) > fx - 0.25 * t * decrement and t > 1e-12:
                t *= 0.5
            x = x + t * step
            fx = f(x)
        for _ in range(8):                             # full steps: quadratic convergence near the optimum
            step, _, t = newton(x)
            trial = x + t * step
            if residual(trial) >= residual(x):
                break
            x = trial
    except LinAlgError:
        pass
    if (x > 0).all() and residual(x) < 1e-9:
        return x
    raise DataError("risk_parity: no equal-risk-contribution solution was found (the covariance may be "
                    "singular); try covariance: ledoit_wolf or a longer lookback")


def hrp(cov: pd.DataFrame) -> pd.Series:
    """Hierarchical risk parity weights for ``cov`` (names x names): Series by name."""
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    values = cov.to_numpy(dtype="float64")
    n = len(values)
    if n == 1:
        return pd.Series(1.0, index=cov.index)
    sd = np.sqrt(np.diag(values))
    corr = np.clip(values / np.outer(sd, sd), -1.0, 1.0)
    dist = np.sqrt(np.clip((1.0 - corr) / 2.0, 0.0, None))
    np.fill_diagonal(dist, 0.0)
    order = leaves_list(linkage(squareform(dist, checks=False), method="single"))
    w = np.ones(n)
    clusters = [order]
    while clusters:
        clusters = [c[j:k] for c in clusters for j, k in ((0, len(c) // 2), (len(c) // 2, len(c))) if len(c) > 1]
        for left, right in zip(clusters[::2], clusters[1::2]):
            v_left, v_right = _cluster_variance(values, left), _cluster_variance(values, right)
            alpha = 1.0 - v_left / (v_left + v_right)
            w[left] *= alpha
            w[right] *= 1.0 - alpha
    return normalise(pd.Series(w, index=cov.index))


def _cluster_variance(cov: np.ndarray, idx: np.ndarray) -> float:
    """Variance of the inverse-variance portfolio of the names ``idx``."""
    sub = cov[np.ix_(idx, idx)]
    ivp = 1.0 / np.diag(sub)
    ivp /= ivp.sum()
    return float(ivp @ sub @ ivp)


def _convex_caps(caps: Any, inputs: DecisionInputs) -> tuple[float | None, dict | None]:
    """The single and group caps of a ``Caps`` spec, as min_variance takes them (None, None without caps)."""
    if caps is None:
        return None, None
    return caps.single, resolve_group_caps(caps.groups, inputs.groups)


def risk_contributions(weights: pd.Series, cov: pd.DataFrame) -> pd.Series:
    """Each name's share of the portfolio variance, ``w_i (S w)_i / w' S w``: sums to 1."""
    w = weights.reindex(cov.index).fillna(0.0).to_numpy()
    s = cov.to_numpy()
    marginal = s @ w
    return pd.Series(w * marginal / float(w @ marginal), index=cov.index)


def weigh(spec: Any, inputs: DecisionInputs) -> Weights:
    """Risk-based weights of ``inputs.universe`` by ``spec.weighting`` (one of :data:`FAMILIES`), from
    ``spec.lookback`` days and ``spec.covariance``, capped by ``spec.caps`` (optional).

    Returns
    -------
    Weights
        ``weights`` indexed by ticker (sorted, zero weights dropped), summing to 1; ``notes`` name the names
        left out for lack of a full lookback.

    Raises
    ------
    DataError
        No name has a full lookback, or the solver fails.
    InfeasibleCapsError
        The caps cannot be met over the weighted names.
    """
    family = spec.weighting
    lookback = getattr(spec, "lookback", None) or DEFAULT_LOOKBACK
    method = getattr(spec, "covariance", None) or "sample"
    name = getattr(spec, "name", None)
    who = f"strategy {name!r}" if name else family
    try:
        returns, notes = trailing_returns(inputs, lookback)
    except DataError as exc:
        raise type(exc)(f"{who}: {exc}") from None
    try:
        if family == "inverse_vol":
            weights = inverse_vol(returns)
        else:
            cov = covariance(returns, method)
            if family == "min_variance":
                weights = min_variance(cov, *_convex_caps(getattr(spec, "caps", None), inputs))
            else:
                weights = {"risk_parity": risk_parity, "hrp": hrp}[family](cov)
            if method == "sample" and returns.shape[1] >= lookback and family == "min_variance":
                notes += (f"{inputs.date:%Y-%m-%d}: {family}: {returns.shape[1]} names but only {lookback} "
                          "daily returns: the sample covariance is singular and the minimum is not unique; "
                          "covariance: ledoit_wolf gives a unique one",)
    except DataError as exc:             # a solver that failed: say on which date
        raise type(exc)(f"{who} on {inputs.date:%Y-%m-%d}: {exc}") from None
    caps_spec = getattr(spec, "caps", None)
    if caps_spec is not None:  # min_variance: single and group caps already hold; the aggregate rule is applied here
        try:
            capped = apply_caps(weights, caps_spec, inputs.groups)
        except InfeasibleCapsError as exc:
            raise InfeasibleCapsError(f"{who} on {inputs.date:%Y-%m-%d}: {exc}") from None
        every = weights.index.union(capped.index)
        bound = caps_bound_note(inputs.date, capped.reindex(every, fill_value=0.0)
                                .sub(weights.reindex(every, fill_value=0.0)).abs())
        if bound:                         # the run counts the dates its caps bound (backtest.plan_notes)
            notes += bound
        elif family == "min_variance":    # its single and group caps are constraints of the optimiser: they
            single, groups = _convex_caps(caps_spec, inputs)      # bound where the optimum sits on them
            at_single = 0 if single is None else int((capped >= single - CAP_BINDS).sum())
            at_group = [g for g, (members, c) in (groups or {}).items()
                        if c < 1 and float(capped.reindex(list(members)).fillna(0.0).sum()) >= c - CAP_BINDS]
            if at_single or at_group:
                notes += (f"{inputs.date:%Y-%m-%d}: caps bound: the optimum holds "
                          + ", ".join(([f"{at_single} name(s) at the single cap"] if at_single else [])
                                      + [f"group {g} at its cap" for g in at_group]),)
        weights = capped
    return Weights(finalise(weights), notes)
