"""Concentration of a weight vector over time: top-N share, group shares, Herfindahl, effective N (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd


def concentration(weights_by_date: pd.DataFrame, groups: Mapping[str, Sequence[str]] | None = None, *,
                  top_n: int = 10, share_classes: Mapping[str, str] | None = None,
                  stocks: Sequence[str] | None = None) -> pd.DataFrame:
    """Concentration statistics of each row of a weights frame.

    Parameters
    ----------
    weights_by_date : DataFrame indexed by date, one column per ticker, non-negative weights (NaN = not held).
        Each row is normalised to sum to 1 first; the raw row sum is reported as ``invested`` (below 1 when
        a portfolio holds cash, 1 for index weights).
    groups : ``{name: tickers}``; adds one ``<name>_share`` column per group (e.g. ``mag7_share``), the
        combined normalised weight of the group's tickers held that day.
    top_n : how many of the largest positions ``top<n>_share`` adds up (securities, as ETF issuers count).
    share_classes : optional ``{ticker: company}`` (e.g. ``{"GOOG": "GOOGL"}``) to also report
        ``top<n>_companies_share`` with share classes merged before ranking.
    stocks : optional tickers that are single stocks; with it, ``funds_not_looked_through`` is the normalised
        weight of every other column held (ETFs, funds): they are **not looked through**, each counts as
        one security in the top-N share, HHI and effective N, and the stocks inside them (the Mag 7 inside
        SPY) are not in the group shares.

    Returns
    -------
    DataFrame indexed by ``date`` with ``top<n>_share``, ``<group>_share`` ..., ``hhi`` (sum of squared
    weights), ``effective_n`` (1 / hhi), ``n_names`` (weights > 0) and ``invested``. A row with no weights
    has NaN statistics and ``n_names`` 0.
    """
    w = weights_by_date.astype(float)
    invested = w.sum(axis=1, min_count=1)
    wn = w.div(invested.where(invested > 0), axis=0)
    values = wn.fillna(0.0).to_numpy()
    has = invested.gt(0).to_numpy()

    def top_share(arr: np.ndarray) -> np.ndarray:
        k = min(top_n, arr.shape[1])
        if k == 0:
            return np.full(arr.shape[0], np.nan)
        part = -np.partition(-arr, k - 1, axis=1)[:, :k]
        return np.where(has, part.sum(axis=1), np.nan)

    out = pd.DataFrame(index=pd.DatetimeIndex(w.index, name="date"))
    out[f"top{top_n}_share"] = top_share(values)
    if share_classes:
        merged = wn.fillna(0.0).T.groupby(lambda t: share_classes.get(t, t)).sum().T
        out[f"top{top_n}_companies_share"] = top_share(merged.to_numpy())
    for name, tickers in (groups or {}).items():
        cols = [t for t in tickers if t in wn.columns]
        out[f"{name}_share"] = np.where(has, wn[cols].fillna(0.0).sum(axis=1).to_numpy(), np.nan)
    hhi = np.where(has, (values ** 2).sum(axis=1), np.nan)
    out["hhi"] = hhi
    with np.errstate(divide="ignore"):
        out["effective_n"] = 1.0 / hhi
    out["n_names"] = (values > 0).sum(axis=1).astype(int)
    out["invested"] = invested.to_numpy()
    if stocks is not None:
        funds = [c for c in wn.columns if c not in set(stocks)]
        out["funds_not_looked_through"] = np.where(has, wn[funds].fillna(0.0).sum(axis=1).to_numpy(), np.nan)
    return out
