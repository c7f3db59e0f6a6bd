"""The simulation stage: target weights -> portfolio values, trades and fees (vectorbt's order kernels).

    simulate.py  `simulate(prices, plans, capital=, fill=)`: every strategy in one vectorised call; costs,
                 expense drag, the cash sleeve and the fill convention are explicit there
    kernel.py    loads vectorbt's numba order kernels without importing all of vectorbt

Takes `backtest.plans.StrategyPlan` values in; never reads data, configs or files.
"""

from __future__ import annotations

from backtest.engine.simulate import TRADING_DAYS, Simulation, execution_dates, simulate
from backtest.plans import StrategyPlan

__all__ = ["TRADING_DAYS", "Simulation", "StrategyPlan", "execution_dates", "simulate"]
