"""The made-up channel of tests/fixtures/channel, and helpers to compare its tables
(shared by the message tests)."""
from pathlib import Path

import polars as pl

from conftest import ROOT, VOLATILE, read_table
from tasks.messages.track_messages import SIGHTING_COLUMNS

FIXTURES = ROOT / "tests" / "fixtures" / "channel"
EARLY, LATE = FIXTURES / "export_2025-02" / "result.json", FIXTURES / "export_2025-05" / "result.json"
PAGE, CAPTURE = FIXTURES / "saved_page" / "embassy_test.html", FIXTURES / "embassy_test" / "capture_001.txt"
EVERYTHING = (EARLY, LATE, PAGE, CAPTURE)
TABLES = ("messages", "channels", "posts", "occurrences", "paragraphs", "relations")


def canonical(out: Path, table: str) -> pl.DataFrame:
    frame = read_table(out, table).drop(VOLATILE, strict=False)
    return frame.sort(frame.columns, nulls_last=True)


def sightings(*rows: dict) -> pl.DataFrame:
    """Sightings with every column; what a row does not say is null (reactions: none)."""
    types = {"channel_numeric_id": pl.Int64, "message_id": pl.Int64, "position": pl.Int64, "views": pl.Int64,
             "forwarded_from_id": pl.Int64, "reply_to_message_id": pl.Int64, "date": pl.Datetime("us", "UTC"),
             "edited_at": pl.Datetime("us", "UTC"), "captured_at": pl.Datetime("us", "UTC"),
             "reactions": pl.List(pl.Struct({"emoji": pl.Utf8, "count": pl.Int64}))}
    schema = {c: types.get(c, pl.Utf8) for c in [*SIGHTING_COLUMNS, "captured_at"]}
    full = [{"position": 0, "reactions": [], **row} for row in rows]
    return pl.DataFrame(full, schema=schema)
