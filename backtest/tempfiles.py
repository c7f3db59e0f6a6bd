"""Temporary files and folders: atomic writes beside the target, and who owns a temporary (a live process).

Base module (no bt imports): the price store (``backtest.data.store``) and the run folders
(``backtest.results``) both write through here, and sweep the temporaries of processes that were killed
outright by their exact name patterns.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO


def temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def pid_alive(pid: int) -> bool:
    """True when a process ``pid`` exists on this machine (possibly another user's)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fsync_dir(folder: Path) -> None:
    try:
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def write_temp(path: Path, write: Callable[[BinaryIO], None]) -> Path:
    """A complete, fsynced temporary file beside ``path`` holding what ``write(fh)`` wrote."""
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write ``path`` atomically: ``write(fh)`` fills a temporary file beside it, which is fsynced and renamed
    over ``path``. On any error the temporary file is removed and ``path`` is untouched."""
    path = Path(path)
    tmp = write_temp(path, write)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


_RUN_TEMP_RE = re.compile(r"^\.(?P<base>.+)\.tmp-(?P<pid>\d+)$")


def sweep_dead_temporaries(folder: Path | str, run_entries: Iterable[str]) -> list[Path]:
    """Remove from ``folder`` the temporary run folders (``.<name>.tmp-<pid>`` holding nothing but
    ``run_entries``) and comparison pages (``.<file>.html.tmp-<pid>``) of processes that no longer exist.
    Returns what was removed; anything else is never touched."""
    folder = Path(folder)
    allowed = set(run_entries)
    removed: list[Path] = []
    try:
        children = list(folder.iterdir()) if folder.is_dir() else []
    except OSError:
        return removed
    for child in children:
        m = _RUN_TEMP_RE.match(child.name)
        if not m or child.is_symlink() or pid_alive(int(m.group("pid"))):
            continue
        try:
            if child.is_dir() and {p.name for p in child.iterdir()} <= allowed:
                shutil.rmtree(child)
            elif child.is_file() and m.group("base").endswith(".html"):
                child.unlink()
            else:
                continue
        except OSError:
            continue
        removed.append(child)
    return removed
