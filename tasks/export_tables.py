"""Publish tables as Parquet folders under the output directory, all or nothing.

Every table is written into a staging folder beside the tables (so that readers'
globs never see a half-written file), flushed to disk, then renamed into place; the
previous version of each table is moved aside first and removed at the end.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import polars as pl

from schemas.tables import validate


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_table(frame: pl.DataFrame, folder: Path, rows_per_file: int) -> list[Path]:
    """One or more zstd Parquet files; an empty table still gets one file (its schema)."""
    folder.mkdir(parents=True)
    paths = []
    for number, offset in enumerate(range(0, max(frame.height, 1), rows_per_file)):
        path = folder / f"part-{number:05d}.parquet"
        frame.slice(offset, rows_per_file).write_parquet(path, compression="zstd", statistics=True)
        _fsync(path)
        paths.append(path)
    _fsync(folder)
    return paths


def publish_tables(tables: dict[str, pl.DataFrame], out: Path, run_id: str, rows_per_file: int) -> None:
    """Validate every table, then publish them all; on a schema failure nothing is written."""
    tables = {name: validate(name, frame) for name, frame in tables.items()}
    out.mkdir(parents=True, exist_ok=True)
    staging, retired = out / f".staging-{run_id}", out / f".retired-{run_id}"
    try:
        for name, frame in tables.items():
            write_table(frame, staging / name, rows_per_file)
        retired.mkdir()
        for name in tables:
            if (out / name).exists():
                (out / name).rename(retired / name)
            (staging / name).rename(out / name)
        _fsync(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(retired, ignore_errors=True)
