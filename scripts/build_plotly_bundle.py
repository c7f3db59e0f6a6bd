"""Rebuild the partial plotly.js bundle the reports inline (backtest/report/assets/).

The reports draw only scatter (lines, areas, markers), bar and heatmap traces, so they inline a plotly.js
built from the npm package with just those trace modules (about 1.2 MB minified instead of 4.8 MB for the
whole library). Run this after upgrading the `plotly` Python package, so that the bundle's plotly.js
version matches the one the Python package writes figures for:

    .venv/bin/python scripts/build_plotly_bundle.py            # needs node >= 18 and npm (registry access)
    .venv/bin/python scripts/build_plotly_bundle.py --check    # the bundle's version matches, exit 1 if not

It installs ``plotly.js@<version>`` and ``esbuild@ESBUILD`` into a temporary folder, bundles an entry that
registers the trace modules in TRACES on plotly.js's core (the same esbuild settings as plotly.js's own
build, minified), and writes:

  backtest/report/assets/plotly-partial.min.js   the bundle, with a header naming version and traces
  backtest/report/assets/LICENSE-plotly.txt      plotly.js's MIT licence and the licence of every npm
                                                 package that ended up in the bundle

Nothing is downloaded at run time: the bundle is part of the Python package (setup.cfg package_data).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "backtest" / "report" / "assets"
BUNDLE = ASSETS / "plotly-partial.min.js"
LICENCE = ASSETS / "LICENSE-plotly.txt"
TRACES = ("scatter", "bar", "heatmap")   # scatter is part of plotly.js's core anyway
ESBUILD = "0.28.2"
LICENCE_NAMES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE", "license", "license.md", "COPYING")


def plotlyjs_version() -> str:
    """The plotly.js version the installed Python `plotly` package writes figures for."""
    from plotly.offline import get_plotlyjs_version

    return get_plotlyjs_version()


def bundle_version(path: Path = BUNDLE) -> str | None:
    """The plotly.js version in the shipped bundle's header, or None if there is no bundle."""
    if not path.is_file():
        return None
    head = path.read_text(encoding="utf-8")[:400]
    marker = "plotly.js v"
    return head.split(marker, 1)[1].split()[0] if marker in head else None


def _run(cmd: list[str], cwd: Path) -> None:
    print("$", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, cwd=cwd, check=True)


def _licences(work: Path, meta: dict) -> str:
    """The licence text of every npm package with a file in the bundle, plotly.js first."""
    packages: dict[str, Path] = {}
    for source in meta["inputs"]:
        parts = Path(source).parts
        if "node_modules" not in parts:
            continue
        i = len(parts) - 1 - parts[::-1].index("node_modules")
        name_parts = parts[i + 1:i + 3] if parts[i + 1].startswith("@") else parts[i + 1:i + 2]
        packages.setdefault("/".join(name_parts), work.joinpath(*parts[:i + 1 + len(name_parts)]))
    order = sorted(packages, key=lambda n: (n != "plotly.js", n))
    out = []
    for name in order:
        folder = packages[name]
        info = json.loads((folder / "package.json").read_text(encoding="utf-8"))
        text = next(((folder / f).read_text(encoding="utf-8", errors="replace").strip()
                     for f in LICENCE_NAMES if (folder / f).is_file()), None)
        licence = info.get("license", "licence unstated")
        text = text or f"No licence file in the package; package.json says: {licence}"
        out.append(f"{'=' * 78}\n{name} {info.get('version', '')} ({licence})\n{'=' * 78}\n{text}\n")
    return "\n".join(out)


def build(version: str) -> None:
    with tempfile.TemporaryDirectory(prefix="plotly-bundle-") as tmp:
        work = Path(tmp)
        (work / "package.json").write_text('{"name": "bt-plotly-bundle", "private": true}\n')
        _run(["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", f"plotly.js@{version}",
              f"esbuild@{ESBUILD}"], work)
        modules = ", ".join(f"require('plotly.js/lib/{t}')" for t in TRACES if t != "scatter")
        (work / "entry.js").write_text(
            "'use strict';\nvar Plotly = require('plotly.js/lib/core');\n"
            f"Plotly.register([{modules}]);\nmodule.exports = Plotly;\n")
        banner = (f"/* plotly.js v{version} (partial bundle: {', '.join(TRACES)}) | (c) Plotly, Inc. | MIT "
                  "licence, see LICENSE-plotly.txt | built by scripts/build_plotly_bundle.py */")
        _run(["npx", "esbuild", "entry.js", "--bundle", "--minify", "--format=iife", "--global-name=Plotly",
              "--define:global=window", "--define:define.amd=false", "--loader:.css=empty",
              "--target=es2016", "--legal-comments=none", f"--banner:js={banner}", "--metafile=meta.json",
              "--outfile=plotly-partial.min.js"], work)
        js = (work / "plotly-partial.min.js").read_text(encoding="utf-8")
        if "</script" in js.lower():
            raise SystemExit("the bundle contains </script; it cannot be inlined as is")
        meta = json.loads((work / "meta.json").read_text(encoding="utf-8"))
        ASSETS.mkdir(parents=True, exist_ok=True)
        BUNDLE.write_text(js, encoding="utf-8")
        LICENCE.write_text(_licences(work, meta), encoding="utf-8")
    print(f"wrote {BUNDLE.relative_to(ROOT)} ({BUNDLE.stat().st_size:,} bytes) and "
          f"{LICENCE.relative_to(ROOT)}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", help="plotly.js version (default: the Python plotly package's)")
    parser.add_argument("--check", action="store_true", help="only check the shipped bundle's version")
    args = parser.parse_args()
    version = args.version or plotlyjs_version()
    if args.check:
        have = bundle_version()
        print(f"bundle: plotly.js {have}; python plotly writes for {version}")
        return 0 if have == version else 1
    build(version)
    return 0


if __name__ == "__main__":
    sys.exit(main())
