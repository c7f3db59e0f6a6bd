"""Contributions and withdrawals: an investor's account in a strategy, and its money-weighted return (IRR).

A separate stage after the simulation, on each strategy's equity curve and daily weights (pure: series in,
tables out).

Convention: the account trades as the engine would
--------------------------------------------------
The account is the strategy scaled: at every close it holds the strategy's names and cash in the strategy's
proportions (its weights ``w_i``; cash ``1 - sum w``, short proceeds included), so between flows it earns
exactly the strategy's return: ``account(t) = units(t) * equity(t)``. A flow on a trading day ``d`` trades at
that day's close, after the strategy's own trades of that close, pro rata across what the strategy holds:
every position and the cash scale by the same factor, and each traded name pays the strategy's commission
``f`` and slippage ``s`` as an engine order does (a buy fills at ``P (1 + s)`` plus ``f`` of that value, a
sale at ``P (1 - s)`` less ``f``); the cash part is not traded and pays nothing. With ``L`` the long weights'
sum and ``S`` the short weights' (absolute) sum at that close::

    contribution C adds value   C / (1 + L a + S b)          a = (1 + f)(1 + s) - 1   (cost of a buy)
    withdrawal W removes value  W / (1 - L b - S a)          b = 1 - (1 - f)(1 - s)   (cost of a sale)

(a short position grows by a short sale and shrinks by a buy-back). Fully invested and long only (L = 1,
S = 0) this is ``C / ((1 + f)(1 + s))`` and ``W / ((1 - f)(1 - s))``. The benchmark trades free. A percent
flow is a fraction of the account's value at that close, before the flow. A withdrawal larger than what
selling everything pays pays that out, and the account stays at zero until a contribution (``depleted_on``
says when; the run's warnings too): the account is never negative, unless the strategy's own value goes
to zero or below (a short position outgrowing it; the run warns, `engine.simulate.wiped_out_notes`): while
the account's value is at or below zero, percent flows and withdrawals are zero (a percent of a negative
value is not a contribution). Flows on the run's first day are not applied
(``capital`` is the first investment: it buys the strategy's opening holdings, paying the opening costs as
the strategy does).

The time-weighted metrics (CAGR, Sharpe, ...) are the strategy's, unchanged by flows; the money-weighted
return is the annual rate ``r`` that sets the dated flows' net present value to zero (``XIRR``, years of
365.25 calendar days as CAGR uses), solved by scipy's ``brentq``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

DAYS_PER_YEAR = 365.25
CONVENTION = ("flows trade pro rata at the close (after the strategy's own trades), paying the strategy's "
              "commission and slippage on the names traded, not on its cash; IRR: annual, 365.25-day years")


@dataclass(frozen=True)
class Flow:
    """One dated flow: ``amount`` in dollars (+ in, - out) or ``percent`` of the account value (+ / -)."""

    date: pd.Timestamp
    amount: float | None = None
    percent: float | None = None


def flow_dates(calendar: pd.DatetimeIndex, rules) -> list[Flow]:
    """Expand the config's ``cash_flows`` rules to dated flows on trading days (the first day excluded).

    Each rule has ``every`` (a frequency, or None for a one-off), ``date`` (one-off: the first trading day
    on or after it), ``amount`` or ``percent``. Sorted by date, in rule order within a day.
    """
    from .config.schema import Schedule
    from .schedule import calendar_dates

    out: list[tuple[pd.Timestamp, int, Flow]] = []
    for k, rule in enumerate(rules):
        if rule.every is not None:
            dates = calendar_dates(calendar, Schedule(every=rule.every, day="first"))
        else:
            pos = calendar.searchsorted(rule.date)
            dates = calendar[pos:pos + 1]
        for d in dates:
            if d != calendar[0]:
                out.append((d, k, Flow(d, rule.amount, rule.percent)))
    return [f for _, _, f in sorted(out, key=lambda x: (x[0], x[1]))]


def trade_factors(commission: float, slippage: float, long: float = 1.0,
                  short: float = 0.0) -> tuple[float, float]:
    """``(money per unit of value bought, money per unit of value sold)`` for a pro-rata slice of a portfolio
    whose long weights sum to ``long`` and short weights to ``short`` (absolute), the rest cash; see the
    module's docstring. ``(1, 1)`` without costs."""
    a = (1.0 + commission) * (1.0 + slippage) - 1.0
    b = 1.0 - (1.0 - commission) * (1.0 - slippage)
    return 1.0 + long * a + short * b, 1.0 - long * b - short * a


def account(equity: pd.Series, capital: float, flows: list[Flow], *, commission: float = 0.0,
            slippage: float = 0.0, holdings: pd.DataFrame | None = None, cash: pd.Series | None = None,
            simulated_capital: float | None = None) -> pd.DataFrame:
    """The account's daily value and its flows.

    Parameters
    ----------
    equity : Series indexed by trading date, the strategy's simulated value (any positive scale).
    capital : the first investment, on the first day.
    simulated_capital : the money the simulation of ``equity`` started with, before its opening trades, so
        the account pays the opening purchase's costs as the strategy does (``equity.iloc[0]`` when None:
        a series that starts at its capital, such as a benchmark without costs).
    flows : dated flows on days of ``equity.index`` (see :func:`flow_dates`).
    commission, slippage : the strategy's per-side fractions (commission of traded value, slippage of price).
    holdings : DataFrame indexed by trading date (at least the flow days), one column per ticker: the
        strategy's weights at each close (negative = short; NaN = not held). None: fully invested, long only.
    cash : Series indexed by trading date, the strategy's idle cash as a share of its value (short proceeds
        included). When given, the long side traded is ``1 - cash + S`` (``S`` the short weights of
        ``holdings``). For a sleeves parent, whose positions are units of its sleeves (a sleeve's own idle
        cash is part of the unit the parent buys) while its ``holdings`` are looked through to names, this
        is exact when it holds no sleeve short; with a short sleeve, ``S`` is looked through and misses that
        sleeve's own idle cash (its partial-fill remainder, usually ~0).

    Returns
    -------
    DataFrame indexed by trading date: ``value`` (account value at the close, after that day's flows),
    ``contributed`` (money in that day; the first day holds ``capital``), ``withdrawn`` (money paid out that
    day, >= 0), ``flow_costs`` (commission and slippage paid on that day's flows), ``depleted`` (bool: the
    account is at zero).
    """
    base = float(equity.iloc[0]) if simulated_capital is None else float(simulated_capital)
    nav = (equity / base).to_numpy(dtype="float64")
    idx = equity.index
    units = np.empty(len(idx))
    paid_in = np.zeros(len(idx))
    paid_out = np.zeros(len(idx))
    costs = np.zeros(len(idx))
    paid_in[0] = capital
    held = capital
    by_day: dict[int, list[Flow]] = {}
    for f in flows:
        by_day.setdefault(int(idx.get_loc(f.date)), []).append(f)
    longs, shorts = {}, {}
    if holdings is not None and by_day:
        days = sorted(by_day)
        w = holdings.reindex(idx[days]).fillna(0.0).to_numpy(dtype="float64")
        short = -np.clip(w, None, 0).sum(axis=1)
        if cash is not None:
            long = 1.0 - cash.reindex(idx[days]).fillna(0.0).to_numpy(dtype="float64") + short
        else:
            long = np.clip(w, 0, None).sum(axis=1)
        longs, shorts = dict(zip(days, long)), dict(zip(days, short))
    depleted = np.zeros(len(idx), dtype=bool)
    for i in range(len(idx)):
        if i in by_day:
            buy, sell = trade_factors(commission, slippage, longs.get(i, 1.0), shorts.get(i, 0.0))
        for f in by_day.get(i, ()):
            value = held * nav[i]
            amount = f.amount if f.amount is not None else f.percent * value
            if value <= 0 and (f.amount is None or amount < 0):
                continue        # no share of, and nothing to withdraw from, a value at or below zero
            if amount >= 0:
                added = amount / buy
                held += added / nav[i]
                paid_in[i] += amount
                costs[i] += amount - added
            else:
                removed = -amount / sell
                if removed >= value:         # pays out what selling everything pays; the account ends at zero
                    paid_out[i] += value * sell
                    costs[i] += value * (1.0 - sell)
                    held = 0.0
                else:
                    held -= removed / nav[i]
                    paid_out[i] -= amount
                    costs[i] += removed + amount
        units[i] = held
        depleted[i] = held == 0.0
    return pd.DataFrame({"value": units * nav, "contributed": paid_in, "withdrawn": paid_out,
                         "flow_costs": costs, "depleted": depleted}, index=idx)


def xirr(dates: pd.DatetimeIndex, amounts: np.ndarray) -> float:
    """Annual rate ``r`` with ``sum(amounts_i * (1 + r) ** -((d_i - d_0) / 365.25 days)) == 0``.

    ``amounts`` from the investor's side (money in negative, money out and the final value positive).
    NaN when there is no sign change or no root in (-99.99%, 1e6%)."""
    from scipy.optimize import brentq

    amounts = np.asarray(amounts, dtype="float64")
    if not ((amounts > 0).any() and (amounts < 0).any()):
        return float("nan")
    years = (pd.DatetimeIndex(dates) - dates[0]).days.to_numpy() / DAYS_PER_YEAR

    def npv(r: float) -> float:
        return float(np.sum(amounts * (1.0 + r) ** -years))

    lo, hi = -0.9999, 1e4
    if np.sign(npv(lo)) == np.sign(npv(hi)):
        return float("nan")
    return float(brentq(npv, lo, hi, xtol=1e-14, rtol=1e-14, maxiter=500))


def summary(name: str, acct: pd.DataFrame) -> dict:
    """One row of the cash-flow table: contributed, withdrawn, ending value, the costs paid on flows, the
    money-weighted return and the first day the account was empty (NaT if never)."""
    investor = (acct["withdrawn"] - acct["contributed"]).to_numpy(copy=True)
    investor[-1] += acct["value"].iloc[-1]
    keep = investor != 0
    first = acct.index[acct["depleted"]].min() if acct["depleted"].any() else pd.NaT
    return {"strategy": name, "contributed": float(acct["contributed"].sum()),
            "withdrawn": float(acct["withdrawn"].sum()), "ending_value": float(acct["value"].iloc[-1]),
            "flow_costs": float(acct["flow_costs"].sum()) if "flow_costs" in acct else 0.0,
            "irr": xirr(acct.index[keep], investor[keep]), "depleted_on": first}
