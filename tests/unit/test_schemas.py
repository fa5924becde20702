"""Schema failures name the table, the column and the rows, and never half-write a dataset."""
import polars as pl
import pytest

from conftest import ROOT, SEEDS, read_table
from schemas.tables import PARSED_COLUMNS, TableInvalid, validate
from tasks.export.export_tables import publish_tables
from storage.store import Store
from tasks.reading.read_source import lines_frame, read_source
from tasks.parsing.split_posts import split_posts
from tasks.reading.read_telegram_export import read_telegram_export


def seed_split() -> pl.DataFrame:
    return split_posts(lines_frame(SEEDS[0].name, read_source(SEEDS[0]).lines))


def test_a_valid_split_passes():
    assert validate("split", seed_split()).height == 225


def test_a_failure_lists_table_column_check_and_every_bad_row():
    broken = seed_split().with_columns(
        line_no=pl.when(pl.col("line_no").is_in([3, 7])).then(0).otherwise(pl.col("line_no")),
        role=pl.when(pl.col("line_no") == 10).then(pl.lit("banner")).otherwise(pl.col("role")),
    )
    with pytest.raises(TableInvalid) as failure:
        validate("split", broken)
    message = str(failure.value)
    assert message.startswith("table 'split' failed validation:")
    assert "column 'line_no', check 'greater_than_or_equal_to(1)': rows [2, 6]" in message
    assert "column 'role', check \"isin(" in message and "rows [9]" in message


def test_parsed_occurrences_are_the_readers_columns_with_the_given_channel_and_hash():
    """The table read and collapse hand on: a reader's rows, in its column order, with
    the channel name the user gave and the source's hash; one row per position."""
    export = ROOT / "tests" / "fixtures" / "formats" / "result.json"
    posts, counts = read_telegram_export(export, "result.json")
    parsed = posts.with_columns(channel_given=pl.lit(None, pl.Utf8), source_sha256=pl.lit("ab" * 32))
    assert list(validate("parsed", parsed).columns) == list(PARSED_COLUMNS)
    assert parsed.height == counts["posts"] + counts["empty"] > 1
    with pytest.raises(TableInvalid, match="unique"):
        validate("parsed", parsed.with_columns(position=pl.lit(0, pl.Int64)))
    with pytest.raises(TableInvalid, match="source_sha256"):
        validate("parsed", parsed.with_columns(source_sha256=pl.lit("not a hash")))
    with pytest.raises(TableInvalid):
        validate("parsed", parsed.select(list(reversed(parsed.columns))))


def test_an_invalid_table_leaves_the_published_dataset_as_it_was(tmp_path):
    good = {"rejects": rejects_rows(1, "r1")}
    out = tmp_path / "corpus"
    publish_tables(good, Store(out), "r1", rows_per_file=10)
    before = read_table(out, "rejects")
    bad = {
        "rejects": good["rejects"].with_columns(run_id=pl.lit("r2")),
        "sources": pl.DataFrame({"source_file": [SEEDS[0].name], "status": ["maybe"]}),
    }
    with pytest.raises(TableInvalid, match="table 'sources'"):
        publish_tables(bad, Store(out), "r2", rows_per_file=10)
    assert read_table(out, "rejects").equals(before)
    assert sorted(p.name for p in out.iterdir()) == ["rejects"]
    assert len(list(Store(out).home.glob("snapshot-*"))) == 1


def rejects_rows(n: int, run_id: str) -> pl.DataFrame:
    return pl.DataFrame(
        {"source_file": ["a.txt"] * n, "source_sha256": ["0" * 64] * n, "line_start": list(range(1, n + 1)),
         "line_end": list(range(1, n + 1)), "reason": ["blank line between posts"] * n, "run_id": [run_id] * n,
         "position": pl.Series([None] * n, dtype=pl.Int64), "message_id": pl.Series([None] * n, dtype=pl.Utf8)}
    )


def test_a_reject_has_either_a_line_range_or_a_position():
    def reject(line: int | None, position: int | None) -> pl.DataFrame:
        return rejects_rows(1, "r1").with_columns(
            pl.lit(line, pl.Int64).alias("line_start"), pl.lit(line, pl.Int64).alias("line_end"),
            pl.lit(position, pl.Int64).alias("position"))
    validate("rejects", reject(None, 3))
    validate("rejects", reject(1, None))
    for both_or_neither in (reject(1, 3), reject(None, None)):
        with pytest.raises(TableInvalid, match="either a line range or a position"):
            validate("rejects", both_or_neither)


def test_tables_are_split_into_files_and_read_back_whole(tmp_path):
    rejects = rejects_rows(25, "r1")
    out = tmp_path / "corpus"
    publish_tables({"rejects": rejects}, Store(out), "r1", rows_per_file=10)
    assert len(list((out / "rejects").glob("*.parquet"))) == 3
    assert read_table(out, "rejects").sort("line_start").equals(rejects)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_keys_are_checked_across_parts_written_one_batch_at_a_time(tmp_path):
    """Each batch's part is validated alone; a post_id in two parts must still fail."""
    from schemas.tables import TableInvalid, validate_parts

    parts = []
    for n, ids in enumerate([["a" * 32, "b" * 32], ["c" * 32], ["a" * 32]]):
        parts.append(tmp_path / f"{n}.parquet")
        pl.DataFrame({"post_id": ids}).write_parquet(parts[-1])
    validate_parts("posts", parts[:2])
    with pytest.raises(TableInvalid, match=r"columns \['post_id'\], check 'unique' across parts"):
        validate_parts("posts", parts)
