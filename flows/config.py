"""The one configuration object of a run, passed down to every stage."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tasks.reading.malformed import ReadLimits
from tasks.language.tag_language import DEFAULT_LANGUAGES, MIN_LETTERS
from tasks.relate.relate_posts import RelateParams


@dataclass(frozen=True)
class Config:
    inputs: tuple[str, ...] = ("data/raw",)
    out: Path = Path("data/corpus")
    channel: str | None = None
    # The time zone of Desktop HTML exports whose dates carry none (an IANA name).
    export_tz: str | None = None
    # Splitter: how many lines one copy of a doubled body may lack against the other.
    max_copy_misses: int = 2
    # Language tagging: fewer letters than this and the text is `und`.
    min_letters: int = MIN_LETTERS
    # How long a run waits for another run writing to the same --out before giving up.
    lock_wait_seconds: float = 0.0
    # Rows per Parquet file of the run-wide tables (sources, rejects, relations); posts,
    # occurrences and paragraphs are written one file per batch.
    batch_rows: int = 50_000
    # Input bytes per batch: one read, split, collapse and tag-language task run each.
    batch_bytes: int = 32 << 20
    # ... and at most this many files: a batch holds a little of each of its files.
    batch_files: int = 2_000
    # Input limits of the structured readers (tasks/reading/malformed.py: ReadLimits).
    limits: ReadLimits = ReadLimits()
    # Relating posts: boilerplate, near-duplicates (MinHash/LSH), translations, and how
    # many groups of LSH bands the candidate search runs side by side.
    relate: RelateParams = RelateParams()
    # Language tagging: the languages a text can be tagged with (else `und`).
    languages: tuple[str, ...] = DEFAULT_LANGUAGES
