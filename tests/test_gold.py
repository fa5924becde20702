"""A generated corpus of several hundred posts, through the real command, against its gold."""
import polars as pl
import pytest

from conftest import read_table, tgcorpus
from tgcorpus.evaluate import read_gold

KEY = ["file", "line_start", "line_end"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synth")
    made = tgcorpus("synth", "--out", str(folder / "dumps"), "--posts", "600", "--seed", "11")
    assert made.returncode == 0, made.stderr
    ran = tgcorpus("run", str(folder / "dumps" / "*.txt"), "--out", str(folder / "corpus"))
    assert ran.returncode == 0, ran.stderr
    gold = read_gold(folder / "dumps" / "gold.jsonl")
    occurrences = read_table(folder / "corpus", "occurrences").with_columns(
        file=pl.col("source_file").str.split("/").list.last()
    )
    found = occurrences.join(read_table(folder / "corpus", "posts"), on="post_id")
    return gold, found


def test_every_occurrence_is_found_with_its_range_and_text(corpus):
    gold, found = corpus
    assert gold.height >= 600 - 1 and found.height == gold.height
    both = gold.join(found.select(*KEY, "post_id", found_text="text"), on=KEY, how="left")
    assert both["post_id"].null_count() == 0, "occurrences whose line range was not found"
    wrong = both.filter(pl.col("text") != pl.col("found_text"))
    assert wrong.height == 0, wrong.select(*KEY, "text").head(3).to_dicts()


def test_exact_duplicates_and_nothing_else_share_a_post_id(corpus):
    gold, found = corpus
    both = gold.join(found.select(*KEY, "post_id"), on=KEY)
    assert both.group_by("uid").agg(pl.col("post_id").n_unique()).filter(pl.col("post_id") > 1).height == 0
    assert both.group_by("post_id").agg(pl.col("uid").n_unique()).filter(pl.col("uid") > 1).height == 0
    repeated = both.group_by("uid").len().filter(pl.col("len") > 1).height
    assert repeated >= 10, "the corpus should hold exact repeats to test"
    assert found["is_duplicate"].sum() == both.height - both["uid"].n_unique()
