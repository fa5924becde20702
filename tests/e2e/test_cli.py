"""`tgcorpus run` end to end: real subprocesses, real Prefect, real Parquet files."""
import json

import duckdb
import polars as pl
import pytest

from channel import EARLY, FIXTURES
from conftest import ROOT, SEEDS, TABLES, read_table, tgcorpus

NOISE = ("Traceback", "CancelledError", "ERROR", "Exception", "Warning")


@pytest.fixture(scope="module")
def seed_runs(tmp_path_factory):
    """The README's run, twice, into two output folders; the second one file a batch
    (the two seeds are 60-90 KB), with a report."""
    runs = []
    for n, extra in enumerate([[], ["--batch-mb", "0.05", "--report", "report.json"]]):
        out = tmp_path_factory.mktemp(f"run{n}") / "corpus"
        extra = [str(out.parent / arg) if arg.endswith(".json") else arg for arg in extra]
        runs.append((tgcorpus("run", "data/raw", "--out", str(out), *extra), out))
    return runs


def test_the_report_has_every_stage_and_the_task_runs(seed_runs):
    result, out = seed_runs[1]
    assert result.returncode == 0, result.stderr
    report = json.loads((out.parent / "report.json").read_text())
    stages = ["discover", "parse", "sightings", "tag", "relate", "export"]
    assert list(report["stage_seconds"]) == stages == list(report["stage_peak_bytes"])
    assert sum(report["stage_seconds"].values()) <= report["seconds"]
    assert report["batches"] == 2 and report["task_runs"] == 4 + 4 * 2
    assert report["posts"] == 23 and report["occurrences"] == 24


@pytest.mark.parametrize("size", ["0", "nan", "inf", "-1"])
def test_a_batch_size_of_nothing_is_one_clear_line(tmp_path, size):
    result = tgcorpus("run", "data/raw", "--out", str(tmp_path / "out"), "--batch-mb", size)
    assert result.returncode == 2 and result.stderr.strip() == "tgcorpus: --batch-mb must be a number more than 0"


def test_run_exits_cleanly_with_a_summary(seed_runs):
    result, _ = seed_runs[0]
    assert result.returncode == 0, result.stderr
    for noise in NOISE:
        assert noise not in result.stdout + result.stderr
    assert "files        2 (2 ok)" in result.stdout
    assert "occurrences  24 (1 of posts seen before)" in result.stdout
    assert "posts        23 new, 23 in the dataset" in result.stdout
    assert "languages    " in result.stdout


def test_duckdb_and_polars_read_every_table(seed_runs):
    _, out = seed_runs[0]
    expected_rows = {"posts": 23, "occurrences": 24, "sources": 2, "rejects": 0, "relations": 6}
    for table in TABLES:
        glob = f"{out}/{table}/**/*.parquet"
        (n_duckdb,) = duckdb.sql(f"SELECT count(*) FROM read_parquet('{glob}', hive_partitioning=true)").fetchall()[0]
        n_polars = pl.scan_parquet(glob).select(pl.len()).collect().item()
        assert n_duckdb == n_polars == expected_rows.get(table, n_polars)
    (n_paragraphs,) = duckdb.sql(
        f"SELECT sum(len(string_split(text, chr(10)))) FROM read_parquet('{out}/posts/*.parquet')"
    ).fetchall()[0]
    assert read_table(out, "paragraphs").height == n_paragraphs


def test_occurrences_match_the_hand_made_expectation(seed_runs, expected):
    _, out = seed_runs[0]
    occurrences = read_table(out, "occurrences").sort("source_file", "position")
    posts = read_table(out, "posts")
    for path in SEEDS:
        mine = occurrences.filter(pl.col("source_file") == f"data/raw/{path.name}")
        want = expected[path.name]["posts"]
        assert mine.select("line_start", "line_end").rows() == [(p["line_start"], p["line_end"]) for p in want]
        texts = mine.join(posts, on="post_id").sort("position")
        assert texts["text"].to_list() == [p["text"] for p in want]
        assert texts["lang"].to_list() == [p["lang"] for p in want]
    assert set(occurrences["post_id"]) == set(posts["post_id"])
    assert occurrences["is_duplicate"].sum() == 1
    assert read_table(out, "sources")["status"].to_list() == ["ok", "ok"]
    assert set(occurrences["channel"]) == {"raw"}


def test_translations_found_on_the_seeds_are_the_hand_made_pairs(seed_runs):
    _, out = seed_runs[0]
    pairs = json.loads((ROOT / "tests" / "fixtures" / "seed_translations.json").read_text())
    first_line = (
        read_table(out, "occurrences")
        .with_columns(file=pl.col("source_file").str.split("/").list.last())
        .select("post_id", "file", "line_start")
    )
    relations = read_table(out, "relations")
    found = {
        tuple(sorted((a, b)))
        for a, b in relations.filter(pl.col("kind") == "translation").select("post_id", "other_post_id").iter_rows()
    }
    def post(ref):
        return first_line.filter((pl.col("file") == ref["file"]) & (pl.col("line_start") == ref["line_start"]))["post_id"].item()
    expected = {tuple(sorted((post(p["ru"]), post(p["en"])))) for p in pairs["pairs"]}
    assert found == expected
    posts = read_table(out, "posts")
    assert (posts["cluster_id"] == posts["post_id"]).all(), "the seeds hold no near-duplicates"


def test_two_runs_write_the_same_dataset(seed_runs):  # in one batch and in two
    (_, first), (_, second) = seed_runs
    volatile = ["run_id", "ingested_at"]
    for table in TABLES:
        a, b = (read_table(out, table) for out in (first, second))
        assert a.drop(volatile, strict=False).equals(b.drop(volatile, strict=False)), table
    assert read_table(first, "posts")["run_id"][0] != read_table(second, "posts")["run_id"][0]


def test_a_missing_input_is_one_clear_line(tmp_path):
    result = tgcorpus("run", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"tgcorpus: input not found: {tmp_path / 'nowhere'}"
    assert result.stdout == ""


def test_an_unwritable_output_is_one_clear_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = tgcorpus("run", "data/raw", "--out", str(blocker / "corpus"))
    assert result.returncode == 2
    assert result.stderr.startswith(f"tgcorpus: cannot write to --out {blocker / 'corpus'}:")
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_files_are_rejected_and_the_rest_goes_through(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    seed = (ROOT / "data" / "raw" / SEEDS[1].name).read_text(encoding="utf-8")
    (inbox / "a_empty.txt").write_bytes(b"")
    (inbox / "b_binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (inbox / "c_cp1251.txt").write_bytes("Forwarded from МИД России\nЗаголовок\n".encode("cp1251"))
    # The same capture with a BOM, Windows line ends, trailing spaces and blank lines
    # between posts gives the same posts.
    messy = seed.replace("\nForwarded from", "\n\n\nForwarded from").replace("\n", "  \r\n")
    (inbox / "d_messy.txt").write_bytes(b"\xef\xbb\xbf" + messy.encode("utf-8"))
    out = tmp_path / "corpus"
    result = tgcorpus("run", str(inbox), "--out", str(out), "--channel", "mfa_russia")
    assert result.returncode == 0, result.stderr
    assert "files        4 (1 ok, 3 rejected)" in result.stdout
    sources = read_table(out, "sources").sort("source_file")
    assert sources.select("status", "error").rows() == [
        ("rejected", "empty file"),
        ("rejected", "binary file (NUL bytes), not a text dump"),
        ("rejected", "not UTF-8 (another encoding, such as cp1251?): invalid byte 0xcc at offset 15"),
        ("ok", None),
    ]
    posts = read_table(out, "posts")
    clean = [p for p in SEEDS[1:]]
    assert posts.height == 12 and set(posts["channel"]) == {"mfa_russia"}
    rejects = read_table(out, "rejects")
    assert set(rejects["reason"]) == {"blank line between posts"}
    n_lines = sources.filter(pl.col("status") == "ok")["n_lines"].item()
    occurrences = read_table(out, "occurrences")
    spans = sorted(occurrences.select("line_start", "line_end").rows() + rejects.select("line_start", "line_end").rows())
    assert [line for a, b in spans for line in range(a, b + 1)] == list(range(1, n_lines + 1))


def test_exit_statuses(tmp_path):
    empty = tmp_path / "inbox"
    empty.mkdir()
    (empty / ".capture.txt.part").write_text("still being copied")
    out = tmp_path / "corpus"
    idle = tgcorpus("run", str(empty), "--out", str(out))
    assert (idle.returncode, idle.stdout.strip(), idle.stderr) == (0, "nothing new (no input files)", "")
    assert not out.exists()
    zone = tgcorpus("run", str(empty), "--out", str(out), "--export-tz", "Mars/Olympus")
    assert zone.returncode == 2
    assert zone.stderr.strip() == "tgcorpus: --export-tz 'Mars/Olympus' is not a time zone name (such as Europe/Moscow)"
    stray = tgcorpus("run", str(FIXTURES / "SOURCES.txt"), "--out", str(out))
    assert stray.returncode == 1, stray.stderr
    assert "rejected     tests/fixtures/channel/SOURCES.txt: no post structure" in stray.stdout
    assert read_table(out, "sources")["status"].to_list() == ["rejected"]  # recorded all the same
    again = tgcorpus("run", str(EARLY), "--out", str(out))
    assert again.returncode == 0 and "messages     5 in 1 channel in the dataset" in again.stdout
    rerun = tgcorpus("run", str(EARLY), "--out", str(out))
    assert rerun.returncode == 0 and rerun.stdout.startswith("nothing new (1 files: 1 unchanged)")
