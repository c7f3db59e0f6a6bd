"""Check that two run folders hold the same outputs, timestamps and timings aside (for refactors).

    python scripts/same_outputs.py results/rotation-A results/rotation-B

Every file must exist in both and be byte-identical, except the run's own name, creation time and stage
timings, and for a sweep where it ran and how it was chunked (one process or Dask workers), which are masked in
`manifest.json` and `report.html` before comparing. Exit 0 when identical, 1
with the differing files listed otherwise.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

MASKS = (
    (re.compile(rb'"(created|folder)": "[^"]*"'), rb'"\1": "-"'),
    (re.compile(rb'"timings_s": \{[^}]*\}'), rb'"timings_s": {}'),
    (re.compile(rb"\d{8}-\d{6}(-\d+)?"), b"YYYYmmdd-HHMMSS"),
    (re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d"), b"TIMESTAMP"),
    (re.compile(rb'"strategies_per_second": [0-9.e+-]+'), rb'"strategies_per_second": 0'),
    (re.compile(rb"[0-9.]+ strategies per second"), b"N strategies per second"),
    # where a sweep ran (one process or N Dask workers) and its chunking: how, not what
    (re.compile(rb'"(chunk_size|chunks|workers)": \d+'), rb'"\1": 0'),
    (re.compile(rb'"where": "[^"]*"'), rb'"where": "-"'),
    (re.compile(rb"Simulated [^<]*? in (?:\S+ chunks? of up to|chunks of) \S+:"), b"Simulated WHERE:"),
    (re.compile(rb"<dt>(load|weights|simulate|evidence|analytics|render|write)[^<]*</dt>\s*<dd>[^<]*</dd>"), b"<timing/>"),
)


def masked(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name in ("manifest.json", "report.html"):
        for pattern, repl in MASKS:
            data = pattern.sub(repl, data)
    return data


def differences(a: Path, b: Path) -> list[str]:
    files_a = {p.relative_to(a) for p in a.rglob("*") if p.is_file()}
    files_b = {p.relative_to(b) for p in b.rglob("*") if p.is_file()}
    out = [f"only in {a}: {p}" for p in sorted(files_a - files_b)]
    out += [f"only in {b}: {p}" for p in sorted(files_b - files_a)]
    out += [f"differs: {p}" for p in sorted(files_a & files_b) if masked(a / p) != masked(b / p)]
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    diffs = differences(Path(argv[0]), Path(argv[1]))
    print("\n".join(diffs) if diffs else "identical (timestamps and timings aside)")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
