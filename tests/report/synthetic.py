"""Deterministic synthetic runs: random-walk prices, a simple drifting-weights simulation, every field of
`RunResult` filled the way the runner fills it. Small enough to build in well under a second."""

from __future__ import annotations

import numpy as np
import pandas as pd

from backtest.results import RunResult, StrategyResult

TICKERS = tuple(f"T{i:02d}" for i in range(20))
SECTORS = ("Information Technology", "Financials", "Health Care", "Energy", "Utilities")
HOSTILE_SCRIPT = "<script>window.__pwned = 1</script>"
HOSTILE_IMG = '<img src=x onerror="window.__pwned = 2">'
HOSTILE_NAMES = (HOSTILE_SCRIPT, "../../etc", "ctl\x07\x1b[31mred\nline", HOSTILE_IMG)


def prices(seed: int = 4, *, start: str = "2021-01-04", days: int = 756) -> pd.DataFrame:
    """Wide adjusted closes: 20 tickers and SPY, a market factor plus noise."""
    rng = np.random.default_rng(seed)
    index = pd.bdate_range(start, periods=days, name="date")
    market = rng.normal(0.0005, 0.01, days)
    cols = {}
    for i, t in enumerate(TICKERS):
        beta = 0.6 + 0.05 * i
        r = beta * market + rng.normal(0.0001, 0.012, days)
        cols[t] = 20.0 * (1 + i) * np.exp(np.cumsum(np.log1p(r)))
    cols["SPY"] = 300.0 * np.exp(np.cumsum(np.log1p(market)))
    frame = pd.DataFrame(cols, index=index)
    frame.iloc[0] = [20.0 * (1 + i) for i in range(len(TICKERS))] + [300.0]
    return frame


def _simulate(name: str, px: pd.DataFrame, targets: pd.DataFrame, capital: float,
              bps: float = 5.0) -> StrategyResult:
    """Drifting weights between rebalances, fees on traded value, no cash left after a rebalance."""
    prices_ = px.to_numpy()
    rets = np.vstack([np.zeros(px.shape[1]), prices_[1:] / prices_[:-1] - 1])
    tgt = targets.reindex(columns=px.columns).fillna(0.0)
    w = np.zeros(px.shape[1])
    value = capital
    equity, holdings, fees, turnover, trades = [], [], [], {}, []
    for k, day in enumerate(px.index):
        grown = w * (1 + rets[k])
        value *= 1 + float(w @ rets[k])
        w = grown / (grown.sum() + (1 - w.sum())) if grown.sum() > 0 else grown
        fee = 0.0
        if day in tgt.index:
            new = tgt.loc[day].to_numpy()
            diff = new - w
            traded = float(np.abs(diff).sum())
            turnover[day] = traded if w.sum() == 0 else traded / 2
            fee = value * traded * bps / 1e4
            for j in np.flatnonzero(np.abs(diff) > 1e-12):
                trades.append({"date": day, "ticker": px.columns[j], "side": "buy" if diff[j] > 0 else "sell",
                               "shares": abs(diff[j]) * value / prices_[k, j], "price": prices_[k, j],
                               "value": abs(diff[j]) * value, "fees": abs(diff[j]) * value * bps / 1e4})
            value -= fee
            w = new
        equity.append(value)
        holdings.append(w.copy())
        fees.append(fee)
    index = px.index
    return StrategyResult(
        name=name, equity=pd.Series(equity, index=index, name=name),
        targets=targets, holdings=pd.DataFrame(holdings, index=index, columns=px.columns),
        trades=pd.DataFrame(trades, columns=["date", "ticker", "side", "shares", "price", "value", "fees"]),
        fees=pd.Series(fees, index=index), turnover=pd.Series(turnover, dtype=float).rename_axis("date"),
        notes=("T07 has no shares data before 2021-03-01 (held constant)",))


def make_run(*, name: str = "synthetic", names: tuple[str, ...] = ("Equal weight", "Tilted"), seed: int = 4,
             capital: float = 1_000_000.0, risk_free: bool = True, analytics: bool = True,
             warnings: tuple[str, ...] = ("T19: no prices before 2021-02-01, spliced proxy T18",),
             sectors: bool = False, days: int = 756) -> RunResult:
    """A run of len(names) strategies over 3 years (``days``) of 20 random-walk tickers against SPY;
    ``sectors`` adds a ``sectors`` analytics table (ticker -> sector, T19 without one)."""
    px = prices(seed, days=days)
    stocks = px[list(TICKERS)]
    quarters = stocks.index[stocks.index.to_period("Q").duplicated() == False]  # noqa: E712
    strategies = []
    for k, sname in enumerate(names):
        raw = np.arange(1, len(TICKERS) + 1, dtype=float) ** (k * 0.8)
        tw = pd.DataFrame([raw / raw.sum()] * len(quarters), index=quarters, columns=list(TICKERS))
        tw.index.name = "date"
        strategies.append(_simulate(sname, stocks, tw, capital))
    bench = capital * px["SPY"] / px["SPY"].iloc[0]
    rf = pd.Series(0.00008, index=px.index, name="risk_free") if risk_free else None
    coverage = {t: {"first": f"{px.index[0]:%Y-%m-%d}", "last": f"{px.index[-1]:%Y-%m-%d}",
                    "source": "synthetic"} for t in px.columns}
    coverage["T19"]["first"] = "2021-02-01"
    manifest = {
        "name": name, "config_path": "configs/synthetic.yaml",
        "period": {"start": f"{px.index[0]:%Y-%m-%d}", "end": f"{px.index[-1]:%Y-%m-%d}",
                   "trading_days": len(px)},
        "fill": "next_close", "offline": True, "data": coverage,
        "warnings": [*warnings, *(n for st in strategies for n in st.notes)],  # as the runner lists them
        "versions": {"python": "3.11", "pandas": pd.__version__, "numpy": np.__version__},
        "timings_s": {"load": 0.1, "simulate": 0.2},
    }
    config = {"name": name, "start": f"{px.index[0]:%Y-%m-%d}", "end": f"{px.index[-1]:%Y-%m-%d}",
              "capital": capital, "benchmark": "SPY", "costs": {"commission_bps": 5.0, "slippage_bps": 0.0},
              "strategies": [{"name": n, "weighting": "fixed", "rebalance": {"every": "quarterly"}}
                             for n in names]}
    tables = {}
    if analytics:
        top = pd.DataFrame({"top10_share": stocks.div(stocks.sum(axis=1), axis=0).apply(
            lambda row: row.nlargest(10).sum(), axis=1)})
        top["dispersion"] = stocks.pct_change().std(axis=1).fillna(0.0)
        tables["top_holdings_share"] = top.rename_axis("date")
    if analytics and sectors:
        sectors_ = [SECTORS[i % len(SECTORS)] for i in range(len(TICKERS) - 1)]
        tables["sectors"] = pd.DataFrame({"sector": sectors_},
                                         index=pd.Index(TICKERS[:-1], name="ticker"))  # T19 has none
    if analytics:
        tables["group <summary>"] = pd.DataFrame({"weight": [0.3, 0.7], "return": [0.12, 0.05]},
                                                 index=pd.Index(["mag7", "rest"], name="group"))
    return RunResult(name=name, config=config, strategies=tuple(strategies), benchmark_name="SPY",
                     benchmark=bench.rename("SPY"), risk_free=rf, manifest=manifest, analytics=tables)
