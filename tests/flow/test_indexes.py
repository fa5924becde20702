"""The dataset's indexes, and runs that relate new posts to stored ones: a run over
part of the input, then one over the rest, relates the posts as one run over all of
it; a dataset written before the indexes gets them once. In-process flow runs."""
import json
import re
import shutil
from pathlib import Path

import polars as pl
import pytest

from conftest import SORT_KEYS, copy_dataset, dataset, read_table, run_flow, tgcorpus, validate_with_first_row_changed
from schemas.tables import INDEXES, NEAR_DUP_INDEX
from storage.store import Store
from tgcorpus.cli import exit_status
from tgcorpus.synth import synthesize

FIRST_FILES = ["dump_0000.txt", "dump_0001.txt", "dump_0002a.txt"]
LATER_FILES = ["dump_0002b.txt", "dump_0003.txt"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """300 generated posts in 4 files, the third cut in two where the English version
    of post p0000144 (p0000145, by the gold) starts: the pair straddles the runs. By the
    gold, two near-duplicates in dump_0002 are edits of posts of dump_0000 and dump_0001
    (uids p0000141, p0000155); the second is after the cut."""
    folder = tmp_path_factory.mktemp("generated")
    synthesize(folder, posts=300, seed=5, files=4)
    gold = [json.loads(line) for line in (folder / "gold.jsonl").read_text().splitlines()]
    cut = min(r["line_start"] for r in gold if r["uid"] == "p0000145" and r["file"] == "dump_0002.txt")
    lines = (folder / "dump_0002.txt").read_text(encoding="utf-8").split("\n")
    (folder / "dump_0002a.txt").write_text("\n".join(lines[:cut - 1]), encoding="utf-8")
    (folder / "dump_0002b.txt").write_text("\n".join(lines[cut - 1:]), encoding="utf-8")
    for name in ("dump_0002.txt", "gold.jsonl"):
        (folder / name).unlink()
    return folder


def ingest(folder: Path, names: list[str], out: Path) -> dict:
    """`tgcorpus run NAMES --out OUT --channel gen`, in this process; its summary."""
    summary = run_flow(out, *(folder / name for name in names), channel="gen")
    assert "error" not in summary and exit_status(summary) == 0, summary
    return summary


@pytest.fixture(scope="module")
def generated_one_run(prefect_api, generated, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gen_one") / "corpus"
    ingest(generated, FIRST_FILES + LATER_FILES, out)
    return out


@pytest.fixture(scope="module")
def generated_two_runs(prefect_api, generated, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gen_two") / "corpus"
    ingest(generated, FIRST_FILES, out)
    ingest(generated, LATER_FILES, out)
    return out


def indexes(out: Path) -> dict[str, pl.DataFrame]:
    """Every index table, rows in a canonical order."""
    return {table: read_table(out, table).sort(pl.all()) for table in INDEXES}


def second_run_relations(out: Path) -> pl.DataFrame:
    relations = read_table(out, "relations")
    return relations.filter(pl.col("run_id") == relations["run_id"].max()).drop("run_id").sort(SORT_KEYS["relations"])


@pytest.mark.slow  # a generated corpus of 300 posts, run in parts
def test_generated_corpus_in_two_runs_equals_one_run(generated_one_run, generated_two_runs):
    one, two = dataset(generated_one_run), dataset(generated_two_runs)
    for table in ("posts", "occurrences", "sources"):  # posts with their cluster_id
        assert one[table].drop("source_file", strict=False).equals(two[table].drop("source_file", strict=False))
    keys = SORT_KEYS["relations"]
    assert one["relations"].select(keys).equals(two["relations"].select(keys))
    # A pair of the first run was scored against the boilerplate its run knew (see
    # VOLATILE); a pair with a post of the second run scores as in one run.
    later = second_run_relations(generated_two_runs)
    assert later.equals(one["relations"].join(later.select(keys), on=keys, how="semi"))
    # A near-duplicate straddles the runs: an edit in dump_0002b of a post of the first run.
    posts = read_table(generated_two_runs, "posts")
    first_run = posts.filter(pl.col("run_id") == posts["run_id"].min())["post_id"].implode()
    straddling = later.filter((pl.col("kind") == "near_duplicate") & pl.col("post_id").is_in(first_run))
    assert straddling.height >= 1
    joined = straddling.join(posts.select("post_id", "cluster_id"), left_on="other_post_id", right_on="post_id")
    assert joined["cluster_id"].is_in(first_run).all()  # the new edit joins its original's cluster
    # The Russian post ends the first run, its English version starts the second: linked.
    across = later.filter((pl.col("kind") == "translation") & pl.col("post_id").is_in(first_run))
    assert across.height == 1
    texts = dict(posts.select("post_id", "text").iter_rows())
    russian, english = texts[across["post_id"][0]], texts[across["other_post_id"][0]]
    assert re.search("[а-я]", russian) and not re.search("[а-я]", english)


@pytest.mark.slow  # a generated corpus of 300 posts, run in parts
def test_a_dataset_without_the_index_gets_it_once(generated, generated_two_runs, tmp_path, capfd):
    out = tmp_path / "corpus"
    ingest(generated, FIRST_FILES, out)
    stored = read_table(out, "posts").height
    for table in INDEXES:  # as the version before the indexes wrote it
        shutil.rmtree(Store(out).current() / table)
    capfd.readouterr()
    ingest(generated, LATER_FILES, out)
    assert f"building the dataset's indexes of {stored} stored posts (once)" in capfd.readouterr().err
    built, expected = indexes(out), indexes(generated_two_runs)
    assert all(built[table].equals(expected[table]) for table in INDEXES)
    assert second_run_relations(out).equals(second_run_relations(generated_two_runs))
    assert dataset(out)["posts"].equals(dataset(generated_two_runs)["posts"])
    check = tgcorpus("validate", str(out))
    assert check.returncode == 0, check.stdout


@pytest.mark.slow  # a generated corpus of 300 posts, run in parts
def test_migration_numbers_posts_in_first_seen_order_not_file_order(generated_one_run, generated_two_runs, tmp_path):
    """A posts file rewritten by a later run (changed fields, merged clusters) takes
    that run's name, so file order is not first-seen order: the built indexes must not
    follow it. They are those of one run over the stored posts (a stored post's keys
    are otherwise those of its own run), so the reference is the one-run dataset."""
    extra = tmp_path / "extra"
    synthesize(extra, posts=20, seed=6, files=1)
    with_indexes = copy_dataset(generated_one_run, tmp_path / "with")
    migrated = copy_dataset(generated_two_runs, tmp_path / "migrated")
    snapshot = Store(migrated).current()
    for table in INDEXES:
        if table.startswith(("_index_near", "_index_line", "_index_channel")):
            shutil.rmtree(snapshot / table)
    first_run = sorted((snapshot / "posts").glob("*.parquet"))[0]
    first_run.rename(first_run.with_name("part-zz-rewritten-by-a-later-run.parquet"))
    for out in (with_indexes, migrated):
        ingest(extra, ["dump_0000.txt"], out)
    built, expected = indexes(migrated), indexes(with_indexes)
    assert all(built[table].equals(expected[table]) for table in INDEXES)
    assert second_run_relations(migrated).equals(second_run_relations(with_indexes))


@pytest.mark.slow  # a generated corpus of 300 posts, run in parts
def test_validate_checks_the_index(generated_one_run, tmp_path):
    check = validate_with_first_row_changed(generated_one_run, tmp_path / "corpus", NEAR_DUP_INDEX,
                                            post_id="f" * 32, seen=-1)
    assert check.returncode == 1
    assert f"{NEAR_DUP_INDEX}: 1 post_id not in posts, e.g. {'f' * 32}" in check.stdout
    assert f"table '{NEAR_DUP_INDEX}' failed validation:\n  column 'seen'" in check.stdout


def channel_export(path: Path, messages: dict[int, str]) -> Path:
    """A Desktop JSON export of one channel with these messages (id → text)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"name": "Bridge", "type": "public_channel", "id": 1500000099, "messages": [
        {"id": number, "type": "message", "date": f"2025-03-01T10:{number:02d}:00",
         "date_unixtime": str(1740823200 + 60 * number), "text": text, "text_entities": [{"type": "plain", "text": text}]}
        for number, text in messages.items()
    ]}, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.mark.slow  # runs the flow more than once: 6-7 s
def test_a_post_bridging_two_stored_clusters_merges_them_as_one_run_would(prefect_api, tmp_path):
    # a and b share no line; the third post has three of a's four lines and three of b's
    lines = [f"Line {n} of the statement on topic {word} with its own words {word}{n} here"
             for n, word in enumerate(["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"])]
    a, b, bridge = "\n".join(lines[:4]), "\n".join(lines[4:]), "\n".join(lines[:3] + lines[4:7])
    early = channel_export(tmp_path / "early" / "result.json", {1: a, 2: b})
    late = channel_export(tmp_path / "late" / "result.json", {3: bridge})

    def clusters(*inputs: Path) -> dict[str, str]:
        out = tmp_path / f"corpus-{len(inputs)}-{inputs[0].parent.name}"
        for files in inputs:
            run_flow(out, files)
        posts = read_table(out, "posts")
        return dict(posts.select(pl.col("text").str.slice(0, 30), "cluster_id").iter_rows())

    two_runs = clusters(early, late)
    assert len(set(two_runs.values())) == 1  # b's cluster took a's id
    one_run_out = tmp_path / "one"
    run_flow(one_run_out, early, late)
    one_run = read_table(one_run_out, "posts")
    assert two_runs == dict(one_run.select(pl.col("text").str.slice(0, 30), "cluster_id").iter_rows())
