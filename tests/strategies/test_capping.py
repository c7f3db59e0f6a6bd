"""Cap solvers on hand-computed cases, an independent optimiser, and infeasible cap sets.

"Minimal change" is the KL projection (see strategies/capping.py): the feasible x minimising
sum x_i log(x_i / w_i), whose optimality conditions are "pro-rata redistribution".
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from backtest.errors import ConfigError, DataError
from strategies.capping import (
    InfeasibleCapsError,
    apply_caps,
    cap_aggregate,
    cap_groups,
    cap_single,
    cap_violations,
)
from strategies.projection import project

from .specs import AggregateCap, Caps


def series(values, names=None) -> pd.Series:
    names = names or [chr(ord("A") + i) for i in range(len(values))]
    return pd.Series(values, index=names, dtype="float64")


def kl(x: pd.Series, w: pd.Series) -> float:
    x, w = x[x > 0], w.reindex(x[x > 0].index)
    return float((x * np.log(x / w)).sum())


# ---------------------------------------------------------------------------------------------- single


def test_single_cap_hand_case():
    # [.5, .3, .1, .1], cap .35: A -> .35, its excess .15 goes to B, C, D pro rata (3:1:1):
    # B .39, C .13, D .13; B now exceeds -> .35, and the .30 left goes to C and D (1:1): .15 each.
    out = cap_single(series([0.5, 0.3, 0.1, 0.1]), 0.35)
    assert out.tolist() == pytest.approx([0.35, 0.35, 0.15, 0.15], abs=1e-15)


def test_single_cap_keeps_zero_weights_zero_and_normalises_raw_values():
    out = cap_single(series([6.0, 2.0, 0.0, 2.0]), 0.5)  # .6 .2 0 .2 -> .5 .25 0 .25
    assert out.tolist() == pytest.approx([0.5, 0.25, 0.0, 0.25], abs=1e-15)


def test_single_cap_already_met_returns_the_input():
    w = series([0.3, 0.3, 0.4])
    pd.testing.assert_series_equal(cap_single(w, 0.4), w)


def test_single_cap_result_is_sorted_by_ticker_whatever_the_input_order():
    out = cap_single(series([0.1, 0.6, 0.3], ["C", "A", "B"]), 0.5)
    assert out.index.tolist() == ["A", "B", "C"]
    assert out.tolist() == pytest.approx([0.5, 0.375, 0.125], abs=1e-15)  # .4 excess to B, C as 3:1


def test_single_cap_infeasible_names_count_cap_and_minimum():
    message = (
        r"single-name cap 0.3 is infeasible for 3 names: 3 x 0.3 = 0.9 < 1; "
        r"the minimum feasible cap is 1/3 = 0.333333; raise caps.single"
    )
    with pytest.raises(InfeasibleCapsError, match=message) as info:
        cap_single(series([0.5, 0.3, 0.2, 0.0]), 0.3)  # the zero weight does not count
    assert isinstance(info.value, DataError)


def test_single_cap_exactly_feasible_puts_everyone_at_the_cap():
    out = cap_single(series([0.7, 0.2, 0.1, 0.0]), 1 / 3)
    assert out.tolist() == pytest.approx([1 / 3] * 3 + [0], abs=1e-15)


def test_bad_arguments_are_value_errors():
    with pytest.raises(ValueError, match=r"cap must be in \(0, 1\], got 1.5"):
        cap_single(series([1.0]), 1.5)
    with pytest.raises(ValueError, match="unique tickers, duplicated: \\['A'\\]"):
        cap_single(series([0.5, 0.5], ["A", "A"]), 0.5)
    with pytest.raises(ValueError, match="finite and non-negative"):
        cap_single(series([0.5, -0.1, 0.6]), 0.5)


# ---------------------------------------------------------------------------------------------- groups


def test_group_cap_hand_case():
    # group {A, B} = .8 > .6: scaled by .6/.8 -> A .375, B .225; the .2 cut goes to C, D (1:1): .2 each
    out = cap_groups(series([0.5, 0.3, 0.1, 0.1]), {"g": (["A", "B"], 0.6)})
    assert out.tolist() == pytest.approx([0.375, 0.225, 0.2, 0.2], abs=1e-15)


def test_group_cap_with_single_cap_solved_together():
    # inside the group A is held at .35 and B takes the rest of .6: .25; C, D as above
    out = cap_groups(series([0.5, 0.3, 0.1, 0.1]), {"g": (["A", "B"], 0.6)}, single=0.35)
    assert out.tolist() == pytest.approx([0.35, 0.25, 0.2, 0.2], abs=1e-15)


def test_group_cap_where_the_rest_then_hits_the_single_cap():
    # w = .4 .3 .2 .1; group {A, B} <= .3 -> A 4/7*.3, B 3/7*.3; rest .7 to C, D 2:1 -> .4667, .2333;
    # single .4: C -> .4, D takes .3 (it is the only free name outside the group)
    out = cap_groups(series([0.4, 0.3, 0.2, 0.1]), {"g": (["A", "B"], 0.3)}, single=0.4)
    assert out.tolist() == pytest.approx([0.3 * 4 / 7, 0.3 * 3 / 7, 0.4, 0.3], abs=1e-15)


def test_group_members_absent_or_zero_are_ignored():
    out = cap_groups(series([0.5, 0.3, 0.2, 0.0]), {"g": (["A", "D", "ZZ"], 0.4), "empty": (["QQ"], 0.1)})
    assert out.tolist() == pytest.approx([0.4, 0.36, 0.24, 0.0], abs=1e-15)


def test_group_caps_infeasible_message_lists_the_capacity():
    message = (
        r"the caps are infeasible: at most 0.85 of the portfolio can be placed "
        r"\(group g <= 0.25 \(2 names\); "
        r"3 names outside the groups <= 0.2 each\); raise a group maximum or the single cap"
    )
    with pytest.raises(InfeasibleCapsError, match=message):
        cap_groups(series([0.3, 0.3, 0.2, 0.1, 0.1]), {"g": (["A", "B"], 0.25)}, single=0.2)


def test_overlapping_groups_converge_to_a_feasible_vector():
    w = series([0.3, 0.25, 0.2, 0.1, 0.1, 0.05])
    groups = {"g1": (["A", "B", "C"], 0.5), "g2": (["C", "D"], 0.2)}
    out = cap_groups(w, groups, single=0.3)
    assert cap_violations(out, single=0.3, groups=groups) == []


def test_overlapping_groups_that_cannot_hold_everything_raise():
    groups = {"g1": (["A", "B"], 0.3), "g2": (["B", "C"], 0.3)}
    with pytest.raises(InfeasibleCapsError, match="groups overlap on B; the caps are probably infeasible"):
        cap_groups(series([0.4, 0.3, 0.3]), groups, max_rounds=50)


# ------------------------------------------------------------------------------------------- aggregate

BIGS = [0.14, 0.13, 0.12, 0.11, 0.10]  # 60% in five names
SMALLS = [0.02] * 20  # 40% in twenty


def test_five_ten_forty_hand_case():
    # Candidates (k = names allowed above 5%):
    #  k=4: A..D held at 10% (sum 40% = limit), E at 5%; the 20 small names share 55% pro rata: 2.75% each.
    #       KL = .1*ln(.1/.14*.1/.13*.1/.12*.1/.11) + .05*ln(.05/.10) + .55*ln(1.375)
    #          = -.0876468 - .0346574 + .1751496 = .0528454
    #  k=5: all five scaled to 40% (x 2/3), smalls 3% each: KL = .4 ln(2/3) + .6 ln(1.5) = .0810930
    #  k=3: A..C at 10%, D and E at 5%, smalls 3%: KL = -.0781158 - .0741 + .2432790 = .0910830
    # k=4 is the minimal change: the rule is met by pushing the smallest big name down to the threshold.
    w = series(BIGS + SMALLS)
    out = cap_aggregate(w, threshold=0.05, limit=0.40, single=0.10)
    assert out.tolist() == pytest.approx([0.1] * 4 + [0.05] + [0.0275] * 20, abs=1e-15)
    assert kl(out, w) == pytest.approx(0.0528454, abs=1e-7)
    assert cap_violations(out, aggregate=(0.05, 0.40, 0.10)) == []


def test_five_ten_forty_only_single_binding():
    # four names at 15% -> capped at 10%: the four sum to exactly 40%, smalls share 60%: 3.75% each
    w = series([0.15] * 4 + [0.025] * 16)
    out = cap_aggregate(w)
    assert out.tolist() == pytest.approx([0.1] * 4 + [0.0375] * 16, abs=1e-15)


def test_thirty_five_twenty_hand_case():
    # 35/20 style: one name up to 35%, every other name at most 20% (threshold .20, limit = single = .35).
    # w = .40 .25 .15 .10 .10
    #  k=1: A -> .35; the .65 left: B would get .65*.25/.6 = .27 > .2 -> B .2; C, D, E share .45 as 3:2:2:
    #       C .192857, D = E = .128571. KL = .35 ln(.35/.4) + .2 ln(.8) + .45 ln(.45/.35) = .021726
    #  k=0: everybody at .2 (exactly feasible): KL = .151537; k=2 cannot place 100% (.35 + 3 x .2 = .95).
    w = series([0.40, 0.25, 0.15, 0.10, 0.10])
    out = cap_aggregate(w, threshold=0.20, limit=0.35, single=0.35)
    assert out.tolist() == pytest.approx([0.35, 0.2, 0.45 * 3 / 7, 0.45 * 2 / 7, 0.45 * 2 / 7], abs=1e-15)
    assert kl(out, w) == pytest.approx(0.021726, abs=1e-6)


def test_aggregate_rule_already_met_returns_the_input():
    w = series([0.09, 0.09, 0.09, 0.09] + [0.64 / 16] * 16)
    pd.testing.assert_series_equal(cap_aggregate(w), w / w.sum())


def test_aggregate_infeasible_message_gives_the_minimum_number_of_names():
    # 5/10/40 needs 16 names: 4 x 10% + 12 x 5% = 100%
    message = (
        r"aggregate cap \(no name above 0.1; names above 0.05 together at most 0.4\) is infeasible for 15 "
        r"names: at most 0.95 of the portfolio can be placed; the rule needs at least 16 names"
    )
    with pytest.raises(InfeasibleCapsError, match=message):
        cap_aggregate(series([1 / 15] * 15))


def test_aggregate_top_k_is_the_best_set_among_all_subsets():
    """The swap argument, checked by brute force: for every set A of names allowed above the threshold,
    solve the convex sub-problem exactly; the solver's answer has the smallest KL of all of them."""
    rng = np.random.default_rng(3)
    threshold, limit, single = 0.15, 0.5, 0.3
    for _ in range(5):
        w = series(rng.pareto(1.0, 8) + 0.05)
        w = w / w.sum()
        out = cap_aggregate(w, threshold, limit, single)
        best = math.inf
        for k in range(0, 5):
            for chosen in itertools.combinations(range(8), k):
                idx = np.array(chosen, dtype=int)
                upper = np.full(8, threshold)
                upper[idx] = single
                if min(limit, k * single) + (8 - k) * threshold < 1:
                    continue
                x = project(w.to_numpy(), upper, [(idx, limit)] if k else [])
                best = min(best, kl(series(x), w))
        assert kl(out, w) <= best + 1e-12


def test_solvers_agree_with_an_independent_optimiser():
    """scipy's SLSQP minimising KL(x || w) under the same constraints finds the same vectors."""
    optimize = pytest.importorskip("scipy.optimize")
    rng = np.random.default_rng(11)
    for _ in range(4):
        w = series(rng.pareto(1.2, 12) + 0.02)
        w = w / w.sum()
        groups = {"g": (["A", "B", "C"], 0.3)}
        ours = cap_groups(w, groups, single=0.15).to_numpy()
        in_g = np.isin(w.index, ["A", "B", "C"])
        result = optimize.minimize(
            lambda x: float(np.sum(x * np.log(x / w.to_numpy()))),
            x0=np.full(12, 1 / 12),
            jac=lambda x: np.log(x / w.to_numpy()) + 1,
            bounds=[(1e-12, 0.15)] * 12,
            constraints=[
                {"type": "eq", "fun": lambda x: x.sum() - 1},
                {"type": "ineq", "fun": lambda x: 0.3 - x[in_g].sum()},
            ],
            method="SLSQP",
            options={"ftol": 1e-14, "maxiter": 500},
        )
        assert result.success
        np.testing.assert_allclose(ours, result.x, atol=1e-6)


# ----------------------------------------------------------------------------------------- apply_caps


def test_apply_caps_combines_single_group_and_aggregate():
    w = series(BIGS + SMALLS)
    caps = Caps(single=0.12, groups=(("big3", 0.25),), aggregate=AggregateCap())
    groups = {"big3": ("A", "B", "C")}
    out = apply_caps(w, caps, groups)
    assert cap_violations(out, single=0.12, groups={"big3": (groups["big3"], 0.25)},
                          aggregate=(0.05, 0.40, 0.10)) == []
    assert out.index.tolist() == sorted(w.index)


def test_apply_caps_without_caps_is_the_identity():
    w = series([0.6, 0.4])
    pd.testing.assert_series_equal(apply_caps(w, Caps(), {}), w)


def test_apply_caps_single_below_threshold_implies_the_aggregate_rule():
    w = series([0.3] + [0.7 / 29] * 29)
    out = apply_caps(w, Caps(single=0.04, aggregate=AggregateCap()), {})
    assert out.max() <= 0.04 + 1e-12 and abs(out.sum() - 1) < 1e-12


def test_apply_caps_unknown_group_is_a_config_error():
    with pytest.raises(ConfigError, match=r"caps.groups: unknown group 'mag8'; defined groups: mag7"):
        apply_caps(series([0.5, 0.5]), Caps(groups=(("mag8", 0.2),)), {"mag7": ("A",)})


def test_apply_caps_infeasible_combination_raises():
    # 20 names: a 4% single cap holds at most 80%
    with pytest.raises(InfeasibleCapsError, match=r"single-name cap 0.04 is infeasible for 20 names"):
        apply_caps(series([0.05] * 20), Caps(single=0.04, aggregate=AggregateCap()), {})


def test_apply_caps_group_and_aggregate_that_conflict_raise_after_max_rounds():
    # 20 equal names, 5/10/40 and a 25% cap on ten of them: the other ten must hold 75%, but under the rule
    # ten names hold at most 4 x 10% + 6 x 5% = 70%. Each cap alone is feasible; together they are not.
    w = series([0.05] * 20, [f"N{i:02d}" for i in range(20)])
    caps = Caps(groups=(("half", 0.25),), aggregate=AggregateCap())
    message = r"caps could not all be met together after 20 rounds \(.*\); the group maximum and the"
    with pytest.raises(InfeasibleCapsError, match=message):
        apply_caps(w, caps, {"half": tuple(w.index[:10])}, max_rounds=20)


def test_apply_caps_group_against_35_20_converges_quickly():
    # found by hypothesis: a group cap and the 35/20 rule used to hand weight back and forth for hundreds
    # of rounds (each round shrinking the excess by only ~16%)
    big = {"T002": 18.5, "T006": 30.0, "T007": 47.0, "T008": 47.0, "T009": 83.0, "T046": 1.0}
    rest = {**{f"T{i:03d}": 0.5 for i in range(28, 46)}, **{f"T{i:03d}": 0.0183 for i in range(47, 53)}}
    w = pd.Series({**big, **rest})
    caps = Caps(groups=(("big", 0.40625),), aggregate=AggregateCap(0.20, 0.35, 0.35))
    groups = {"big": ("T002", "T006", "T007")}
    out = apply_caps(w, caps, groups, max_rounds=3)
    assert cap_violations(out, groups={"big": (groups["big"], 0.40625)}, aggregate=(0.20, 0.35, 0.35)) == []
    assert out["T009"] == pytest.approx(0.35, abs=1e-12) and out["T008"] == pytest.approx(0.2, abs=1e-12)
