"""vectorbt's kernels called directly: the same records, positions and cash as `vbt.Portfolio.from_orders`,
and loading them leaves no trace in `sys.modules`."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from backtest.engine.kernel import from_orders


def _case(seed: int):
    rng = np.random.default_rng(seed)
    rows, cols = 60, 7
    close = 50 * np.cumprod(1 + rng.normal(0, 0.02, (rows, cols)), axis=0)
    size = np.full((rows, cols), np.nan)
    every = rng.integers(3, 12)
    size[::every] = rng.dirichlet(np.ones(cols), size=len(range(0, rows, every))) * rng.uniform(0.7, 1.0)
    size[rng.random((rows, cols)) < 0.05] = np.nan               # names without an order on a rebalance day
    size[rows // 2, 0] = 0.0                                      # a sale to zero
    groups = np.array([0, 0, 0, 1, 1, 2, 2])
    fees = rng.uniform(0, 0.002, (1, cols))
    slippage = rng.uniform(0, 0.001, (1, cols))
    return close, size, groups, fees, slippage


@pytest.mark.parametrize("seed", range(5))
def test_same_as_portfolio_from_orders(seed):
    vbt = pytest.importorskip("vectorbt")
    close, size, groups, fees, slippage = _case(seed)
    records, assets, cash = from_orders(close, size, np.bincount(groups), np.full(3, 1e5), fees, slippage)
    pf = vbt.Portfolio.from_orders(pd.DataFrame(close), pd.DataFrame(size), size_type="targetpercent",
                                   group_by=groups, cash_sharing=True, call_seq="auto", fees=fees,
                                   slippage=slippage, init_cash=1e5, freq="1D", ffill_val_price=True)
    assert np.array_equal(records, pf.orders.values)
    assert np.array_equal(assets, pf.assets().to_numpy())
    assert np.array_equal(cash, pf.cash().to_numpy())


def test_light_load_leaves_vectorbt_unimported_and_importable():
    code = textwrap.dedent("""
        import sys
        import numpy as np
        from backtest.engine.kernel import from_orders, kernels
        kernels()
        print("left:", sorted(m for m in sys.modules if m == "vectorbt" or m.startswith("vectorbt.")))
        print("widgets:", sorted(m for m in sys.modules if m.split(".")[0] in ("ipywidgets", "IPython")))
        import plotly.graph_objects as go
        print("FigureWidget:", go.FigureWidget.__module__)     # the real one: ipywidgets importable again
        one = from_orders(np.ones((1, 1)), np.ones((1, 1)), [1], [100.0], np.zeros((1, 1)), np.zeros((1, 1)))
        print("one order:", len(one[0]), one[1][0, 0])
        import vectorbt as vbt
        print("full import:", hasattr(vbt, "Portfolio"), vbt.portfolio.nb.simulate_from_orders_nb is not None)
        """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "left: []" in done.stdout
    assert "widgets: []" in done.stdout                # plotly's FigureWidget was not resolved while loading
    assert "FigureWidget: plotly.graph_objs._figurewidget" in done.stdout
    assert "one order: 1 100.0" in done.stdout        # one record: the array layout numba types apart
    assert "full import: True True" in done.stdout
