#!/usr/bin/env bash
# Install the project into ./.venv (idempotent). With --test: test extras and Debian's chromium too.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if [ "${1:-}" = "--test" ]; then
  .venv/bin/python -m pip install -q -e '.[test,dist]'
  if ! command -v chromium >/dev/null 2>&1; then
    echo "installing Debian's chromium for the browser tests ..." >&2
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
  fi
else
  .venv/bin/python -m pip install -q -e .
fi
# Compile vectorbt's simulation kernels and the sweeps' batch kernel now (numba caches them on disk, beside
# the package or in $NUMBA_CACHE_DIR), so that the first `bt run` and `bt sweep` are as fast as later ones.
echo "compiling the simulation kernels once (numba; 15-60 s) ..." >&2
.venv/bin/python -c "from backtest.engine.kernel import kernels; kernels()
from backtest.engine.batch import warm_up; warm_up()"
