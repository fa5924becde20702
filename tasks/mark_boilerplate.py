"""Boilerplate paragraphs: lines a channel repeats around different content.

CCNet-style: each line is reduced to a key (NFKC, lower case, everything but letters
folded away, so `📺 Смотреть интервью!` and `Смотреть интервью` agree), the key is
hashed (xxHash64), and a key that recurs in at least `min_posts` distinct places is
boilerplate: `Read in full`, `Читать полностью`, 'Key points:', a hashtag line, a
channel's sign-off.

A place is a post's *context*: its title for a body line, its first body line for the
title. A post and its near-duplicates share the title and nearly every line, so
counting bare posts would turn the whole text of any family of `min_posts`
near-duplicates into boilerplate and hide it from the near-duplicate search. Counted by
context such a family counts about once, while a sign-off under many titles counts
many times. So a title is boilerplate only when it recurs over different bodies
(`#Announcement`), not merely because a post was edited. A long line that recurs (a
quoted paragraph) is flagged like any other; what that means for matching copies is
decided in tasks/find_near_duplicates.py.

Lines without a letter (`***`, `<...>`, `🇷🇺🇧🇾`, `2025`) carry no content and are
always boilerplate.
"""
from __future__ import annotations

import polars as pl
import polars_hash as plh

from tasks.split_paragraphs import split_paragraphs

# Low enough that the 23 seed posts flag `Read in full` (4 posts) and their hashtag
# line (3); a family of near-duplicates counts as one context, so it cannot reach it.
MIN_POSTS = 3


def stable_hash64(values: pl.Series) -> pl.Series:
    """xxHash64 of each string's UTF-8 (polars-hash, in Rust): the same on every machine,
    run and version, unlike Polars' own `hash`."""
    return values.to_frame("v").select(plh.col("v").nchash.xxhash64()).to_series().cast(pl.UInt64)


def line_key(text: pl.Expr) -> pl.Expr:
    """Letters only: NFKC, lower case, any run of non-letters (digits too) as one space."""
    return (
        text.str.normalize("NFKC").str.to_lowercase()
        .str.replace_all(r"[^\p{L}]+", " ").str.strip_chars()
    )


def hashed(column: str) -> pl.Expr:
    return pl.col(column).map_batches(stable_hash64, return_dtype=pl.UInt64)


def line_places(paragraphs: pl.DataFrame) -> pl.DataFrame:
    """(post_id, idx, line_hash, context, empty) of each paragraph: the compact rows that
    boilerplate is counted on. Contexts lie within a post, so posts can come in chunks."""

    def line_hash_at(idx: int) -> pl.Expr:
        return pl.col("line_hash").filter(pl.col("idx") == idx).first().over("post_id")

    # a title-only post has no first body line: its own id stands in as the context
    context = (
        pl.when(pl.col("idx") > 0).then(line_hash_at(0))
        .otherwise(line_hash_at(1).fill_null(hashed("post_id")))
    )
    return (
        paragraphs.select("post_id", "idx", _key=line_key(pl.col("text")))
        .with_columns(line_hash=hashed("_key"), empty=pl.col("_key") == "")
        .select("post_id", "idx", "line_hash", "empty", context=context)
    )


def flagged(places: pl.DataFrame, min_posts: int = MIN_POSTS) -> pl.Series:
    """`is_boilerplate` of each row of `line_places`."""
    contexts_per_key = pl.col("context").n_unique().over("line_hash")
    return places.select(is_boilerplate=pl.col("empty") | (contexts_per_key >= min_posts)).to_series()


def mark_boilerplate(paragraphs: pl.DataFrame, min_posts: int = MIN_POSTS) -> pl.DataFrame:
    """`paragraphs` (post_id, idx, text, ...) with `is_boilerplate` added, rows in order."""
    return paragraphs.with_columns(flagged(line_places(paragraphs), min_posts))


def boilerplate_flags(posts: pl.DataFrame, min_posts: int = MIN_POSTS, chunk_posts: int = 5_000) -> pl.DataFrame:
    """(post_id, idx, is_boilerplate) for every line of `posts` (post_id, text), read
    `chunk_posts` posts at a time: only the compact rows of all posts are held at once."""
    places = pl.concat(
        [line_places(split_paragraphs(posts.slice(start, chunk_posts)))
         for start in range(0, posts.height, chunk_posts)]
        or [line_places(split_paragraphs(posts))]
    )
    return places.select("post_id", "idx", flagged(places, min_posts))
