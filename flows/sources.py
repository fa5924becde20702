"""Reading sources into batches: what a file is, whether it was ingested before, its
reader, and the three tasks that parse a batch (read, split, collapse); the work files
tasks hand each other."""

import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import polars as pl
from prefect import task, unmapped
from prefect.futures import PrefectFutureList
from prefect.cache_policies import NO_CACHE

from schemas.tables import PARSED_COLUMNS, READ_COLUMNS, UTC, validate
from tasks.parsing.collapse_copies import collapse_copies
from tasks.reading.discover_sources import Source, discover_sources
from tasks.reading.detect_format import HEAD_BYTES, detect_format
from tasks.reading.read_source import (
    NotADump, file_facts, files_lines_frame, lines_frame, read_source, reject_from_head, sha256_of_file,
)
from tasks.reading.read_telegram_export import read_telegram_export
from tasks.reading.read_web_page import read_web_page
from tasks.reading.read_desktop_export import read_desktop_export
from tasks.parsing.split_posts import reject_spans, split_posts
from flows.config import Config
from storage.failpoints import failpoint

STRUCTURED_READERS = {
    "telegram_json": read_telegram_export,
    "web_html": read_web_page,
    "desktop_html": read_desktop_export,
}
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
    ).select(list(PARSED_COLUMNS))


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


@task(name="read", cache_policy=NO_CACHE)
def read(number: int, sources: list[Source], work: Path, snapshot: Path | None, config: Config) -> Batch:
    """Read a batch of sources: the lines of its text captures, the occurrences of its
    exports and saved pages (which carry their messages whole), one work file each."""
    batch = Batch(number, [])
    captures, structured = [], []
    for source in sources:
        result, read = read_one(source, snapshot, config)
        batch.results.append(result)
        if read is not None:
            (captures if isinstance(read, list) else structured).append((result, read))
    lines = validate("lines", files_lines_frame([(result.source.name, lines) for result, lines in captures]))
    batch.parquet["lines"] = stash_frame(lines, work, "lines", batch.name())
    read_whole = pl.concat([frame for _, frame in structured]) if structured else pl.DataFrame(schema=PARSED_COLUMNS)
    batch.parquet["read"] = stash_frame(validate("parsed", read_whole), work, "read", batch.name())
    failpoint("after-read")
    return batch


@task(name="split", cache_policy=NO_CACHE)
def split(batch: Batch, work: Path, config: Config) -> Batch:
    """Give every line of a batch's text captures a role, all files at once (the table
    work per file would cost more than the work itself); a file in which no line has a
    role only a page capture has is rejected whole."""
    split_lines = validate("split", split_posts(pl.read_parquet(batch.parquet["lines"]), config.max_copy_misses))
    structureless = _without_post_structure(split_lines)
    for result in _captures(batch):
        if result.source.name in structureless:
            result.status, result.error = "rejected", NO_POST_STRUCTURE
    split_lines = split_lines.filter(~pl.col("source_file").is_in(structureless))
    return Batch(batch.number, batch.results, {**batch.parquet, "split": stash_frame(split_lines, work, "split", batch.name())})


@task(name="collapse", cache_policy=NO_CACHE)
def collapse(batch: Batch, work: Path) -> Batch:
    """Rebuild a batch's captured posts from their split lines, beside the occurrences
    read from its other files: the batch's one occurrences file, and its rejects."""
    split_lines = pl.read_parquet(batch.parquet["split"])
    parsed = _captures(batch)
    from_captures = validate("parsed", with_capture_fields(collapse_copies(split_lines), parsed))
    posts_per_file = dict(from_captures.group_by("source_file").len().iter_rows())
    for result in parsed:
        result.n_posts = posts_per_file.get(result.source.name, 0)
    for result in batch.results:
        _progress(result)
    occurrences = pl.concat([from_captures, pl.read_parquet(batch.parquet["read"])], how="vertical")
    rejects = reject_spans(split_lines).join(
        _capture_fields(parsed).select("source_file", "source_sha256"), on="source_file", how="left",
        maintain_order="left",
    )
    structured = [result for result in batch.results if result.file_format in STRUCTURED_READERS]
    return Batch(batch.number, batch.results, {
        **batch.parquet,
        "occurrences": stash_frame(
            occurrences.with_row_index("row").with_columns(batch=pl.lit(batch.number, pl.UInt32)),
            work, "parsed", batch.name(),
        ),
        "rejects": stash_frame(
            pl.concat([rejects, _rejected_messages(structured)], how="diagonal_relaxed")
            .select(pl.col(name).cast(dtype) for name, dtype in REJECT_COLUMNS.items()),
            work, "rejects", batch.name(),
        ),
    })


def parse(batches: list[list[Source]], work: Path, snapshot: Path | None, config: Config) -> PrefectFutureList:
    """Every batch read, split and collapsed: three task runs per batch, a batch's
    split starting as soon as it is read."""
    read_batches = read.map(range(len(batches)), batches, work=unmapped(work), snapshot=unmapped(snapshot),
                            config=unmapped(config))
    return collapse.map(split.map(read_batches, work=unmapped(work), config=unmapped(config)), work=unmapped(work))


def _captures(batch: Batch) -> list[SourceResult]:
    """The batch's text captures still to be ingested (their lines are in its `lines` file)."""
    return [result for result in batch.results if result.file_format == "text" and result.parsed]


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


def stash_frame(frame: pl.DataFrame, work: Path, stage: str, key: str) -> Path:
    path = work / stage / f"{key}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path, compression="lz4")
    return path


def scan_batches(batches: list[Batch], table: str) -> pl.LazyFrame:
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
    unknown = {name: pl.lit(None, dtype) for name, dtype in READ_COLUMNS.items()
               if name not in occurrences.columns and name not in known and name != "channel"}
    return occurrences.join(_capture_fields(results), on="source_file", how="left", maintain_order="left").with_columns(
        **unknown, **known, channel=pl.col("channel_given"),
    ).select(list(PARSED_COLUMNS))


def sources_table(results: list[SourceResult]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            (r.source.name, r.sha256, r.bytes, r.n_lines, r.n_posts, r.status, r.error, r.warning, r.captured_at)
            for r in results
        ],
        schema={"source_file": pl.Utf8, "source_sha256": pl.Utf8, "bytes": pl.Int64, "n_lines": pl.Int64,
                "n_posts": pl.Int64, "status": pl.Utf8, "error": pl.Utf8, "warning": pl.Utf8, "captured_at": UTC},
        orient="row",
    )
