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

from .errors import SimulationError

TRADING_DAYS = 252


@dataclass(frozen=True)
class StrategyPlan:
    """What to simulate for one strategy.

    targets : DataFrame indexed by decision date, one column per ticker, rows summing to 1 (or less: the
        remainder is held as cash).
    commission_bps, slippage_bps : per side, on traded value.
    expense_ratio : yearly fraction, accrued daily over trading days (a proportional drag on value).
    cash_ticker : optional ticker (e.g. "BIL") that holds the unallocated share of each rebalance (targets
        summing below 1, or target names without a price on the execution day) instead of idle cash; traded
        free of commission and slippage. Proceeds of a mid-period delisting wait in cash until the next
        rebalance, as without it.
    """

    targets: pd.DataFrame
    commission_bps: float = 0.0
    slippage_bps: float = 0.0
    expense_ratio: float = 0.0
    cash_ticker: str | None = None


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


def _order_matrix(name: str, plan: StrategyPlan, prices: pd.DataFrame, fill: str,
                  notes: list[str]) -> tuple[pd.DataFrame, pd.Series]:
    """Build the targetpercent size matrix (NaN = no order) for one strategy."""
    cal = prices.index
    targets = plan.targets.fillna(0.0)
    tickers = list(targets.columns[(targets.to_numpy() > 0).any(axis=0)])
    targets = targets[tickers]
    real = prices[tickers].notna()
    size = pd.DataFrame(np.nan, index=cal, columns=tickers)
    exec_map = execution_dates(pd.DatetimeIndex(targets.index), cal, fill)
    dropped = len(targets) - len(exec_map)
    if dropped:
        notes.append(f"{name}: {dropped} rebalance decision(s) on the last day have no later day to fill; skipped")
    for decided, executed in exec_map.items():
        row = targets.loc[decided].to_numpy(dtype=float)
        has_price = real.loc[executed].to_numpy()
        lost = (row > 0) & ~has_price
        if lost.any():
            names = ", ".join(np.asarray(tickers)[lost][:10])
            notes.append(f"{name}: on {executed:%Y-%m-%d} no price for {int(lost.sum())} target name(s) "
                         f"({names}); {row[lost].sum():.2%} of the portfolio stays in cash")
        size.loc[executed] = np.where(has_price, row, np.nan)
    if plan.cash_ticker:
        _cash_sleeve(name, plan.cash_ticker, size, prices, exec_map, notes)
    # Delistings: sell at the last real close when prices end before the run does.
    mask = real.to_numpy()
    last_pos = len(cal) - 1 - np.argmax(mask[::-1], axis=0)
    ended = mask.any(axis=0) & (last_pos < len(cal) - 1)
    ends = pd.Series(cal[last_pos[ended]], index=np.asarray(tickers)[ended])
    for ticker, last in ends.items():
        size.loc[last, ticker] = 0.0
    if len(ends):
        listed = ", ".join(f"{t} ({d:%Y-%m-%d})" for t, d in list(ends.items())[:20])
        notes.append(f"{name}: prices end mid-run for {len(ends)} name(s), sold at their last close if held: "
                     f"{listed}{' ...' if len(ends) > 20 else ''}")
    return size, exec_map


def _cash_sleeve(name: str, cash: str, size: pd.DataFrame, prices: pd.DataFrame, exec_map: pd.Series,
                 notes: list[str]) -> None:
    """Add the cash-yield column: at each execution, the share not allocated to priced targets."""
    if cash in size.columns:
        raise SimulationError(f"strategies[{name!r}].cash_yield: {cash} is also a target holding; fix: choose a "
                              f"cash ticker the strategy does not hold (e.g. BIL or SGOV)")
    rows = exec_map.to_numpy()
    allocated = size.loc[rows].fillna(0.0).sum(axis=1).to_numpy()
    col = np.full(len(size), np.nan)
    priced = prices[cash].reindex(size.index).notna().to_numpy()
    where = size.index.get_indexer(rows)
    col[where] = np.where(priced[where], np.clip(1.0 - allocated, 0.0, 1.0), np.nan)
    if not priced[where].all():
        notes.append(f"{name}: cash yield {cash} has no price on {int((~priced[where]).sum())} rebalance day(s); "
                     f"idle cash earns nothing there")
    size[cash] = col


def simulate(prices: pd.DataFrame, plans: Mapping[str, StrategyPlan], *, capital: float,
             fill: str = "next_close") -> dict[str, Simulation]:
    """Simulate every plan in one vectorbt run, one cash pool per strategy.

    Parameters
    ----------
    prices : DataFrame indexed by trading date (the run calendar), one column per ticker, adjusted closes,
        NaN where a ticker has no price.
    plans : strategy name -> StrategyPlan.
    capital : starting cash of each strategy.
    fill : "close" or "next_close".
    """
    import vectorbt as vbt  # heavy import kept out of module import time

    if not plans:
        return {}
    notes: dict[str, list[str]] = {n: [] for n in plans}
    blocks, sizes, groups, fees, slips, keys = [], [], [], [], [], []
    for g, (name, plan) in enumerate(plans.items()):
        size, _ = _order_matrix(name, plan, prices, fill, notes[name])
        close = prices[size.columns].ffill().bfill()   # bfill only fills days before listing: never traded
        blocks.append(close.to_numpy())
        sizes.append(size.to_numpy())
        n = size.shape[1]
        groups += [g] * n
        free = np.asarray(size.columns) == plan.cash_ticker      # the cash sleeve trades free of costs
        fees += list(np.where(free, 0.0, plan.commission_bps / 1e4))
        slips += list(np.where(free, 0.0, plan.slippage_bps / 1e4))
        keys.append((name, list(size.columns)))
    close = np.concatenate(blocks, axis=1)
    size = np.concatenate(sizes, axis=1)
    # Positions only change on rows with orders, so vectorbt simulates just those rows (the kernel's cost is
    # rows x columns); daily values are then positions held constant times daily prices, plus cash.
    rows = np.flatnonzero(~np.isnan(size).all(axis=1))
    columns = pd.MultiIndex.from_tuples([(n, t) for n, ts in keys for t in ts], names=["strategy", "ticker"])
    pf = vbt.Portfolio.from_orders(
        pd.DataFrame(close[rows], index=prices.index[rows], columns=columns),
        pd.DataFrame(size[rows], index=prices.index[rows], columns=columns),
        size_type="targetpercent", group_by=np.asarray(groups), cash_sharing=True,
        call_seq="auto", fees=np.asarray(fees)[None, :], slippage=np.asarray(slips)[None, :],
        init_cash=float(capital), freq="1D", ffill_val_price=True,
    )
    # step[i] = index of the last order row at or before day i (-1 before the first one)
    step = np.searchsorted(rows, np.arange(len(prices.index)), side="right") - 1
    assets = _held_daily(pf.assets().to_numpy().reshape(len(rows), -1), step, 0.0)
    cash = _held_daily(pf.cash().to_numpy().reshape(len(rows), -1), step, float(capital))
    if np.nanmin(cash) < -1e-6 * capital:
        raise SimulationError(f"cash went negative ({np.nanmin(cash):,.2f}); this is a bug, please report it")
    asset_value = assets * close
    group_ids = np.asarray(groups)
    value = cash + np.stack([asset_value[:, group_ids == g].sum(axis=1) for g in range(len(keys))], axis=1)
    records = pf.orders.records
    out: dict[str, Simulation] = {}
    start = 0
    for g, (name, tickers) in enumerate(keys):
        plan = plans[name]
        cols = slice(start, start + len(tickers))
        start += len(tickers)
        val = pd.Series(value[:, g], index=prices.index, name=name)
        hold = pd.DataFrame(asset_value[:, cols] / value[:, g][:, None], index=prices.index, columns=tickers)
        trades = _trades(records, cols, tickers, prices.index[rows])
        daily_fees = trades.groupby("date")["fees"].sum().reindex(prices.index, fill_value=0.0)
        traded = trades.groupby("date")["value"].sum()
        turnover = (traded / 2.0 / val.reindex(traded.index)).rename("turnover")
        drag = _expense_drag(prices.index, plan.expense_ratio)
        equity = val * drag
        _check_fills(name, plan, hold, fill, prices.index, notes[name])
        out[name] = Simulation(equity=equity, holdings=hold, trades=trades, fees=daily_fees * drag,
                               turnover=turnover, cash=pd.Series(cash[:, g] * drag, index=prices.index),
                               notes=tuple(notes[name]))
    return out


def _held_daily(at_rows: np.ndarray, step: np.ndarray, before: float) -> np.ndarray:
    """Expand a rows-with-orders array to every day, holding each row until the next; `before` fills the
    days before the first order row."""
    out = at_rows[np.maximum(step, 0)]
    out[step < 0] = before
    return out


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
        notes.append(f"{name}: {len(bad)} rebalance(s) could not reach their targets: " + ", ".join(bad[:10]))
