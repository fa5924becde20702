"""The discover and parse stages: the sources named by the user, in batches; then per
batch three tasks, read (flows/reading.py dispatches each source to its reader),
split and collapse, each validating the table it hands on."""

import sys
from pathlib import Path

import polars as pl
from prefect import task, unmapped
from prefect.futures import PrefectFutureList
from prefect.cache_policies import NO_CACHE

from schemas.tables import PARSED_COLUMNS, READ_COLUMNS, validate
from tasks.parsing.collapse_copies import collapse_copies
from tasks.reading.discover_sources import Source, discover_sources
from tasks.reading.read_source import files_lines_frame
from tasks.parsing.split_posts import reject_spans, split_posts
from flows.batches import Batch, SourceResult, stash_frame
from flows.config import Config
from flows.reading import read_one
from storage.failpoints import failpoint


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
        result, content = read_one(source, snapshot, config)
        batch.results.append(result)
        if content is not None:
            (captures if isinstance(content, list) else structured).append((result, content))
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
    return Batch(batch.number, batch.results, {
        **batch.parquet,
        "occurrences": stash_frame(
            occurrences.with_row_index("row").with_columns(batch=pl.lit(batch.number, pl.UInt32)),
            work, "parsed", batch.name(),
        ),
        "rejects": stash_frame(
            pl.concat([rejects, _rejected_messages(batch.results)], how="diagonal_relaxed")
            .select(pl.col(name).cast(dtype) for name, dtype in REJECT_COLUMNS.items()),
            work, "rejects", batch.name(),
        ),
    })


PARSE_TASKS = (read, split, collapse)


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
