"""The catalogue of bad input met at run time or on the command line, as data.

Each `Case` is one `bt` command on files written into a fresh temporary folder, with the exit code and the
pieces of the message the user must see (the key or file, the value, what was expected, the fix).
`tests/reliability/test_bad_input.py` runs every case through `backtest.cli.main`; `catalogue.py` prints
them, with the config and data-file catalogues of the other test modules, into docs/reliability.md.

Placeholders in ``args``: ``{tmp}`` the case's folder (its files are written there), ``{store}`` the
imported snapshot store (read only), ``{fresh}`` a store folder that does not exist yet, ``{out}`` a results
folder that does not exist yet, ``{snapshot}`` the offline snapshot folder (they are formatted into file
contents too). A file whose content is `FIFO` is created as a named pipe, `FOLDER` as an empty folder,
`Link(target)` as a symbolic link, ``"PARQUET:T1,T2"`` as a store price file holding those tickers' 2024
prices copied from the snapshot store.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FIFO = object()          # file content: make a named pipe instead of a file
FOLDER = object()        # file content: make an empty folder


@dataclass(frozen=True)
class Link:
    """File content: make a symbolic link to `target` (relative to the case's folder)."""

    target: str
OUT = ("--offline", "--out", "{out}")


@dataclass(frozen=True)
class Case:
    id: str
    area: str                                   # "config", "run time", "command line", "data store"
    input: str                                  # what the user did, for the catalogue
    args: tuple[str, ...]                       # argv after `bt`
    message: tuple[str, ...]                    # each must appear in stderr
    files: dict[str, object] = field(default_factory=dict)
    code: int = 2


def config(*strategies: str, head: str = "", start: str = "2024-01-01",
           end: str | None = "2024-06-30") -> str:
    """A run config: `head` lines after the dates, then one strategy per flow mapping."""
    text = f"name: t\nstart: {start}\n" + (f"end: {end}\n" if end else "") + head + "strategies:\n"
    return text + "".join(f"  - {s}\n" for s in strategies)


def run(name: str = "c.yaml", *extra: str) -> tuple[str, ...]:
    return ("--data-dir", "{store}", "run", f"{{tmp}}/{name}", *OUT, *extra)


SPY = "{name: s, weighting: fixed, weights: {SPY: 1}}"
HELD = "{name: Held, weighting: fixed, weights: {SPY: 0.5, TWTR: 0.5}, rebalance: yearly}"

CASES = [
    # --- names that display as something else (the loader's other name rules: tests/test_config.py)
    Case("strategy-name-bidi-override", "config", "a strategy name with U+202E (right-to-left override)",
         ("validate", "{tmp}/c.yaml"), ("strategies[0].name (line 5): must not contain control characters",
                                        "text-direction marks", "got 'evil\\u202etxt.exe'"),
         {"c.yaml": config('{name: "evil\\u202etxt.exe", weighting: fixed, weights: {SPY: 1}}')}),
    Case("strategy-name-zero-width", "config", "two strategy names that differ by a zero-width space",
         ("validate", "{tmp}/c.yaml"), ("strategies[1].name (line 6): must not contain control characters",),
         {"c.yaml": config(SPY, '{name: "s\\u200b", weighting: fixed, weights: {SPY: 1}}')}),
    # --- the config is valid, the data refutes it (checked when the run reads the store)
    Case("infeasible-single-cap", "run time", "`caps: {single: 0.001}` on the S&P 500 (about 500 names)",
         run(), ("strategy 'Tiny cap' on 2023-12-28", "single-name cap 0.001 is infeasible for",
                 "the minimum feasible cap is 1/", "raise caps.single to at least that"),
         {"c.yaml": config("{name: Tiny cap, weighting: cap, universe: sp500, caps: {single: 0.001}}")}),
    Case("empty-universe-at-a-date", "run time", "equal weights of `[AVUV]` from 2016 (AVUV lists in 2019)",
         run(), ("strategies['Young ETF'].universe: empty on 2015-12-30 (no member has a price: prices start "
                 "after it: AVUV (first price 2019-09-26)); fix: start later (`start: 2019-09-26` or after)",),
         {"c.yaml": config("{name: Young ETF, weighting: equal, universe: [AVUV]}", start="2016-01-01",
                           end="2020-06-30")}),
    Case("python-weighting-without-flag", "run time", "`weighting: {python: mypkg.w:f}` run without "
         "`--allow-python`", run(), ("strategies[0].weighting.python: mypkg.w:f would run Python code named in "
                                     "the config", "this needs an explicit flag: bt run --allow-python CONFIG"),
         {"c.yaml": config("{name: P, weighting: {python: 'mypkg.w:f'}, universe: [AAPL, MSFT]}")}),
    Case("risk-lookback-longer-than-history", "run time", "`lookback: 2000` for risk parity from 2016 (the "
         "store's prices start in 2015)", run(), ("strategy 'RP': 2015-12-30: none of the 3 universe names has a full "
                                                   "2000-day lookback", "start the run later or shorten lookback"),
         {"c.yaml": config("{name: RP, weighting: risk_parity, universe: [AAPL, MSFT, KO], lookback: 2000}",
                           start="2016-01-01", end="2016-06-30")}),
    Case("risk-parity-without-a-solution", "run time", "`risk_parity` of 14 names from 3 daily returns with "
         "`covariance: sample` (a singular covariance: no equal-risk-contribution weights exist)", run(),
         ("strategy 'RP' on 2023-12-28: risk_parity: no equal-risk-contribution solution was found",
          "try covariance: ledoit_wolf or a longer lookback"),
         {"c.yaml": config("{name: RP, weighting: risk_parity, universe: [AAPL, MSFT, JPM, XOM, JNJ, PG, KO, WMT, "
                           "CVX, PFE, MRK, HD, INTC, CSCO], lookback: 3, covariance: sample}")}),
    Case("trend-defensive-without-prices", "run time", "`trend: {defensive: AVUV}` before AVUV lists (2019)",
         run(), ("trend: the defensive ticker AVUV has no price on the decision date",
                 "choose one with prices over the whole run"),
         {"c.yaml": config("{name: T, weighting: fixed, weights: {SPY: 1}, trend: {ticker: SPY, days: 200, "
                           "defensive: AVUV}}", start="2018-10-01", end="2020-06-30")}),
    Case("group-never-in-the-index", "run time",
         "equal weights of a group of ETFs (`universe: [funds]`) without `membership: static`", run(),
         ("strategies['Funds'].universe: empty on 2023-12-28 (no group member is an S&P 500 member then: "
          "IWN, AVUV)", "`membership: static` to hold the group's members on every date"),
         {"c.yaml": config("{name: Funds, weighting: equal, universe: [funds]}",
                           head="groups: {funds: [IWN, AVUV]}\n")}),
    Case("unknown-ticker-in-weights", "run time", "a fixed weight on `ZZZQ`, a ticker the store lacks",
         run(), ("no prices for ZZZQ (not in the store), named in the config", "check the spelling",
                 "bt data import FILE"),
         {"c.yaml": config("{name: s, weighting: fixed, weights: {SPY: 0.5, ZZZQ: 0.5}}")}),
    Case("unknown-ticker-in-universe", "run time", "`universe: [AAPL, MSFT, ZZZQ]`", run(),
         ("no prices for ZZZQ (not in the store), named in the config",),
         {"c.yaml": config("{name: s, weighting: equal, universe: [AAPL, MSFT, ZZZQ]}")}),
    Case("unknown-benchmark", "run time", "`benchmark: ZZZQ`", run(),
         ("benchmark: no prices for 'ZZZQ' in the store at ", "check the spelling",
          "bt data import ../shared/market-data"),
         {"c.yaml": config(SPY, head="benchmark: ZZZQ\n")}),
    Case("unknown-proxy", "run time", "`proxies: {AVUV: ZZZQ}`", run(),
         ("no prices for ZZZQ (not in the store), named in the config",),
         {"c.yaml": config("{name: s, weighting: fixed, weights: {AVUV: 1}, proxies: {AVUV: ZZZQ}}")}),
    Case("unknown-cash-yield", "run time", "`cash_yield: ZZZQ`", run(),
         ("no prices for ZZZQ (not in the store), named in the config",),
         {"c.yaml": config("{name: s, weighting: fixed, weights: {SPY: 1}, cash_yield: ZZZQ}")}),
    Case("data-gap-refused", "run time", "`data_gaps: refuse` with members whose prices stop in 2021", run(),
         ("data_gaps: refuse: strategy 'EW' holds 24 name(s) whose prices end while they are still sp500 members",
          "ALXN (2021-04-21, ", "fix: import the missing prices, end the run before the gap, or set data_gaps: "
          "sell"),
         {"c.yaml": config("{name: EW, weighting: equal, universe: sp500, rebalance: quarterly}",
                           head="data_gaps: refuse\n", start="2021-01-04", end="2021-06-30")}),
    Case("cash-yield-starts-late", "run time", "`cash_yield: SGOV` on a run from 2019 (SGOV lists in 2020-05)",
         run(), ("strategies['s'].cash_yield: idle cash accrues at SGOV, which has prices only from 2020-",
                 "after the run starts (2018-12-31)", "fix: start on or after that date, choose a cash ticker "
                 "priced over the whole period (e.g. BIL) or set cash_yield: none"),
         {"c.yaml": config("{name: s, weighting: fixed, weights: {SPY: 1}, cash_yield: SGOV}",
                           start="2019-01-02", end="2021-06-30")}),
    Case("sleeve-unknown-strategy", "config", "`sleeves: {Equal-weight S&P 493: 0.6, Small cap: 0.4}` where no "
         "strategy is named `Small cap`", run(),
         ("strategies[1].sleeves['Small cap'] (line 6): names no strategy of this config; sleeves are other "
          "strategies, one of: Equal-weight S&P 493",),
         {"c.yaml": config("{name: Equal-weight S&P 493, weighting: fixed, weights: {RSP: 1}}",
                           "{name: Mix, weighting: sleeves, sleeves: {Equal-weight S&P 493: 0.6, Small cap: 0.4}}")}),
    Case("sleeves-cycle", "config", "two sleeves strategies that hold each other (`A: {B: 1}`, `B: {A: 1}`)",
         run(), ("strategies[1].sleeves.B (line 6): is itself weighting: sleeves; sleeves cannot nest: name its "
                 "sleeves directly", "strategies[2].sleeves.A (line 7): is itself weighting: sleeves"),
         {"c.yaml": config(SPY, "{name: A, weighting: sleeves, sleeves: {B: 1}}",
                           "{name: B, weighting: sleeves, sleeves: {A: 1}}")}),
    Case("sweep-varies-a-sleeve", "config", "`sweep: {strategy: Short leg, ...}` where `Short leg` is a sleeve of "
         "a long/short strategy", run(),
         ("sweep.strategy (line 8): varies 'Short leg', a sleeve of 'LS': its variants replace it",
          "copy 'Short leg' under another name to sweep it"),
         {"c.yaml": config(SPY, "{name: Short leg, weighting: fixed, weights: {QQQ: 1}}",
                           "{name: LS, weighting: sleeves, sleeves: {s: 1, Short leg: -1}}")
          + "sweep: {strategy: Short leg, grid: {expense_ratio: [0, 0.01]}}\n"}),
    Case("sweep-variants-that-repeat", "config", "`sweep: {grid: {rebalance: [monthly, {every: monthly}]}}`: two "
         "values that resolve to the same schedule", run(),
         ("sweep.grid (line 6): 1 variant(s) of 's' repeat another: 's [rebalance={every: monthly}]' is the same "
          "strategy as 's [rebalance=monthly]'", "counts twice in the DSR and PBO", "fix: keep one of the values"),
         {"c.yaml": config(SPY) + "sweep: {grid: {rebalance: [monthly, {every: monthly}]}}\n"}),
    Case("unknown-risk-free", "run time", "`risk_free: ZZZQ`", run(),
         ("risk_free: ZZZQ has no prices in the store",),
         {"c.yaml": config(SPY, head="risk_free: ZZZQ\n")}),
    Case("late-benchmark", "run time", "`benchmark: MAGS` (lists 2023-04-11) with `start: 2016-01-01`", run(),
         ("benchmark: MAGS has its first price on 2023-04-11, so a run from 2016-01-01 has no base close",
          "fix: start on or after 2023-04-13", "proxies: {MAGS: <older ticker>}",
          "The run does not shorten its period"),
         {"c.yaml": config(SPY, head="benchmark: MAGS\n", start="2016-01-01")}),
    Case("end-after-the-data", "run time", "`end: 2027-12-31` (the prices end 2026-07-31)", run(),
         ("end: 2027-12-31 is after the last price of SPY (2026-07-31), so the run would stop 518 days short",
          "fix: end: null (or no --end) for the latest data", "The run does not shorten its period"),
         {"c.yaml": config(SPY, start="2026-01-01", end="2027-12-31")}),
    Case("late-further-benchmark", "run time", "`benchmarks: [RSP]` (lists 2003-05-01) from 1995", run(),
         ("benchmarks[0]: RSP has its first price on 2003-05-01, after the run's base close 1994-12-30",
          "fix: start on or after 2003-05-02", "proxies: {RSP: <older ticker>}"),
         {"c.yaml": config(SPY, head="benchmarks: [RSP]\n", start="1995-01-01", end="2005-12-31")}),
    Case("late-risk-free", "run time", "`risk_free: SGOV` (lists 2020-06-01) on a 2016 run", run(),
         ("risk_free: SGOV has its first price on 2020-06-01, after the run's base close 2015-12-31",
          "start on or after 2020-06-02", "proxies: {SGOV: <older ticker>}", "count missing returns as 0"),
         {"c.yaml": config(SPY, head="risk_free: SGOV\n", start="2016-01-01")}),
    Case("validate-ticker-without-data", "run time", "`bt validate` on a config naming a ticker the store lacks",
         ("--data-dir", "{store}", "validate", "{tmp}/c.yaml"),
         ("c.yaml: a run would stop: ZZZQ: not in the store", "fix: check the spelling"),
         {"c.yaml": config("{name: s, weighting: fixed, weights: {SPY: 0.5, ZZZQ: 0.5}}")}),
    Case("analytics-without-an-index", "config", "an `analytics:` block in a config of fixed weights",
         ("validate", "--config-only", "{tmp}/c.yaml"),
         ("analytics (line 4): needs a strategy on an index universe (universe: sp500) and a strategy with "
          "weighting: cap", "remove the analytics block"),
         {"c.yaml": config(SPY, head="analytics: {windows: [ytd]}\n")}),
    Case("control-not-a-strategy", "config", "`controls: [Rebuild]` naming no strategy",
         ("validate", "--config-only", "{tmp}/c.yaml"),
         ("controls[0] (line 4): must name a strategy of this config, got 'Rebuild'",),
         {"c.yaml": config(SPY, head="controls: [Rebuild]\n")}),
    Case("ticker-without-prices-in-the-period", "run time",
         "a fixed weight on TWTR (prices end 2021-04-21) in 2024", run(),
         ("no prices for TWTR (no price in 2022-11-27 .. 2024-06-28), named in the config",
          "choose dates its prices cover"),
         {"c.yaml": config("{name: s, weighting: fixed, weights: {SPY: 0.5, TWTR: 0.5}}")}),
    Case("history-stops-before-a-rebalance", "run time",
         "a fixed weight on TWTR, rebalanced in 2022 after its prices end", run(),
         ("strategy 'Held': fixed weights name 1 ticker(s) without a price on 2022-01-03",
          "TWTR (last price 2021-04-21)", "prices stop or have a gap there; if they stop, end the run earlier "
          "(`end: 2021-04-21` or before, the last price); if it is a gap, import the missing prices"),
         {"c.yaml": config(HELD, start="2020-01-01", end="2022-06-30")}),
    Case("universe-prices-end-before-the-run", "run time",
         "equal weights of `[TWTR]` over 2020-2023 (TWTR's prices end 2021-04-21)", run(),
         ("strategies['s'].universe: empty on 2021-07-01 (no member has a price: prices end before it: TWTR "
          "(last price 2021-04-21)); fix: end the run earlier (`end: 2021-04-21` or before), or choose other "
          "tickers",),
         {"c.yaml": config("{name: s, weighting: equal, universe: [TWTR]}", start="2020-01-01",
                           end="2023-12-31")}),
    Case("share-class-with-a-dot-run", "config", "`bt run` of `weights: {BRK.B: 1}` (the store spells BRK-B)",
         run(), ("strategies[0].weights['BRK.B'] (line 5): must spell a share class with a dash, as the price "
                 "store does, got 'BRK.B'; did you mean BRK-B?",),
         {"c.yaml": config("{name: s, weighting: fixed, weights: {BRK.B: 1}}")}),
    Case("period-without-trading-days", "run time", "`start: 2024-01-06`, `end: 2024-01-07` (a weekend)", run(),
         ("start/end: the period 2024-01-06 .. 2024-01-07 holds 0 trading days of SPY (its prices run from "
          "1993-01-29 to 2026-07-31); a run needs at least one", "fix: widen the period, e.g. end: 2024-01-08 or "
          "later"),
         {"c.yaml": config(SPY, start="2024-01-06", end="2024-01-07")}),
    Case("period-before-the-data", "run time", "`start: 1980-01-01`, `end: 1990-12-31`", run(),
         ("start/end: the period 1980-01-01 .. 1990-12-31 is outside the data", "SPY has prices from",
          "fix: choose dates inside that range"),
         {"c.yaml": config(SPY, start="1980-01-01", end="1990-12-31")}),
    Case("override-end-before-start", "run time", "`bt run --start 2024-06-01 --end 2024-01-01`",
         run("c.yaml", "--start", "2024-06-01", "--end", "2024-01-01"),
         ("with --start/--end: 1 problem in the config",
          "end: must be after start (2024-06-01), got 2024-01-01"),
         {"c.yaml": config(SPY)}),
    Case("override-impossible-date", "run time", "`bt run --start 2024-02-30`",
         run("c.yaml", "--start", "2024-02-30"),
         ("start: is not a valid calendar date, got '2024-02-30'; use YYYY-MM-DD",), {"c.yaml": config(SPY)}),
    Case("python-object-tag", "run time", "`!!python/object/apply:os.system` in a config given to `bt run`",
         run(), ("description (line 3): uses the YAML tag '!!python/object/apply:os.system', which would "
                 "create a Python object", "remove the tag"),
         {"c.yaml": "name: t\nstart: 2024-01-01\n"
                    "description: !!python/object/apply:os.system ['touch {tmp}/pwned']\n"
                    f"strategies:\n  - {SPY}\n"}),
    # --- the command line: files that are not config files, folders that cannot be written
    Case("config-is-a-fifo", "command line", "`bt run PIPE` (a named pipe: reading it would block)",
         run("pipe.yaml"),
         ("pipe.yaml is not a regular file (a pipe, socket or device); pass a YAML config file",),
         {"pipe.yaml": FIFO}),
    Case("config-is-a-device", "command line", "`bt validate /dev/zero` (endless)", ("validate", "/dev/zero"),
         ("/dev/zero is not a regular file",)),
    Case("config-is-huge", "command line", "`bt validate` on a 2 MB file", ("validate", "{tmp}/big.yaml"),
         ("big.yaml is larger than 1 MB, which no config needs",), {"big.yaml": "# " + "x" * 2_000_000}),
    Case("config-symlink-loop", "command line", "`bt validate LINK` where LINK points to itself",
         ("validate", "{tmp}/loop.yaml"), ("cannot read config file", "loop.yaml", "symbolic links"),
         {"loop.yaml": Link("loop.yaml")}),
    Case("config-is-parquet", "command line", "`bt run prices.parquet` (a data file, not a config)",
         run("prices.parquet"), ("is not UTF-8 text", "save it as UTF-8"),
         {"prices.parquet": b"PAR1\x15\x04\x15\xf0\xff\x00\x00PAR1"}),
    Case("out-under-a-file", "command line", "`bt run --out FILE/results` (a folder below a regular file)",
         ("--data-dir", "{store}", "run", "{tmp}/c.yaml", "--offline", "--out", "{tmp}/file/results"),
         ("--out: cannot write to", "file/results (Not a directory)", "fix: choose a writable folder"),
         {"c.yaml": config(SPY), "file": "not a folder\n"}),
    Case("out-is-a-fifo", "command line", "`bt run --out PIPE`",
         ("--data-dir", "{store}", "run", "{tmp}/c.yaml", "--offline", "--out", "{tmp}/pipe"),
         ("--out:", "pipe is not a folder, expected a folder; fix: pass a folder path"),
         {"c.yaml": config(SPY), "pipe": FIFO}),
    Case("data-dir-is-a-file", "command line", "`bt --data-dir FILE run ...`",
         ("--data-dir", "{tmp}/file", "run", "{tmp}/c.yaml", *OUT),
         ("Invalid value for '--data-dir'", "file' is a file"), {"c.yaml": config(SPY), "file": "x\n"}),
    Case("list-results-is-a-file", "command line", "`bt list --results FILE`",
         ("list", "--results", "{tmp}/file"), ("Invalid value for '--results'", "file' is a file"),
         {"file": "x\n"}),
    Case("compare-missing-run", "command line", "`bt compare` of a folder that does not exist",
         ("compare", "{tmp}/no-such-run", "{tmp}/no-such-run"),
         ("no-such-run: not a run folder (it does not exist or is not a directory)",
          "fix: pass a folder printed by `bt run` or listed by `bt list`")),
    Case("import-missing-file", "command line", "`bt data import nope.csv`",
         ("--data-dir", "{fresh}", "data", "import", "{tmp}/nope.csv"),
         ("nope.csv does not exist; pass the snapshot folder (../shared/market-data) or a CSV/Parquet",)),
    Case("import-fifo", "command line", "`bt data import PIPE.csv`",
         ("--data-dir", "{fresh}", "data", "import", "{tmp}/pipe.csv"),
         ("pipe.csv is not a regular file (a pipe, socket or device); pass a CSV or Parquet price file",),
         {"pipe.csv": FIFO}),
    Case("import-empty-folder", "command line", "`bt data import FOLDER` without price files",
         ("--data-dir", "{fresh}", "data", "import", "{tmp}/empty"),
         ("holds no .csv or .parquet files and is not a market-data snapshot",), {"empty": FOLDER}),
    Case("import-snapshot-and-bad-file", "command line",
         "`bt data import <snapshot> bad.csv` (a good snapshot, then a file that is not a price table)",
         ("--data-dir", "{fresh}", "data", "import", "{snapshot}", "{tmp}/bad.csv"),
         ("bad.csv: column 'Apple Inc.' contains spaces (a description, not a ticker)", "nothing was written"),
         {"bad.csv": "date,Apple Inc.\n2024-01-02,185.6\n"}),
    Case("import-ohlcv-into-a-store-holding-LOW", "data store",
         "`bt data import MSFT.csv`, a download with Open/High/Low/Close but no Adj Close, into a store holding "
         "LOW (Lowe's)", ("--data-dir", "{tmp}/store", "data", "import", "{tmp}/MSFT.csv"),
         ("MSFT.csv: a one-ticker price file (Open, High, Low, Close, Volume) without an adjusted close",
          "rename the close column to MSFT"),
         {"MSFT.csv": "Date,Open,High,Low,Close,Volume\n2024-01-02,370.1,375.9,366.5,370.9,25258600\n",
          "store/meta.json": '{"format_version": 1}',
          "store/prices_adj_close.parquet": "PARQUET:LOW"}),
    Case("import-ambiguous-dates", "command line", "`bt data import` of dates 02/01/2024 .. 08/01/2024",
         ("--data-dir", "{fresh}", "data", "import", "{tmp}/p.csv"),
         ("the dates are ambiguous: '02/01/2024' can be day/month or month/day",
          "pass --date-format %d/%m/%Y (day first) or --date-format %m/%d/%Y (month first)"),
         {"p.csv": "date,SPY\n02/01/2024,470.1\n08/01/2024,474.6\n"}),
    Case("import-date-format-mismatch", "command line", "`bt data import --date-format %d/%m/%Y` of ISO dates",
         ("--data-dir", "{fresh}", "data", "import", "--date-format", "%d/%m/%Y", "{tmp}/p.csv"),
         ("1 value(s) in the date column do not match --date-format '%d/%m/%Y' (line 2: '2024-01-02')",),
         {"p.csv": "date,SPY\n2024-01-02,470.1\n"}),
    Case("snapshot-asof-impossible-date", "command line", "`bt snapshot SPY --asof 2026-02-30`",
         ("--data-dir", "{store}", "snapshot", "SPY", "--asof", "2026-02-30"),
         ("--asof: '2026-02-30' is not a calendar date; expected YYYY-MM-DD",)),
    Case("snapshot-asof-after-the-data", "command line", "`bt snapshot SPY --asof 2030-01-01` (prices end 2026)",
         ("--data-dir", "{store}", "snapshot", "SPY", "--asof", "2030-01-01"),
         ("--asof 2030-01-01: after the last price of SPY (", "a window ending there would show no change",
          "fix: --asof")),
    # --- a store damaged outside bt (bt itself only renames complete files into place)
    Case("damaged-store-run", "data store", "`bt run` on a store whose price file is not Parquet",
         ("--data-dir", "{tmp}/store", "run", "{tmp}/c.yaml", *OUT),
         ("prices_adj_close.parquet: cannot read this store file", "the store is damaged: move",
          "aside and import the data again"),
         {"c.yaml": config(SPY), "store/meta.json": '{"format_version": 1}',
          "store/prices_adj_close.parquet": "date,SPY\n"}),
    Case("damaged-store-import", "data store", "`bt data import` into a store whose catalog is truncated",
         ("--data-dir", "{tmp}/store", "data", "import", "{tmp}/p.csv"),
         ("catalog.parquet: cannot read this store file", "the store is damaged"),
         {"p.csv": "date,SPY\n2024-01-02,1\n", "store/meta.json": '{"format_version": 1}',
          "store/catalog.parquet": b"PAR1\x00\x00"}),
    Case("store-unreadable-meta", "data store", "`bt run` on a store whose meta.json is not JSON",
         ("--data-dir", "{tmp}/store", "run", "{tmp}/c.yaml", *OUT),
         ("meta.json is unreadable; move the folder aside and re-import the data",),
         {"c.yaml": config(SPY), "store/meta.json": "{"}),
    # --- the evidence block (docs/evidence.md)
    Case("evidence-bad-settings", "config", "an `evidence:` block with a misspelt metric, an odd number of CSCV "
         "blocks and a stress period without an end", ("validate", "{tmp}/c.yaml"),
         ("evidence.walk_forward.metric (line 5): must be one of sharpe, sortino, cagr", "did you mean 'sharpe'?",
          "evidence.pbo_blocks (line 6): must be an even number, got 7; fix: use 8",
          "evidence.stress[0] (line 7): missing end; each stress period needs a name, a start and an end"),
         {"c.yaml": config(SPY, head="evidence:\n  walk_forward: {metric: sharp}\n  pbo_blocks: 7\n"
                                     "  stress: [{name: crash, start: 2020-02-19}]\n")}),
]


@dataclass(frozen=True)
class Reported:
    """Input that is accepted but must be reported, never silently repaired: the message, where it shows."""

    id: str
    input: str
    where: str          # "import output" or "run warnings"
    message: tuple[str, ...]


REPORTED = [
    Reported("import-empty-column", "a price file whose column EMPTY has no value at all", "import output",
             ("column(s) without any price, not imported: EMPTY",)),
    Reported("import-one-ticker-download", "Yahoo's `AAPL.csv` download (Date,Open,High,Low,Close,Adj Close,Volume)",
             "import output", ("1 tickers", "(one-ticker file: 'Adj Close' as AAPL, 'Close' as its raw close)")),
    Reported("import-nan-gap", "a price file with 10 empty cells inside IWM's history", "import output",
             ("empty cells inside the history of 1 ticker(s), stored as no price (not filled; runs name "
              "them)",
              "IWM (10)")),
    Reported("run-nan-gap", "a run holding IWM across those 10 days", "run warnings",
             ("1 traded ticker(s) have no price on some trading days inside their history",
              "valued at their last close there", "IWM (10 days, 2023-05-26 .. 2023-06-09)")),
    Reported("run-history-stops", "a run holding TWTR, whose prices end on 2021-04-21, until 2021-12",
             "run warnings", ("Held: prices end mid-run for 1 name(s), sold at their last close if held: "
                              "TWTR (2021-04-21)",)),
    Reported("run-group-ticker-unknown", "a group `banks: [JPM, ZZZQ]` used as a universe", "run warnings",
             ("1 ticker(s) named through groups or analytics.snapshot have no price series and are left "
              "out: ZZZQ",)),
]
