"""Import the offline market snapshot (``../shared/market-data``) into a PriceStore.

What is imported (see docs/data.md for the reasoning and the limits):

- prices: ``prices_sp500.parquet`` and ``prices_etf.parquet`` (adjusted closes), source
  ``snapshot:<file>``;
- membership: ``sp500_membership_intervals.csv`` (renames resolved through its ``price_column``), completed
  by the newest ``sp500_constituents_<date>.csv`` list: names added after the intervals' last change enter on
  their "Date added"; members absent from that list leave on their ``index-constitution`` opt-out date when
  it falls in the gap, else on the list's date;
- shares in adjusted-price units: ``shares_sp500.parquet`` (float-adjusted, 2025) as ``snapshot:shares_sp500``
  and ``marketcap_snapshots.parquet`` as ``snapshot:marketcap_snapshots`` with
  ``shares = market_cap_usd / adj_close(session)``, where ``session`` is the last NYSE session whose close is
  at or before the snapshot's commit time (a snapshot taken before the open reflects the previous close).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from backtest.calendar import session_closes, sessions_closed_by
from backtest.data.membership import PriceColumnResolver
from backtest.data.store import PriceStore, WriteReport, read_table
from backtest.errors import DataError
from backtest.tickers import normalize_ticker

PRICE_FILES = ("prices_sp500.parquet", "prices_etf.parquet")
INTERVALS_FILE = "sp500_membership_intervals.csv"
UNIVERSE_FILE = "sp500_universe_and_sources.csv"
SHARES_FILE = "shares_sp500.parquet"
CAPS_FILE = "marketcap_snapshots.parquet"
REQUIRED = (*PRICE_FILES, INTERVALS_FILE)

SHARES_SOURCE = "snapshot:shares_sp500"
CAPS_SOURCE = "snapshot:marketcap_snapshots"
MEMBERSHIP_SOURCE = f"snapshot:{INTERVALS_FILE}"

# Listed share classes of one company. Yahoo's snapshot gives each class the whole company's cap.
DUAL_CLASS = (("GOOGL", "GOOG"), ("FOXA", "FOX"), ("NWSA", "NWS"))
SAME_COMPANY_TOLERANCE = 0.02  # two classes' caps (or implied share counts) this close = one company number
# Snapshot symbols that the membership file spells differently (it names a company by a later ticker):
# old ticker -> the ticker or price column the membership file uses for the same company. Each was checked
# for continuity of the implied share count and of Yahoo's raw/adjusted price ratio across the change.
# Deliberately absent: TYC (JCI's Yahoo history is Tyco's; both were members in 2016) and CSC (DXC is a
# different series).
SYMBOL_ALIASES = {
    "PCLN": "BKNG", "DLPH": "APTV", "LUK": "JEF", "WYN": "WYND", "HCN": "WELL", "MHFI": "SPGI", "MHP": "SPGI",
    "CBG": "CBRE", "COH": "TPR", "DPS": "KDP", "ZMH": "ZBH", "NU": "ES", "WAG": "WBA", "ACE": "CB",
    "BHI": "BHGE", "AA": "ARNC", "KFT": "MDLZ", "TSO": "ANDV", "ACT": "AGN",
}
KNOWN_BAD_CAPS = {"BRK-B": "Yahoo's BRK-B cap in this file is wrong or missing (see the snapshot README)"}


@dataclass
class SnapshotReport:
    """What ``import_snapshot`` wrote and what it skipped (the CLI prints ``summary()``)."""

    folder: Path
    prices: dict[str, WriteReport] = field(default_factory=dict)
    membership_rows: int = 0
    membership_notes: list[str] = field(default_factory=list)
    shares_rows: dict[str, int] = field(default_factory=dict)
    class_fractions: dict[str, float] = field(default_factory=dict)
    skipped_caps: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["date", "symbol", "reason"]))
    factors: dict = field(default_factory=dict)    # set -> (rows, first, last), see backtest.data.factors
    sectors: int = 0                                # tickers with a GICS sector, see backtest.data.sectors

    def summary(self) -> str:
        lines = [f"imported the snapshot {self.folder}:"]
        for name, rep in self.prices.items():
            lines.append(f"  prices  {name}: {len(rep.tickers)} tickers, {rep.cells} prices"
                         + (f", {len(rep.rebased)} rebased onto stored series" if rep.rebased else ""))
        lines.append(f"  membership: {self.membership_rows} intervals")
        lines += [f"    note: {n}" for n in self.membership_notes]
        for src, n in self.shares_rows.items():
            lines.append(f"  shares  {src}: {n} observations")
        if self.class_fractions:
            fr = ", ".join(f"{k} {v:.3f}" for k, v in sorted(self.class_fractions.items()))
            lines.append(f"  share-class split of company-wide caps: {fr}")
        if len(self.skipped_caps):
            lines.append(f"  market caps skipped: {len(self.skipped_caps)} rows")
            for reason, n in self.skipped_caps["reason"].value_counts().items():
                lines.append(f"    {n:6d}  {reason}")
        for name, (rows, first, last) in self.factors.items():
            lines.append(f"  factors {name}: {rows} rows, {first:%Y-%m-%d} .. {last:%Y-%m-%d}")
        if self.sectors:
            lines.append(f"  sectors: {self.sectors} tickers with a GICS sector")
        return "\n".join(lines)


TBILL_TICKER = "^IRX-TR"
"""Total-return index of the 13-week T-bill built from the snapshot's yields (``risk_free: irx``)."""
RATES_FILE = "rates_irx_tnx.parquet"


def tbill_index(discount_yield_pct: pd.Series) -> pd.Series:
    """Total-return index (starts at 100) of rolling 13-week T-bills from their discount yield in percent.

    The bank-discount yield d is turned into a bond-equivalent yield ``365 d / (360 - 91 d)``, which accrues
    over the calendar days to the next observation: ``r_t = y_{t-1} * days / 365``. Using yesterday's yield
    keeps the index free of look-ahead.
    """
    d = discount_yield_pct.dropna().astype("float64") / 100.0
    bey = 365.0 * d / (360.0 - 91.0 * d)
    days = d.index.to_series().diff().dt.days.fillna(0.0)
    growth = 1.0 + bey.shift(1).fillna(0.0) * days / 365.0
    return (100.0 * growth.cumprod()).rename(TBILL_TICKER)


def is_snapshot(path) -> bool:
    """True when ``path`` is a folder laid out like ``../shared/market-data``."""
    p = Path(path)
    return p.is_dir() and all((p / f).exists() for f in REQUIRED)


def check_snapshot(path) -> Path:
    """The snapshot folder, checked without writing anything: required files present, price files readable
    Parquet (their schema). Raises DataError naming the file and the fix."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DataError(f"snapshot folder {folder} does not exist; pass the path of ../shared/market-data")
    absent = [f for f in REQUIRED if not (folder / f).exists()]
    if absent:
        raise DataError(f"{folder} is not a market-data snapshot: missing {', '.join(absent)}; pass the "
                        "../shared/market-data folder, or individual CSV/Parquet price files")
    import pyarrow.parquet as pq

    for name in PRICE_FILES:
        try:
            pq.read_schema(folder / name)
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise DataError(f"{folder / name} cannot be read as Parquet ({exc}); restore the snapshot "
                            "file") from None
    return folder


def import_snapshot(store: PriceStore, path) -> SnapshotReport:
    """Import the snapshot folder ``path`` into ``store`` (prices, membership, shares). Idempotent."""
    folder = check_snapshot(path)
    report = SnapshotReport(folder=folder)
    files = {name: read_table(folder / name) for name in PRICE_FILES}
    parts = [(f, f"snapshot:{name}", (f.index.min(), f.index.max())) for name, f in files.items()]
    if (folder / RATES_FILE).exists():
        rates = read_table(folder / RATES_FILE)
        index = tbill_index(rates.iloc[:, 0]).to_frame()
        parts.append((index, f"snapshot:{RATES_FILE} (13-week T-bill index)", (index.index.min(),
                                                                               index.index.max())))
    report.prices = dict(zip([*files, RATES_FILE][:len(parts)], store.write_prices_many(parts)))
    columns = store.tickers()
    membership, notes = snapshot_membership(folder, columns)
    report.membership_rows = store.write_membership(membership, MEMBERSHIP_SOURCE)
    report.membership_notes = notes
    snap_adj = pd.concat(list(files.values()), axis=1, sort=True)
    store_adj = store.prices()
    resolve = PriceColumnResolver(membership, columns, SYMBOL_ALIASES)
    if (folder / SHARES_FILE).exists():
        long = shares_sp500_long(read_table(folder / SHARES_FILE), resolve, snap_adj, store_adj)
        report.shares_rows[SHARES_SOURCE] = store.write_shares(long, SHARES_SOURCE)
    if (folder / CAPS_FILE).exists():
        fractions = class_fractions(store.shares(), [t for pair in DUAL_CLASS for t in pair])
        report.class_fractions = fractions
        caps = pd.read_parquet(folder / CAPS_FILE)
        long, skipped = shares_from_marketcaps(caps, store_adj, resolve, fractions)
        report.shares_rows[CAPS_SOURCE] = store.write_shares(long, CAPS_SOURCE)
        report.skipped_caps = skipped
    from backtest.data.factors import import_factors
    from backtest.data.sectors import import_sectors

    report.factors = import_factors(store, folder)
    report.sectors = import_sectors(store, folder)
    return report


# ------------------------------------------------------------------------------------------ membership
def snapshot_membership(folder: Path, price_columns) -> tuple[pd.DataFrame, list[str]]:
    """The snapshot's S&P 500 intervals, completed by its newest constituents list (module docstring)."""
    have = set(price_columns)
    raw = pd.read_csv(folder / INTERVALS_FILE, dtype=str, keep_default_na=False)
    pc = [normalize_ticker(x) if x.strip() else None for x in raw["price_column"]]
    df = pd.DataFrame({
        "ticker": raw["ticker"].map(normalize_ticker),
        "start_date": pd.to_datetime(raw["start_date"].replace("", None)),
        "end_date": pd.to_datetime(raw["end_date"].replace("", None)),
        "price_column": [p if p in have else None for p in pc],
        "source": MEMBERSHIP_SOURCE,
    })
    notes: list[str] = []
    lists = sorted(folder.glob("sp500_constituents_*.csv"))
    dated = [(pd.Timestamp(m.group(1)), p) for p in lists
             if (m := re.search(r"(\d{4}-\d{2}-\d{2})", p.name))]
    if not dated:
        return df, notes
    list_date, list_path = max(dated)
    last_change = max(df["start_date"].max(), df["end_date"].max())
    cons = pd.read_csv(list_path, dtype=str, keep_default_na=False)
    alias = _universe_aliases(folder)

    def column_of(symbol: str) -> str:
        sym = normalize_ticker(symbol)
        return alias.get(sym, sym)

    listed = {column_of(s): s for s in cons["Symbol"]}
    current = df.loc[df["end_date"].isna()]
    current_cols = set(current["price_column"].fillna(current["ticker"]))
    added = []
    for col, sym in listed.items():
        if col in current_cols:
            continue
        when = pd.to_datetime(cons.loc[cons["Symbol"] == sym, "Date added"].iloc[0], errors="coerce")
        if pd.isna(when) or when <= last_change:
            when = max(when, last_change) if not pd.isna(when) else list_date
        added.append((normalize_ticker(sym), when, pd.NaT, col if col in have else None,
                      f"snapshot:{list_path.name}"))
    removed_on = _ic_opt_out()
    unknown = []
    for i, row in current.iterrows():
        col = row["price_column"] or row["ticker"]
        if col in listed:
            continue
        out = removed_on.get(row["ticker"])
        if out is not None and last_change < out <= list_date:
            df.loc[i, ["end_date", "source"]] = [out, "index-constitution:sp500 (removal date)"]
        else:
            why = f"snapshot:{list_path.name} (removal date unknown)"
            df.loc[i, ["end_date", "source"]] = [list_date, why]
            unknown.append(row["ticker"])
    if added:
        df = pd.concat([df, pd.DataFrame(added, columns=df.columns)], ignore_index=True)
    n_removed = int((df["end_date"].notna() & df["source"].str.contains("removal")).sum())
    notes.append(f"intervals end at {last_change:%Y-%m-%d}; {len(added)} later additions taken from "
                 f"{list_path.name}, {n_removed} later removals dated by index-constitution"
                 + (f" ({len(unknown)} undated, kept to {list_date:%Y-%m-%d}: {', '.join(unknown)})"
                    if unknown else ""))
    return df.sort_values(["ticker", "start_date"], kind="stable").reset_index(drop=True), notes


def _universe_aliases(folder: Path) -> dict[str, str]:
    path = folder / UNIVERSE_FILE
    if not path.exists():
        return {}
    u = pd.read_csv(path, dtype=str, keep_default_na=False)
    return {normalize_ticker(t): normalize_ticker(p) for t, p in zip(u["ticker"], u["price_column"]) if p}


def _ic_opt_out() -> dict[str, pd.Timestamp]:
    try:
        import index_constitution as ic
    except ImportError:  # pragma: no cover - a declared dependency
        return {}
    h = ic.history("sp500").dropna(subset=["opt-out"])
    out: dict[str, pd.Timestamp] = {}
    for s, d in zip(h["symbol"], pd.to_datetime(h["opt-out"])):
        t = normalize_ticker(s)
        out[t] = max(out.get(t, d), d)
    return out


# ------------------------------------------------------------------------------------------ shares
def shares_sp500_long(wide: pd.DataFrame, resolve, snap_adj: pd.DataFrame, store_adj: pd.DataFrame
                      ) -> pd.DataFrame:
    """``shares_sp500.parquet`` (dates x snapshot symbols, in the snapshot's adjusted units) as long rows on
    the store's price columns and adjusted base (rescaled where the store rebased the snapshot's prices)."""
    long = wide.stack().rename("shares").reset_index()
    long.columns = ["date", "symbol", "shares"]
    long["date"] = pd.to_datetime(long["date"]).dt.normalize()
    long["ticker"] = resolve.many(long["symbol"], long["date"])
    long = long.dropna(subset=["ticker"])
    long = long.loc[long["shares"] > 0].drop_duplicates(["date", "ticker"], keep="first")
    a = _lookup(snap_adj, long["date"], long["ticker"])
    b = _lookup(store_adj, long["date"], long["ticker"])
    factor = np.where(np.isfinite(a) & np.isfinite(b), a / b, 1.0)
    long["shares"] = long["shares"].to_numpy() * factor
    return long[["date", "ticker", "shares"]].reset_index(drop=True)


def class_fractions(shares: pd.DataFrame, tickers) -> dict[str, float]:
    """Each listed class's share of its company's float-adjusted shares, averaged over the dates of
    ``snapshot:shares_sp500``; a pair without data there splits half and half."""
    own = shares.loc[shares["source"] == SHARES_SOURCE]
    s = own.pivot_table(index="date", columns="ticker", values="shares")
    out: dict[str, float] = {}
    for a, b in DUAL_CLASS:
        if a in s.columns and b in s.columns:
            both = s[[a, b]].dropna()
            fa = float((both[a] / (both[a] + both[b])).mean()) if len(both) else 0.5
        else:
            fa = 0.5
        out[a], out[b] = fa, 1.0 - fa
    return out


def _lookup(wide: pd.DataFrame, dates, tickers) -> np.ndarray:
    """wide.loc[date, ticker] for aligned sequences; NaN where absent."""
    tickers = list(tickers)
    cols = [c for c in dict.fromkeys(tickers) if c in wide.columns]
    sub = wide[cols]
    ri = sub.index.get_indexer(pd.DatetimeIndex(dates))
    ci = sub.columns.get_indexer(tickers)
    vals = sub.to_numpy(dtype="float64")
    out = np.full(len(ri), np.nan)
    ok = (ri >= 0) & (ci >= 0)
    out[ok] = vals[ri[ok], ci[ok]]
    return out


def snapshot_sessions(dates: pd.Series, commit_times: pd.Series | None) -> pd.DatetimeIndex:
    """The NYSE session whose close a snapshot reflects: the last close at or before the commit time
    (without a commit time: the last session on or before the snapshot date)."""
    sessions = session_closes().index
    d = pd.DatetimeIndex(pd.to_datetime(dates)).normalize()
    by_date = sessions[np.clip(sessions.searchsorted(d, "right") - 1, 0, len(sessions) - 1)]
    if commit_times is None:
        return pd.DatetimeIndex(by_date)
    by_commit = sessions_closed_by(commit_times)
    return pd.DatetimeIndex(np.where(by_commit.isna(), by_date.to_numpy(dtype="datetime64[ns]"),
                                     by_commit.to_numpy(dtype="datetime64[ns]")))


def shares_from_marketcaps(caps: pd.DataFrame, adj: pd.DataFrame, resolve, fractions: dict[str, float]
                           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Shares in adjusted-price units from Yahoo market-cap snapshots: ``cap / adj_close(session)``.

    Dual-class pairs (``DUAL_CLASS``) carry a company-wide cap on each class (``_split_dual_class`` detects
    it); each class then keeps ``fractions[class]`` of it. Returns (long ``date, ticker, shares``, skipped
    ``date, symbol, reason``); the latest snapshot wins when several reflect the same session.
    """
    df = caps.copy()
    df["symbol"] = df["symbol"].astype(str).map(normalize_ticker)
    commit = df["commit_time_utc"] if "commit_time_utc" in df.columns else None
    df["session"] = snapshot_sessions(df["date"], commit)
    df["order"] = pd.to_datetime(commit, utc=True) if commit is not None else pd.to_datetime(df["date"])
    df["cap"] = pd.to_numeric(df["market_cap_usd"], errors="coerce")
    price = pd.to_numeric(df.get("price"), errors="coerce") if "price" in df.columns else np.nan
    df["implied"] = df["cap"] / price
    df["ticker"] = resolve.many(df["symbol"], df["session"])
    df["reason"] = None
    df.loc[df["cap"].isna() | (df["cap"] <= 0), "reason"] = "market cap missing"
    for sym, why in KNOWN_BAD_CAPS.items():
        df.loc[df["symbol"] == sym, "reason"] = why
    df.loc[df["reason"].isna() & df["ticker"].isna(), "reason"] = "no price series in the store"
    df["adj"] = _lookup(adj, df["session"], df["ticker"].fillna(""))
    have = adj.notna()
    first = have.idxmax().where(have.any())
    last = have[::-1].idxmax().where(have.any())
    tick = df["ticker"].fillna("")
    df["first"] = pd.to_datetime(tick.map(first))
    df["last"] = pd.to_datetime(tick.map(last))
    open_ = df["reason"].isna()
    df.loc[open_ & (df["session"] < df["first"]), "reason"] = "before the ticker's price history"
    df.loc[df["reason"].isna() & (df["session"] > df["last"]), "reason"] = "after the ticker's price history"
    df.loc[df["reason"].isna() & df["adj"].isna(), "reason"] = "no adjusted close on that session"
    _split_dual_class(df, fractions)
    ok = df["reason"].isna()
    good = df.loc[ok].sort_values("order").drop_duplicates(["session", "ticker"], keep="last")
    long = pd.DataFrame({"date": good["session"].to_numpy(), "ticker": good["ticker"].to_numpy(),
                         "shares": (good["cap"] / good["adj"]).to_numpy()})
    skipped = df.loc[~ok, ["date", "symbol", "reason"]].reset_index(drop=True)
    return long.sort_values(["ticker", "date"]).reset_index(drop=True), skipped


def _within(a: pd.Series, b: pd.Series) -> pd.Series:
    return ((a / b) - 1.0).abs() <= SAME_COMPANY_TOLERANCE


def _split_dual_class(df: pd.DataFrame, fractions: dict[str, float]) -> None:
    """Scale the caps of dual-class rows in place (see ``shares_from_marketcaps``).

    Yahoo reports a company-wide number on each class in one of two ways: the same cap on both, or the
    total share count times each class's price. A date where the two classes agree on either (within
    ``SAME_COMPANY_TOLERANCE``), or where only one class is listed, is company-wide; other dates are taken
    as per-class numbers and kept."""
    for a, b in DUAL_CLASS:
        rows = df["symbol"].isin([a, b]) & df["cap"].notna()
        if not rows.any():
            continue
        sub = df.loc[rows, ["date", "symbol", "cap", "implied"]]
        cap = sub.pivot_table(index="date", columns="symbol", values="cap", aggfunc="first",
                              dropna=False).reindex(columns=[a, b])
        imp = sub.pivot_table(index="date", columns="symbol", values="implied", aggfunc="first",
                              dropna=False).reindex(index=cap.index, columns=[a, b])
        both = cap[a].notna() & cap[b].notna()
        per_class = both & ~(_within(cap[a], cap[b]) | _within(imp[a], imp[b]))
        keep = sub["date"].map(per_class).fillna(False).to_numpy(dtype=bool)
        scale = np.where(keep, 1.0, sub["symbol"].map(fractions).fillna(0.5).to_numpy(dtype="float64"))
        df.loc[rows, "cap"] = df.loc[rows, "cap"].to_numpy() * scale
