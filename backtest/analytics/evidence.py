"""The evidence section of a run: factor regressions and robustness for every strategy (pure).

``run_evidence(equity, benchmark, ...)`` returns ``(summary, tables)``: ``summary`` is the ``evidence`` entry
of metrics.json, ``tables`` the frames saved as ``analytics/evidence_*.csv`` and drawn by
`backtest.report.evidence_section`. See docs/evidence.md for how to read each figure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from backtest import metrics as M
from backtest.analytics.factors import FF3, FF5_MOM, monthly_returns, regress, rolling_loadings
from backtest.analytics.robustness import (
    STRESS_PERIODS,
    block_bootstrap,
    block_starts,
    rolling_excess,
    rolling_summary,
    stress_table,
)

#: (factor set in the store, regressors, frequency label, periods per year)
MODELS = (("ff3_daily", FF3, "daily", 252), ("ff5_mom_monthly", FF5_MOM, "monthly", 12))
PREFIX = "evidence_"


def _factor_rows(name: str, r_daily: pd.Series, b_daily: pd.Series | None, factors: Mapping) -> list[dict]:
    rows = []
    for key, names, freq, ppy in MODELS:
        f = factors.get(key)
        if f is None:
            continue
        monthly = freq == "monthly"
        r = monthly_returns(r_daily) if monthly else r_daily.iloc[1:]
        kinds = [("total", r, True)]
        if b_daily is not None:
            b = monthly_returns(b_daily) if monthly else b_daily.iloc[1:]
            kinds.append(("active", (r - b).dropna(), False))
        for kind, y, excess in kinds:
            res = regress(y, f, names=names, excess=excess, periods_per_year=ppy, monthly=monthly)
            rows.append({"strategy": name, "model": key, "kind": kind, **res})
    return rows


def run_evidence(equity: Mapping[str, pd.Series], benchmark: pd.Series, *, benchmark_name: str,
                 risk_free: pd.Series | None, factors: Mapping[str, pd.DataFrame | None], spec,
                 holdings: Mapping[str, pd.DataFrame] | None = None, prices: pd.DataFrame | None = None,
                 groups: Mapping[str, Sequence[str]] | None = None, sectors: pd.Series | None = None,
                 index_weights: pd.DataFrame | None = None, capital: float | None = None) -> tuple[dict, dict]:
    """Factor regressions, rolling excess returns, stress table and bootstrap intervals of every strategy.

    Parameters
    ----------
    equity : strategy name -> daily portfolio value (Series indexed by trading date).
    benchmark : the benchmark's daily value on the same dates.
    risk_free : daily simple risk-free returns (metrics.json's), used by the bootstrap's Sharpe; the factor
        regressions use the factor files' own RF.
    factors : ``{"ff3_daily": frame | None, "ff5_mom_monthly": frame | None}`` (`backtest.data.factors`).
    spec : `backtest.config.evidence.Evidence`.
    holdings, prices : strategy name -> end-of-day weights held (date x ticker), and the traded prices
        (date x ticker, adjusted closes): for the risk decomposition (skipped when absent).
    groups : group name -> tickers (the config's ``groups``); ``sectors``: ticker -> GICS sector.
    index_weights : the point-in-time cap-weighted S&P 500's weights at month ends (date x ticker), for the
        Brinson-Fachler attribution of stock strategies (``prices`` must hold the members' closes).
    capital : the run's starting capital: returns are measured from it, as metrics.json's are (the opening
        fees count); None measures from the first value.
    """
    notes: list[str] = []
    bench = M.simple_returns(benchmark, capital)
    returns = {n: M.simple_returns(e, capital) for n, e in equity.items()}
    idx = bench.index
    tables: dict[str, pd.DataFrame] = {}
    summary: dict = {"strategies": {n: {} for n in returns}, "benchmark": {}, "factor_data": {}}
    # ---- factor regressions
    if spec.factors:
        avail = {k: v for k, v in factors.items() if v is not None and len(v)}
        for key, *_ in MODELS:
            f = avail.get(key)
            if f is None:
                notes.append(f"factor set {key} is not in the store; fix: `bt data import ../shared/market-data`")
                continue
            summary["factor_data"][key] = {"first": f.index[0], "last": f.index[-1]}
            if f.index[-1] < idx[-1] - pd.Timedelta(days=31 if key.endswith("monthly") else 3):
                notes.append(f"{key}: the factor data end on {f.index[-1]:%Y-%m-%d}, before the run's end "
                             f"({idx[-1]:%Y-%m-%d}); its regressions cover the run only up to that date")
        rows = _factor_rows(benchmark_name, bench, None, avail)
        for name, r in returns.items():
            rows += _factor_rows(name, r, bench, avail)
        if rows:
            frame = pd.DataFrame(rows)
            frame.index = pd.RangeIndex(len(frame), name="row")
            tables[PREFIX + "factors"] = frame
            for row in rows:
                target = (summary["benchmark"] if row["strategy"] == benchmark_name and row["kind"] == "total"
                          and row["strategy"] not in returns else summary["strategies"].get(row["strategy"]))
                if target is not None:
                    target.setdefault("factors", {})[f"{row['model']}_{row['kind']}"] = {
                        k: v for k, v in row.items() if k not in ("strategy", "model", "kind")}
        ff5 = avail.get("ff5_mom_monthly")
        if ff5 is not None:
            rolls = {}
            for name, r in returns.items():
                load = rolling_loadings(monthly_returns(r), ff5, window=spec.rolling_loadings)
                for col in load.columns:
                    rolls[f"{name}|{col}"] = load[col]
            if rolls:
                tables[PREFIX + "rolling_loadings"] = pd.DataFrame(rolls).rename_axis("date")
    # ---- risk decomposition
    if holdings and prices is not None:
        _risk(summary, tables, notes, holdings, prices, groups or {}, sectors, spec)
    if holdings and prices is not None and index_weights is not None and sectors is not None:
        _attribution(summary, tables, notes, equity, holdings, prices, sectors, index_weights, capital)
    # ---- robustness
    stress = spec.stress if spec.stress is not None else STRESS_PERIODS
    b = spec.bootstrap
    draws = None
    if len(idx) - 1 >= 2 * b.block:
        draws = block_starts(len(idx) - 1, samples=b.samples, block=b.block, seed=b.seed)
    else:
        notes.append(f"bootstrap: the run has {len(idx) - 1} daily returns, fewer than two blocks of {b.block}; "
                     "no confidence intervals")
    roll_cols, roll_rows, stress_rows, boot_rows = {}, [], [], []
    for name, r in returns.items():
        s = summary["strategies"][name]
        roll = rolling_excess(r, bench, spec.rolling_years)
        for col in roll.columns:
            roll_cols[f"{name}|{col}"] = roll[col]
        summ = rolling_summary(roll)
        s["rolling_excess"] = {h: row.to_dict() for h, row in summ.iterrows()}
        roll_rows += [{"strategy": name, "horizon": h, **row.to_dict()} for h, row in summ.iterrows()]
        st = stress_table(r, bench, stress)
        s["stress"] = {p: row.to_dict() for p, row in st.iterrows()}
        stress_rows += [{"strategy": name, "period": p, **row.to_dict()} for p, row in st.iterrows()]
        if draws is not None:
            bs = block_bootstrap(r, bench, risk_free, samples=b.samples, block=b.block, seed=b.seed,
                                 confidence=b.confidence, starts=draws)
            s["bootstrap"] = {m: row.to_dict() for m, row in bs.iterrows()}
            boot_rows += [{"strategy": name, "metric": m, **row.to_dict()} for m, row in bs.iterrows()]
    for key, rows in (("rolling_summary", roll_rows), ("stress", stress_rows), ("bootstrap", boot_rows)):
        if rows:
            frame = pd.DataFrame(rows)
            frame.index = pd.RangeIndex(len(frame), name="row")
            tables[PREFIX + key] = frame
    if roll_cols:
        tables[PREFIX + "rolling_excess"] = pd.DataFrame(roll_cols).rename_axis("date").dropna(how="all")
    summary["settings"] = {"bootstrap": {"samples": b.samples, "block": b.block, "seed": b.seed,
                                         "confidence": b.confidence},
                           "rolling_years": list(spec.rolling_years), "rolling_loadings": spec.rolling_loadings,
                           "stress": [[n, pd.Timestamp(s), pd.Timestamp(e)] for n, s, e in stress]}
    outside = [n for n, s, e in stress if pd.Timestamp(e) < idx[0] or pd.Timestamp(s) > idx[-1]]
    if outside:
        notes.append(f"stress periods outside the run's dates (no figures): {', '.join(outside)}")
    summary["notes"] = notes
    tables[PREFIX + "notes"] = pd.DataFrame({"note": notes or [""]}).rename_axis("row")
    return summary, tables


def preload() -> None:
    """Import what `run_evidence` imports on first use (statsmodels' OLS and RollingOLS, which import
    scipy.stats; the risk and attribution modules): `bt run`'s evidence worker does it while the run loads
    its data (`backtest.runner.evidence_worker`)."""
    import statsmodels.regression.linear_model  # noqa: F401
    import statsmodels.regression.rolling  # noqa: F401

    import backtest.analytics.brinson  # noqa: F401
    import backtest.analytics.risk  # noqa: F401


def preload_sweep() -> None:
    """Import what `run_sweep_evidence` imports on first use (scipy.stats, the overfitting and walk-forward
    modules; ~1 CPU s): `bt sweep`'s evidence worker does it while the sweep loads and simulates
    (`backtest.sweep`)."""
    import backtest.analytics.overfitting  # noqa: F401
    import backtest.analytics.walkforward  # noqa: F401


def is_evidence_key(key: str) -> bool:
    return str(key).replace("-", "_").startswith(PREFIX)


def finite(x) -> float:
    """``x`` as a float, NaN when it is not a finite number (reading CSV and JSON values back)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v if math.isfinite(v) else math.nan


NO_SECTOR = "No sector (ETF or former member)"


def _risk(summary, tables, notes, holdings, prices, groups, sectors, spec) -> None:
    from backtest.analytics.risk import month_ends, risk_shares

    window = 252
    held_cols = sorted({c for h in holdings.values() if h is not None for c in h.columns} & set(prices.columns))
    rets = prices[held_cols].pct_change(fill_method=None)
    labels = {"group": {}}
    for g, members in groups.items():
        for t in members:
            labels["group"].setdefault(t, g)
    other = {"group": "rest", "sector": NO_SECTOR}
    if sectors is not None:
        labels["sector"] = sectors.to_dict()
    else:
        notes.append("sectors are not in the store: no risk by sector; fix: `bt data import ../shared/market-data`")
    frames = []
    for name, held in holdings.items():
        if held is None or held.empty:
            continue
        dates = month_ends(held.index, start_after=window)
        shares = risk_shares(held, rets.reindex(columns=held.columns), labels, dates, window=window, other=other)
        if shares.empty:
            continue
        frames.append(shares.assign(strategy=name))
        s = summary["strategies"].setdefault(name, {})
        last = shares.loc[shares["date"] == shares["date"].max()]
        mean = shares.groupby(["grouping", "group"])[["weight", "risk"]].sum() / shares["date"].nunique()
        s["risk"] = {"asof": shares["date"].max(), "window_days": window,
                     **{kind: {g: {"weight": r["weight"], "risk": r["risk"],
                                   "average_weight": mean.loc[(kind, g), "weight"],
                                   "average_risk": mean.loc[(kind, g), "risk"]}
                               for g, r in last.loc[last["grouping"] == kind].set_index("group").iterrows()}
                        for kind in labels}}
    if frames:
        frame = pd.concat(frames, ignore_index=True)[["date", "strategy", "grouping", "group", "weight", "risk"]]
        frame.index = pd.RangeIndex(len(frame), name="row")
        tables[PREFIX + "risk"] = frame
        if sectors is not None:
            notes.append("sectors: today's GICS classification (snapshot universe file) applied to every date; "
                         f"former members and ETFs are shown as '{NO_SECTOR}'")


def _attribution(summary, tables, notes, equity, holdings, prices, sectors, index_weights,
                 capital: float | None = None) -> None:
    from backtest.analytics.brinson import EFFECTS, brinson_fachler

    ends = index_weights.index
    secs = sectors.to_dict()
    linked_rows, period_rows = [], []
    for name, held in holdings.items():
        if held is None or held.empty or len(ends) < 2:
            continue
        sample = held.reindex(ends).fillna(0.0)
        net = float(sample.sum(axis=1).mean())
        if net < 0.5:       # allocation against a fully invested index needs a mostly long book (130/30 is)
            notes.append(f"attribution: {name} has a net exposure of {net:.0%} on average (a long/short "
                         "book); no sector attribution against the fully invested index")
            continue
        gross = sample.abs()
        invested = gross.sum(axis=1)
        classified = gross[[c for c in sample.columns if str(c).split("~")[0] in secs]].sum(axis=1)
        if float(classified.sum()) < 0.5 * float(invested.sum()):
            notes.append(f"attribution: {name} holds mostly names without a GICS sector (ETFs); no sector "
                         "attribution")
            continue
        value = equity[name].reindex(ends)
        before = value.shift(1)
        if capital is not None and ends[0] == equity[name].index[0]:    # from the capital, as the metrics: the
            before.iloc[1] = capital                   # opening purchase's costs count (in trading and costs)
        actual = (value / before - 1.0).iloc[1:]
        periods, per, linked = brinson_fachler(sample, index_weights, prices, secs, ends, actual,
                                               other=NO_SECTOR)
        if linked.empty:
            continue
        sums = periods.groupby("date")[list(EFFECTS)].sum()
        per = per.set_index("date").join(sums)
        period_rows.append(per.reset_index().assign(strategy=name))
        linked_rows.append(linked.reset_index().assign(strategy=name))
        total = linked.loc["TOTAL"]
        summary["strategies"].setdefault(name, {})["attribution"] = {
            "benchmark": "S&P 500, cap-weighted, rebuilt from the store", "start": ends[0], "end": ends[-1],
            "periods": int(len(per)), "portfolio": linked.attrs["portfolio"],
            "benchmark_return": linked.attrs["benchmark"], "excess": linked.attrs["excess"],
            **{e: float(total[e]) for e in EFFECTS},
            "trading": float(linked.loc["trading and costs", "total"]),
            "by_sector": {s: {e: float(r[e]) for e in (*EFFECTS, "total")}
                          for s, r in linked.drop(["TOTAL", "trading and costs"]).iterrows()}}
    if linked_rows:
        frame = pd.concat(linked_rows, ignore_index=True)
        frame.index = pd.RangeIndex(len(frame), name="row")
        tables[PREFIX + "attribution"] = frame
        frame = pd.concat(period_rows, ignore_index=True)
        frame.index = pd.RangeIndex(len(frame), name="row")
        tables[PREFIX + "attribution_periods"] = frame


def _twins(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """``(variant, the earlier variant with the same returns bit for bit)`` for each repeat, in column order."""
    import hashlib

    first: dict[bytes, object] = {}
    out = []
    for name in frame.columns:
        values = np.ascontiguousarray(frame[name].to_numpy(dtype="float64"))
        key = hashlib.blake2b(values.tobytes(), digest_size=16).digest()    # 16 bytes a variant, not its series
        if key in first and np.array_equal(frame[first[key]].to_numpy(dtype="float64"), values, equal_nan=True):
            out.append((str(name), str(first[key])))
        else:
            first.setdefault(key, name)
    return out


def run_sweep_evidence(returns: pd.DataFrame, benchmark: pd.Series, *, risk_free: pd.Series | None,
                       variants: Mapping[str, list[str]], spec) -> dict:
    """The sweep's ``evidence`` entry of metrics.json.

    ``returns``: date x strategy daily returns of every strategy of the sweep (metrics convention);
    ``variants``: swept strategy name -> the names of its variants (columns of ``returns``). PSR of every
    strategy; per swept strategy (two variants or more) the DSR of its best variant, PBO by CSCV and a
    walk-forward selection among its variants."""
    from backtest.analytics.overfitting import deflated_sharpe, pbo, probabilistic_sharpe_frame
    from backtest.analytics.walkforward import walk_forward

    notes: list[str] = []
    out: dict = {"psr": probabilistic_sharpe_frame(returns, risk_free=risk_free).to_dict(), "by_strategy": {},
                 "notes": notes}
    w = spec.walk_forward
    for base, names in variants.items():
        if len(names) < 2:
            notes.append(f"{base}: one variant only; no DSR, PBO or walk-forward")
            continue
        frame = returns[list(names)]
        entry = {"dsr": deflated_sharpe(frame, risk_free=risk_free),
                 "pbo": pbo(frame, blocks=spec.pbo_blocks, risk_free=risk_free)}
        if entry["pbo"].get("identical"):
            notes.append(f"{base}: its {len(names)} variants have identical returns (the swept values change "
                         "nothing here, e.g. a cap that never binds); no PBO")
        elif twins := _twins(frame):
            shown = "; ".join(f"{a!r} = {b!r}" for a, b in twins[:3]) + (f"; and {len(twins) - 3} more"
                                                                         if len(twins) > 3 else "")
            notes.append(f"{base}: {len(twins)} of its {len(names)} variants have the returns of another one "
                         f"({shown}): the swept values that tell them apart change nothing; each still counts "
                         f"as a trial in the DSR and PBO ({len(names) - len(twins)} distinct)")
        wf = walk_forward(frame, benchmark, train_years=w.train_months / 12, test_years=w.test_months / 12,
                          metric=w.metric, risk_free=risk_free)
        windows = wf["windows"]
        entry["walk_forward"] = {
            "metric": w.metric, "train_months": w.train_months, "test_months": w.test_months,
            "in_sample_best": wf["in_sample_best"], "summary": wf["summary"],
            "first": windows["test_start"].iloc[0] if len(windows) else None,
            "windows": windows.to_dict("records")}
        if not len(windows):
            notes.append(f"{base}: the run is shorter than one training window of {w.train_months} months plus a "
                         "day; no walk-forward result")
        out["by_strategy"][base] = entry
    return out
