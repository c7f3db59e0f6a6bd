"""Target weights -> vectorbt simulation. All costs and cash rules are explicit here.

Conventions
-----------
* Prices are total-return adjusted closes (dividends reinvested through the price; never added again).
* Orders are ``targetpercent`` orders: at each execution date every name is traded to its target share of
  the strategy's value at that close. ``call_seq="auto"`` sells before it buys, so sales fund purchases.
* Commission and slippage are fractions of traded value, per side. When fees leave too little cash for the
  last buys, vectorbt fills them partially: cash never goes negative; the shortfall is reported.
* ``fill="close"`` trades at the close of the decision date (the weights use that close: an idealised
  market-on-close); ``fill="next_close"`` (default) trades at the next trading day's close.
* A name whose prices end mid-run is sold at its last close; the cash waits for the next rebalance.
  A name with no price on an execution date is not bought; its target weight stays in cash (reported).
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

TRADING_DAYS = 252


@dataclass(frozen=True)
class Simulation:
    """Outcome for one strategy; all frames indexed by trading date."""

    equity: pd.Series            # portfolio value after costs
    holdings: pd.DataFrame       # end-of-day weights held, one column per ticker (cash excluded)
    trades: pd.DataFrame         # date, ticker, side, shares, price, value, fees
    fees: pd.Series              # fees paid per day (currency)
    turnover: pd.Series          # per execution date: traded value / 2 / portfolio value
    cash: pd.Series              # cash per day
    notes: tuple[str, ...] = field(default_factory=tuple)


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
                  notes: list[str]) -> _Orders:
    """Build the targetpercent size rows (NaN = no order) of one strategy: its execution days and the days
    a held name's prices end. Vectorised over dates; loops only over the names and dates it reports."""
    cal = prices.index
    targets = plan.targets.fillna(0.0)
    tickers = list(targets.columns[(targets.to_numpy() > 0).any(axis=0)])
    targets = targets[tickers]
    real = prices[tickers].notna().to_numpy()
    exec_map = execution_dates(pd.DatetimeIndex(targets.index), cal, fill)
    dropped = len(targets) - len(exec_map)
    if dropped:
        notes.append(f"{name}: {dropped} rebalance decision(s) on the last day have no later day to fill; skipped")
    exec_days = cal.get_indexer(pd.DatetimeIndex(exec_map.to_numpy()))
    if (exec_days < 0).any():
        bad = pd.DatetimeIndex(exec_map.to_numpy()[exec_days < 0])
        raise SimulationError(f"{name}: targets dated {', '.join(f'{d:%Y-%m-%d}' for d in bad[:5])} are not "
                              f"trading days of the price calendar; fix: decide on trading days only")
    # Delistings: sell at the last real close when prices end before the run does.
    last_pos = len(cal) - 1 - np.argmax(real[::-1], axis=0)
    ended = real.any(axis=0) & (last_pos < len(cal) - 1)
    days = np.union1d(exec_days, last_pos[ended])
    size = np.full((len(days), len(tickers)), np.nan)
    at = np.searchsorted(days, exec_days)
    rows = targets.loc[exec_map.index].to_numpy(dtype=float)
    has_price = real[exec_days]
    lost = (rows > 0) & ~has_price
    for k in np.flatnonzero(lost.any(axis=1)):
        names = ", ".join(np.asarray(tickers)[lost[k]])
        executed = cal[exec_days[k]]
        notes.append(f"{name}: on {executed:%Y-%m-%d} no price for {int(lost[k].sum())} target name(s) "
                     f"({names}); {rows[k][lost[k]].sum():.2%} of the portfolio stays in cash")
    size[at] = np.where(has_price, rows, np.nan)
    columns = tickers
    if plan.cash_ticker:
        size = np.column_stack([size, _cash_sleeve(name, plan.cash_ticker, tickers, size, at, days, prices,
                                                   notes)])
        columns = [*tickers, plan.cash_ticker]
    size[np.searchsorted(days, last_pos[ended]), np.flatnonzero(ended)] = 0.0
    if ended.any():
        ends = list(zip(np.asarray(tickers)[ended], cal[last_pos[ended]]))
        listed = ", ".join(f"{t} ({d:%Y-%m-%d})" for t, d in ends)
        notes.append(f"{name}: prices end mid-run for {len(ends)} name(s), sold at their last close if held: "
                     f"{listed}")
    return _Orders(columns=columns, days=days, size=size, exec_days=exec_days)


def _cash_sleeve(name: str, cash: str, tickers: list[str], size: np.ndarray, at: np.ndarray, days: np.ndarray,
                 prices: pd.DataFrame, notes: list[str]) -> np.ndarray:
    """The cash-yield column: at each execution, the share not allocated to priced targets."""
    if cash in tickers:
        raise SimulationError(f"strategies[{name!r}].cash_yield: {cash} is also a target holding; fix: choose a "
                              f"cash ticker the strategy does not hold (e.g. {'SGOV' if cash == 'BIL' else 'BIL'})")
    executed = size[at]
    allocated = np.where(np.isnan(executed), 0.0, executed).sum(axis=1)
    col = np.full(len(days), np.nan)
    priced = prices[cash].notna().to_numpy()[days[at]]
    col[at] = np.where(priced, np.clip(1.0 - allocated, 0.0, 1.0), np.nan)
    if not priced.all():
        notes.append(f"{name}: cash yield {cash} has no price on {int((~priced).sum())} rebalance day(s); "
                     f"idle cash earns nothing there")
    return col


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
    detail : False leaves ``holdings`` empty (no columns), for sweeps of many variants; every other field
        is the same.
    """
    from backtest.engine.kernel import from_orders

    if not plans:
        return {}
    cal = prices.index
    notes: dict[str, list[str]] = {n: [] for n in plans}
    orders = {name: _order_matrix(name, plan, prices, fill, notes[name]) for name, plan in plans.items()}
    used = list(dict.fromkeys(t for o in orders.values() for t in o.columns))
    where = {t: j for j, t in enumerate(used)}
    filled = prices[used].ffill().bfill().to_numpy()   # bfill only fills days before listing: never traded
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
        free = np.asarray(o.columns) == plan.cash_ticker      # the cash sleeve trades free of costs
        fees.append(np.where(free, 0.0, plan.commission_bps / 1e4))
        slips.append(np.where(free, 0.0, plan.slippage_bps / 1e4))
        take += [where[t] for t in o.columns]
    close = filled[rows][:, take] if len(rows) else np.empty((0, len(take)))
    records, assets, cash = from_orders(close, size, lens, np.full(len(lens), float(capital)),
                                        np.concatenate(fees)[None, :], np.concatenate(slips)[None, :])
    if len(rows) and np.nanmin(cash) < -1e-6 * capital:
        raise SimulationError(f"cash went negative ({np.nanmin(cash):,.2f}); this is a bug, please report it")
    # step[i] = index of the last order row at or before day i (-1 before the first one)
    step = np.searchsorted(rows, np.arange(len(cal)), side="right") - 1
    out: dict[str, Simulation] = {}
    for g, (name, o) in enumerate(orders.items()):
        plan = plans[name]
        cols = slice(int(starts[g]), int(starts[g + 1]))
        # Column-major (days x names, F order): the sum over names adds them one name at a time, as it always
        # has, and the holdings frame takes the weights without a copy (pandas stores a frame that way).
        asset_value = _held_daily(assets[:, cols], step, 0.0, order="F")
        np.multiply(asset_value, _columns(filled, take[cols]), out=asset_value)
        cash_g = _held_daily(cash[:, g], step, float(capital))
        value = cash_g + asset_value.sum(axis=1)
        val = pd.Series(value, index=cal, name=name)
        trades = _trades(records, cols, o.columns, cal[rows])
        daily_fees = trades.groupby("date")["fees"].sum().reindex(cal, fill_value=0.0)
        traded = trades.groupby("date")["value"].sum()
        turnover = (traded / 2.0 / val.reindex(traded.index)).rename("turnover")
        drag = _expense_drag(cal, plan.expense_ratio)
        equity = val * drag
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
        out[name] = Simulation(equity=equity, holdings=hold, trades=trades, fees=daily_fees * drag,
                               turnover=turnover, cash=pd.Series(cash_g * drag, index=cal),
                               notes=tuple(notes[name]))
    return out


def _held_daily(at_rows: np.ndarray, step: np.ndarray, before: float, order: str = "C") -> np.ndarray:
    """Expand a rows-with-orders array to every day, holding each row until the next; `before` fills the
    days before the first order row. A new array in memory order `order`."""
    shape = (len(step), *at_rows.shape[1:])
    if len(at_rows) == 0:
        return np.full(shape, before, order=order)
    out = np.empty(shape, order=order)
    np.take(at_rows, np.maximum(step, 0), axis=0, out=out, mode="clip")
    out[step < 0] = before
    return out


def _columns(values: np.ndarray, positions: list[int]) -> np.ndarray:
    """``values[:, positions]``: a view when the positions are consecutive, else a copy."""
    if positions and positions == list(range(positions[0], positions[0] + len(positions))):
        return values[:, positions[0]:positions[0] + len(positions)]
    return values[:, positions]


def _trades(records: np.ndarray, cols: slice, tickers: list[str], index: pd.DatetimeIndex) -> pd.DataFrame:
    sel = (records["col"] >= cols.start) & (records["col"] < cols.stop)
    r = records[sel]
    ticker = np.asarray(tickers, dtype=object)[r["col"] - cols.start]
    df = pd.DataFrame({
        "date": index[r["idx"]],
        "ticker": ticker,
        "side": np.where(r["side"] == 0, "buy", "sell"),
        "shares": r["size"],
        "price": r["price"],
        "value": r["size"] * r["price"],
        "fees": r["fees"],
    })
    df["_order"] = np.where(df["side"] == "sell", 0, 1)     # as executed: sells first
    return df.sort_values(["date", "_order", "ticker"], kind="stable").drop(columns="_order").reset_index(drop=True)


def _expense_drag(index: pd.DatetimeIndex, expense_ratio: float) -> np.ndarray:
    """Cumulative factor of a yearly expense ratio accrued each trading day after the first."""
    if not expense_ratio:
        return np.ones(len(index))
    daily = (1.0 - expense_ratio) ** (1.0 / TRADING_DAYS)
    return daily ** np.arange(len(index))


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
    bad = [f"{d:%Y-%m-%d} (max gap {g:.3%})" for d, g in zip(exec_map, gap) if g > tol]
    if bad:
        notes.append(f"{name}: {len(bad)} rebalance(s) could not reach their targets: " + ", ".join(bad))
