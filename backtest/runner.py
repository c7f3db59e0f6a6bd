"""One run, end to end: config -> universe -> prices -> target weights -> simulation -> results folder.

Everything the CLI does is callable from here in a notebook::

    from backtest.runner import run_config
    folder = run_config("configs/rotation.yaml", offline=True)
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .data.snapshot import TBILL_TICKER
from .errors import DataError

LOOKBACK_DAYS = 400     # price history read before `start` if stored (trailing analytics windows, splices)
FETCH_LOOKBACK_DAYS = 10   # downloaded before `start`: the last close before the first day


@dataclass
class Inputs:
    """Market data for one run, loaded once. Frames indexed by trading date, one column per ticker."""

    prices: pd.DataFrame                 # adjusted closes from start - LOOKBACK_DAYS to end (not ffilled)
    calendar: pd.DatetimeIndex           # the run's trading days (benchmark has a price)
    membership: pd.DataFrame | None      # intervals; None when no strategy needs an index
    shares: pd.DataFrame | None          # long date, ticker, shares, source; None when no cap weighting
    warnings: list[str] = field(default_factory=list)
    shares_daily: object = None          # SharesAsOf on every date of `prices` (from `shares`), or None


def _needs_index(cfg) -> bool:
    return any(s.universe is not None and s.universe.index for s in cfg.strategies)


def required_tickers(cfg, members: set[str]) -> list[str]:
    """Every ticker the run reads: benchmark, explicit tickers, groups, proxies, and `members` (the index
    members in the run's period, see `members_in_range`)."""
    names = {cfg.benchmark}
    groups = dict(cfg.groups)
    for s in cfg.strategies:
        if s.weights:
            names |= set(dict(s.weights))
        names |= {t for pair in s.proxies for t in pair}
        if s.cash_yield not in ("risk_free", "none"):
            names.add(s.cash_yield)
        if s.universe is not None:
            for t in (*s.universe.tickers, *s.universe.exclude):
                names |= set(groups.get(t, (t,)))
        if s.tilt is not None:
            names |= set(groups.get(s.tilt.group, ()))
    if cfg.risk_free is not None:
        names.add(TBILL_TICKER if cfg.risk_free == "irx" else cfg.risk_free)
    if cfg.analytics is not None:
        names |= set(cfg.analytics.snapshot)
    return sorted(names | members)


def members_in_range(membership: pd.DataFrame, start, end) -> list[str]:
    """Price columns of every index member whose membership overlaps [start, end]."""
    s = pd.Timestamp(start)
    e = pd.Timestamp(end) if end is not None else pd.Timestamp.max
    m = membership
    live = (m["start_date"] <= e) & (m["end_date"].isna() | (m["end_date"] > s))
    return sorted(m.loc[live, "price_column"].dropna().unique())


def load_inputs(cfg, store, *, offline: bool, echo: Callable[[str], None] = lambda m: None) -> Inputs:
    """Read (and, unless offline, fetch) everything the run needs; validate the period against the data."""
    from .universe import load_membership

    warnings: list[str] = []
    membership = load_membership(store, cfg.membership_source) if _needs_index(cfg) else None
    members = set(members_in_range(membership, cfg.start, cfg.end)) if membership is not None else set()
    tickers = required_tickers(cfg, members)
    if not offline:
        from .data.yahoo import fetch_prices

        online = [t for t in tickers if t != TBILL_TICKER]     # built from the snapshot, not on Yahoo
        report = fetch_prices(store, online, cfg.start - pd.Timedelta(days=FETCH_LOOKBACK_DAYS), cfg.end)
        warnings += list(getattr(report, "warnings", []))
    start = cfg.start - pd.Timedelta(days=LOOKBACK_DAYS)
    prices = store.prices(tickers, start=start, end=cfg.end)
    missing = sorted(set(tickers) - set(prices.columns[prices.notna().any()]))
    everything = store.prices([cfg.benchmark])
    full = everything[cfg.benchmark].dropna() if cfg.benchmark in everything.columns else pd.Series(dtype=float)
    if full.empty:
        raise DataError(f"benchmark: no prices for {cfg.benchmark!r} in the store; fix: `bt data import "
                        f"../shared/market-data` or run without --offline to download it")
    bench = full.loc[cfg.start:cfg.end] if cfg.end is not None else full.loc[cfg.start:]
    calendar = bench.index
    if len(calendar) < 2:
        raise DataError(f"start/end: the period {cfg.start:%Y-%m-%d} .. "
                        f"{'latest' if cfg.end is None else format(cfg.end, '%Y-%m-%d')} is outside the data: "
                        f"{cfg.benchmark} has prices from {full.index[0]:%Y-%m-%d} to {full.index[-1]:%Y-%m-%d};"
                        f" fix: choose dates inside that range")
    if cfg.end is not None and calendar[-1] < cfg.end - pd.Timedelta(days=5):
        warnings.append(f"end {cfg.end:%Y-%m-%d} is after the last price ({calendar[-1]:%Y-%m-%d}); "
                        f"the run stops there")
    explicit = _explicit_tickers(cfg)
    hard_missing = sorted(set(missing) & explicit)
    if hard_missing:
        absent = set(store.missing(hard_missing))
        period = f"{start:%Y-%m-%d} .. {calendar[-1]:%Y-%m-%d}"
        named = [f"{t} ({'not in the store' if t in absent else f'no price in {period}'})"
                 for t in hard_missing]
        raise DataError(f"no prices for {', '.join(named)}, named in the config; fix: check the spelling, "
                        f"choose dates its prices cover, `bt data import FILE`, or run without --offline")
    gone = [t for t in missing if t in members]
    if gone:
        warnings.append(f"{len(gone)} index member(s) have no price series at all and are left out "
                        f"(survivorship gap in the data): {', '.join(gone)}")
    unused = set() if _has_analytics(cfg) else _analytics_only(cfg)    # snapshot tickers of analytics not run
    others = [t for t in missing if t not in members and t not in unused]
    if others:
        warnings.append(f"{len(others)} ticker(s) named through groups or analytics.snapshot have no price "
                        f"series and are left out: {', '.join(others)}")
    shares = store.shares() if any(s.weighting == "cap" for s in cfg.strategies) else None
    prices = prices.reindex(prices.index.union(calendar)).loc[:calendar[-1]]
    return Inputs(prices=prices, calendar=calendar, membership=membership, shares=shares, warnings=warnings,
                  shares_daily=daily_shares(shares, prices) if shares is not None else None)


def daily_shares(shares: pd.DataFrame, prices: pd.DataFrame):
    """`marketcap.shares_asof` on every date and column of `prices`, computed once for the weights and the
    analytics. Each frame is stored as a single block: per-date row reads and whole-frame arithmetic on the
    pivoted frame (one block per ticker run) are several times slower."""
    from .marketcap import SharesAsOf, shares_asof

    daily = shares_asof(shares, prices.index, list(prices.columns))
    return SharesAsOf(*(pd.DataFrame(f.to_numpy(), index=f.index, columns=f.columns) for f in daily))


def _has_analytics(cfg) -> bool:
    """Whether the run computes rotation analytics (they need an index universe and cap weights)."""
    return (cfg.analytics is not None and _needs_index(cfg)
            and any(s.weighting == "cap" for s in cfg.strategies))


def _analytics_only(cfg) -> set[str]:
    return set(cfg.analytics.snapshot) if cfg.analytics is not None else set()


def _explicit_tickers(cfg) -> set[str]:
    """Tickers the config names directly (not through an index or a group): each must have prices."""
    names = {cfg.benchmark}
    groups = dict(cfg.groups)
    for s in cfg.strategies:
        if s.weights:
            names |= set(dict(s.weights))
        if s.universe is not None:
            names |= {t for t in s.universe.tickers if t not in groups}
        names |= {p for _, p in s.proxies}
        if s.cash_yield not in ("risk_free", "none"):
            names.add(s.cash_yield)
    if cfg.risk_free is not None and cfg.risk_free != "irx":
        names.add(cfg.risk_free)
    return names


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("bt-rotation-backtester", "vectorbt", "numba", "pandas", "numpy", "pyarrow", "yfinance",
                 "plotly", "index-constitution", "PyYAML", "click"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def run_config(config_path, *, store=None, results_dir=Path("results"), offline: bool = False,
               start: str | None = None, end: str | None = None,
               echo: Callable[[str], None] = lambda m: None) -> Path:
    """Load, validate, run and save. Returns the run folder."""
    from .config import apply_overrides, load_config
    from .data.store import PriceStore, default_store_dir
    from .results import write_run

    t0 = time.perf_counter()
    cfg = load_config(Path(config_path))
    cfg = apply_overrides(cfg, start=start, end=end)
    results_dir = Path(results_dir)
    created = [d for d in (results_dir, *results_dir.parents) if not d.exists()]
    results_dir = _check_results_dir(results_dir)
    try:
        store = store if store is not None else PriceStore(default_store_dir())
        result = run_backtest(cfg, store, offline=offline, echo=echo, t0=t0)
        return write_run(result, results_dir)
    except BaseException:
        for d in created:  # a failed run leaves nothing behind, not even the empty folders it made
            try:
                d.rmdir()
            except OSError:
                break
        raise


def _check_results_dir(path: Path) -> Path:
    from .errors import UsageError

    if path.exists() and not path.is_dir():
        what = "a file" if path.is_file() else "not a folder"
        raise UsageError(f"--out: {path} is {what}, expected a folder; fix: pass a folder path")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{np.random.randint(1 << 30)}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"--out: cannot write to {path} ({exc.strerror}); fix: choose a writable folder")
    return path


def run_backtest(cfg, store, *, offline: bool = False, echo: Callable[[str], None] = lambda m: None,
                 t0: float | None = None):
    """Run a validated `RunConfig` against `store`; returns a `RunResult` (nothing written)."""
    from .config import config_to_dict
    from .engine import simulate
    from .plans import build_plans
    from .results import RunResult, StrategyResult

    t0 = t0 if t0 is not None else time.perf_counter()
    timings: dict[str, float] = {}
    echo(f"loading data for {cfg.name!r} ...")
    inputs = load_inputs(cfg, store, offline=offline, echo=echo)
    timings["load"] = time.perf_counter() - t0
    built = build_plans(cfg, inputs)
    timings["weights"] = time.perf_counter() - t0 - timings["load"]
    echo(f"simulating {len(built.plans)} strateg{'y' if len(built.plans) == 1 else 'ies'} on "
         f"{len(inputs.calendar)} days ...")
    sims = simulate(built.prices, built.plans, capital=cfg.capital, fill=cfg.fill)
    timings["simulate"] = time.perf_counter() - t0 - sum(timings.values())
    bench = inputs.prices[cfg.benchmark].loc[inputs.calendar]
    benchmark = cfg.capital * bench / bench.iloc[0]
    strategies = tuple(
        StrategyResult(name=name, equity=sim.equity, targets=built.plans[name].targets, holdings=sim.holdings,
                       trades=sim.trades, fees=sim.fees, turnover=sim.turnover,
                       notes=tuple(built.notes.get(name, ())) + sim.notes)
        for name, sim in sims.items())
    analytics = dict(built.tables)
    analytics["idle_cash"] = idle_cash_table(sims, built)
    quality = data_quality_table(built, sims, cfg.data_gaps)
    if not quality.empty:
        analytics["data_quality"] = quality
    analytics.update(_rotation_analytics(cfg, inputs, sims, echo))
    warnings = inputs.warnings + gap_warnings(built.prices) + [n for s in strategies for n in s.notes]
    manifest = {
        "name": cfg.name,
        "config_path": str(cfg.source_path) if cfg.source_path else None,
        "period": {"start": f"{inputs.calendar[0]:%Y-%m-%d}", "end": f"{inputs.calendar[-1]:%Y-%m-%d}",
                   "trading_days": int(len(inputs.calendar))},
        "fill": cfg.fill,
        "offline": offline,
        "membership_source": cfg.membership_source if inputs.membership is not None else None,
        "data": _coverage(store, built.prices, inputs.calendar),
        "warnings": warnings,
        "versions": package_versions(),
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
    }
    return RunResult(name=cfg.name, config=config_to_dict(cfg), strategies=strategies,
                     benchmark_name=cfg.benchmark, benchmark=benchmark,
                     risk_free=_risk_free(cfg, inputs), manifest=manifest, analytics=analytics)


def gap_warnings(prices: pd.DataFrame) -> list[str]:
    """Name the traded tickers with no price on some trading days inside their history (gaps in the data).

    `prices`: run calendar x traded columns, NaN where the store has no price. The engine values a holding
    at its last close across such a gap; the store never fills it, and this says where it happened."""
    values = prices.to_numpy()
    real = ~np.isnan(values)
    started = np.maximum.accumulate(real, axis=0)
    ongoing = np.maximum.accumulate(real[::-1], axis=0)[::-1]
    holes = started & ongoing & ~real
    cols = np.flatnonzero(holes.any(axis=0))
    if not len(cols):
        return []
    listed = []
    for j in cols[:30]:
        days = prices.index[holes[:, j]]
        listed.append(f"{prices.columns[j]} ({len(days)} day{'s' if len(days) > 1 else ''}, "
                      f"{days[0]:%Y-%m-%d}{f' .. {days[-1]:%Y-%m-%d}' if len(days) > 1 else ''})")
    return [f"{len(cols)} traded ticker(s) have no price on some trading days inside their history (gaps in "
            f"the data); holdings are valued at their last close there and no order fills on those days: "
            f"{', '.join(listed)}{' ...' if len(cols) > 30 else ''}"]


def idle_cash_table(sims, built) -> pd.DataFrame:
    """Per strategy: what idle cash earns, how much sat idle (share of value) and for how long, and what it
    earned. Cash of every origin: before the first trade, unallocated targets, sale proceeds, unpriced names."""
    rows = []
    for name, sim in sims.items():
        share = (sim.cash / sim.equity).clip(lower=0.0)
        over = (share > 0.01).to_numpy()
        spell = longest = 0
        for flag in over:
            spell = spell + 1 if flag else 0
            longest = max(longest, spell)
        rate = built.plans[name].cash_rate
        earned = float((sim.cash.shift(1) * rate.reindex(sim.cash.index)).sum()) if rate is not None else 0.0
        rows.append({"strategy": name, "earns": built.cash_sources.get(name, ""),
                     "mean_cash_share": float(share.mean()), "max_cash_share": float(share.max()),
                     "max_on": share.idxmax(), "days_over_1pct": int(over.sum()),
                     "longest_spell_days": int(longest), "interest_earned": earned})
    return pd.DataFrame(rows).set_index("strategy")


def data_quality_table(built, sims, policy: str) -> pd.DataFrame:
    """One row per traded ticker whose prices end inside the run: DATA GAP (still an index member the next
    trading day) or delisting/removal, its last price, the largest weight any strategy held on that day,
    who held it and what the run did. The weight is the one held at the close before the last price."""
    ended = built.gaps if built.gaps is not None else pd.DataFrame()
    rows = []
    for t, g in ended.iterrows():
        held = {n: float(s.holdings[t].shift(1).loc[g["last_price"]]) for n, s in sims.items()   # going in
                if t in s.holdings.columns and g["last_price"] in s.holdings.index}
        held = {n: w for n, w in held.items() if w > 0}
        targeted = [n for n, p in built.plans.items() if t in p.targets.columns and (p.targets[t] > 0).any()]
        if not targeted:
            continue
        member = None if pd.isna(g["member_after"]) else bool(g["member_after"])
        gap = member is True
        rows.append({"ticker": t,
                     "issue": "DATA GAP: prices end while an index member" if gap else
                              ("prices end after leaving the index" if member is False
                               else "prices end (no membership data)"),
                     "last_price": g["last_price"],
                     "member_next_day": {True: "yes", False: "no"}.get(member, "unknown"),
                     "held_weight_max": max(held.values()) if held else 0.0,
                     "held_by": ", ".join(sorted(held)),
                     "action": (f"data_gaps: {policy}" if gap else "sold at the last close")})
    cols = ["ticker", "issue", "last_price", "member_next_day", "held_weight_max", "held_by", "action"]
    return pd.DataFrame(rows, columns=cols).set_index("ticker")


def _rotation_analytics(cfg, inputs: Inputs, sims, echo) -> dict[str, pd.DataFrame]:
    if cfg.analytics is None or inputs.membership is None or inputs.shares is None:
        return {}
    from .analytics import rotation_analytics

    echo("computing rotation analytics ...")
    a = cfg.analytics
    daily = inputs.shares_daily if inputs.shares_daily is not None else daily_shares(inputs.shares, inputs.prices)
    shares = daily.shares
    return rotation_analytics(inputs.prices, shares, inputs.membership,
                              asof=a.asof if a.asof is not None else inputs.calendar[-1], windows=a.windows,
                              groups=dict(cfg.groups), benchmark=cfg.benchmark, snapshot=a.snapshot,
                              full_start=inputs.calendar[0],
                              portfolios={name: sim.holdings for name, sim in sims.items()})


def _risk_free(cfg, inputs: Inputs) -> pd.Series | None:
    """Daily simple risk-free returns on the run calendar, or None for a zero rate."""
    if cfg.risk_free is None:
        return None
    from .plans import cash_returns, risk_free_ticker

    cal = inputs.calendar
    ticker = risk_free_ticker(cfg)
    px = inputs.prices[ticker] if ticker in inputs.prices.columns else pd.Series(np.nan, index=cal)
    if px.reindex(cal).isna().all():
        raise DataError(f"risk_free: no prices for {ticker} in the run's period; fix: `bt data import "
                        f"../shared/market-data` (it builds {TBILL_TICKER} from the T-bill yield) or use a cash "
                        f"ETF such as risk_free: BIL")
    return cash_returns(inputs.prices, ticker, cal).rename(None)


def _coverage(store, prices: pd.DataFrame, calendar: pd.DatetimeIndex) -> dict:
    """Per ticker used: first/last price date inside the run and the store's source."""
    window = prices.loc[calendar[0]:calendar[-1]]
    priced = window.notna().to_numpy()
    days = np.datetime_as_string(window.index.to_numpy().astype("datetime64[D]"), unit="D")
    has = priced.any(axis=0)
    firsts = np.where(has, days[np.argmax(priced, axis=0)], None) if len(days) else [None] * len(has)
    lasts = np.where(has, days[len(days) - 1 - np.argmax(priced[::-1], axis=0)], None) if len(days) else firsts
    try:
        cat = store.catalog()
        src = cat.groupby("ticker")["source"].agg(lambda s: ", ".join(sorted(set(map(str, s)))))
    except Exception:  # noqa: BLE001 - coverage is informative; a store without a catalog still runs
        src = pd.Series(dtype=str)
    out = {}
    for t, first, last in zip(window.columns, firsts, lasts):
        out[t] = {"first": first, "last": last, "source": src.get(t.split("<")[0], "unknown")}
    return out


def snapshot_table(store, tickers: list[str], *, asof: str | None, since: str) -> str:
    """Text table of total returns of `tickers` over a window ending at `asof` (for `bt snapshot`)."""
    from .analytics import asset_snapshot, format_snapshot

    prices = store.prices(tickers)
    missing = [t for t in tickers if t not in prices.columns or prices[t].dropna().empty]
    if len(missing) == len(tickers):
        raise DataError(f"no prices in the store for {', '.join(missing)}; fix: `bt data import "
                        f"../shared/market-data` or `bt data fetch {' '.join(missing)}`")
    when = pd.Timestamp(asof) if asof else prices.dropna(how="all").index[-1]
    return format_snapshot(asset_snapshot(prices, tickers, when, since))
