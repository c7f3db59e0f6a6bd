"""Child process for the fault tests: ``python -m tests.report.write_child RESULTS_DIR [FOLDER_NAME]``.

Builds the synthetic run, prints ``writing`` (flushed) and writes it; the parent may kill it at any point."""

from __future__ import annotations

import sys
from pathlib import Path

from backtest.runner import save_run
from tests.report.synthetic import make_run

if __name__ == "__main__":
    run = make_run()
    print("writing", flush=True)
    folder = save_run(run, Path(sys.argv[1]), folder_name=sys.argv[2] if len(sys.argv) > 2 else None)
    print(folder, flush=True)
