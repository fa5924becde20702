"""Hashing of rows and columns: stable ids and keys, the same on every machine and run.

- `post_ids`: a post's id, xxh3-128 of its normalised text (tasks/normalize.py);
- `stable_hash64`, `stable_hash64_of`: xxHash64 of strings, for the line and word keys
  of boilerplate and near-duplicates and the line index.

A file's sha256 is file reading, not row hashing: it stays with the reader
(tasks/reading/read_source.py).
"""
from __future__ import annotations

import polars as pl
import polars_hash as plh
import xxhash

from tasks.normalize import normalized_text


def post_ids(texts: pl.Series) -> pl.Series:
    """Stable content ids: xxh3-128 of the normalised text, hex."""
    normalized = texts.to_frame("t").select(normalized_text(pl.col("t")))["t"]
    return pl.Series(
        "post_id", [xxhash.xxh3_128_hexdigest(t.encode()) for t in normalized], dtype=pl.Utf8
    )


def stable_hash64(values: pl.Series) -> pl.Series:
    """xxHash64 of each string's UTF-8 (polars-hash, in Rust): the same on every machine,
    run and version, unlike Polars' own `hash`."""
    return values.to_frame("v").select(plh.col("v").nchash.xxhash64()).to_series().cast(pl.UInt64)


def stable_hash64_of(column: str) -> pl.Expr:
    """stable_hash64 of a column, as an expression."""
    return pl.col(column).map_batches(stable_hash64, return_dtype=pl.UInt64)
