"""Shared by the benchmark scripts: the machine description, timing and table printing (no project logic)."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MARKET_DATA = REPO.parent / "shared" / "market-data"     # the offline snapshot beside the repository
MAG7 = ("AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "GOOG", "META", "TSLA")


def machine() -> str:
    """One line: cores, CPU model, RAM, Python and the main package versions."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "?"
    try:
        kb = int(next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal"))
                 .split()[1])
        ram = f"{kb / 1024 ** 2:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    versions = []
    for name in ("numpy", "pandas", "numba", "vectorbt", "bt"):
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    load = ""
    if hasattr(os, "getloadavg"):
        load = f", load average {os.getloadavg()[0]:.2f}"
    return (f"{os.cpu_count()} cores ({model}), {ram} RAM, {platform.system()} {platform.machine()}, "
            f"Python {platform.python_version()}; {', '.join(versions)}{load}")


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def median(values) -> float:
    return statistics.median(values)


def table(header: list[str], rows: list[list[object]]) -> str:
    """A plain text table, columns right-aligned except the first."""
    cells = [[str(h) for h in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for k, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths, strict=True))))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def peak_rss_mb() -> float:
    """This process's peak resident set size so far (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def header(title: str) -> None:
    print(title)
    print("machine:", machine())
    print("command:", " ".join([Path(sys.executable).name, *sys.argv]))
    print()


BASE_COMMIT = "dd680c0"
"""The "previous version" the scripts compare with: the commit before the issue-13 work."""


def previous_tree(commit: str = BASE_COMMIT) -> Path:
    """The repository at ``commit`` (``git archive``) in a temporary folder; run it with `env_for`.

    The previous version runs in this same virtualenv (same numpy, pandas, numba, vectorbt), its own code
    first on ``PYTHONPATH``: only the project's code differs between the two."""
    import subprocess
    import tarfile
    import tempfile

    out = Path(tempfile.mkdtemp(prefix=f"bt-{commit}-"))
    archive = subprocess.run(["git", "-C", str(REPO), "archive", commit], check=True, capture_output=True)
    import io

    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(out, filter="data")
    return out


def env_for(tree: Path | None, **extra: str) -> dict[str, str]:
    """This process's environment, with ``tree``'s code first on PYTHONPATH (None: this checkout)."""
    env = dict(os.environ, **extra)
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(tree), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env
