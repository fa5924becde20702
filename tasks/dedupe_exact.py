"""Exact deduplication: one post per distinct text, every sighting kept as an occurrence."""
from __future__ import annotations

import polars as pl

SIGHTING_ORDER = ["source_file", "position"]
# Fields only some formats carry (a JSON export has ids and dates, a text capture has
# not): a post takes them from the first sighting that has them.
RICHER_FIELDS = ["message_id", "date", "edited_at", "views"]


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
    """One row per post_id, from its first sighting; the richer fields from the first
    sighting that has them; reactions from the sighting with the highest total count
    (counts only grow, so that is the latest one)."""
    ordered = occurrences.sort(SIGHTING_ORDER)
    total = pl.col("reactions").list.eval(pl.element().struct.field("count")).list.sum()
    gathered = ordered.group_by("post_id", maintain_order=True).agg(
        *[pl.col(c).drop_nulls().first() for c in RICHER_FIELDS],
        reactions=pl.col("reactions").sort_by(total, descending=True, maintain_order=True).first(),
    )
    first = ordered.unique("post_id", keep="first", maintain_order=True).drop(RICHER_FIELDS, "reactions")
    return first.join(gathered, on="post_id", how="left", maintain_order="left")


def richer_sightings(occurrences: pl.DataFrame, known: pl.DataFrame) -> pl.DataFrame:
    """Posts already in the dataset that this batch can enrich: `known` rows (with the
    richer fields) whose missing fields a new sighting has."""
    found = unique_posts(occurrences.filter(pl.col("post_id").is_in(known["post_id"].implode())))
    merged = known.join(found.select("post_id", *RICHER_FIELDS), on="post_id", suffix="_new")
    gains = pl.any_horizontal(pl.col(c).is_null() & pl.col(f"{c}_new").is_not_null() for c in RICHER_FIELDS)
    return merged.filter(gains).select(
        "post_id", *[pl.coalesce(c, f"{c}_new").alias(c) for c in RICHER_FIELDS]
    )
