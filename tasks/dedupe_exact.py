"""Exact deduplication: one post per distinct text, every sighting kept as an occurrence."""
from __future__ import annotations

import polars as pl

SIGHTING_ORDER = ["source_file", "position"]


def mark_duplicates(occurrences: pl.DataFrame, known: pl.DataFrame | None = None) -> pl.DataFrame:
    """`is_duplicate`: the dataset already has the post (`known` post_ids), or an earlier
    occurrence of this batch (by file, then position) has the same post_id."""
    ordered = occurrences.sort(SIGHTING_ORDER)
    seen_before = pl.col("post_id").is_in(known["post_id"].implode()) if known is not None else pl.lit(False)
    return ordered.with_columns(is_duplicate=seen_before | (pl.int_range(pl.len()).over("post_id") > 0))


def new_posts(occurrences: pl.DataFrame) -> pl.DataFrame:
    """The posts first seen in these occurrences (marked by `mark_duplicates`)."""
    first_seen = occurrences.filter(~pl.col("is_duplicate"))["post_id"].implode()
    return unique_posts(occurrences.filter(pl.col("post_id").is_in(first_seen)))


def unique_posts(occurrences: pl.DataFrame) -> pl.DataFrame:
    """One row per post_id, from its first sighting; reactions from the sighting with the
    highest total count (counts only grow, so that is the latest one)."""
    total = pl.col("reactions").list.eval(pl.element().struct.field("count")).list.sum()
    latest_reactions = (
        occurrences.sort([total, *SIGHTING_ORDER], descending=[True, False, False])
        .group_by("post_id", maintain_order=True)
        .agg(pl.col("reactions").first())
    )
    first = occurrences.sort(SIGHTING_ORDER).unique("post_id", keep="first", maintain_order=True)
    return first.drop("reactions").join(latest_reactions, on="post_id", how="left")
