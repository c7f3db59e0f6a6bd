"""The sweeps' batch kernel, compiled (numba): `simulate_batch_nb` and its parts; `backtest.engine.batch`
prepares its arrays (`simulate_many`) and explains what it replays (vectorbt 1.2.0's order simulation, every
floating-point operation in the same order). Variants run on numba's threads (``prange``): each writes only
its own rows of the outputs, so results do not depend on the thread count.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

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
def _sorted_by_key(keys, m, order, work_k, hint, use_hint):
    """Stable argsort of ``keys[:m]`` into ``order[:m]``, exactly numba's ``np.argsort(kind="mergesort")``
    (NaN last, ties by position). With ``use_hint``, ``hint[:m]`` is a permutation to start from: checked
    and, if a few pairs are out of order, repaired by insertion; otherwise a merge sort of (key, position)
    pairs. The result depends only on the keys (the order is a strict total order on (key, position))."""
    if use_hint:
        for j in range(m):
            order[j] = hint[j]
    else:
        for j in range(m):
            order[j] = j
    for j in range(m):
        work_k[j] = keys[order[j]]
    # insertion sort on (key, position) pairs; abandoned if the start is far from sorted
    moves = 0
    limit = 4 * m + 64 if use_hint else 0
    ok = True
    i = 1
    while i < m:
        kk = work_k[i]
        ki = order[i]
        j = i
        while j > 0:
            pk = work_k[j - 1]
            pi = order[j - 1]
            # (kk, ki) < (pk, pi): lt_floats on the keys, then the position
            if kk < pk or (np.isnan(pk) and not np.isnan(kk)):
                pass
            elif (kk == pk or (np.isnan(kk) and np.isnan(pk))) and ki < pi:
                pass
            else:
                break
            work_k[j] = pk
            order[j] = pi
            j -= 1
            moves += 1
        work_k[j] = kk
        order[j] = ki
        if moves > limit:
            ok = False
            break
        i += 1
    if ok:
        return
    order[:m] = np.argsort(keys[:m], kind="mergesort")


@njit(cache=True)
def _run_variant(v, s, filled, filled_t, bad, set_cols, col_ptr, set_rows, row_ptr, set_size, size_ptr,
                 set_rank, set_exec, exec_ptr, set_target, target_ptr, cash0, fee, slip, g, growth,
                 held, cash_out, fill_fees, fill_value, fill_slip, fill_row, o0, f0, hint_cols, hint_m, mode):
    """The order rows of one variant of `simulate_batch_nb` (see there): its positions after each order row
    into ``held`` (rows x columns), its cash after each into ``cash_out`` from ``o0`` on, its fills from
    ``f0`` on; returns how many fills it wrote. The call sequence of each row is sorted from a hint: ``mode``
    1 records this variant's (the columns in order, ``hint_cols`` rows x columns, ``hint_m`` per row), 2
    starts from the recorded one (variants of a set differ in costs, so their orders mostly agree), 0 sorts
    from scratch; the sort's result depends only on the keys."""
    cols = set_cols[col_ptr[s]:col_ptr[s + 1]]
    rank = set_rank[col_ptr[s]:col_ptr[s + 1]]
    rows = set_rows[row_ptr[s]:row_ptr[s + 1]]
    n = len(cols)
    n_rows = len(rows)
    size = set_size[size_ptr[s]:size_ptr[s + 1]]
    # simulation state (vectorbt's cash_now, last_position) and its outputs (records -> assets, cash)
    cash = cash0
    pos = np.zeros(n)
    out_pos = np.zeros(n)
    out_cash = cash0
    price = np.empty(n)
    approx = np.empty(n)
    which = np.empty(n, dtype=np.int64)
    order = np.empty(n, dtype=np.int64)
    work_k = np.empty(n)
    side = np.full(n, -1, dtype=np.int64)   # per column this row: -1 no fill, 0 buy, 1 sell
    f_size = np.empty(n)
    f_price = np.empty(n)
    f_fees = np.empty(n)
    n_fills = f0
    pos_of = np.full(n, -1, dtype=np.int64)
    for r in range(n_rows):
        d = rows[r]
        base = r * n
        frow = filled[d]
        if g >= 0:
            gd = growth[g, d]
            for k in range(n):
                price[k] = frow[cols[k]] / gd
        else:
            for k in range(n):
                price[k] = frow[cols[k]]
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
        if mode == 2:   # the recorded order of these columns, then any others in column order
            for j in range(m):
                pos_of[which[j]] = j
            cnt = 0
            for t in range(hint_m[r]):
                j = pos_of[hint_cols[r * n + t]]
                if j >= 0:
                    order[cnt] = j
                    cnt += 1
                    pos_of[which[j]] = -1
            for j in range(m):
                if pos_of[which[j]] >= 0:
                    order[cnt] = j
                    cnt += 1
                    pos_of[which[j]] = -1
        _sorted_by_key(approx, m, order, work_k, order, mode == 2)
        if mode == 1:
            for j in range(m):
                hint_cols[r * n + j] = which[order[j]]
            hint_m[r] = m
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
        o = o0 + r
        for k in range(n):
            if side[k] >= 0:
                signed = f_size[k] if side[k] == 0 else -f_size[k]
                row_flow += _add(0.0, -signed * f_price[k] - f_fees[k])
            else:       # no flow: the sum is unchanged; assets_nb still adds the zero flow (add_nb)
                out_pos[k] = _clean(out_pos[k])
        out_cash = _add(out_cash, row_flow)
        cash_out[o] = out_cash
        held[r] = out_pos
        # each fill's fees, traded value and slippage (shares x |fill price - close|) in currency, in the
        # trades table's order (sells first, then by ticker), labelled with the row: summed later exactly as
        # `simulate` sums them (a pandas groupby)
        for want_side in (1, 0):
            for q in range(n):
                k = rank[q]
                if side[k] != want_side:
                    continue
                if g >= 0:
                    fill_fees[n_fills] = f_fees[k] * growth[g, d]
                    fill_value[n_fills] = f_size[k] * (f_price[k] * growth[g, d])
                    fill_slip[n_fills] = f_size[k] * abs(f_price[k] * growth[g, d] - frow[cols[k]])
                else:
                    fill_fees[n_fills] = f_fees[k]
                    fill_value[n_fills] = f_size[k] * f_price[k]
                    fill_slip[n_fills] = f_size[k] * abs(f_price[k] - frow[cols[k]])
                fill_row[n_fills] = o
                n_fills += 1
    return n_fills - f0


@njit(cache=True)
def _period_values(s, r, members, filled_t, bad, set_cols, col_ptr, set_rows, row_ptr, init_cash, var_growth,
                   growth, held_all, held_ptr, cash_out, out_rows, value_out):
    """Daily values of the variants ``members`` of target set ``s`` over its holding period ``r`` (-1: before
    the first order row): positions held x the day's close, plus cash (x growth). Each day's positions are
    summed one name at a time in column order, as numpy sums the (days x names) F-order frame (names held
    at 0 add nothing and are skipped, unless their close is not finite)."""
    cols = set_cols[col_ptr[s]:col_ptr[s + 1]]
    rows = set_rows[row_ptr[s]:row_ptr[s + 1]]
    n = len(cols)
    n_rows = len(rows)
    n_days = filled_t.shape[1]
    first = 0 if r < 0 else rows[r]
    stop = n_days if r + 1 == n_rows else rows[r + 1]
    for v in members:
        for d in range(first, stop):
            value_out[v, d] = 0.0
    if r >= 0:
        span = stop - first
        for k in range(n):
            c = cols[k]
            src = filled_t[c, first:stop]
            for v in members:
                h = held_all[held_ptr[v] + r * n + k]
                if h != 0 or bad[c]:
                    out = value_out[v, first:stop]
                    for i in range(span):
                        out[i] += h * src[i]
    for v in members:
        g = var_growth[v]
        cash = init_cash[v] if r < 0 else cash_out[out_rows[v] + r]
        for d in range(first, stop):
            c = cash * growth[g, d] if g >= 0 else cash
            value_out[v, d] = c + value_out[v, d]


@njit(cache=True)
def _fill_gaps(v, s, filled, set_cols, col_ptr, set_rows, row_ptr, set_exec, exec_ptr, set_target, target_ptr,
               held_all, held_ptr, value_out, gap_out, e0):
    """The fill check's gap (max |weight held - target|) of variant ``v`` on each execution day."""
    cols = set_cols[col_ptr[s]:col_ptr[s + 1]]
    rows = set_rows[row_ptr[s]:row_ptr[s + 1]]
    n = len(cols)
    n_rows = len(rows)
    ex = set_exec[exec_ptr[s]:exec_ptr[s + 1]]
    tg = set_target[target_ptr[s]:target_ptr[s + 1]]
    r = -1
    for e in range(len(ex)):
        d = ex[e]
        while r + 1 < n_rows and rows[r + 1] <= d:
            r += 1
        gap = 0.0
        frow = filled[d]
        for k in range(n):
            a = held_all[held_ptr[v] + r * n + k] if r >= 0 else 0.0
            w = (a * frow[cols[k]]) / value_out[v, d]
            diff = abs(w - tg[e * n + k])
            if np.isnan(diff) or np.isnan(gap):
                gap = np.nan
            elif diff > gap:
                gap = diff
        gap_out[e0 + e] = gap


# The parallel loops: each iteration writes only its own part of the outputs. They hold no array expression
# (numba would make it a parallel loop too, split in chunks of `simulate_many`'s chunk size of 1).

@njit(cache=True, parallel=True)
def _orders_parallel(filled, filled_t, bad, set_cols, col_ptr, set_rows, row_ptr, set_size, size_ptr, set_rank,
                     set_exec, exec_ptr, set_target, target_ptr, var_set, init_cash, fees, slippage, var_growth,
                     growth, run_order, held_all, cash_out, fill_fees, fill_value, fill_slip, fill_row, out_rows,
                     out_fill, n_fills, hint_all, hint_m_all, mode):
    for i in prange(len(run_order)):
        v = run_order[i]
        s = var_set[v]
        hint_cols = hint_all[size_ptr[s]:size_ptr[s + 1]]
        hint_m = hint_m_all[row_ptr[s]:row_ptr[s + 1]]
        held = held_all[out_fill[v]:out_fill[v + 1]].reshape((row_ptr[s + 1] - row_ptr[s],
                                                                col_ptr[s + 1] - col_ptr[s]))
        n_fills[v] = _run_variant(
            v, s, filled, filled_t, bad, set_cols, col_ptr, set_rows, row_ptr, set_size, size_ptr,
            set_rank, set_exec, exec_ptr, set_target, target_ptr, init_cash[v], fees[v], slippage[v],
            var_growth[v], growth, held, cash_out, fill_fees, fill_value, fill_slip, fill_row, out_rows[v],
            out_fill[v], hint_cols, hint_m, mode)


@njit(cache=True, parallel=True)
def _values_parallel(task_ptr, members, set_n, filled_t, bad, set_cols, col_ptr, set_rows, row_ptr, init_cash,
                     var_growth, growth, held_all, out_fill, cash_out, out_rows, value_out):
    for i in prange(task_ptr[-1]):
        t = np.searchsorted(task_ptr, i, side="right") - 1
        _period_values(t, i - task_ptr[t] - 1, members[set_n[t]:set_n[t + 1]], filled_t, bad, set_cols,
                       col_ptr, set_rows, row_ptr, init_cash, var_growth, growth, held_all, out_fill,
                       cash_out, out_rows, value_out)


@njit(cache=True, parallel=True)
def _gaps_parallel(filled, set_cols, col_ptr, set_rows, row_ptr, set_exec, exec_ptr, set_target, target_ptr,
                   var_set, run_order, held_all, out_fill, value_out, gap_out, out_exec):
    for i in prange(len(run_order)):
        v = run_order[i]
        _fill_gaps(v, var_set[v], filled, set_cols, col_ptr, set_rows, row_ptr, set_exec, exec_ptr, set_target,
                   target_ptr, held_all, out_fill, value_out, gap_out, out_exec[v])


# The same loops on the calling thread (``threads=1``: numba's threading layer is not involved at all, so
# any number of Python threads may run the kernel at once, as a Dask worker's threads do).

@njit(cache=True)
def _orders_serial(filled, filled_t, bad, set_cols, col_ptr, set_rows, row_ptr, set_size, size_ptr, set_rank,
                   set_exec, exec_ptr, set_target, target_ptr, var_set, init_cash, fees, slippage, var_growth,
                   growth, run_order, held_all, cash_out, fill_fees, fill_value, fill_slip, fill_row, out_rows,
                   out_fill, n_fills, hint_all, hint_m_all, mode):
    for i in range(len(run_order)):
        v = run_order[i]
        s = var_set[v]
        held = held_all[out_fill[v]:out_fill[v + 1]].reshape((row_ptr[s + 1] - row_ptr[s],
                                                                col_ptr[s + 1] - col_ptr[s]))
        n_fills[v] = _run_variant(
            v, s, filled, filled_t, bad, set_cols, col_ptr, set_rows, row_ptr, set_size, size_ptr,
            set_rank, set_exec, exec_ptr, set_target, target_ptr, init_cash[v], fees[v], slippage[v],
            var_growth[v], growth, held, cash_out, fill_fees, fill_value, fill_slip, fill_row, out_rows[v],
            out_fill[v], hint_all[size_ptr[s]:size_ptr[s + 1]], hint_m_all[row_ptr[s]:row_ptr[s + 1]], mode)


@njit(cache=True)
def _values_serial(task_ptr, members, set_n, filled_t, bad, set_cols, col_ptr, set_rows, row_ptr, init_cash,
                   var_growth, growth, held_all, out_fill, cash_out, out_rows, value_out):
    for t in range(len(task_ptr) - 1):
        for i in range(task_ptr[t], task_ptr[t + 1]):
            _period_values(t, i - task_ptr[t] - 1, members[set_n[t]:set_n[t + 1]], filled_t, bad, set_cols,
                           col_ptr, set_rows, row_ptr, init_cash, var_growth, growth, held_all, out_fill,
                           cash_out, out_rows, value_out)


@njit(cache=True)
def _gaps_serial(filled, set_cols, col_ptr, set_rows, row_ptr, set_exec, exec_ptr, set_target, target_ptr,
                 var_set, run_order, held_all, out_fill, value_out, gap_out, out_exec):
    for v in range(len(run_order)):
        _fill_gaps(v, var_set[v], filled, set_cols, col_ptr, set_rows, row_ptr, set_exec, exec_ptr, set_target,
                   target_ptr, held_all, out_fill, value_out, gap_out, out_exec[v])


@njit(cache=True)
def simulate_batch_nb(filled, filled_t, bad, set_cols, col_ptr, set_rows, row_ptr, set_size, size_ptr,
                      set_rank, set_exec, exec_ptr, set_target, target_ptr,
                      var_set, init_cash, fees, slippage, var_growth, growth, run_order, parallel):
    """Simulate every variant over its target set, variants in parallel (numba's threads, as many as
    ``numba.set_num_threads`` says; each variant writes only its own rows of the outputs and the daily values
    go by holding period, so the result does not depend on the thread count).

    filled : (days, names) close of every name, forward- then back-filled (no NaN where a name is traded);
    filled_t the same closes as (names, days); bad[j]: name j has a close that is not finite.
    Target set s: columns ``set_cols[col_ptr[s]:col_ptr[s+1]]`` (positions in ``filled``, vectorbt's column
    order), order rows ``set_rows[row_ptr[s]:row_ptr[s+1]]`` (day positions, increasing), sizes
    ``set_size[size_ptr[s]:...]`` (rows x columns, row-major; NaN = no order), ``set_rank`` (the columns'
    positions in ticker-name order: the trades table's order), execution days ``set_exec`` and the targets
    on them ``set_target`` (for the fill check).
    Variant v: target set ``var_set[v]``, ``init_cash``, ``fees``, ``slippage`` (fractions per side) and
    ``var_growth[v]``: row of ``growth`` (days) with the cash growth index, or -1 (cash earns nothing).
    ``run_order``: the variants in the order threads pick them up (the longest first; any permutation gives
    the same result). ``parallel``: on numba's threads (``numba.set_num_threads``) or on this thread alone.

    Returns (value (variants, days) before drags, cash after each order row (flat: the variants' rows one
    after the other), each fill's fees, traded value and slippage (currency; slippage = shares x |fill
    price - close|) and its row in that flat numbering (fills in the trades table's order), fill gap per
    execution day (max |weight held - target|)).
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
    # fills: each variant writes from its own offset (room for an order per cell), packed together after;
    # positions after each order row likewise
    out_fill = np.zeros(n_var + 1, dtype=np.int64)
    for v in range(n_var):
        s = var_set[v]
        out_fill[v + 1] = out_fill[v] + (row_ptr[s + 1] - row_ptr[s]) * (col_ptr[s + 1] - col_ptr[s])
    fill_fees = np.empty(out_fill[n_var])
    fill_value = np.empty(out_fill[n_var])
    fill_slip = np.empty(out_fill[n_var])
    fill_row = np.empty(out_fill[n_var], dtype=np.int64)
    held_all = np.zeros(out_fill[n_var])
    n_fills = np.zeros(n_var, dtype=np.int64)
    gap_out = np.empty(out_exec[n_var])
    # the first variant of each target set (in run order) records its call sequences; the others start from them
    n_sets = len(col_ptr) - 1
    is_first = np.zeros(n_sets, dtype=np.bool_)
    lead = np.zeros(n_var, dtype=np.bool_)
    for v in run_order:
        if not is_first[var_set[v]]:
            is_first[var_set[v]] = True
            lead[v] = True
    hint_all = np.empty(size_ptr[-1], dtype=np.int64)
    hint_m_all = np.zeros(row_ptr[-1], dtype=np.int64)
    for mode in (1, 2):
        part = run_order[lead[run_order] == (mode == 1)]
        if parallel:
            _orders_parallel(filled, filled_t, bad, set_cols, col_ptr, set_rows, row_ptr, set_size, size_ptr,
                             set_rank, set_exec, exec_ptr, set_target, target_ptr, var_set, init_cash, fees,
                             slippage, var_growth, growth, part, held_all, cash_out, fill_fees, fill_value,
                             fill_slip, fill_row, out_rows, out_fill, n_fills, hint_all, hint_m_all, mode)
        else:
            _orders_serial(filled, filled_t, bad, set_cols, col_ptr, set_rows, row_ptr, set_size, size_ptr,
                           set_rank, set_exec, exec_ptr, set_target, target_ptr, var_set, init_cash, fees,
                           slippage, var_growth, growth, part, held_all, cash_out, fill_fees, fill_value,
                           fill_slip, fill_row, out_rows, out_fill, n_fills, hint_all, hint_m_all, mode)
    # daily values, one holding period of one target set at a time: every variant of the set from the same
    # closes (read once for all of them)
    set_n = np.zeros(n_sets + 1, dtype=np.int64)
    for v in range(n_var):
        set_n[var_set[v] + 1] += 1
    for t in range(n_sets):
        set_n[t + 1] += set_n[t]
    members = np.empty(n_var, dtype=np.int64)
    fill_at = set_n[:-1].copy()
    for v in range(n_var):
        members[fill_at[var_set[v]]] = v
        fill_at[var_set[v]] += 1
    task_ptr = np.zeros(n_sets + 1, dtype=np.int64)
    for t in range(n_sets):
        task_ptr[t + 1] = task_ptr[t] + (row_ptr[t + 1] - row_ptr[t] + 1 if set_n[t + 1] > set_n[t] else 0)
    if parallel:
        _values_parallel(task_ptr, members, set_n, filled_t, bad, set_cols, col_ptr, set_rows, row_ptr,
                         init_cash, var_growth, growth, held_all, out_fill, cash_out, out_rows, value_out)
        _gaps_parallel(filled, set_cols, col_ptr, set_rows, row_ptr, set_exec, exec_ptr, set_target, target_ptr,
                       var_set, run_order, held_all, out_fill, value_out, gap_out, out_exec)
    else:
        _values_serial(task_ptr, members, set_n, filled_t, bad, set_cols, col_ptr, set_rows, row_ptr,
                       init_cash, var_growth, growth, held_all, out_fill, cash_out, out_rows, value_out)
        _gaps_serial(filled, set_cols, col_ptr, set_rows, row_ptr, set_exec, exec_ptr, set_target, target_ptr,
                     var_set, run_order, held_all, out_fill, value_out, gap_out, out_exec)
    at = 0
    for v in range(n_var):      # the fills packed in variant order
        for f in range(out_fill[v], out_fill[v] + n_fills[v]):
            fill_fees[at] = fill_fees[f]
            fill_value[at] = fill_value[f]
            fill_slip[at] = fill_slip[f]
            fill_row[at] = fill_row[f]
            at += 1
    return value_out, cash_out, fill_fees[:at], fill_value[:at], fill_slip[:at], fill_row[:at], gap_out
