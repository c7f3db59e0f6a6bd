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
* ``min_variance``: the long-only, fully invested minimum of ``w' S w`` (cvxpy, Clarabel interior point).
* ``risk_parity``: long-only equal risk contribution, ``w_i (S w)_i`` equal for all ``i``, from the convex
  problem ``min 1/2 x' S x - (1/n) sum log x_i`` (Spinu 2013) solved by cvxpy/Clarabel and refined by scipy's
  ``root`` on its optimality condition ``x_i (S x)_i = 1/n``; ``w = x / sum x``.
* ``hrp``: hierarchical risk parity (Lopez de Prado 2016): single-linkage clustering (scipy) of the
  distance ``sqrt((1 - rho) / 2)``, names ordered by the dendrogram's leaves, then recursive bisection of
  that order with inverse-variance cluster variances.
* Caps: for ``min_variance`` the single-name and group caps are constraints of the optimisation (the result
  is the minimum variance under the caps; a projection afterwards would often be infeasible, since the
  minimum holds few names). Every other cap (all caps of inverse_vol, risk_parity and hrp, and the
  aggregate rule of min_variance, which is not convex) is applied after the weighting by the exact solvers
  of :mod:`strategies.capping`: the minimal-change projection of the computed weights.

Weights below ``DUST`` (1e-9, under the solvers' tolerance) are set to zero before the sum is renormalised.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from backtest.errors import DataError
from strategies.base import DecisionInputs, Weights, finalise, normalise
from strategies.capping import InfeasibleCapsError, apply_caps, resolve_group_caps

DEFAULT_LOOKBACK = 252                    # = backtest.config.schema.DEFAULT_LOOKBACK (a test checks)
COVARIANCES = ("sample", "ledoit_wolf")   # = backtest.config.schema.COVARIANCES
DUST = 1e-9
FAMILIES = ("inverse_vol", "min_variance", "risk_parity", "hrp")


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
    if method == "sample":
        values = np.atleast_2d(np.cov(returns.to_numpy(), rowvar=False, ddof=1))
    elif method == "ledoit_wolf":
        from sklearn.covariance import LedoitWolf

        values = LedoitWolf().fit(returns.to_numpy()).covariance_
    else:
        raise ValueError(f"covariance must be one of {COVARIANCES}, got {method!r}")
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
    inaccurate or failed solve is an error, never used."""
    import warnings

    import cvxpy as cp

    for tol in (1e-10, 1e-8):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)   # cvxpy's "may be inaccurate": the status says it
            problem.solve(solver=cp.CLARABEL, tol_gap_abs=tol, tol_gap_rel=tol, tol_feas=tol, max_iter=500)
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
    import cvxpy as cp

    s = _scaled(cov)
    n = len(s)
    x = cp.Variable(n)
    objective = 0.5 * cp.quad_form(x, cp.psd_wrap(s)) - cp.sum(cp.log(x)) / n
    _solve(cp.Problem(cp.Minimize(objective)), "risk_parity")
    return _clean(_polish_erc(s, np.asarray(x.value, dtype="float64")), cov.index)


def _polish_erc(s: np.ndarray, x0: np.ndarray) -> np.ndarray:
    """Refine the interior-point solution with scipy's ``root`` on the optimality condition
    ``x_i (S x)_i = 1/n`` (Jacobian ``diag(S x) + diag(x) S``): the conic solver stops at a duality gap that
    leaves risk contributions equal only to ~1e-5; Newton steps from there reach machine precision. The
    refined point is kept only if it is positive and has the smaller residual."""
    from scipy.optimize import root

    n = len(s)

    def residual(x):
        return x * (s @ x) - 1.0 / n

    def jacobian(x):
        return np.diag(s @ x) + x[:, None] * s

    found = root(residual, x0, jac=jacobian, method="lm")
    if (found.x > 0).all() and np.abs(residual(found.x)).max() < np.abs(residual(x0)).max():
        return found.x
    return x0


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
    except DataError as exc:
        raise type(exc)(f"{who}: {exc}") from None
    caps_spec = getattr(spec, "caps", None)
    if caps_spec is not None:  # min_variance: single and group caps already hold; the aggregate rule is applied here
        try:
            weights = apply_caps(weights, caps_spec, inputs.groups)
        except InfeasibleCapsError as exc:
            raise InfeasibleCapsError(f"{who} on {inputs.date:%Y-%m-%d}: {exc}") from None
    return Weights(finalise(weights), notes)
