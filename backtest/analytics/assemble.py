"""All rotation analytics for a run, as a dict of CSV-friendly frames (``analytics/<key>.csv``)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import pandas as pd

from backtest.analytics.concentration import concentration
from backtest.analytics.cross_section import breadth, dispersion
from backtest.analytics.groups import attribution, group_index
from backtest.analytics.pit import cap_coverage, check_membership, index_cap_weights
from backtest.analytics.windows import Since, asset_snapshot, resolve_window, window_label, window_text
from backtest.errors import BacktestError
from backtest.universe import SHARE_CLASSES

#: The default Mag 7 price columns (Alphabet's two share classes both count).
MAG7: tuple[str, ...] = ("AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "GOOG", "META", "TSLA")

#: Label of the point-in-time cap-weighted S&P 500 in the ``concentration`` frame.
INDEX_LABEL = "sp500_cap"


def safe_key(text: str) -> str:
    """A filesystem-safe key: lower case, ``[a-z0-9_-]`` only (``"2026-01-01_2026-06-22"`` stays)."""
    return re.sub(r"[^a-z0-9_-]+", "_", str(text).strip().lower()).strip("_") or "x"


def _period_ends(index: pd.DatetimeIndex, every: str) -> pd.DatetimeIndex:
    """The last trading date of each period (``monthly``/``quarterly``/``yearly``/``daily``) in ``index``."""
    if every == "daily" or len(index) == 0:
        return index
    freq = {"monthly": "M", "quarterly": "Q", "yearly": "Y"}[every]
    labels = index.to_period(freq)
    last = pd.Series(index, index=index).groupby(labels.astype(str).to_numpy()).max()
    return pd.DatetimeIndex(sorted(last.to_numpy()), name="date")


def _funds_note(name: str, held: pd.DataFrame, stocks: Sequence[str], conc: pd.DataFrame) -> list[str]:
    """Say when a portfolio holds funds, which the concentration figures do not look through."""
    funds = [c for c in held.columns if c not in set(stocks) and (held[c].fillna(0) > 0).any()]
    if not funds:
        return []
    share = conc["funds_not_looked_through"].dropna()
    lo, hi = f"{share.min():.0%}", f"{share.max():.0%}"
    return [f"concentration {name}: holds funds not looked through ({', '.join(funds)}; "
            f"{lo if lo == hi else lo + '-' + hi} of the portfolio): each fund counts as one security in the "
            "top-10 share, HHI and effective N, and the stocks inside it (the Mag 7 inside SPY) are not "
            f"counted in the group shares, so these figures understate the portfolio's stock concentration"]


def _membership_last_change(membership: pd.DataFrame) -> pd.Timestamp:
    m = check_membership(membership)
    return max(m["start_date"].max(), m["end_date"].max())


def rotation_analytics(
    prices: pd.DataFrame,
    shares_asof: pd.DataFrame,
    membership: pd.DataFrame,
    *,
    asof: object = None,
    windows: Sequence[Since] = ("ytd", "full"),
    groups: Mapping[str, Sequence[str]] | None = None,
    focus: str = "mag7",
    benchmark: str = "SPY",
    snapshot: Sequence[str] = ("IWM", "AVUV", "VTV", "SPY"),
    full_start: object = None,
    portfolios: Mapping[str, pd.DataFrame] | None = None,
    concentration_every: str = "monthly",
    equal_rebalance: str = "monthly",
) -> dict[str, pd.DataFrame]:
    """Assemble every rotation analytic for ``windows`` as of ``asof``.

    Parameters
    ----------
    prices : DataFrame indexed by trading date, one column per ticker: the S&P 500 members' price columns
        *and* the ETFs (snapshot tickers, ``benchmark``); total-return adjusted closes, NaN where no data.
    shares_asof : DataFrame indexed by date, one column per price column, shares in adjusted-price units.
    membership : point-in-time intervals ``ticker, start_date, end_date, price_column``.
    asof : as-of date (``None`` = last date of ``prices``).
    windows : window specs for :func:`resolve_window`; ``"full"`` starts at ``full_start``.
    groups : ``{name: price columns}``; default ``{"mag7": MAG7}``. ``groups[focus]`` is the group compared
        with the rest of the index and whose dispersion is reported.
    full_start : first date of the ``full`` window (the run's start); default the first date on which any
        member has a price.
    portfolios : optional ``{strategy name: weights held by date}`` (date x ticker) whose concentration is
        reported beside the index's.
    concentration_every : index concentration sampled at the last trading day of each period.

    Returns
    -------
    ``{key: DataFrame}`` with filesystem-safe keys (``w`` = window label, e.g. ``ytd``):
    ``windows`` (window, since, start_date, end_date), ``snapshot_<w>``, ``attribution_<w>``,
    ``dispersion_<w>`` (per member), ``dispersion`` (summary per window), ``breadth_<w>`` (per member),
    ``breadth`` (summary per window), ``<focus>_vs_rest`` (daily, over the longest window),
    ``concentration`` (long: date, portfolio, statistics), ``coverage`` (index members without price or
    shares at each concentration date) and ``notes`` (one line per caveat or skipped window).
    """
    groups = dict(groups) if groups is not None else {"mag7": MAG7}
    if focus not in groups:
        raise BacktestError(f"rotation_analytics: focus {focus!r} is not a group; groups are "
                            f"{', '.join(groups)}")
    focus_cols = list(groups[focus])
    m = check_membership(membership)
    member_cols = [c for c in m["price_column"].dropna().unique() if c in prices.columns]
    stocks = prices[member_cols]
    if full_start is None:
        any_member = stocks.notna().any(axis=1)
        full_start = any_member.index[any_member.to_numpy()][0] if any_member.any() else prices.index[0]
    full_index = prices.index[prices.index >= pd.Timestamp(full_start)]
    notes: list[str] = []
    out: dict[str, pd.DataFrame] = {}
    resolved: list[tuple[str, str, pd.Timestamp, pd.Timestamp]] = []
    for since in windows:
        label = safe_key(window_label(since))
        try:
            idx = full_index if label == "full" else prices.index
            start, end = resolve_window(idx, asof, since)
        except BacktestError as exc:
            notes.append(f"window {label}: skipped: {exc}")
            continue
        resolved.append((label, window_text(since), start, end))
    out["windows"] = pd.DataFrame(resolved, columns=["window", "since", "start_date", "end_date"]
                                  ).set_index("window")
    disp_rows, breadth_rows = [], []
    bench = prices[benchmark] if benchmark in prices.columns else None
    for label, since, start, end in resolved:
        snap = asset_snapshot(prices, list(snapshot), end, (start + pd.Timedelta(days=1), end))
        out[f"snapshot_{label}"] = snap
        for ticker, note in snap["note"].items():
            if note:
                notes.append(f"snapshot {label}: {ticker}: {note}")
        try:
            attr = attribution(prices, shares_asof, m, {focus: focus_cols}, start, end)
            out[f"attribution_{label}"] = attr
            days, weighted = int(attr["days"].iloc[0]), int(attr["days_weighted"].iloc[0])
            if weighted < days:
                notes.append(f"attribution {label}: cap weights exist on {weighted} of {days} trading days "
                             "(shares unknown on the others); the total covers the weighted days only")
        except BacktestError as exc:
            notes.append(f"attribution {label}: skipped: {exc}")
        disp = dispersion(prices, focus_cols, start, end)
        out[f"dispersion_{label}"] = disp.returns
        valid = disp.returns["total_return"].dropna()
        disp_rows.append({
            "window": label, "start_date": start, "end_date": end, "n": len(valid),
            "best": valid.idxmax() if len(valid) else "", "best_return": valid.max() if len(valid) else None,
            "worst": valid.idxmin() if len(valid) else "",
            "worst_return": valid.min() if len(valid) else None,
            "spread": disp.spread, "std": disp.std,
        })
        if bench is None:
            notes.append(f"breadth {label}: skipped: benchmark {benchmark} not in the prices")
            continue
        try:
            b = breadth(prices, m, bench, start, end)
        except BacktestError as exc:
            notes.append(f"breadth {label}: skipped: {exc}")
            continue
        out[f"breadth_{label}"] = b.members
        breadth_rows.append({"window": label, **b.summary()})
        if b.missing:
            notes.append(f"breadth {label}: {len(b.missing)} member(s) without a close on both dates are not "
                         f"counted: {', '.join(b.missing)}")
    out["dispersion"] = pd.DataFrame(disp_rows).set_index("window") if disp_rows else pd.DataFrame()
    out["breadth"] = pd.DataFrame(breadth_rows).set_index("window") if breadth_rows else pd.DataFrame()
    if resolved:
        start = min(r[2] for r in resolved)
        end = max(r[3] for r in resolved)
        out[f"{safe_key(focus)}_vs_rest"] = group_index(prices, shares_asof, m, focus_cols, start, end,
                                                        name=safe_key(focus), equal_rebalance=equal_rebalance)
        dates = _period_ends(full_index[full_index <= end], concentration_every)
        dates = dates.union(pd.DatetimeIndex([end]))
        conc = [concentration(index_cap_weights(stocks, shares_asof, m, dates), groups,
                              share_classes=SHARE_CLASSES, stocks=member_cols).assign(portfolio=INDEX_LABEL)]
        for name, weights in (portfolios or {}).items():
            held = weights.loc[weights.index <= end]
            part = concentration(held, groups, share_classes=SHARE_CLASSES, stocks=member_cols)
            conc.append(part.assign(portfolio=name))
            notes += _funds_note(name, held, member_cols, part)
        frame = pd.concat(conc).reset_index()
        out["concentration"] = frame[["date", "portfolio"] + [c for c in frame.columns
                                                               if c not in ("date", "portfolio")]]
        cov = cap_coverage(stocks, shares_asof, m, dates)
        out["coverage"] = cov
        last = cov.iloc[-1]
        if last["n_capped"] < last["n_members"]:
            notes.append(f"cap weights on {cov.index[-1]:%Y-%m-%d}: {last['n_capped']} of "
                         f"{last['n_members']} members have a price and shares; without price: "
                         f"{last['no_price'] or '-'}; without shares: {last['no_shares'] or '-'}")
        changed = _membership_last_change(m)
        if end > changed:
            notes.append(f"membership intervals record no change after {changed:%Y-%m-%d}; index changes "
                         f"between then and {end:%Y-%m-%d} are not reflected")
    out["notes"] = pd.DataFrame({"note": notes})
    return out
