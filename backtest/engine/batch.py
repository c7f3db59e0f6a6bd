"""Many strategies in one compiled pass: the sweeps' order kernel, equal to vectorbt's to the last bit.

`simulate_many(prices, plans, ...)` gives what ``simulate(prices, plans, detail=False)`` followed by the
runner's trim gives for the fields a sweep uses (equity, fees, turnover, notes), without calling vectorbt:
`simulate_batch_nb` replays exactly what vectorbt 1.2.0's ``simulate_from_orders_nb`` does with the settings
of `backtest.engine.kernel.from_orders` (targetpercent orders valued at the row's close, one cash pool per
strategy, ``call_seq="auto"``: orders sorted by their approximate value so sells come first, fees and
slippage per side, partial buys when cash is short, ``min_size`` 1e-8, direction both so negative targets
sell short, vectorbt's tolerances: ``is_close`` / ``add_nb`` with rel 1e-9, abs 1e-12), then what vectorbt's
``asset_flow_nb``/``assets_nb``/``cash_flow_nb``/``cash_grouped_nb`` and `simulate` do with the order
records (positions and cash after each row, daily values as positions x close + cash, fees and traded value
per day in the trades table's order, summed as pandas sums them: Kahan). Every floating-point operation is
the one vectorbt, numpy or pandas does, in the same order, so results are identical, not just close
(tests/test_engine_batch.py checks bit equality against vectorbt's kernel and `simulate` on real and random
cases: partial fills, names ending mid-run, shorts, idle cash growth).

Why: vectorbt's kernel costs about a microsecond per order cell, and a sweep's strategies differ mostly in
costs, so a whole chunk shares a few target matrices. Here a target matrix (its rows, columns and sizes) is
built once and every strategy using it (own fees, slippage, capital, cash growth) runs over it; only the
cells with an order are visited.

What it does not do (`supports` says; the sweep then uses vectorbt's path): a borrow fee (a drag computed
from the daily short market value), sleeve parents (their prices are their sleeves' simulated values).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit

from backtest.errors import SimulationError

REL_TOL = 1e-9      # vectorbt.utils.math_: rel_tol, abs_tol
ABS_TOL = 1e-12
MIN_SIZE = 1e-8     # kernel.MIN_SIZE


# --- vectorbt's float helpers, the same operations --------------------------------------------------------

@njit(cache=True)
def _is_close(a, b):
    """vectorbt's is_close_nb: False for NaN or infinite values (``abs(x) < inf`` tests both at once)."""
    if not (abs(a) < np.inf and abs(b) < np.inf):
        return False
    if a == b:
        return True
    return abs(a - b) <= max(REL_TOL * max(abs(a), abs(b)), ABS_TOL)


@njit(cache=True)
def _add(a, b):
    """vectorbt's add_nb (signs compared as integers: a NaN, whose sign differs, gives a + b either way)."""
    if ((a > 0) - (a < 0)) != ((b > 0) - (b < 0)):
        zero = _is_close(abs(a), abs(b))
    else:
        zero = _is_close(a + b, 0.0)
    return 0.0 if zero else a + b


@njit(cache=True)
def _clean(x):
    """``0.0 if is_close(x, 0) else x``, and ``add_nb(x, 0.0)``: the same test (|x| <= abs_tol), written short."""
    return 0.0 if abs(x) <= ABS_TOL else x


@njit(cache=True)
def simulate_batch_nb(filled, set_cols, col_ptr, set_rows, row_ptr, set_size, size_ptr, set_rank,
                      set_exec, exec_ptr, set_target, target_ptr,
                      var_set, init_cash, fees, slippage, var_growth, growth):
    """Simulate every variant over its target set.

    filled : (days, names) close of every name, forward- then back-filled (no NaN where a name is traded).
    Target set s: columns ``set_cols[col_ptr[s]:col_ptr[s+1]]`` (positions in ``filled``, vectorbt's column
    order), order rows ``set_rows[row_ptr[s]:row_ptr[s+1]]`` (day positions, increasing), sizes
    ``set_size[size_ptr[s]:...]`` (rows x columns, row-major; NaN = no order), ``set_rank`` (the columns'
    positions in ticker-name order: the trades table's order), execution days ``set_exec`` and the targets
    on them ``set_target`` (for the fill check).
    Variant v: target set ``var_set[v]``, ``init_cash``, ``fees``, ``slippage`` (fractions per side) and
    ``var_growth[v]``: row of ``growth`` (days) with the cash growth index, or -1 (cash earns nothing).

    Returns (value (variants, days) before drags, cash after each order row (flat: the variants' rows one
    after the other), each fill's fees and traded value (currency) and its row in that flat numbering
    (fills in the trades table's order), fill gap per execution day (max |weight held - target|)).
    """
    n_var = len(var_set)
    n_days = filled.shape[0]
    value_out = np.empty((n_var, n_days))
    out_rows = np.zeros(n_var + 1, dtype=np.int64)
    out_exec = np.zeros(n_var + 1, dtype=np.int64)
    for v in range(n_var):
        s = var_set[v]
        out_rows[v + 1] = out_rows[v] + row_ptr[s + 1] - row_ptr[s]
        out_exec[v + 1] = out_exec[v] + exec_ptr[s + 1] - exec_ptr[s]
    cash_out = np.empty(out_rows[n_var])
    cells = 0
    for v in range(n_var):
        s = var_set[v]
        cells += (row_ptr[s + 1] - row_ptr[s]) * (col_ptr[s + 1] - col_ptr[s])
    fill_fees = np.empty(cells)
    fill_value = np.empty(cells)
    fill_row = np.empty(cells, dtype=np.int64)
    n_fills = 0
    gap_out = np.empty(out_exec[n_var])
    px = np.empty((0, 0))          # the current set's closes (days x its columns), gathered once per set
    bad_px = np.empty(0, dtype=np.bool_)
    px_set = -1
    for v in range(n_var):
        s = var_set[v]
        cols = set_cols[col_ptr[s]:col_ptr[s + 1]]
        if s != px_set:
            px = np.empty((n_days, len(cols)))
            bad_px = np.zeros(len(cols), dtype=np.bool_)
            for d in range(n_days):
                for k in range(len(cols)):
                    px[d, k] = filled[d, cols[k]]
                    if not np.isfinite(px[d, k]):
                        bad_px[k] = True
            px_set = s
        rank = set_rank[col_ptr[s]:col_ptr[s + 1]]
        rows = set_rows[row_ptr[s]:row_ptr[s + 1]]
        n = len(cols)
        n_rows = len(rows)
        size = set_size[size_ptr[s]:size_ptr[s + 1]]
        g = var_growth[v]
        fee = fees[v]
        slip = slippage[v]
        # simulation state (vectorbt's cash_now, last_position) and its outputs (records -> assets, cash)
        cash = init_cash[v]
        pos = np.zeros(n)
        held = np.zeros((n_rows, n))        # assets after each order row
        out_pos = np.zeros(n)
        out_cash = init_cash[v]
        price = np.empty(n)
        approx = np.empty(n)
        which = np.empty(n, dtype=np.int64)
        side = np.full(n, -1, dtype=np.int64)   # per column this row: -1 no fill, 0 buy, 1 sell
        f_size = np.empty(n)
        f_price = np.empty(n)
        f_fees = np.empty(n)
        for r in range(n_rows):
            d = rows[r]
            base = r * n
            for k in range(n):
                price[k] = filled[d, cols[k]] / growth[g, d] if g >= 0 else filled[d, cols[k]]
            value = cash
            for k in range(n):
                if pos[k] != 0:
                    value += pos[k] * price[k]
            # the orders in vectorbt's call sequence: sorted by approximate value, stable (its insertion sort),
            # NaN sizes last. A zero target on a name not held (a no-op: sorted among the zero values) is
            # left out; all it would do is clean the cash up, which matters only after the last order (below)
            m = 0
            n_nan = 0
            last_noop = -1
            finite = abs(value) < np.inf
            for k in range(n):
                sz = size[base + k]
                if np.isnan(sz):
                    n_nan += 1
                elif sz == 0 and pos[k] == 0 and finite:
                    last_noop = k
                else:
                    approx[m] = sz * value - pos[k] * price[k]
                    which[m] = k
                    m += 1
            order = np.argsort(approx[:m], kind="mergesort")
            # execute_order_nb cleans the state it is given (values within 1e-12 of 0 become 0): every column
            # of the group is executed every row, in this order (NaN sizes last, ignored after the clean-up)
            for k in range(n):
                pos[k] = _clean(pos[k])
                side[k] = -1
            val = _clean(value)
            for j in range(m):
                k = which[order[j]]
                cash = _clean(cash)
                if np.isnan(val) or val <= 0:
                    continue
                want = size[base + k] * val
                want /= price[k]
                want -= pos[k]
                if want > 0:    # buy_nb
                    adj = price[k] * (1 + slip)
                    if cash == 0:
                        continue
                    req = want * adj
                    req_fees = req * fee + 0.0
                    total = req + req_fees
                    if _is_close(total, cash) or total < cash:
                        got, paid, spent = want, req_fees, total
                    else:
                        most = _add(cash, -0.0) / (1 + fee)
                        if most <= 0:
                            continue
                        got = most / adj
                        paid = cash - most
                        spent = cash
                    if _is_close(want, 0.0):
                        continue
                    if not _is_close(got, MIN_SIZE) and got < MIN_SIZE:
                        continue
                    cash = _add(cash, -spent)
                    pos[k] = _add(pos[k], got)
                    side[k] = 0
                    flow = got
                else:           # sell_nb
                    adj = price[k] * (1 - slip)
                    got = -want
                    if _is_close(got, 0.0):
                        continue
                    if not _is_close(got, MIN_SIZE) and got < MIN_SIZE:
                        continue
                    acq = got * adj
                    paid = acq * fee + 0.0
                    net = _add(acq, -paid)
                    if net < 0:
                        continue
                    cash = cash + net
                    pos[k] = _add(pos[k], -got)
                    side[k] = 1
                    flow = -got
                f_size[k] = got
                f_price[k] = adj
                f_fees[k] = paid
                out_pos[k] = _add(out_pos[k], _add(0.0, flow))
            if n_nan > 0 or (m == 0 and n > 0):
                cash = _clean(cash)         # executed after the last order: NaN sizes, or only no-ops
            elif last_noop >= 0:
                key = approx[order[m - 1]]
                if key < 0 or (key == 0 and which[order[m - 1]] < last_noop):
                    cash = _clean(cash)     # a no-op sorted after the last order
            # vectorbt's cash: per-column flows summed over the group's columns in column order
            row_flow = 0.0
            o = out_rows[v] + r
            for k in range(n):
                if side[k] >= 0:
                    signed = f_size[k] if side[k] == 0 else -f_size[k]
                    row_flow += _add(0.0, -signed * f_price[k] - f_fees[k])
                else:       # no flow: the sum is unchanged; assets_nb still adds the zero flow (add_nb)
                    out_pos[k] = _clean(out_pos[k])
            out_cash = _add(out_cash, row_flow)
            cash_out[o] = out_cash
            held[r] = out_pos
            # each fill's fees and traded value in currency, in the trades table's order (sells first, then by
            # ticker), labelled with the row: summed later exactly as `simulate` sums them (a pandas groupby)
            for want_side in (1, 0):
                for q in range(n):
                    k = rank[q]
                    if side[k] != want_side:
                        continue
                    if g >= 0:
                        fill_fees[n_fills] = f_fees[k] * growth[g, d]
                        fill_value[n_fills] = f_size[k] * (f_price[k] * growth[g, d])
                    else:
                        fill_fees[n_fills] = f_fees[k]
                        fill_value[n_fills] = f_size[k] * f_price[k]
                    fill_row[n_fills] = o
                    n_fills += 1
        # daily values: positions held since the last order row x the day's close, plus cash (x growth); the
        # positions summed one name at a time in column order, as numpy sums the (days x names) F-order frame
        # (names held at 0 add nothing and are skipped, unless their close is not finite)
        nz = np.empty(n, dtype=np.int64)
        for r in range(-1, n_rows):
            first = 0 if r < 0 else rows[r]
            stop = n_days if r + 1 == n_rows else rows[r + 1]
            m = 0
            if r >= 0:
                for k in range(n):
                    if held[r, k] != 0 or bad_px[k]:
                        nz[m] = k
                        m += 1
            for d in range(first, stop):
                c = init_cash[v] if r < 0 else cash_out[out_rows[v] + r]
                if g >= 0:
                    c = c * growth[g, d]
                total = 0.0
                for j in range(m):
                    total += held[r, nz[j]] * px[d, nz[j]]
                value_out[v, d] = c + total
        # the fill check's gap on each execution day
        ex = set_exec[exec_ptr[s]:exec_ptr[s + 1]]
        tg = set_target[target_ptr[s]:target_ptr[s + 1]]
        r = -1
        for e in range(len(ex)):
            d = ex[e]
            while r + 1 < n_rows and rows[r + 1] <= d:
                r += 1
            gap = 0.0
            for k in range(n):
                a = held[r, k] if r >= 0 else 0.0
                w = (a * px[d, k]) / value_out[v, d]
                diff = abs(w - tg[e * n + k])
                if np.isnan(diff) or np.isnan(gap):
                    gap = np.nan
                elif diff > gap:
                    gap = diff
            gap_out[out_exec[v] + e] = gap
    return (value_out, cash_out, fill_fees[:n_fills], fill_value[:n_fills], fill_row[:n_fills],
            gap_out)


# --- the sweep's entry point --------------------------------------------------------------------------------

_SELF = "\x00"      # stands for the strategy's name in the notes of a shared target set


@dataclass(frozen=True)
class Batch:
    """What `simulate(..., detail=False)` + the runner's trim give a sweep, for many strategies at once.

    equity, fees : DataFrame (run days from ``base``) x strategies, as ``Simulation.equity`` / ``.fees``.
    turnover : strategy -> Series on its trade dates, as ``Simulation.turnover``.
    notes : strategy -> the notes ``Simulation.notes`` holds.
    """

    equity: pd.DataFrame
    fees: pd.DataFrame
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
                  base: pd.Timestamp | None = None) -> Batch:
    """Every plan of ``plans`` (name -> `StrategyPlan`, each `supports`-ed) on ``prices`` (the simulation
    calendar), equal to ``{name: trim(sim, base)}`` of ``simulate(prices, plans, capital=..., fill=...,
    detail=False)`` in equity, fees, turnover and notes. Strategies with the same targets and data-gap
    policy share one order matrix, built once."""
    from backtest.engine.simulate import _cash_growth, _expense_drag, _order_matrix, execution_dates

    cal = prices.index
    names = list(plans)
    bad = [n for n in names if not supports(plans[n])]
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
    used = list(dict.fromkeys(t for o, *_ in built for t in o.columns))
    where = {t: j for j, t in enumerate(used)}
    filled = np.ascontiguousarray(prices[used].ffill().bfill().to_numpy(dtype=float))
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
    value, cash, fill_fees, fill_value, fill_row, gaps = simulate_batch_nb(
        filled, *_flat(cols), *_flat(rows), *_flat(sizes), np.concatenate(ranks),
        *_flat(execs), *_flat(targets), var_set, np.full(len(names), float(capital)),
        np.array([plans[n].commission_bps / 1e4 for n in names]),
        np.array([plans[n].slippage_bps / 1e4 for n in names]), var_growth, growth)
    if len(cash) and np.nanmin(cash) < -1e-6 * capital:
        raise SimulationError(f"cash went negative ({np.nanmin(cash):,.2f}); this is a bug, please report it")
    # per order row: fees and traded value summed as `simulate` sums each strategy's (one pandas groupby sum
    # per group of fills; the groups are independent, so one call serves every strategy)
    fees = np.zeros(len(cash))
    traded = np.zeros(len(cash))
    fills = np.zeros(len(cash), dtype=bool)
    if len(fill_row):
        for out, values in ((fees, fill_fees), (traded, fill_value)):
            sums = pd.Series(values).groupby(fill_row).sum()
            out[sums.index.to_numpy()] = sums.to_numpy()
        fills[fill_row] = True
    drag = np.ones_like(value)
    for v, name in enumerate(names):
        if plans[name].expense_ratio:
            drag[v] = _expense_drag(cal, plans[name].expense_ratio)
    daily_fees = np.zeros_like(value)
    turnover: dict[str, pd.Series] = {}
    notes: dict[str, tuple[str, ...]] = {}
    at = ex = 0
    for v, name in enumerate(names):
        o, own, target, exec_map = built[var_set[v]]
        n_rows, n_exec = len(rows[var_set[v]]), len(execs[var_set[v]])
        sel = slice(at, at + n_rows)
        traded_rows = rows[var_set[v]][fills[sel]]
        daily_fees[v, traded_rows] = fees[sel][fills[sel]]
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
        notes[name] = tuple(mine)
        at += n_rows
        ex += n_exec
    keep = slice(None) if base is None or cal[0] >= base else cal >= base
    days = cal[keep]
    equity = pd.DataFrame((value * drag)[:, keep].T, index=days, columns=names)
    fee_frame = pd.DataFrame((daily_fees * drag)[:, keep].T, index=days, columns=names)
    return Batch(equity=equity, fees=fee_frame, turnover=turnover, notes=notes)


def _flat(parts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Ragged arrays as (concatenation, offsets)."""
    ptr = np.zeros(len(parts) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(p) for p in parts])
    flat = np.concatenate(parts) if parts else np.empty(0)
    return np.ascontiguousarray(flat), ptr


def warm_up() -> None:
    """Load the compiled kernel (numba's on-disk cache) with the argument types `simulate_many` passes."""
    ints = np.array([0, 1], dtype=np.int64)
    simulate_batch_nb(np.ones((1, 1)), ints[:1], ints, ints[:1], ints, np.array([0.5]), ints, ints[:1],
                      ints[:1], ints, np.array([0.5]), ints, ints[:1], np.ones(1), np.zeros(1), np.zeros(1),
                      np.array([-1]), np.empty((0, 1)))
