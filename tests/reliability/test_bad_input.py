"""Bad input through the real command: exit code 2, a message naming the key or file, the value, what was
expected and the fix, no traceback (unless -v), and nothing written.

The catalogue is table-driven: `cases.CASES` (run time, command line, damaged stores) here, and the config and
data-file catalogues of tests/test_config.py (`BAD`) and tests/data/test_files.py (`BAD_FILES`), which are
checked there at the library level and here once more through the command line. docs/reliability.md lists
them all (`python -m tests.reliability.catalogue`).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest

from backtest.data.store import PriceStore
from tests.data.test_files import BAD_FILES, WIDE
from tests.test_config import BAD

from .cases import CASES, FIFO, FOLDER, REPORTED, Link, config
from .conftest import tree


def _fill(text: str, subs: dict) -> str:
    for key, value in subs.items():
        text = text.replace("{" + key + "}", value)
    return text


def _materialise(case, tmp_path, store_root, snapshot_dir=None) -> tuple[list[str], dict]:
    subs = {"tmp": str(tmp_path), "store": str(store_root), "fresh": str(tmp_path / "fresh-store"),
            "out": str(tmp_path / "results"), "snapshot": str(snapshot_dir)}
    for name, content in case.files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is FIFO:
            os.mkfifo(path)
        elif content is FOLDER:
            path.mkdir()
        elif isinstance(content, Link):
            path.symlink_to(tmp_path / content.target)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str) and content.startswith("PARQUET:"):
            tickers = content[len("PARQUET:"):].split(",")
            frame = PriceStore(store_root).prices(tickers, "2024-01-01", "2024-12-31")
            frame.reset_index().to_parquet(path, index=False)
        else:
            path.write_text(_fill(content, subs))
    return [_fill(a, subs) for a in case.args], subs


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_exits_2_with_a_clear_message_and_writes_nothing(case, bt, tmp_path, snapshot_store,
                                                                   market_data_dir):
    if case.id == "config-is-a-device" and not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero on this system")
    args, _ = _materialise(case, tmp_path, snapshot_store.root, market_data_dir)
    stored = snapshot_store.root / "prices_adj_close.parquet"
    before, store_before = tree(tmp_path), os.stat(stored).st_mtime_ns
    done = bt(*args)
    assert done.code == case.code, done.err
    for piece in case.message:
        assert piece in done.err, f"{piece!r} not in:\n{done.err}"
    assert "Traceback" not in done.err and "internal error" not in done.err
    after = {k: v for k, v in tree(tmp_path).items() if not k.endswith(".lock")}  # a store's lock file only
    assert after == {k: v for k, v in before.items() if not k.endswith(".lock")}, "something was written"
    assert os.stat(stored).st_mtime_ns == store_before


def test_verbose_adds_the_traceback_to_the_same_message(bt, tmp_path, snapshot_store):
    case = next(c for c in CASES if c.id == "infeasible-single-cap")
    args, _ = _materialise(case, tmp_path, snapshot_store.root)
    done = bt("-v", *args)
    assert done.code == 2 and "Traceback" in done.err and case.message[0] in done.err


def test_catalogue_ids_are_unique_and_every_area_is_covered():
    ids = [c.id for c in CASES] + [r.id for r in REPORTED]
    assert len(ids) == len(set(ids))
    assert {c.area for c in CASES} == {"config", "run time", "command line", "data store"}


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_every_catalogued_bad_config_exits_2_through_the_command(case, bt, tmp_path):
    """The 130+ configs of tests/test_config.py, now through `bt validate`: exit 2, the problem line, no
    traceback (the message text itself is checked there)."""
    _, text, expected, *_ = case
    path = tmp_path / "c.yaml"
    path.write_text(text)
    done = bt("validate", path)
    assert done.code == 2 and "Traceback" not in done.err
    assert done.err.startswith(f"error: {path}: ") and expected.split(" (line")[0] in done.err


@pytest.mark.parametrize("case,name,content,message", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_every_catalogued_bad_price_file_exits_2_through_the_command(bt, tmp_path, case, name, content,
                                                                     message):
    """tests/data/test_files.py's bad files through `bt data import GOOD BAD`: exit 2, the file named, the
    store not even created."""
    good, bad = tmp_path / "good.csv", tmp_path / name
    good.write_text(WIDE)
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    store = tmp_path / "store"
    done = bt("--data-dir", store, "data", "import", good, bad)
    assert done.code == 2 and "Traceback" not in done.err
    assert re.search(message, done.err) and name in done.err
    assert not store.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="running as root: file permissions do not stop reading")
def test_unreadable_config_and_price_file(bt, tmp_path):
    cfg, prices = tmp_path / "c.yaml", tmp_path / "p.csv"
    cfg.write_text(config("{name: s, weighting: fixed, weights: {SPY: 1}}"))
    prices.write_text(WIDE)
    for p in (cfg, prices):
        p.chmod(0)
    done = bt("validate", cfg)
    assert done.code == 2 and "permission denied" in done.err
    done = bt("--data-dir", tmp_path / "store", "data", "import", prices)
    assert done.code == 2 and "p.csv" in done.err and "Traceback" not in done.err


def test_bt_data_dir_environment_variable_pointing_at_a_file(bt, tmp_path, monkeypatch):
    target = tmp_path / "file"
    target.write_text("x")
    monkeypatch.setenv("BT_DATA_DIR", str(target))   # the environment, as a user would set it
    done = bt("data", "ls")
    assert done.code == 2 and "Invalid value for '--data-dir'" in done.err and "is a file" in done.err


# ------------------------------------------------------------------- accepted, but reported (never repaired)


def _reported(rid: str):
    return next(r for r in REPORTED if r.id == rid).message


def _warnings(out: str) -> list[str]:
    """The run's warnings, from the manifest of the folder `bt run` printed."""
    folder = Path(out.strip().removeprefix("report: ")).parent
    return json.loads((folder / "manifest.json").read_text())["warnings"]


@pytest.fixture(scope="module")
def gap_file(tmp_path_factory, market_data_dir):
    """SPY and IWM 2023-2024 from the snapshot, IWM's cells emptied on 10 trading days in May-June 2023."""
    prices = pd.read_parquet(market_data_dir / "prices_etf.parquet")[["SPY", "IWM"]].loc["2023":"2024"]
    prices.loc[prices.index[100:110], "IWM"] = float("nan")
    path = tmp_path_factory.mktemp("gaps") / "gap.csv"
    prices.rename_axis("date").to_csv(path)
    return path


def test_nan_gaps_are_stored_as_gaps_and_reported_by_import_and_run(bt, tmp_path, gap_file):
    store = tmp_path / "store"
    done = bt("--data-dir", store, "data", "import", gap_file)
    assert done.code == 0, done.err
    for piece in _reported("import-nan-gap"):
        assert piece in done.out
    iwm = PriceStore(store).prices(["IWM"], start="2023-05-26", end="2023-06-09")
    assert iwm.empty, "the store must keep the gap, not fill it"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(config("{name: Mix, weighting: fixed, weights: {SPY: 0.5, IWM: 0.5}, rebalance: yearly}",
                          start="2023-02-01", end="2024-12-31"))
    done = bt("--data-dir", store, "run", cfg, "--offline", "--out", tmp_path / "results")
    assert done.code == 0, done.err
    warnings = "\n".join(_warnings(done.out))
    for piece in _reported("run-nan-gap"):
        assert piece in warnings


def test_a_history_that_stops_mid_run_is_reported(bt, tmp_path, snapshot_store):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(config("{name: Held, weighting: fixed, weights: {SPY: 0.5, TWTR: 0.5}, rebalance: yearly}",
                          start="2020-01-01", end="2021-12-30"))
    done = bt("--data-dir", snapshot_store.root, "run", cfg, "--offline", "--out", tmp_path / "results")
    assert done.code == 0, done.err
    assert _reported("run-history-stops")[0] in _warnings(done.out)


def test_a_group_member_without_prices_is_reported(bt, tmp_path, snapshot_store):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(config("{name: s, weighting: equal, universe: [banks]}",
                          head="groups: {banks: [JPM, ZZZQ]}\n"))
    done = bt("--data-dir", snapshot_store.root, "run", cfg, "--offline", "--out", tmp_path / "results")
    assert done.code == 0, done.err
    assert _reported("run-group-ticker-unknown")[0] in _warnings(done.out)



def test_an_empty_column_and_a_one_ticker_download_are_reported_by_import(bt, tmp_path):
    empty = tmp_path / "e.csv"
    empty.write_text("date,X,EMPTY\n2024-01-02,1,\n2024-01-03,2,\n")
    yahoo = tmp_path / "AAPL.csv"
    yahoo.write_text("Date,Open,High,Low,Close,Adj Close,Volume\n"
                     "2024-01-02,187.15,188.44,183.89,185.64,184.94,82488700\n")
    done = bt("--data-dir", tmp_path / "store", "data", "import", empty, yahoo)
    assert done.code == 0, done.err
    for rid in ("import-empty-column", "import-one-ticker-download"):
        for piece in _reported(rid):
            assert piece in done.out, f"{piece!r} not in:\n{done.out}"
    assert PriceStore(tmp_path / "store").tickers() == ["AAPL", "X"]
