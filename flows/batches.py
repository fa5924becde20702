"""What the per-batch tasks hand each other: a source's result, a batch of them with
its work files (Parquet, in the run's work folder), and the `sources` rows they make."""

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import polars as pl

from schemas.tables import UTC
from tasks.reading.discover_sources import Source

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


@dataclass
class Batch:
    """A batch of sources (tasks/reading/batch_sources.py) and the work files made from it."""

    number: int
    results: list[SourceResult]
    parquet: dict[str, Path] = field(default_factory=dict)

    def name(self) -> str:
        return f"{self.number:05d}"


def stash_frame(frame: pl.DataFrame, work: Path, stage: str, key: str) -> Path:
    path = work / stage / f"{key}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path, compression="lz4")
    return path


def scan_batches(batches: list[Batch], table: str) -> pl.LazyFrame:
    """A table's work files of every batch, in batch order."""
    return pl.scan_parquet([b.parquet[table] for b in batches])


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
