"""Copy docs/config.md into the README's "Config reference" section (headings demoted one level).

Run `python scripts/sync_readme.py` after editing docs/config.md; tests/test_readme.py fails when they
differ.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START = "<!-- config-reference: generated from docs/config.md by scripts/sync_readme.py; edit docs/config.md -->"
END = "<!-- /config-reference -->"


def reference_block() -> str:
    body = (ROOT / "docs" / "config.md").read_text().split("\n", 1)[1].strip("\n")
    demoted = "\n".join("#" + line if line.startswith("#") else line for line in body.splitlines())
    return f"{START}\n{demoted}\n{END}"


def main() -> None:
    readme = (ROOT / "README.md").read_text()
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    (ROOT / "README.md").write_text(pattern.sub(lambda _: reference_block(), readme))


if __name__ == "__main__":
    main()
