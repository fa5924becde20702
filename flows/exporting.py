"""The export stage: the run's rows of every table and index, validated and committed
in one snapshot."""

from datetime import datetime, timezone
from pathlib import Path

import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE

from schemas.tables import CHANNEL_TAIL_INDEX, IDENTITY_INDEX, SHARED_INDEX, UTC, validate, validate_parts
from tasks.export.export_tables import publish_tables
from tasks.messages.track_messages import IDENTITY
from flows.config import Config
from storage.store import Store
from flows.batches import Batch, RECORDED, scan_batches, sources_table
from flows.sightings import SightingFiles
from flows.relating import RelatedFiles, with_merged_clusters
from flows.reporting import publish_artifacts, run_summary


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
        "sources": sources_table(recorded).with_columns(**stamp),
        "rejects": scan_batches(batches, "rejects").collect()
        .with_columns(run_id=stamp["run_id"])
        .select("source_file", "source_sha256", "line_start", "line_end", "reason", "run_id", "position",
                "message_id"),
    }
    updates = {
        "posts": (["post_id"], with_merged_clusters(pl.read_parquet(sighted.changed_posts),
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
    summary = run_summary(results, new_rows | counted, store)
    publish_artifacts(results, summary)
    return summary
