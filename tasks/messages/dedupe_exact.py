"""Exact deduplication: one post per distinct text, every sighting kept as an occurrence."""
from __future__ import annotations

import polars as pl

from tasks.messages.track_messages import SIGHTING_ORDER


def mark_duplicates(occurrences: pl.DataFrame, known: pl.DataFrame | None = None) -> pl.DataFrame:
    """`is_duplicate`: the dataset already has the post (`known` post_ids), or an earlier
    occurrence of this run (by capture time, then name, content hash and position, so
    that one run and several in capture order give the same flags) has the same post_id. A message
    without text (null post_id) is no post, so never a duplicate of one."""
    ordered = occurrences.sort(SIGHTING_ORDER)
    seen_before = pl.col("post_id").is_in(known["post_id"].implode()) if known is not None else pl.lit(False)
    repeated = pl.int_range(pl.len()).over("post_id") > 0
    return ordered.with_columns(is_duplicate=(seen_before | repeated) & pl.col("post_id").is_not_null())
