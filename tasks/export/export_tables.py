"""Export: validate a run's new rows against the schemas, then commit them together.

Nothing is written unless every table is valid; the commit itself is one atomic
snapshot swap (storage/store.py).
"""
from __future__ import annotations

from pathlib import Path

import polars as pl

from schemas.tables import INDEXES, PUBLISHED, RELATE_INDEXES, dtypes, validate
from storage.store import Store

# A relate index row is a few integers and an id, and those indexes are only appended
# to: their files hold this many times a table file's rows, so a lookup opens a few
# files and row groups, not hundreds.
INDEX_FILE_ROWS_FACTOR = 64


def publish_tables(
    new_rows: dict[str, pl.DataFrame],
    store: Store,
    run_id: str,
    rows_per_file: int,
    updates: dict[str, tuple[list[str], pl.DataFrame]] | None = None,
    parts: dict[str, list[Path]] | None = None,
    deleted: dict[str, list[tuple[list[str], pl.DataFrame]]] | None = None,
    replaced: dict[str, pl.DataFrame] | None = None,
) -> Path:
    """`parts`: Parquet files already validated, table by table, that become the run's
    files of that table as they are; `deleted`: keys of stored rows the run replaces or
    removes; `replaced`: tables written anew, whole (see Store.commit)."""
    columns = {name: dtypes(name) for name in (*PUBLISHED, *INDEXES)}
    # Every file of a table in the schema's column order: readers' globs need one schema.
    valid = {name: validate(name, frame).select(list(columns[name])) for name, frame in new_rows.items()}
    whole = {name: validate(name, frame).select(list(columns[name])) for name, frame in (replaced or {}).items()}
    return store.commit(valid, run_id, rows_per_file, updates, parts, whole, columns, deleted,
                        {name: INDEX_FILE_ROWS_FACTOR * rows_per_file for name in RELATE_INDEXES})
