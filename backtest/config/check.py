"""Checking primitives for the config validator: a problem collector and one checker per value kind.

Every checker takes the raw value, its key path (a tuple of keys and list indexes) and the collector;
it returns the cleaned value, or None after recording a problem. Nothing raises: the validator goes on
and reports every problem at once.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import pandas as pd

from backtest.errors import Problem
from backtest.tickers import normalize_ticker

MISSING: Any = object()


class _Bad:
    """A value the YAML walker already reported (bad tag, bad scalar): checkers skip it silently."""

    def __repr__(self) -> str:
        return "<invalid>"


BAD: Any = _Bad()

TICKER_RE = re.compile(r"^\^?[A-Z0-9][A-Z0-9.\-=]{0,14}$")
_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# control characters, and invisible or text-direction ones (a name that displays as something else)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_NUMBER_TEXT_RE = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*%?\s*$")
MIN_DATE = pd.Timestamp("1900-01-01")
MAX_DATE = pd.Timestamp("2100-12-31")


def format_path(path: Sequence) -> str:
    """``("strategies", 2, "caps", "single")`` -> ``strategies[2].caps.single``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT_RE.match(part):
            out += ("." if out else "") + part
        else:
            out += f"[{part!r}]"
    return out


def show(value: Any) -> str:
    """A short rendering of a received value for messages (YAML spelling where it differs)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return repr(text)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        text = str(value) if abs(value) < 10**30 else f"an integer of {len(str(abs(value)))} digits"
        return text
    if isinstance(value, (dt.date, pd.Timestamp)):
        return value.isoformat()
    if isinstance(value, dict):
        return f"a mapping with keys {', '.join(map(str, list(value)[:5]))}" if value else "an empty mapping"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    return type(value).__name__


def num(x: float) -> str:
    """Compact number for messages: 0.05, 1000, 1e13."""
    return f"{x:.10g}".replace("e+", "e")


def suggest(word: str, options: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` when an option is close to `word`, else ``""``."""
    options = list(options)
    hit = difflib.get_close_matches(str(word), options, n=1, cutoff=0.6)
    if not hit:
        lowered = {o.lower(): o for o in options}
        hit = [lowered[h] for h in difflib.get_close_matches(str(word).lower(), list(lowered), n=1, cutoff=0.6)]
    return f"; did you mean {hit[0]!r}?" if hit else ""


@dataclass
class _Item:
    path: tuple
    message: str
    at_key: bool
    line: int | None
    lineless: bool = False


class Ctx:
    """Collects problems; `lines` maps key paths to ``(key_line, value_line)`` from the YAML walker."""

    def __init__(self, lines: dict | None = None):
        self.lines = lines or {}
        self.items: list[_Item] = []
        self.swept = False      # checking a sweep's generated variant (config.sweep), not a written strategy
        self.borrow_swept = False   # ... whose grid sets borrow_fee itself (not inherited from the strategy)

    def error(self, path: Sequence, message: str, *, at_key: bool = False, line: int | None = None,
              lineless: bool = False) -> None:
        """Record a problem at `path`: on its value's line, its key's line (`at_key`), `line`, or none."""
        self.items.append(_Item(tuple(path), message, at_key, line, lineless))

    def line(self, path: Sequence, *, at_key: bool = False) -> int | None:
        """Line of `path` (its key's line when `at_key`), else of its nearest ancestor."""
        path = tuple(path)
        while True:
            entry = self.lines.get(path)
            if entry is not None:
                key_line, value_line = entry
                return key_line if at_key and key_line is not None else value_line
            if not path:
                return None
            path = path[:-1]
            at_key = True

    def problems(self) -> list[Problem]:
        """Deduplicated problems in line order; those without a line (a missing top-level key) first."""
        seen: set = set()
        out: list[tuple[float, int, Problem]] = []
        for i, item in enumerate(self.items):
            line = item.line if item.line is not None else self.line(item.path, at_key=item.at_key)
            line = None if item.lineless else line
            p = Problem(format_path(item.path), item.message, line)
            if (p.path, p.message) in seen:
                continue
            seen.add((p.path, p.message))
            out.append((p.line if p.line is not None else 0, i, p))
        return [p for _, _, p in sorted(out, key=lambda t: (t[0], t[1]))]


def _type_hint(value: Any, path: Sequence = ()) -> str:
    if isinstance(value, str) and _NUMBER_TEXT_RE.match(value):
        if value.strip().endswith("%"):
            pct = float(value.strip()[:-1])
            if any(str(p).endswith("_bps") for p in path):   # basis points, not a fraction: 0.1% = 10 bps
                return f"; this key is in basis points: write {pct * 100:g} for {pct:g}% (no quotes or %)"
            return f"; write a fraction without quotes or %, e.g. {pct / 100:g}"
        return "; remove the quotes"
    return ""


def check_keys(ctx: Ctx, data: dict, path: Sequence, allowed: Sequence[str],
               elsewhere: dict[str, str] | None = None) -> bool:
    """Report every key of `data` not in `allowed`, with a "did you mean" or a hint where it belongs.

    Returns True when every key is known (callers then skip "needs X" problems a misspelt X would cause).
    """
    known = True
    for key in data:
        if key in allowed:
            continue
        known = False
        hint = (elsewhere or {}).get(key)
        if hint:
            msg = f"unknown key {key!r} here; {hint}"
        else:
            msg = f"unknown key {key!r}" + (suggest(key, allowed) or f"; allowed keys: {', '.join(allowed)}")
        ctx.error((*path, key), msg, at_key=True)
    return known


def require(ctx: Ctx, data: dict, path: Sequence, key: str, example: str) -> Any:
    """``data[key]`` or MISSING after reporting ``is required; add e.g. ...``."""
    if key not in data:
        ctx.error((*path, key), f"is required; add e.g. `{example}`", lineless=not path)
        return MISSING
    return data[key]


def mapping(ctx: Ctx, value: Any, path: Sequence, expected: str) -> dict | None:
    if value is BAD:
        return None
    if isinstance(value, dict):
        return value
    ctx.error(path, f"must be {expected}, got {show(value)}")
    return None


def sequence(ctx: Ctx, value: Any, path: Sequence, expected: str, *, nonempty: bool = True) -> list | None:
    if value is BAD:
        return None
    if not isinstance(value, list):
        ctx.error(path, f"must be {expected}, got {show(value)}")
        return None
    if nonempty and not value:
        ctx.error(path, f"must not be empty; give {expected}")
        return None
    return value


def number(ctx: Ctx, value: Any, path: Sequence, *, lo: float | None = None, hi: float | None = None,
           lo_open: bool = False, hi_open: bool = False, hint: str = "") -> float | None:
    """A real number (int or float, never bool) within the bounds; NaN, inf and absurd sizes rejected."""
    if value is BAD:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        ctx.error(path, f"must be a number, got {show(value)}{_type_hint(value, path)}")
        return None
    try:
        x = float(value)
    except OverflowError:
        x = math.inf
    if not math.isfinite(x):
        ctx.error(path, f"must be a finite number, got {show(value)}{hint}")
        return None
    below = lo is not None and (x <= lo if lo_open else x < lo)
    above = hi is not None and (x >= hi if hi_open else x > hi)
    if below or above:
        if lo is not None and hi is not None:
            rng = f"in {'(' if lo_open else '['}{num(lo)}, {num(hi)}{')' if hi_open else ']'}"
        elif lo is not None:
            rng = f"{'>' if lo_open else '>='} {num(lo)}"
        else:
            rng = f"{'<' if hi_open else '<='} {num(hi)}"
        ctx.error(path, f"must be {rng}, got {show(value)}{hint}")
        return None
    return x


def integer(ctx: Ctx, value: Any, path: Sequence, *, lo: int, hi: int, hint: str = "") -> int | None:
    if value is BAD:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        ctx.error(path, f"must be a whole number, got {show(value)}{hint}")
        return None
    if not lo <= value <= hi:
        ctx.error(path, f"must be in [{lo}, {hi}], got {show(value)}{hint}")
        return None
    return value


def choice(ctx: Ctx, value: Any, path: Sequence, options: Sequence[str]) -> str | None:
    """One of `options` (case-insensitive), normalised to lower case."""
    if value is BAD:
        return None
    if isinstance(value, str) and value.strip().lower() in options:
        return value.strip().lower()
    got = show(value)
    tip = suggest(value.strip(), options) if isinstance(value, str) else ""
    ctx.error(path, f"must be one of {', '.join(options)}, got {got}{tip}")
    return None


def ticker(ctx: Ctx, value: Any, path: Sequence, *, at_key: bool = False) -> str | None:
    """An upper-cased ticker symbol (Yahoo style: ``BRK-B``, ``^IRX``)."""
    if value is BAD:
        return None
    if not isinstance(value, str):
        ctx.error(path, f"must be a ticker symbol (text), got {show(value)}; quote it, e.g. '{value}'"
                  if isinstance(value, (int, float)) and not isinstance(value, bool)
                  else f"must be a ticker symbol such as 'SPY', got {show(value)}", at_key=at_key)
        return None
    odd = [c for c in value.strip() if not c.isascii()]
    if odd:
        ctx.error(path, f"must be a ticker in plain ASCII letters, got {show(value)}: "
                        f"{', '.join(f'{c!r} (U+{ord(c):04X})' for c in dict.fromkeys(odd))} only looks like "
                        "a letter of a ticker (upper case could fold it into one); type the ticker again",
                  at_key=at_key)
        return None
    sym = value.strip().upper()
    spelled = normalize_ticker(sym)
    if spelled != sym and " " not in sym and TICKER_RE.match(spelled):
        # BRK.B, BF/B: the store spells share classes with a dash (backtest/tickers.py); refused, not folded,
        # so the config says what runs
        ctx.error(path, f"must spell a share class with a dash, as the price store does, got {show(value)}; "
                        f"did you mean {spelled}?", at_key=at_key)
        return None
    if not TICKER_RE.match(sym):
        ctx.error(path, f"must be a ticker symbol like 'SPY' or 'BRK-B' (letters, digits, '.', '-', '=', "
                        f"an optional leading '^'; at most 15 characters), got {show(value)}", at_key=at_key)
        return None
    return sym


def date(ctx: Ctx, value: Any, path: Sequence) -> pd.Timestamp | None:
    """A calendar date: YAML date, ``"YYYY-MM-DD"`` text or a Timestamp at midnight, 1900..2100."""
    if value is BAD:
        return None
    if isinstance(value, dt.datetime):  # includes pandas.Timestamp
        if value.tzinfo is not None or (value.hour, value.minute, value.second, value.microsecond) != (0,) * 4:
            ctx.error(path, f"must be a date without a time of day (YYYY-MM-DD), got {show(value)}")
            return None
        day = dt.date(value.year, value.month, value.day)
    elif isinstance(value, dt.date):
        day = value
    elif isinstance(value, str) and re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", value):
        try:
            day = dt.date.fromisoformat(value.strip())
        except ValueError:
            ctx.error(path, f"is not a valid calendar date, got {show(value)}; use YYYY-MM-DD")
            return None
    else:
        ctx.error(path, f"must be a date YYYY-MM-DD (e.g. 2016-01-01), got {show(value)}")
        return None
    if not MIN_DATE.year <= day.year <= MAX_DATE.year:
        ctx.error(path, f"must be between {MIN_DATE.date()} and {MAX_DATE.date()}, got {show(value)}")
        return None
    return pd.Timestamp(day)


def safe_name(ctx: Ctx, value: Any, path: Sequence, what: str, *, max_len: int = 80) -> str | None:
    """A display name: non-empty text, <= max_len, no control characters. Any other character is allowed
    (``60/40 quarterly``): files and folders use a slug of the name (`backtest.results.slugify`)."""
    if value is BAD:
        return None
    if not isinstance(value, str):
        ctx.error(path, f"must be text (the {what} name), got {show(value)}; quote it")
        return None
    if not value.strip():
        ctx.error(path, f"must not be empty; give the {what} a name")
        return None
    if _CONTROL_RE.search(value):
        ctx.error(path, f"must not contain control characters (tabs, newlines, invisible or "
                        f"text-direction marks, ...), got {show(value)}")
        return None
    if value.strip() in (".", ".."):
        ctx.error(path, f"must not be {value.strip()!r} (the {what} name becomes a folder name)")
        return None
    if value != value.strip():
        ctx.error(path, f"must not start or end with spaces, got {show(value)}")
        return None
    if len(value) > max_len:
        ctx.error(path, f"must be at most {max_len} characters, got {len(value)}; shorten it")
        return None
    return unicodedata.normalize("NFC", value)  # one spelling of accented letters (NFD 'é' is two characters)


def text(ctx: Ctx, value: Any, path: Sequence, *, max_len: int = 10_000) -> str | None:
    if value is BAD:
        return None
    if not isinstance(value, str):
        ctx.error(path, f"must be text, got {show(value)}")
        return None
    if len(value) > max_len:
        ctx.error(path, f"must be at most {max_len} characters, got {len(value)}")
        return None
    return value
