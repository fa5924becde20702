"""The ingest flow: raw channel dumps in, Parquet tables out.

discover → read → split → collapse (per file) → dedupe → tag → export (per run).
Tasks hand each other Parquet paths in a work folder, never DataFrames: Prefect would
pickle a frame to hash it, and a distributed run must not ship frames around.
"""
from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import xxhash
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from schemas.tables import validate
from tasks.collapse_copies import collapse_copies
from tasks.dedupe_exact import mark_duplicates, unique_posts
from tasks.discover_sources import Source, discover_sources
from tasks.export_tables import publish_tables
from tasks.read_source import NotADump, lines_frame, read_source
from tasks.split_paragraphs import split_paragraphs
from tasks.split_posts import reject_spans, split_posts
from tasks.tag_language import LanguageTagger, tag_paragraphs, tag_posts
from tgcorpus.config import Config


@dataclass
class SourceResult:
    """What the per-file tasks learnt about one source; becomes a `sources` row."""

    source: Source
    sha256: str | None = None
    bytes: int | None = None
    n_lines: int = 0
    error: str | None = None
    parquet: dict[str, Path] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """A file-name-safe id of the source (two files may share content, not a name)."""
        return xxhash.xxh64_hexdigest(self.source.name.encode())


@task(name="read", cache_policy=NO_CACHE)
def read(source: Source, work: Path) -> SourceResult:
    result = SourceResult(source)
    try:
        text = read_source(source.path)
    except NotADump as err:
        result.error = str(err)
        return result
    except OSError as err:
        result.error = f"cannot read: {err.strerror or err}"
        return result
    result.sha256, result.bytes, result.n_lines = text.sha256, text.bytes, len(text.lines)
    lines = validate("lines", lines_frame(source.name, text.lines))
    result.parquet["lines"] = _stash(lines, work, "lines", result.key)
    return result


@task(name="split", cache_policy=NO_CACHE)
def split(result: SourceResult, work: Path, config: Config) -> SourceResult:
    if result.error is None:
        lines = pl.read_parquet(result.parquet["lines"])
        split_lines = validate("split", split_posts(lines, config.max_copy_misses))
        result.parquet["split"] = _stash(split_lines, work, "split", result.key)
    return result


@task(name="collapse", cache_policy=NO_CACHE)
def collapse(result: SourceResult, work: Path) -> SourceResult:
    if result.error is None:
        split_lines = pl.read_parquet(result.parquet["split"])
        occurrences = collapse_copies(split_lines).with_columns(
            channel=pl.lit(result.source.channel, pl.Utf8),
            source_sha256=pl.lit(result.sha256),
        )
        result.parquet["occurrences"] = _stash(occurrences, work, "occurrences", result.key)
        result.parquet["rejects"] = _stash(reject_spans(split_lines), work, "rejects", result.key)
    return result


@task(name="dedupe", cache_policy=NO_CACHE)
def dedupe(results: list[SourceResult], work: Path) -> dict[str, Path]:
    occurrences = mark_duplicates(_gather(results, "occurrences"))
    return {
        "occurrences": _stash(occurrences, work, "all", "occurrences"),
        "posts": _stash(unique_posts(occurrences), work, "all", "posts"),
    }


@task(name="tag-language", cache_policy=NO_CACHE)
def tag(stage: dict[str, Path], work: Path, config: Config) -> dict[str, Path]:
    tagger = LanguageTagger(languages=config.languages, min_letters=config.min_letters)
    posts = tag_posts(pl.read_parquet(stage["posts"]), tagger)
    paragraphs = tag_paragraphs(
        split_paragraphs(posts), posts.select("post_id", "lang", "lang_score"), tagger
    )
    return {
        **stage,
        "posts": _stash(posts, work, "all", "posts-tagged"),
        "paragraphs": _stash(paragraphs, work, "all", "paragraphs"),
    }


@task(name="export", cache_policy=NO_CACHE)
def export(results: list[SourceResult], stage: dict[str, Path], config: Config, run_id: str) -> dict:
    stamp = dict(run_id=pl.lit(run_id), ingested_at=pl.lit(datetime.now(timezone.utc)).dt.cast_time_unit("us"))
    occurrences = pl.read_parquet(stage["occurrences"])
    posts = pl.read_parquet(stage["posts"])
    tables = {
        "posts": posts.with_columns(
            message_id=pl.lit(None, pl.Int64),
            date=pl.lit(None, pl.Datetime("us", "UTC")),
            n_chars=pl.col("text").str.len_chars().cast(pl.Int64),
            **stamp,
        ).select(
            "post_id", "channel", "message_id", "date", "forwarded_from", "media", "title",
            "text", "hashtags", "reactions", "lang", "lang_score", "n_chars", "run_id", "ingested_at",
        ),
        "occurrences": occurrences.with_columns(run_id=stamp["run_id"]).select(
            "post_id", "channel", "source_file", "source_sha256", "position", "line_start",
            "line_end", "is_duplicate", "forwarded_from", "reactions", "views", "truncated", "run_id",
        ),
        "paragraphs": pl.read_parquet(stage["paragraphs"]).select(
            "post_id", "idx", "text", "lang", "lang_score"
        ),
        "sources": _sources_table(results, occurrences).with_columns(**stamp),
        "rejects": _gather(results, "rejects").with_columns(run_id=stamp["run_id"]),
    }
    publish_tables(tables, config.out, run_id, config.batch_rows)
    return _summary(tables)


@flow(name="tgcorpus-ingest", log_prints=True)
def ingest(config: Config) -> dict:
    run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]
    sources = discover_sources(config.inputs, config.channel)
    work = config.out / f".work-{run_id}"
    try:
        read_results = read.map(sources, work=work)
        split_results = split.map(read_results, work=work, config=config)
        results = [f.result() for f in collapse.map(split_results, work=work)]
        stage = dedupe(results, work)
        stage = tag(stage, work, config)
        summary = export(results, stage, config, run_id)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {**summary, "run_id": run_id, "out": str(config.out)}


def _stash(frame: pl.DataFrame, work: Path, stage: str, key: str | None) -> Path:
    path = work / stage / f"{key}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path, compression="lz4")
    return path


def _gather(results: list[SourceResult], table: str) -> pl.DataFrame:
    paths = [r.parquet[table] for r in results if table in r.parquet]
    return pl.read_parquet(paths) if paths else EMPTY[table]()


def _empty_occurrences() -> pl.DataFrame:
    lines = lines_frame("", [])
    return collapse_copies(split_posts(lines)).with_columns(
        channel=pl.lit(None, pl.Utf8), source_sha256=pl.lit(None, pl.Utf8)
    )


EMPTY = {
    "occurrences": _empty_occurrences,
    "rejects": lambda: reject_spans(split_posts(lines_frame("", []))),
}


def _sources_table(results: list[SourceResult], occurrences: pl.DataFrame) -> pl.DataFrame:
    posts_per_file = dict(occurrences.group_by("source_file").len().iter_rows())
    return pl.DataFrame(
        {
            "source_file": [r.source.name for r in results],
            "source_sha256": [r.sha256 for r in results],
            "bytes": [r.bytes for r in results],
            "n_lines": [r.n_lines for r in results],
            "n_posts": [posts_per_file.get(r.source.name, 0) for r in results],
            "status": ["ok" if r.error is None else "rejected" for r in results],
            "error": [r.error for r in results],
        },
        schema={"source_file": pl.Utf8, "source_sha256": pl.Utf8, "bytes": pl.Int64, "n_lines": pl.Int64,
                "n_posts": pl.Int64, "status": pl.Utf8, "error": pl.Utf8},
    )


def _summary(tables: dict[str, pl.DataFrame]) -> dict:
    sources, occurrences, posts = tables["sources"], tables["occurrences"], tables["posts"]
    return {
        "files": sources.height,
        "files_rejected": sources.filter(pl.col("status") == "rejected").select("source_file", "error").rows(),
        "lines": int(sources["n_lines"].sum()),
        "occurrences": occurrences.height,
        "posts": posts.height,
        "duplicates": int(occurrences["is_duplicate"].sum()),
        "rejected_lines": int((tables["rejects"]["line_end"] - tables["rejects"]["line_start"] + 1).sum()),
        "languages": dict(posts.group_by("lang").len().sort("len", "lang", descending=[True, False]).iter_rows()),
    }
