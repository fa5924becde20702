"""`tgcorpus validate` finds broken invariants; `tgcorpus stats` summarises; renamed
copies are skipped but recorded; progress goes to standard error per file."""
import shutil

import polars as pl
import pytest

from conftest import SEEDS, read_table, tgcorpus
from storage.store import Store


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    inbox = tmp_path_factory.mktemp("inbox")
    for seed in SEEDS:
        shutil.copy(seed, inbox)
    out = tmp_path_factory.mktemp("out") / "corpus"
    result = tgcorpus("run", str(inbox), "--out", str(out), "--channel", "mid")
    assert result.returncode == 0, result.stderr
    return inbox, out, result


def test_progress_is_shown_per_file(dataset):
    _, _, result = dataset
    # Files are read in parallel: their lines come in either order.
    progress = sorted(line.strip().split("/")[-1] for line in result.stderr.splitlines())
    assert progress == [f"{SEEDS[0].name}: 11 posts", f"{SEEDS[1].name}: 13 posts"]


def test_stats_counts_posts_by_channel_source_and_language(dataset):
    _, out, _ = dataset
    result = tgcorpus("stats", str(out))
    assert result.returncode == 0
    assert result.stdout.startswith("posts 23, occurrences 24, duplicate share 4.2%, sources 2")
    posts = read_table(out, "posts")
    for lang, n in posts.group_by("lang").len().iter_rows():
        assert any(line.split() == [lang, str(n)] for line in result.stdout.splitlines())
    assert any(line.split() == ["mid", "23"] for line in result.stdout.splitlines())


def test_validate_lists_broken_invariants(dataset, tmp_path):
    _, out, _ = dataset
    assert tgcorpus("validate", str(out)).returncode == 0
    broken = tmp_path / "broken"
    shutil.copytree(Store(out).current(), broken)
    occurrences = read_table(broken, "occurrences")
    stray = occurrences.head(1).with_columns(post_id=pl.lit("0" * 32), position=pl.lit(99, pl.Int64))
    stray.write_parquet(broken / "occurrences" / "stray.parquet")
    posts = read_table(broken, "posts")
    posts.head(1).write_parquet(broken / "posts" / "again.parquet")
    result = tgcorpus("validate", str(broken))
    assert result.returncode == 1
    assert "posts: 2 rows share a post_id" in result.stdout
    assert "occurrences: 1 post_id not in posts, e.g. " + "0" * 32 in result.stdout
    assert "line ranges overlap in 1 places" in result.stdout


def test_a_renamed_copy_is_skipped_and_recorded(dataset, tmp_path):
    inbox, out, _ = dataset
    copy = tmp_path / "renamed.txt"
    shutil.copy(SEEDS[0], copy)
    result = tgcorpus("run", str(inbox), str(copy), "--out", str(out), "--channel", "mid")
    assert result.returncode == 0, result.stderr
    assert "files        3 (1 skipped, 2 unchanged)" in result.stdout
    sources = read_table(out, "sources")
    row = sources.filter(pl.col("source_file").str.ends_with("renamed.txt")).row(0, named=True)
    assert row["status"] == "skipped" and row["error"].startswith("same content as ")
    assert read_table(out, "posts").height == 23
