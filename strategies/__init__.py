"""Strategy families: pure functions ``weigh(spec, DecisionInputs) -> Weights``.

``REGISTRY`` maps a config's ``weighting`` name to its family's ``weigh``. Every family returns a
:class:`~strategies.base.Weights`: ``weights`` (Series indexed by ticker, sorted, > 0, sums to 1) and
``notes`` (tuple of strings the runner records as warnings).
"""

from __future__ import annotations

from strategies import cap_weight, custom, equal_weight, fixed, risk, signals
from strategies.base import DecisionInputs, Weights, decision_inputs
from strategies.capping import InfeasibleCapsError

REGISTRY = {"fixed": fixed.weigh, "equal": equal_weight.weigh, "cap": cap_weight.weigh,
            **{family: risk.weigh for family in risk.FAMILIES}, "python": custom.weigh}


def weigh(spec, inputs: DecisionInputs) -> Weights:
    """A strategy's weights on one date, in steps: the trend filter (``spec.trend``: all in the defensive
    ticker while the trend is down), the selection (``spec.select``: narrow the universe to the best companies,
    or lines with ``per: line``), then the family (``REGISTRY[spec.weighting]``). Pure, like every family:
    ``(spec, DecisionInputs) -> Weights``."""
    out = signals.defensive(spec, inputs)
    if out is not None:
        return out
    notes: tuple[str, ...] = ()
    if getattr(spec, "select", None) is not None:
        inputs, notes = signals.select(spec.select, inputs, getattr(spec, "per", None) or "company")
    result = REGISTRY[spec.weighting](spec, inputs)
    return Weights(result.weights, notes + tuple(result.notes))


__all__ = ["weigh", "REGISTRY", "DecisionInputs", "Weights", "decision_inputs", "InfeasibleCapsError"]
