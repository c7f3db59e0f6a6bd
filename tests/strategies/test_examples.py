"""The worked configs of the strategy families (configs/examples/), run end to end on the snapshot, with the
weights they wrote checked against independent calculations on the store's prices (plain pandas/numpy)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest.config import load_config
from backtest.runner import run_config

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "configs" / "examples"


@pytest.fixture(scope="module")
def risk_run(snapshot_store, tmp_path_factory) -> Path:
    return run_config(EXAMPLES / "risk.yaml", store=snapshot_store, results_dir=tmp_path_factory.mktemp("risk"),
                      offline=True)


def _weights(run: Path, slug: str) -> pd.DataFrame:
    return pd.read_csv(run / "weights" / f"{slug}.csv", index_col="date", parse_dates=True)


def _window_returns(store, tickers, date, lookback: int) -> pd.DataFrame:
    """The `lookback` daily simple returns ending at `date`, from the store with plain pandas."""
    prices = store.prices(list(tickers), start=date - pd.Timedelta(days=800), end=date)
    prices = prices.loc[:date].iloc[-(lookback + 1):]
    return prices.pct_change().iloc[1:]


def test_risk_example_inverse_vol_weights_are_one_over_sigma(risk_run, snapshot_store):
    w = _weights(risk_run, "inverse-vol-s-p-493")
    date = w.index[2]
    held = w.loc[date][w.loc[date] > 0]
    sd = _window_returns(snapshot_store, held.index, date, 252).std(ddof=1)
    expected = (1 / sd) / (1 / sd).sum()
    np.testing.assert_allclose(held.to_numpy(), expected.reindex(held.index).to_numpy(), rtol=1e-9)
    assert 430 < len(held) < 493


def test_risk_example_risk_parity_contributions_are_equal(risk_run, snapshot_store):
    from sklearn.covariance import LedoitWolf

    w = _weights(risk_run, "risk-parity-s-p-493")
    date = w.index[-1]
    held = w.loc[date][w.loc[date] > 0]
    r = _window_returns(snapshot_store, held.index, date, 252)
    cov = LedoitWolf().fit(r.to_numpy()).covariance_
    x = held.to_numpy()
    rc = x * (cov @ x) / (x @ cov @ x)
    np.testing.assert_allclose(rc, 1 / len(x), atol=1e-6 / len(x))


def test_risk_example_min_variance_respects_its_cap_and_beats_equal_weight_risk(risk_run, snapshot_store):
    mv = _weights(risk_run, "min-variance-s-p-493-5-cap")
    ew = _weights(risk_run, "equal-weight-s-p-493")
    assert (mv.max(axis=1) <= 0.05 + 1e-9).all()
    date = mv.index[0]
    held = mv.loc[date][mv.loc[date] > 0]
    assert 20 <= len(held) < 200
    names = ew.loc[date][ew.loc[date] > 0].index
    r = _window_returns(snapshot_store, names, date, 252).dropna(axis=1)
    cov = r.cov().to_numpy()
    x_mv = mv.loc[date].reindex(r.columns).fillna(0).to_numpy()
    x_ew = np.full(len(r.columns), 1 / len(r.columns))
    assert x_mv @ cov @ x_mv < 0.6 * (x_ew @ cov @ x_ew), "in-sample variance well below equal weight"


def test_risk_example_report_shows_every_strategy(risk_run):
    cfg = load_config(EXAMPLES / "risk.yaml")
    html = (risk_run / "report.html").read_text()
    for s in cfg.strategies:
        assert s.name.replace("&", "&amp;") in html or s.name in html


@pytest.fixture(scope="module")
def signals_run(snapshot_store, tmp_path_factory) -> Path:
    return run_config(EXAMPLES / "signals.yaml", store=snapshot_store,
                      results_dir=tmp_path_factory.mktemp("signals"), offline=True)


def test_signals_example_trend_filter_follows_the_200_day_average(signals_run, snapshot_store):
    w = _weights(signals_run, "spy-with-200-day-trend-filter")
    spy = snapshot_store.prices(["SPY"], start=pd.Timestamp("2017-06-01"), end=pd.Timestamp("2024-12-31"))["SPY"]
    below = (spy < spy.rolling(200).mean()).reindex(w.index)
    assert below.notna().all() and 3 < below.sum() < len(w) - 10
    assert ((w["BIL"] == 1.0) == below).all()
    assert ((w["SPY"] == 1.0) == ~below).all()


def test_signals_example_momentum_holds_the_50_best_companies_by_12_1_return(signals_run, snapshot_store):
    from backtest.universe import SHARE_CLASSES

    mom = _weights(signals_run, "momentum-12-1-top-50")
    cap = _weights(signals_run, "mag-7-x1-5-while-leading")     # the S&P 500 names with a share count
    # (on this run's dates Alphabet's lines rank 52nd and lower by line: tests/strategies/test_signals.py checks
    # a date where both lines would take two places of the top N)
    for date in [mom.index[5], mom.index[30], pd.Timestamp("2024-03-01")]:
        chosen = set(mom.columns[mom.loc[date] > 0])
        assert mom.loc[date].sum() == pytest.approx(1.0)
        names = sorted(chosen | set(cap.columns[cap.loc[date] > 0]))
        p = snapshot_store.prices(names, start=date - pd.Timedelta(days=500), end=date).loc[:date]
        score = (p.iloc[-22] / p.iloc[-253] - 1).dropna()
        # one score per company: its key line's (GOOGL for Alphabet); a chosen company holds all its lines
        key = {t: SHARE_CLASSES.get(t, t) for t in score.index}
        company = score[[t for t in score.index if key[t] == t or key[t] not in score.index]]
        company.index = [key[t] for t in company.index]
        top = set(company.nlargest(50).index)
        assert chosen == {t for t in names if key.get(t, t) in top}
        assert len({key.get(t, t) for t in chosen}) == 50
        # equal weight per company: two share classes of one company share one slot
        assert mom.loc[date][list(chosen)].max() <= 1 / 50 + 1e-12


def test_signals_example_conditional_tilt_is_on_only_while_mag7_leads(signals_run, snapshot_store):
    cap = _weights(signals_run, "mag-7-x1-5-while-leading")
    mag7 = [t for t in ("AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "GOOG", "META", "TSLA") if t in cap.columns]
    states = []
    for date in cap.index[::6]:
        held = cap.columns[cap.loc[date] > 0]
        p = snapshot_store.prices(list(held), start=date - pd.Timedelta(days=300), end=date).loc[:date]
        change = (p.iloc[-1] / p.iloc[-127] - 1).dropna()
        change = change.groupby(change.index.map(lambda t: "GOOGL" if t == "GOOG" else t)).mean()  # companies
        inside = change.index.isin(mag7)
        states.append(bool(change[inside].mean() > change[~inside].mean()))
    assert any(states) and not all(states), "the window has both regimes"


@pytest.fixture(scope="module")
def sleeves_run(snapshot_store, tmp_path_factory) -> Path:
    return run_config(EXAMPLES / "sleeves.yaml", store=snapshot_store,
                      results_dir=tmp_path_factory.mktemp("sleeves"), offline=True)


def _sleeve_ledger(run: Path, slug: str, sleeves: dict[str, str], capital: float = 1_000_000, fee: float = 0.0,
                   short_units: dict[str, pd.Series] | None = None):
    """An independent ledger of a sleeves parent, from its trades file (units of ``sleeve:<name>``), its sleeves'
    saved values (unit value = value / capital; ``short_units``: sleeve name -> the unit value of a sleeve
    held short) and the run's risk-free series (idle cash, short proceeds included, earns it): (value, daily
    weight in each sleeve, cash). ``fee``: a yearly borrow fee, charged each day on the previous close's short
    market value (as a fraction of value) by shrinking every position and the cash alike, the account the
    trades file is written in."""
    equity = pd.read_csv(run / "equity.csv", index_col="date", parse_dates=True)
    rf = pd.read_csv(run / "risk_free.csv", index_col="date", parse_dates=True)["risk_free"].reindex(equity.index)
    units = pd.DataFrame({f"sleeve:{name}": equity[s] / capital for name, s in sleeves.items()})
    for name, unit in (short_units or {}).items():
        units[f"sleeve:{name}"] = unit
    trades = pd.read_csv(run / "trades" / f"{slug}.csv", parse_dates=["date"])
    assert set(trades["ticker"]) == set(units.columns), "the parent trades its sleeves, not names"
    sign = np.where(trades["side"] == "buy", 1.0, -1.0)
    trades = trades.assign(signed=sign * trades["shares"], spent=sign * trades["value"] + trades["fees"])
    bought = trades.pivot_table(index="date", columns="ticker", values="signed", aggfunc="sum")
    bought = bought.reindex(index=equity.index, columns=units.columns).fillna(0.0).to_numpy()
    spent = trades.groupby("date")["spent"].sum().reindex(equity.index, fill_value=0.0).to_numpy()
    unit = units.to_numpy()
    pos, c, short = np.zeros(unit.shape[1]), float(capital), 0.0
    held_rows, cash = [], []
    for i, r in enumerate(rf.to_numpy()):
        keep = 1.0 - fee / 252 * short if i else 1.0     # the fee on the previous close's short value
        c = c * (1 + (r if i else 0.0)) * keep - spent[i]
        pos = pos * keep + bought[i]
        held = pos * unit[i]
        value = c + held.sum()
        short = -np.minimum(held, 0.0).sum() / value
        held_rows.append(held)
        cash.append(c)
    cash = pd.Series(cash, index=equity.index)
    held = pd.DataFrame(held_rows, index=equity.index, columns=units.columns)
    value = cash + held.sum(axis=1)
    return value, held.div(value, axis=0), cash


def test_sleeves_example_holds_its_sleeves_values_looked_through_to_names(sleeves_run):
    run = sleeves_run
    parent = _weights(run, "60-40-of-the-two")
    # the opening decision on the close before the base (2018-12-28, fill: next_close), then yearly: the
    # opening purchase stands in for 2019's first trading day (docs/report.md, "Period and day one")
    assert parent.index[0] == pd.Timestamp("2018-12-28")
    assert parent.index.year.tolist() == [2018, *range(2020, 2025)], "rebalanced yearly, on its own schedule"
    assert list(parent.columns) == ["sleeve:Equal-weight S&P 493", "sleeve:Small-cap value tilt"]
    assert (parent.iloc[:, 0] == 0.6).all() and (parent.iloc[:, 1] == 0.4).all()
    # the sleeves run on their own schedules: the 493 quarterly, the tilt monthly
    assert len(_weights(run, "equal-weight-s-p-493")) == 24 and len(_weights(run, "small-cap-value-tilt")) == 72
    sleeves = {"Equal-weight S&P 493": "equal-weight-s-p-493", "Small-cap value tilt": "small-cap-value-tilt"}
    value, weights, _ = _sleeve_ledger(run, "60-40-of-the-two", sleeves)
    equity = pd.read_csv(run / "equity.csv", index_col="date", parse_dates=True)["60-40-of-the-two"]
    np.testing.assert_allclose(equity.to_numpy(), value.to_numpy(), rtol=1e-9)
    # look-through: the saved (month-end) holdings by name = weight in each sleeve x the sleeve's own weights
    held = pd.read_csv(run / "holdings" / "60-40-of-the-two.csv", index_col="date", parse_dates=True)
    expected = sum(pd.read_csv(run / "holdings" / f"{s}.csv", index_col="date", parse_dates=True)
                   .reindex(columns=held.columns, fill_value=0.0).mul(weights[f"sleeve:{n}"].loc[held.index], axis=0)
                   for n, s in sleeves.items())
    pd.testing.assert_frame_equal(held, expected, check_exact=False, rtol=1e-9, atol=1e-12, check_freq=False)
    assert (held > 0).sum(axis=1).min() > 400, "the parent's holdings are the names, not the sleeves"
    assert held.iloc[0]["SPY"] == pytest.approx(0.4 * 0.7, rel=1e-3)


def test_cash_flows_example_benchmark_account_is_the_sum_of_its_flows_grown(snapshot_store, tmp_path_factory):
    run = run_config(EXAMPLES / "cash_flows.yaml", store=snapshot_store,
                     results_dir=tmp_path_factory.mktemp("cash_flows"), offline=True)
    table = pd.read_csv(run / "analytics" / "cash-flows.csv", index_col="strategy")
    value = pd.read_csv(run / "analytics" / "account-value.csv", index_col="date", parse_dates=True)
    spy = snapshot_store.prices(["SPY"], start=pd.Timestamp("2018-12-01"), end=pd.Timestamp("2024-12-31"))["SPY"]
    spy = spy.reindex(value.index)
    # closed form without costs: each dollar in (or out) on day d is worth P_T / P_d at the end
    firsts = value.index.to_series().groupby(value.index.to_period("M")).min().iloc[1:]
    grown = 100_000 * spy.iloc[-1] / spy.iloc[0] + sum(2000 * spy.iloc[-1] / spy.loc[d] for d in firsts)
    grown -= 50_000 * spy.iloc[-1] / spy.loc["2022-06-01"]
    bench = table.loc["SPY (benchmark)"]
    assert bench["ending_value"] == pytest.approx(grown, rel=1e-9)
    assert value["SPY (benchmark)"].iloc[-1] == pytest.approx(grown, rel=1e-9)
    assert bench["contributed"] == 100_000 + 2000 * len(firsts) and bench["withdrawn"] == 50_000
    assert table["irr"].between(0.05, 0.3).all()
    # the money-weighted return of a strategy sets the NPV of its dated flows to zero
    dates = [value.index[0], *firsts, pd.Timestamp("2022-06-01"), value.index[-1]]
    for name, row in table.iterrows():
        amounts = [-100_000, *[-2000] * len(firsts), 50_000, row["ending_value"]]
        years = np.array([(d - dates[0]).days / 365.25 for d in dates])
        assert abs(np.sum(np.array(amounts) * (1 + row["irr"]) ** -years)) < 1e-6, name
    assert "cash_flows" in (run / "report.html").read_text()
    # the sleeves parent's contribution buys units of its sleeves at its own costs (1 + 2 bps): the account's
    # step on a contribution day is 2000 / (1 + L a), L its share in its sleeves from its sleeve-level trades
    equity = pd.read_csv(run / "equity.csv", index_col="date", parse_dates=True)
    trades = pd.read_csv(run / "trades" / "60-40-of-the-two.csv", parse_dates=["date"])
    sign = np.where(trades["side"] == "buy", 1.0, -1.0)
    units = (trades.assign(n=sign * trades["shares"]).pivot_table(index="date", columns="ticker", values="n",
                                                                  aggfunc="sum")
             .reindex(equity.index).fillna(0.0).cumsum())
    day, before = pd.Timestamp("2023-03-01"), pd.Timestamp("2023-02-28")
    unit_value = {"sleeve:Equal-weight S&P 493": equity.loc[day, "equal-weight-s-p-493"] / 100_000,
                  "sleeve:Small-cap value tilt": equity.loc[day, "small-cap-value-tilt"] / 100_000}
    invested = sum(units.loc[day, k] * v for k, v in unit_value.items()) / equity.loc[day, "60-40-of-the-two"]
    assert 0.99 < invested <= 1.0
    a = (1 + 1e-4) * (1 + 2e-4) - 1
    acct = value["60-40 of the two"]
    grown = acct.loc[before] * equity.loc[day, "60-40-of-the-two"] / equity.loc[before, "60-40-of-the-two"]
    assert acct.loc[day] - grown == pytest.approx(2000 / (1 + invested * a), rel=1e-9)


@pytest.fixture(scope="module")
def long_short_run(snapshot_store, tmp_path_factory) -> Path:
    return run_config(EXAMPLES / "long_short.yaml", store=snapshot_store,
                      results_dir=tmp_path_factory.mktemp("long_short"), offline=True)


def _short_unit(run: Path, free_run: Path, slug: str, capital: float = 1_000_000) -> pd.Series:
    """The short unit value of sleeve ``slug`` (docs/config.md, Sleeves) from two saved runs: its value ``n``
    in ``run`` and without costs ``g`` in ``free_run``; each day it moves by ``1 + g + (g - n)``, from 1."""
    n = pd.read_csv(run / "equity.csv", index_col="date", parse_dates=True)[slug]
    g = pd.read_csv(free_run / "equity.csv", index_col="date", parse_dates=True)[slug]
    assert (g.index == n.index).all()
    rg, rn = g / g.shift(1, fill_value=capital) - 1, n / n.shift(1, fill_value=capital) - 1   # day one: from capital
    return (1 + rg + (rg - rn)).cumprod()


def test_long_short_example_ledger_exposure_cash_interest_and_borrow_fee(long_short_run, snapshot_store,
                                                                         tmp_path_factory):
    run = long_short_run
    slug, fee = "long-493-short-mag-7-dollar-neutral", 0.005
    w = _weights(run, slug)
    assert (w["sleeve:Equal-weight S&P 493"] == 1.0).all() and (w["sleeve:Cap-weighted Mag 7"] == -1.0).all()
    exposure = pd.read_csv(run / "analytics" / "exposure.csv", index_col="date", parse_dates=True)
    cal = exposure.index
    traded = cal[cal.searchsorted(w.index, side="right")]      # fill: next_close after each decision
    net = exposure["Long 493, short Mag 7 (dollar-neutral) net"]
    gross = exposure["Long 493, short Mag 7 (dollar-neutral) gross"]
    assert net.loc[traded].abs().max() < 1e-3 and (gross.loc[traded] - 2).abs().max() < 0.01, "at each rebalance"
    assert net.abs().max() > 0.05, "between rebalances the legs drift apart"
    assert (exposure["130-30 493 vs Mag 7 net"].loc[traded] - 1).abs().max() < 1e-3
    # independent ledger: sleeve units from the trades file at the sleeves' unit values (the short Mag 7 at
    # its short unit value, which charges the short the sleeve's 1 + 2 bps costs: from the example run without
    # costs), cash (short proceeds included) earning the run's risk-free series, the borrow fee a daily drag
    # on the previous close's short market value; the net exposure by name (looked through) equals the
    # sleeves' net
    free = tmp_path_factory.mktemp("long_short_free") / "free.yaml"
    free.write_text((EXAMPLES / "long_short.yaml").read_text().replace(
        "costs: {commission_bps: 1, slippage_bps: 2}", "costs: {commission_bps: 0, slippage_bps: 0}\nevidence: false"))
    free_run = run_config(free, store=snapshot_store, results_dir=free.parent, offline=True)
    short = _short_unit(run, free_run, "cap-weighted-mag-7")
    unit = pd.read_csv(run / "equity.csv", index_col="date", parse_dates=True)["cap-weighted-mag-7"] / 1e6
    assert short.iloc[-1] > unit.iloc[-1] * (1 + 5e-4), "above the sleeve's own unit value by its costs, compounded"
    sleeves = {"Equal-weight S&P 493": "equal-weight-s-p-493", "Cap-weighted Mag 7": "cap-weighted-mag-7"}
    value, weights, cash = _sleeve_ledger(run, slug, sleeves, fee=fee, short_units={"Cap-weighted Mag 7": short})
    equity = pd.read_csv(run / "equity.csv", index_col="date", parse_dates=True)[slug]
    np.testing.assert_allclose(equity.to_numpy(), value.to_numpy(), rtol=1e-9)
    fees = pd.read_csv(run / "fees.csv", index_col="date", parse_dates=True)[slug]
    trade_fees = pd.read_csv(run / "trades" / f"{slug}.csv")["fees"].sum()
    assert trade_fees == pytest.approx(fees.sum(), rel=1e-12), "the trades are in the account that pays the fee"
    assert cash.min() > 0, "short proceeds fund the longs: cash never goes negative"
    assert (cash / value).loc[traded].min() > 0.99, "dollar-neutral: the whole value sits in cash"
    idle = pd.read_csv(run / "analytics" / "idle-cash.csv", index_col="strategy")
    assert idle.loc["Long 493, short Mag 7 (dollar-neutral)", "earns"] == "BIL (the run's risk_free)"
    assert idle.loc["Long 493, short Mag 7 (dollar-neutral)", "interest_earned"] > 50_000
    held = pd.read_csv(run / "holdings" / f"{slug}.csv", index_col="date", parse_dates=True)
    invested = {n: pd.read_csv(run / "holdings" / f"{s}.csv", index_col="date", parse_dates=True).sum(axis=1)
                for n, s in sleeves.items()}      # a sleeve's own idle cash is not exposure
    net_by_name = sum(weights[f"sleeve:{n}"].loc[held.index] * invested[n] for n in sleeves)
    np.testing.assert_allclose(held.sum(axis=1), net_by_name, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(net.loc[held.index], net_by_name, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["risk", "signals", "sleeves", "cash_flows", "long_short"])
def test_family_examples_round_trip_through_the_saved_config(name):
    import yaml

    from backtest.config import config_to_dict, parse_config

    cfg = load_config(EXAMPLES / f"{name}.yaml")
    again = parse_config(yaml.safe_dump(config_to_dict(cfg)))
    assert again.strategies == cfg.strategies and again.cash_flows == cfg.cash_flows


def test_long_short_books_are_named_where_concentration_and_attribution_skip_them(long_short_run):
    """Concentration (weight shares, HHI) is computed for long-only portfolios: the books with shorts are
    named in the analytics notes, not dropped silently; the dollar-neutral book's attribution note gives
    its net exposure as the reason, and the 130/30 book is attributed."""
    import json

    notes = pd.read_csv(long_short_run / "analytics" / "notes.csv")["note"].tolist()
    for name in ("Long 493, short Mag 7 (dollar-neutral)", "130-30 493 vs Mag 7"):
        assert f"concentration: {name} holds short positions; its concentration (top-N and group shares, HHI) " \
               "is not computed (defined for long-only portfolios)" in notes
    evidence = json.loads((long_short_run / "metrics.json").read_text())["evidence"]
    assert any(n.startswith("attribution: Long 493, short Mag 7 (dollar-neutral) has a net exposure of ")
               for n in evidence["notes"])
    assert "attribution" in evidence["strategies"]["130-30 493 vs Mag 7"]
