"""YAML config -> frozen, validated `RunConfig`; every problem reported at once, with key path and line.

Public API
----------
load_config(path)            read and validate a YAML file
parse_config(text, source)   validate YAML text
config_to_dict(cfg)          the resolved config as plain YAML-safe data (reads back to an equal config)
apply_overrides(cfg, ...)    the config with a new start/end (e.g. from ``bt run --start``), re-validated
expand_sweep(cfg)            the sweep's strategy variants, [(base strategy name, StrategyConfig), ...]
swept_config(cfg)            the config with each swept strategy replaced by its variants

The objects are defined in `backtest.config.schema` (re-exported here); the keys are documented in
docs/config.md. Loading is safe: YAML is composed with `yaml.SafeLoader` and only plain data tags are
accepted (see `backtest.config.yaml_reader`).

Layout of the package (the config stage of config -> universe -> prices -> weights -> simulation -> metrics
-> report; it imports only `backtest.errors` and `backtest.tickers`):

    yaml_reader.py  safe YAML -> plain values + the line of every key
    check.py        the problem collector and one checker per value kind
    schema.py       the frozen config objects and their vocabulary
    blocks.py       schedule, costs, universe, tilt, caps, groups
    strategy.py     one strategy entry
    sweep.py        the sweep grid and its variants
    dump.py         objects -> plain YAML-safe dicts (the run folder's config.yaml)
    load.py         the top-level keys and the entry points re-exported here
"""

from __future__ import annotations

from backtest.config.load import (
    apply_overrides, benchmark_list, config_to_dict, expand_sweep, load_config, parse_config, swept_config,
)
from backtest.config.schema import (
    AggregateCap, Analytics, Benchmark, Caps, Costs, Drift, RunConfig, Schedule, StrategyConfig, Sweep, Tilt,
    UniverseSpec,
)

__all__ = [
    "AggregateCap", "Analytics", "Benchmark", "Caps", "Costs", "Drift", "RunConfig", "Schedule", "StrategyConfig",
    "Sweep", "Tilt", "UniverseSpec", "apply_overrides", "benchmark_list", "config_to_dict", "expand_sweep",
    "load_config", "parse_config", "swept_config",
]
