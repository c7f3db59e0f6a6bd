"""Risk-based weights (inverse_vol, min_variance, risk_parity, hrp), each against an independent solution."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

from backtest.errors import DataError
from strategies import REGISTRY, decision_inputs, risk
from strategies.capping import InfeasibleCapsError

from .specs import Caps
from .specs import RiskSpec as _RiskSpec


def RiskSpec(weighting: str, **kw) -> _RiskSpec:  # noqa: N802 (reads like the dataclass it builds)
    return _RiskSpec(weighting=weighting, **{"name": "risk", **kw})


NAMES = ("AAPL", "MSFT", "JPM", "XOM", "JNJ", "PG", "KO", "WMT", "CVX", "PFE", "MRK", "HD", "INTC", "CSCO",
         "VZ", "T", "BAC", "WFC", "DIS", "MCD", "IBM", "ORCL", "PEP", "NKE", "UNH")


@pytest.fixture(scope="module")
def real_prices(snapshot_store) -> pd.DataFrame:
    """Adjusted closes of 25 large S&P 500 names, 2017-01-01 .. 2019-12-31, from the snapshot."""
    prices = snapshot_store.prices(list(NAMES), start=pd.Timestamp("2017-01-01"), end=pd.Timestamp("2019-12-31"))
    assert prices.notna().all().all()
    return prices[list(NAMES)]


@pytest.fixture(scope="module")
def real_inputs(real_prices):
    return decision_inputs(real_prices, None, real_prices.index[-1], NAMES)


def _returns(prices: pd.DataFrame, lookback: int) -> pd.DataFrame:
    """Plain pandas: the last `lookback` daily simple returns."""
    return (prices.iloc[1:].to_numpy() / prices.iloc[:-1].to_numpy() - 1)[-lookback:]


# --------------------------------------------------------------------------------------------- inverse_vol


def test_inverse_vol_is_one_over_the_daily_standard_deviation(real_prices, real_inputs):
    out = REGISTRY["inverse_vol"](RiskSpec("inverse_vol", lookback=126), real_inputs)
    r = _returns(real_prices, 126)
    inv = 1 / r.std(axis=0, ddof=1)
    expected = pd.Series(inv / inv.sum(), index=list(NAMES)).sort_index()
    np.testing.assert_allclose(out.weights.to_numpy(), expected.to_numpy(), rtol=1e-12)
    assert out.notes == ()


def test_names_without_a_full_lookback_are_left_out_and_named():
    dates = pd.bdate_range("2024-01-01", periods=40, name="date")
    rng = np.random.default_rng(3)
    prices = pd.DataFrame(100 * np.exp(np.cumsum(rng.normal(0, 0.01, (40, 4)), axis=0)), index=dates,
                          columns=list("ABCD"))
    prices.iloc[:25, 2] = np.nan    # C lists on day 25: 15 closes
    prices.iloc[30, 3] = np.nan     # D has a gap inside the window
    out = REGISTRY["inverse_vol"](RiskSpec("inverse_vol", lookback=20), decision_inputs(prices, None, dates[-1],
                                                                                       "ABCD"))
    assert out.weights.index.tolist() == ["A", "B"]
    assert out.notes == ("2024-02-23: 2 of 4 universe names have no full 20-day lookback (listed later or a gap "
                         "in prices) and were left out: C, D",)


def test_a_history_shorter_than_the_lookback_is_an_error_naming_strategy_and_fix():
    dates = pd.bdate_range("2024-01-01", periods=10, name="date")
    prices = pd.DataFrame({"A": np.linspace(1, 2, 10), "B": np.linspace(2, 1, 10)}, index=dates)
    with pytest.raises(DataError, match=r"strategy 'RP': 2024-01-12: the price history has only 10 trading days "
                                        r".* fewer than lookback \+ 1 = 21; start the run later or shorten"):
        REGISTRY["risk_parity"](RiskSpec("risk_parity", name="RP", lookback=20),
                                decision_inputs(prices, None, dates[-1], "AB"))


# -------------------------------------------------------------------------------------------- min_variance


def test_min_variance_matches_the_closed_form_when_no_bound_binds():
    # diagonal-dominant covariance: the unconstrained minimum (S^-1 1 / 1' S^-1 1) is all positive
    cov = pd.DataFrame([[4.0, 1.0, 0.5], [1.0, 2.0, 0.3], [0.5, 0.3, 3.0]], index=list("ABC"),
                       columns=list("ABC")) * 1e-4
    inv = np.linalg.solve(cov.to_numpy(), np.ones(3))
    np.testing.assert_allclose(risk.min_variance(cov).to_numpy(), inv / inv.sum(), atol=1e-8)


@pytest.mark.parametrize("method", ["sample", "ledoit_wolf"])
def test_min_variance_matches_an_independent_solver_on_real_returns(real_inputs, method):
    returns, _ = risk.trailing_returns(real_inputs, 252)
    cov = risk.covariance(returns, method)
    ours = risk.min_variance(cov)
    s = cov.to_numpy() * 1e4
    n = len(s)
    ref = minimize(lambda w: w @ s @ w, np.full(n, 1 / n), jac=lambda w: 2 * s @ w, method="SLSQP",
                   bounds=[(0, 1)] * n, constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
                   options={"ftol": 1e-15, "maxiter": 1000})
    assert ref.success
    w = ours.to_numpy()
    assert w @ s @ w <= ref.fun * (1 + 1e-7), "no worse than the independent optimum"
    np.testing.assert_allclose(w, np.clip(ref.x, 0, None), atol=1e-4)
    assert (w >= 0).all() and abs(w.sum() - 1) < 1e-12
    assert 2 < (w > 0).sum() < n, "a real long-only minimum holds some names, not all"


def test_capped_min_variance_is_the_constrained_optimum(real_inputs):
    # single and group caps are constraints of the problem: compare with SLSQP under the same constraints
    groups = {"banks": ("JPM", "BAC", "WFC")}
    spec = RiskSpec("min_variance", covariance="ledoit_wolf", caps=Caps(single=0.08, groups=(("banks", 0.1),)))
    inputs = decision_inputs(real_inputs.history, None, real_inputs.date, NAMES, groups)
    w = REGISTRY["min_variance"](spec, inputs).weights.reindex(sorted(NAMES)).fillna(0.0).to_numpy()
    returns, _ = risk.trailing_returns(inputs, 252)
    s = risk.covariance(returns, "ledoit_wolf").to_numpy() * 1e4
    banks = np.isin(sorted(NAMES), groups["banks"])
    ref = minimize(lambda x: x @ s @ x, np.full(len(s), 1 / len(s)), jac=lambda x: 2 * s @ x, method="SLSQP",
                   bounds=[(0, 0.08)] * len(s),
                   constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1},
                                {"type": "ineq", "fun": lambda x: 0.1 - x[banks].sum()}],
                   options={"ftol": 1e-15, "maxiter": 1000})
    assert ref.success
    assert w.max() <= 0.08 + 1e-9 and w[banks].sum() <= 0.1 + 1e-9
    assert (w == 0.08).sum() + (np.abs(w - 0.08) < 1e-7).sum() >= 1, "the cap binds"
    assert w @ s @ w <= ref.fun * (1 + 1e-7)
    np.testing.assert_allclose(w, np.clip(ref.x, 0, None), atol=1e-4)


# --------------------------------------------------------------------------------------------- risk_parity


@pytest.mark.parametrize("method", ["sample", "ledoit_wolf"])
def test_risk_parity_risk_contributions_are_equal_to_1e6(real_inputs, method):
    returns, _ = risk.trailing_returns(real_inputs, 252)
    cov = risk.covariance(returns, method)
    w = REGISTRY["risk_parity"](RiskSpec("risk_parity", covariance=method), real_inputs).weights
    rc = risk.risk_contributions(w, cov)
    assert len(w) == len(NAMES)
    np.testing.assert_allclose(rc.to_numpy(), 1 / len(NAMES), atol=1e-6 / len(NAMES))


def test_risk_parity_of_uncorrelated_names_is_inverse_vol():
    # closed form: with a diagonal covariance, equal risk contributions means w_i proportional to 1/sigma_i
    sd = np.array([0.01, 0.02, 0.04, 0.015])
    cov = pd.DataFrame(np.diag(sd**2), index=list("ABCD"), columns=list("ABCD"))
    np.testing.assert_allclose(risk.risk_parity(cov).to_numpy(), (1 / sd) / (1 / sd).sum(), atol=1e-9)


# ------------------------------------------------------------------------------------------------------ hrp


@pytest.mark.parametrize("method", ["sample", "ledoit_wolf"])
def test_hrp_matches_pyportfolioopt(real_inputs, method):
    from pypfopt.hierarchical_portfolio import HRPOpt

    returns, _ = risk.trailing_returns(real_inputs, 252)
    cov = risk.covariance(returns, method)
    ours = REGISTRY["hrp"](RiskSpec("hrp", covariance=method), real_inputs).weights
    ref = pd.Series(HRPOpt(cov_matrix=cov).optimize("single")).reindex(ours.index)
    np.testing.assert_allclose(ours.to_numpy(), ref.to_numpy(), atol=1e-6)


def test_hrp_of_two_names_is_inverse_variance():
    cov = pd.DataFrame([[4.0, 1.0], [1.0, 1.0]], index=list("AB"), columns=list("AB"))
    np.testing.assert_allclose(risk.hrp(cov).to_numpy(), [0.2, 0.8], atol=1e-15)


# ------------------------------------------------------------------------------------------------------ caps


@pytest.mark.parametrize("family", risk.FAMILIES)
def test_caps_hold_on_every_risk_family(real_inputs, family):
    spec = RiskSpec(family, caps=Caps(single=0.06, groups=(("banks", 0.1),)))
    inputs = decision_inputs(real_inputs.history, None, real_inputs.date, NAMES,
                             {"banks": ("JPM", "BAC", "WFC")})
    w = REGISTRY[family](spec, inputs).weights
    assert w.max() <= 0.06 + 1e-12
    assert w.reindex(["JPM", "BAC", "WFC"]).fillna(0).sum() <= 0.1 + 1e-12
    assert abs(w.sum() - 1) < 1e-12


def test_infeasible_caps_name_strategy_and_date(real_inputs):
    with pytest.raises(InfeasibleCapsError, match=r"strategy 'risk' on 2019-12-31: .*"):
        REGISTRY["inverse_vol"](RiskSpec("inverse_vol", caps=Caps(single=0.01)), real_inputs)


def test_risk_defaults_agree_with_the_config():
    from backtest.config.schema import COVARIANCES, DEFAULT_LOOKBACK

    assert risk.DEFAULT_LOOKBACK == DEFAULT_LOOKBACK and risk.COVARIANCES == COVARIANCES


@pytest.mark.parametrize("method", ["sample", "ledoit_wolf"])
def test_risk_parity_equals_an_independent_conic_solution(real_inputs, method):
    # the same convex problem (Spinu 2013) solved by cvxpy's exponential-cone solver, not by Newton steps
    import cvxpy as cp

    returns, _ = risk.trailing_returns(real_inputs, 252)
    cov = risk.covariance(returns, method)
    s = cov.to_numpy() / np.mean(np.diag(cov.to_numpy()))
    x = cp.Variable(len(s))
    cp.Problem(cp.Minimize(0.5 * cp.quad_form(x, cp.psd_wrap(s)) - cp.sum(cp.log(x)) / len(s))).solve(
        solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    ref = x.value / x.value.sum()
    ours = risk.risk_parity(cov)
    np.testing.assert_allclose(ours.to_numpy(), ref, rtol=1e-5)
    rc = risk.risk_contributions(ours, cov).to_numpy()
    assert np.abs(rc * len(rc) - 1).max() < 1e-10, "Newton reaches machine precision, the conic solver ~1e-6"


def test_the_shared_estimates_follow_the_window_content_not_the_date(real_prices):
    # two histories with the same date and names but different prices in the window: different weights
    day = real_prices.index[-1]
    a = REGISTRY["risk_parity"](RiskSpec("risk_parity"), decision_inputs(real_prices, None, day, NAMES))
    moved = real_prices.copy()
    moved.iloc[-100:, 0] *= np.linspace(1.0, 1.5, 100)
    b = REGISTRY["risk_parity"](RiskSpec("risk_parity"), decision_inputs(moved, None, day, NAMES))
    assert (a.weights - b.weights).abs().max() > 1e-4
    again = REGISTRY["risk_parity"](RiskSpec("risk_parity"), decision_inputs(real_prices.copy(), None, day, NAMES))
    pd.testing.assert_series_equal(a.weights, again.weights, check_exact=True)


@pytest.mark.parametrize("family", ["inverse_vol", "risk_parity", "hrp", "min_variance"])
def test_risk_weights_say_when_their_caps_bind(real_inputs, family):
    """Every capped risk weighting notes the dates its caps bound, as cap weights do (the run counts them:
    "caps ... bound on k of n"): a loose cap adds no note; a tight one (4.2% on 25 names) does, naming the
    weights it moved, or for min_variance, whose caps are constraints, the names the optimum holds at them."""
    loose = REGISTRY[family](RiskSpec(family, lookback=252, caps=Caps(single=0.9)), real_inputs)
    tight = REGISTRY[family](RiskSpec(family, lookback=252, caps=Caps(single=0.042)), real_inputs)
    assert not [n for n in loose.notes if ": caps bound: " in n]
    (note,) = [n for n in tight.notes if ": caps bound: " in n]
    assert note.startswith(f"{real_inputs.date:%Y-%m-%d}: caps bound: ")
    assert ("name(s) at the single cap" if family == "min_variance" else "weight(s) changed") in note
    assert tight.weights.max() <= 0.042 + 1e-9
