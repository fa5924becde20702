"""Rebuild each post occurrence from its lines: one text from the two body copies.

The true body is the union of both copies in order; where the copies differ in a
line (one lost its emoji), the longer variant is kept. The splitter has already
aligned the copies (matched lines share a `slot`), so this is a group-by.
"""
from __future__ import annotations

import polars as pl

from schemas.tables import REACTION
from tasks.hashing import post_ids
from tasks.reading.entities import hashtags_of
from tasks.parsing.split_posts import BODY_ROLES, COUNT, HEADER_PREFIX, REACTION_TOKEN, TIME_TOKEN, VIEWS_TOKEN



# Counts from 2**53 up are null: no counter gets near it, and from there a float no
# longer holds every integer (a 20-digit count once stopped the run with a cast error).
MAX_COUNT = 2**53


def count_value(count: pl.Expr) -> pl.Expr:
    """'1.2K' → 1200, '4,5M' → 4500000, '17' → 17; null when too large to be a count."""
    number = count.str.replace(",", ".").str.extract(r"^([0-9.]+)").cast(pl.Float64)
    scale = (
        pl.when(count.str.ends_with("K")).then(1_000)
        .when(count.str.ends_with("M")).then(1_000_000)
        .otherwise(1)
    )
    value = (number * scale).round(0)
    return pl.when(value < MAX_COUNT).then(value).cast(pl.Int64)


def _footer_fields(footer: pl.DataFrame) -> pl.DataFrame:
    """Reactions (emoji + count; a bare count has no emoji) and views per occurrence."""
    text = pl.col("text")
    views = footer.select(
        "source_file", "post", views=count_value(text.str.extract(rf"({COUNT})\s+views"))
    ).drop_nulls("views").group_by("source_file", "post").agg(pl.col("views").max())
    tokens = (
        footer.select(
            "source_file",
            "post",
            "line_no",
            token=text.str.replace_all(VIEWS_TOKEN, "").str.replace_all(TIME_TOKEN, "")
            .str.extract_all(REACTION_TOKEN),
        )
        .explode("token")
        .drop_nulls("token")
        .with_row_index("order")
    )
    reactions = tokens.group_by("source_file", "post").agg(
        reactions=pl.struct(
            emoji=pl.col("token").str.extract(r"^([^\w\s]+)"),
            count=count_value(pl.col("token").str.extract(rf"({COUNT})$")),
        ).sort_by("order")
    )
    return reactions.join(views, on=["source_file", "post"], how="full", coalesce=True)


def collapse_copies(split: pl.DataFrame) -> pl.DataFrame:
    """Split lines → one row per post occurrence, in file order."""
    in_post = split.filter(pl.col("post").is_not_null())
    keys = ["source_file", "post"]
    role = pl.col("role")
    ranges = in_post.group_by(keys).agg(
        line_start=pl.col("line_no").min(),
        line_end=pl.col("line_no").max(),
        forwarded_from=pl.col("text").filter(role == "header").first().str.strip_prefix(HEADER_PREFIX),
        media=pl.col("text").filter(role == "media").first(),
        title=pl.col("text").filter(role == "title").first(),
        truncated=(role == "uncopied").any(),
    )
    body = (
        in_post.filter(role.is_in(BODY_ROLES))
        .group_by(keys + ["slot"])
        # The longer variant of a line, unless it carries replacement characters from
        # invalid bytes and the other copy is clean.
        .agg(
            pl.col("text")
            .sort_by(pl.col("text").str.contains("\ufffd"), pl.col("text").str.len_chars(), descending=[False, True])
            .first()
        )
        .group_by(keys)
        .agg(body=pl.col("text").sort_by("slot"))
    )
    footer = _footer_fields(in_post.filter(role == "footer"))
    occurrences = (
        ranges.join(body, on=keys, how="left")
        .join(footer, on=keys, how="left")
        .with_columns(
            body=pl.col("body").fill_null(pl.lit([], pl.List(pl.Utf8))),
            reactions=pl.col("reactions").fill_null(pl.lit([], pl.List(REACTION))),
        )
        .with_columns(
            text=pl.concat_list(pl.col("title"), pl.col("body")).list.join("\n"),
        )
        .with_columns(
            hashtags=hashtags_of(pl.col("text")),
        )
        .sort(keys)
        .rename({"post": "position"})
    )
    return occurrences.with_columns(post_id=post_ids(occurrences["text"])).select(
        "source_file",
        "position",
        "line_start",
        "line_end",
        "post_id",
        "forwarded_from",
        "media",
        "title",
        "text",
        "hashtags",
        "reactions",
        "views",
        "truncated",
    )
