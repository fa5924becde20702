"""The sightings stage: a run's occurrences set against the dataset's (repeated files,
channel keys, duplicates), and the messages, channels and edits they make, reading
only the stored sightings the run can change (the channel identity index)."""

import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE

from schemas.tables import IDENTITY_INDEX, SHARED_INDEX, UTC, dtypes
from tasks.messages.dedupe_exact import mark_duplicates
from tasks.messages.track_messages import (
    IDENTITY, SIGHTING_COLUMNS, SIGHTING_ORDER, channel_rows, edit_pairs, identity_channels, identity_key,
    identity_rows, message_rows, own_messages, post_fields, updated_identities,
)
from storage.store import Store
from flows.batches import Batch, SourceResult, scan_batches, stash_frame


@dataclass(frozen=True)
class SightingFiles:
    """The sightings task's work files. For the tag task: each occurrence's duplicate
    flag and channel key (`flags`, by batch and row), the first sighting of each new
    post, and new posts' fields. For export: the changed fields of stored posts, the
    renamed occurrences, the rows of the messages, channels and identity index the
    run changes (and the keys of the stored rows they replace), and new edits."""

    flags: Path
    first_sightings: Path
    new_post_fields: Path
    changed_posts: Path
    renamed: Path
    messages: Path
    remade_channels: Path
    touched_messages: Path
    touched_texts: Path
    channels: Path
    touched_channels: Path
    identities: Path
    pairs: Path
    edits: Path

    def rows_of(self, table: str) -> Path:
        """The run's rows of a table the stage makes rows of."""
        return {"messages": self.messages, "channels": self.channels, IDENTITY_INDEX: self.identities,
                SHARED_INDEX: self.pairs}[table]


@task(name="sightings", cache_policy=NO_CACHE)
def sightings(batches: list[Batch], work: Path, store: Store) -> SightingFiles:
    """The run's sightings beside those stored ones they can change, from small columns
    only (no text): files repeating another file of the run, channel keys, duplicate
    flags, the fields of new and changed posts, and the messages, channels and edits
    they make, with the keys of the stored rows those replace.

    Stored sightings are read by filtered scans (`_read_occurrences`), never whole,
    except where the run changes a stored identity's channel key (an identity joins two
    channels): then those channels are made anew from all their sightings (rare). A
    dataset without the identity index (or the messages table) is read whole once, to
    build them."""
    results = [r for b in batches for r in b.results]
    _skip_repeated_content(results)
    ingested = [r for r in results if r.parsed]
    _one_time_per_export(ingested)
    captured = pl.DataFrame(
        [(r.sha256, r.captured_at) for r in ingested], schema={"source_sha256": pl.Utf8, "captured_at": UTC},
        orient="row",
    )
    run = (
        scan_batches(batches, "occurrences").select("batch", "row", *SIGHTING_COLUMNS)
        .filter(pl.col("source_file").is_in([r.source.name for r in ingested])).collect()
        .join(captured, on="source_sha256", how="left", maintain_order="left")
        .with_columns(identity_key())
    )
    migrating, stored_ids, stored_pairs, read = _identity_index(store)
    # The stored sightings of the run's texts: for channel keys, their own messages
    # sharing an id and text with the run's update the identity index.
    of_texts = read(post_id=run["post_id"])
    run_own = own_messages(run)
    stored_own = own_messages(of_texts).join(
        run_own.select("message_id", "post_id"), on=["message_id", "post_id"], how="semi"
    )
    identities, pairs = updated_identities(stored_ids, stored_pairs, run, stored_own)
    identities = identities.join(identity_channels(identities, pairs).select("identity", "channel"), on="identity")
    keys = identities.select("identity", "channel")
    run = run.join(keys, on="identity", how="left", maintain_order="left")
    moved = stored_ids.join(keys, on="identity", suffix="_new").filter(pl.col("channel") != pl.col("channel_new"))
    remade = (
        pl.concat([stored_ids.select("channel"), keys.select("channel")]) if migrating
        else pl.concat([moved.select("channel"), moved.select(channel="channel_new")])
    ).unique()
    stored = _StoredSightings(read, keys)
    texts = of_texts.join(keys, on="identity", how="left")
    whole = stored() if migrating else stored(channel=remade["channel"])
    messages, touched, run_texts = _affected_messages(run, stored, remade, whole, texts)

    # Posts: the fields of those the run sighted or whose channel key changed.
    sighted_ids = pl.concat([run["post_id"], whole["post_id"]]).drop_nulls().unique()
    of_posts = pl.concat([texts, stored(post_id=_other(whole["post_id"], run["post_id"]))]).unique(STORED_KEY)
    fields = post_fields(pl.concat([of_posts, run], how="diagonal_relaxed")).filter(
        pl.col("post_id").is_in(sighted_ids.implode())
    ).select(POST_FIELDS)
    known = _stored_posts(store, sighted_ids)
    flags = mark_duplicates(run.select("batch", "row", "post_id", *SIGHTING_ORDER, "channel"), known)
    first = flags.filter(~pl.col("is_duplicate") & pl.col("post_id").is_not_null())

    # Channels and the index: the rows of every identity the run sighted or re-keyed.
    changed_ids = identities if migrating else identities.join(
        pl.concat([run.select("identity"), moved.select("identity")]).unique(), on="identity", how="semi"
    )
    channels = pl.concat([remade, changed_ids.select("channel")]).unique()
    return SightingFiles(
        flags=stash_frame(flags.select("batch", "row", "is_duplicate", "channel"), work, "all", "flags"),
        first_sightings=stash_frame(first.select("batch", "row"), work, "all", "first"),
        new_post_fields=stash_frame(fields.join(first.select("post_id"), on="post_id", how="semi"), work, "all", "fields"),
        changed_posts=stash_frame(_changed(fields, known), work, "all", "changed"),
        # A row without identity (an earlier version's) keeps the key it counts as given.
        renamed=stash_frame(whole.filter((pl.col("channel") != pl.col("stored_channel")) | pl.col("no_identity"))
                          .select(*STORED_KEY, "channel", "channel_given"), work, "all", "renamed"),
        messages=stash_frame(messages, work, "all", "messages"),
        remade_channels=stash_frame(remade, work, "all", "remade"),
        touched_messages=stash_frame(touched, work, "all", "touched"),
        touched_texts=stash_frame(run_texts.with_columns(message_id=pl.lit(None, pl.Int64)), work, "all", "texts"),
        channels=stash_frame(
            channel_rows(identities.join(channels, on="channel", how="semi")), work, "all", "channels"
        ),
        touched_channels=stash_frame(channels, work, "all", "touched_channels"),
        identities=stash_frame(changed_ids.select(list(dtypes(IDENTITY_INDEX))), work, "all", "identities"),
        pairs=stash_frame(pairs if migrating else pairs.join(stored_pairs, on=list(pairs.columns), how="anti"),
                        work, "all", "pairs"),
        edits=stash_frame(_new_edits(messages, store), work, "all", "edits"),
    )


def _identity_index(store: Store):
    """(migrating, stored identities, stored pairs, reader of stored sightings). A
    dataset without the identity index, or without messages (an earlier version's), is
    read whole once to build the index; the run then makes every channel anew."""
    if all(store.files(table) for table in (IDENTITY_INDEX, SHARED_INDEX, "messages")):
        def read(**values: pl.Series) -> pl.DataFrame:
            return _read_occurrences(store, **values)

        return (False, store.scan(IDENTITY_INDEX, schema=dtypes(IDENTITY_INDEX)),
                store.scan(SHARED_INDEX, schema=dtypes(SHARED_INDEX)), read)
    everything = _read_occurrences(store)
    if everything.height:
        print(f"  building the channel identity index of {everything.height} stored sightings (once) ...",
              file=sys.stderr, flush=True)
    identities, pairs = identity_rows(everything)
    identities = identities.join(
        everything.group_by("identity").agg(channel=pl.col("stored_channel").min()), on="identity"
    )

    def read_everything(**values: pl.Series) -> pl.DataFrame:
        return everything.filter(_having(values, channel="stored_channel"))

    return True, identities, pairs, read_everything


def _affected_messages(run: pl.DataFrame, stored: "_StoredSightings", remade: pl.DataFrame, whole: pl.DataFrame,
                       texts: pl.DataFrame):
    """The message rows the run's sightings change: those of `remade` channels (from
    `whole`, all their stored sightings); elsewhere the run's messages, the stored
    messages with a text (version) the run sighted (`texts`: the stored sightings of
    the run's texts), and capture-only rows of the run's texts, each from its every
    sighting: read by message, then by version. Returns them and the (channel,
    message_id) and (channel, post_id) keys they replace."""
    rest = run.filter(~pl.col("channel").is_in(remade["channel"].implode()))
    run_ids = rest.drop_nulls("message_id").select("channel", "message_id").unique()
    run_texts = rest.drop_nulls("post_id").select("channel", "post_id").unique()
    # A stored message showing a text the run sighted may gain or lose a capture's sighting.
    sharing = texts.drop_nulls("message_id").join(run_texts, on=["channel", "post_id"], how="semi")
    touched = pl.concat([run_ids, sharing.select("channel", "message_id")]).unique()
    of_touched = stored(channel=touched["channel"], message_id=touched["message_id"]).join(
        touched, on=["channel", "message_id"], how="semi"
    )
    # Their versions' other sightings: captures that join them, and which messages share a text.
    versions = pl.concat([of_touched.select("channel", "post_id"), run_texts]).drop_nulls().unique()
    of_versions = stored(post_id=_other(versions["post_id"], run["post_id"])).join(
        versions, on=["channel", "post_id"], how="semi"
    )
    near = pl.concat([whole, texts, of_touched, of_versions]).unique(STORED_KEY)
    messages = message_rows(pl.concat([near, run], how="diagonal_relaxed")).filter(
        pl.col("channel").is_in(remade["channel"].implode())
        | pl.struct("channel", "message_id").is_in(touched.to_struct().implode())
        | (pl.col("message_id").is_null() & pl.struct("channel", "post_id").is_in(run_texts.to_struct().implode()))
    )
    return messages, touched, run_texts


def _other(post_ids: pl.Series, read: pl.Series) -> pl.Series:
    """`post_ids` but those whose sightings were `read` already (a scan saved)."""
    return post_ids.filter(~post_ids.is_in(read.drop_nulls().implode()))


def _new_edits(messages: pl.DataFrame, store: Store) -> pl.DataFrame:
    """The edit relations of `messages` not stored yet."""
    edits = edit_pairs(messages).with_columns(kind=pl.lit("edit"), score=pl.lit(1.0))
    files = store.files("relations")
    if not files or edits.height == 0:
        return edits
    stored = pl.scan_parquet(files).filter(
        (pl.col("kind") == "edit") & pl.col("post_id").is_in(edits["post_id"].implode())
    ).select("post_id", "other_post_id", "kind").collect()
    return edits.join(stored, on=["post_id", "other_post_id", "kind"], how="anti")


# A stored occurrence: its source and place there.
STORED_KEY = ["source_file", "source_sha256", "position"]


class _StoredSightings:
    """Stored sightings having given values (see `_read_occurrences`), keyed by the
    run's channel keys."""

    def __init__(self, read, keys: pl.DataFrame):
        self.read, self.keys = read, keys

    def __call__(self, **values: pl.Series) -> pl.DataFrame:
        return self.read(**values).join(self.keys, on="identity", how="left")


def _having(values: dict[str, pl.Series], **renamed: str) -> pl.Expr:
    """Rows whose every column named in `values` holds one of its values."""
    return pl.all_horizontal(pl.lit(True), *[
        pl.col(renamed.get(column, column)).is_in(series.unique().implode()) for column, series in values.items()
    ])


# The fields a post takes from all of its sightings (tasks/messages/track_messages.post_fields).
POST_FIELDS = ["post_id", "channel", "forwarded_from", "media", "media_type", "message_id", "date", "edited_at",
               "views", "reactions"]


def _one_time_per_export(results: list[SourceResult]) -> None:
    """The pages of a Desktop HTML export (one folder) are one export: each takes the
    newest capture time of them all, not that of its own messages (recorded so)."""
    newest: dict[Path, datetime] = {}
    pages = [r for r in results if r.file_format == "desktop_html" and r.captured_at is not None]
    for result in pages:
        folder = result.source.path.parent
        newest[folder] = max(newest.get(folder, result.captured_at), result.captured_at)
    for result in pages:
        result.captured_at = newest[result.source.path.parent]


def _skip_repeated_content(results: list[SourceResult]) -> None:
    """A file of this run whose content another file of the run, earlier by name, has is
    skipped, as it would be in a later run. (Per-batch tasks cannot see other batches:
    this is the first run-wide step.)"""
    first: dict[str, str] = {}
    for result in sorted((r for r in results if r.parsed), key=lambda r: r.source.name):
        if result.sha256 in first:
            result.status, result.error = "skipped", f"same content as {first[result.sha256]}, in this run"
        else:
            first[result.sha256] = result.source.name


def _read_occurrences(store: Store, **values: pl.Series) -> pl.DataFrame:
    """The stored sightings whose every column named in `values` (stored columns:
    `channel` is the stored key) holds one of its values, or all without `values`; with
    their sources' capture times, identity and stored channel key (rows written before
    channels had identities count their key as given). The scan decodes the other
    columns of matching rows only."""
    columns = [*SIGHTING_COLUMNS, "channel"]
    types = dtypes("occurrences")
    files = store.files("occurrences")
    if not files or any(series.drop_nulls().len() == 0 for series in values.values()):
        stored = pl.DataFrame(schema={c: types[c] for c in columns})
    else:
        stored = (pl.scan_parquet(files, schema=types, missing_columns="insert").filter(_having(values))
                  .select(columns).collect())
    # The file that was ingested, not a skipped copy of it (a copy's time is its own).
    sources = store.files("sources")
    captured = (
        pl.scan_parquet(sources, schema=dtypes("sources"), missing_columns="insert")
        .filter((pl.col("status") == "ok") & pl.col("source_sha256").is_in(stored["source_sha256"].unique().implode()))
        .select("source_sha256", "captured_at").unique("source_sha256").collect()
        if sources else pl.DataFrame(schema={"source_sha256": pl.Utf8, "captured_at": UTC})
    )
    return stored.join(captured, on="source_sha256", how="left").with_columns(
        no_identity=pl.all_horizontal(pl.col(c).is_null() for c in IDENTITY)
    ).with_columns(
        channel_given=pl.when("no_identity").then(pl.col("channel")).otherwise(pl.col("channel_given")),
        stored_channel=pl.col("channel"),
    ).drop("channel").with_columns(identity_key())


def _stored_posts(store: Store, post_ids: pl.Series) -> pl.DataFrame | None:
    """The stored posts' POST_FIELDS of `post_ids`."""
    files = store.files("posts")
    if not files:
        return None
    return (pl.scan_parquet(files, schema=dtypes("posts"), missing_columns="insert")
            .filter(pl.col("post_id").is_in(post_ids.implode())).select(POST_FIELDS).collect())


def _changed(fields: pl.DataFrame, known: pl.DataFrame | None) -> pl.DataFrame:
    """Stored posts whose fields their sightings now give other values."""
    if known is None:
        return fields.head(0)
    both = fields.join(known, on="post_id", suffix="_stored")
    differs = pl.any_horizontal(pl.col(c).ne_missing(pl.col(f"{c}_stored")) for c in POST_FIELDS[1:])
    return both.filter(differs).select(POST_FIELDS)
