"""What a run hands over and what a run folder reads back as: `RunResult`, `StrategyResult`, `SavedRun`,
`SavedRunSummary`; the folder's constants (required files, the benchmark's slug, trade columns), its names
(`slugify`, `safe_folder_name`) and the metrics written to metrics.json (`compute_run_metrics`). Pure: no
file is read or written here (`backtest.results.write` and `backtest.results.read` do that)."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .. import metrics as M

FORMAT_VERSION = 1
BENCHMARK_SLUG = "benchmark"
HEADLINE = ("total_return", "cagr", "volatility", "sharpe", "max_drawdown")
REQUIRED_FILES = ("manifest.json", "metrics.json", "equity.csv", "returns.csv", "fees.csv", "turnover.csv",
                  "config.yaml", "report.html")
TRADE_COLUMNS = ("date", "ticker", "side", "shares", "price", "value", "fees")
DETAIL_KEY = "detail_files"     # in a folder's layout: False when it has no weights/, holdings/, trades/ (a sweep)


def has_detail_files(layout: dict) -> bool:
    """Whether a run folder's layout (manifest.json's ``run_folder``) has weights/, holdings/ and trades/
    files per strategy: every folder but a sweep's (``"detail_files": false``)."""
    return layout.get(DETAIL_KEY, True)
_WINDOWS_DEVICES = {"con", "prn", "aux", "nul", *(f"{d}{i}" for d in ("com", "lpt") for i in range(1, 10))}
_RESERVED = {BENCHMARK_SLUG, "date", "risk-free", *_WINDOWS_DEVICES}   # slugs never used as file names


@dataclass(frozen=True)
class StrategyResult:
    """One strategy's simulation, as the runner hands it over. Frames are indexed by trading date."""

    name: str
    equity: pd.Series  # daily portfolio value, DatetimeIndex 'date'
    targets: pd.DataFrame  # rebalance decision dates x tickers, target weights (rows sum to 1)
    holdings: pd.DataFrame  # trading dates x tickers, end-of-day weights held (cash excluded)
    trades: pd.DataFrame  # columns: date, ticker, side ('buy'|'sell'), shares, price, value, fees
    fees: pd.Series  # daily commission paid (currency)
    turnover: pd.Series  # per rebalance date, one-sided turnover as a fraction of portfolio value
    notes: tuple[str, ...] = ()  # warnings for this strategy
    slippage: pd.Series | None = None  # daily slippage paid (currency); slippage.csv (`bt run` folders only)
    borrow_charged: float = 0.0  # the borrow fee's daily charges (fractions of value) summed; not saved either


@dataclass(frozen=True)
class RunResult:
    """A whole run: every strategy, the buy-and-hold benchmark on the same dates, config and manifest."""

    name: str
    config: dict  # the resolved config (YAML-safe dict)
    strategies: tuple[StrategyResult, ...]
    benchmark_name: str  # e.g. "SPY"
    benchmark: pd.Series  # daily buy-and-hold benchmark value on the same dates, same capital
    risk_free: pd.Series | None  # daily simple risk-free returns on the same dates, or None (= 0)
    manifest: dict  # versions, data ranges and sources, warnings list, timings
    analytics: dict[str, pd.DataFrame] = field(default_factory=dict)  # saved as analytics/<slug>.csv
    metrics: dict | None = None  # metrics.json content if already computed (sweeps: on the workers), else None
    benchmarks: dict[str, pd.Series] = field(default_factory=dict)  # further benchmarks: name -> daily value


@dataclass(frozen=True)
class SavedRun:
    """A run folder read back. Mirrors `RunResult`; ``holdings`` are the saved month-end sample.

    ``metrics`` is metrics.json: ``{"strategies": {name: {metric: value}}, "benchmark": {...}}`` with NaN
    for JSON null. ``slugs`` maps each strategy name to its file slug.
    """

    path: Path
    name: str
    config: dict
    strategies: tuple[StrategyResult, ...]
    benchmark_name: str
    benchmark: pd.Series
    risk_free: pd.Series | None
    manifest: dict
    analytics: dict[str, pd.DataFrame]
    metrics: dict
    slugs: dict[str, str]
    benchmarks: dict[str, pd.Series] = field(default_factory=dict)  # further benchmarks: name -> daily value

    @property
    def created(self) -> str:
        """When the run was written (ISO 8601 with offset)."""
        return str(self.manifest.get("run_folder", {}).get("created", ""))

    @property
    def folder(self) -> str:
        """The run folder's name (its final name, also while the folder is still being written)."""
        return str(self.manifest.get("run_folder", {}).get("folder", self.path.name))


@dataclass(frozen=True)
class SavedRunSummary:
    """One line of `bt list`. ``problem`` is set (and the rest may be empty) for an incomplete folder."""

    path: Path
    name: str
    created: str
    start: str
    end: str
    strategies: tuple[str, ...]
    benchmark_name: str
    headline: dict[str, dict[str, float]]  # strategy name -> HEADLINE metrics
    benchmark_headline: dict[str, float]
    problem: str | None = None
    sweep: bool = False     # a sweep's folder (no detail files): `bt list` shows its best variants only


# --- names -----------------------------------------------------------------------------------------------


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode("ascii")


def safe_folder_name(text: str, *, default: str = "run") -> str:
    """One path component from any text: ascii letters, digits, ``.``, ``_``, ``-``; no leading dot."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", _ascii(text)).strip(".-_")[:80].strip(".-_")
    if name.split(".")[0].lower() in _WINDOWS_DEVICES:  # CON, COM1.x, ... cannot be folders on Windows
        name = f"{default}-{name}"
    return name or default


SLUG_MAX = 60


def slugify(text: str, taken: set[str] | frozenset[str] = frozenset()) -> str:
    """Lower-case ascii slug, unique against ``taken`` (adds ``-2``, ``-3``...) and the reserved names. A slug
    longer than ``SLUG_MAX`` keeps its first 51 characters and ends in 8 hex digits of the whole name's
    SHA-1 (``...-select-sk-1f0c9a2e``), so a long sweep variant's column says it was cut, and two names cut to
    the same start stay apart without a ``-2`` that reads like a grid value."""
    base = re.sub(r"[^a-z0-9]+", "-", _ascii(text).lower()).strip("-") or "strategy"
    if len(base) > SLUG_MAX:
        digest = hashlib.sha1(str(text).encode("utf-8")).hexdigest()[:8]
        base = f"{base[:SLUG_MAX - 9].strip('-')}-{digest}"
    slug, n = base, 1
    while slug in taken or slug in _RESERVED:
        n += 1
        slug = f"{base}-{n}"
    return slug


def month_end_sample(holdings: pd.DataFrame) -> pd.DataFrame:
    """The last row of each calendar month (so the final date is always kept)."""
    if len(holdings.index) == 0:
        return holdings
    return holdings.groupby(holdings.index.to_period("M")).tail(1)


def run_capital(config: Mapping) -> float | None:
    """The capital a run started with (its returns are measured from it), None if the config lacks it."""
    value = config.get("capital") if isinstance(config, Mapping) else None
    return float(value) if isinstance(value, int | float) and value > 0 else None


def compute_run_metrics(result: RunResult) -> dict:
    """metrics.json: ``{"strategies": {name: metrics}, "benchmark": metrics, "benchmarks": {name: metrics},
    "relative": {strategy: {benchmark: relative metrics}}}``. Strategy and benchmark metrics are measured
    against the primary benchmark; "benchmarks" holds every benchmark (the primary first) and "relative" the
    benchmark-relative metrics of each strategy against each benchmark."""
    from ..metrics_matrix import compute_metrics_many

    capital = run_capital(result.config)
    bench = M.simple_returns(result.benchmark, capital)
    out = {"strategies": {}, "benchmark": M.compute_metrics(bench, bench, result.risk_free, from_base=True)}
    fill = result.config.get("fill", "next_close")
    expense = {d.get("name"): d.get("expense_ratio", 0.0) for d in result.config.get("strategies", [])
               if isinstance(d, Mapping)}
    if result.strategies:     # all strategies at once, equal bit for bit to compute_metrics on each
        frame = lambda attr: pd.concat({s.name: getattr(s, attr) for s in result.strategies},  # noqa: E731
                                       axis=1, sort=True)      # union of dates in order (pandas 4 won't sort)
        out["strategies"] = compute_metrics_many(
            frame("equity"), capital, bench, result.risk_free, turnover=frame("turnover").sort_index(),
            fees=frame("fees"),
            slippage=frame("slippage") if all(s.slippage is not None for s in result.strategies) else None,
            rebalances={s.name: rebalance_fills(s.targets.index, s.equity.index, fill) for s in result.strategies},
            expense_ratio={s.name: float(expense.get(s.name) or 0.0) for s in result.strategies}, from_base=True,
            borrow_charged={s.name: s.borrow_charged for s in result.strategies})
    out.update(relative_metrics(result, capital))
    return out


def rebalance_fills(decisions: pd.Index, calendar: pd.DatetimeIndex, fill: str) -> pd.DatetimeIndex:
    """The days the rebalance decisions ``decisions`` filled on ``calendar`` (the run's days, from the base
    close): the decision day under ``close``, the next trading day under ``next_close`` (the opening
    decision, on the day before the base, fills at the base)."""
    decisions = pd.DatetimeIndex(decisions)
    pos = calendar.searchsorted(decisions, side="left" if fill == "close" else "right")
    return pd.DatetimeIndex(calendar[pos[pos < len(calendar)]]).unique()


def relative_metrics(result, capital: float | None) -> dict:
    """``{"benchmarks": {name: metrics}, "relative": {strategy: {benchmark: {metric: value}}}}`` for every
    benchmark of ``result`` (the primary first), then every control strategy (config ``controls``)."""
    series = {result.benchmark_name: result.benchmark, **result.benchmarks}
    returns = {n: M.simple_returns(v, capital) for n, v in series.items()}
    primary = returns[result.benchmark_name]       # further benchmarks are measured against the primary
    out = {"benchmarks": {n: M.compute_metrics(r, primary, result.risk_free, from_base=True)
                          for n, r in returns.items()},
           "relative": {}}
    controls = result.config.get("controls", []) if isinstance(result.config, Mapping) else []
    by_name = {s.name: s for s in result.strategies}
    returns.update({n: M.simple_returns(by_name[n].equity, capital) for n in controls if n in by_name})
    if result.strategies:
        from ..metrics_matrix import relative_metrics_many

        equity = pd.concat({s.name: s.equity for s in result.strategies}, axis=1)
        against = {n: relative_metrics_many(equity, capital, b, result.risk_free, from_base=True)
                   for n, b in returns.items()}
        out["relative"] = {s.name: {n: against[n][s.name] for n in returns} for s in result.strategies}
    return out


RUN_ENTRIES = (*REQUIRED_FILES, "risk_free.csv", "slippage.csv", "weights", "holdings", "trades", "analytics")
