"""Target weights -> vectorbt simulation. All costs and cash rules are explicit here.

Conventions
-----------
* Prices are total-return adjusted closes (dividends reinvested through the price; never added again).
* Orders are ``targetpercent`` orders: at each execution date every name is traded to its target share of
  the strategy's value at that close. ``call_seq="auto"`` sells before it buys, so sales fund purchases.
* Commission and slippage are fractions of traded value, per side. When fees leave too little cash for the
  last buys, vectorbt fills them partially: cash never goes negative; the shortfall is reported. The fees
  (the trades' ``fees``, ``Simulation.fees``) are the commission only; slippage is in the fill prices
  (close x (1 +/- slippage)), and what it cost, shares x |fill price - close|, is ``Simulation.slippage``.
* ``fill="close"`` trades at the close of the decision date (the weights use that close: an idealised
  market-on-close); ``fill="next_close"`` (default) trades at the next trading day's close.
* A name whose prices end mid-run is sold at its last close and the cash waits for the next rebalance,
  unless the plan lists it in ``hold_ended`` (a data gap under ``data_gaps: hold``): then it stays valued at
  its last close and is sold at that close on the next execution day. A name with no price on an execution
  date is not traded: a holding of it stays, the rest of its target weight waits in cash (reported).
* Idle cash (of every origin: unallocated targets, sale proceeds waiting for the next rebalance, target names
  without a price) accrues daily at the plan's ``cash_rate`` (the cash instrument's or the risk-free series'
  daily return). Exactly: the simulation runs in units of the cash instrument (every price divided by its
  growth index G), where idle cash is constant, and values are converted back by multiplying by G. Costs are
  proportional and targets are shares of value, so the change of unit changes nothing else.
* One cash pool per strategy (vectorbt group with ``cash_sharing=True``); all strategies run in one
  vectorised simulation, side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd

from backtest.errors import SimulationError
from backtest.plans import StrategyPlan
from backtest.schedule import fill_lag

TRADING_DAYS = 252


@dataclass(frozen=True)
class Simulation:
    """Outcome for one strategy; all frames indexed by trading date."""

    equity: pd.Series            # portfolio value after costs
    holdings: pd.DataFrame       # end-of-day weights held, one column per ticker (cash excluded)
    trades: pd.DataFrame         # date, ticker, side, shares, price, value, fees
    fees: pd.Series              # commission paid per day (currency)
    slippage: pd.Series          # slippage paid per day (currency): sum of shares x |fill price - close|
    turnover: pd.Series          # per execution date: traded value / 2 / portfolio value
    cash: pd.Series              # cash per day
    notes: tuple[str, ...] = field(default_factory=tuple)
    borrow_charged: float = 0.0  # the borrow fee's daily charges (fractions of the value) summed over the run


def execution_dates(decisions: pd.DatetimeIndex, calendar: pd.DatetimeIndex, fill: str) -> pd.Series:
    """Map each decision date to the date its orders fill (dropping decisions with no later day)."""
    if fill == "close":
        return pd.Series(decisions, index=decisions)
    if fill != "next_close":
        raise SimulationError(f"fill: expected 'close' or 'next_close', got {fill!r}")
    pos = calendar.searchsorted(decisions, side="right")
    keep = pos < len(calendar)
    return pd.Series(calendar[pos[keep]], index=decisions[keep])


@dataclass(frozen=True)
class _Orders:
    """One strategy's targetpercent orders, stored only on the days that have one."""

    columns: list[str]       # tickers traded: target names, then the cash sleeve if any
    days: np.ndarray         # calendar positions of the days with an order row, increasing
    size: np.ndarray         # (len(days), len(columns)) target share of the value; NaN = no order
    exec_days: np.ndarray    # calendar position of each execution (one per kept decision)


def _order_matrix(name: str, plan: StrategyPlan, prices: pd.DataFrame, fill: str,
                  notes: list[str], priced: np.ndarray | None = None) -> _Orders:
    """Build the targetpercent size rows (NaN = no order) of one strategy: its execution days and the days
    a held name's prices end. Vectorised over dates; loops only over the names and dates it reports.
    ``priced``: ``prices.notna().to_numpy()`` when the caller has it (shared by the strategies of a run)."""
    cal = prices.index
    targets = plan.targets.fillna(0.0)
    traded = (targets.to_numpy() != 0).any(axis=0)
    tickers = list(targets.columns[traded])
    if not traded.all():
        targets = targets[tickers]
    if priced is None:
        real = prices[tickers].notna().to_numpy()
    else:
        real = priced[:, _positions(prices.columns, tickers)]
    exec_map = execution_dates(pd.DatetimeIndex(targets.index), cal, fill)
    dropped = len(targets) - len(exec_map)
    if dropped:
        notes.append(f"{name}: {dropped} rebalance decision(s) on the last day have no later day to fill; skipped")
    exec_days = cal.get_indexer(pd.DatetimeIndex(exec_map.to_numpy()))
    if (exec_days < 0).any():
        bad = pd.DatetimeIndex(exec_map.to_numpy()[exec_days < 0])
        raise SimulationError(f"{name}: targets dated {', '.join(f'{d:%Y-%m-%d}' for d in bad[:5])} are not "
                              f"trading days of the price calendar; fix: decide on trading days only")
    # Delistings: sell at the last real close when prices end before the run does (unless held: data gaps).
    last_pos = len(cal) - 1 - np.argmax(real[::-1], axis=0)
    ended = real.any(axis=0) & (last_pos < len(cal) - 1)
    held = ended & np.isin(np.asarray(tickers, dtype=object), list(plan.hold_ended))
    sold = ended & ~held
    days = np.union1d(exec_days, last_pos[sold])
    size = np.full((len(days), len(tickers)), np.nan)
    at = np.searchsorted(days, exec_days)
    rows = targets.loc[exec_map.index].to_numpy(dtype=float)
    has_price = real[exec_days]
    lost = (rows != 0) & ~has_price
    for k in np.flatnonzero(lost.any(axis=1)):
        names = ", ".join(np.asarray(tickers)[lost[k]])
        executed = cal[exec_days[k]]
        notes.append(f"{name}: on {executed:%Y-%m-%d} no price for {int(lost[k].sum())} target name(s) "
                     f"({names}), so they are not traded that day: what is held of them stays held, and the "
                     f"rest of their target weight ({rows[k][lost[k]].sum():.2%} in all) waits in cash until the "
                     f"next rebalance")
    size[at] = np.where(has_price, rows, np.nan)
    columns = tickers
    size[np.searchsorted(days, last_pos[sold]), np.flatnonzero(sold)] = 0.0
    # Held past their last price: sold (at that last close, the filled price) on every later execution day.
    after = exec_days[:, None] > last_pos[None, :]
    size[at] = np.where(after & held[None, :], 0.0, size[at])
    if sold.any():
        ends = list(zip(np.asarray(tickers)[sold], cal[last_pos[sold]]))
        listed = ", ".join(f"{t} ({d:%Y-%m-%d})" for t, d in ends)
        notes.append(f"{name}: prices end mid-run for {len(ends)} name(s), sold at their last close if held: "
                     f"{listed}")
    if held.any():
        ends = list(zip(np.asarray(tickers)[held], cal[last_pos[held]]))
        listed = ", ".join(f"{t} ({d:%Y-%m-%d})" for t, d in ends)
        notes.append(f"{name}: prices end mid-run for {len(ends)} name(s) held at their last close until the "
                     f"next rebalance (data_gaps: hold), then sold at that close: "
                     f"{listed}")
    return _Orders(columns=columns, days=days, size=size, exec_days=exec_days)


def simulate(prices: pd.DataFrame, plans: Mapping[str, StrategyPlan], *, capital: float,
             fill: str = "next_close", detail: bool = True) -> dict[str, Simulation]:
    """Simulate every plan in one vectorbt run, one cash pool per strategy.

    Parameters
    ----------
    prices : DataFrame indexed by trading date (the run calendar), one column per ticker, adjusted closes,
        NaN where a ticker has no price.
    plans : strategy name -> StrategyPlan.
    capital : starting cash of each strategy.
    fill : "close" or "next_close".
    detail : False leaves ``holdings`` and ``trades`` empty (no rows), for sweeps of many variants; every
        other field is the same (fees, slippage and turnover are summed exactly as from the trades table).
    """
    from backtest.engine.kernel import from_orders

    if not plans:
        return {}
    cal = prices.index
    values = prices.to_numpy(dtype=float)
    priced = ~np.isnan(values)
    notes: dict[str, list[str]] = {n: [] for n in plans}
    orders = {name: _order_matrix(name, plan, prices, fill, notes[name], priced)
              for name, plan in plans.items()}
    used = list(dict.fromkeys(t for o in orders.values() for t in o.columns))
    where = {t: j for j, t in enumerate(used)}
    filled = _ffill_bfill(values[:, _positions(prices.columns, used)])   # bfill only fills days before
    del values, priced                                                     # listing: never traded
    # Positions only change on rows with orders, so vectorbt simulates just those rows (the kernel's cost is
    # rows x columns); daily values are then positions held constant times daily prices, plus cash.
    active = [o.days[~np.isnan(o.size).all(axis=1)] for o in orders.values()]
    rows = np.unique(np.concatenate(active)) if active else np.array([], dtype=np.int64)
    lens = np.array([len(o.columns) for o in orders.values()], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lens)])
    size = np.full((len(rows), int(lens.sum())), np.nan)
    fees, slips, take = [], [], []
    for g, (o, plan) in enumerate(zip(orders.values(), plans.values())):
        keep = ~np.isnan(o.size).all(axis=1)
        size[np.searchsorted(rows, o.days[keep]), starts[g]:starts[g + 1]] = o.size[keep]
        fees.append(np.full(len(o.columns), plan.commission_bps / 1e4))
        slips.append(np.full(len(o.columns), plan.slippage_bps / 1e4))
        take += [where[t] for t in o.columns]
    close = filled[rows][:, take] if len(rows) else np.empty((0, len(take)))
    growth = [_cash_growth(plan.cash_rate, cal) for plan in plans.values()]   # G per strategy, or None
    for g, grow in enumerate(growth):     # idle cash accrues: simulate in units of the cash instrument
        if grow is not None and len(rows):
            close[:, starts[g]:starts[g + 1]] /= grow[rows][:, None]
    records, assets, cash = from_orders(close, size, lens, np.full(len(lens), float(capital)),
                                        np.concatenate(fees)[None, :], np.concatenate(slips)[None, :])
    records = _records_to_currency(records, rows, starts, growth)
    slipped = _slippage(records, filled, rows, take)
    if len(rows) and np.nanmin(cash) < -1e-6 * capital:
        raise SimulationError(f"cash went negative ({np.nanmin(cash):,.2f}); this is a bug, please report it")
    # step[i] = index of the last order row at or before day i (-1 before the first one)
    step = np.searchsorted(rows, np.arange(len(cal)), side="right") - 1
    # each strategy's records, found once (a scan of every record per strategy costs strategies^2)
    by_col = np.argsort(records["col"], kind="stable")
    col_edges = np.searchsorted(records["col"][by_col], starts)
    out: dict[str, Simulation] = {}
    for g, (name, o) in enumerate(orders.items()):
        plan = plans[name]
        cols = slice(int(starts[g]), int(starts[g + 1]))
        own = by_col[col_edges[g]:col_edges[g + 1]]      # positions of its records
        # Column-major (days x names, F order): the sum over names adds them one name at a time, as it always
        # has, and the holdings frame takes the weights without a copy (pandas stores a frame that way).
        asset_value = _held_daily(assets[:, cols], step, 0.0, order="F")
        np.multiply(asset_value, _columns(filled, take[cols]), out=asset_value)
        cash_g = _held_daily(cash[:, g], step, float(capital))
        if growth[g] is not None:
            cash_g *= growth[g]
        value = cash_g + asset_value.sum(axis=1)
        val = pd.Series(value, index=cal, name=name)
        # the trades table only with detail; the day's sums either way, from the records in that table's
        # order (`_sums_by_date`: equal to the table's groupby sums, bit for bit)
        trades = _trades(records, cols, o.columns, cal[rows], own if detail else own[:0])
        fees_by_date, traded, daily_slip = _sums_by_date(
            records, cols, o.columns, cal[rows], own, fees=records["fees"],
            value=records["size"] * records["price"], slippage=slipped)
        daily_fees = fees_by_date.reindex(cal, fill_value=0.0)
        daily_slip = daily_slip.reindex(cal, fill_value=0.0)
        turnover = (traded / 2.0 / val.reindex(traded.index)).rename("turnover")
        drag = expense = _expense_drag(cal, plan.expense_ratio, fill)
        borrowed = 0.0
        if plan.borrow_fee and (asset_value < 0).any():
            charges = _borrow_charges(asset_value, value, plan.borrow_fee)
            borrowed = float(charges.sum())
            drag = expense * _borrow_drag(charges)
            notes[name].append(f"{name}: borrow fee {plan.borrow_fee:.2%}/yr on the short market value cost "
                               f"{1 - drag[-1] / expense[-1]:.2%} of value over the run")
        equity = val * drag
        if detail and len(trades) and (drag != 1.0).any():
            trades = _trades_in_the_account(trades, drag[cal.get_indexer(pd.DatetimeIndex(trades["date"]))])
        if detail:
            weights = np.divide(asset_value, value[:, None], order="F")
            hold = pd.DataFrame(weights, index=cal, columns=o.columns, copy=False)
            executed = weights[o.exec_days]
        else:   # weights on the execution days only (for the fill check)
            hold = pd.DataFrame(index=cal, columns=pd.Index([], dtype=object), dtype=float)
            executed = asset_value[o.exec_days] / value[o.exec_days][:, None]
        del asset_value
        executed = pd.DataFrame(executed, index=cal[o.exec_days], columns=o.columns)
        _check_fills(name, plan, executed, fill, cal, notes[name])
        notes[name] += wiped_out_notes(name, equity.to_numpy(), cal)
        out[name] = Simulation(equity=equity, holdings=hold, trades=trades, fees=daily_fees * drag,
                               slippage=daily_slip * drag, turnover=turnover,
                               cash=pd.Series(cash_g * drag, index=cal), notes=tuple(notes[name]),
                               borrow_charged=borrowed)
    return out


def _positions(columns: pd.Index, names: list[str]) -> np.ndarray:
    """Positions of ``names`` in ``columns`` (unique tickers); a name not there is an error, as ``df[names]``."""
    at = columns.get_indexer(names)
    if (at < 0).any():
        raise KeyError(f"not in the prices: {[n for n, i in zip(names, at) if i < 0][:5]}")
    return at


def _ffill_bfill(values: np.ndarray) -> np.ndarray:
    """``DataFrame(values).ffill().bfill().to_numpy()``, in place on a (days x names) array: each NaN takes
    the last price before it, and the days before a name's first price take that first price. Only columns
    with a NaN are touched (the usual case is none)."""
    gaps = np.flatnonzero(np.isnan(values).any(axis=0))
    if not len(gaps):
        return values
    sub = values[:, gaps]
    ok = ~np.isnan(sub)
    days = np.arange(len(sub))[:, None]
    last = np.where(ok, days, 0)
    np.maximum.accumulate(last, axis=0, out=last)
    sub = np.take_along_axis(sub, last, axis=0)          # forward: the last price so far (NaN before the first)
    first = ok.argmax(axis=0)                            # backward: the first price, before it
    values[:, gaps] = np.where(days < first[None, :], sub[first, np.arange(len(gaps))], sub)
    return values


def _cash_growth(rate: pd.Series | None, cal: pd.DatetimeIndex) -> np.ndarray | None:
    """Growth index G of idle cash on the calendar (G = 1 on the first day), or None when cash earns nothing."""
    if rate is None:
        return None
    r = rate.reindex(cal).fillna(0.0).to_numpy(dtype=float).copy()
    r[0] = 0.0
    return np.cumprod(1.0 + r)


def _records_to_currency(records: np.ndarray, rows: np.ndarray, starts: np.ndarray, growth) -> np.ndarray:
    """Order records simulated in cash-instrument units back in currency: price and fees times G that day."""
    if all(g is None for g in growth) or not len(records):
        return records
    out = records.copy()
    for g, grow in enumerate(growth):
        if grow is None:
            continue
        sel = (out["col"] >= starts[g]) & (out["col"] < starts[g + 1])
        factor = grow[rows[out["idx"][sel]]]
        out["price"][sel] = out["price"][sel] * factor
        out["fees"][sel] = out["fees"][sel] * factor
    return out


def _slippage(records: np.ndarray, filled: np.ndarray, rows: np.ndarray, take: list[int]) -> np.ndarray:
    """What slippage cost each order record (currency, records in currency: `_records_to_currency`): shares
    x |fill price - the close it was slipped from| (``filled``: days x used names, the closes traded at;
    ``take``: each record column's name in it). The batch kernel computes the same per fill."""
    if not len(records):
        return np.empty(0)
    close = filled[rows[records["idx"]], np.asarray(take, dtype=np.int64)[records["col"]]]
    return records["size"] * np.abs(records["price"] - close)


def _held_daily(at_rows: np.ndarray, step: np.ndarray, before: float, order: str = "C") -> np.ndarray:
    """Expand a rows-with-orders array to every day, holding each row until the next; `before` fills the
    days before the first order row (``step``: non-decreasing, -1 before it). A new array in memory order
    `order`, built by repeating each row for its days (values copied, never computed)."""
    shape = (len(step), *at_rows.shape[1:])
    if len(at_rows) == 0:
        return np.full(shape, before, order=order)
    first = int(np.searchsorted(step, 0))                       # days before the first order row
    counts = np.concatenate([[first], np.bincount(step[first:], minlength=len(at_rows))])
    if at_rows.ndim == 1:
        return np.repeat(np.concatenate([[before], at_rows]), counts)
    columns = np.empty((at_rows.shape[1], len(at_rows) + 1))   # names x (before, rows): repeat along days
    columns[:, 0] = before
    columns[:, 1:] = at_rows.T
    out = np.repeat(columns, counts, axis=1).T                  # days x names, column-major
    return out if order == "F" else np.ascontiguousarray(out)


def _columns(values: np.ndarray, positions: list[int]) -> np.ndarray:
    """``values[:, positions]``: a view when the positions are consecutive, else a copy."""
    if positions and positions == list(range(positions[0], positions[0] + len(positions))):
        return values[:, positions[0]:positions[0] + len(positions)]
    return values[:, positions]


def _trades(records: np.ndarray, cols: slice, tickers: list[str], index: pd.DatetimeIndex,
            pick: np.ndarray | None = None) -> pd.DataFrame:
    """The trades table of one strategy's order records (those of columns ``cols``; ``pick``: their positions
    in ``records`` when the caller has them), ordered as executed: by date, sells first, then by ticker
    (`_executed_order`); text columns built by taking from the few distinct values."""
    at, local = _executed_order(records, cols, tickers, pick)
    idx, size, price, fees, side = (records[k][at] for k in ("idx", "size", "price", "fees", "side"))
    names = np.asarray(tickers, dtype=object)
    if len(at):
        ticker, side = pd.Series(names).array.take(local), _SIDES.take((side != 0).astype(np.intp))
    else:   # no trades: the columns' types as pandas infers them from empty arrays
        ticker, side = names[local], np.where(side == 0, "buy", "sell")
    return pd.DataFrame({"date": index[idx], "ticker": ticker, "side": side, "shares": size, "price": price,
                         "value": size * price, "fees": fees})


_SIDES = pd.Series(np.array(["buy", "sell"], dtype=object)).array


def _trades_in_the_account(trades: pd.DataFrame, drag: np.ndarray) -> pd.DataFrame:
    """The trades of a strategy with an expense ratio or a borrow fee, in the account that pays it: the
    simulation runs without the drag, and a proportional drag shrinks every position, the cash and each
    later order by its cumulative factor (target-percent orders and proportional costs are scale-free), so
    ``equity``, ``cash`` and ``fees`` are the simulation's times that factor; the trades' shares, values and
    fees are scaled by it on their dates (``drag``, one per trade) to match them. Prices stay."""
    out = trades.copy()
    for column in ("shares", "value", "fees"):
        out[column] = trades[column].to_numpy() * drag
    return out


def _executed_order(records: np.ndarray, cols: slice, tickers: list[str], pick: np.ndarray | None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``(positions in records, column within the strategy)`` of the strategy's records in executed order:
    by date, sells first, then ticker; one stable argsort of one integer key (the three keys never tie)."""
    if pick is None:
        pick = np.flatnonzero((records["col"] >= cols.start) & (records["col"] < cols.stop))
    local = records["col"][pick] - cols.start
    width = max(len(tickers), 1)
    rank = np.argsort(np.argsort(np.asarray(tickers, dtype=object), kind="stable"), kind="stable")
    key = (records["idx"][pick].astype(np.int64) * 2 + (records["side"][pick] == 0)) * width + rank[local]
    order = np.argsort(key, kind="stable")
    return pick[order], local[order]


def _sums_by_date(records: np.ndarray, cols: slice, tickers: list[str], index: pd.DatetimeIndex,
                  pick: np.ndarray | None = None, **per_record: np.ndarray) -> list[pd.Series]:
    """Each ``per_record`` array (one value per order record: the fees, the traded value ``size x price``,
    the slippage of `_slippage`) summed per trade date, equal to ``_trades(...).groupby("date")[...].sum()``
    for the trades table's columns: the records ordered as that table orders them (`_executed_order`, once)
    and summed by the same pandas groupby (its compensated summation depends on that order). One Series per
    keyword, named by it, in order."""
    at, _ = _executed_order(records, cols, tickers, pick)
    day = records["idx"][at]
    out = []
    for name, values in per_record.items():
        sums = pd.Series(values[at], dtype=float).groupby(day).sum()
        out.append(pd.Series(sums.to_numpy(), index=index[sums.index.to_numpy()].rename("date"), name=name))
    return out


def _expense_drag(index: pd.DatetimeIndex, expense_ratio: float, fill: str = "close") -> np.ndarray:
    """Cumulative factor of a yearly expense ratio accrued each trading day after the base close: the first
    day of ``index`` under ``fill: close``, the second under ``next_close`` (whose simulation calendar starts
    on the decision day before the base; nothing is held there and that day is cut off afterwards)."""
    if not expense_ratio:
        return np.ones(len(index))
    daily = (1.0 - expense_ratio) ** (1.0 / TRADING_DAYS)
    return daily ** np.maximum(np.arange(len(index)) - fill_lag(fill), 0)


def _borrow_charges(asset_value: np.ndarray, value: np.ndarray, fee: float) -> np.ndarray:
    """A yearly borrow fee's charge on each trading day, as a fraction of the portfolio value: ``fee / 252``
    of the previous close's short market value over that close's value (0 on the first day)."""
    short = -np.minimum(asset_value, 0.0).sum(axis=1) / np.where(value > 0, value, np.nan)
    return np.concatenate([[0.0], fee / TRADING_DAYS * np.nan_to_num(short)[:-1]])


def _borrow_drag(charges: np.ndarray) -> np.ndarray:
    """Cumulative factor of the borrow fee's daily ``charges`` (`_borrow_charges`): a proportional drag like
    the expense ratio's."""
    return np.concatenate([[1.0], np.cumprod(1.0 - charges[1:])])


def wiped_out_notes(name: str, values: np.ndarray, dates: pd.DatetimeIndex) -> list[str]:
    """The warning of a strategy whose daily value (``values``, on ``dates``) reaches zero or below, a
    short position having outgrown the account: the first such day, the lowest value, and that nothing after
    it is meaningful (a broker would have closed the account; the simulation does not liquidate, its borrow
    fee and expense ratio are proportional drags that stop charging or shrink a negative value). [] if never.
    The sweeps' kernel (`backtest.engine.batch`) calls it on the same values."""
    at = np.flatnonzero(values <= 0)
    if not len(at):
        return []
    low = int(np.nanargmin(values))
    return [(f"{name}: the value fell to zero or below on {dates[at[0]]:%Y-%m-%d} ({values[at[0]]:,.0f}; "
             f"lowest {values[low]:,.0f} on {dates[low]:%Y-%m-%d}): a short position outgrew the account, "
             "which a broker would have closed. Nothing after that date is meaningful (the value, returns "
             "and cash flows; its metrics are NaN); fix: rebalance more often or lower the short share")]


def _check_fills(name: str, plan: StrategyPlan, hold: pd.DataFrame, fill: str,
                 calendar: pd.DatetimeIndex, notes: list[str]) -> None:
    """Report rebalances whose weights after trading miss their targets by more than costs explain."""
    exec_map = execution_dates(pd.DatetimeIndex(plan.targets.index), calendar, fill)
    if exec_map.empty:
        return
    tol = 2e-4 + 4 * (plan.commission_bps + plan.slippage_bps) / 1e4
    target = plan.targets.loc[exec_map.index].reindex(columns=hold.columns).fillna(0.0).to_numpy()
    held = hold.loc[exec_map.to_numpy()].to_numpy()
    gap = np.abs(held - target).max(axis=1)
    over = np.flatnonzero(gap > tol)
    bad = [f"{exec_map.iloc[k]:%Y-%m-%d} (max gap {gap[k]:.3%})" for k in over]
    if bad:
        notes.append(f"{name}: {len(bad)} rebalance(s) could not reach their targets: " + ", ".join(bad))
