"""`bt`: a thin click layer over the library. Heavy imports happen inside commands so `bt --help` is instant.

Every command maps to one library call; a `BacktestError` becomes `error: <message>` on stderr and its exit
code (2 for user errors), with the traceback only under `bt -v`.

Interrupts: Ctrl-C (SIGINT) prints "aborted" and exits 130 wherever it lands (even inside a compiled
simulation kernel, which reports it as a SystemError); SIGTERM (plain `kill`, `timeout`) prints "terminated"
and exits 143. Both unwind through the writers' clean-up, so no temporary file or folder is left behind;
temporaries of processes killed outright (SIGKILL) are swept by the next command that writes there.
"""

from __future__ import annotations

import gc
import signal
import sys
import traceback
from pathlib import Path

import click

from .errors import BacktestError

DATA_DIR_HELP = "Price store folder (default: $BT_DATA_DIR, else ~/.local/share/bt-backtest)."


def _store(ctx: click.Context):
    from .data.store import PriceStore, default_store_dir

    store = PriceStore(Path(ctx.obj["data_dir"]) if ctx.obj.get("data_dir") else default_store_dir())
    store.tidy()
    return store


HEARTBEAT_SECONDS = 30.0


class _Progress:
    """Stage messages on stderr, and every HEARTBEAT_SECONDS a line saying the command is still at work on
    the last stage (a long simulation otherwise prints nothing for minutes). The heartbeat's thread starts
    with the first message, not before: `bt run` forks its evidence worker before that, and forks only from
    a process with no other thread (`backtest.forked.can_fork`)."""

    def __init__(self, every: float = HEARTBEAT_SECONDS):
        import threading

        self.every = every
        self.last = "starting"
        self.started = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def echo(self, message: str) -> None:
        self.last = message.rstrip(". ")
        click.echo(message, err=True)
        if self.thread.ident is None and not self.stop.is_set():
            self.thread.start()

    def _beat(self) -> None:
        import time

        while not self.stop.wait(self.every):
            click.echo(f"  ... still {self.last} ({time.monotonic() - self.started:.0f} s)", err=True)

    def __enter__(self):
        import time

        self.started = time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        if self.thread.ident is not None:
            self.thread.join(timeout=1)


def _tidy_results(folder: Path) -> None:
    from .results import sweep_stale_temporaries

    sweep_stale_temporaries(folder)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks and debug detail.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="BT_DATA_DIR",
              help=DATA_DIR_HELP)
@click.version_option(package_name="bt-rotation-backtester", prog_name="bt")
@click.pass_context
def cli(ctx: click.Context, verbose: bool, data_dir: Path | None) -> None:
    """Rebalancing backtests of concentration-rotation portfolios (vectorbt engine, SPY benchmark)."""
    ctx.ensure_object(dict)
    ctx.obj.update(verbose=verbose, data_dir=data_dir)


def _results_dir(ctx, param, value: str) -> Path:
    """``--out`` of run and sweep: the folder that receives run folders; not empty text (which would write
    into the current folder) and not a run folder itself (the new run would nest inside it)."""
    if not str(value).strip():
        raise click.BadParameter("is empty; give the folder that receives run folders, e.g. --out results")
    path = Path(value)
    if (path / "manifest.json").is_file():
        raise click.BadParameter(f"{path} is a run folder (it holds manifest.json); give the folder that "
                                 f"receives run folders, e.g. --out {path.parent}")
    return path


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="results", callback=_results_dir,
              show_default=True, help="Folder that receives the run folder.")
@click.option("--offline", is_flag=True, help="Never touch the network; use the store only.")
@click.option("--start", help="Override the config's start date (YYYY-MM-DD).")
@click.option("--end", help="Override the config's end date (YYYY-MM-DD).")
@click.option("--allow-python", is_flag=True,
              help="Run the functions named by weighting: {python: ...} (configs never run code without it).")
@click.pass_context
def run(ctx, config: Path, out_dir: Path, offline: bool, start: str | None, end: str | None,
        allow_python: bool) -> None:
    """Run every strategy in CONFIG against the benchmark and write a report."""
    from .runner import run_config

    _tidy_results(out_dir)
    with _Progress() as progress:
        folder = run_config(config, store=_store(ctx), results_dir=out_dir, offline=offline, start=start,
                            end=end, echo=progress.echo, allow_python=allow_python)
    click.echo(_headline(folder), err=True)
    click.echo(f"report: {folder / 'report.html'}")


def _headline(folder: Path) -> str:
    """The run's headline table (CAGR, volatility, Sharpe, max drawdown, excess return per strategy and the
    benchmark) from its metrics.json and manifest.json, for the terminal (stderr: stdout stays the path)."""
    import json

    from .report.notebook import headline_text, metrics_frame

    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    layout = manifest["run_folder"]
    frame = metrics_frame(metrics, [s["name"] for s in layout["strategies"]],
                          f"{layout['benchmark']['name']} (benchmark)")
    import shutil

    width = shutil.get_terminal_size((100, 24)).columns
    period = manifest.get("period") or {}
    lines = [f"period: {period.get('start')} (base close) .. {period.get('end')}, "
             f"{period.get('trading_days', 0):,} trading days"] if period else []
    warnings = manifest.get("warnings") or []
    if warnings:
        lines.append(f"{len(warnings)} warning{'s' if len(warnings) > 1 else ''}: see the report's Warnings "
                     f"section (or manifest.json)")
    return "\n" + headline_text(frame, width=max(60, min(width, 140))) + "\n" + "".join(f"{x}\n" for x in lines)


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--config-only", is_flag=True, help="Check the config alone, not the data in the store.")
@click.pass_context
def validate(ctx, config: Path, config_only: bool) -> None:
    """Check CONFIG without running it; list every problem at once. Also checks the price store: the
    period, benchmarks and risk-free from the base close, every named ticker priced (what a run would
    refuse), unless --config-only."""
    from .config import load_config
    from .errors import DataError

    cfg = load_config(config)
    if not config_only:
        from .data.inputs import check_data

        problems, notes = check_data(cfg, _store(ctx))
        for note in notes:
            click.echo(f"note: {note}")
        if problems:
            raise DataError(f"{config}: a run would stop: " + "; ".join(problems))
    checked = "config" if config_only else "config and data"
    click.echo(f"{config}: OK ({len(cfg.strategies)} strateg{'y' if len(cfg.strategies) == 1 else 'ies'}; "
               f"{checked} checked)")


@cli.group()
def data() -> None:
    """The local price store: import, fetch, list."""


@data.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--date-format", default=None,
              help="strptime format of the files' dates when the day/month order is ambiguous "
                   "(e.g. %d/%m/%Y or %m/%d/%Y).")
@click.pass_context
def data_import(ctx, paths: tuple[Path, ...], date_format: str | None) -> None:
    """Import the offline snapshot folder (../shared/market-data) or CSV/Parquet price files."""
    from .data import import_paths

    for line in import_paths(_store(ctx), list(paths), date_format=date_format):
        click.echo(line)


@data.command("ls")
@click.option("--ticker", "tickers", multiple=True, help="Only these tickers.")
@click.pass_context
def data_ls(ctx, tickers: tuple[str, ...]) -> None:
    """Tickers in the store with their date ranges and sources."""
    from .data import format_catalog

    click.echo(format_catalog(_store(ctx), tickers=[t.upper() for t in tickers]))


@data.command("fetch")
@click.argument("tickers", nargs=-1, required=True)
@click.option("--start", default="2015-01-01", show_default=True)
@click.option("--end", default=None, help="Default: today.")
@click.pass_context
def data_fetch(ctx, tickers: tuple[str, ...], start: str, end: str | None) -> None:
    """Download missing daily prices from Yahoo (yfinance) into the store."""
    import datetime as dt

    from .data.yahoo import OFFLINE_FIX, fetch_prices
    from .errors import NetworkError, UsageError

    days = {}
    for opt, value in (("--start", start), ("--end", end)):
        if value is None:
            continue
        try:
            days[opt] = dt.date.fromisoformat(value.strip())
        except ValueError:
            raise UsageError(f"{opt}: {value!r} is not a calendar date; expected YYYY-MM-DD, e.g. 2024-01-02") \
                from None
    if "--end" in days and days["--end"] < days["--start"]:
        raise UsageError(f"--end {days['--end']} is before --start {days['--start']}; fix: swap the two dates")
    if days["--start"] > dt.date.today():
        raise UsageError(f"--start {days['--start']} is in the future (today is {dt.date.today()}); there are no "
                         "prices to download; fix: an earlier --start")
    try:
        report = fetch_prices(_store(ctx), [t.upper() for t in tickers], start, end)
    except NetworkError as exc:     # fetch has no --offline: point to the offline ways in
        raise NetworkError(str(exc).replace(OFFLINE_FIX, "bt data fetch needs Yahoo; offline, import prices "
                                            "instead: `bt data import ../shared/market-data` or `bt data "
                                            "import FILE`")) from None
    click.echo(str(report))


@cli.command("list")
@click.option("--results", "results_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results"), show_default=True)
def list_cmd(results_dir: Path) -> None:
    """Saved runs: name, date, period, strategies, headline metrics."""
    from .report.compare import format_run_list
    from .results import list_runs

    runs = list_runs(results_dir)
    if not runs:        # say where it looked: a mistyped --results must not read as "nothing saved yet"
        why = "no such folder" if not results_dir.exists() else "no run folders in it"
        click.echo(f"no saved runs in {results_dir} ({why}; bt run writes to results/, or to --out)")
        return
    click.echo(format_run_list(runs))


@cli.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output HTML file (default: results/compare-<timestamp>.html).")
def compare(runs: tuple[Path, ...], out: Path | None) -> None:
    """Compare saved run folders side by side in one HTML page (no re-run)."""
    from .report.compare import compare_runs

    path = compare_runs(list(runs), out)
    click.echo(f"comparison: {path}")


@cli.command()
@click.argument("tickers", nargs=-1, required=True)
@click.option("--asof", default=None, help="As-of date (default: last date in the store).")
@click.option("--since", default="ytd", show_default=True,
              help="ytd, mtd, 1m, 3m, 6m, 1y, 3y, 5y, or a start date YYYY-MM-DD.")
@click.pass_context
def snapshot(ctx, tickers: tuple[str, ...], asof: str | None, since: str) -> None:
    """Total return of TICKERS (or groups such as mag7) over a window ending at --asof (e.g. YTD for IWM AVUV
    VTV SPY)."""
    from .config.schema import DEFAULT_GROUPS
    from .runner import snapshot_table
    from .universe import expand

    store = _store(ctx)
    names = expand(tickers, DEFAULT_GROUPS)
    if asof is not None:
        asof = _snapshot_asof(store, names, asof)
    click.echo(snapshot_table(store, names, asof=asof, since=since))


def _snapshot_asof(store, names: list[str], asof: str) -> str:
    """--asof checked: a real calendar date YYYY-MM-DD, on or before the last price of every ticker asked
    for (a later date would price the window's end with stale closes and show +0.00%)."""
    import datetime as dt

    from .errors import UsageError

    try:
        day = dt.date.fromisoformat(asof.strip())
    except ValueError:
        raise UsageError(f"--asof: {asof!r} is not a calendar date; expected YYYY-MM-DD, e.g. 2026-02-27") \
            from None
    prices = store.prices(names)
    last = {t: prices[t].last_valid_index() for t in prices.columns if prices[t].notna().any()}
    stale = {t: d for t, d in last.items() if d is not None and d.date() < day}
    if stale:
        shown = ", ".join(f"{t} ({d:%Y-%m-%d})" for t, d in sorted(stale.items(), key=lambda x: x[1])[:8])
        newest = min(stale.values())
        raise UsageError(f"--asof {day}: after the last price of {shown}; a window ending there would show no "
                         f"change; fix: --asof {newest:%Y-%m-%d} or earlier, or import newer prices (bt data "
                         "import FILE)")
    return day.isoformat()


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="results", callback=_results_dir,
              show_default=True, help="Folder that receives the sweep's folder.")
@click.option("--offline", is_flag=True, help="Never touch the network.")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="Run chunks on a local Dask cluster with N workers (0: in this process).")
@click.option("--scheduler", default=None, help="Address of an existing Dask scheduler (tcp://host:8786).")
@click.option("--chunk-size", type=click.IntRange(min=1), default=32, show_default=True,
              help="Variants simulated together in one vectorised chunk; memory grows with it (the 1,000-"
                   "variant S&P 500 grid: 0.9 GB peak at 32, 2.6 GB at 1000).")
@click.option("--metric", default="sharpe", show_default=True,
              help="Metric of the report's heatmaps and ranking (a metrics.json key: cagr, sortino, ...).")
@click.pass_context
def sweep(ctx, config: Path, out_dir: Path, offline: bool, workers: int, scheduler: str | None,
          chunk_size: int, metric: str) -> None:
    """Expand the config's `sweep:` grid into variants and simulate them all."""
    from .sweep import run_sweep

    _tidy_results(out_dir)
    with _Progress() as progress:
        folder = run_sweep(config, store=_store(ctx), results_dir=out_dir, offline=offline, workers=workers,
                           scheduler=scheduler, chunk_size=chunk_size, metric=metric, echo=progress.echo)
    click.echo(f"report: {folder / 'report.html'}")


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that every writer's clean-up (``except BaseException``) runs."""


_SIGNALLED: list[int] = []


def _on_signal(signum, frame) -> None:
    _SIGNALLED.append(signum)
    if signum == signal.SIGTERM:
        raise Terminated()
    raise KeyboardInterrupt()


def _install_handlers() -> dict:
    """SIGINT and SIGTERM handlers for the duration of one command (main thread only)."""
    old = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, _on_signal)
    except ValueError:  # not the main thread (a notebook's worker): leave signals alone
        pass
    return old


def _interrupted(exc: BaseException | None) -> bool:
    """A KeyboardInterrupt, directly or wrapped (numba kernels turn it into a SystemError)."""
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, (KeyboardInterrupt, Terminated, click.exceptions.Abort)):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def console() -> int:
    """The `bt` console script (setup.cfg): `main`, then an exit that skips the collector's passes over the
    heap a command leaves behind (`gc.freeze`: ~0.4 s of teardown after a `bt run`); exit handlers still run
    and every file is already closed. In-process callers (tests, notebooks) use `main`, which freezes
    nothing."""
    code = main()
    gc.freeze()
    return code


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run the click group and map errors to exit codes."""
    _SIGNALLED.clear()
    old = _install_handlers()
    try:
        return _main(argv)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _main(argv: list[str] | None) -> int:
    verbose = any(a in ("-v", "--verbose") for a in (argv if argv is not None else sys.argv[1:]))
    try:
        cli.main(args=argv, prog_name="bt", standalone_mode=False)
    except Terminated:
        click.echo("terminated", err=True)
        return 143
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except BacktestError as exc:
        if verbose:
            traceback.print_exc()
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - last line of defence: a clean message, traceback with -v
        if _interrupted(exc) or _SIGNALLED:
            terminated = signal.SIGTERM in _SIGNALLED
            click.echo("terminated" if terminated else "aborted", err=True)
            return 143 if terminated else 130
        if verbose:
            traceback.print_exc()
        click.echo(f"internal error: {type(exc).__name__}: {exc}\n(run `bt -v ...` for the traceback; "
                   "please report it)", err=True)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(console())
