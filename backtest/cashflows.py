"""Contributions and withdrawals: an investor's account in a strategy, and its money-weighted return (IRR).

A separate stage after the simulation, on each strategy's equity curve (pure: series in, tables out).

Convention (the "fund units" model)
-----------------------------------
The simulated equity curve is the strategy's time-weighted value: ``nav(t) = equity(t) / equity(day 1)``.
The account starts with ``capital`` (units = capital / nav on day 1). A flow on a trading day ``d`` trades
units at that day's close, pro rata across whatever the strategy holds (names and cash alike):

- a contribution ``C`` buys units worth ``C * (1 - cost)``;
- a withdrawal ``W`` sells units worth ``W / (1 - cost)`` so that ``W`` is paid out;

``cost`` is the strategy's commission + slippage per side (zero for the benchmark). A percent flow is a
fraction of the account's value at that close, before the flow. A withdrawal larger than the account pays out
what is left (after costs) and the account stays at zero from then on; the table says so: the account is
never silently negative. Flows falling on the run's first day are not applied (``capital`` is the first
investment). Account value = units * nav. The time-weighted metrics (CAGR, Sharpe, ...) are unchanged by
flows; the money-weighted return is the annual rate ``r`` that sets the dated flows' net present value to
zero (``XIRR``, years of 365.25 calendar days as CAGR uses), solved by scipy's ``brentq``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

DAYS_PER_YEAR = 365.25


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


def account(equity: pd.Series, capital: float, flows: list[Flow], cost: float = 0.0) -> pd.DataFrame:
    """The account's daily value and its flows.

    Parameters
    ----------
    equity : Series indexed by trading date, the strategy's simulated value (any positive scale).
    capital : the first investment, on the first day.
    flows : dated flows on days of ``equity.index`` (see :func:`flow_dates`).
    cost : per-side cost fraction applied to the units traded for a flow.

    Returns
    -------
    DataFrame indexed by trading date: ``value`` (account value at the close, after that day's flows),
    ``contributed`` (money in that day; the first day holds ``capital``), ``withdrawn`` (money paid out that
    day, >= 0), ``depleted`` (bool: the account is at zero).
    """
    nav = (equity / equity.iloc[0]).to_numpy(dtype="float64")
    idx = equity.index
    units = np.empty(len(idx))
    paid_in = np.zeros(len(idx))
    paid_out = np.zeros(len(idx))
    paid_in[0] = capital
    held = capital / nav[0]
    by_day: dict[int, list[Flow]] = {}
    for f in flows:
        by_day.setdefault(int(idx.get_loc(f.date)), []).append(f)
    depleted = np.zeros(len(idx), dtype=bool)
    for i in range(len(idx)):
        for f in by_day.get(i, ()):
            value = held * nav[i]
            amount = f.amount if f.amount is not None else f.percent * value
            if amount >= 0:
                held += amount * (1 - cost) / nav[i]
                paid_in[i] += amount
            else:
                gross = -amount / (1 - cost)
                if gross >= value:           # pays out what is left; the account ends at zero
                    paid_out[i] += value * (1 - cost)
                    held = 0.0
                else:
                    held -= gross / nav[i]
                    paid_out[i] -= amount
        units[i] = held
        depleted[i] = held == 0.0
    return pd.DataFrame({"value": units * nav, "contributed": paid_in, "withdrawn": paid_out,
                         "depleted": depleted}, index=idx)


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
    """One row of the cash-flow table: contributed, withdrawn, ending value, money-weighted return."""
    investor = (acct["withdrawn"] - acct["contributed"]).to_numpy(copy=True)
    investor[-1] += acct["value"].iloc[-1]
    keep = investor != 0
    first = acct.index[acct["depleted"]].min() if acct["depleted"].any() else pd.NaT
    return {"strategy": name, "contributed": float(acct["contributed"].sum()),
            "withdrawn": float(acct["withdrawn"].sum()), "ending_value": float(acct["value"].iloc[-1]),
            "irr": xirr(acct.index[keep], investor[keep]), "depleted_on": first}
