"""`bt snapshot` as a README reader uses it: groups expand, and an --asof the data cannot answer is refused
(catalogue rows `snapshot-asof-*` in cases.py check the messages)."""

from __future__ import annotations

import pandas as pd


def test_snapshot_of_a_group_lists_its_members_with_their_returns(bt, snapshot_store, market_data_dir):
    done = bt("--data-dir", snapshot_store.root, "snapshot", "mag7", "--asof", "2024-12-31", "--since", "ytd")
    assert done.code == 0, done.err
    rows = {line.split()[0]: line.split() for line in done.out.splitlines()[1:] if line.strip()}
    assert list(rows)[:8] == ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "GOOG", "META", "TSLA"]
    assert "MAG7" not in done.out and "bt data fetch" not in done.out + done.err
    raw = pd.read_parquet(market_data_dir / "prices_sp500.parquet")["AAPL"].dropna()
    expected = raw.loc[:"2024-12-31"].iloc[-1] / raw.loc[:"2023-12-31"].iloc[-1] - 1
    assert rows["AAPL"][-1] == f"{expected:+.2%}"
