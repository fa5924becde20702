"""The tag-language and relate stages: languages per batch, then the run's new posts
related to each other and to the dataset through its indexes (tasks/relate/relate_posts.py)."""

import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE

from schemas.tables import (
    CHANNEL_LINE_INDEX, CHANNEL_TAIL_INDEX, LINE_CONTEXT_INDEX, NEAR_DUP_INDEX, RELATE_INDEXES, dtypes,
)
from tasks.relate.relate_posts import COLUMNS as RELATED_COLUMNS
from tasks.relate.relate_posts import Archive, Indexes, RelateParams, build_indexes, relate_posts
from tasks.parsing.split_paragraphs import split_paragraphs
from tasks.language.tag_language import LanguageTagger, tag_paragraphs, tag_posts
from flows.config import Config
from storage.store import Store
from flows.batches import Batch, scan_batches, stash_frame
from flows.sightings import POST_FIELDS, SightingFiles


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
        "occurrences": stash_frame(occurrences.drop("row", "batch"), work, "occurrences", batch.name()),
        "posts": stash_frame(posts, work, "posts", batch.name()),
        "paragraphs": stash_frame(paragraphs, work, "paragraphs", batch.name()),
    })


@dataclass(frozen=True)
class RelatedFiles:
    """The relate task's work files (tasks/relate/relate_posts.py's Related): the new posts'
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
    new = scan_batches(batches, "posts").select(*RELATED_COLUMNS).collect()
    archive, built = stored_archive(store, config.relate) if new.height else (Archive(), None)
    with ThreadPoolExecutor(config.relate.band_groups) as pool:
        related = relate_posts(new, archive, config.relate, pool.map)
    rows = index_tables(related.index)
    if built is not None:  # the run's rows join the built ones (its tails replace theirs): all replace the stored
        rows = {table: rows.get(table, built_rows) if table == CHANNEL_TAIL_INDEX else pl.concat([built_rows, rows[table]])
                for table, built_rows in index_tables(built).items()}
    return RelatedFiles(
        stash_frame(related.posts.select("post_id", "cluster_id"), work, "relate", "clusters"),
        stash_frame(related.flags, work, "relate", "flags"),
        stash_frame(related.relations, work, "relate", "relations"),
        stash_frame(related.merged, work, "relate", "merged"),
        {table: stash_frame(frame, work, "index", table) for table, frame in rows.items()},
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


def with_merged_clusters(changed: pl.DataFrame, merged: pl.DataFrame, store: Store) -> pl.DataFrame:
    """The updates of stored posts: their changed fields, and the posts of stored
    clusters merged into earlier ones (tasks/relate/relate_posts.py) with the earlier id."""
    if merged.height == 0:
        return changed
    posts = pl.scan_parquet(store.files("posts"), parallel="prefiltered")
    in_merged = posts.filter(pl.col("cluster_id").is_in(merged["cluster_id"].implode())).select(
        *POST_FIELDS, "cluster_id").collect()
    clusters = posts.filter(pl.col("post_id").is_in(changed["post_id"].implode())).select(
        "post_id", "cluster_id").collect()
    rows = pl.concat([changed.join(clusters, on="post_id", how="left"), in_merged.join(changed, on="post_id", how="anti")])
    return rows.with_columns(pl.col("cluster_id").replace(merged["cluster_id"], merged["into"]))
