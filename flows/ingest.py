"""The ingest flow: raw channel dumps in, Parquet tables out.

discover → read → split → collapse (per file) → dedupe → tag → export (per run).
Tasks hand each other Parquet paths in a work folder, never DataFrames: Prefect would
pickle a frame to hash it, and a distributed run must not ship frames around.

A run is incremental: a file whose content was ingested before is skipped, a post
already in the dataset is not written again (its new sighting still is), and all of a
run's rows are committed in one snapshot (see tgcorpus/store.py).
"""

import shutil
import sys
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import polars as pl
import xxhash
from prefect import flow, task, unmapped
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from schemas.tables import validate
from tasks.collapse_copies import collapse_copies
from tasks.dedupe_exact import RICHER_FIELDS, mark_duplicates, new_posts, richer_sightings
from tasks.discover_sources import Source, discover_sources
from tasks.export_tables import publish_tables
from tasks.detect_format import HEAD_BYTES, detect_format
from tasks.read_source import NotADump, lines_frame, read_source, sha256_of_file
from tasks.read_telegram_export import OUTPUT_SCHEMA as EXPORT_COLUMNS
from tasks.read_telegram_export import read_telegram_export
from tasks.read_web_page import read_web_page
from tasks.relate_posts import relate_posts
from tasks.split_paragraphs import split_paragraphs
from tasks.split_posts import reject_spans, split_posts
from tasks.tag_language import LanguageTagger, tag_paragraphs, tag_posts
from tgcorpus.config import Config
from tgcorpus.failpoints import failpoint
from tgcorpus.store import Store, StoreError

UTC = pl.Datetime("us", "UTC")
STRUCTURED_READERS = {"telegram_json": read_telegram_export, "web_html": read_web_page}
# The occurrence columns every reader produces, in order (read_telegram_export's schema).
OCCURRENCE_COLUMNS = [*EXPORT_COLUMNS, "source_sha256"]
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
    parquet: dict[str, Path] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """A file-name-safe id of the source (two files may share content, not a name)."""
        return xxhash.xxh64_hexdigest(self.source.name.encode())

    @property
    def parsed(self) -> bool:
        return self.status == "ok"


@lru_cache(maxsize=4)
def _ingested(snapshot: Path | None) -> dict[str, list[str]]:
    """sha256 → the names under which the snapshot has recorded that content."""
    if snapshot is None:
        return {}
    recorded = pl.scan_parquet(snapshot / "sources" / "*.parquet").drop_nulls("source_sha256")
    names = recorded.group_by("source_sha256").agg(pl.col("source_file").sort()).collect()
    return dict(names.iter_rows())


@task(name="read", cache_policy=NO_CACHE)
def read(source: Source, work: Path, snapshot: Path | None) -> SourceResult:
    result = SourceResult(source)
    failpoint(f"before-read:{source.path.name}")
    try:
        before = source.path.stat()
        with open(source.path, "rb") as handle:
            file_format = detect_format(handle.read(HEAD_BYTES))
        if file_format in STRUCTURED_READERS:
            result.sha256, result.bytes = sha256_of_file(source.path), before.st_size
        else:
            text = read_source(source.path)
            result.sha256, result.bytes, result.n_lines = text.sha256, text.bytes, len(text.lines)
            result.warning = text.warning
            if file_format is None:
                raise NotADump("not a text capture, Telegram Desktop export or saved t.me page", text.sha256)
        failpoint(f"mid-read:{source.path.name}")
        after = source.path.stat()
    except NotADump as err:
        result.status, result.error, result.sha256 = "rejected", str(err), err.sha256
        return _progress(result)
    except OSError as err:
        result.status, result.error = "retry", f"cannot read: {err.strerror or err}"
        return _progress(result)
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        result.status, result.error = "retry", "file changed while being read (still being written?)"
        return _progress(result)
    seen_as = _ingested(snapshot).get(result.sha256, [])
    if source.name in seen_as:
        result.status = "unchanged"
        return _progress(result)
    if seen_as:
        result.status, result.error = "skipped", f"same content as {seen_as[0]}, ingested before"
        return _progress(result)
    if file_format in STRUCTURED_READERS:
        return _read_structured(result, file_format, work)
    lines = validate("lines", lines_frame(source.name, text.lines))
    result.parquet["lines"] = _stash(lines, work, "lines", result.key)
    failpoint("after-read")
    return result


def _read_structured(result: SourceResult, file_format: str, work: Path) -> SourceResult:
    """JSON exports and saved pages carry their posts whole: no splitting, no copies."""
    try:
        occurrences, counts = STRUCTURED_READERS[file_format](result.source.path, result.source.name)
    except NotADump as err:
        result.status, result.error = "rejected", str(err)
        return _progress(result)
    result.n_posts = occurrences.height
    result.not_posts = {kind: counts[kind] for kind in ("service", "empty")}
    result.parquet["occurrences"] = _stash(
        occurrences.with_columns(source_sha256=pl.lit(result.sha256)), work, "occurrences", result.key
    )
    return _progress(result)


@task(name="split", cache_policy=NO_CACHE)
def split(result: SourceResult, work: Path, config: Config) -> SourceResult:
    if "lines" in result.parquet:  # text captures only: other formats come as posts
        lines = pl.read_parquet(result.parquet["lines"])
        split_lines = validate("split", split_posts(lines, config.max_copy_misses))
        result.parquet["split"] = _stash(split_lines, work, "split", result.key)
    return result


@task(name="collapse", cache_policy=NO_CACHE)
def collapse(result: SourceResult, work: Path) -> SourceResult:
    if "split" in result.parquet:
        split_lines = pl.read_parquet(result.parquet["split"])
        occurrences = with_capture_fields(collapse_copies(split_lines), result)
        result.n_posts = occurrences.height
        result.parquet["occurrences"] = _stash(occurrences, work, "occurrences", result.key)
        rejects = reject_spans(split_lines).with_columns(source_sha256=pl.lit(result.sha256))
        result.parquet["rejects"] = _stash(rejects, work, "rejects", result.key)
        _progress(result)
    return result


@task(name="dedupe", cache_policy=NO_CACHE)
def dedupe(results: list[SourceResult], work: Path, store: Store) -> dict[str, Path]:
    known = store.scan("posts", ["post_id", *RICHER_FIELDS])
    occurrences = mark_duplicates(_gather(results, "occurrences"), known)
    enriched = richer_sightings(occurrences, known) if known is not None else occurrences.head(0)
    return {
        "occurrences": _stash(occurrences, work, "all", "occurrences"),
        "posts": _stash(new_posts(occurrences), work, "all", "posts"),
        "enriched": _stash(enriched, work, "all", "enriched"),
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


@task(name="relate", cache_policy=NO_CACHE)
def relate(stage: dict[str, Path], work: Path, store: Store) -> dict[str, Path]:
    known = store.scan("posts", ["post_id", "text", "lang", "forwarded_from", "media", "cluster_id"])
    sighted = pl.read_parquet(stage["occurrences"], columns=["post_id"])
    posts, boilerplate, relations = relate_posts(pl.read_parquet(stage["posts"]), known, sighted)
    return {
        **stage,
        "posts": _stash(posts, work, "all", "posts-related"),
        "boilerplate": _stash(boilerplate, work, "all", "boilerplate"),
        "relations": _stash(relations, work, "all", "relations"),
    }


@task(name="export", cache_policy=NO_CACHE)
def export(results: list[SourceResult], stage: dict[str, Path], store: Store, config: Config, run_id: str) -> dict:
    now = datetime.now(timezone.utc)
    stamp = dict(run_id=pl.lit(run_id), ingested_at=pl.lit(now, UTC))
    occurrences = pl.read_parquet(stage["occurrences"])
    posts = pl.read_parquet(stage["posts"])
    recorded = [r for r in results if r.status in RECORDED]
    new_rows = {
        "posts": posts.with_columns(n_chars=pl.col("text").str.len_chars().cast(pl.Int64), **stamp).select(
            "post_id", "channel", "message_id", "date", "forwarded_from", "media", "title",
            "text", "hashtags", "reactions", "lang", "lang_score", "n_chars", "run_id", "ingested_at",
            "views", "edited_at", "cluster_id",
        ),
        "occurrences": occurrences.with_columns(run_id=stamp["run_id"]).select(
            "post_id", "channel", "source_file", "source_sha256", "position", "line_start",
            "line_end", "is_duplicate", "forwarded_from", "reactions", "views", "truncated", "run_id",
            "message_id", "date", "edited_at",
        ),
        "paragraphs": pl.read_parquet(stage["paragraphs"])
        .join(pl.read_parquet(stage["boilerplate"]), on=["post_id", "idx"], how="left")
        .select("post_id", "idx", "text", "lang", "lang_score", "is_boilerplate"),
        "relations": pl.read_parquet(stage["relations"]).with_columns(run_id=stamp["run_id"]),
        "sources": _sources_table(recorded).with_columns(**stamp),
        "rejects": _gather(results, "rejects").with_columns(run_id=stamp["run_id"]).select(
            "source_file", "source_sha256", "line_start", "line_end", "reason", "run_id"
        ),
    }
    enriched = {"posts": ("post_id", pl.read_parquet(stage["enriched"]))}
    publish_tables(new_rows, store, run_id, config.batch_rows, enriched)
    summary = _summary(results, new_rows, store)
    _publish_artifacts(results, summary)
    return summary


@flow(name="tgcorpus-ingest")
def ingest(config: Config) -> dict:
    """Returns the run's summary, or {"error": ...} when the output folder is busy or unusable."""
    store = Store(config.out)
    run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]
    try:
        with store.writer(config.lock_wait_seconds, on_wait=lambda: _waiting(config.out)):
            work = store.home / f"work-{run_id}"
            try:
                sources = discover(config)
                read_results = read.map(sources, work=unmapped(work), snapshot=unmapped(store.current()))
                split_results = split.map(read_results, work=unmapped(work), config=unmapped(config))
                results = [f.result() for f in collapse.map(split_results, work=unmapped(work))]
                stage = relate(tag(dedupe(results, work, store), work, config), work, store)
                summary = export(results, stage, store, config, run_id)
            finally:
                shutil.rmtree(work, ignore_errors=True)
    except StoreError as err:
        return {"error": str(err)}
    return {**summary, "run_id": run_id, "out": str(config.out)}


def _waiting(out: Path) -> None:
    print(f"waiting for another run writing to {out} ...", file=sys.stderr, flush=True)


@task(name="discover", cache_policy=NO_CACHE)
def discover(config: Config) -> list[Source]:
    return discover_sources(config.inputs, config.channel)


def _progress(result: SourceResult) -> SourceResult:
    detail = f"{result.n_posts} posts" if result.parsed else ": ".join(filter(None, [result.status, result.error]))
    if any(result.not_posts.values()):
        detail += f" ({result.not_posts['service']} service and {result.not_posts['empty']} empty messages: not posts)"
    print(f"  {result.source.name}: {detail}", file=sys.stderr, flush=True)
    return result


def _stash(frame: pl.DataFrame, work: Path, stage: str, key: str) -> Path:
    path = work / stage / f"{key}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path, compression="lz4")
    return path


def _gather(results: list[SourceResult], table: str) -> pl.DataFrame:
    paths = [r.parquet[table] for r in results if table in r.parquet]
    return pl.read_parquet(paths) if paths else EMPTY[table]()


def with_capture_fields(occurrences: pl.DataFrame, result: SourceResult | None) -> pl.DataFrame:
    """A text capture's occurrences in the columns every format shares: the channel is
    the source's, and what a capture cannot carry (id, date, edit time) is null."""
    return occurrences.with_columns(
        channel=pl.lit(result.source.channel if result else None, pl.Utf8),
        message_id=pl.lit(None, pl.Int64),
        date=pl.lit(None, UTC),
        edited_at=pl.lit(None, UTC),
        source_sha256=pl.lit(result.sha256 if result else None, pl.Utf8),
    ).select(OCCURRENCE_COLUMNS)


def _empty_occurrences() -> pl.DataFrame:
    return with_capture_fields(collapse_copies(split_posts(lines_frame("", []))), None)


EMPTY = {
    "occurrences": _empty_occurrences,
    "rejects": lambda: reject_spans(split_posts(lines_frame("", []))).with_columns(
        source_sha256=pl.lit(None, pl.Utf8)
    ),
}


def _sources_table(results: list[SourceResult]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            (r.source.name, r.sha256, r.bytes, r.n_lines, r.n_posts, r.status, r.error, r.warning)
            for r in results
        ],
        schema={"source_file": pl.Utf8, "source_sha256": pl.Utf8, "bytes": pl.Int64, "n_lines": pl.Int64,
                "n_posts": pl.Int64, "status": pl.Utf8, "error": pl.Utf8, "warning": pl.Utf8},
        orient="row",
    )


def _summary(results: list[SourceResult], new_rows: dict[str, pl.DataFrame], store: Store) -> dict:
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
        "near_duplicates": new_rows["relations"].filter(pl.col("kind") == "near_duplicate").height,
        "translations": new_rows["relations"].filter(pl.col("kind") == "translation").height,
        "languages": dict(posts.group_by("lang").len().sort("len", "lang", descending=[True, False]).iter_rows()),
        "total_posts": store.scan("posts", ["post_id"]).height,
    }


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
                f"- languages of new posts: {languages}",
                f"- new relations: {summary['near_duplicates']} near-duplicate pairs, {summary['translations']} translation pairs",
                f"- rejected lines: {summary['rejected_lines']}",
            ]
        ),
        description="Summary of this ingest run",
    )
