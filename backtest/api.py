"""The Python API for notebooks and scripts (docs/api.md has the tour)::

    import backtest
    result = backtest.run("configs/rotation.yaml", offline=True)   # nothing written
    result.metrics.loc["Mag 7 overweight", "sharpe"]
    folder = result.save("results")                                 # the run folder, as `bt run` writes it
    same = backtest.load(folder)

An orchestrator like `runner` and `cli` (nothing below imports it). `run` is `bt run` without the writing;
`load` reads a run folder; both return a `Result` of pandas objects.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from .results import RunResult, SavedRun, compute_run_metrics, load_run

__all__ = ["Result", "load", "run"]


@dataclass(frozen=True, eq=False)
class Result:
    """A backtest as pandas objects. Series and frames are indexed by trading date unless stated.

    - ``equity``: DataFrame, one column per strategy (by name) and the benchmark (``benchmark_name``), the
      portfolio value from the same starting capital.
    - ``returns``: the same columns, daily simple returns; the first date's is its value / capital - 1 (the
      opening trade's costs), 0.0 for the benchmark.
    - ``metrics``: DataFrame, one row per strategy and the benchmark (last), one column per metric key of
      docs/report.md (``cagr``, ``sharpe``, ...); fractions, NaN where undefined.
    - ``weights``: {strategy: DataFrame rebalance date x ticker} target weights; ``holdings``: {strategy:
      DataFrame date x ticker} end-of-day weights held (for a loaded run: the month-end sample it saved).
    - ``trades``: DataFrame of every order, columns ``strategy, date, ticker, side, shares, price, value,
      fees``; ``turnover``: DataFrame rebalance date x strategy; ``fees``: DataFrame date x strategy (the
      commission paid); ``slippage``: DataFrame date x strategy, what slippage cost (None for a loaded sweep
      folder, or a folder saved before slippage.csv was written).
    - ``warnings``: list of str; ``config``: the resolved config (dict); ``risk_free``: Series or None.
    - ``path``: the run folder once saved or when loaded, else None.
    """

    name: str
    benchmark_name: str
    equity: pd.DataFrame
    returns: pd.DataFrame
    metrics: pd.DataFrame
    weights: dict[str, pd.DataFrame]
    holdings: dict[str, pd.DataFrame]
    trades: pd.DataFrame
    turnover: pd.DataFrame
    fees: pd.DataFrame
    slippage: pd.DataFrame | None
    warnings: list[str]
    config: dict
    risk_free: pd.Series | None
    path: Path | None
    _run: RunResult

    @property
    def strategies(self) -> list[str]:
        """Strategy names in run order."""
        return [s.name for s in self._run.strategies]

    def save(self, results_dir: Path | str = "results", *, folder_name: str | None = None) -> Path:
        """Write the run folder (report.html included) inside ``results_dir`` as `bt run` does, atomically;
        returns its absolute path. ``folder_name`` replaces the ``<name>-<timestamp>`` folder name. A loaded
        sweep is written as a sweep folder again (no detail files, the sweep report), as `bt sweep` wrote it."""
        if "sweep" in self._run.manifest:
            from .report.sweep import render_sweep
            from .results import write_run

            metric = (self._run.manifest.get("sweep") or {}).get("metric")
            return write_run(self._run, Path(results_dir).absolute(), folder_name=folder_name, detail=False,
                             renderer=lambda saved: render_sweep(saved, metric=metric))
        from .runner import save_run

        return save_run(self._run, Path(results_dir).absolute(), folder_name=folder_name)

    def _repr_html_(self) -> str:
        from .report.notebook import result_html

        idx = self.equity.index
        period = f"{idx[0]:%Y-%m-%d} – {idx[-1]:%Y-%m-%d}" if len(idx) else "no dates"
        return result_html(name=self.name, period=period, metrics=self.metrics, equity=self.equity,
                           bench=self.benchmark_name, warnings=len(self.warnings),
                           path=str(self.path) if self.path else None)

    def __repr__(self) -> str:
        from .report.notebook import headline_text

        idx = self.equity.index
        period = f"{idx[0]:%Y-%m-%d} – {idx[-1]:%Y-%m-%d}" if len(idx) else "no dates"
        return (f"<backtest.Result {self.name!r} {period}, {len(self.strategies)} strategies vs "
                f"{self.benchmark_name}, {len(self.warnings)} warnings>\n{headline_text(self.metrics)}")


def _warnings(run: RunResult) -> list[str]:
    raw = run.manifest.get("warnings") or []
    listed = list(dict.fromkeys(str(w) for w in raw))
    if "sweep" in run.manifest:     # a sweep's warnings fold its variants' notes already (`sweep.fold_notes`)
        return listed
    notes = [n for s in run.strategies for n in s.notes if n not in listed]
    return listed + list(dict.fromkeys(notes))


def _result(run: RunResult, metrics: dict, path: Path | None) -> Result:
    from . import metrics as M
    from .report.notebook import metrics_frame
    from .results import run_capital

    names = [s.name for s in run.strategies]
    bench = run.benchmark_name if run.benchmark_name not in names else f"{run.benchmark_name} (benchmark)"
    equity = pd.concat([s.equity.rename(s.name) for s in run.strategies] + [run.benchmark.rename(bench)],
                       axis=1)
    equity.index = pd.DatetimeIndex(equity.index, name="date")
    trades = [s.trades.assign(strategy=s.name) for s in run.strategies if len(s.trades)]
    trades = (pd.concat(trades, ignore_index=True) if trades else pd.DataFrame(
        columns=["date", "ticker", "side", "shares", "price", "value", "fees", "strategy"]))
    trades = trades[["strategy", *[c for c in trades.columns if c != "strategy"]]]
    frame = lambda attr: (pd.concat([getattr(s, attr).rename(s.name) for s in run.strategies], axis=1,  # noqa
                                    sort=True)
                          if run.strategies else pd.DataFrame(index=equity.index[:0]))
    return Result(name=run.name, benchmark_name=bench, equity=equity,
                  returns=equity.apply(M.simple_returns, initial=run_capital(run.config)),
                  metrics=metrics_frame(metrics, names, bench),
                  weights={s.name: s.targets for s in run.strategies},
                  holdings={s.name: s.holdings for s in run.strategies}, trades=trades,
                  turnover=frame("turnover").sort_index(), fees=frame("fees"),
                  slippage=(frame("slippage") if run.strategies and all(s.slippage is not None
                                                                         for s in run.strategies) else None),
                  warnings=_warnings(run),
                  config=run.config, risk_free=run.risk_free, path=path, _run=run)


def run(config, *, offline: bool = False, start: str | None = None, end: str | None = None,
        data_dir: str | Path | None = None, echo: Callable[[str], None] | None = None,
        allow_python: bool = False) -> Result:
    """Run every strategy of ``config`` against its benchmark, as `bt run` does, and return the result
    without writing anything (``result.save(folder)`` writes the run folder).

    ``config``: a YAML file's path, the same content as a mapping (``yaml.safe_load`` of a file, or a dict
    built in the notebook: checked by exactly the file's rules) or a `backtest.config.RunConfig`.
    ``offline``: never touch the network (the price store only). ``start``/``end``: override the config's
    period (YYYY-MM-DD). ``data_dir``: the price store (default ``$BT_DATA_DIR``, else
    ``~/.local/share/bt-backtest``). ``echo``: receives progress lines (default: silent). ``allow_python``:
    run the functions named by ``weighting: {python: ...}`` (refused without it, as ``bt run --allow-python``).
    Raises `backtest.errors.ConfigError` (every problem of the config at once), `DataError`, ...
    """
    import time

    from .config import apply_overrides
    from .data.store import PriceStore, default_store_dir
    from .runner import run_backtest

    t0 = time.perf_counter()
    cfg = apply_overrides(_config_of(config), start=start, end=end)
    store = PriceStore(Path(data_dir).expanduser() if data_dir is not None else default_store_dir())
    result = run_backtest(cfg, store, offline=offline, echo=echo or (lambda m: None), t0=t0,
                          allow_python=allow_python)
    metrics = result.metrics if result.metrics is not None else compute_run_metrics(result)
    return _result(dataclasses.replace(result, metrics=metrics), metrics, None)


def _config_of(config):
    """A `RunConfig` from a path, a mapping (checked as the YAML it stands for) or a `RunConfig`."""
    from collections.abc import Mapping

    from .config import RunConfig, load_config, parse_config
    from .errors import UsageError

    if isinstance(config, RunConfig):
        return config
    if isinstance(config, Mapping):
        import yaml

        try:
            text = yaml.safe_dump(_plain(dict(config)), sort_keys=False, allow_unicode=True)
        except yaml.YAMLError as exc:
            raise UsageError(f"config: the mapping holds values YAML cannot represent ({exc}); fix: use "
                             "text, numbers, dates, lists and mappings only") from None
        return parse_config(text, source="<config mapping>")
    if isinstance(config, str | Path):
        return load_config(Path(config))
    raise UsageError(f"config: expected a YAML file's path, a mapping or a RunConfig, got {type(config).__name__}")


def _plain(value):
    """A notebook's mapping in YAML's types: numpy scalars as Python numbers, a pandas Timestamp or a
    datetime at midnight as its date, tuples as lists; anything else as it is (YAML refuses what it cannot
    represent, with the message above)."""
    import datetime as dt
    from collections.abc import Mapping

    import numpy as np

    if isinstance(value, Mapping):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dt.datetime) and value.time() == dt.time(0) and value.tzinfo is None:
        return value.date()         # pandas Timestamp included: a config's dates are calendar dates
    return value


def load(run_dir: str | Path) -> Result:
    """Read a saved run folder (written by `bt run`, `bt sweep` or `Result.save`) into a `Result`.
    Raises `backtest.errors.DataError` naming the problem if it is not a complete run folder."""
    saved = load_run(run_dir)
    return from_saved(saved)


def from_saved(saved: SavedRun) -> Result:
    """A `Result` of a `SavedRun` (holdings are the saved month-end sample)."""
    run_ = RunResult(name=saved.name, config=saved.config, strategies=saved.strategies,
                     benchmark_name=saved.benchmark_name, benchmark=saved.benchmark,
                     risk_free=saved.risk_free,
                     manifest={k: v for k, v in saved.manifest.items() if k != "run_folder"},
                     analytics=saved.analytics, metrics=saved.metrics)
    return _result(run_, saved.metrics, saved.path)
