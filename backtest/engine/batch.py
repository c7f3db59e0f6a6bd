"""Many strategies in one compiled pass: the sweeps' order kernel, equal to vectorbt's to the last bit.

`simulate_many(prices, plans, ...)` gives what ``simulate(prices, plans, detail=False)`` followed by the
runner's trim gives for the fields a sweep uses (equity, fees, slippage, turnover, notes), without calling
vectorbt: `simulate_batch_nb` replays exactly what vectorbt 1.2.0's ``simulate_from_orders_nb`` does with the
settings of `backtest.engine.kernel.from_orders` (targetpercent orders valued at the row's close, one cash
pool per strategy, ``call_seq="auto"``: orders sorted by their approximate value so sells come first, fees and
slippage per side, partial buys when cash is short, ``min_size`` 1e-8, direction both so negative targets
sell short, vectorbt's tolerances: ``is_close`` / ``add_nb`` with rel 1e-9, abs 1e-12), then what vectorbt's
``asset_flow_nb``/``assets_nb``/``cash_flow_nb``/``cash_grouped_nb`` and `simulate` do with the order
records (positions and cash after each row, daily values as positions x close + cash, fees, traded value and
slippage per day in the trades table's order, summed as pandas sums them: Kahan). Every floating-point
operation is the one vectorbt, numpy or pandas does, in the same order, so results are identical, not just close
(tests/test_engine_batch.py checks bit equality against vectorbt's kernel and `simulate` on real and random
cases: partial fills, names ending mid-run, shorts, idle cash growth).

Why: vectorbt's kernel costs about a microsecond per order cell, and a sweep's strategies differ mostly in
costs, so a whole chunk shares a few target matrices. Here a target matrix (its rows, columns and sizes) is
built once and every strategy using it (own fees, slippage, capital, cash growth) runs over it; only the
cells with an order are visited.

How (issue 13): the compiled part is `backtest.engine.batch_nb`. Variants run side by side on numba's
threads (``threads=``, default the cores this process may use; each writes only its own outputs, so any
thread count gives the same bits); a row's call sequence is sorted starting from the order the first variant
of its target set found (variants of a set differ in costs, so the orders mostly agree; the sort's result
depends only on the keys); the daily values are summed one holding period at a time for every variant of a
target set, reading each close once; the closes are filled (``ffill().bfill()``) as `bt run` fills them.

What it does not do (`supports` says; the sweep then uses vectorbt's path): a borrow fee (a drag computed
from the daily short market value), sleeve parents (their prices are their sleeves' simulated values).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd

from backtest.engine.batch_nb import simulate_batch_nb
from backtest.errors import SimulationError


# --- the sweep's entry point --------------------------------------------------------------------------------

_SELF = "\x00"      # stands for the strategy's name in the notes of a shared target set
_PARALLEL = threading.Lock()


@dataclass(frozen=True)
class Batch:
    """What `simulate(..., detail=False)` + the runner's trim give a sweep, for many strategies at once.

    equity, fees, slippage : DataFrame (run days from ``base``) x strategies, as ``Simulation.equity`` /
        ``.fees`` / ``.slippage``.
    turnover : strategy -> Series on its trade dates, as ``Simulation.turnover``.
    notes : strategy -> the notes ``Simulation.notes`` holds.
    """

    equity: pd.DataFrame
    fees: pd.DataFrame
    slippage: pd.DataFrame
    turnover: dict[str, pd.Series]
    notes: dict[str, tuple[str, ...]]


def supports(plan) -> bool:
    """Whether `simulate_many` runs ``plan`` (a `StrategyPlan`) exactly; else use `simulate`: not with a
    borrow fee, not a sleeve parent (its sleeves' values are its prices: `backtest.sleeves`), and some
    target not zero."""
    from backtest.plans import SLEEVE_PREFIX

    if plan.borrow_fee or plan.targets.columns.astype(str).str.startswith(SLEEVE_PREFIX).any():
        return False
    return bool((np.abs(plan.targets.to_numpy(dtype=float)) > 0).any())


def _fingerprint(plan) -> tuple:
    t = plan.targets
    return (tuple(t.columns), pd.DatetimeIndex(t.index).asi8.tobytes(), t.to_numpy(dtype=float).tobytes(),
            tuple(plan.hold_ended))


def simulate_many(prices: pd.DataFrame, plans, *, capital: float, fill: str = "next_close",
                  base: pd.Timestamp | None = None, threads: int | None = None) -> Batch:
    """Every plan of ``plans`` (name -> `StrategyPlan`, each `supports`-ed) on ``prices`` (the simulation
    calendar), equal to ``{name: trim(sim, base)}`` of ``simulate(prices, plans, capital=..., fill=...,
    detail=False)`` in equity, fees, slippage, turnover and notes. Strategies with the same targets and data-gap
    policy share one order matrix, built once. ``threads``: how many threads simulate the variants side by
    side (default `default_threads()`: the cores this process may use; 1 on a Dask worker that has one
    thread); the result is the same for any count."""
    from backtest.engine.simulate import (_cash_growth, _expense_drag, _order_matrix, execution_dates,
                                          wiped_out_notes)

    cal = prices.index
    names = list(plans)
    checked: dict[tuple, bool] = {}     # variants share their targets object: checked once
    for n in names:
        key = (id(plans[n].targets), bool(plans[n].borrow_fee))
        if key not in checked:
            checked[key] = supports(plans[n])
    bad = [n for n in names if not checked[(id(plans[n].targets), bool(plans[n].borrow_fee))]]
    if bad:
        raise SimulationError(f"simulate_many: {', '.join(bad)} need the vectorbt path (`simulate`)")
    sets: dict[tuple, int] = {}
    built: list[tuple] = []           # per set: (orders, notes with _SELF for the name, exec targets, dates)
    var_set = np.empty(len(names), dtype=np.int64)
    keys: dict[tuple[int, tuple], tuple] = {}     # the same targets object: fingerprinted once
    for v, name in enumerate(names):
        plan = plans[name]
        same = (id(plan.targets), tuple(plan.hold_ended))
        key = keys[same] if same in keys else keys.setdefault(same, _fingerprint(plan))
        if key not in sets:
            own: list[str] = []
            o = _order_matrix(_SELF, plan, prices, fill, own)
            exec_map = execution_dates(pd.DatetimeIndex(plan.targets.index), cal, fill)
            target = plan.targets.loc[exec_map.index].reindex(columns=o.columns).fillna(0.0).to_numpy(dtype=float)
            sets[key] = len(built)
            built.append((o, own, target, exec_map))
        var_set[v] = sets[key]
    n_threads = default_threads() if threads is None else int(threads)
    if n_threads < 1:
        raise SimulationError(f"simulate_many: threads={threads!r}; expected a whole number >= 1")
    used = list(dict.fromkeys(t for o, *_ in built for t in o.columns))
    where = {t: j for j, t in enumerate(used)}
    filled, filled_t = filled_closes(prices, used)
    bad = ~np.isfinite(filled_t).all(axis=1)
    cols, rows, sizes, ranks, execs, targets = [], [], [], [], [], []
    for o, _, target, _ in built:
        keep = ~np.isnan(o.size).all(axis=1)
        cols.append(np.array([where[t] for t in o.columns], dtype=np.int64))
        rows.append(o.days[keep].astype(np.int64))
        sizes.append(np.ascontiguousarray(o.size[keep], dtype=float).ravel())
        ranks.append(np.argsort(np.asarray(o.columns, dtype=object), kind="stable").astype(np.int64))
        execs.append(np.asarray(o.exec_days, dtype=np.int64))
        targets.append(np.ascontiguousarray(target).ravel())
    growth_of: dict[int, int] = {}
    growth_rows: list[np.ndarray] = []
    var_growth = np.full(len(names), -1, dtype=np.int64)
    for v, name in enumerate(names):
        rate = plans[name].cash_rate
        if rate is not None:
            if id(rate) not in growth_of:
                growth_of[id(rate)] = len(growth_rows)
                growth_rows.append(_cash_growth(rate, cal))
            var_growth[v] = growth_of[id(rate)]
    growth = np.array(growth_rows, dtype=float).reshape(len(growth_rows), len(cal))
    # the longest variants first, so that threads taking the next one finish together
    work = np.array([len(rows[s]) * len(cols[s]) for s in var_set], dtype=np.int64)
    run_order = np.argsort(-work, kind="stable").astype(np.int64)
    args = (filled, filled_t, bad, *_flat(cols), *_flat(rows), *_flat(sizes), np.concatenate(ranks),
            *_flat(execs), *_flat(targets), var_set, np.full(len(names), float(capital)),
            np.array([plans[n].commission_bps / 1e4 for n in names]),
            np.array([plans[n].slippage_bps / 1e4 for n in names]), var_growth, growth, run_order)
    n_threads = min(n_threads, numba.config.NUMBA_NUM_THREADS, len(names))
    if n_threads == 1:
        value, cash, fill_fees, fill_value, fill_slip, fill_row, gaps = simulate_batch_nb(*args, False)
    else:   # one parallel launch at a time per process (numba's workqueue layer allows no concurrent launches)
        _passive_openmp()
        with _PARALLEL:
            before = numba.get_num_threads()
            numba.set_num_threads(n_threads)
            try:
                with numba.parallel_chunksize(1):
                    value, cash, fill_fees, fill_value, fill_slip, fill_row, gaps = simulate_batch_nb(*args, True)
            finally:
                numba.set_num_threads(before)
    if len(cash) and np.nanmin(cash) < -1e-6 * capital:
        raise SimulationError(f"cash went negative ({np.nanmin(cash):,.2f}); this is a bug, please report it")
    # per order row: fees, traded value and slippage summed as `simulate` sums each strategy's (one pandas
    # groupby sum per group of fills; the groups are independent, so one call serves every strategy)
    fees = np.zeros(len(cash))
    traded = np.zeros(len(cash))
    slips = np.zeros(len(cash))
    fills = np.zeros(len(cash), dtype=bool)
    if len(fill_row):
        for out, values in ((fees, fill_fees), (traded, fill_value), (slips, fill_slip)):
            sums = pd.Series(values).groupby(fill_row).sum()
            out[sums.index.to_numpy()] = sums.to_numpy()
        fills[fill_row] = True
    drag = np.ones_like(value)
    for v, name in enumerate(names):
        if plans[name].expense_ratio:
            drag[v] = _expense_drag(cal, plans[name].expense_ratio, fill)
    valued = value * drag
    daily_fees = np.zeros_like(value)
    daily_slip = np.zeros_like(value)
    turnover: dict[str, pd.Series] = {}
    notes: dict[str, tuple[str, ...]] = {}
    at = ex = 0
    for v, name in enumerate(names):
        o, own, target, exec_map = built[var_set[v]]
        n_rows, n_exec = len(rows[var_set[v]]), len(execs[var_set[v]])
        sel = slice(at, at + n_rows)
        traded_rows = rows[var_set[v]][fills[sel]]
        daily_fees[v, traded_rows] = fees[sel][fills[sel]]
        daily_slip[v, traded_rows] = slips[sel][fills[sel]]
        dates = cal[traded_rows].rename("date")
        turnover[name] = pd.Series(traded[sel][fills[sel]] / 2.0 / value[v, traded_rows], index=dates,
                                   name="turnover")
        mine = [name + n[len(_SELF):] if n.startswith(_SELF) else n for n in own]
        plan = plans[name]
        if not exec_map.empty:
            tol = 2e-4 + 4 * (plan.commission_bps + plan.slippage_bps) / 1e4
            gap = gaps[ex:ex + n_exec]
            missed = [f"{d:%Y-%m-%d} (max gap {g:.3%})" for d, g in zip(exec_map, gap) if g > tol]
            if missed:
                mine.append(f"{name}: {len(missed)} rebalance(s) could not reach their targets: "
                            + ", ".join(missed))
        mine += wiped_out_notes(name, valued[v], cal)
        notes[name] = tuple(mine)
        at += n_rows
        ex += n_exec
    keep = slice(None) if base is None or cal[0] >= base else cal >= base
    days = cal[keep]
    equity = pd.DataFrame(valued[:, keep].T, index=days, columns=names)
    fee_frame = pd.DataFrame((daily_fees * drag)[:, keep].T, index=days, columns=names)
    slip_frame = pd.DataFrame((daily_slip * drag)[:, keep].T, index=days, columns=names)
    return Batch(equity=equity, fees=fee_frame, slippage=slip_frame, turnover=turnover, notes=notes)


def filled_closes(prices: pd.DataFrame, used: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``prices[used].ffill().bfill()`` (`engine.simulate._ffill_bfill`, what `bt run` fills with) twice, both
    C-contiguous: (days x used) and (used x days), so the rows of an order day and the runs of days of one
    name are read contiguously by the kernel."""
    from backtest.engine.simulate import _ffill_bfill

    if prices.columns.is_unique:
        raw = prices.to_numpy(dtype=float)[:, prices.columns.get_indexer(used)]
    else:
        raw = prices[used].to_numpy(dtype=float)
    filled_t = np.ascontiguousarray(_ffill_bfill(np.array(raw, order="F")).T)   # a copy: filled in place
    return np.ascontiguousarray(filled_t.T), filled_t


def _flat(parts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Ragged arrays as (concatenation, offsets)."""
    ptr = np.zeros(len(parts) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(p) for p in parts])
    flat = np.concatenate(parts) if parts else np.empty(0)
    return np.ascontiguousarray(flat), ptr


def _passive_openmp() -> None:
    """Let idle OpenMP threads sleep instead of spinning (``OMP_WAIT_POLICY=PASSIVE``, unless the environment
    says otherwise). GNU OpenMP, numba's usual threading layer here, spins between parallel loops by default;
    on a busy machine the spinning thread takes the core the working one needs: two threads measured 0.82-0.86x
    the speed of one at load ~2, 0.99-1.23x with passive waiting (benchmarks/batch_kernel.py). It must be set
    before numba's OpenMP pool starts (its first parallel launch), so it is set before every launch."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def default_threads() -> int:
    """The cores this process may use (its CPU affinity), at most numba's thread pool: `simulate_many`'s
    default thread count."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, numba.config.NUMBA_NUM_THREADS))


def warm_up() -> None:
    """Load the compiled kernels (numba's on-disk cache) with the argument types `simulate_many` passes, and
    start numba's thread pool."""
    ints = np.array([0, 1], dtype=np.int64)
    filled, filled_t = np.ones((1, 1)), np.ones((1, 1))
    _passive_openmp()
    for parallel in (False, True):
        with numba.parallel_chunksize(1):
            simulate_batch_nb(filled, filled_t, np.zeros(1, dtype=np.bool_), ints[:1], ints, ints[:1], ints,
                              np.array([0.5]), ints, ints[:1], ints[:1], ints, np.array([0.5]), ints, ints[:1],
                              np.ones(1), np.zeros(1), np.zeros(1), np.array([-1]), np.empty((0, 1)), ints[:1],
                              parallel)
