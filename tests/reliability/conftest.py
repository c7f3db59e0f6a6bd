"""Fixtures for the reliability tests: `bt` in-process and as real processes, writable stores, the browser."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from backtest.cli import main
from tests.conftest import REPO


@dataclass(frozen=True)
class Done:
    code: int
    out: str
    err: str


@pytest.fixture
def bt(capsys):
    """`bt ARGS...` in this process through `backtest.cli.main` (the console entry point)."""
    def call(*args) -> Done:
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Done(code, captured.out, captured.err)
    return call


def bt_command() -> list[str]:
    """The `bt` console script beside this Python (what the README's set-up installs and users run), else
    ``python -m backtest.cli``. The script matters for interrupts: under ``python -m`` CPython ends the
    process by SIGINT (exit status -2) instead of the code `bt` returns (130) whenever the KeyboardInterrupt
    passed through an ``exec``/``eval`` of a string on its way out (scipy's import, which numba triggers
    while the kernels load, runs ``exec("from numpy import *")``), even though `bt` handled it; a shell
    reports 130 for both."""
    script = Path(sys.executable).with_name("bt")
    return [str(script)] if script.exists() else [sys.executable, "-m", "backtest.cli"]


def bt_process(*args, env: dict | None = None, new_session: bool = False) -> subprocess.Popen:
    """A real `bt ARGS...` process (`bt_command`), text pipes for stdout and stderr; ``new_session``: in a
    process group of its own (led by it), which a test can signal as a terminal would."""
    return subprocess.Popen([*bt_command(), *map(str, args)], cwd=REPO,
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=new_session)


def bt_finished(*args, env: dict | None = None, timeout: float = 120) -> Done:
    proc = bt_process(*args, env=env)
    out, err = proc.communicate(timeout=timeout)
    return Done(proc.returncode, out, err)


def copy_store(store_root: Path, dest: Path) -> Path:
    """A private, writable copy of a store folder (the shared snapshot store is read only)."""
    shutil.copytree(store_root, dest, ignore=shutil.ignore_patterns(".lock"))
    return dest


@pytest.fixture
def store_copy(snapshot_store, tmp_path) -> Path:
    return copy_store(snapshot_store.root, tmp_path / "store")


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under `root` with its bytes (None for folders and special files)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = p.read_bytes() if p.is_file() and not p.is_symlink() else None
    return out
