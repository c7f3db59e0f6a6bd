"""vectorbt's order simulation, called through its numba kernels instead of the `Portfolio` object.

`from_orders(close, size, ...)` runs exactly what ``vbt.Portfolio.from_orders(close, size,
size_type="targetpercent", group_by=..., cash_sharing=True, call_seq="auto", ...)`` runs, with every setting
written out (never read from vectorbt's global ``settings``), and returns the order records, positions and
cash that ``pf.orders.values``, ``pf.assets()`` and ``pf.cash()`` would: the same numba functions on the
same arrays (tests/test_vbt_kernel.py checks equality against the `Portfolio` path).

Why not ``import vectorbt``: the package ``__init__`` imports every accessor, the indicator factory, plotly
express and scipy.stats, about 2.5 s of a 5 s run. The kernels live in `vectorbt.portfolio.nb` and
`vectorbt.records.nb`, whose own imports are light. `kernels()` imports those behind empty stand-ins for
their parent packages and loads the compiled functions (numba's on-disk cache) while the modules are
registered, because numba finds a cached function's module by name; the arrays passed in are normalised so
one type signature serves every call, and the functions are then sealed (`disable_compile`). Finally every
``vectorbt`` module it loaded is taken back out of ``sys.modules``: a later ``import vectorbt`` in the same
process (a notebook, the tests) is an ordinary, complete import, and nothing global is left changed. If
vectorbt is already imported, if its layout ever stops allowing this, or if a call ever needs another type
signature, the ordinary import is used instead.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from pathlib import Path

import numpy as np

# vectorbt's defaults for from_orders (vectorbt/_settings.py "portfolio"), fixed here.
SIZE_TYPE_TARGET_PERCENT = 5
DIRECTION_BOTH = 2
CALL_SEQ_DEFAULT = 0
MIN_SIZE = 1e-8

# Parent packages whose __init__ is skipped; their submodules are loaded from the package folder as usual.
_PACKAGES = ("vectorbt", "vectorbt.base", "vectorbt.utils", "vectorbt.generic", "vectorbt.portfolio",
             "vectorbt.returns", "vectorbt.records")
# Modules the kernels' modules import but never use on the path taken here, replaced by empty stand-ins while
# loading: `vectorbt.base.reshape_fns` imports `array_wrapper` for its pandas wrappers only (the kernels use
# its `flex_select_auto_nb`), and `array_wrapper` pulls in `vectorbt._settings`, which builds every plotting
# theme (~0.3 s). `vectorbt._typing` names plotly's `FigureWidget` in a type alias; plotly resolves that name
# by importing ipywidgets and IPython (~0.3 s) unless ipywidgets is absent, so ipywidgets is marked absent
# while loading (None in `sys.modules`, the documented way) and plotly hands out its placeholder class.
_UNUSED = ("vectorbt.base.array_wrapper",)
_lock = threading.Lock()
_loaded: list[tuple[types.ModuleType, types.ModuleType]] = []


def from_orders(close: np.ndarray, size: np.ndarray, group_lens: np.ndarray, init_cash: np.ndarray,
                fees: np.ndarray, slippage: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Target-percent orders, one shared cash pool per group, sells before buys.

    Parameters
    ----------
    close : float64 (rows, columns): the price of each row, no NaN (orders fill at it).
    size : float64 (rows, columns): target share of the group's value, NaN = no order.
    group_lens : int64 (groups,): consecutive columns per group, summing to ``columns``.
    init_cash : float64 (groups,): starting cash of each group.
    fees, slippage : float64 (1, columns): per-side fractions of traded value / of the price.

    Returns
    -------
    (order records, assets (rows, columns) held after each row, cash (rows, groups) after each row).
    """
    args = [_array(close, 2), _array(size, 2), _array(group_lens, 1, np.int64), _array(init_cash, 1),
            _array(fees, 2), _array(slippage, 2)]
    try:
        return _run(*kernels(), *args)
    except TypeError as exc:  # a type signature the sealed kernels do not have: compile it the usual way
        if "No matching definition" not in str(exc):
            raise
        return _run(*_full(), *args)


def _array(values, ndim: int, dtype=np.float64) -> np.ndarray:
    """A writable, C-contiguous array of `dtype`: the one layout the kernels are loaded for."""
    out = np.require(values, dtype=dtype, requirements=["C", "W", "A", "O"])
    if out.ndim != ndim:
        raise ValueError(f"expected a {ndim}-d array, got shape {out.shape}")
    return out


def _run(nb, rnb, close, size, group_lens, init_cash, fees, slippage):
    shape = close.shape
    call_seq = nb.build_call_seq(shape, group_lens, CALL_SEQ_DEFAULT)
    records, _ = nb.simulate_from_orders_nb(
        shape, group_lens, init_cash, call_seq, size,
        np.asarray(np.inf),                      # price: the close
        np.asarray(SIZE_TYPE_TARGET_PERCENT), np.asarray(DIRECTION_BOTH),
        fees, np.asarray(0.0), slippage,         # fees, fixed_fees, slippage
        np.asarray(MIN_SIZE), np.asarray(np.inf), np.asarray(np.nan),   # min_size, max_size, granularity
        np.asarray(0.0), np.asarray(False), np.asarray(True),    # reject_prob, lock_cash, allow_partial
        np.asarray(False), np.asarray(False),    # raise_reject, log
        np.asarray(np.inf), close,               # val_price: the close
        auto_call_seq=True, ffill_val_price=True, update_value=False, max_orders=shape[0] * shape[1],
        max_logs=1, init_temp_records=False, flex_2d=True)
    col_map = rnb.col_map_nb(np.ascontiguousarray(records["col"]), shape[1])
    assets = nb.assets_nb(nb.asset_flow_nb(shape, records, col_map, DIRECTION_BOTH))
    cash_flow = nb.cash_flow_grouped_nb(nb.cash_flow_nb(shape, records, col_map, False), group_lens)
    cash = nb.cash_grouped_nb(shape, cash_flow, group_lens, init_cash)
    return records, assets, cash


def kernels() -> tuple[types.ModuleType, types.ModuleType]:
    """``(vectorbt.portfolio.nb, vectorbt.records.nb)``, loaded once per process."""
    with _lock:
        if not _loaded:
            _loaded.append(_light() if "vectorbt" not in sys.modules else _full())
        return _loaded[0]


def _full() -> tuple[types.ModuleType, types.ModuleType]:
    import vectorbt.portfolio.nb as portfolio_nb
    import vectorbt.records.nb as records_nb

    return portfolio_nb, records_nb


_SEALED = ("simulate_from_orders_nb", "asset_flow_nb", "assets_nb", "cash_flow_nb", "cash_flow_grouped_nb",
           "cash_grouped_nb")


def _warm_up_and_seal(nb, rnb) -> None:
    """Load every compiled function `from_orders` calls, with the argument types it passes, then seal them.
    Two shapes: with one column the call sequence is both C- and F-contiguous and numba types it as C, a
    signature of its own (a lone benchmark such as SPY); without it that call fell back to ``_full``."""
    for cols in (2, 1):
        size = np.full((2, cols), np.nan)
        size[0] = 0.5
        _run(nb, rnb, np.ones((2, cols)), size, np.ones(cols, dtype=np.int64), np.ones(cols),
             np.zeros((1, cols)), np.zeros((1, cols)))
    for name in _SEALED:
        getattr(nb, name).disable_compile()
    rnb.col_map_nb.disable_compile()


def _light() -> tuple[types.ModuleType, types.ModuleType]:
    spec = importlib.util.find_spec("vectorbt")
    if spec is None or not spec.submodule_search_locations:
        return _full()  # raises the usual ModuleNotFoundError
    root = Path(next(iter(spec.submodule_search_locations)))
    before = set(sys.modules)
    try:
        for name in _PACKAGES:
            stand_in = types.ModuleType(name)
            stand_in.__path__ = [str(root.joinpath(*name.split(".")[1:]))]
            stand_in.__package__ = name
            sys.modules[name] = stand_in
        for name in _UNUSED:
            sys.modules[name] = types.ModuleType(name)
        if "ipywidgets" not in sys.modules:
            sys.modules["ipywidgets"] = None  # type: ignore[assignment]   # see _UNUSED
        found = (importlib.import_module("vectorbt.portfolio.nb"),
                 importlib.import_module("vectorbt.records.nb"))
        _warm_up_and_seal(*found)
    except Exception:  # noqa: BLE001 - vectorbt's layout changed: fall back to the complete import below
        found = None
    finally:
        for name in set(sys.modules) - before:
            if name == "vectorbt" or name.startswith("vectorbt.") or name == "ipywidgets":
                del sys.modules[name]
    return found if found is not None else _full()
