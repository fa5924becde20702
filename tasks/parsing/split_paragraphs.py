"""Paragraphs: a post's lines, numbered, the title being paragraph 0."""
from __future__ import annotations

import polars as pl


def split_paragraphs(posts: pl.DataFrame) -> pl.DataFrame:
    return (
        posts.select("post_id", text=pl.col("text").str.split("\n"))
        .with_columns(idx=pl.int_ranges(pl.col("text").list.len()))
        .explode("text", "idx")
        .select("post_id", pl.col("idx").cast(pl.Int64), "text")
    )
