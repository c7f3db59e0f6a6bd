"""Strategy families: pure functions ``weigh(spec, DecisionInputs) -> Weights``.

``REGISTRY`` maps a config's ``weighting`` name to its family's ``weigh``. Every family returns a
:class:`~strategies.base.Weights`: ``weights`` (Series indexed by ticker, sorted, > 0, sums to 1) and
``notes`` (tuple of strings the runner records as warnings).
"""

from __future__ import annotations

from strategies import cap_weight, equal_weight, fixed
from strategies.base import DecisionInputs, Weights, decision_inputs
from strategies.capping import InfeasibleCapsError

REGISTRY = {"fixed": fixed.weigh, "equal": equal_weight.weigh, "cap": cap_weight.weigh}

__all__ = ["REGISTRY", "DecisionInputs", "Weights", "decision_inputs", "InfeasibleCapsError"]
