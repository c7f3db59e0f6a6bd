"""Config loading: every rejected config with its path, line and message; good configs; round trip; sweeps.

The catalogue of bad configs (`BAD`) is table-driven: each case is a small YAML text and the exact problem
line the user sees, ``path (line N): message``. Line numbers are counted from the text as written.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
import re
from pathlib import Path
from types import MappingProxyType

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backtest.config import (
    AggregateCap, Analytics, Caps, Costs, Drift, RunConfig, Schedule, StrategyConfig, Sweep, Tilt, UniverseSpec,
    apply_overrides, config_to_dict, expand_sweep, load_config, parse_config, swept_config,
)
from backtest.errors import ConfigError, UsageError

HERE = Path(__file__).resolve().parent

# Lines 1-3; the first strategy starts on line 4.
HEAD = "name: t\nstart: 2016-01-01\nstrategies:\n"
FIXED = "  - {name: F, weighting: fixed, weights: {SPY: 1}}\n"


def cap(*lines: str) -> str:
    """HEAD + one cap strategy on lines 4-6 (name, weighting, universe: sp500), then `lines` from line 7."""
    return HEAD + "  - name: C\n    weighting: cap\n    universe: sp500\n" + "".join(f"    {x}\n" for x in lines)


def strat(*lines: str) -> str:
    """HEAD + one strategy whose first line (line 4) is `lines[0]`."""
    return HEAD + f"  - {lines[0]}\n" + "".join(f"    {x}\n" for x in lines[1:])


def top(*lines: str) -> str:
    """HEAD with a valid fixed strategy (line 4), then top-level `lines` from line 5."""
    return HEAD + FIXED + "".join(f"{x}\n" for x in lines)


ROTATION = """\
name: rotation
start: 2016-01-01
end: 2026-06-30
capital: 1000000
benchmark: SPY
rebalance: quarterly          # daily|weekly|monthly|quarterly|yearly|never
costs: {commission_bps: 1, slippage_bps: 2}
strategies:
  - name: Mag 7 overweight
    weighting: cap            # market-cap weights of the universe
    universe: sp500
    tilt: {group: mag7, multiplier: 1.5}
  - name: Equal-weight S&P 493
    weighting: equal
    universe: {index: sp500, exclude: [mag7]}
  - name: Small-cap value tilt
    weighting: fixed
    weights: {SPY: 0.7, AVUV: 0.3}
  - name: Cap-weighted, 5% cap
    weighting: cap
    universe: sp500
    caps: {single: 0.05}
"""

# (id, YAML text, the problem as rendered: "path (line N): message"); each config has exactly one problem
# unless a fourth element gives the count.
BAD = [
    # --- the document itself
    ("empty-file", "", "<document>: is empty; a config needs at least name, start and strategies"),
    ("comments-only", "# nothing here\n", "<document>: is empty"),
    ("list-document", "- name: t\n", "<document> (line 1): must be a mapping of keys (name:, start:, "
                                     "strategies:, ...), got a list of 1 item"),
    ("malformed-flow", "name: t\nstart: [2016\n", "<document> (line 3): is not valid YAML: while parsing a flow "
                                                  "sequence expected ',' or ']'"),
    ("malformed-indent", "name: t\n  start: 2016-01-01\n", "<document> (line 2): is not valid YAML: mapping "
                                                           "values are not allowed here (line 2, column 8)"),
    ("two-documents", "name: t\n---\nname: u\n", "<document> (line 2): is not valid YAML: expected a single "
                                                 "document"),
    ("tab-indent", "name: t\n\tstart: 2016-01-01\n", "<document> (line 2): is not valid YAML: while scanning "
                                                     "for the next token found character '\\t'"),
    ("python-object-tag", top("description: !!python/object/apply:os.system [echo pwned]"),
     "description (line 5): uses the YAML tag '!!python/object/apply:os.system', which would create a Python "
     "object: configs are read as plain data only (safe YAML); remove the tag"),
    ("python-tag-at-root", "!!python/object:argparse.Namespace {name: t}\n",
     "<document> (line 1): uses the YAML tag '!!python/object:argparse.Namespace'"),
    ("binary-tag", top("description: !!binary aGk="), "description (line 5): uses the YAML tag '!!binary', "
                                                      "which a config does not support"),
    ("duplicate-top-key", "name: t\nname: u\nstart: 2016-01-01\nstrategies:\n" + FIXED,
     "name (line 2): duplicate key 'name' (first given on line 1); remove one of them"),
    ("duplicate-nested-key", cap("caps: {single: 0.05, single: 0.1}"),
     "strategies[0].caps.single (line 7): duplicate key 'single' (first given on line 7)"),
    ("recursive-alias", top("description: &d [*d]"),
     "description[0] (line 5): is a recursive alias (an anchor that contains itself)", 2),
    ("alias-bomb", "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 8))
     .replace("[*a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0]", "[1]"),
     "<document> (line 1): the document expands to more than 100000 values (aliases?); a config is small"),
    ("merge-bomb", "a0: &a0 {x: 1}\n" + "".join(f"a{i}: &a{i} {{<<: [{', '.join([f'*a{i - 1}'] * 10)}]}}\n"
                                                 for i in range(1, 8)),
     "<document> (line 1): the merge keys (<<) expand to more than 100000 values"),
    ("deep-nesting", top("description: " + "[" * 60 + "]" * 60),
     "description (line 5): is nested more than 50 levels deep; a config never needs that", 2),
    ("too-deep-to-parse", "name: " + "[" * 1000 + "]" * 1000 + "\n",
     "<document>: is nested too deeply to read; a config never needs that"),
    # --- required keys and unknown keys
    ("missing-name", "start: 2016-01-01\nstrategies:\n" + FIXED, "name: is required; add e.g. `name: rotation`"),
    ("missing-start", "name: t\nstrategies:\n" + FIXED, "start: is required; add e.g. `start: 2016-01-01`"),
    ("missing-strategies", "name: t\nstart: 2016-01-01\n", "strategies: is required"),
    ("empty-strategies", "name: t\nstart: 2016-01-01\nstrategies: []\n",
     "strategies (line 3): must not be empty; give a list of strategies"),
    ("strategies-not-a-list", "name: t\nstart: 2016-01-01\nstrategies: {F: 1}\n",
     "strategies (line 3): must be a list of strategies (each `- name: ...`), got a mapping with keys F"),
    ("strategy-not-a-mapping", strat("cap"), "strategies[0] (line 4): must be a mapping with name, weighting"),
    ("unknown-top-key", top("captial: 5"), "captial (line 5): unknown key 'captial'; did you mean 'capital'?"),
    ("strategy-key-at-top", top("tilt: {group: mag7, multiplier: 2}"),
     "tilt (line 5): unknown key 'tilt' here; it is a strategy key: put it inside an entry of strategies:"),
    ("unknown-strategy-key", cap("expense: 0.001"),
     "strategies[0].expense (line 7): unknown key 'expense'; did you mean 'expense_ratio'?"),
    ("run-key-in-strategy", cap("fill: close"),
     "strategies[0].fill (line 7): unknown key 'fill' here; it is a run-level key"),
    ("unknown-nested-key", cap("caps: {singel: 0.05}"),
     "strategies[0].caps.singel (line 7): unknown key 'singel'; did you mean 'single'?"),
    ("missing-weighting", strat("name: X", "universe: sp500"),
     "strategies[0].weighting (line 4): is required; add e.g. `weighting: cap   # fixed | equal | cap | inverse_vol | min_variance | risk_parity | hrp | sleeves`"),
    ("unknown-weighting", strat("name: X", "weighting: caps", "universe: sp500"),
     "strategies[0].weighting (line 5): must be one of fixed, equal, cap, inverse_vol, min_variance, risk_parity, hrp, sleeves, got 'caps'; did you mean 'cap'?"),
    # --- names
    ("run-name-dotdot", "name: '..'\nstart: 2016-01-01\nstrategies:\n" + FIXED,
     "name (line 1): must not be '..' (the run name becomes a folder name)"),
    ("bps-written-as-percent", top("costs: {commission_bps: 0.1%}"),
     "costs.commission_bps (line 5): must be a number, got '0.1%'; this key is in basis points: write 10 for "
     "0.1% (no quotes or %)"),
    ("group-cap-on-an-excluded-group", strat("name: X", "weighting: cap", "universe: {index: sp500, exclude: "
                                             "[mag7]}", "caps: {groups: {mag7: 0.2}}"),
     "strategies[0].caps.groups.mag7 (line 7): 'mag7' is excluded from the universe (universe.exclude), so its "
     "cap can never bind; remove the cap or the exclusion"),
    ("sleeves-with-a-universe", HEAD + FIXED + "  - {name: P, weighting: sleeves, sleeves: {F: 1}, universe: sp500}\n",
     "strategies[1].universe (line 5): does not apply to weighting: sleeves; a sleeves strategy holds the "
     "strategies named in sleeves; give each sleeve its universe"),
    ("weighting-name-as-mapping", strat("name: X", "weighting: {fixed: {SPY: 1}}"),
     "strategies[0].weighting (line 5): is a name, not a mapping: got {fixed: ...}; write `weighting: fixed` and "
     "put its settings beside it in the strategy (weights: {SPY: 0.6, AGG: 0.4})"),
    ("strategy-name-control", strat('name: "a\\tb"', "weighting: fixed", "weights: {SPY: 1}"),
     "strategies[0].name (line 4): must not contain control characters"),
    ("strategy-name-empty", strat("name: ''", "weighting: fixed", "weights: {SPY: 1}"),
     "strategies[0].name (line 4): must not be empty; give the strategy a name"),
    ("strategy-name-too-long", strat("name: " + "x" * 81, "weighting: fixed", "weights: {SPY: 1}"),
     "strategies[0].name (line 4): must be at most 80 characters, got 81; shorten it"),
    ("strategy-name-number", strat("name: 2024", "weighting: fixed", "weights: {SPY: 1}"),
     "strategies[0].name (line 4): must be text (the strategy name), got 2024; quote it"),
    ("duplicate-strategy-names", HEAD + FIXED + "  - {name: f, weighting: fixed, weights: {QQQ: 1}}\n",
     "strategies[1].name (line 5): duplicate strategy name 'f' (also strategies[0]); names must differ "
     "ignoring case"),
    ("duplicate-names-nfc-nfd", HEAD + "  - {name: \"Caf\u00e9\", weighting: fixed, weights: {SPY: 1}}\n"
     "  - {name: \"Cafe\u0301\", weighting: fixed, weights: {QQQ: 1}}\n",
     "strategies[1].name (line 5): duplicate strategy name 'Cafe\u0301' (also strategies[0]); names must "
     "differ ignoring case and Unicode spelling (NFC)"),
    ("name-reserved-for-the-benchmark", strat("name: SPY (benchmark)", "weighting: fixed", "weights: {QQQ: 1}"),
     "strategies[0].name (line 4): 'SPY (benchmark)' ends in '(benchmark)', the label the report gives the "
     "benchmark's column; rename the strategy"),
    ("ticker-look-alike-long-s", strat("name: s", "weighting: fixed", "weights: {\u017fpy: 1}"),
     "strategies[0].weights['ſpy'] (line 6): must be a ticker in plain ASCII letters, got 'ſpy': 'ſ' (U+017F) "
     "only looks like a letter of a ticker"),
    ("too-many-strategies", HEAD + "".join(f"  - {{name: s{i}, weighting: fixed, weights: {{SPY: 1}}}}\n"
                                           for i in range(201)),
     "strategies (line 4): lists 201 strategies; a run takes at most 200 (each is simulated and reported on one "
     "page); fix: split the config, or write one strategy with a `sweep:` grid and run it with `bt sweep`"),
    # --- YAML 1.1 number forms (YAML 1.2 reads them as decimal or text): refused by name
    ("capital-octal", top("capital: 010000000"), "capital (line 5): '010000000' is a YAML 1.1 octal (a leading "
                                                 "zero) number (it would read as 2.09715e+06); write it in "
                                                 "decimal digits only (10000000 if you meant decimal)"),
    ("commission-base-60", top("costs: {commission_bps: 1:30}"),
     "costs.commission_bps (line 5): '1:30' is a YAML 1.1 base 60 (colons) number (it would read as 90)"),
    ("capital-hex", top("capital: 0x1000"), "capital (line 5): '0x1000' is a YAML 1.1 hexadecimal number (it "
                                            "would read as 4096)"),
    ("capital-binary", top("capital: 0b1010"), "capital (line 5): '0b1010' is a YAML 1.1 binary number"),
    ("capital-tiny", top("capital: 1.0e-300"), "capital (line 5): must be in [1, 1e13), got 1e-300"),
    # --- dates
    ("end-before-start", top("end: 2015-06-30"), "end (line 5): must be after start (2016-01-01), got "
                                                 "2015-06-30; swap them"),
    ("end-equals-start", top("end: 2016-01-01"), "end (line 5): must be after start (2016-01-01)"),
    ("date-us-format", "name: t\nstart: 01/02/2016\nstrategies:\n" + FIXED,
     "start (line 2): must be a date YYYY-MM-DD (e.g. 2016-01-01), got '01/02/2016'"),
    ("date-impossible", "name: t\nstart: 2016-02-30\nstrategies:\n" + FIXED,
     "start (line 2): is not a valid date: '2016-02-30' (day is out of range for month)"),
    ("date-quoted-impossible", "name: t\nstart: '2016-13-01'\nstrategies:\n" + FIXED,
     "start (line 2): is not a valid calendar date, got '2016-13-01'; use YYYY-MM-DD"),
    ("date-with-time", "name: t\nstart: 2016-01-01 10:30:00\nstrategies:\n" + FIXED,
     "start (line 2): must be a date without a time of day"),
    ("date-absurd-year", "name: t\nstart: 0001-01-01\nstrategies:\n" + FIXED,
     "start (line 2): must be between 1900-01-01 and 2100-12-31, got 0001-01-01"),
    # --- numbers
    ("capital-zero", top("capital: 0"), "capital (line 5): must be in [1, 1e13), got 0"),
    ("capital-negative", top("capital: -5"), "capital (line 5): must be in [1, 1e13), got -5"),
    ("capital-absurd", top("capital: 1e308"), "capital (line 5): must be in [1, 1e13), got 1e+308"),
    ("capital-inf", top("capital: .inf"), "capital (line 5): must be a finite number, got inf"),
    ("capital-nan", top("capital: .nan"), "capital (line 5): must be a finite number, got nan"),
    ("capital-bool", top("capital: true"), "capital (line 5): must be a number, got true"),
    ("capital-quoted", top("capital: '1000'"), "capital (line 5): must be a number, got '1000'; remove the "
                                               "quotes"),
    ("capital-huge-int", top("capital: " + "9" * 5000),
     "capital (line 5): is not a valid number: '999"),
    ("bps-too-high", top("costs: {commission_bps: 2000}"),
     "costs.commission_bps (line 5): must be in [0, 1000], got 2000; in basis points, e.g. 2 for 0.02%"),
    ("bps-negative", top("costs: {slippage_bps: -1}"), "costs.slippage_bps (line 5): must be in [0, 1000], "
                                                       "got -1"),
    ("costs-unknown-key", top("costs: {commision_bps: 1}"),
     "costs.commision_bps (line 5): unknown key 'commision_bps'; did you mean 'commission_bps'?"),
    ("expense-ratio-absurd", cap("expense_ratio: 0.5"),
     "strategies[0].expense_ratio (line 7): must be in [0, 0.1], got 0.5"),
    # --- fixed weights
    ("weights-sum", strat("name: X", "weighting: fixed", "weights: {SPY: 0.7, AVUV: 0.2}"),
     "strategies[0].weights (line 6): must sum to 1 (within 1e-06), got 0.9 (SPY 0.7 + AVUV 0.2); add 0.1 to "
     "one of them, or divide each by 0.9"),
    ("weights-sum-over", strat("name: X", "weighting: fixed", "weights: {SPY: 0.7, AVUV: 0.4}"),
     "strategies[0].weights (line 6): must sum to 1 (within 1e-06), got 1.1 (SPY 0.7 + AVUV 0.4); take 0.1 off "
     "them"),
    ("weights-negative", strat("name: X", "weighting: fixed", "weights:", "  SPY: 1", "  AVUV: -0.2"),
     "strategies[0].weights.AVUV (line 8): must be in [0, 1], got -0.2"),
    ("weights-percent-text", strat("name: X", "weighting: fixed", "weights: {SPY: '70%', AVUV: 0.3}"),
     "strategies[0].weights.SPY (line 6): must be a number, got '70%'; write a fraction without quotes or %, "
     "e.g. 0.7"),
    ("weights-group-key", strat("name: X", "weighting: fixed", "weights: {mag7: 1}"),
     "strategies[0].weights.mag7 (line 6): 'mag7' is a group; weights take tickers, so list its members"),
    ("weights-same-ticker-twice", strat("name: X", "weighting: fixed", "weights: {spy: 0.5, SPY: 0.5}"),
     "strategies[0].weights.SPY (line 6): names SPY a second time; merge the two weights"),
    ("weights-empty", strat("name: X", "weighting: fixed", "weights: {}"),
     "strategies[0].weights (line 6): must list at least one ticker"),
    ("fixed-without-weights", strat("name: X", "weighting: fixed"),
     "strategies[0].weights (line 4): is required for weighting: fixed"),
    ("fixed-with-universe", strat("name: X", "weighting: fixed", "weights: {SPY: 1}", "universe: sp500"),
     "strategies[0].universe (line 7): does not apply to weighting: fixed; a fixed strategy holds exactly the "
     "tickers in its weights"),
    # --- universes and tickers
    ("equal-without-universe", strat("name: X", "weighting: equal"),
     "strategies[0].universe (line 4): is required for weighting: equal"),
    ("universe-unknown-index", strat("name: X", "weighting: equal", "universe: sp400"),
     "strategies[0].universe (line 6): must be an index (sp500), a group (mag7), a list of tickers or a mapping "
     "{index, tickers, exclude, membership}, got 'sp400'; did you mean 'sp500'?"),
    ("universe-empty-after-exclude", strat("name: X", "weighting: equal",
                                           "universe: {tickers: [AAPL], exclude: [aapl]}"),
     "strategies[0].universe.exclude (line 6): removes every ticker: the universe would be empty"),
    ("universe-membership-without-index", strat("name: X", "weighting: equal",
                                                "universe: {tickers: [AAPL, MSFT], membership: current}"),
     "strategies[0].universe.membership (line 6): applies only with index"),
    ("universe-bad-membership", strat("name: X", "weighting: equal",
                                      "universe: {index: sp500, membership: today}"),
     "strategies[0].universe.membership (line 6): must be one of point_in_time, current, static, got 'today'"),
    ("universe-static-with-index", strat("name: X", "weighting: equal",
                                         "universe: {index: sp500, tickers: [mag7], membership: static}"),
     "strategies[0].universe.membership (line 6): static applies only without index"),
    ("universe-current-group-without-index", strat("name: X", "weighting: equal",
                                                   "universe: {tickers: [mag7], membership: current}"),
     "strategies[0].universe.membership (line 6): current applies only with index"),
    ("per-bad", strat("name: X", "weighting: equal", "universe: sp500", "per: share"),
     "strategies[0].per (line 7): must be one of company, line, got 'share'"),
    ("per-on-fixed", strat("name: X", "weighting: fixed", "weights: {SPY: 1}", "per: line"),
     "strategies[0].per (line 7): applies only to equal splits (weighting: equal, or a tilt with weight and "
     "inside: equal)"),
    ("per-on-plain-cap", strat("name: X", "weighting: cap", "universe: sp500", "per: company"),
     "strategies[0].per (line 7): applies only to equal splits and selections: cap weights hold each share "
     "class at its own cap"),
    ("ticker-malformed", strat("name: X", "weighting: equal", "universe: [AAPL, 'MS FT']"),
     "strategies[0].universe[1] (line 6): must be a ticker symbol like 'SPY' or 'BRK-B'"),
    ("ticker-number", strat("name: X", "weighting: equal", "universe: [AAPL, 3]"),
     "strategies[0].universe[1] (line 6): must be a ticker symbol (text), got 3; quote it, e.g. '3'"),
    ("ticker-repeated", strat("name: X", "weighting: equal", "universe: [AAPL, MSFT, aapl]"),
     "strategies[0].universe[2] (line 6): 'AAPL' is listed twice (also item 0); remove the repeat"),
    ("group-typo-in-exclude", strat("name: X", "weighting: equal", "universe: {index: sp500, exclude: [mag8]}"),
     "strategies[0].universe.exclude[0] (line 6): is not a known group, got 'mag8'; did you mean 'mag7'?"),
    ("benchmark-bad", top("benchmark: [SPY]"), "benchmark (line 5): must be a ticker symbol such as 'SPY', "
                                               "got a list of 1 item"),
    ("cash-yield-number", cap("cash_yield: 5"),
     "strategies[0].cash_yield (line 7): must be a ticker symbol (text), got 5"),
    ("ticker-share-class-dot", strat("name: X", "weighting: fixed", "weights: {BRK.B: 1}"),
     "strategies[0].weights['BRK.B'] (line 6): must spell a share class with a dash, as the price store does, "
     "got 'BRK.B'; did you mean BRK-B?"),
    ("ticker-share-class-slash", strat("name: X", "weighting: equal", "universe: [AAPL, bf/b]"),
     "strategies[0].universe[1] (line 6): must spell a share class with a dash, as the price store does, got "
     "'bf/b'; did you mean BF-B?"),
    ("benchmark-share-class-dot", top("benchmark: BRK.B"),
     "benchmark (line 5): must spell a share class with a dash, as the price store does, got 'BRK.B'; did you "
     "mean BRK-B?"),
    # --- tilts
    ("tilt-on-equal", strat("name: X", "weighting: equal", "universe: sp500", "tilt: {multiplier: 2}"),
     "strategies[0].tilt (line 7): does not apply to weighting: equal; a tilt scales market-cap weights, so it "
     "needs weighting: cap"),
    ("tilt-both", cap("tilt: {group: mag7, multiplier: 1.5, weight: 0.3}"),
     "strategies[0].tilt (line 7): gives both multiplier and weight; give exactly one"),
    ("tilt-neither", cap("tilt: {group: mag7}"),
     "strategies[0].tilt (line 7): needs multiplier or weight; give exactly one"),
    ("tilt-multiplier-zero", cap("tilt: {multiplier: 0}"),
     "strategies[0].tilt.multiplier (line 7): must be in (0, 100], got 0"),
    ("tilt-weight-one", cap("tilt: {weight: 1}"), "strategies[0].tilt.weight (line 7): must be in (0, 1), got 1"),
    ("tilt-inside-with-multiplier", cap("tilt: {multiplier: 2, inside: equal}"),
     "strategies[0].tilt.inside (line 7): applies only with weight"),
    ("tilt-unknown-group", cap("tilt: {group: mag8, multiplier: 2}"),
     "strategies[0].tilt.group (line 7): must name a group (mag7; add others under the top-level groups:), got "
     "'mag8'; did you mean 'mag7'?"),
    ("tilt-group-excluded", strat("name: X", "weighting: cap", "universe: {index: sp500, exclude: [mag7]}",
                                  "tilt: {group: mag7, weight: 0.3}"),
     "strategies[0].tilt.group (line 7): 'mag7' is excluded from the universe (universe.exclude), so it cannot "
     "be tilted"),
    # --- caps
    ("caps-single-too-big", cap("caps: {single: 1.5}"), "strategies[0].caps.single (line 7): must be in (0, 1], "
                                                        "got 1.5"),
    ("caps-single-bool", cap("caps: {single: true}"), "strategies[0].caps.single (line 7): must be a number, "
                                                      "got true"),
    ("caps-on-equal", strat("name: X", "weighting: equal", "universe: sp500", "caps: {single: 0.05}"),
     "strategies[0].caps (line 7): does not apply to weighting: equal; caps limit computed weights, so they need weighting: cap or a risk-based"),
    ("caps-empty", cap("caps: {}"), "strategies[0].caps (line 7): sets no cap; give single, groups, aggregate "
                                    "or rule"),
    ("caps-unknown-group", cap("caps: {groups: {mag8: 0.25}}"),
     "strategies[0].caps.groups.mag8 (line 7): must name a group"),
    ("caps-group-below-tilt-weight", cap("tilt: {group: mag7, weight: 0.4}", "caps: {groups: {mag7: 0.25}}"),
     "strategies[0].caps.groups.mag7 (line 8): cap 0.25 on 'mag7' is below tilt.weight 0.4 for the same group: "
     "both cannot hold"),
    ("caps-tilt-weight-over-single-caps", cap("tilt: {group: mag7, weight: 0.5}", "caps: {single: 0.05}"),
     "strategies[0].tilt.weight (line 7): 0.5 cannot be held: the group's 8 names capped at 0.05 hold at most "
     "0.4"),
    ("caps-infeasible-explicit", strat("name: X", "weighting: cap", "universe: [AAPL, MSFT, NVDA]",
                                       "caps: {single: 0.3}"),
     "strategies[0].caps (line 7): cannot be met: the universe's 3 names can hold at most 0.9 in total"),
    ("caps-aggregate-order", cap("caps: {aggregate: {threshold: 0.1, single: 0.05, limit: 0.4}}"),
     "strategies[0].caps.aggregate.threshold (line 7): threshold (0.1) must be below single (0.05)"),
    ("caps-aggregate-limit", cap("caps: {aggregate: {limit: 1.5}}"),
     "strategies[0].caps.aggregate.limit (line 7): must be in (0, 1], got 1.5"),
    ("caps-rule-malformed", cap("caps: {rule: 5-10-40}"),
     "strategies[0].caps.rule (line 7): must be 'threshold/single/limit' in percent such as '5/10/40'"),
    ("caps-rule-and-aggregate", cap("caps: {rule: 5/10/40, aggregate: {limit: 0.4}}"),
     "strategies[0].caps.rule (line 7): and aggregate both set the aggregate cap; keep one of them"),
    ("caps-rule-order", cap("caps: {rule: 10/5/40}"),
     "strategies[0].caps.rule (line 7): threshold (0.1) must be below single (0.05)"),
    # --- rebalance schedules
    ("rebalance-typo", top("rebalance: quartrly"),
     "rebalance (line 5): must be one of daily, weekly, monthly, quarterly, yearly, never, got 'quartrly'; did "
     "you mean 'quarterly'?"),
    ("rebalance-day-zero", cap("rebalance: {every: monthly, day: 0}"),
     "strategies[0].rebalance.day (line 7): must be a non-zero number in [-23, 23] (a month has at most 23 "
     "trading days; 1 = first, -1 = last), got 0"),
    ("rebalance-day-on-daily", cap("rebalance: {every: daily, day: last}"),
     "strategies[0].rebalance.day (line 7): does not apply to every: daily"),
    ("rebalance-weekday-weekly", cap("rebalance: {every: weekly, weekday: friday}"),
     "strategies[0].rebalance.weekday (line 7): does not apply to every: weekly"),
    ("rebalance-nth-without-weekday", cap("rebalance: {every: monthly, nth: 3}"),
     "strategies[0].rebalance.nth (line 7): needs weekday (e.g. weekday: friday, nth: 3 for the third Friday)"),
    ("rebalance-nth-range", cap("rebalance: {every: quarterly, weekday: friday, nth: 6}"),
     "strategies[0].rebalance.nth (line 7): must be in [1, 5], got 6"),
    ("rebalance-day-and-weekday", cap("rebalance: {every: monthly, day: 3, weekday: friday}"),
     "strategies[0].rebalance.day (line 7): cannot be combined with weekday"),
    ("rebalance-weekday-typo", cap("rebalance: {every: monthly, weekday: fri}"),
     "strategies[0].rebalance.weekday (line 7): must be one of monday, tuesday, wednesday, thursday, friday, "
     "got 'fri'; did you mean 'friday'?"),
    ("drift-on-never", cap("rebalance: {every: never, drift: {absolute: 0.05}}"),
     "strategies[0].rebalance.drift (line 7): does not apply to every: never"),
    ("drift-empty", cap("rebalance: {every: daily, drift: {}}"),
     "strategies[0].rebalance.drift (line 7): needs absolute and/or relative"),
    ("drift-absurd", cap("rebalance:", "  every: monthly", "  drift: {relative: 25}"),
     "strategies[0].rebalance.drift.relative (line 9): must be in (0, 1], got 25; e.g. 0.25"),
    # --- proxies
    ("proxy-of-itself", strat("name: X", "weighting: fixed", "weights: {AVUV: 1}", "proxies: {AVUV: avuv}"),
     "strategies[0].proxies.AVUV (line 7): AVUV cannot be its own proxy"),
    ("proxy-not-held", strat("name: X", "weighting: fixed", "weights: {SPY: 1}", "proxies: {AVUV: IWN}"),
     "strategies[0].proxies.AVUV (line 7): AVUV is not in weights, so its proxy would never be used"),
    ("proxy-loop", strat("name: X", "weighting: fixed", "weights: {AAA: 0.5, BBB: 0.5}",
                         "proxies: {AAA: BBB, BBB: AAA}"),
     "strategies[0].proxies.AAA (line 7): proxies form a loop (AAA -> BBB -> AAA); break it"),
    ("proxy-on-a-universe", strat("name: X", "weighting: equal", "universe: [SPY, AVUV]", "proxies: {AVUV: IWN}"),
     "strategies[0].proxies (line 7): does not apply to weighting: equal; a proxy is spliced only into the "
     "tickers of fixed weights (a universe name without prices is left out, never proxied); remove proxies"),
    # --- run-level choices and groups
    ("fill-typo", top("fill: next-close"),
     "fill (line 5): must be one of close, next_close, got 'next-close'; did you mean 'next_close'?"),
    ("risk-free-rate", top("risk_free: 0.02"), "risk_free (line 5): must be a ticker (e.g. BIL), irx or null, got "
                                               "0.02; a constant rate is not supported"),
    ("membership-source-bad", top("membership_source: wikipedia"),
     "membership_source (line 5): must be one of snapshot, index-constitution, got 'wikipedia'"),
    ("group-bad-name", top("groups: {'big tech': [AAPL]}"),
     "groups['big tech'] (line 5): group name must start with a letter and use only a-z, 0-9, _ and -"),
    ("group-named-like-index", top("groups: {sp500: [AAPL]}"),
     "groups.sp500 (line 5): 'sp500' is an index name and cannot be a group"),
    ("group-empty", top("groups: {banks: []}"), "groups.banks (line 5): must not be empty; give a list of "
                                                "tickers"),
    # --- analytics
    ("analytics-window-typo", top("analytics: {windows: [ytd, yearly]}"),
     "analytics.windows[1] (line 5): must be a window name (ytd, mtd, full, 1m, 3m, 6m, 1y, 3y, 5y, or any <n>m "
     "/ <n>y) or a mapping {start, end}, got 'yearly'"),
    ("analytics-asof-before-start", top("analytics: {asof: 2010-01-01}"),
     "analytics.asof (line 5): must not be before start (2016-01-01), got 2010-01-01"),
    ("analytics-window-backwards", top("analytics:", "  windows:", "    - {start: 2020-03-01, end: 2020-02-01}"),
     "analytics.windows[0].end (line 7): must be after start (2020-03-01), got 2020-02-01"),
    # --- sweeps
    ("sweep-unknown-key", cap("caps: {single: 0.05}") + "sweep: {grid: {caps.singel: [0.03]}}\n",
     "sweep.grid['caps.singel'] (line 8): unknown strategy key path 'caps.singel'; did you mean 'caps.single'?"),
    ("sweep-bad-value", cap("caps: {single: 0.05}") + "sweep:\n  grid:\n    caps.single: [0.03, 1.5]\n",
     "sweep.grid['caps.single'][1] (line 10): must be in (0, 1], got 1.5"),
    ("sweep-bad-schedule", cap() + "sweep:\n  grid:\n    rebalance:\n      - monthly\n      - fortnightly\n",
     "sweep.grid.rebalance[1] (line 11): must be one of daily, weekly, monthly, quarterly, yearly, never, got "
     "'fortnightly'"),
    ("sweep-unknown-strategy", cap() + "sweep: {strategy: D, grid: {caps.single: [0.03]}}\n",
     "sweep.strategy (line 7): must name one of the strategies ('C'), got 'D'"),
    ("sweep-key-not-applicable", HEAD + FIXED + "sweep: {strategy: F, grid: {caps.single: [0.03]}}\n",
     "sweep.grid['caps.single'] (line 5): does not apply to 'F' (weighting: fixed); caps needs weighting cap"),
    ("sweep-applies-to-none", cap() + "sweep: {grid: {tilt.multiplier: [2]}}\n",
     "sweep.grid['tilt.multiplier'] (line 7): applies to no strategy (none has tilt with weighting cap); name "
     "the strategy to vary with sweep.strategy, or remove the key"),
    ("sweep-values-not-list", cap() + "sweep: {grid: {caps.single: 0.05}}\n",
     "sweep.grid['caps.single'] (line 7): must be a non-empty list of values, e.g. [0.03, 0.05], got 0.05"),
    ("sweep-empty-grid", cap() + "sweep: {grid: {}}\n", "sweep.grid (line 7): must not be empty"),
    ("sweep-name", cap() + "sweep: {grid: {name: [a, b]}}\n", "sweep.grid.name (line 7): name cannot be swept"),
    # --- risk-based weightings (strategies.risk)
    ("lookback-not-a-whole-number", strat("name: R", "weighting: risk_parity", "universe: sp500",
                                          "lookback: 25.5"),
     "strategies[0].lookback (line 7): must be a whole number, got 25.5; trading days of daily returns, e.g. 252"),
    ("lookback-too-short", strat("name: R", "weighting: inverse_vol", "universe: sp500", "lookback: 1"),
     "strategies[0].lookback (line 7): must be in [2, 2520], got 1"),
    ("covariance-unknown", strat("name: R", "weighting: min_variance", "universe: sp500",
                                 "covariance: ledoitwolf"),
     "strategies[0].covariance (line 7): must be one of sample, ledoit_wolf, got 'ledoitwolf'; did you mean "
     "'ledoit_wolf'?"),
    ("covariance-on-inverse-vol", strat("name: R", "weighting: inverse_vol", "universe: sp500",
                                        "covariance: sample"),
     "strategies[0].covariance (line 7): does not apply to weighting: inverse_vol; covariance is the estimator "
     "of min_variance, risk_parity and hrp"),
    ("lookback-on-cap", cap("lookback: 252"),
     "strategies[0].lookback (line 7): does not apply to weighting: cap; lookback is the window of returns of "
     "the risk-based weightings"),
    ("risk-weighting-without-universe", strat("name: R", "weighting: hrp"),
     "strategies[0].universe (line 4): is required for weighting: hrp"),
    ("per-on-a-risk-weighting", strat("name: R", "weighting: inverse_vol", "universe: sp500", "per: line"),
     "strategies[0].per (line 7): does not apply to weighting: inverse_vol; it says how an equal split "
     "(weighting: equal, or a cap tilt with inside: equal) or a select counts share classes"),
    # --- selection and signals (strategies.signals)
    ("select-top-and-bottom", strat("name: M", "weighting: equal", "universe: sp500",
                                    "select: {by: momentum, top: 50, bottom: 50}"),
     "strategies[0].select (line 7): gives both top and bottom; give exactly one: top: 50 keeps the 50 highest"),
    ("select-skip-not-below-lookback", strat("name: M", "weighting: equal", "universe: sp500",
                                             "select: {by: momentum, lookback: 21, skip: 21, top: 5}"),
     "strategies[0].select.skip (line 7): must be below lookback (21), got 21"),
    ("select-skip-on-volatility", strat("name: M", "weighting: equal", "universe: sp500",
                                        "select: {by: volatility, skip: 5, bottom: 5}"),
     "strategies[0].select.skip (line 7): applies only to by: momentum"),
    ("select-unknown-measure", strat("name: M", "weighting: equal", "universe: sp500",
                                     "select: {by: momentun, top: 5}"),
     "strategies[0].select.by (line 7): must be one of momentum, volatility, got 'momentun'; did you mean "
     "'momentum'?"),
    ("select-on-fixed", strat("name: M", "weighting: fixed", "weights: {SPY: 1}", "select: {top: 5}"),
     "strategies[0].select (line 7): does not apply to weighting: fixed; select ranks the names of a universe"),
    ("trend-without-defensive", strat("name: M", "weighting: fixed", "weights: {SPY: 1}",
                                      "trend: {ticker: SPY, days: 200}"),
     "strategies[0].trend.defensive (line 7): is required; add e.g. `defensive: BIL`"),
    ("tilt-while-leading-zero", cap("tilt: {group: mag7, multiplier: 2, while_leading: 0}"),
     "strategies[0].tilt.while_leading (line 7): must be in [1, 2520], got 0; trading days, e.g. 126"),
    # --- sleeves (a strategy of strategies)
    ("sleeve-unknown-strategy", HEAD + FIXED + "  - {name: S, weighting: sleeves, sleeves: {F: 0.5, G: 0.5}}\n",
     "strategies[1].sleeves.G (line 5): names no strategy of this config; sleeves are other strategies, one of: F"),
    ("sleeve-is-itself", HEAD + FIXED + "  - {name: S, weighting: sleeves, sleeves: {F: 0.5, S: 0.5}}\n",
     "strategies[1].sleeves.S (line 5): is this strategy itself; a sleeve must be another strategy"),
    ("sleeves-nested", HEAD + FIXED + "  - {name: S, weighting: sleeves, sleeves: {F: 1}}\n"
                       "  - {name: T, weighting: sleeves, sleeves: {F: 0.5, S: 0.5}}\n",
     "strategies[2].sleeves.S (line 6): is itself weighting: sleeves; sleeves cannot nest"),
    ("sleeves-cycle", HEAD + FIXED + "  - {name: S, weighting: sleeves, sleeves: {T: 1}}\n"
                      "  - {name: T, weighting: sleeves, sleeves: {S: 1}}\n",
     "strategies[1].sleeves.T (line 5): is itself weighting: sleeves; sleeves cannot nest", 2),
    ("sweep-varies-a-sleeve", HEAD + FIXED + "  - {name: G, weighting: fixed, weights: {QQQ: 1}}\n"
                              "  - {name: S, weighting: sleeves, sleeves: {F: 1, G: -1}}\n"
                              "sweep: {strategy: G, grid: {expense_ratio: [0, 0.01]}}\n",
     "sweep.strategy (line 7): varies 'G', a sleeve of 'S': its variants replace it"),
    ("sweep-run-level-key", top("sweep: {grid: {fill: [close, next_close]}}"),
     "sweep.grid.fill (line 5): 'fill' is a run-level key, the same for every strategy of a run: it cannot be "
     "swept"),
    ("sweep-values-print-alike", top("sweep: {grid: {expense_ratio: [0.001, 0.0010000000000000002]}}"),
     "sweep.grid (line 5): two different values print alike in the variant name 'F [expense_ratio=0.001]'"),
    ("sweep-varies-a-control", HEAD + FIXED + "  - {name: G, weighting: fixed, weights: {QQQ: 1}}\n"
                               "controls: [F]\nsweep: {grid: {expense_ratio: [0, 0.01]}}\n",
     "sweep (line 7): varies 'F', a control (controls:): its variants replace it, so no strategy would be "
     "measured against it"),
    ("sleeves-sum", HEAD + FIXED + "  - {name: S, weighting: sleeves, sleeves: {F: 0.6}}\n",
     "strategies[1].sleeves (line 5): must sum to 1 (within 1e-06), got 0.6; adjust the weights"),
    ("sleeves-missing", strat("name: S", "weighting: sleeves"),
     "strategies[0].sleeves (line 4): is required for weighting: sleeves"),
    ("sleeves-on-equal", strat("name: S", "weighting: equal", "universe: sp500", "sleeves: {A: 1}"),
     "strategies[0].sleeves (line 7): does not apply to weighting: equal; sleeves are only for weighting: sleeves"),
    # --- cash flows (backtest.cashflows)
    ("cash-flow-every-and-date", top("cash_flows: [{every: monthly, date: 2020-01-02, amount: 100}]"),
     "cash_flows[0] (line 5): gives both every and date; give exactly one: every: monthly (a schedule) or "
     "date: 2022-01-03 (once)"),
    ("cash-flow-no-amount", top("cash_flows: [{every: monthly}]"),
     "cash_flows[0] (line 5): needs amount or percent; give exactly one: amount: 1000"),
    ("cash-flow-daily", top("cash_flows: [{every: daily, amount: 100}]"),
     "cash_flows[0].every (line 5): must be one of weekly, monthly, quarterly, yearly, got 'daily'"),
    ("cash-flow-percent-below-minus-one", top("cash_flows: [{every: yearly, percent: -1.5}]"),
     "cash_flows[0].percent (line 5): must be in [-1, 10], got -1.5; a fraction of the account value"),
    ("cash-flow-zero", top("cash_flows: [{date: 2020-01-02, amount: 0}]"),
     "cash_flows[0] (line 5): is zero; remove it or give a non-zero amount or percent"),
    # --- long/short through sleeves
    ("sleeves-net-above-one", HEAD + FIXED + "  - {name: G, weighting: fixed, weights: {QQQ: 1}}\n"
                              "  - {name: S, weighting: sleeves, sleeves: {F: 1.5, G: -0.2}}\n",
     "strategies[2].sleeves (line 6): net exposure (the sum, shorts negative) must be in [0, 1], got 1.3"),
    ("sleeves-gross-too-high", HEAD + FIXED + "  - {name: G, weighting: fixed, weights: {QQQ: 1}}\n"
                               "  - {name: S, weighting: sleeves, sleeves: {F: 2.5, G: -2}}\n",
     "strategies[2].sleeves (line 6): gross exposure (the sum of absolute shares) must be at most 3, got 4.5"),
    ("borrow-fee-without-short", HEAD + FIXED + "  - {name: S, weighting: sleeves, sleeves: {F: 1}, "
                                 "borrow_fee: 0.01}\n",
     "strategies[1].borrow_fee (line 5): applies only to a sleeves strategy with a short (negative) sleeve"),
    ("sweep-repeated-value", cap() + "sweep: {grid: {caps.single: [0.05, 0.050]}}\n",
     "sweep.grid['caps.single'][1] (line 7): repeats value 0.05 (item 0); remove the repeat"),
    ("sweep-combination-conflict", cap("tilt: {group: mag7, weight: 0.4}") +
     "sweep: {strategy: C, grid: {caps.groups.mag7: [0.5, 0.3]}}\n",
     "sweep.grid['caps.groups.mag7'][1] (line 8): cap 0.3 on 'mag7' is below tilt.weight 0.4"),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_config_is_rejected_with_path_line_and_message(case):
    _, text, expected, *count = case
    with pytest.raises(ConfigError, match=re.escape(expected)) as info:
        parse_config(text)
    assert len(info.value.problems) == (count[0] if count else 1), str(info.value)
    assert info.value.exit_code == 2


def test_catalogue_is_large_and_distinct():
    assert len(BAD) >= 30
    assert len({c[0] for c in BAD}) == len(BAD)
    assert len({c[1] for c in BAD}) == len(BAD)


def test_every_problem_is_reported_at_once():
    text = ROTATION.replace("capital: 1000000", "capital: -1").replace("{SPY: 0.7, AVUV: 0.3}", "{SPY: 0.7}") \
        .replace("caps: {single: 0.05}", "caps: {single: 1.5}").replace("fill", "x") + "fil: close\n"
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="rotation.yaml")
    rendered = [str(p) for p in info.value.problems]
    assert rendered == [
        "capital (line 4): must be in [1, 1e13), got -1; the starting value in dollars, e.g. 1000000",
        "strategies[2].weights (line 18): must sum to 1 (within 1e-06), got 0.7 (SPY 0.7); add 0.3 to one of "
        "them, or divide each by 0.7",
        "strategies[3].caps.single (line 22): must be in (0, 1], got 1.5; the largest weight of any name, e.g. "
        "0.05 for a 5% cap",
        "fil (line 23): unknown key 'fil'; did you mean 'fill'?",
    ]
    message = str(info.value)
    assert message.startswith("rotation.yaml: 4 problems in the config:\n  - capital (line 4)")


def test_problem_fields_are_structured():
    with pytest.raises(ConfigError) as info:
        parse_config(cap("caps: {single: 1.5}"))
    (p,) = info.value.problems
    assert (p.path, p.line) == ("strategies[0].caps.single", 7)
    assert p.message.startswith("must be in (0, 1], got 1.5")


# ---------------------------------------------------------------------------------------------------- good


def test_rotation_example_parses_to_the_contract_objects():
    cfg = parse_config(ROTATION)
    assert cfg.name == "rotation"
    assert cfg.start == pd.Timestamp("2016-01-01") and cfg.end == pd.Timestamp("2026-06-30")
    assert cfg.capital == 1_000_000.0 and isinstance(cfg.capital, float)
    assert cfg.costs == Costs(commission_bps=1.0, slippage_bps=2.0)
    assert cfg.rebalance == Schedule(every="quarterly")
    assert (cfg.fill, cfg.risk_free, cfg.membership_source, cfg.sweep) == ("next_close", None, "snapshot", None)
    assert cfg.groups["mag7"] == ("AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "GOOG", "META", "TSLA")
    assert cfg.analytics is None     # no block: the defaults apply where the analytics can run
    assert Analytics() == Analytics(asof=None, windows=("ytd", "full"), snapshot=("IWM", "AVUV", "VTV", "SPY"))
    mag, ew, scv, capped = cfg.strategies
    assert mag == StrategyConfig(name="Mag 7 overweight", weighting="cap", universe=UniverseSpec(index="sp500"),
                                 tilt=Tilt(group="mag7", multiplier=1.5), rebalance=Schedule(),
                                 costs=Costs(1.0, 2.0))
    assert ew.universe == UniverseSpec(index="sp500", exclude=("mag7",), membership="point_in_time")
    assert scv.weights == {"SPY": 0.7, "AVUV": 0.3} and isinstance(scv.weights, MappingProxyType)
    assert capped.caps == Caps(single=0.05)
    assert cfg.source_path is None


def test_objects_are_frozen_and_picklable():
    cfg = parse_config(ROTATION)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.name = "x"
    with pytest.raises(TypeError):
        cfg.strategies[2].weights["SPY"] = 1.0
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    assert copy.deepcopy(cfg) == cfg


FULL = """\
name: everything
description: every key at once
start: '2010-01-04'
capital: 1e6
benchmark: spy
rebalance: {every: monthly, day: -1, drift: {absolute: 0.05, relative: 0.25}}
costs: {commission_bps: 0.5}
fill: close
risk_free: ^IRX
membership_source: index-constitution
groups:
  mag7: [AAPL, MSFT, NVDA, AMZN, GOOGL, META, TSLA]
  Energy: [xom, cvx]
strategies:
  - name: Third Friday
    weighting: equal
    universe: {index: sp500, tickers: [BRK-B], exclude: [energy, ON], membership: current}
    rebalance: {every: quarterly, weekday: Friday, nth: 3}
  - name: Tilted
    weighting: cap
    universe: [mag7, JPM, BAC, ON]
    tilt: {group: mag7, weight: 0.4, inside: equal}
    caps: {single: 0.2, groups: {energy: 0.1}, rule: 10/25/60}
    costs: {slippage_bps: 3}
    cash_yield: bil
  - name: Core-satellite
    weighting: fixed
    weights: {SPY: 0.6, AVUV: 0.4}
    proxies: {AVUV: IWN}
    expense_ratio: 0.0025
    rebalance: never
analytics:
  asof: 2024-06-28
  windows: [ytd, 2y, {start: 2020-02-19, end: 2020-03-23}, {start: 2022-01-03}]
  snapshot: [iwm, SPY]
"""


def test_every_shorthand_and_override_resolves():
    cfg = parse_config(FULL)
    assert cfg.description == "every key at once"
    assert cfg.start == pd.Timestamp("2010-01-04") and cfg.end is None
    assert cfg.capital == 1e6 and cfg.benchmark == "SPY"
    assert cfg.rebalance == Schedule(every="monthly", day=-1, drift=Drift(absolute=0.05, relative=0.25))
    assert cfg.costs == Costs(commission_bps=0.5, slippage_bps=0.0)
    assert (cfg.fill, cfg.risk_free, cfg.membership_source) == ("close", "irx", "index-constitution")
    assert cfg.groups == {"mag7": ("AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA"),
                          "energy": ("XOM", "CVX")}
    friday, tilted, core = cfg.strategies
    assert friday.universe == UniverseSpec(index="sp500", tickers=("BRK-B",), exclude=("energy", "ON"),
                                           membership="current")
    assert friday.rebalance == Schedule(every="quarterly", weekday="friday", nth=3)
    assert friday.costs == cfg.costs                     # inherited from the top level
    assert tilted.universe == UniverseSpec(tickers=("mag7", "JPM", "BAC", "ON"))
    assert tilted.tilt == Tilt(group="mag7", weight=0.4, inside="equal")
    assert tilted.caps == Caps(single=0.2, groups=(("energy", 0.1),),
                               aggregate=AggregateCap(threshold=0.10, limit=0.60, single=0.25))
    assert tilted.costs == Costs(commission_bps=0.0, slippage_bps=3.0)   # replaces the top-level costs whole
    assert tilted.rebalance == cfg.rebalance and tilted.cash_yield == "BIL"
    assert core.weights == {"SPY": 0.6, "AVUV": 0.4} and core.proxies == (("AVUV", "IWN"),)
    assert core.expense_ratio == 0.0025 and core.rebalance == Schedule(every="never")
    assert cfg.analytics == Analytics(
        asof=pd.Timestamp("2024-06-28"),
        windows=("ytd", "2y", (pd.Timestamp("2020-02-19"), pd.Timestamp("2020-03-23")),
                 (pd.Timestamp("2022-01-03"), None)),
        snapshot=("IWM", "SPY"))


@pytest.mark.parametrize("rule, expected", [
    ("5/10/40", AggregateCap(threshold=0.05, limit=0.40, single=0.10)),
    ("35/20", AggregateCap(threshold=0.20, limit=0.35, single=0.35)),
    (" 4.5 / 9 / 45 ", AggregateCap(threshold=0.045, limit=0.45, single=0.09)),
])
def test_caps_rule_shorthand(rule, expected):
    cfg = parse_config(cap(f"caps: {{rule: '{rule}'}}"))
    assert cfg.strategies[0].caps == Caps(aggregate=expected)


def test_aggregate_defaults_are_the_5_10_40_rule():
    assert parse_config(cap("caps: {aggregate: {}}")).strategies[0].caps.aggregate == AggregateCap()


@pytest.mark.parametrize("text, expected", [
    ("monthly", Schedule(every="monthly")),
    ("{every: monthly, day: last}", Schedule(every="monthly", day="last")),
    ("{every: yearly, day: 3}", Schedule(every="yearly", day=3)),
    ("{every: monthly, weekday: friday}", Schedule(every="monthly", weekday="friday", nth=1)),
    ("{every: weekly, day: -1}", Schedule(every="weekly", day=-1)),
    ("{every: daily, drift: {relative: 0.25}}", Schedule(every="daily", drift=Drift(relative=0.25))),
    ("{drift: {absolute: 0.05}}", Schedule(every="quarterly", drift=Drift(absolute=0.05))),
    ("Quarterly", Schedule(every="quarterly")),
])
def test_rebalance_forms(text, expected):
    assert parse_config(top(f"rebalance: {text}")).rebalance == expected


@pytest.mark.parametrize("text, expected", [
    ("sp500", UniverseSpec(index="sp500")),
    ("mag7", UniverseSpec(tickers=("mag7",))),
    ("[aapl, brk-b, ON, NO]", UniverseSpec(tickers=("AAPL", "BRK-B", "ON", "NO"))),
    ("{index: sp500, exclude: [MAG7]}", UniverseSpec(index="sp500", exclude=("mag7",))),
    ("{tickers: [mag7, JPM], exclude: [TSLA]}", UniverseSpec(tickers=("mag7", "JPM"), exclude=("TSLA",))),
])
def test_universe_forms(text, expected):
    cfg = parse_config(strat("name: X", "weighting: equal", f"universe: {text}"))
    assert cfg.strategies[0].universe == expected


def test_yaml_anchors_and_merge_keys_work_and_own_keys_win():
    text = HEAD + (
        "  - &base {name: A, weighting: cap, universe: sp500, caps: {single: 0.05}}\n"
        "  - <<: *base\n"
        "    name: B\n"
        "    caps: {single: 0.1}\n")
    a, b = parse_config(text).strategies
    assert (a.name, a.caps.single, b.name, b.caps.single) == ("A", 0.05, "B", 0.1)
    assert b.universe == a.universe


def test_yaml_12_scalars_tickers_on_and_no_stay_text_and_1e6_is_a_number():
    cfg = parse_config(strat("name: X", "weighting: fixed", "weights: {ON: 0.5, NO: 0.25, 'Y': 0.25}")
                       + "capital: 2.5e6\n")
    assert dict(cfg.strategies[0].weights) == {"ON": 0.5, "NO": 0.25, "Y": 0.25}
    assert cfg.capital == 2.5e6


def test_weights_within_tolerance_are_accepted():
    cfg = parse_config(strat("name: X", "weighting: fixed", "weights: {A: 0.1, B: 0.2, C: 0.3, D: 0.4000001}"))
    assert sum(cfg.strategies[0].weights.values()) == pytest.approx(1, abs=1e-6)


def test_membership_current_is_accepted_without_error():
    cfg = parse_config(strat("name: X", "weighting: equal", "universe: {index: sp500, membership: current}"))
    assert cfg.strategies[0].universe.membership == "current"


# ------------------------------------------------------------------------------------------------- files


def test_load_config_reads_a_file_and_records_its_path(tmp_path):
    path = tmp_path / "rotation.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + ROTATION.encode())     # a UTF-8 BOM is fine
    cfg = load_config(path)
    assert cfg.source_path == path and cfg.name == "rotation"


def test_load_config_names_the_file_in_problems(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(top("fill: open"))
    with pytest.raises(ConfigError, match=re.escape(f"{path}: 1 problem in the config:\n  - fill (line 5)")):
        load_config(path)


def test_missing_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="config file not found: .*nope.yaml; check the path"):
        load_config(tmp_path / "nope.yaml")


def test_directory_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="is a directory, not a config file"):
        load_config(tmp_path)


def test_unreadable_file_is_a_usage_error(tmp_path):
    import os

    path = tmp_path / "secret.yaml"
    path.write_text(ROTATION)
    path.chmod(0)
    if os.access(path, os.R_OK):
        pytest.skip("running as root: permissions do not stop reading")
    with pytest.raises(UsageError, match="permission denied"):
        load_config(path)


def test_binary_file_is_a_config_error(tmp_path):
    path = tmp_path / "prices.parquet.yaml"
    path.write_bytes(b"PAR1\x00\xff\xfe\x00")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_config(path)


def test_python_tag_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    text = top(f"description: !!python/object/apply:pathlib.Path.touch [!!python/object/apply:pathlib.Path "
               f"['{marker}']]")
    with pytest.raises(ConfigError, match="would create a Python object"):
        parse_config(text)
    assert not marker.exists()


# ---------------------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("text", [ROTATION, FULL, ROTATION + "sweep: {grid: {rebalance: [monthly, {every: "
                                                              "yearly, day: last}]}}\n"],
                         ids=["rotation", "full", "sweep"])
def test_config_to_dict_round_trips(text):
    cfg = parse_config(text)
    data = config_to_dict(cfg)
    dumped = yaml.safe_dump(data, sort_keys=False)
    assert parse_config(dumped) == cfg
    assert config_to_dict(parse_config(dumped)) == data


def test_config_to_dict_resolves_each_strategy():
    data = config_to_dict(parse_config(ROTATION))
    assert data["end"] == "2026-06-30"
    assert all(s["rebalance"] == {"every": "quarterly"} for s in data["strategies"])
    assert all(s["costs"] == {"commission_bps": 1.0, "slippage_bps": 2.0} for s in data["strategies"])


def test_apply_overrides_replaces_dates_and_revalidates(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(ROTATION)
    cfg = load_config(path)
    assert apply_overrides(cfg) is cfg
    new = apply_overrides(cfg, start="2018-01-02", end=pd.Timestamp("2020-12-31"))
    assert (new.start, new.end) == (pd.Timestamp("2018-01-02"), pd.Timestamp("2020-12-31"))
    assert new.source_path == path and new.strategies == cfg.strategies
    import numpy as np      # a notebook's dates: numpy's, at any unit, as pandas' (it was refused)

    again = apply_overrides(cfg, start=np.datetime64("2018-01-02"), end=np.datetime64("2020-12-31T00:00:00.000"))
    assert (again.start, again.end) == (new.start, new.end)
    with pytest.raises(ConfigError, match=re.escape("end: must be after start (2018-01-02), got 2017-01-01")):
        apply_overrides(cfg, start="2018-01-02", end="2017-01-01")
    with pytest.raises(ConfigError, match=re.escape("start: is not a valid calendar date, got '2018-02-31'")):
        apply_overrides(cfg, start="2018-02-31")


# -------------------------------------------------------------------------------------------- sweeps


SWEEP = ROTATION + (
    'sweep: {strategy: "Cap-weighted, 5% cap", grid: {caps.single: [0.03, 0.05, 0.10], '
    "rebalance: [monthly, quarterly]}}\n")


def test_sweep_expands_to_the_cartesian_product_in_order():
    cfg = parse_config(SWEEP)
    assert cfg.sweep == Sweep(grid=(("caps.single", (0.03, 0.05, 0.1)), ("rebalance", ("monthly", "quarterly"))),
                              strategy="Cap-weighted, 5% cap")
    variants = expand_sweep(cfg)
    assert [name for name, _ in variants] == ["Cap-weighted, 5% cap"] * 6
    assert [v.name for _, v in variants] == [
        f"Cap-weighted, 5% cap [caps.single={c}, rebalance={r}]"
        for c in ("0.03", "0.05", "0.1") for r in ("monthly", "quarterly")]
    first = variants[0][1]
    assert first.caps == Caps(single=0.03) and first.rebalance == Schedule(every="monthly")
    assert first.universe == cfg.strategies[3].universe and first.costs == cfg.strategies[3].costs
    assert expand_sweep(cfg) == variants                     # deterministic


def test_unnamed_sweep_varies_each_strategy_on_the_keys_it_uses():
    cfg = parse_config(ROTATION + "sweep: {grid: {caps.single: [0.05, 0.1], tilt.multiplier: [2], "
                                  "rebalance: [monthly, yearly]}}\n")
    assert [v.name for _, v in expand_sweep(cfg)] == [
        "Mag 7 overweight [tilt.multiplier=2, rebalance=monthly]",
        "Mag 7 overweight [tilt.multiplier=2, rebalance=yearly]",
        "Equal-weight S&P 493 [rebalance=monthly]", "Equal-weight S&P 493 [rebalance=yearly]",
        "Small-cap value tilt [rebalance=monthly]", "Small-cap value tilt [rebalance=yearly]",
        *(f"Cap-weighted, 5% cap [caps.single={c}, rebalance={r}]" for c in ("0.05", "0.1")
          for r in ("monthly", "yearly"))]
    cfg = parse_config(ROTATION + "sweep: {grid: {costs.slippage_bps: [0, 5]}}\n")
    assert len(expand_sweep(cfg)) == 8                       # costs apply to every strategy


def test_unnamed_sweep_never_adds_a_selection_or_trend_filter():
    """An unnamed sweep of select.* or trend.* varies only the strategies that have that block: a plain
    equal-weight strategy stays plain (it was turned into a momentum top-N by the select defaults)."""
    text = (HEAD + "  - {name: EW, weighting: equal, universe: sp500}\n"
            "  - {name: Mom, weighting: equal, universe: sp500, select: {top: 50, by: momentum}}\n"
            "  - {name: Tr, weighting: fixed, weights: {SPY: 1}, trend: {ticker: SPY, days: 200, defensive: BIL}}\n")
    cfg = parse_config(text + "sweep: {grid: {select.top: [20, 40]}}\n")
    assert [(b, v.name, v.select.top) for b, v in expand_sweep(cfg)] == [
        ("Mom", "Mom [select.top=20]", 20), ("Mom", "Mom [select.top=40]", 40)]
    cfg = parse_config(text + "sweep: {grid: {trend.days: [100, 150]}}\n")
    assert [(b, v.trend.days) for b, v in expand_sweep(cfg)] == [("Tr", 100), ("Tr", 150)]


def test_named_sweep_may_add_a_block_the_strategy_lacks():
    cfg = parse_config(ROTATION + "sweep: {strategy: mag 7 overweight, grid: {caps.single: [0.05]}}\n")
    ((base, variant),) = expand_sweep(cfg)
    assert base == "Mag 7 overweight" and variant.caps == Caps(single=0.05) and variant.tilt.multiplier == 1.5


def test_sweep_values_replace_alternatives_and_names_stay_file_safe():
    cfg = parse_config(cap("caps: {aggregate: {limit: 0.5}}") + "sweep: {grid: {caps.rule: [5/10/40, 35/20]}}\n")
    (_, a), (_, b) = expand_sweep(cfg)
    assert a.name == "C [caps.rule=5-10-40]" and b.name == "C [caps.rule=35-20]"
    assert a.caps.aggregate == AggregateCap() and b.caps.aggregate.single == 0.35
    cfg = parse_config(cap("tilt: {multiplier: 2}") + "sweep: {grid: {tilt.weight: [0.3]}}\n")
    assert expand_sweep(cfg)[0][1].tilt == Tilt(group="mag7", weight=0.3)


def test_variant_names_have_no_length_limit():
    """A four-key grid on an 80-character strategy name: every variant is accepted, named in full."""
    cfg = parse_config(strat("name: " + "x" * 80, "weighting: cap", "universe: sp500", "caps: {single: 0.05}",
                             "tilt: {group: mag7, multiplier: 1.5}")
                       + "sweep: {grid: {caps.single: [0.03], tilt.multiplier: [0.5], rebalance: [quarterly], "
                         "costs.commission_bps: [10]}}\n")
    ((_, variant),) = expand_sweep(cfg)
    assert variant.name == ("x" * 80 + " [caps.single=0.03, tilt.multiplier=0.5, rebalance=quarterly, "
                            "costs.commission_bps=10]")


def test_swept_config_replaces_strategies_in_place():
    cfg = swept_config(parse_config(SWEEP))
    assert cfg.sweep is None
    assert [s.name for s in cfg.strategies][:3] == ["Mag 7 overweight", "Equal-weight S&P 493",
                                                   "Small-cap value tilt"]
    assert len(cfg.strategies) == 3 + 6
    assert parse_config(yaml.safe_dump(config_to_dict(cfg))) == cfg


def test_no_sweep_expands_to_nothing():
    cfg = parse_config(ROTATION)
    assert expand_sweep(cfg) == [] and swept_config(cfg) is cfg


# -------------------------------------------------------------------------------------------- property


def _load_or_config_error(text: str) -> None:
    try:
        cfg = parse_config(text)
    except ConfigError as exc:
        assert exc.problems and all(p.message for p in exc.problems)
        return
    assert isinstance(cfg, RunConfig)


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=12), st.dates(), st.sampled_from(["sp500", "mag7", "SPY", "cap", "fixed",
                                                                      "monthly", "5/10/40", "2016-01-01"]))
documents = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)), max_leaves=20)
PROPERTY = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@PROPERTY
@given(documents)
def test_random_documents_load_or_raise_config_error(doc):
    _load_or_config_error(yaml.safe_dump(doc))


@PROPERTY
@given(st.text(max_size=200))
def test_random_text_loads_or_raises_config_error(text):
    _load_or_config_error(text)


STRATEGY_KEYS = ["name", "weighting", "universe", "weights", "tilt", "caps", "rebalance", "costs",
                 "expense_ratio", "cash_yield", "proxies", "sweep", "single", "every", "group"]


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


BASE = config_to_dict(parse_config(SWEEP))
BASE_PATHS = [p for p in _paths(BASE) if p]


@PROPERTY
@given(st.lists(st.tuples(st.sampled_from(BASE_PATHS), st.sampled_from(["set", "delete", "add"]),
                          documents, st.sampled_from(STRATEGY_KEYS)), min_size=1, max_size=4))
def test_mutations_of_a_valid_config_load_or_raise_config_error(edits):
    doc = copy.deepcopy(BASE)
    for path, op, value, key in edits:
        parent, node = None, doc
        try:
            for part in path:
                parent, node = node, node[part]
        except (KeyError, IndexError, TypeError):
            continue
        if op == "set":
            parent[path[-1]] = value
        elif op == "delete":
            del parent[path[-1]]
        elif isinstance(node, dict):
            node[key] = value
    _load_or_config_error(yaml.safe_dump(doc))


@PROPERTY
@given(st.lists(st.tuples(st.integers(0, len(ROTATION)), st.integers(0, 3),
                          st.sampled_from(list(":-[]{}&*!|>'\"#%@`,? \n\t0aZ."))), min_size=1, max_size=5))
def test_character_edits_of_a_valid_config_load_or_raise_config_error(edits):
    text = ROTATION
    for pos, cut, char in edits:
        text = text[:pos] + char + text[pos + cut:]
    _load_or_config_error(text)


def test_the_complete_example_in_the_docs_is_valid():
    doc = (HERE.parent / "docs" / "config.md").read_text()
    example = doc.split("## A complete example", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    cfg = parse_config(example)
    assert [s.name for s in cfg.strategies][0] == "Mag 7 overweight"
    assert len(expand_sweep(cfg)) == 6


def test_names_with_slashes_are_accepted_and_files_use_slugs():
    """`60/40 quarterly` is an ordinary strategy name: files and folders use slugs (issue 10)."""
    from backtest.results import safe_folder_name, slugify

    cfg = parse_config("name: 60/40 runs\nstart: 2016-01-01\nstrategies:\n"
                       "  - {name: 60/40 quarterly, weighting: fixed, weights: {SPY: 0.6, AGG: 0.4}}\n"
                       "  - {name: 'a\\b', weighting: fixed, weights: {SPY: 1}}\n")
    assert [s.name for s in cfg.strategies] == ["60/40 quarterly", "a\\b"]
    assert slugify("60/40 quarterly") == "60-40-quarterly" and safe_folder_name(cfg.name) == "60-40-runs"


def test_generated_sweep_variant_names_have_no_length_limit():
    """An ordinary 3-key grid on a 40-character name makes ~100-character variant names: accepted."""
    from backtest.config import expand_sweep

    name = "Cap-weighted S&P 500, capped and tilted"
    cfg = parse_config(f"name: s\nstart: 2016-01-01\nstrategies:\n  - name: {name}\n    weighting: cap\n"
                       "    universe: sp500\n    caps: {single: 0.05}\nsweep: {grid: {caps.single: [0.03, 0.05], rebalance: [monthly, "
                       "quarterly], costs.commission_bps: [1, 5]}}\n")
    names = [v.name for _, v in expand_sweep(cfg)]
    assert len(names) == 8 and max(map(len, names)) > 80
    assert names[0] == f"{name} [caps.single=0.03, rebalance=monthly, costs.commission_bps=1]"


def test_per_says_what_a_select_counts_on_any_weighting_it_applies_to():
    from backtest.config import parse_config

    cfg = parse_config(strat("name: R", "weighting: inverse_vol", "universe: sp500", "per: line",
                             "select: {by: momentum, top: 20}"))
    assert cfg.strategies[0].per == "line" and cfg.strategies[0].select.top == 20
    cfg = parse_config(strat("name: C", "weighting: cap", "universe: sp500", "select: {by: volatility, bottom: 9}"))
    assert cfg.strategies[0].per == "company", "select ranks companies by default"


def test_a_grid_of_bad_variants_lists_ten_and_counts_the_rest():
    """A weights.SPY x weights.TLT grid whose sums are mostly not 1 printed one line per variant (2,662 for a
    large grid); the first 10 are listed, then one line counts the rest."""
    text = (HEAD + "  - {name: F, weighting: fixed, weights: {SPY: 0.5, TLT: 0.5}}\n"
            "sweep: {grid: {weights.SPY: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], weights.TLT: [0.1, 0.2, 0.3, 0.4, 0.5, "
            "0.6]}}\n")
    with pytest.raises(ConfigError) as err:
        parse_config(text)
    problems = [str(p) for p in err.value.problems]
    assert len(problems) == 11 and sum("variant of 'F' with weights.SPY=" in p for p in problems) == 10
    assert problems[-1].endswith("variants of 'F': 23 more problem(s) of whole variants like the 10 above (not "
                                 "listed); fix the grid's values and validate again")


def test_run_level_keys_are_the_top_level_keys_that_are_not_strategy_keys():
    """Every top-level key but a strategy key gets the run-level hint inside a strategy and in a sweep grid
    (cash_flows in a grid was 'unknown strategy key path ...; did you mean cash_yield?')."""
    from backtest.config.load import TOP_KEYS
    from backtest.config.strategy import RUN_LEVEL, STRATEGY_KEYS

    assert set(RUN_LEVEL) == set(TOP_KEYS) - set(STRATEGY_KEYS)
    with pytest.raises(ConfigError, match=r"'cash_flows' is a run-level key, the same for every strategy"):
        parse_config(top("sweep: {grid: {cash_flows: [[], []]}}"))
