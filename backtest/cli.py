"""`bt`: a thin click layer over the library. Heavy imports happen inside commands so `bt --help` is instant.

Every command maps to one library call; a `BacktestError` becomes `error: <message>` on stderr and its exit
code (2 for user errors), with the traceback only under `bt -v`.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import click

from .errors import BacktestError

DATA_DIR_HELP = "Price store folder (default: $BT_DATA_DIR, else ~/.local/share/bt-backtest)."


def _store(ctx: click.Context):
    from .data.store import PriceStore, default_store_dir

    return PriceStore(Path(ctx.obj["data_dir"]) if ctx.obj.get("data_dir") else default_store_dir())


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


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("results"),
              show_default=True, help="Folder that receives the run folder.")
@click.option("--offline", is_flag=True, help="Never touch the network; use the store only.")
@click.option("--start", help="Override the config's start date (YYYY-MM-DD).")
@click.option("--end", help="Override the config's end date (YYYY-MM-DD).")
@click.pass_context
def run(ctx, config: Path, out_dir: Path, offline: bool, start: str | None, end: str | None) -> None:
    """Run every strategy in CONFIG against the benchmark and write a report."""
    from .runner import run_config

    folder = run_config(config, store=_store(ctx), results_dir=out_dir, offline=offline, start=start, end=end,
                        echo=lambda m: click.echo(m, err=True))
    click.echo(_headline(folder), err=True)
    click.echo(f"report: {folder / 'report.html'}")


def _headline(folder: Path) -> str:
    """The run's headline table (CAGR, volatility, Sharpe, max drawdown, excess return per strategy and the
    benchmark) from its metrics.json and manifest.json, for the terminal (stderr: stdout stays the path)."""
    import json

    from .report.notebook import headline_text, metrics_frame

    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    layout = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["run_folder"]
    frame = metrics_frame(metrics, [s["name"] for s in layout["strategies"]],
                          f"{layout['benchmark']['name']} (benchmark)")
    import shutil

    width = shutil.get_terminal_size((100, 24)).columns
    return "\n" + headline_text(frame, width=max(60, min(width, 140))) + "\n"


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
def validate(config: Path) -> None:
    """Check CONFIG without running it; list every problem at once."""
    from .config import load_config

    cfg = load_config(config)
    click.echo(f"{config}: OK ({len(cfg.strategies)} strateg{'y' if len(cfg.strategies) == 1 else 'ies'})")


@cli.group()
def data() -> None:
    """The local price store: import, fetch, list."""


@data.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def data_import(ctx, paths: tuple[Path, ...]) -> None:
    """Import the offline snapshot folder (../shared/market-data) or CSV/Parquet price files."""
    from .data import import_paths

    for line in import_paths(_store(ctx), list(paths)):
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
    from .data.yahoo import fetch_prices

    report = fetch_prices(_store(ctx), [t.upper() for t in tickers], start, end)
    click.echo(str(report))


@cli.command("list")
@click.option("--results", "results_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results"), show_default=True)
def list_cmd(results_dir: Path) -> None:
    """Saved runs: name, date, period, strategies, headline metrics."""
    from .report.compare import format_run_list
    from .results import list_runs

    click.echo(format_run_list(list_runs(results_dir)))


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
    """Total return of TICKERS over a window ending at --asof (e.g. YTD for IWM AVUV VTV SPY)."""
    from .runner import snapshot_table

    click.echo(snapshot_table(_store(ctx), [t.upper() for t in tickers], asof=asof, since=since))


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("results"),
              show_default=True)
@click.option("--offline", is_flag=True, help="Never touch the network.")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="Run chunks on a local Dask cluster with N workers (0: in this process).")
@click.option("--scheduler", default=None, help="Address of an existing Dask scheduler (tcp://host:8786).")
@click.option("--chunk-size", type=click.IntRange(min=1), default=32, show_default=True,
              help="Variants simulated together in one vectorised chunk.")
@click.option("--metric", default="sharpe", show_default=True,
              help="Metric of the report's heatmaps and ranking (a metrics.json key: cagr, sortino, ...).")
@click.pass_context
def sweep(ctx, config: Path, out_dir: Path, offline: bool, workers: int, scheduler: str | None,
          chunk_size: int, metric: str) -> None:
    """Expand the config's `sweep:` grid into variants and simulate them all."""
    from .sweep import run_sweep

    folder = run_sweep(config, store=_store(ctx), results_dir=out_dir, offline=offline, workers=workers,
                       scheduler=scheduler, chunk_size=chunk_size, metric=metric,
                       echo=lambda m: click.echo(m, err=True))
    click.echo(f"report: {folder / 'report.html'}")


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run the click group and map errors to exit codes."""
    verbose = any(a in ("-v", "--verbose") for a in (argv if argv is not None else sys.argv[1:]))
    try:
        cli.main(args=argv, prog_name="bt", standalone_mode=False)
    except click.exceptions.Abort:
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
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except Exception as exc:  # noqa: BLE001 - last line of defence: a clean message, traceback with -v
        if verbose:
            traceback.print_exc()
        click.echo(f"internal error: {type(exc).__name__}: {exc}\n(run `bt -v ...` for the traceback; "
                   "please report it)", err=True)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
