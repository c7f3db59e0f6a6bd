"""weighting: {python: ...}: the contract, its errors, and the --allow-python gate."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pytest

from backtest.cli import main
from backtest.config import parse_config
from backtest.errors import DataError
from strategies import decision_inputs, weigh

PLUGIN = "tests.strategies.plugins.weights"


@dataclass(frozen=True)
class PySpec:
    python: str
    name: str = "custom"
    weighting: str = "python"


def _inputs():
    dates = pd.bdate_range("2024-01-01", periods=3, name="date")
    prices = pd.DataFrame({"A": [5.0, 5, 5], "B": [50.0, 50, 50], "C": [1.0, 1, 1], "D": [20.0, 20, 20]},
                          index=dates)
    return decision_inputs(prices, None, dates[-1], "ABCD")


def test_the_function_gets_decision_inputs_and_its_weights_are_used():
    out = weigh(PySpec(f"{PLUGIN}:cheapest_half"), _inputs())
    assert out.weights.to_dict() == {"A": 0.5, "C": 0.5}
    noted = weigh(PySpec(f"{PLUGIN}:with_note"), _inputs())
    assert noted.notes == ("2024-01-03: custom: hello",) and len(noted.weights) == 4


@pytest.mark.parametrize("ref, message", [
    (f"{PLUGIN}:not_summing", r"weighting.python tests.strategies.plugins.weights:not_summing on 2024-01-03: "
                              r"weights must sum to 1 \(within 1e-09\), got 2.0"),
    (f"{PLUGIN}:negative", r"on 2024-01-03: weights must be finite and >= 0, got \{'A': -1.0\}"),
    (f"{PLUGIN}:missing", r"weighting.python: tests.strategies.plugins.weights has no function 'missing'"),
    ("no_such_pkg.mod:f", r"weighting.python: cannot import 'no_such_pkg.mod' .*install the package or put"),
    (f"{PLUGIN}:outside_universe", r":outside_universe on 2024-01-03: 1 weighted ticker\(s\) are not in the "
                                   r"strategy's universe on the date: XOM; fix: add them"),
    (f"{PLUGIN}:raising", r"weighting.python tests.strategies.plugins.weights:raising on 2024-01-03: the "
                          r"function raised ValueError: oops; fix the function"),
    (f"{PLUGIN}:one_argument", r":one_argument on 2024-01-03: the function raised TypeError: .*positional "
                               r"argument.*called as function\(spec, inputs\)"),
])
def test_contract_violations_are_errors_naming_function_and_date(ref, message):
    with pytest.raises(DataError, match=message):
        weigh(PySpec(ref), _inputs())


def test_a_bad_reference_is_a_config_error_and_validation_never_imports():
    text = "name: t\nstart: 2020-01-01\nstrategies:\n  - {name: P, weighting: {python: %s}, universe: [AAPL]}\n"
    cfg = parse_config(text % "no_such_pkg.mod:f")    # valid shape; nothing is imported while validating
    assert cfg.strategies[0].weighting == "python" and cfg.strategies[0].python == "no_such_pkg.mod:f"
    from backtest.errors import ConfigError

    with pytest.raises(ConfigError, match=r"strategies\[0\].weighting.python \(line 4\): must be "
                                          r"'package.module:function', got 'os.system'"):
        parse_config(text % "os.system")


CONFIG = f"""name: custom
start: 2021-01-04
end: 2021-06-30
rebalance: monthly
strategies:
  - name: Cheapest half
    weighting: {{python: "{PLUGIN}:cheapest_half"}}
    universe: [AAPL, MSFT, JPM, XOM, KO, PG]
"""


def test_run_refuses_python_without_the_flag_and_writes_nothing(snapshot_store, tmp_path, capsys):
    (tmp_path / "c.yaml").write_text(CONFIG)
    out = tmp_path / "out"
    code = main(["--data-dir", str(snapshot_store.root), "run", str(tmp_path / "c.yaml"), "--offline", "--out",
                 str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert ("error: strategies[0].weighting.python: tests.strategies.plugins.weights:cheapest_half would run "
            "Python code named in the config") in err
    assert "bt run --allow-python CONFIG" in err and "Traceback" not in err
    assert not out.exists()


def test_run_with_allow_python_uses_the_function(snapshot_store, tmp_path):
    (tmp_path / "c.yaml").write_text(CONFIG)
    code = main(["--data-dir", str(snapshot_store.root), "run", str(tmp_path / "c.yaml"), "--offline", "--out",
                 str(tmp_path / "out"), "--allow-python"])
    assert code == 0
    run = next((tmp_path / "out").iterdir())
    w = pd.read_csv(run / "weights" / "cheapest-half.csv", index_col="date", parse_dates=True)
    prices = snapshot_store.prices(["AAPL", "MSFT", "JPM", "XOM", "KO", "PG"], start=pd.Timestamp("2020-12-01"),
                                   end=pd.Timestamp("2021-06-30"))
    for date, row in w.iterrows():
        cheapest = set(prices.loc[date].nsmallest(3).index)
        assert set(row.index[row > 0]) == cheapest and (row[row > 0] == 1 / 3).all()


def test_an_exception_in_the_function_is_the_users_error_not_an_internal_one(snapshot_store, tmp_path, capsys):
    """Exit 2 with the function, the date and the exception, no traceback; `bt -v` adds it (the user's frame
    included) and nothing is written."""
    (tmp_path / "c.yaml").write_text(CONFIG.replace(":cheapest_half", ":raising"))
    out = tmp_path / "out"
    args = ["--data-dir", str(snapshot_store.root), "run", str(tmp_path / "c.yaml"), "--offline", "--out", str(out),
            "--allow-python"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert ("error: strategy 'Cheapest half': weighting.python tests.strategies.plugins.weights:raising on "
            "2020-12-30: the function raised ValueError: oops") in err
    assert "internal error" not in err and "Traceback" not in err and not out.exists()
    assert main(["-v", *args]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and 'raise ValueError("oops")' in err
