"""Faults with real processes, no mocks: runs and imports killed with SIGKILL at random points, commands
racing on one store, the same run in two interpreters.

What is already covered at the library level and not repeated here: a writer process killed inside
`PriceStore.write_prices` (tests/data/test_store.py::test_killed_writer_never_corrupts_the_store), two writer
processes on one store (::test_two_processes_writing_at_once_both_land), `write_run` killed in a child
process and byte-identical `write_run` output across interpreters (tests/test_results.py). These tests drive
the `bt` command itself end to end.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest.data.store import PriceStore
from backtest.results import list_runs, load_run
from tests.conftest import REPO

from .conftest import bt_finished, bt_process, copy_store

pytestmark = pytest.mark.slow

ROTATION = REPO / "configs" / "rotation.yaml"
RECENT = ("--start", "2025-01-01")     # the rotation config over 18 months: every family, a short run


def _kill(proc) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)


def _temp_folder_appears(results: Path, proc, limit: float) -> bool:
    """Wait until the run starts writing its folder (`.name.tmp-PID`) or ends; True if it appeared."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        if any(p.name.startswith(".") and f".tmp-{proc.pid}" in p.name for p in results.iterdir()):
            return True
        time.sleep(0.01)
    return False


def test_killed_runs_never_leave_a_run_that_bt_list_shows_incomplete(snapshot_store, tmp_path, bt):
    """Eight `bt run` processes SIGKILLed: four after a random delay from their start, four at a random
    moment after they began writing the run folder. Then `bt list` shows only complete runs, each loads."""
    results = tmp_path / "results"
    results.mkdir()
    args = ("--data-dir", snapshot_store.root, "run", ROTATION, "--offline", "--out", results, *RECENT)
    t0 = time.monotonic()
    done = bt_finished(*args)                       # one complete run, and the time a run takes here
    assert done.code == 0, done.err
    duration = time.monotonic() - t0
    rng = random.Random(7)
    outcomes = []
    for k in range(8):
        proc = bt_process(*args)
        if k % 2:
            started = _temp_folder_appears(results, proc, limit=3 * duration + 30)
            time.sleep(rng.uniform(0.0, 0.6))
        else:
            started = None
            time.sleep(rng.uniform(0.2, 1.1) * duration)
        outcomes.append(("finished" if proc.poll() is not None else "killed", started))
        _kill(proc)
    assert sum(o == "killed" for o, _ in outcomes) >= 4, outcomes
    assert any(o == "killed" and s for o, s in outcomes), f"no kill landed while writing: {outcomes}"
    listed = list_runs(results)
    assert listed and all(s.problem is None for s in listed), [s.problem for s in listed]
    finals = [p for p in results.iterdir() if not p.name.startswith(".")]
    assert sorted(finals) == sorted(s.path for s in listed)
    for summary in listed:
        run = load_run(summary.path)
        assert len(run.strategies) == 5 and run.metrics["strategies"]
    shown = bt("list", "--results", results)
    assert shown.code == 0 and "INCOMPLETE" not in shown.out and len(listed) >= 1


def _frame_csv(path: Path, prefix: str, n: int, seed: int) -> list[str]:
    """A wide price file of `n` random-walk tickers `<prefix>0..` over 2015-2024 business days."""
    rng = np.random.default_rng(seed)
    idx = pd.bdate_range("2015-01-02", "2024-12-31", name="date")
    names = [f"{prefix}{i}" for i in range(n)]
    data = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (len(idx), n)), axis=0))
    pd.DataFrame(data, index=idx, columns=names).to_csv(path, float_format="%.6f")
    return names


def _consistent(store: PriceStore) -> pd.DataFrame:
    """The store reads; every priced ticker has catalog rows and the reverse. Returns the prices."""
    prices = store.prices()
    catalog = store.catalog()
    assert set(catalog.loc[catalog["field"] == "adj_close", "ticker"]) == set(prices.columns)
    return prices


def test_two_runs_and_an_import_on_one_store_at_once(snapshot_store, tmp_path):
    """Two `bt run` processes read the store while a `bt data import` writes to it: all three succeed, the
    runs agree byte for byte, the import lands, the catalog matches the prices."""
    store = copy_store(snapshot_store.root, tmp_path / "store")
    names = _frame_csv(tmp_path / "new.csv", "NEWT", 40, seed=1)
    runs = [bt_process("--data-dir", store, "run", ROTATION, "--offline", "--out", tmp_path / f"r{i}",
                       *RECENT) for i in (1, 2)]
    time.sleep(0.5)
    importer = bt_process("--data-dir", store, "data", "import", tmp_path / "new.csv")
    for proc in [*runs, importer]:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    (a,), (b,) = ([p for p in (tmp_path / f"r{i}").iterdir()] for i in (1, 2))
    for name in ("metrics.json", "equity.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    prices = _consistent(PriceStore(store))
    assert set(names) <= set(prices.columns)
    assert prices[names].loc["2015":"2024"].notna().all().all()


def test_two_imports_into_one_store_at_once_both_land(tmp_path):
    """Two `bt data import` processes of different files (three writes each) into one store: every ticker
    lands complete, each catalogued with its own file as source."""
    files = {p: [tmp_path / f"{p}{k}.csv" for k in range(3)] for p in ("AA", "BB")}
    expected = {}
    for prefix, paths in files.items():
        for k, path in enumerate(paths):
            for t in _frame_csv(path, f"{prefix}{k}X", 15, seed=10 * len(expected) + k):
                expected[t] = path
    store = tmp_path / "store"
    procs = [bt_process("--data-dir", store, "data", "import", *paths) for paths in files.values()]
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    prices = _consistent(PriceStore(store))
    assert sorted(prices.columns) == sorted(expected)
    assert prices.notna().all().all()
    catalog = PriceStore(store).catalog().set_index("ticker")
    for ticker, path in expected.items():
        assert catalog.loc[ticker, "source"] == f"file:{path.resolve()}"


def test_killed_snapshot_imports_never_corrupt_the_store(tmp_path, market_data_dir, snapshot_store):
    """`bt data import ../shared/market-data` SIGKILLed at random points, six times, into a store that already
    holds other data: after each kill the store opens and reads, the old data is intact, and every ticker it
    holds from the snapshot is the snapshot's series in full (a file is either the old one or the new one).
    A final import completes and gives the same prices as a clean import."""
    root = tmp_path / "store"
    base = _frame_csv(tmp_path / "base.csv", "BASE", 3, seed=3)
    assert bt_finished("--data-dir", root, "data", "import", tmp_path / "base.csv").code == 0
    before = PriceStore(root).prices(base)
    files = ("prices_sp500.parquet", "prices_etf.parquet")
    source = pd.concat([pd.read_parquet(market_data_dir / f) for f in files], axis=1, sort=True)
    rng = random.Random(11)
    landed = set()
    marked = 0
    for _ in range(6):
        proc = bt_process("--data-dir", root, "data", "import", market_data_dir)
        time.sleep(rng.uniform(0.8, 4.0))
        _kill(proc)
        store = PriceStore(root)
        unfinished = store.unfinished_import()      # every run refuses the store until the import is redone
        if unfinished:
            marked += 1
            assert f"`bt data import {market_data_dir}` started" in unfinished and "run `bt data import" in unfinished
        prices = store.prices()
        pd.testing.assert_frame_equal(prices[base].dropna(how="all"), before, check_freq=False)
        snap = [c for c in prices.columns if c in source.columns]
        landed |= set(snap)
        for t in rng.sample(snap, min(25, len(snap))):
            want = source[t].dropna()
            got = prices[t].dropna()
            assert got.index.equals(pd.DatetimeIndex(want.index, name="date")), t
            np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())
        store.catalog(), store.membership(), store.shares()          # every table still reads
    assert marked >= 1, "no kill landed inside an import"
    done = bt_finished("--data-dir", root, "data", "import", market_data_dir)
    assert done.code == 0, done.err
    assert PriceStore(root).unfinished_import() is None
    final = PriceStore(root).prices()
    clean = snapshot_store.prices()
    pd.testing.assert_frame_equal(final[clean.columns].loc[clean.index], clean, check_freq=False)
    assert len(PriceStore(root).membership()) == len(snapshot_store.membership())


def test_same_config_same_data_gives_identical_bytes_across_processes(snapshot_store, tmp_path):
    """configs/rotation.yaml in two fresh interpreters with different hash seeds: identical metrics.json,
    equity.csv, returns.csv, weights and trades."""
    procs = [bt_process("--data-dir", snapshot_store.root, "run", ROTATION, "--offline", "--out",
                        tmp_path / seed, env={"PYTHONHASHSEED": seed}) for seed in ("1", "2")]
    folders = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        folders.append(Path(out.strip().removeprefix("report: ")).parent)
    a, b = folders
    files = ["metrics.json", "equity.csv", "returns.csv", "fees.csv", "turnover.csv"]
    files += [str(p.relative_to(a)) for sub in ("weights", "trades", "holdings") for p in (a / sub).iterdir()]
    assert len(files) == 5 + 15      # five strategies (the uncapped rebuild is the control)
    for name in files:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
