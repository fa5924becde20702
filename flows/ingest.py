"""The ingest flow: raw channel dumps in, Parquet tables out.

discover → parse (per batch: read, split, collapse) → sightings (per run: repeated
files, channel keys, duplicates, messages, channels, edits) → tag-language (per batch)
→ relate (per run: boilerplate, near-duplicates and clusters, translations;
tasks/relate_posts.py) → export (per run, a batch's rows at a time).

Batches hold about `Config.batch_bytes` of input, so task runs grow with the input's
size, not its number of files, and memory is bounded by a batch, except for the
run-wide steps. Those read the dataset through its indexes: sightings reads small
columns (the run's, the stored ones of the messages and texts it sighted, the channel
identity index); relate reads the new posts' texts, the index rows of their lines and
buckets, and the stored texts of candidate pairs and channel tails. Tasks hand each
other typed results holding Parquet paths in a work folder, never DataFrames: Prefect
would pickle a frame to hash it, and a distributed run must not ship frames around.

A run is incremental: a file whose content was ingested before is skipped, a post
already in the dataset is not written again (its new sighting still is), and all of a
run's rows are committed in one snapshot (see storage/store.py).
"""

import os
import resource
import shutil
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import polars as pl
from prefect import flow, task, unmapped
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from schemas.tables import (
    CHANNEL_LINE_INDEX, CHANNEL_TAIL_INDEX, IDENTITY_INDEX, LINE_CONTEXT_INDEX, NEAR_DUP_INDEX, RELATE_INDEXES,
    SHARED_INDEX, dtypes, validate, validate_parts,
)
from tasks.batch_sources import batch_sources
from tasks.collapse_copies import collapse_copies
from tasks.dedupe_exact import mark_duplicates
from tasks.discover_sources import Source, discover_sources
from tasks.export_tables import publish_tables
from tasks.detect_format import HEAD_BYTES, detect_format
from tasks.read_source import NotADump, file_facts, files_lines_frame, lines_frame, read_source, reject_from_head, sha256_of_file
from tasks.read_telegram_export import OUTPUT_SCHEMA as EXPORT_COLUMNS
from tasks.read_telegram_export import read_telegram_export
from tasks.read_web_page import read_web_page
from tasks.read_desktop_export import read_desktop_export
from tasks.relate_posts import COLUMNS as RELATED_COLUMNS
from tasks.relate_posts import Archive, Indexes, RelateParams, build_indexes, relate_posts
from tasks.split_paragraphs import split_paragraphs
from tasks.split_posts import reject_spans, split_posts
from tasks.tag_language import LanguageTagger, tag_paragraphs, tag_posts
from tasks.track_messages import (
    IDENTITY, SIGHTING_COLUMNS, SIGHTING_ORDER, channel_rows, edit_pairs, identity_channels, identity_key,
    identity_rows, message_rows, own_messages, post_fields, updated_identities,
)
from flows.config import Config
from storage.failpoints import failpoint
from storage.store import Store, StoreError

UTC = pl.Datetime("us", "UTC")
STRUCTURED_READERS = {
    "telegram_json": read_telegram_export,
    "web_html": read_web_page,
    "desktop_html": read_desktop_export,
}
# The occurrence columns every reader produces, in order (read_telegram_export's schema),
# and the name the user gave the channel (--channel; a capture's folder).
OCCURRENCE_COLUMNS = [*EXPORT_COLUMNS, "channel_given", "source_sha256"]
RECORDED = ("ok", "rejected", "skipped")


@dataclass
class SourceResult:
    """What the per-file tasks learnt about one source; becomes a `sources` row."""

    source: Source
    # ok | rejected | skipped (content ingested before under another name); not recorded
    # in `sources`: unchanged (this very file was ingested before) | retry (could not read)
    status: str = "ok"
    sha256: str | None = None
    bytes: int | None = None
    n_lines: int = 0
    n_posts: int = 0
    error: str | None = None
    warning: str | None = None
    not_posts: dict[str, int] = field(default_factory=dict)  # service / empty messages
    # When the source was captured: its newest message date or edit time (exports and
    # saved pages), else the file's modification time (text captures carry no dates).
    captured_at: datetime | None = None
    file_format: str | None = None
    # An export's or saved page's malformed messages: {position, message_id, reason}.
    rejected_messages: list[dict] = field(default_factory=list)

    @property
    def parsed(self) -> bool:
        return self.status == "ok"


@lru_cache(maxsize=4)
def _ingested(snapshot: Path | None) -> dict[str, list[str]]:
    """sha256 → the names under which the snapshot has recorded that content (ingested,
    rejected or skipped); None → the names recorded without content (never read)."""
    if snapshot is None:
        return {}
    recorded = pl.scan_parquet(snapshot / "sources" / "*.parquet")
    names = recorded.group_by("source_sha256").agg(pl.col("source_file").sort()).collect()
    return dict(names.iter_rows())


def _seen(result: SourceResult, snapshot: Path | None) -> bool:
    """Whether this content (for an entry never read: this name) was recorded before:
    then it is `unchanged` under the same name, `skipped` under another, and not
    recorded again."""
    seen_as = _ingested(snapshot).get(result.sha256, [])
    if result.source.name in seen_as:
        result.status, result.error = "unchanged", None
        return True
    if seen_as and result.sha256 is not None:
        result.status, result.error = "skipped", f"same content as {seen_as[0]}, recorded before"
        return True
    return False


@dataclass
class Batch:
    """A batch of sources (tasks/batch_sources.py) and the work files made from it."""

    number: int
    results: list[SourceResult]
    parquet: dict[str, Path] = field(default_factory=dict)

    def name(self) -> str:
        return f"{self.number:05d}"


def read_one(source: Source, snapshot: Path | None,
             config: Config) -> tuple[SourceResult, list[str] | pl.DataFrame | None]:
    """One source: its result and, when it is to be parsed, its lines (a text capture)
    or its occurrences (an export or saved page, which carry their messages whole)."""
    result = SourceResult(source)
    if source.skip_reason:
        result.status, result.error = "skipped", source.skip_reason
        _seen(result, snapshot)  # recorded once, not at every run
        return result, None
    failpoint(f"before-read:{source.path.name}")
    try:
        before = source.path.stat()
        with open(source.path, "rb") as handle:
            head = handle.read(HEAD_BYTES)
        file_format = result.file_format = detect_format(head)
        if file_format in STRUCTURED_READERS:
            result.sha256, result.bytes = sha256_of_file(source.path), before.st_size
        elif file_format is None:
            (result.sha256, result.n_lines), result.bytes = file_facts(source.path), before.st_size
            raise reject_from_head(head, result.sha256)
        else:
            text = read_source(source.path)
            result.sha256, result.bytes, result.n_lines = text.sha256, text.bytes, len(text.lines)
            result.warning = text.warning
        failpoint(f"mid-read:{source.path.name}")
        after = source.path.stat()
    except NotADump as err:
        result.status, result.error, result.sha256 = "rejected", str(err), err.sha256
        _seen(result, snapshot)  # a rejection is recorded once, not at every run
        return result, None
    except OSError as err:
        result.status, result.error = "retry", f"cannot read: {err.strerror or err}"
        return result, None
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        result.status, result.error = "retry", "file changed while being read (still being written?)"
        return result, None
    result.captured_at = datetime.fromtimestamp(after.st_mtime_ns // 1000 / 1e6, timezone.utc)
    if _seen(result, snapshot):
        return result, None
    if file_format not in STRUCTURED_READERS:
        return result, text.lines
    try:
        options = {"export_tz": config.export_tz} if file_format in ("desktop_html", "telegram_json") else {}
        occurrences, counts = STRUCTURED_READERS[file_format](
            source.path, source.name, limits=config.limits, **options
        )
    except NotADump as err:
        result.status, result.error = "rejected", str(err)
        return result, None
    result.not_posts = {kind: counts[kind] for kind in ("service", "empty")}
    result.n_posts = counts["posts"]
    result.warning = "; ".join(counts.get("warnings", [])) or None
    result.rejected_messages = counts["rejected"]
    if occurrences.height == 0:
        result.status, result.error = "rejected", _no_messages(counts)
        return result, None
    newest = occurrences.select(pl.max_horizontal(pl.col("date").max(), pl.col("edited_at").max())).item()
    result.captured_at = newest or result.captured_at
    given = config.channel
    if given and occurrences.select(pl.struct("channel_title", "channel_numeric_id").n_unique()).item() > 1:
        given = None  # one name cannot name every channel of an account export
        result.warning = "; ".join(filter(None, [result.warning, "--channel not applied: the export holds several chats"]))
    return result, occurrences.with_columns(
        channel_given=pl.lit(given, pl.Utf8), source_sha256=pl.lit(result.sha256)
    ).select(OCCURRENCE_COLUMNS)


def _no_messages(counts: dict) -> str:
    if counts["rejected"]:
        first = counts["rejected"][0]
        return (f"all {len(counts['rejected'])} messages malformed: the first, id {first['message_id']!r}: "
                f"{first['reason']}")
    service = f" ({counts['service']} service messages)" if counts.get("service") else ""
    return f"no messages to ingest{service}"


NO_POST_STRUCTURE = ("no post structure: no doubled body, 'Forwarded from' header, media placeholder "
                     "or reactions/views line; not a capture of a channel page")
# Roles only a capture of a channel page has: a plain text file has none of them.
STRUCTURE_ROLES = ["header", "media", "view", "copy_b", "footer"]


def _without_post_structure(split_lines: pl.DataFrame) -> list[str]:
    """Text files in which no line has a role only a page capture has."""
    has_structure = split_lines.group_by("source_file").agg(pl.col("role").is_in(STRUCTURE_ROLES).any())
    return has_structure.filter(~pl.col("role"))["source_file"].to_list()


@task(name="parse", cache_policy=NO_CACHE)
def parse(number: int, sources: list[Source], work: Path, snapshot: Path | None, config: Config) -> Batch:
    """Read a batch of sources; split and collapse its text captures all at once (the
    table work per file would cost more than the work itself); one occurrences file."""
    batch = Batch(number, [])
    captures, structured = [], []
    for source in sources:
        result, read = read_one(source, snapshot, config)
        batch.results.append(result)
        if read is not None:
            (captures if isinstance(read, list) else structured).append((result, read))
    lines = validate("lines", files_lines_frame([(result.source.name, lines) for result, lines in captures]))
    failpoint("after-read")
    split_lines = validate("split", split_posts(lines, config.max_copy_misses))
    structureless = _without_post_structure(split_lines)
    for result, _ in captures:
        if result.source.name in structureless:
            result.status, result.error = "rejected", NO_POST_STRUCTURE
    parsed = [result for result, _ in captures if result.parsed]
    split_lines = split_lines.filter(~pl.col("source_file").is_in(structureless))
    from_captures = with_capture_fields(collapse_copies(split_lines), parsed)
    posts_per_file = dict(from_captures.group_by("source_file").len().iter_rows())
    for result in parsed:
        result.n_posts = posts_per_file.get(result.source.name, 0)
    for result in batch.results:
        _progress(result)
    occurrences = _concat([from_captures, *(frame for _, frame in structured)], "occurrences")
    batch.parquet["occurrences"] = _stash(
        occurrences.with_row_index("row").with_columns(batch=pl.lit(number, pl.UInt32)), work, "parsed", batch.name()
    )
    rejects = reject_spans(split_lines).join(
        _capture_fields(parsed).select("source_file", "source_sha256"), on="source_file", how="left",
        maintain_order="left",
    )
    batch.parquet["rejects"] = _stash(
        pl.concat([rejects, _rejected_messages([r for r, _ in structured])], how="diagonal_relaxed")
        .select(pl.col(name).cast(dtype) for name, dtype in REJECT_COLUMNS.items()),
        work, "rejects", batch.name(),
    )
    return batch


# A batch's rejects: line ranges of text captures, malformed messages of the others.
REJECT_COLUMNS = {"source_file": pl.Utf8, "source_sha256": pl.Utf8, "line_start": pl.Int64, "line_end": pl.Int64,
                  "position": pl.Int64, "message_id": pl.Utf8, "reason": pl.Utf8}


def _rejected_messages(results: list[SourceResult]) -> pl.DataFrame:
    """The malformed messages of the files read (a file rejected whole has its reason
    in `sources`)."""
    return pl.DataFrame(
        [(r.source.name, r.sha256, m["position"], m["message_id"], m["reason"])
         for r in results if r.parsed for m in r.rejected_messages],
        schema={name: REJECT_COLUMNS[name] for name in ("source_file", "source_sha256", "position", "message_id",
                                                         "reason")},
        orient="row",
    )


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
        _scan(batches, "occurrences").select("batch", "row", *SIGHTING_COLUMNS)
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
        flags=_stash(flags.select("batch", "row", "is_duplicate", "channel"), work, "all", "flags"),
        first_sightings=_stash(first.select("batch", "row"), work, "all", "first"),
        new_post_fields=_stash(fields.join(first.select("post_id"), on="post_id", how="semi"), work, "all", "fields"),
        changed_posts=_stash(_changed(fields, known), work, "all", "changed"),
        # A row without identity (an earlier version's) keeps the key it counts as given.
        renamed=_stash(whole.filter((pl.col("channel") != pl.col("stored_channel")) | pl.col("no_identity"))
                          .select(*STORED_KEY, "channel", "channel_given"), work, "all", "renamed"),
        messages=_stash(messages, work, "all", "messages"),
        remade_channels=_stash(remade, work, "all", "remade"),
        touched_messages=_stash(touched, work, "all", "touched"),
        touched_texts=_stash(run_texts.with_columns(message_id=pl.lit(None, pl.Int64)), work, "all", "texts"),
        channels=_stash(
            channel_rows(identities.join(channels, on="channel", how="semi")), work, "all", "channels"
        ),
        touched_channels=_stash(channels, work, "all", "touched_channels"),
        identities=_stash(changed_ids.select(list(dtypes(IDENTITY_INDEX))), work, "all", "identities"),
        pairs=_stash(pairs if migrating else pairs.join(stored_pairs, on=list(pairs.columns), how="anti"),
                        work, "all", "pairs"),
        edits=_stash(_new_edits(messages, store), work, "all", "edits"),
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


# The fields a post takes from all of its sightings (tasks/track_messages.post_fields).
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


@task(name="tag-language", cache_policy=NO_CACHE)
def tag(batch: Batch, sighted: SightingFiles, work: Path, config: Config) -> Batch:
    """A batch's occurrences marked and keyed, its new posts built and tagged, their paragraphs."""
    in_batch = pl.col("batch") == batch.number
    occurrences = (
        pl.read_parquet(batch.parquet["occurrences"])
        .filter(pl.col("source_file").is_in([r.source.name for r in batch.results if r.parsed]))
        .drop("channel")
        .join(pl.scan_parquet(sighted.flags).filter(in_batch).drop("batch").collect(), on="row", how="left")
    )
    first = pl.scan_parquet(sighted.first_sightings).filter(in_batch).drop("batch").collect()
    posts = (
        occurrences.join(first, on="row", how="semi")
        .select("post_id", "title", "text", "hashtags", "links", "mentions")
        .join(pl.read_parquet(sighted.new_post_fields), on="post_id", how="left", maintain_order="left")
    )
    tagger = LanguageTagger(languages=config.languages, min_letters=config.min_letters)
    posts = tag_posts(posts, tagger)
    paragraphs = tag_paragraphs(split_paragraphs(posts), posts.select("post_id", "lang", "lang_score"), tagger)
    return Batch(batch.number, batch.results, {
        **batch.parquet,
        "occurrences": _stash(occurrences.drop("row", "batch"), work, "occurrences", batch.name()),
        "posts": _stash(posts, work, "posts", batch.name()),
        "paragraphs": _stash(paragraphs, work, "paragraphs", batch.name()),
    })


@dataclass(frozen=True)
class RelatedFiles:
    """The relate task's work files (tasks/relate_posts.py's Related): the new posts'
    cluster_id, their paragraphs' boilerplate flags, the new relations, the stored
    clusters merged into earlier ones, and the rows of each index; `rebuilt`: the
    indexes were built in this run for a dataset written before they existed, so they
    replace the stored ones instead of adding to them."""

    clusters: Path
    flags: Path
    relations: Path
    merged: Path
    indexes: dict[str, Path]
    rebuilt: bool


@task(name="relate", cache_policy=NO_CACHE)
def relate(batches: list[Batch], work: Path, store: Store, config: Config) -> RelatedFiles:
    """The run's new posts related to each other and to the dataset, through the
    dataset's indexes (reading the stored texts of candidate pairs and channel tails
    only); the groups of LSH bands side by side on a thread pool."""
    new = _scan(batches, "posts").select(*RELATED_COLUMNS).collect()
    archive, built = stored_archive(store, config.relate) if new.height else (Archive(), None)
    with ThreadPoolExecutor(config.relate.band_groups) as pool:
        related = relate_posts(new, archive, config.relate, pool.map)
    rows = index_tables(related.index)
    if built is not None:  # the run's rows join the built ones (its tails replace theirs): all replace the stored
        rows = {table: rows.get(table, built_rows) if table == CHANNEL_TAIL_INDEX else pl.concat([built_rows, rows[table]])
                for table, built_rows in index_tables(built).items()}
    return RelatedFiles(
        _stash(related.posts.select("post_id", "cluster_id"), work, "relate", "clusters"),
        _stash(related.flags, work, "relate", "flags"),
        _stash(related.relations, work, "relate", "relations"),
        _stash(related.merged, work, "relate", "merged"),
        {table: _stash(frame, work, "index", table) for table, frame in rows.items()},
        built is not None,
    )


def index_tables(indexes: Indexes) -> dict[str, pl.DataFrame]:
    """Index rows by table, sorted by the keys lookups filter on; the channel tails only
    when there are new ones."""
    tables = {
        NEAR_DUP_INDEX: indexes.near_dup.sort("band", "bucket", "seen"),
        LINE_CONTEXT_INDEX: indexes.lines.contexts.sort("line_hash", "seen", "context"),
        CHANNEL_LINE_INDEX: indexes.lines.channel_lines.sort("line_hash", "channel", "seen", nulls_last=True),
    }
    if indexes.channel_tails is not None:
        tables[CHANNEL_TAIL_INDEX] = indexes.channel_tails.sort("channel", "seen", nulls_last=True)
    return tables


def stored_archive(store: Store, params: RelateParams) -> tuple[Archive, Indexes | None]:
    """The dataset as relating reads it: its posts and relations, and its indexes. A
    dataset written before every index existed gets them built once, from its posts in
    first-seen order (returned, to be committed with the run's rows)."""
    posts = store.files("posts")
    if not posts:
        return Archive(), None
    # prefiltered: a lookup by post_id decodes the other columns of matching rows only
    stored_posts = pl.scan_parquet(posts, parallel="prefiltered")
    relations = pl.scan_parquet(store.files("relations"), parallel="prefiltered") if store.files("relations") else None
    if all(store.files(table) for table in RELATE_INDEXES):
        scans = {table: pl.scan_parquet(store.files(table)) for table in RELATE_INDEXES}
        return Archive(stored_posts, scans[NEAR_DUP_INDEX], scans[LINE_CONTEXT_INDEX], scans[CHANNEL_LINE_INDEX],
                       scans[CHANNEL_TAIL_INDEX], relations), None
    known = first_seen_order(store)
    print(f"  building the dataset's indexes of {known.height} stored posts (once) ...", file=sys.stderr, flush=True)
    built = build_indexes(known, params)
    return Archive(stored_posts, built.near_dup.lazy(), built.lines.contexts.lazy(), built.lines.channel_lines.lazy(),
                   built.channel_tails.lazy(), relations), built


def first_seen_order(store: Store) -> pl.DataFrame:
    """The stored posts (RELATED_COLUMNS) with first_seen, in the order runs numbered
    them: by run, then by the source and place of the sighting that brought each (a
    run's sources are in name order). Not the order of the posts files: a file rewritten
    by a later run (changed fields, merged clusters) takes that run's name."""
    brought = (
        pl.scan_parquet(store.files("occurrences"), schema=dtypes("occurrences"), missing_columns="insert")
        .filter(~pl.col("is_duplicate") & pl.col("post_id").is_not_null())
        .select("post_id", "source_file", "position").sort("source_file", "position")
        .unique("post_id", keep="first")
    )
    return (
        pl.scan_parquet(store.files("posts")).select(*RELATED_COLUMNS, "run_id")
        .join(brought, on="post_id", how="left")
        .sort("run_id", "source_file", "position", "post_id", nulls_last=True)
        .select(*RELATED_COLUMNS).with_columns(first_seen=pl.int_range(pl.len(), dtype=pl.Int64)).collect()
    )


POSTS_COLUMNS = [
    "post_id", "channel", "message_id", "date", "forwarded_from", "media", "title", "text", "hashtags",
    "reactions", "lang", "lang_score", "n_chars", "run_id", "ingested_at", "views", "edited_at", "cluster_id",
    "media_type", "links", "mentions",
]
OCCURRENCES_COLUMNS = [
    "post_id", "channel", "source_file", "source_sha256", "position", "line_start", "line_end", "is_duplicate",
    "forwarded_from", "reactions", "views", "truncated", "run_id", "message_id", "date", "edited_at",
    *IDENTITY, "forwarded_from_id", "reply_to_message_id", "author", "media_type", "media",
]


def _with_merged_clusters(changed: pl.DataFrame, merged: pl.DataFrame, store: Store) -> pl.DataFrame:
    """The updates of stored posts: their changed fields, and the posts of stored
    clusters merged into earlier ones (tasks/relate_posts.py) with the earlier id."""
    if merged.height == 0:
        return changed
    posts = pl.scan_parquet(store.files("posts"), parallel="prefiltered")
    in_merged = posts.filter(pl.col("cluster_id").is_in(merged["cluster_id"].implode())).select(
        *POST_FIELDS, "cluster_id").collect()
    clusters = posts.filter(pl.col("post_id").is_in(changed["post_id"].implode())).select(
        "post_id", "cluster_id").collect()
    rows = pl.concat([changed.join(clusters, on="post_id", how="left"), in_merged.join(changed, on="post_id", how="anti")])
    return rows.with_columns(pl.col("cluster_id").replace(merged["cluster_id"], merged["into"]))


@task(name="export", cache_policy=NO_CACHE)
def export(batches: list[Batch], sighted: SightingFiles, related: RelatedFiles, work: Path, store: Store,
           config: Config, run_id: str) -> dict:
    """Every table's rows validated and written as final Parquet parts (a batch's rows
    at a time), then committed together in one snapshot."""
    now = datetime.now(timezone.utc)
    stamp = dict(run_id=pl.lit(run_id), ingested_at=pl.lit(now, UTC))
    clusters = pl.read_parquet(related.clusters)
    boilerplate = pl.read_parquet(related.flags)
    finish = {
        "posts": lambda frame: frame.join(clusters, on="post_id", how="left", maintain_order="left")
        .with_columns(n_chars=pl.col("text").str.len_chars().cast(pl.Int64), **stamp).select(POSTS_COLUMNS),
        "occurrences": lambda frame: frame.with_columns(run_id=stamp["run_id"]).select(OCCURRENCES_COLUMNS),
        "paragraphs": lambda frame: frame.join(boilerplate, on=["post_id", "idx"], how="left", maintain_order="left")
        .select("post_id", "idx", "text", "lang", "lang_score", "is_boilerplate"),
    }
    parts = {table: [] for table in finish}
    for batch in batches:
        for table, finished in finish.items():
            path = work / "final" / table / f"{batch.name()}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            validate(table, finished(pl.read_parquet(batch.parquet[table]))).write_parquet(
                path, compression="zstd", statistics=True
            )
            parts[table].append(path)
    for table, paths in parts.items():
        validate_parts(table, paths)
    results = [r for b in batches for r in b.results]
    recorded = [r for r in results if r.status in RECORDED]
    relations = pl.concat([pl.read_parquet(related.relations), pl.read_parquet(sighted.edits)])
    indexes = {table: pl.read_parquet(path) for table, path in related.indexes.items()}
    new_rows = {
        "relations": relations.with_columns(run_id=stamp["run_id"]),
        **({} if related.rebuilt else {t: frame for t, frame in indexes.items() if t != CHANNEL_TAIL_INDEX}),
        "sources": _sources_table(recorded).with_columns(**stamp),
        "rejects": _scan(batches, "rejects").collect()
        .with_columns(run_id=stamp["run_id"])
        .select("source_file", "source_sha256", "line_start", "line_end", "reason", "run_id", "position",
                "message_id"),
    }
    updates = {
        "posts": (["post_id"], _with_merged_clusters(pl.read_parquet(sighted.changed_posts),
                                                    pl.read_parquet(related.merged), store)),
        "occurrences": (["source_file", "source_sha256", "position"], pl.read_parquet(sighted.renamed)),
    }
    # The messages, channels and identities the run's sightings change replace their
    # stored rows (a capture-only message that got its id is removed); the rest stay.
    for table in ("messages", "channels", IDENTITY_INDEX, SHARED_INDEX):
        new_rows[table] = pl.read_parquet(sighted.rows_of(table))
    deleted = {
        "messages": [(["channel"], pl.read_parquet(sighted.remade_channels)),
                     (["channel", "message_id"], pl.read_parquet(sighted.touched_messages)),
                     (["channel", "message_id", "post_id"], pl.read_parquet(sighted.touched_texts))],
        "channels": [(["channel"], pl.read_parquet(sighted.touched_channels))],
        IDENTITY_INDEX: [(["identity"], new_rows[IDENTITY_INDEX].select("identity"))],
        SHARED_INDEX: [(["identity", "identity_b"], new_rows[SHARED_INDEX].select("identity", "identity_b"))],
    }
    counted = {table: pl.scan_parquet(parts[table]).select(column).collect()
               for table, column in (("occurrences", "is_duplicate"), ("posts", "lang"))}
    # The channel tails are replaced at each run; rebuilt indexes replace the stored ones.
    replaced = indexes if related.rebuilt else {t: f for t, f in indexes.items() if t == CHANNEL_TAIL_INDEX}
    publish_tables(new_rows, store, run_id, config.batch_rows, updates, parts, deleted, replaced)
    summary = _summary(results, new_rows | counted, store)
    _publish_artifacts(results, summary)
    return summary


# As many batches in flight as cores: more would not run faster, only hold more memory.
@flow(name="tgcorpus-ingest", task_runner=ThreadPoolTaskRunner(max_workers=os.cpu_count()))
def ingest(config: Config) -> dict:
    """Returns the run's summary, or {"error": ...} when the output folder is busy or unusable."""
    store = Store(config.out)
    run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]
    try:
        with store.writer(config.lock_wait_seconds, on_wait=lambda: _waiting(config.out)):
            work = store.home / f"work-{run_id}"
            clock = StageClock()
            try:
                batches = clock("discover", lambda: batch_sources(
                    discover(config), config.batch_bytes, config.batch_files
                ))
                parsed = clock("parse", lambda: _results(parse.map(
                    range(len(batches)), batches, work=unmapped(work), snapshot=unmapped(store.current()),
                    config=unmapped(config),
                )))
                if not any(r.status in RECORDED for batch in parsed for r in batch.results):
                    return _nothing_new([r for batch in parsed for r in batch.results], config, run_id, clock)
                sighted = clock("sightings", lambda: sightings(parsed, work, store))
                tagged = clock("tag", lambda: _results(tag.map(
                    parsed, sighted=unmapped(sighted), work=unmapped(work), config=unmapped(config)
                )))
                related = clock("relate", lambda: relate(tagged, work, store, config))
                summary = clock("export", lambda: export(tagged, sighted, related, work, store, config, run_id))
            finally:
                shutil.rmtree(work, ignore_errors=True)
    except StoreError as err:
        return {"error": str(err)}
    except Exception as err:
        if isinstance(err, OSError) or shutil.disk_usage(store.home).free < FULL_DISK_BYTES:
            return {"error": f"cannot write to {store.home}: {_write_failure(err, store.home)}; "
                             "the dataset is as the previous run left it"}
        raise
    return {
        **summary, "run_id": run_id, "out": str(config.out),
        "stage_seconds": clock.seconds, "stage_peak_bytes": clock.peak_bytes,
        "task_runs": 4 + 2 * len(batches), "batches": len(batches),
    }


# Free space below which a failed write is put down to a full disk (a numpy or Polars
# write can fail with no errno to say so).
FULL_DISK_BYTES = 1 << 20


def _write_failure(err: Exception, folder: Path) -> str:
    if shutil.disk_usage(folder).free < FULL_DISK_BYTES:
        return "the disk is full"
    return getattr(err, "strerror", None) or str(err).splitlines()[0]


def _nothing_new(results: list[SourceResult], config: Config, run_id: str, clock: "StageClock") -> dict:
    """A run with nothing to record (an idle inbox, files ingested before, files to
    retry): the dataset stays as it is."""
    by_status = {s: sum(r.status == s for r in results) for s in (*RECORDED, "unchanged", "retry")}
    create_markdown_artifact(
        key="ingest-summary",
        markdown=f"# tgcorpus ingest\n- nothing new: {len(results)} files "
                 f"({', '.join(f'{k} {v}' for k, v in by_status.items() if v) or 'none'})",
        description="Summary of this ingest run",
    )
    return {
        "nothing_new": True, "files": len(results), "files_by_status": by_status,
        "problems": [(r.source.name, r.status, r.error) for r in results if r.status == "retry"],
        "run_id": run_id, "out": str(config.out), "stage_seconds": clock.seconds,
        "stage_peak_bytes": clock.peak_bytes,
    }


class StageClock:
    """Wall seconds per stage of a run (a stage waits for all of its tasks), and the
    flow process's peak resident memory when each stage ended."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.peak_bytes: dict[str, int] = {}

    def __call__(self, stage: str, work):
        started = time.perf_counter()
        result = work()
        self.seconds[stage] = time.perf_counter() - started
        self.peak_bytes[stage] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return result


def _results(futures) -> list:
    return [future.result() for future in futures]


def _waiting(out: Path) -> None:
    print(f"waiting for another run writing to {out} ...", file=sys.stderr, flush=True)


@task(name="discover", cache_policy=NO_CACHE)
def discover(config: Config) -> list[Source]:
    return discover_sources(config.inputs, config.channel)


def _progress(result: SourceResult) -> SourceResult:
    if result.parsed:
        detail = f"{result.n_posts} posts"
        if result.not_posts.get("empty"):
            detail += f", {result.not_posts['empty']} messages without text"
        if result.not_posts.get("service"):
            detail += f", {result.not_posts['service']} service messages (not ingested)"
    else:  # the reason says what the file holds; counts beside it would say it twice
        detail = ": ".join(filter(None, [result.status, result.error]))
    print(f"  {result.source.name}: {detail}", file=sys.stderr, flush=True)
    return result


def _stash(frame: pl.DataFrame, work: Path, stage: str, key: str) -> Path:
    path = work / stage / f"{key}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path, compression="lz4")
    return path


def _concat(frames: list[pl.DataFrame], table: str) -> pl.DataFrame:
    return pl.concat(frames, how="vertical") if frames else EMPTY[table]()


def _scan(batches: list[Batch], table: str) -> pl.LazyFrame:
    """A table's work files of every batch, in batch order."""
    return pl.scan_parquet([b.parquet[table] for b in batches])


def _capture_fields(results: list[SourceResult]) -> pl.DataFrame:
    return pl.DataFrame(
        [(r.source.name, r.source.channel, r.sha256) for r in results],
        schema={"source_file": pl.Utf8, "channel_given": pl.Utf8, "source_sha256": pl.Utf8}, orient="row",
    )


def with_capture_fields(occurrences: pl.DataFrame, results: list[SourceResult]) -> pl.DataFrame:
    """Text captures' occurrences in the columns every format shares: the channel is the
    name the user gave (--channel or the folder), the content hash is their source's,
    and what a capture cannot carry (ids, dates, entities) is null."""
    known = {
        "links": pl.lit([], pl.List(pl.Utf8)), "mentions": pl.lit([], pl.List(pl.Utf8)),
        "media_type": pl.when(pl.col("media").is_not_null()).then(pl.lit("unknown")),  # a placeholder sentence
    }
    unknown = {name: pl.lit(None, dtype) for name, dtype in EXPORT_COLUMNS.items()
               if name not in occurrences.columns and name not in known and name != "channel"}
    return occurrences.join(_capture_fields(results), on="source_file", how="left", maintain_order="left").with_columns(
        **unknown, **known, channel=pl.col("channel_given"),
    ).select(OCCURRENCE_COLUMNS)


EMPTY = {
    "lines": lambda: lines_frame("", []),
    "occurrences": lambda: with_capture_fields(collapse_copies(split_posts(lines_frame("", []))), []),
}


def _sources_table(results: list[SourceResult]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            (r.source.name, r.sha256, r.bytes, r.n_lines, r.n_posts, r.status, r.error, r.warning, r.captured_at)
            for r in results
        ],
        schema={"source_file": pl.Utf8, "source_sha256": pl.Utf8, "bytes": pl.Int64, "n_lines": pl.Int64,
                "n_posts": pl.Int64, "status": pl.Utf8, "error": pl.Utf8, "warning": pl.Utf8, "captured_at": UTC},
        orient="row",
    )


def _summary(results: list[SourceResult], new_rows: dict[str, pl.DataFrame], store: Store) -> dict:
    """`new_rows`: the run's rows of every table, or of the columns the summary needs."""
    occurrences, posts, rejects = new_rows["occurrences"], new_rows["posts"], new_rows["rejects"]
    by_status = {s: [r for r in results if r.status == s] for s in (*RECORDED, "unchanged", "retry")}
    return {
        "files": len(results),
        "files_by_status": {s: len(rs) for s, rs in by_status.items()},
        "problems": [(r.source.name, r.status, r.error) for r in results if r.status in ("rejected", "retry")]
        + [(r.source.name, "warning", r.warning) for r in results if r.warning],
        "lines": sum(r.n_lines for r in by_status["ok"]),
        "not_posts": {k: sum(r.not_posts.get(k, 0) for r in results) for k in ("service", "empty")},
        "occurrences": occurrences.height,
        "posts": posts.height,
        "duplicates": int(occurrences["is_duplicate"].sum()),
        "rejected_lines": int((rejects["line_end"] - rejects["line_start"] + 1).sum()),
        "rejected_messages": int(rejects["position"].is_not_null().sum()),
        "messages": _count_rows(store, "messages"),
        "channels": _count_rows(store, "channels"),
        "edits": new_rows["relations"].filter(pl.col("kind") == "edit").height,
        "near_duplicates": new_rows["relations"].filter(pl.col("kind") == "near_duplicate").height,
        "translations": new_rows["relations"].filter(pl.col("kind") == "translation").height,
        "languages": dict(posts.group_by("lang").len().sort("len", "lang", descending=[True, False]).iter_rows()),
        "total_posts": store.scan("posts", ["post_id"]).height,
    }


def _count_rows(store: Store, table: str) -> int:
    """The rows of a table in the dataset (from the files' metadata)."""
    return pl.scan_parquet(store.files(table)).select(pl.len()).collect().item()


def _publish_artifacts(results: list[SourceResult], summary: dict) -> None:
    """What the Prefect UI shows for the run: the files table and a summary."""
    create_table_artifact(
        key="ingest-files",
        table=[
            {"file": r.source.name, "status": r.status, "posts": r.n_posts, "reason": r.error or r.warning or ""}
            for r in results
        ],
        description="Files of this run: ingested (ok), skipped (content seen before), rejected, retry",
    )
    languages = ", ".join(f"{k} {v}" for k, v in summary["languages"].items()) or "none"
    create_markdown_artifact(
        key="ingest-summary",
        markdown="\n".join(
            [
                "# tgcorpus ingest",
                f"- files: {summary['files']} ({', '.join(f'{k} {v}' for k, v in summary['files_by_status'].items())})",
                f"- post occurrences: {summary['occurrences']} ({summary['duplicates']} duplicates)",
                f"- new posts: {summary['posts']} (dataset: {summary['total_posts']})",
                f"- messages: {summary['messages']} in {summary['channels']} channels ({summary['edits']} new edits)",
                f"- languages of new posts: {languages}",
                f"- new relations: {summary['near_duplicates']} near-duplicate pairs, {summary['translations']} translation pairs",
                f"- rejected lines: {summary['rejected_lines']}; rejected messages: {summary['rejected_messages']}",
            ]
        ),
        description="Summary of this ingest run",
    )
