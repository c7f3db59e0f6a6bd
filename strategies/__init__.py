"""Strategy families: pure functions ``weigh(spec, DecisionInputs) -> Weights``.

``REGISTRY`` maps a config's ``weighting`` name to its family's ``weigh``. Every family returns a
:class:`~strategies.base.Weights`: ``weights`` (Series indexed by ticker, sorted, > 0, sums to 1) and
``notes`` (tuple of strings the runner records as warnings).
"""

from __future__ import annotations

from strategies import cap_weight, equal_weight, fixed, risk
from strategies.base import DecisionInputs, Weights, decision_inputs
from strategies.capping import InfeasibleCapsError

REGISTRY = {"fixed": fixed.weigh, "equal": equal_weight.weigh, "cap": cap_weight.weigh,
            **{family: risk.weigh for family in risk.FAMILIES}}


def history_needed(spec) -> int:
    """Trading days of prices before its decision date that a strategy's weights read (0 = only that day)."""
    if spec.weighting in risk.FAMILIES:
        return int(getattr(spec, "lookback", None) or risk.DEFAULT_LOOKBACK) + 1
    return 0


__all__ = ["history_needed", "REGISTRY", "DecisionInputs", "Weights", "decision_inputs", "InfeasibleCapsError"]
