"""Your own weighting function: ``weighting: {python: "package.module:function"}``.

Contract: ``function(spec, inputs) -> Weights | pd.Series``, called once per rebalance date with the same
:class:`~strategies.base.DecisionInputs` every family gets (``inputs.history`` stops at the decision close,
so a function cannot look ahead through it). It returns target weights indexed by ticker: non-negative,
summing to 1 within 1e-9 (they are renormalised to 1), every ticker with a price on the decision date. A
``Weights`` may carry notes, which the run reports as warnings. Anything else, and an exception the function
raises, is an error naming the function and the date.

Configs are data: a config from someone else must not run code on your machine. So a run imports the function
only when asked explicitly (``bt run --allow-python``, or ``run_config(..., allow_python=True)``);
``bt validate`` checks the reference's shape and never imports it.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

import numpy as np
import pandas as pd

from backtest.errors import BacktestError, DataError
from strategies.base import DecisionInputs, Weights, finalise

SUM_TOLERANCE = 1e-9


def load(reference: str) -> Callable:
    """Import ``package.module:function`` and return the function (DataError naming what failed)."""
    module_name, _, attr = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise DataError(f"weighting.python: cannot import {module_name!r} ({exc}); install the package or put "
                        "the module on PYTHONPATH") from None
    function = getattr(module, attr, None)
    if not callable(function):
        raise DataError(f"weighting.python: {module_name} has no function {attr!r}; check the name after ':'")
    return function


def weigh(spec: Any, inputs: DecisionInputs) -> Weights:
    """Call ``spec.python`` and check what it returns against the contract above."""
    reference = spec.python
    where = f"weighting.python {reference} on {inputs.date:%Y-%m-%d}"
    function = load(reference)
    try:
        out = function(spec, inputs)
    except BacktestError:
        raise
    except Exception as exc:        # the user's code: their error, not bt's (bt -v shows its traceback)
        raise DataError(f"{where}: the function raised {type(exc).__name__}: {exc}; fix the function (it is "
                        f"called as function(spec, inputs) and returns weights indexed by ticker; docs/config.md); "
                        f"bt -v shows its traceback") from exc
    notes: tuple[str, ...] = ()
    if isinstance(out, Weights):
        out, notes = out.weights, tuple(out.notes)
    if not isinstance(out, pd.Series):
        raise DataError(f"{where}: returned {type(out).__name__}, expected a pandas Series of weights indexed by "
                        "ticker (or strategies.Weights)")
    values = pd.to_numeric(out, errors="coerce").astype("float64")
    if values.isna().any() or not np.isfinite(values).all() or (values < 0).any():
        bad = values[~(values >= 0) | ~np.isfinite(values)]
        raise DataError(f"{where}: weights must be finite and >= 0, got {bad.head(5).to_dict()}")
    total = float(values.sum())
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise DataError(f"{where}: weights must sum to 1 (within {SUM_TOLERANCE:g}), got {total!r}")
    on_date = inputs.history.loc[inputs.date] if inputs.date in inputs.history.index else pd.Series(dtype=float)
    outside = [str(t) for t in values.index[values > 0] if t not in inputs.history.columns]
    if outside:
        raise DataError(f"{where}: {len(outside)} weighted ticker(s) are not in the strategy's universe on the "
                        f"date: {', '.join(outside[:10])}; fix: add them to its universe, or weight only "
                        f"inputs.universe")
    unpriced = [str(t) for t in values.index[values > 0] if pd.isna(on_date.get(t))]
    if unpriced:
        raise DataError(f"{where}: {len(unpriced)} weighted ticker(s) have no price on the date: "
                        f"{', '.join(unpriced[:10])}")
    values.index = values.index.astype(str)
    return Weights(finalise(values / total), notes)
