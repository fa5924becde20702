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

For near-duplicate matching only, `is_recurring` marks a line whose key recurs in at
least `template_min_posts` distinct posts of one channel, whatever the context: a
digest's fixed header, its footer of hashtags and source labels (`❕ Phoronix`,
`📔 #1_报道汇总 #2_每日非正式稿`) sit under one fixed title, so they recur in one context
and `is_boilerplate` misses them. Counting per channel keeps one channel's template
from hiding another channel's text. `is_template` marks the recurring lines of a post
that fills a template: most of its letters (more than 1 - `template_max_share`) lie in
lines no other post of the channel has, as a digest's news. A post most of whose text
other posts share is a copy (a re-post edited three times shares its lines with its
family): its recurring lines are its content. `paragraphs.is_boilerplate`
stays the context rule above.
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


URL = r"(?i:https?://|www\.|t\.me/)\S+"


def url_tokens(text: pl.Expr) -> pl.Expr:
    """The links of a text, each one word of its letters and digits: a link is a post's
    content, and two links differ in their ids (`youtube.com/watch?v=1fASN9oYGdw`), not in
    the words around them."""
    return text.str.extract_all(URL).list.eval(pl.element().str.replace_all(r"[^\p{L}\p{N}]+", "")).list.join(" ")


def with_links(key: pl.Expr, text: pl.Expr) -> pl.Expr:
    """`key` of the text without its links, then its links (url_tokens)."""
    return pl.concat_str(key, url_tokens(text), separator=" ").str.strip_chars()


def line_key(text: pl.Expr) -> pl.Expr:
    """Letters only: NFKC, lower case, any run of non-letters (digits too) as one space;
    links whole (url_tokens)."""
    letters = (
        text.str.replace_all(URL, " ").str.normalize("NFKC").str.to_lowercase()
        .str.replace_all(r"[^\p{L}]+", " ").str.strip_chars()
    )
    return with_links(letters, text.str.normalize("NFKC").str.to_lowercase())


def hashed(column: str) -> pl.Expr:
    return pl.col(column).map_batches(stable_hash64, return_dtype=pl.UInt64)


def line_places(paragraphs: pl.DataFrame) -> pl.DataFrame:
    """(post_id, idx, line_hash, context, empty, letters) of each paragraph: the compact rows that
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
        .with_columns(line_hash=hashed("_key"), empty=pl.col("_key") == "", letters=pl.col("_key").str.len_chars())
        .select("post_id", "idx", "line_hash", "empty", "letters", context=context)
    )


def flagged(places: pl.DataFrame, min_posts: int = MIN_POSTS) -> pl.Series:
    """`is_boilerplate` of each row of `line_places`."""
    contexts_per_key = pl.col("context").n_unique().over("line_hash")
    return places.select(is_boilerplate=pl.col("empty") | (contexts_per_key >= min_posts)).to_series()


def mark_boilerplate(paragraphs: pl.DataFrame, min_posts: int = MIN_POSTS) -> pl.DataFrame:
    """`paragraphs` (post_id, idx, text, ...) with `is_boilerplate` added, rows in order."""
    return paragraphs.with_columns(flagged(line_places(paragraphs), min_posts))


def template_lines(places: pl.DataFrame, channels: pl.DataFrame, min_posts: int, max_share: float) -> pl.DataFrame:
    """(is_recurring, is_template) of each row of `line_places`: its key recurs in at
    least `min_posts` distinct posts of the post's channel (`channels`: post_id,
    channel; posts without a channel count as one channel); and it does in a post whose
    lines shared with any other post of the channel hold at most `max_share` of its
    letters."""
    channel = places.select("post_id").join(channels, on="post_id", how="left", maintain_order="left")["channel"]
    posts_with_line = pl.when(~pl.col("empty")).then(pl.col("post_id").n_unique().over("channel", "line_hash"))
    shared_share = (
        pl.col("letters").filter(pl.col("posts_with_line") >= 2).sum().over("post_id")
        / pl.col("letters").sum().over("post_id")
    )
    return (
        places.with_columns(channel=channel).with_columns(posts_with_line=posts_with_line.fill_null(0))
        .select(is_recurring=pl.col("posts_with_line") >= min_posts,
                is_template=(pl.col("posts_with_line") >= min_posts) & (shared_share <= max_share))
    )


def boilerplate_flags(posts: pl.DataFrame, min_posts: int = MIN_POSTS, chunk_posts: int = 5_000,
                      template: tuple[int, float] | None = None) -> pl.DataFrame:
    """(post_id, idx, is_boilerplate[, is_recurring, is_template]) for every line of
    `posts` (post_id, text[, channel]), read `chunk_posts` posts at a time: only the
    compact rows of all posts are held at once. The last two (see the module's
    docstring) when `template` (min_posts, max_share) is given."""
    places = pl.concat(
        [line_places(split_paragraphs(posts.slice(start, chunk_posts)))
         for start in range(0, posts.height, chunk_posts)]
        or [line_places(split_paragraphs(posts))]
    )
    flags = places.select("post_id", "idx", flagged(places, min_posts))
    if template is None:
        return flags
    channels = posts.select("post_id", channel=pl.col("channel") if "channel" in posts.columns else pl.lit(None, pl.Utf8))
    return flags.with_columns(template_lines(places, channels, *template))
