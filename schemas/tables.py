"""Pandera schemas of every table the pipeline makes, intermediate and published.

`validate(name, frame)` checks a DataFrame (not a LazyFrame: Pandera skips value
checks on those) with lazy=True, so one failure lists every bad row, and raises
`TableInvalid` naming the table, the columns, the checks and the offending rows.
"""
from __future__ import annotations

import polars as pl
import pandera.polars as pa


UTC = pl.Datetime("us", "UTC")
REACTION = pl.Struct({"emoji": pl.Utf8, "count": pl.Int64})
REACTIONS = pl.List(REACTION)
# The relations table: one row per related pair (tasks/relate/relate_posts.py).
RELATION = {"post_id": pl.Utf8, "other_post_id": pl.Utf8, "kind": pl.Utf8, "score": pl.Float64}
LANG_CODE = r"^(?:[a-z]{2}|und)$"
SHA256 = r"^[0-9a-f]{64}$"
POST_ID = r"^[0-9a-f]{32}$"
LIST = pl.List(pl.Utf8)
# What the splitter makes of a capture's lines (tasks/parsing/split_posts.py). uncopied: body
# lines whose second copy the end of the capture cut off.
ROLES = ["header", "media", "view", "title", "copy_a", "copy_b", "uncopied", "footer", "blank"]
REJECT_REASONS = {
    "blank": "blank line between posts",
    "orphan_footer": "reaction/views/time line with no post before it",
    "no_text": "post header or media placeholder with no text after it (media-only post)",
}
# The one vocabulary of media kinds, whatever the format (named as Telegram Desktop's
# JSON export names them); "unknown" is media whose kind the source does not show.
MEDIA_TYPES = ["photo", "video_file", "video_message", "voice_message", "audio_file", "animation", "sticker",
               "file", "poll", "location", "contact", "game", "invoice", "unknown"]

# The occurrence columns every reader hands on, in order: one row per message (exports,
# saved pages) or post (text captures, once collapsed). A message without text (media
# only) has null post_id, title and text: it is a message, not a post. What a format
# does not carry is null.
READ_COLUMNS = {
    "source_file": pl.Utf8,
    "position": pl.Int64,
    "line_start": pl.Int64,
    "line_end": pl.Int64,
    "post_id": pl.Utf8,
    "channel": pl.Utf8,
    "channel_title": pl.Utf8,
    "channel_username": pl.Utf8,
    "channel_numeric_id": pl.Int64,
    "message_id": pl.Int64,
    "date": UTC,
    "edited_at": UTC,
    "forwarded_from": pl.Utf8,
    "forwarded_from_id": pl.Int64,
    "reply_to_message_id": pl.Int64,
    "author": pl.Utf8,
    "media_type": pl.Utf8,
    "media": pl.Utf8,
    "title": pl.Utf8,
    "text": pl.Utf8,
    "hashtags": LIST,
    "links": LIST,
    "mentions": LIST,
    "reactions": REACTIONS,
    "views": pl.Int64,
    "truncated": pl.Boolean,
}
# ... and what the parse stage hands on: those, the channel name the user gave
# (--channel, a capture's folder) and the source's content hash.
PARSED_COLUMNS = {**READ_COLUMNS, "channel_given": pl.Utf8, "source_sha256": pl.Utf8}


def text(nullable: bool = False, **kw) -> pa.Column:
    return pa.Column(pl.Utf8, nullable=nullable, **kw)


def count(minimum: int = 0, nullable: bool = False) -> pa.Column:
    return pa.Column(pl.Int64, pa.Check.ge(minimum), nullable=nullable)


def line_range() -> dict[str, pa.Column]:
    return {"line_start": count(1), "line_end": count(1)}


ordered_range = pa.Check(
    lambda data: data.lazyframe.select((pl.col("line_end") >= pl.col("line_start")).fill_null(True)),
    name="line_end >= line_start",
)
language = {
    "lang": text(checks=pa.Check.str_matches(LANG_CODE)),
    "lang_score": pa.Column(pl.Float64, pa.Check.in_range(0.0, 1.0)),
}

NEAR_DUP_INDEX = "_index_near_dup"
LINE_CONTEXT_INDEX = "_index_line_contexts"
CHANNEL_LINE_INDEX = "_index_channel_lines"
CHANNEL_TAIL_INDEX = "_index_channel_tails"
IDENTITY_INDEX, SHARED_INDEX = "_index_identities", "_index_shared_messages"
# Tables the pipeline reads to work incrementally; not part of the published dataset.
# Relating posts reads the first four (tasks/relate/relate_posts.py), sightings the last two.
RELATE_INDEXES = (NEAR_DUP_INDEX, LINE_CONTEXT_INDEX, CHANNEL_LINE_INDEX, CHANNEL_TAIL_INDEX)
INDEXES = (*RELATE_INDEXES, IDENTITY_INDEX, SHARED_INDEX)

SCHEMAS: dict[str, pa.DataFrameSchema] = {
    "lines": pa.DataFrameSchema(
        {"source_file": text(), "line_no": count(1), "text": text()},
        unique=["source_file", "line_no"],
        name="lines",
        strict=True,
    ),
    "split": pa.DataFrameSchema(
        {
            "source_file": text(),
            "line_no": count(1),
            "text": text(),
            "kind": pa.Column(pl.Int8),
            "post": count(0, nullable=True),
            "role": text(nullable=True, checks=pa.Check.isin(ROLES)),
            "slot": count(0, nullable=True),
            "reject": text(nullable=True, checks=pa.Check.isin(list(REJECT_REASONS))),
        },
        checks=pa.Check(
            lambda data: data.lazyframe.select(
                pl.col("post").is_null() ^ pl.col("reject").is_null()
            ),
            name="each line in exactly one post or reject",
        ),
        name="split",
        strict=True,
    ),
    "parsed": pa.DataFrameSchema(
        {
            **{name: pa.Column(dtype, nullable=True) for name, dtype in PARSED_COLUMNS.items()},
            "source_file": text(),
            "source_sha256": text(checks=pa.Check.str_matches(SHA256)),
            "position": count(0),
            "line_start": count(1, nullable=True),
            "line_end": count(1, nullable=True),
            "post_id": text(nullable=True, checks=pa.Check.str_matches(POST_ID)),
            "media_type": text(nullable=True, checks=pa.Check.isin(MEDIA_TYPES)),
            "truncated": pa.Column(pl.Boolean),
        },
        checks=ordered_range,
        unique=["source_file", "position"],
        name="parsed",
        strict=True,
        ordered=True,
    ),
    "occurrences": pa.DataFrameSchema(
        {
            # null for a message without text (media only): a message, not a post
            "post_id": text(nullable=True, checks=pa.Check.str_matches(POST_ID)),
            "channel": text(nullable=True),
            "source_file": text(),
            "source_sha256": text(checks=pa.Check.str_matches(SHA256)),
            "position": count(0),
            # null for formats without lines (JSON exports, saved pages)
            "line_start": count(1, nullable=True),
            "line_end": count(1, nullable=True),
            "is_duplicate": pa.Column(pl.Boolean),
            "forwarded_from": text(nullable=True),
            "reactions": pa.Column(REACTIONS),
            "views": count(0, nullable=True),
            "truncated": pa.Column(pl.Boolean),
            "run_id": text(),
            "message_id": count(0, nullable=True),
            "date": pa.Column(UTC, nullable=True),
            "edited_at": pa.Column(UTC, nullable=True),
            # what the source called the channel (see channels)
            "channel_given": text(nullable=True),
            "channel_username": text(nullable=True),
            "channel_title": text(nullable=True),
            "channel_numeric_id": pa.Column(pl.Int64, nullable=True),
            "forwarded_from_id": pa.Column(pl.Int64, nullable=True),
            "reply_to_message_id": count(0, nullable=True),
            "author": text(nullable=True),
            "media_type": text(nullable=True, checks=pa.Check.isin(MEDIA_TYPES)),
            "media": text(nullable=True),
        },
        checks=ordered_range,
        unique=["source_file", "source_sha256", "position"],
        name="occurrences",
        strict=True,
    ),
    "posts": pa.DataFrameSchema(
        {
            "post_id": text(unique=True, checks=pa.Check.str_matches(POST_ID)),
            "channel": text(nullable=True),
            "message_id": count(0, nullable=True),
            "date": pa.Column(UTC, nullable=True),
            "forwarded_from": text(nullable=True),
            "media": text(nullable=True),
            "title": text(),
            "text": text(checks=pa.Check.str_length(min_value=1)),
            "hashtags": pa.Column(pl.List(pl.Utf8)),
            "reactions": pa.Column(REACTIONS),
            **language,
            "n_chars": count(1),
            "run_id": text(),
            "ingested_at": pa.Column(UTC),
            "views": count(0, nullable=True),
            "edited_at": pa.Column(UTC, nullable=True),
            "cluster_id": text(checks=pa.Check.str_matches(POST_ID)),
            "media_type": text(nullable=True, checks=pa.Check.isin(MEDIA_TYPES)),
            "links": pa.Column(LIST),
            "mentions": pa.Column(LIST),
        },
        name="posts",
        strict=True,
    ),
    "paragraphs": pa.DataFrameSchema(
        {
            "post_id": text(checks=pa.Check.str_matches(POST_ID)),
            "idx": count(0),
            "text": text(),
            **language,
            "is_boilerplate": pa.Column(pl.Boolean),
        },
        unique=["post_id", "idx"],
        name="paragraphs",
        strict=True,
    ),
    "sources": pa.DataFrameSchema(
        {
            "source_file": text(),
            "source_sha256": text(nullable=True, checks=pa.Check.str_matches(SHA256)),
            "bytes": count(0, nullable=True),
            "n_lines": count(0),
            "n_posts": count(0),
            "status": text(checks=pa.Check.isin(["ok", "rejected", "skipped"])),
            "error": text(nullable=True),
            "run_id": text(),
            "ingested_at": pa.Column(UTC),
            "warning": text(nullable=True),
            "captured_at": pa.Column(UTC, nullable=True),
        },
        checks=pa.Check(
            lambda data: data.lazyframe.select(
                (pl.col("status") == "ok") == pl.col("error").is_null()
            ),
            name="error given exactly when not ok",
        ),
        unique=["source_file", "source_sha256"],
        name="sources",
        strict=True,
    ),
    "relations": pa.DataFrameSchema(
        {
            "post_id": text(checks=pa.Check.str_matches(POST_ID)),
            "other_post_id": text(checks=pa.Check.str_matches(POST_ID)),
            "kind": text(checks=pa.Check.isin(["near_duplicate", "translation", "edit"])),
            "score": pa.Column(pl.Float64, pa.Check.in_range(0.0, 1.0)),
            "run_id": text(),
        },
        unique=["post_id", "other_post_id", "kind"],
        name="relations",
        strict=True,
    ),
    "messages": pa.DataFrameSchema(
        {
            "channel": text(),
            "message_id": count(0, nullable=True),  # null: a text only text captures saw
            "post_id": text(nullable=True, checks=pa.Check.str_matches(POST_ID)),  # the latest text
            "versions": pa.Column(LIST),
            "date": pa.Column(UTC, nullable=True),
            "edited_at": pa.Column(UTC, nullable=True),
            "views": count(0, nullable=True),
            "reactions": pa.Column(REACTIONS),
            "forwarded_from": text(nullable=True),
            "forwarded_from_id": pa.Column(pl.Int64, nullable=True),
            "reply_to_message_id": count(0, nullable=True),
            "author": text(nullable=True),
            "media_type": text(nullable=True, checks=pa.Check.isin(MEDIA_TYPES)),
            "media": text(nullable=True),
            "n_sightings": count(1),
            "first_seen_at": pa.Column(UTC, nullable=True),
            "last_seen_at": pa.Column(UTC, nullable=True),
            "n_versions": count(0),
        },
        checks=pa.Check(
            lambda data: data.lazyframe.select(pl.col("message_id").is_not_null() | pl.col("post_id").is_not_null()),
            name="a message has an id or a text",
        ),
        unique=["channel", "message_id", "post_id"],
        name="messages",
        strict=True,
    ),
    "channels": pa.DataFrameSchema(
        {
            "channel": text(unique=True),
            "username": text(nullable=True),
            "title": text(nullable=True),
            "numeric_id": pa.Column(pl.Int64, nullable=True),
            "names": pa.Column(LIST),
            "first_seen_at": pa.Column(UTC, nullable=True),
            "last_seen_at": pa.Column(UTC, nullable=True),
            "first_message_date": pa.Column(UTC, nullable=True),
            "last_message_date": pa.Column(UTC, nullable=True),
        },
        name="channels",
        strict=True,
    ),
    "rejects": pa.DataFrameSchema(
        {
            "source_file": text(),
            "source_sha256": text(checks=pa.Check.str_matches(SHA256)),
            # lines of a text capture; null for a message of an export or saved page
            "line_start": count(1, nullable=True),
            "line_end": count(1, nullable=True),
            "reason": text(),
            "run_id": text(),
            # a malformed message of an export or saved page: its place (as
            # occurrences.position counts) and its id as the file gives it
            "position": count(0, nullable=True),
            "message_id": text(nullable=True),
        },
        checks=[ordered_range, pa.Check(
            lambda data: data.lazyframe.select(
                pl.when(pl.col("position").is_null())
                .then(pl.col("line_start").is_not_null() & pl.col("line_end").is_not_null())
                .otherwise(pl.col("line_start").is_null() & pl.col("line_end").is_null())
            ),
            name="either a line range or a position",
        )],
        name="rejects",
        strict=True,
    ),
    # The near-duplicate index (tasks/relate/relate_posts.py): each post's LSH band buckets
    # and its place in first-seen order. Its folder starts with `_` so that no glob of a
    # published table picks it up.
    NEAR_DUP_INDEX: pa.DataFrameSchema(
        {
            "post_id": text(checks=pa.Check.str_matches(POST_ID)),
            "band": pa.Column(pl.UInt16),
            "bucket": pa.Column(pl.UInt64),
            "seen": count(0),
        },
        unique=["post_id", "band", "bucket"],
        name=NEAR_DUP_INDEX,
        strict=True,
    ),
    # The line index (tasks/relate/mark_boilerplate.py's LineRows): a line key's first distinct
    # contexts, and the first posts of a channel that have it, in first-seen order.
    LINE_CONTEXT_INDEX: pa.DataFrameSchema(
        {"line_hash": pa.Column(pl.UInt64), "context": pa.Column(pl.UInt64), "seen": count(0)},
        unique=["line_hash", "context"],
        name=LINE_CONTEXT_INDEX,
        strict=True,
    ),
    CHANNEL_LINE_INDEX: pa.DataFrameSchema(
        {"channel": text(nullable=True), "line_hash": pa.Column(pl.UInt64), "seen": count(0)},
        unique=["channel", "line_hash", "seen"],
        name=CHANNEL_LINE_INDEX,
        strict=True,
    ),
    # Each channel's latest posts, where a new post's translation can be (tasks/relate/relate_posts.py).
    CHANNEL_TAIL_INDEX: pa.DataFrameSchema(
        {"channel": text(nullable=True), "post_id": text(checks=pa.Check.str_matches(POST_ID)), "seen": count(0),
         "lang": text(nullable=True)},
        unique=["post_id"],
        name=CHANNEL_TAIL_INDEX,
        strict=True,
    ),
    # The channel identities (tasks/messages/track_messages.identity_rows): each distinct
    # identity a sighting names, its channel key and what its sightings add up to, so
    # that a run keys channels and makes their rows without reading every sighting.
    IDENTITY_INDEX: pa.DataFrameSchema(
        {
            "identity": text(unique=True),  # the IDENTITY columns as JSON
            "channel_given": text(nullable=True),
            "channel_username": text(nullable=True),
            "channel_title": text(nullable=True),
            "channel_numeric_id": pa.Column(pl.Int64, nullable=True),
            "channel": text(),
            "n_own": count(0),
            "first_seen_at": pa.Column(UTC, nullable=True),
            "last_seen_at": pa.Column(UTC, nullable=True),
            "first_message_date": pa.Column(UTC, nullable=True),
            "last_message_date": pa.Column(UTC, nullable=True),
            # its latest sighting: capture time, source and place (SIGHTING_ORDER)
            "last_captured_at": pa.Column(UTC, nullable=True),
            "last_source_file": text(),
            "last_source_sha256": text(checks=pa.Check.str_matches(SHA256)),
            "last_position": count(0),
        },
        name=IDENTITY_INDEX,
        strict=True,
    ),
    # Pairs of identities (identity < identity_b) sharing own messages, and how many.
    SHARED_INDEX: pa.DataFrameSchema(
        {
            "identity": text(),
            "identity_b": text(),
            "shared": count(1),
        },
        checks=pa.Check(lambda data: data.lazyframe.select(pl.col("identity") < pl.col("identity_b")),
                        name="identity < identity_b"),
        unique=["identity", "identity_b"],
        name=SHARED_INDEX,
        strict=True,
    ),
}

PUBLISHED = ("posts", "occurrences", "paragraphs", "sources", "rejects", "relations", "messages", "channels")


def dtypes(name: str) -> dict[str, pl.DataType]:
    """The column types of a table, in order."""
    return {column: spec.dtype.type for column, spec in SCHEMAS[name].columns.items()}


class TableInvalid(Exception):
    """A table broke its schema; the message names table, columns, checks and rows."""


def validate(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    try:
        return SCHEMAS[name].validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        raise TableInvalid(describe_failures(name, err.failure_cases)) from None


def keys_of(name: str) -> list[list[str]]:
    """The column sets the schema of `name` holds unique."""
    schema = SCHEMAS[name]
    keys = [list(schema.unique)] if schema.unique else []
    return keys + [[column] for column, spec in schema.columns.items() if spec.unique]


def validate_parts(name: str, paths: list) -> None:
    """The uniqueness checks of `validate` across Parquet files written a part at a time
    (each part was validated alone), read one key's columns at a time."""
    for key in keys_of(name):
        repeated = pl.scan_parquet(paths).select(key).filter(pl.struct(key).is_duplicated()).head(3).collect()
        if repeated.height:
            raise TableInvalid(f"table '{name}' failed validation:\n  columns {key}, check 'unique' across "
                               f"parts: values {repeated.rows()}")


def describe_failures(name: str, cases: pl.DataFrame, max_rows: int = 10) -> str:
    lines = [f"table '{name}' failed validation:"]
    grouped = cases.group_by("column", "check", maintain_order=True).agg(
        rows=pl.col("index"), values=pl.col("failure_case")
    )
    for column, check, rows, values in grouped.iter_rows():
        shown = [r for r in rows if r is not None][:max_rows]
        more = f" (+{len(rows) - len(shown)} more)" if len(rows) > len(shown) else ""
        where = f"rows {shown}{more}" if shown else "whole table"
        lines.append(f"  column {column!r}, check {check!r}: {where}; values {values[:3]}")
    return "\n".join(lines)
