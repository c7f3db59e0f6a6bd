"""The price store: an embedded on-disk folder of Parquet files (no server).

Layout under ``root`` (default ``$BT_DATA_DIR``, else ``~/.local/share/bt-backtest``)::

    meta.json                 {"format_version": 1}
    prices_adj_close.parquet  wide: column ``date`` + one float64 column per ticker (total-return adj. close)
    prices_close.parquet      same shape, raw close (only where a source provides it)
    catalog.parquet           one row per (ticker, field, source): start, end, rows, covered_start,
                              covered_end, written_at
    membership.parquet        index membership intervals: index, ticker, start_date, end_date, price_column,
                              source
    shares.parquet            long: date, ticker, shares (adjusted-price units), source
    .lock                     the write lock (filelock)
    import-unfinished.json    while `bt data import` of a snapshot writes (its several files): the paths
                              and start time; left behind by an interrupted import, which runs refuse

Every write takes the lock, re-reads the current file inside it, merges, writes a temporary file beside the
target, fsyncs it and renames it over the target (``os.replace``), so a reader sees the old file or the new
one, never half of one, and two writers never lose each other's data. A price write changes two files (the
prices and the catalog) through one commit point: both temporary files are complete and fsynced before
``commit.json`` (naming the renames still to do) is written atomically; the renames follow. A process killed
before ``commit.json`` exists leaves the old store, one killed after it leaves a journal that the next bt
command touching the store rolls forward, so the prices and the catalog always agree.

Temporary files are named ``.<file>.<pid>.<8 hex>.tmp`` after one of the store's own files. Under the lock,
only files matching that exact pattern whose process is gone are removed (left by a killed writer); nothing
else in the folder is ever deleted.
"""

from __future__ import annotations

import errno
import json
import os
import re
from contextlib import contextmanager
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field as dc_field
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock, Timeout

from backtest.data.store_merge import (
    MAX_OVERLAP_DISAGREEMENT,
    covered_span,
    empty_catalog,
    merge_prices,
    rebase_prices,
    update_catalog,
)
from backtest.data.validate import validate_membership, validate_prices, validate_shares
from backtest.tempfiles import atomic_write, fsync_dir as _fsync_dir, pid_alive, write_temp as _write_temp
from backtest.errors import DataError
from backtest.tickers import normalize_ticker

__all__ = ["PriceStore", "WriteReport", "atomic_write", "default_store_dir", "validate_prices"]

FORMAT_VERSION = 1
FIELDS = ("adj_close", "close")
MEMBERSHIP_COLUMNS = ("index", "ticker", "start_date", "end_date", "price_column", "source")
SHARES_COLUMNS = ("date", "ticker", "shares", "source")


def default_store_dir() -> Path:
    """``$BT_DATA_DIR`` if set, else ``~/.local/share/bt-backtest``."""
    env = os.environ.get("BT_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".local" / "share" / "bt-backtest"


COMMIT_FILE = "commit.json"
STORE_FILES = ("meta.json", "prices_adj_close.parquet", "prices_close.parquet", "catalog.parquet",
               "membership.parquet", "shares.parquet", COMMIT_FILE)
_TEMP_RE = re.compile(r"^\.(?P<name>" + "|".join(re.escape(f) for f in STORE_FILES)
                      + r")\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp$")


def _parquet_writer(frame: pd.DataFrame) -> Callable[[BinaryIO], None]:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    return lambda fh: pq.write_table(table, fh)


def _disk_error(exc: OSError, root: Path) -> DataError:
    """A failed write to the store as a user error naming the folder and the fix."""
    why = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
           errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
           errno.EPERM: "permission denied"}.get(exc.errno, exc.strerror or type(exc).__name__)
    return DataError(f"cannot write to the price store {root}: {why} ({exc.filename or root}); nothing was "
                     "changed; fix: free space or make the folder writable, or choose another with --data-dir "
                     "or BT_DATA_DIR")


@dataclass(frozen=True)
class WriteReport:
    """What one ``write_prices`` call did. ``rebased``: ticker -> factor applied to the new adjusted closes so
    they continue the stored series (different sources sit on different bases). ``unanchored``: tickers whose
    new range adjoins stored data without a common date, so the seam could not be checked. ``empty``: columns
    with no value, not written."""

    field: str
    source: str
    tickers: tuple[str, ...]
    cells: int
    rebased: dict[str, float] = dc_field(default_factory=dict)
    unanchored: tuple[str, ...] = ()
    empty: tuple[str, ...] = ()


def _refuse_disagreements(found: list[tuple], old: pd.DataFrame, root: Path) -> None:
    """DataError if adjusted closes of a write disagree with the stored ones on their common dates
    (``found``: ``(source, ticker, (date, deviation), new prices)`` from `store_merge.rebase_prices`), naming
    the source, each ticker, its worst date and both prices there."""
    if not found:
        return
    shown = "; ".join(f"{ticker} from {source} on {day:%Y-%m-%d}: stored {old.at[day, ticker]:.6g}, new "
                      f"{new.at[day, ticker]:.6g}, a stored/new ratio {dev:.1%} away from its median over the "
                      f"common dates" for source, ticker, (day, dev), new in found[:5])
    more = f"; and {len(found) - 5} more" if len(found) > 5 else ""
    raise DataError(
        f"the new adjusted closes do not move like the stored ones on the dates both hold ({shown}{more}): "
        f"an unadjusted split, a price-only series against a total-return one, or a wrong price? Rescaling "
        f"them onto the stored series would rewrite its history, so none of them was written (more than "
        f"{MAX_OVERLAP_DISAGREEMENT:.0%} apart is refused); fix: check those prices (they must be split- and "
        f"dividend-adjusted closes), or import them into a new store (bt --data-dir NEW_FOLDER data import "
        f"...) instead of the one at {root}")


class PriceStore:
    """Daily prices, membership and shares on disk under ``root``. Construction touches nothing on disk."""

    def __init__(self, root: str | os.PathLike | None = None, *, lock_timeout: float = 120.0):
        self.root = Path(root).expanduser() if root is not None else default_store_dir()
        self.lock_timeout = lock_timeout

    def __repr__(self) -> str:
        return f"PriceStore({str(self.root)!r})"

    # ---------------------------------------------------------------- an import of several files
    UNFINISHED = "import-unfinished.json"

    def begin_import(self, what: str) -> None:
        """Mark the store as being filled by an import of several files (a snapshot: prices, membership,
        shares, factors, sectors), each written atomically but not all together; `end_import` removes the
        mark. An interrupted import leaves it, and `unfinished_import` names it to every run."""
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / self.UNFINISHED).write_text(json.dumps(
            {"import": what, "started": pd.Timestamp.now().strftime("%Y-%m-%d %H:%M:%S")}), encoding="utf-8")

    def end_import(self) -> None:
        (self.root / self.UNFINISHED).unlink(missing_ok=True)

    def unfinished_import(self) -> str | None:
        """The message for a store whose last multi-file import did not finish, or None."""
        path = self.root / self.UNFINISHED
        if not path.exists():
            return None
        try:
            mark = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            mark = {}
        what, started = mark.get("import", "an import"), mark.get("started", "?")
        return (f"the store at {self.root} holds an unfinished import: `bt data import {what}` started "
                f"{started} and did not finish (interrupted), so some of its files may be missing; fix: run "
                f"`bt data import {what}` again")

    # ---------------------------------------------------------------- paths and plumbing
    def _prices_path(self, field: str) -> Path:
        if field not in FIELDS:
            raise ValueError(f"field must be one of {FIELDS}, got {field!r}")
        return self.root / f"prices_{field}.parquet"

    @property
    def _catalog_path(self) -> Path:
        return self.root / "catalog.parquet"

    def _lock(self) -> FileLock:
        return FileLock(str(self.root / ".lock"), timeout=self.lock_timeout)

    @contextmanager
    def _locked(self):
        """Create the folder, check its format and hold the write lock for the ``with`` block."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(f"cannot create the price store folder {self.root}: {exc.strerror}; "
                            "choose a writable folder with --data-dir or BT_DATA_DIR") from None
        self._check_format()
        lock = self._lock()
        try:
            lock.acquire()
        except Timeout:
            raise DataError(
                f"the price store {self.root} is locked by another process (lock file {self.root / '.lock'}) "
                f"for more than {self.lock_timeout:g}s; wait for the other bt command to finish and try "
                "again") from None
        except OSError as exc:
            raise _disk_error(exc, self.root) from None
        try:
            self._roll_forward()
            self._sweep_temporaries()
            if not (self.root / "meta.json").exists():
                meta = json.dumps({"format_version": FORMAT_VERSION}).encode()
                try:
                    atomic_write(self.root / "meta.json", lambda fh: fh.write(meta))
                except OSError as exc:
                    raise _disk_error(exc, self.root) from None
            yield
        finally:
            lock.release()

    def tidy(self) -> None:
        """Finish a killed writer's commit and remove its temporary files, if there are any, when the lock is
        free at once (called at the start of each command; a busy or read-only store is left as it is)."""
        try:
            if not self.root.is_dir():
                return
            stale = (self.root / COMMIT_FILE).exists() or any(
                _TEMP_RE.match(p.name) and not pid_alive(int(_TEMP_RE.match(p.name).group("pid")))
                for p in self.root.iterdir())
            if not stale:
                return
            with FileLock(str(self.root / ".lock"), timeout=0):
                self._roll_forward()
                self._sweep_temporaries()
        except (OSError, Timeout, DataError):
            return

    def _sweep_temporaries(self) -> None:
        """Remove the store's own temporary files (exact pattern, regular files) whose writer is gone."""
        for p in self.root.iterdir():
            m = _TEMP_RE.match(p.name)
            if m and p.is_file() and not p.is_symlink() and not pid_alive(int(m.group("pid"))):
                p.unlink(missing_ok=True)

    def _commit(self, writes: Sequence[tuple[Path, Callable[[BinaryIO], None]]]) -> None:
        """Replace several store files as one change (call under the lock): complete temporary files first,
        then ``commit.json`` (the commit point), then the renames. Disk errors before the commit point leave
        the store as it was and raise a DataError naming the folder."""
        temps: list[tuple[Path, Path]] = []
        try:
            for path, write in writes:
                temps.append((_write_temp(path, write), path))
            journal = json.dumps({"renames": [[t.name, p.name] for t, p in temps]}).encode()
            atomic_write(self.root / COMMIT_FILE, lambda fh: fh.write(journal))
        except BaseException as exc:
            for t, _ in temps:
                t.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise _disk_error(exc, self.root) from None
            raise
        self._roll_forward()

    def _roll_forward(self) -> None:
        """Finish a committed change (``commit.json``) that a killed writer left half renamed."""
        journal = self.root / COMMIT_FILE
        if not journal.exists():
            return
        try:
            renames = json.loads(journal.read_text())["renames"]
        except (OSError, ValueError, KeyError, TypeError):
            raise DataError(f"{journal}: the store's commit journal is unreadable; the store is damaged: move "
                            f"{self.root} aside and import the data again") from None
        for tmp, target in renames:
            src = self.root / Path(tmp).name
            if _TEMP_RE.match(src.name) and Path(target).name in STORE_FILES and src.is_file():
                os.replace(src, self.root / Path(target).name)
        _fsync_dir(self.root)
        journal.unlink()
        _fsync_dir(self.root)

    @contextmanager
    def _reading(self, path: Path):
        """Turn a store file that cannot be read (damaged outside bt: bt itself only renames complete files
        into place) into a DataError naming the file and the fix."""
        try:
            yield
        except (pa.ArrowException, OSError) as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            raise DataError(f"{path}: cannot read this store file ({reason}); the store is damaged: move "
                            f"{self.root} aside and import the data again (bt data import "
                            "../shared/market-data, or your own files)") from None

    def _check_format(self) -> None:
        if (self.root / COMMIT_FILE).exists():  # a writer was killed after its commit point: finish it first
            try:
                with self._lock():
                    self._roll_forward()
            except Timeout:
                raise DataError(f"the price store {self.root} is locked by another process for more than "
                                f"{self.lock_timeout:g}s; wait for the other bt command to finish") from None
            except OSError as exc:
                raise DataError(f"the price store {self.root} has an unfinished write (commit.json) that this "
                                f"process cannot complete ({exc.strerror}); run a bt command with write access "
                                "to the folder first") from None
        meta = self.root / "meta.json"
        if not meta.exists():
            return
        try:
            version = json.loads(meta.read_text()).get("format_version")
        except (OSError, ValueError):
            raise DataError(f"{meta} is unreadable; move the folder aside and re-import the data "
                            "(bt data import ../shared/market-data)") from None
        if version != FORMAT_VERSION:
            raise DataError(f"the price store {self.root} has format version {version}, this bt reads "
                            f"version {FORMAT_VERSION}; upgrade bt or use another --data-dir")

    def _read_wide(self, field: str, columns: list[str] | None = None) -> pd.DataFrame:
        path = self._prices_path(field)
        if not path.exists():
            return pd.DataFrame(index=pd.DatetimeIndex([], name="date"), dtype="float64")
        cols = None if columns is None else ["date", *columns]
        with self._reading(path):
            df = pq.read_table(path, columns=cols).to_pandas()
        df = df.set_index("date")
        df.index = pd.DatetimeIndex(df.index, name="date")
        return df

    # ---------------------------------------------------------------- reads
    def exists(self) -> bool:
        """True when the store holds any adjusted prices."""
        return self._prices_path("adj_close").exists()

    def tickers(self, field: str = "adj_close") -> list[str]:
        """Tickers with a column in the store (sorted); reads only the file's schema."""
        path = self._prices_path(field)
        if not path.exists():
            return []
        self._check_format()
        with self._reading(path):
            return sorted(n for n in pq.read_schema(path).names if n != "date")

    def missing(self, tickers: Iterable[str], field: str = "adj_close") -> list[str]:
        """The requested tickers (normalised) that the store has no prices for, in the order given."""
        have = set(self.tickers(field))
        seen: dict[str, None] = {}
        for t in tickers:
            seen.setdefault(normalize_ticker(t), None)
        return [t for t in seen if t not in have]

    def prices(self, tickers: Iterable[str] | None = None, start=None, end=None,
               field: str = "adj_close") -> pd.DataFrame:
        """Wide frame: ``DatetimeIndex`` named ``date`` (inclusive ``start``..``end``), one float64 column per
        requested ticker that the store has, in the order requested; NaN where there is no price, never
        forward-filled. Tickers the store lacks are absent (see ``missing``). Rows where none of the returned
        tickers has a price are dropped."""
        self._check_format()
        if tickers is None:
            cols = None
        else:
            have = set(self.tickers(field))
            want: dict[str, None] = {}
            for t in ([tickers] if isinstance(tickers, str) else tickers):
                want.setdefault(normalize_ticker(t), None)
            cols = [t for t in want if t in have]
        df = self._read_wide(field, cols)
        if start is not None or end is not None:
            lo = 0 if start is None else df.index.searchsorted(pd.Timestamp(start).normalize(), "left")
            hi = len(df) if end is None else df.index.searchsorted(pd.Timestamp(end).normalize(), "right")
            df = df.iloc[lo:hi]
        if df.shape[1]:
            df = df.loc[df.notna().any(axis=1).to_numpy()]
        else:
            df = df.iloc[0:0]
        return df.astype("float64")

    def catalog(self) -> pd.DataFrame:
        """One row per (ticker, field, source): ``start``, ``end`` (first/last date written by that source),
        ``rows`` (prices in the store within that range), ``covered_start``/``covered_end`` (the range the
        source was asked about: no price outside start..end inside it means the source has none),
        ``written_at`` (UTC)."""
        self._check_format()
        if not self._catalog_path.exists():
            return empty_catalog()
        with self._reading(self._catalog_path):
            return pd.read_parquet(self._catalog_path)

    def membership(self, index: str = "sp500") -> pd.DataFrame:
        """Membership intervals ``ticker, start_date, end_date, price_column, source`` (end NaT = member)."""
        self._check_format()
        path = self.root / "membership.parquet"
        if not path.exists():
            return pd.DataFrame({c: pd.Series(dtype="datetime64[us]" if c.endswith("_date") else object)
                                 for c in MEMBERSHIP_COLUMNS[1:]})
        with self._reading(path):
            df = pd.read_parquet(path)
        return df.loc[df["index"] == index, list(MEMBERSHIP_COLUMNS[1:])].reset_index(drop=True)

    def shares(self, tickers: Iterable[str] | None = None) -> pd.DataFrame:
        """Long frame ``date, ticker, shares, source``; ``shares`` in the store's adjusted-price units, so
        ``market cap = shares * adj_close`` on any date."""
        self._check_format()
        path = self.root / "shares.parquet"
        if not path.exists():
            return pd.DataFrame({"date": pd.Series(dtype="datetime64[us]"), "ticker": pd.Series(dtype=object),
                                 "shares": pd.Series(dtype="float64"), "source": pd.Series(dtype=object)})
        with self._reading(path):
            df = pd.read_parquet(path)
        if tickers is not None:
            df = df.loc[df["ticker"].isin({normalize_ticker(t) for t in tickers})].reset_index(drop=True)
        return df

    # ---------------------------------------------------------------- writes
    def write_prices(self, frame: pd.DataFrame, source: str, field: str = "adj_close", *,
                     covered: tuple | None = None, rebase: bool = True) -> WriteReport:
        """Merge a wide frame (dates x tickers) into the store atomically, under the lock.

        New non-NaN values replace stored ones; NaN never erases. With ``rebase`` (adjusted closes only), a
        ticker whose new range shares dates with stored prices is scaled by the median stored/new ratio on the
        common dates, so the series continues without a jump (sources adjust to different bases; returns are
        what must agree). Where they do not agree (a common date's ratio more than
        ``MAX_OVERLAP_DISAGREEMENT`` from that median: an unadjusted split, a price-only series, a wrong
        price), rescaling would rewrite the stored history: a DataError names the ticker and the date, and
        nothing is written. ``covered`` = (start, end) is the range the source was asked about (default: the
        frame's first and last date); it lets the next fetch skip ranges where the source has nothing.
        Raises DataError (naming ``source``) on malformed data; nothing is written then."""
        return self.write_prices_many([(frame, source, covered)], field, rebase=rebase)[0]

    def write_prices_many(self, parts: Sequence[tuple], field: str = "adj_close", *,
                          rebase: bool = True) -> list[WriteReport]:
        """``write_prices`` for several ``(frame, source, covered)`` parts with distinct tickers, in one
        locked merge (one rewrite of the price file instead of one per part)."""
        self._prices_path(field)
        checked = []
        seen: set[str] = set()
        for frame, source, covered in parts:
            new = validate_prices(frame, source)
            empty = tuple(c for c in new.columns if not new[c].notna().any())
            new = new.drop(columns=list(empty))
            if seen & set(new.columns):
                raise ValueError(f"parts share tickers: {sorted(seen & set(new.columns))}")
            seen |= set(new.columns)
            checked.append((new, source, covered_span(new, covered) if new.shape[1] else None, empty))
        if not seen:
            return [WriteReport(field, src, (), 0, empty=empty) for _, src, _, empty in checked]
        reports = []
        with self._locked():
            old = self._read_wide(field)
            cat = self.catalog()    # read before anything is written: a damaged catalog stops the write here
            done, disagreeing = [], []
            for new, source, cov, empty in checked:
                rebased: dict[str, float] = {}
                unanchored: list[str] = []
                if rebase and field == "adj_close" and new.shape[1]:
                    raw = new
                    new, rebased, unanchored, disagree = rebase_prices(old, new)
                    disagreeing += [(source, t, at, raw) for t, at in disagree.items()]
                done.append((new, source, cov))
                cells = int(new.notna().to_numpy().sum())
                reports.append(WriteReport(field, source, tuple(new.columns), cells, rebased,
                                           tuple(unanchored), empty))
            _refuse_disagreements(disagreeing, old, self.root)      # before anything is merged or written
            incoming = [n for n, _, _ in done if n.shape[1]]
            combined = incoming[0] if len(incoming) == 1 else pd.concat(incoming, axis=1, sort=True)
            merged = merge_prices(old, combined)
            for new, source, cov in done:
                if new.shape[1]:
                    cat = update_catalog(cat, merged, new, field, source, cov)
            self._commit([(self._prices_path(field), _parquet_writer(merged.reset_index())),
                          (self._catalog_path, _parquet_writer(cat))])
        return reports

    def write_membership(self, frame: pd.DataFrame, source: str, index: str = "sp500") -> int:
        """Replace the membership intervals of ``index``. ``frame`` needs ``ticker, start_date`` and may have
        ``end_date, price_column, source`` (per-row source; default ``source``). Returns the row count."""
        df = validate_membership(frame, source)
        df.insert(0, "index", index)
        with self._locked():
            path = self.root / "membership.parquet"
            if path.exists():
                with self._reading(path):
                    old = pd.read_parquet(path)
                df = pd.concat([old.loc[old["index"] != index], df], ignore_index=True)
            self._commit([(path, _parquet_writer(df))])
        return int((df["index"] == index).sum())

    def write_shares(self, frame: pd.DataFrame, source: str) -> int:
        """Merge long shares ``date, ticker, shares`` (adjusted-price units) for ``source``: rows of the same
        source and (date, ticker) are replaced. Returns the number of rows written."""
        df = validate_shares(frame, source)
        with self._locked():
            path = self.root / "shares.parquet"
            if path.exists():
                with self._reading(path):
                    old = pd.read_parquet(path)
                key = pd.MultiIndex.from_frame(df[["date", "ticker", "source"]])
                okey = pd.MultiIndex.from_frame(old[["date", "ticker", "source"]])
                df = pd.concat([old.loc[~okey.isin(key)], df], ignore_index=True)
            df = df.sort_values(["ticker", "date", "source"], kind="stable").reset_index(drop=True)
            self._commit([(path, _parquet_writer(df))])
        return len(frame)


def read_table(path: Path) -> pd.DataFrame:
    """One Parquet table of the snapshot (a wide price file, a factor file), indexed by ``date`` when it has
    that column; a damaged file is a DataError naming it and the fix."""
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise DataError(f"{path} cannot be read as Parquet ({exc}); restore the snapshot file") from None
    if "date" in frame.columns:
        frame = frame.set_index("date")
    return frame
