"""Sleeves: strategies that hold other strategies of the config (fund of funds), simulated in two passes.

A ``weighting: sleeves`` parent's plan (`backtest.plans.sleeve_targets`) targets one column per sleeve,
``sleeve:<name>``: its share of value in that sleeve (negative: short). Each sleeve is simulated as its own
strategy first (its own schedule, universe, costs, expense ratio, cash yield and data-gap handling); its
value series divided by the starting capital (a unit value, 1 before its first trade) becomes the price of
the parent's ``sleeve:<name>`` column. The parent is then simulated by the same engine on those columns: it
buys and sells units of the sleeves at their closes, on its own schedule, paying its own commission and
slippage on the value it moves between sleeves, accruing its own cash yield on idle cash (short proceeds
included) and its borrow fee on the short market value.

A sleeve held short is priced at its *short unit value* instead (`sleeve_prices`), built from the sleeve's
returns with and without its costs (a second, cost-free simulation of it), so that the short bears the
sleeve's costs as a long holder does instead of gaining from them. Parents that hold the same sleeve on
different sides see different ``sleeve:<name>`` columns: they are simulated in separate calls.

Look-through: the parent's daily holdings by NAME are, for each sleeve, the parent's weight in the sleeve
that day times the sleeve's own weights that day, summed over the sleeves; the parent's trades stay at the
sleeve level (units of ``sleeve:<name>`` at its unit value).
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import numpy as np
import pandas as pd

from backtest.engine import Simulation, simulate
from backtest.plans import SLEEVE_PREFIX, StrategyPlan


def sleeves_of(plan: StrategyPlan) -> list[str]:
    """Names of the strategies a plan holds as sleeves (its ``sleeve:<name>`` columns); [] for a plain plan."""
    cols = plan.targets.columns.astype(str)
    return [c[len(SLEEVE_PREFIX):] for c in cols[cols.str.startswith(SLEEVE_PREFIX)]]


def simulate_with_sleeves(prices: pd.DataFrame, plans: Mapping[str, StrategyPlan], *, capital: float,
                          fill: str = "next_close", detail: bool = True) -> dict[str, Simulation]:
    """`backtest.engine.simulate` of every plan, sleeve parents after their sleeves (see the module doc).

    prices : DataFrame indexed by trading date (the simulation calendar), one column per ticker, adjusted
        closes; no ``sleeve:`` columns (those are made here from the sleeves' values).
    Returns strategy name -> Simulation in the order of ``plans``; a parent's ``holdings`` are looked through
    to names (when ``detail``), its ``trades`` are sleeve-level.
    """
    parents = {name: plan for name, plan in plans.items() if sleeves_of(plan)}
    direct = {name: plan for name, plan in plans.items() if name not in parents}
    sims = simulate(prices, direct, capital=capital, fill=fill, detail=detail)
    if parents:
        short = {name: shorted(plan) for name, plan in parents.items()}
        costly = sorted({s for names in short.values() for s in names if s in direct and _has_costs(direct[s])})
        free = simulate(prices, {s: without_costs(direct[s]) for s in costly}, capital=capital, fill=fill,
                        detail=False)
        groups: dict[frozenset, dict[str, StrategyPlan]] = {}     # parents that see the same price columns
        for name, plan in parents.items():
            groups.setdefault(frozenset(short[name] & set(free)), {})[name] = plan
        for held_short, group in groups.items():
            units = sleeve_prices(sims, group, capital, {s: free[s] for s in held_short})
            for name, sim in simulate(units, group, capital=capital, fill=fill, detail=detail).items():
                sims[name] = look_through(sim, sims) if detail else sim
    return {name: sims[name] for name in plans}


def shorted(plan: StrategyPlan) -> set[str]:
    """Names of the sleeves a parent's plan holds short (a negative target); a sleeve it holds long on some
    dates and short on others is refused (the config cannot write one: a sleeve's share is one number)."""
    out = set()
    for name in sleeves_of(plan):
        target = plan.targets[f"{SLEEVE_PREFIX}{name}"]
        if (target < 0).any():
            if (target > 0).any():
                raise ValueError(f"sleeve {name} is held long on some dates and short on others; a parent "
                                 "must hold each sleeve on one side (its unit value differs: see sleeve_prices)")
            out.add(name)
    return out


def _has_costs(plan: StrategyPlan) -> bool:
    return bool(plan.commission_bps or plan.slippage_bps or plan.expense_ratio)


def without_costs(plan: StrategyPlan) -> StrategyPlan:
    """``plan`` without its commission, slippage and expense ratio (its cash yield and everything else kept):
    the run whose returns are the sleeve's gross returns, before its costs."""
    return dataclasses.replace(plan, commission_bps=0.0, slippage_bps=0.0, expense_ratio=0.0)


def sleeve_prices(sims: Mapping[str, Simulation], parents: Mapping[str, StrategyPlan], capital: float,
                  free: Mapping[str, Simulation] | None = None) -> pd.DataFrame:
    """The ``sleeve:<name>`` price columns the parents hold, on the simulation calendar: each sleeve's value
    over the starting capital (its unit value: 1 before its first trade).

    ``free``: sleeve name -> the simulation of that sleeve without its costs (`without_costs`), for the
    sleeves these parents hold short. Such a sleeve's column is its *short unit value* instead, whose daily
    return is ``g + (g - n)``, with ``n`` the sleeve's return and ``g`` its return without costs: a short
    holder bears the costs ``g - n`` in proportion to its holding, as a long holder does (whose unit's return
    is ``n = g - (g - n)``), instead of gaining from them. Both series start from 1 at the starting capital.
    """
    names = sorted({s for plan in parents.values() for s in sleeves_of(plan)})
    missing = [n for n in names if n not in sims]
    if missing:     # the config refuses this (check_sleeves); a plan built by hand may not
        raise ValueError(f"sleeve(s) {', '.join(missing)} are not simulated strategies (nested sleeves or "
                         "unknown names); a sleeve must be a plain strategy of the same run")
    free = free or {}
    return pd.DataFrame({f"{SLEEVE_PREFIX}{n}": (short_units(sims[n].equity, free[n].equity, capital) if n in free
                                                 else sims[n].equity / capital) for n in names})


def short_units(net: pd.Series, gross: pd.Series, capital: float) -> pd.Series:
    """The short unit value of a sleeve (see `sleeve_prices`): ``net`` its value, ``gross`` its value without
    costs (both Series indexed by trading date, starting from ``capital`` before the first day). Each day it
    moves by ``1 + 2 g - n`` (``g``, ``n``: the day's returns of ``gross`` and ``net``), from 1."""
    n = np.concatenate([[capital], net.to_numpy(dtype=float)])
    g = np.concatenate([[capital], gross.to_numpy(dtype=float)])
    step = 2.0 * (g[1:] / g[:-1]) - n[1:] / n[:-1]
    return pd.Series(np.cumprod(step), index=net.index, name=net.name)


def look_through(parent: Simulation, sims: Mapping[str, Simulation]) -> Simulation:
    """``parent`` with its holdings by name: for each day, the sum over its sleeves of (its weight in the
    sleeve) x (the sleeve's weights by name). A name in two sleeves nets (long in one, short in another)."""
    total = None
    for col in parent.holdings.columns:
        sleeve = sims[str(col)[len(SLEEVE_PREFIX):]].holdings
        part = sleeve.mul(parent.holdings[col].reindex(sleeve.index).fillna(0.0), axis=0)
        total = part if total is None else total.add(part, fill_value=0.0)
    if total is None:
        return parent
    total = total.reindex(columns=sorted(total.columns)).fillna(0.0)
    return dataclasses.replace(parent, holdings=total)


def kept_together(strategies) -> list[list]:
    """``strategies`` (config strategies, in order) as units that must be simulated in the same call: each
    sleeves parent with its sleeves (and every other parent sharing one of them), every other strategy
    alone. Units come in order of their first member, members in their order (a sweep's chunks)."""
    index = {s.name.lower(): i for i, s in enumerate(strategies)}
    root = list(range(len(strategies)))

    def find(i):
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i

    for i, s in enumerate(strategies):
        for name, _ in getattr(s, "sleeves", ()) or ():
            j = index.get(name.lower())
            if j is not None:
                root[find(j)] = find(i)
    units: dict[int, list] = {}
    for i, s in enumerate(strategies):
        units.setdefault(find(i), []).append(s)
    return list(units.values())
