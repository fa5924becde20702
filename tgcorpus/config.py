"""The one configuration object of a run, passed down to every stage."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tasks.relate_posts import RelateParams


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
    min_letters: int = 8
    # How long a run waits for another run writing to the same --out before giving up.
    lock_wait_seconds: float = 0.0
    # Rows per Parquet file of the run-wide tables (sources, rejects, relations); posts,
    # occurrences and paragraphs are written one file per batch.
    batch_rows: int = 50_000
    # Input bytes per batch: one parse and one tag-language task run each.
    batch_bytes: int = 32 << 20
    # ... and at most this many files: a batch holds a little of each of its files.
    batch_files: int = 2_000
    # Structured files (exports, saved pages): limits far above anything real, so that
    # one hostile file cannot exhaust the machine; a file over one is rejected, naming it.
    # JSON nesting: real exports nest 10 deep; each level costs the parser memory.
    max_json_depth: int = 64
    # One message's visible text, in characters: Telegram allows 4,096 (the longest in
    # the real exports: 4,072); a message over it is rejected on its own.
    max_message_chars: int = 100_000
    # HTML nesting: real pages nest 15 deep; the parser's time grows with its square.
    # The readers walk a message's elements recursively: keep it well under 900.
    max_html_depth: int = 256
    # Relating posts: boilerplate, near-duplicates (MinHash/LSH), translations, and how
    # many groups of LSH bands the candidate search runs side by side.
    relate: RelateParams = RelateParams()
    languages: tuple[str, ...] = field(
        default=("ru", "en", "uk", "be", "bg", "sr", "mk", "kk")
    )
