"""The dataset on disk: append-only tables, committed as whole snapshots.

`--out DIR` is a symbolic link to the newest complete snapshot, a folder of table
folders in `.<DIR name>.tgcorpus/` beside it. A run writes its new Parquet files into a
new snapshot (hard links to the previous snapshot's files, plus its own), flushes
them to disk, then swaps the link in one rename. A reader globbing
`DIR/<table>/**/*.parquet` therefore sees one whole snapshot, never half a run, and a
run killed at any point leaves the previous snapshot in place. Older snapshots are
kept a while for readers that are still in the middle of one.

A table that gains a small file every run is compacted as a log-structured store is
(Store._compact): it keeps its full files and a few small ones, not one per run, and a
row is rewritten a few times in all. Lookups pay per file and per row group, and daily
runs add hundreds of files a year.

One writer at a time: an exclusive `flock` on the store's lock file, which the kernel
releases when the process ends, however it ends.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from storage.failpoints import failpoint

SNAPSHOTS_KEPT = 3
# How long a replaced snapshot stays for the readers in it (a long query, a pinned path).
SNAPSHOT_GRACE_SECONDS = 15 * 60
# Rows per row group, at most: a filtered scan pays about 3 ms per row group it checks
# (a lookup in a 500k-post near-duplicate index: 1.18 s in 100k-row groups, 0.53 s in
# 1M-row ones), and a group of index rows is 50 MB decoded.
MAX_ROW_GROUP_ROWS = 1 << 20


class StoreError(Exception):
    """The output folder cannot be used; the message is one line for the user."""


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Store:
    def __init__(self, out: Path):
        self.out = Path(out)
        self.home = self.out.parent / f".{self.out.name}.tgcorpus"

    # Reading ---------------------------------------------------------------------

    def current(self) -> Path | None:
        """The snapshot `out` points at, or None before the first commit."""
        if self.out.is_symlink():
            return self.out.resolve()
        return None

    def files(self, table: str) -> list[Path]:
        snapshot = self.current()
        return sorted((snapshot / table).glob("*.parquet")) if snapshot else []

    def scan(self, table: str, columns: list[str] | None = None, schema: dict | None = None) -> pl.DataFrame | None:
        """A table's rows, or None before its first file. With `schema`, files written
        before a column was added read it as nulls."""
        files = self.files(table)
        if not files:
            return None
        frame = pl.scan_parquet(files, schema=schema, missing_columns="insert") if schema else pl.scan_parquet(files)
        return (frame.select(columns) if columns else frame).collect()

    # Writing ---------------------------------------------------------------------

    def check_writable(self) -> None:
        # An empty folder the user made is fine: it is replaced by the link at commit.
        if self.out.exists() and not self.out.is_symlink() and not (self.out.is_dir() and not any(self.out.iterdir())):
            raise StoreError(f"--out {self.out} exists and is not a tgcorpus dataset; choose another folder")
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            probe = self.home / ".write-probe"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as err:
            raise StoreError(f"cannot write to --out {self.out}: {err.strerror or err}") from None

    @contextmanager
    def writer(self, wait_seconds: float = 0.0, on_wait=None):
        """Hold the store's write lock for the block; StoreError if another run holds it."""
        self.check_writable()
        with open(self.home / "lock", "a+") as lock:
            deadline = time.monotonic() + wait_seconds
            announced = False
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise StoreError(
                            f"another tgcorpus run is writing to {self.out}; try again when it has finished"
                        ) from None
                    if on_wait and not announced:
                        on_wait()
                        announced = True
                    time.sleep(0.2)
            try:
                self._clear_leftovers()
                yield self
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def commit(
        self,
        new_rows: dict[str, pl.DataFrame],
        run_id: str,
        rows_per_file: int,
        updates: dict[str, tuple[list[str], pl.DataFrame]] | None = None,
        parts: dict[str, list[Path]] | None = None,
        replaced: dict[str, pl.DataFrame] | None = None,
        columns: dict[str, dict[str, pl.DataType]] | None = None,
        deleted: dict[str, list[tuple[list[str], pl.DataFrame]]] | None = None,
        rows_per_file_of: dict[str, int] | None = None,
    ) -> Path:
        """A new snapshot: the current files plus `new_rows` and `parts` (Parquet files,
        moved in as they are, empty ones left out) as this run's files.

        `updates` maps a table to (key columns, rows): the files holding those keys are
        rewritten with the rows' values (copy on write; other files are shared with the
        previous snapshot). `replaced` tables are written anew, whole. `deleted` maps a
        table to (key columns, keys) pairs: its rows with any of those keys (nulls equal)
        are left out, again rewriting only the files that hold them, before the table's
        `new_rows` are added. A run that changes nothing keeps the snapshot. `columns`:
        each table's columns; a file written before a column was added is rewritten once
        with it (empty), so that every file of a table has one schema and readers' globs
        read them as one. `rows_per_file_of`: tables whose files hold another number of
        rows than `rows_per_file`; a table's files below it are compacted (_compact)."""
        columns = columns or {}
        updates = {t: u for t, u in (updates or {}).items() if u[1].height}
        parts = parts or {}
        replaced = {t: frame for t, frame in (replaced or {}).items() if not self._holds(t, frame)}
        deleted = {t: keyed for t, keyed in (deleted or {}).items() if any(keys.height for _, keys in keyed)}
        previous = self.current()
        if previous and not updates and not replaced and not deleted \
                and not any(frame.height for frame in new_rows.values()) \
                and not any(_rows(p) for paths in parts.values() for p in paths):
            return previous
        staging = self.home / f"staging-{run_id}"
        staging.mkdir(parents=True)
        tables = set(new_rows) | set(parts) | set(replaced) | (
            {p.name for p in previous.iterdir() if p.is_dir()} if previous else set()
        )
        for table in sorted(tables):
            folder = staging / table
            folder.mkdir()
            file_rows = (rows_per_file_of or {}).get(table, rows_per_file)
            if table in replaced:
                self._write(replaced[table], folder, f"{run_id}-", file_rows, first=True)
                fsync_path(folder)
                continue
            rewritten = (self._rewrite(table, *updates[table], folder, run_id, columns.get(table))
                         if table in updates else set())
            if table in deleted:
                rewritten |= self._delete(table, deleted[table], folder, run_id, columns.get(table))
            for old in self.files(table):
                if old in rewritten:
                    continue
                if table in columns and pq.read_schema(old).names != list(columns[table]):
                    _write_file(_with_columns(old, columns[table]), folder / old.name)
                else:
                    os.link(old, folder / old.name)
            if table in new_rows:
                # A table whose every row was deleted keeps a file for its schema.
                first = not any(folder.glob("*.parquet"))
                self._write(new_rows[table], folder, f"{run_id}-", file_rows, first=first)
            if table in parts:
                self._move_in(parts[table], folder, run_id, first=not self.files(table))
            self._compact(folder, run_id, file_rows)
            fsync_path(folder)
        fsync_path(staging)
        snapshot = self.home / f"snapshot-{self._sequence(previous) + 1:06d}-{run_id}"
        staging.rename(snapshot)
        failpoint("before-swap")
        self._point_at(snapshot)
        os.utime(snapshot)  # when it became current: the grace of the one it replaced starts
        self._prune()
        return snapshot

    def _holds(self, table: str, frame: pl.DataFrame) -> bool:
        """Whether the current snapshot's `table` has exactly these rows already."""
        files = self.files(table)
        return bool(files) and pl.read_parquet(files).equals(frame)

    def _delete(self, table: str, keyed: list[tuple[list[str], pl.DataFrame]], folder: Path, run_id: str,
                columns: dict[str, pl.DataType] | None) -> set[Path]:
        """Write copies without the rows that have `keyed`'s keys of the files that hold
        any (a file left with no row is left out); returns the originals."""
        files = self.files(table)
        if not files:
            return set()

        def matching(frame: pl.LazyFrame) -> pl.LazyFrame:
            return pl.concat([frame.join(keys.lazy().select(on), on=on, how="semi", nulls_equal=True)
                              for on, keys in keyed if keys.height])

        holding = (
            matching(pl.scan_parquet(files, include_file_paths="file")).select("file").unique().collect()["file"]
            .sort().to_list()
        )
        for number, name in enumerate(holding):
            stored = _with_columns(Path(name), columns) if columns else pl.read_parquet(name)
            kept = stored.with_row_index("_row").join(
                matching(stored.lazy().with_row_index("_row")).select("_row").collect(), on="_row", how="anti"
            ).drop("_row")
            self._write(kept, folder, f"{run_id}-d{number:05d}-", 1 << 62, first=False)
        return {Path(name) for name in holding}

    def _rewrite(self, table: str, keys: list[str], rows: pl.DataFrame, folder: Path, run_id: str,
                 columns: dict[str, pl.DataType] | None) -> set[Path]:
        """Write updated copies of the files that hold `rows`' keys; returns the originals."""
        files = self.files(table)
        holding = (
            pl.scan_parquet(files, include_file_paths="file").select(*keys, "file")
            .join(rows.lazy().select(keys), on=keys, how="semi")
            .select("file").unique().collect()["file"].sort().to_list()
        )
        for number, name in enumerate(holding):
            # include_nulls: a later sighting can clear a value (a caption removed).
            stored = _with_columns(Path(name), columns) if columns else pl.read_parquet(name)
            updated = stored.update(rows, on=keys, how="left", include_nulls=True)
            self._write(updated, folder, f"{run_id}-u{number:05d}-", 1 << 62, first=True)
        return {Path(name) for name in holding}

    @staticmethod
    def _move_in(paths: list[Path], folder: Path, run_id: str, first: bool) -> None:
        # As in _write: files without rows stay out, except one to carry a new table's schema.
        kept = [p for p in paths if _rows(p)] or (paths[:1] if first else [])
        for number, part in enumerate(kept):
            target = folder / f"part-{run_id}-b{number:05d}.parquet"
            part.rename(target)
            fsync_path(target)
            failpoint("mid-write")

    @staticmethod
    def _compact(folder: Path, run_id: str, rows_per_file: int) -> None:
        """Merge the table's small files (fewer rows than `rows_per_file`) as a
        log-structured store does, until each is bigger than all the small files after
        it together. Only neighbours in name order (run order) merge, so the table's
        row order stays; a merge is written in files of `rows_per_file` rows, named after
        its first file and this run (a name never holds other rows than it did). Then a
        table holds its full files and a few small ones whose sizes at least double from
        newest to oldest, and a row is rewritten about once per doubling, whatever the
        sizes of the runs. A merge Polars cannot read as one (files of a table written
        with different types) is left undone: compaction only saves lookups time."""
        rows = {path: _rows(path) for path in folder.glob("*.parquet")}
        row_group_size = min(rows_per_file, MAX_ROW_GROUP_ROWS)
        while merged := _to_merge(rows, rows_per_file):
            total = sum(rows[path] for path in merged)
            base = f"{merged[0].stem.split('~')[0]}~{run_id}"
            staged = [folder / f"{base}-{number:05d}.merging" for number in range(-(-total // rows_per_file))]
            try:
                for number, path in enumerate(staged):
                    pl.scan_parquet(merged).slice(number * rows_per_file, rows_per_file).sink_parquet(
                        path, compression="zstd", statistics=True, row_group_size=row_group_size)
            except pl.exceptions.PolarsError:
                for path in staged:
                    path.unlink(missing_ok=True)
                return
            for path in merged:
                path.unlink()
                del rows[path]
            for number, path in enumerate(staged):
                target = path.with_suffix(".parquet")
                path.rename(target)
                fsync_path(target)
                rows[target] = min(rows_per_file, total - number * rows_per_file)
                failpoint("mid-write")

    @staticmethod
    def _sequence(snapshot: Path | None) -> int:
        return int(snapshot.name.split("-")[1]) if snapshot else 0

    @staticmethod
    def _write(frame: pl.DataFrame, folder: Path, prefix: str, rows_per_file: int, first: bool) -> None:
        # A run that adds no rows writes no file, except the table's first file, which
        # carries the schema so that readers find the table even when it is empty.
        if frame.height == 0 and not first:
            return
        for number, offset in enumerate(range(0, max(frame.height, 1), rows_per_file)):
            _write_file(frame.slice(offset, rows_per_file), folder / f"part-{prefix}{number:05d}.parquet",
                        min(rows_per_file, MAX_ROW_GROUP_ROWS))

    def _point_at(self, snapshot: Path) -> None:
        link = self.out.parent / f".{self.out.name}.link-{snapshot.name}"
        link.symlink_to(os.path.relpath(snapshot, self.out.parent))
        if self.out.is_dir() and not self.out.is_symlink():
            self.out.rmdir()  # the empty folder check_writable allowed
        link.rename(self.out)  # the commit: one atomic rename
        fsync_path(self.out.parent)

    def _prune(self) -> None:
        """Remove old snapshots, keeping the newest ones and any replaced less than
        SNAPSHOT_GRACE_SECONDS ago: a reader may be in the middle of one, however many
        runs commit meanwhile."""
        snapshots = sorted(self.home.glob("snapshot-*"))
        now = time.time()
        for old, successor in zip(snapshots[:-SNAPSHOTS_KEPT], snapshots[1:]):
            if now - successor.stat().st_mtime > SNAPSHOT_GRACE_SECONDS:
                shutil.rmtree(old, ignore_errors=True)

    def _clear_leftovers(self) -> None:
        """What runs killed before their commit left: work and staging folders, snapshots
        that never became current, links."""
        current = self.current()
        for leftover in [*self.home.glob("staging-*"), *self.home.glob("work-*")]:
            shutil.rmtree(leftover, ignore_errors=True)
        for snapshot in self.home.glob("snapshot-*"):
            if current is None or snapshot.name > current.name:
                shutil.rmtree(snapshot, ignore_errors=True)
        for link in self.out.parent.glob(f".{self.out.name}.link-*"):
            link.unlink(missing_ok=True)


def _write_file(frame: pl.DataFrame, path: Path, row_group_size: int = MAX_ROW_GROUP_ROWS) -> None:
    frame.write_parquet(path, compression="zstd", statistics=True, row_group_size=row_group_size)
    fsync_path(path)
    failpoint("mid-write")


def _with_columns(path: Path, columns: dict[str, pl.DataType]) -> pl.DataFrame:
    """A file's rows in `columns`' order; a column it lacks is null, or empty for lists."""
    frame = pl.read_parquet(path)
    return frame.with_columns(
        pl.lit([] if isinstance(dtype, pl.List) else None, dtype).alias(name)
        for name, dtype in columns.items() if name not in frame.columns
    ).select(list(columns))


def _to_merge(rows: dict[Path, int], rows_per_file: int) -> list[Path]:
    """The first run of neighbouring small files (in name order) whose first file holds
    no more rows than the rest together, or none."""
    segment: list[Path] = []
    for path in [*sorted(rows), None]:
        if path is not None and 0 < rows[path] < rows_per_file:
            segment.append(path)
            continue
        after = sum(rows[small] for small in segment)
        for start, small in enumerate(segment[:-1]):
            after -= rows[small]
            if rows[small] <= after:
                return segment[start:]
        segment = []
    return []


def _rows(path: Path) -> int:
    return pq.read_metadata(path).num_rows
