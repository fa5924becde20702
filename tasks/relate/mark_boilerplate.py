"""Boilerplate paragraphs: lines a channel repeats around different content.

CCNet-style: each line is reduced to a key (NFKC, lower case, everything but letters
folded away, so `📺 Смотреть интервью!` and `Смотреть интервью` agree: `line_key`,
tasks/normalize.py), the key is hashed (xxHash64), and a key that recurs in at least
`min_posts` distinct places is boilerplate: `Read in full`, `Читать полностью`, 'Key
points:', a hashtag line, a channel's sign-off.

A place is a post's *context*: its title for a body line, its first body line for the
title. A post and its near-duplicates share the title and nearly every line, so
counting bare posts would turn the whole text of any family of `min_posts`
near-duplicates into boilerplate and hide it from the near-duplicate search. Counted by
context such a family counts about once, while a sign-off under many titles counts
many times. So a title is boilerplate only when it recurs over different bodies
(`#Announcement`), not merely because a post was edited. A long line that recurs (a
quoted paragraph) is flagged like any other; what that means for matching copies is
decided in tasks/relate/find_near_duplicates.py.

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

from dataclasses import dataclass

import polars as pl

from tasks.hashing import stable_hash64_of
from tasks.normalize import line_key
from tasks.parsing.split_paragraphs import split_paragraphs
from tasks.relate import CHUNK_POSTS

# Low enough that the 23 seed posts flag `Read in full` (4 posts) and their hashtag
# line (3); a family of near-duplicates counts as one context, so it cannot reach it.
MIN_POSTS = 3


def line_places(paragraphs: pl.DataFrame) -> pl.DataFrame:
    """(post_id, idx, line_hash, context, empty, letters) of each paragraph: the compact rows that
    boilerplate is counted on. Contexts lie within a post, so posts can come in chunks."""

    def line_hash_at(idx: int) -> pl.Expr:
        return pl.col("line_hash").filter(pl.col("idx") == idx).first().over("post_id")

    # a title-only post has no first body line: its own id stands in as the context
    context = (
        pl.when(pl.col("idx") > 0).then(line_hash_at(0))
        .otherwise(line_hash_at(1).fill_null(stable_hash64_of("post_id")))
    )
    return (
        paragraphs.select("post_id", "idx", _key=line_key(pl.col("text")))
        .with_columns(line_hash=stable_hash64_of("_key"), empty=pl.col("_key") == "",
                      letters=pl.col("_key").str.len_chars())
        .select("post_id", "idx", "line_hash", "empty", "letters", context=context)
    )


@dataclass(frozen=True)
class LineRows:
    """What the flags are counted from, capped at what the rules need, so that a line in
    every post of a channel is a few rows (the dataset's line index, schemas/tables.py):

    - `contexts`: (line_hash, context, seen), a line's first `min_posts` distinct
      contexts in first-seen order (is_boilerplate needs to know only whether it has
      that many);
    - `channel_lines`: (channel, line_hash, seen), the first `template_min_posts` (at
      least 2) posts of a channel that have the line (is_recurring, is_template).

    The first rows in first-seen order, whatever runs brought them: a dataset's index is
    the same however its inputs were split into runs."""

    contexts: pl.DataFrame
    channel_lines: pl.DataFrame

    @staticmethod
    def of(places: pl.DataFrame) -> "LineRows":
        """The uncapped rows of line_places rows with `channel` and `seen` (their post's
        place in first-seen order); lines without letters count nowhere."""
        content = places.filter(~pl.col("empty"))
        return LineRows(content.select(list(LINE_CONTEXT_COLUMNS)), content.select(list(CHANNEL_LINE_COLUMNS)))

    def capped(self, caps: tuple[int, int]) -> "LineRows":
        contexts = (
            self.contexts.sort("line_hash", "seen", "context").unique(["line_hash", "context"], keep="first",
                                                                       maintain_order=True)
            .filter(pl.int_range(pl.len()).over("line_hash") < caps[0])
        )
        channel_lines = (
            self.channel_lines.unique(maintain_order=True).sort("channel", "line_hash", "seen", nulls_last=True)
            .filter(pl.int_range(pl.len()).over("channel", "line_hash") < caps[1])
        )
        return LineRows(contexts, channel_lines)

    def __add__(self, other: "LineRows") -> "LineRows":
        return LineRows(pl.concat([self.contexts, other.contexts]), pl.concat([self.channel_lines, other.channel_lines]))

    def without(self, other: "LineRows") -> "LineRows":
        """The rows `other` does not have (what a run adds to the stored index)."""
        return LineRows(self.contexts.join(other.contexts, on=["line_hash", "context"], how="anti"),
                        self.channel_lines.join(other.channel_lines, on=["channel", "line_hash", "seen"], how="anti",
                                                nulls_equal=True))


LINE_CONTEXT_COLUMNS = {"line_hash": pl.UInt64, "context": pl.UInt64, "seen": pl.Int64}
CHANNEL_LINE_COLUMNS = {"channel": pl.Utf8, "line_hash": pl.UInt64, "seen": pl.Int64}


def line_caps(min_posts: int, template: tuple[int, float] | None) -> tuple[int, int]:
    """How many rows of a line LineRows keeps: enough to tell `min_posts` contexts, and
    `template_min_posts` posts of a channel (2 for the shared-share rule)."""
    return min_posts, max(template[0] if template else 0, 2)


def flags_from(places: pl.DataFrame, rows: LineRows, min_posts: int = MIN_POSTS,
               template: tuple[int, float] | None = None) -> pl.DataFrame:
    """(post_id, idx, is_boilerplate[, is_recurring, is_template]) of line_places rows
    (with `channel`), counted over `rows` (capped or not: the rules only ask whether a
    count reaches min_posts, template_min_posts or 2).

    is_boilerplate: the line has no letters, or its key is in at least `min_posts`
    distinct contexts. With `template` (template_min_posts, max_share): is_recurring,
    its key is in at least template_min_posts posts of the post's channel (posts without
    a channel count as one channel); is_template, it does in a post whose lines shared
    with any other post of the channel hold at most `max_share` of its letters."""
    contexts = rows.contexts.group_by("line_hash").agg(contexts=pl.col("context").n_unique())
    flags = places.join(contexts, on="line_hash", how="left", maintain_order="left").select(
        "post_id", "idx", "channel", "line_hash", "empty", "letters",
        is_boilerplate=pl.col("empty") | (pl.col("contexts").fill_null(0) >= min_posts),
    )
    if template is None:
        return flags.select("post_id", "idx", "is_boilerplate")
    posts = rows.channel_lines.group_by("channel", "line_hash").agg(posts_with_line=pl.col("seen").n_unique())
    flags = flags.join(posts, on=["channel", "line_hash"], how="left", nulls_equal=True, maintain_order="left")
    posts_with_line = pl.when(~pl.col("empty")).then(pl.col("posts_with_line")).fill_null(0)
    shared_share = (
        pl.col("letters").filter(pl.col("posts_with_line") >= 2).sum().over("post_id")
        / pl.col("letters").sum().over("post_id")
    )
    min_template_posts, max_share = template
    return flags.with_columns(posts_with_line=posts_with_line).select(
        "post_id", "idx", "is_boilerplate",
        is_recurring=pl.col("posts_with_line") >= min_template_posts,
        is_template=(pl.col("posts_with_line") >= min_template_posts) & (shared_share <= max_share),
    )


def mark_boilerplate(paragraphs: pl.DataFrame, min_posts: int = MIN_POSTS) -> pl.DataFrame:
    """`paragraphs` (post_id, idx, text, ...) with `is_boilerplate` added, rows in order."""
    places = line_places(paragraphs).with_columns(channel=pl.lit(None, pl.Utf8), seen=pl.lit(0, pl.Int64))
    return paragraphs.with_columns(flags_from(places, LineRows.of(places), min_posts)["is_boilerplate"])


def places_of(posts: pl.DataFrame, chunk_posts: int = CHUNK_POSTS) -> pl.DataFrame:
    """line_places of `posts` (post_id, text[, channel][, first_seen]) with `channel` and
    `seen` (first_seen, else the post's row), `chunk_posts` posts at a time: only the
    compact rows of all posts are held at once."""
    posts = posts.select(
        "post_id", "text",
        channel=pl.col("channel") if "channel" in posts.columns else pl.lit(None, pl.Utf8),
        seen=pl.col("first_seen") if "first_seen" in posts.columns else pl.int_range(pl.len(), dtype=pl.Int64),
    )
    chunks = [posts.slice(start, chunk_posts) for start in range(0, posts.height, chunk_posts)] or [posts]
    return pl.concat([
        line_places(split_paragraphs(chunk)).join(chunk.select("post_id", "channel", pl.col("seen").cast(pl.Int64)),
                                                   on="post_id", how="left", maintain_order="left")
        for chunk in chunks
    ])


def boilerplate_flags(posts: pl.DataFrame, min_posts: int = MIN_POSTS, chunk_posts: int = CHUNK_POSTS,
                      template: tuple[int, float] | None = None) -> pl.DataFrame:
    """(post_id, idx, is_boilerplate[, is_recurring, is_template]) for every line of
    `posts` (post_id, text[, channel][, first_seen]), counted over these posts alone (see
    flags_from; the two last flags when `template` is given)."""
    places = places_of(posts, chunk_posts)
    return flags_from(places, LineRows.of(places), min_posts, template)
