"""Recurring ingests: reruns change nothing, overlaps add only what is new, one writer
at a time, and a run killed anywhere leaves the previous snapshot and reruns cleanly."""
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from conftest import ROOT, SEEDS, TABLES, read_table, shared_api, tgcorpus, validate_with_first_row_changed
from schemas.tables import INDEXES, NEAR_DUP_INDEX
from storage.store import Store
from tgcorpus.synth import synthesize

# is_boilerplate counts a line across the dataset as it stands when the paragraph is
# added, so it may differ between one run and the same input in two runs.
VOLATILE = ["run_id", "ingested_at", "is_boilerplate"]
SORT_KEYS = {
    "posts": ["post_id"],
    "occurrences": ["source_file", "position"],
    "paragraphs": ["post_id", "idx"],
    "sources": ["source_file"],
    "rejects": ["source_file", "line_start"],
    "relations": ["post_id", "other_post_id", "kind"],
}


def dataset(out: Path) -> dict[str, pl.DataFrame]:
    """The tables, in a canonical order, without the columns that name the run."""
    return {t: read_table(out, t).drop(VOLATILE, strict=False).sort(SORT_KEYS[t]) for t in TABLES}


def same_dataset(a: Path, b: Path) -> bool:
    left, right = dataset(a), dataset(b)
    return all(left[t].equals(right[t]) for t in TABLES)


@pytest.fixture(scope="module")
def captures(tmp_path_factory) -> Path:
    """Seed 001 as two overlapping page captures: posts 1-7 and posts 6-13."""
    folder = tmp_path_factory.mktemp("inbox")
    lines = SEEDS[1].read_text(encoding="utf-8").split("\n")
    # From the hand-made expectations: post 6 starts at line 111, post 7 ends at 168.
    (folder / "page_a.txt").write_text("\n".join(lines[:168]), encoding="utf-8")
    (folder / "page_b.txt").write_text("\n".join(lines[110:]), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def one_run(captures, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("one") / "corpus"
    assert tgcorpus("run", str(captures), "--out", str(out), "--channel", "mid").returncode == 0
    return out


def test_a_rerun_changes_nothing(captures, one_run):
    before = Store(one_run).current()
    result = tgcorpus("run", str(captures), "--out", str(one_run), "--channel", "mid")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("nothing new (2 files: 2 unchanged)")
    assert Store(one_run).current() == before


def test_overlapping_captures_in_two_runs_equal_one_run(captures, one_run, tmp_path):
    out = tmp_path / "corpus"
    first = tgcorpus("run", str(captures / "page_a.txt"), "--out", str(out), "--channel", "mid")
    second = tgcorpus("run", str(captures / "page_b.txt"), "--out", str(out), "--channel", "mid")
    assert first.returncode == second.returncode == 0, second.stderr
    assert "posts        7 new, 7 in the dataset" in first.stdout
    # page_b repeats posts 6 and 7, and holds the Security Council post twice.
    assert "posts        5 new, 12 in the dataset" in second.stdout
    assert same_dataset(out, one_run)
    occurrences = read_table(out, "occurrences")
    assert occurrences.filter(pl.col("source_file").str.ends_with("page_b.txt"))["is_duplicate"].sum() == 3


def test_a_second_writer_is_told_clearly(captures, tmp_path):
    out = tmp_path / "corpus"
    store = Store(out)
    store.check_writable()
    with open(store.home / "lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = tgcorpus("run", str(captures), "--out", str(out))
    assert result.returncode == 3
    assert result.stderr.strip().endswith(f"tgcorpus: another tgcorpus run is writing to {out}; try again when it has finished")
    assert not out.exists()


def run_until_failpoint(args: list[str], point: str, log: Path) -> None:
    """Start `tgcorpus run`, wait until it reaches the failpoint, SIGKILL its whole group."""
    command = [str(Path(sys.executable).with_name("tgcorpus")), *args]
    env = {**os.environ, **shared_api(), "TGCORPUS_FAILPOINT": point}
    with open(log, "w") as err:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while f"failpoint {point}" not in log.read_text():
            assert process.poll() is None, f"run ended before failpoint {point}: {log.read_text()}"
            assert time.monotonic() < deadline, "failpoint not reached"
            time.sleep(0.1)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.mark.parametrize("point", ["after-read", "mid-write", "before-swap"])
def test_a_killed_run_leaves_the_last_snapshot_and_a_rerun_completes_it(point, captures, one_run, tmp_path):
    out = tmp_path / "corpus"
    args = ["--out", str(out), "--channel", "mid"]
    assert tgcorpus("run", str(captures / "page_a.txt"), *args).returncode == 0
    committed = Store(out).current()
    run_until_failpoint(["run", str(captures), *args], point, tmp_path / "log")
    assert Store(out).current() == committed
    check = tgcorpus("validate", str(out))
    assert check.returncode == 0, check.stdout
    rerun = tgcorpus("run", str(captures), *args)
    assert rerun.returncode == 0, rerun.stderr
    assert same_dataset(out, one_run)
    assert not list(Store(out).home.glob("staging-*")) and not list(Store(out).home.glob("work-*"))


# --- the near-duplicate index ------------------------------------------------------------

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


def ingest(folder: Path, names: list[str], out: Path) -> subprocess.CompletedProcess:
    result = tgcorpus("run", *(str(folder / name) for name in names), "--out", str(out), "--channel", "gen")
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def generated_one_run(generated, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gen_one") / "corpus"
    ingest(generated, FIRST_FILES + LATER_FILES, out)
    return out


@pytest.fixture(scope="module")
def generated_two_runs(generated, tmp_path_factory) -> Path:
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


def test_a_dataset_without_the_index_gets_it_once(generated, generated_two_runs, tmp_path):
    out = tmp_path / "corpus"
    ingest(generated, FIRST_FILES, out)
    stored = read_table(out, "posts").height
    for table in INDEXES:  # as the version before the indexes wrote it
        shutil.rmtree(Store(out).current() / table)
    migrated = ingest(generated, LATER_FILES, out)
    assert f"building the dataset's indexes of {stored} stored posts (once)" in migrated.stderr
    built, expected = indexes(out), indexes(generated_two_runs)
    assert all(built[table].equals(expected[table]) for table in INDEXES)
    assert second_run_relations(out).equals(second_run_relations(generated_two_runs))
    assert dataset(out)["posts"].equals(dataset(generated_two_runs)["posts"])
    check = tgcorpus("validate", str(out))
    assert check.returncode == 0, check.stdout


def test_migration_numbers_posts_in_first_seen_order_not_file_order(generated_one_run, generated_two_runs, tmp_path):
    """A posts file rewritten by a later run (changed fields, merged clusters) takes
    that run's name, so file order is not first-seen order: the built indexes must not
    follow it. They are those of one run over the stored posts (a stored post's keys
    are otherwise those of its own run), so the reference is the one-run dataset."""
    extra = tmp_path / "extra"
    synthesize(extra, posts=20, seed=6, files=1)
    with_indexes, migrated = tmp_path / "with" / "corpus", tmp_path / "migrated" / "corpus"
    for source, copy in ((generated_one_run, with_indexes), (generated_two_runs, migrated)):
        shutil.copytree(source.parent, copy.parent, symlinks=True)
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


def test_a_post_bridging_two_stored_clusters_merges_them_as_one_run_would(prefect_api, tmp_path):
    from flows.ingest import ingest as ingest_flow
    from flows.config import Config

    # a and b share no line; the third post has three of a's four lines and three of b's
    lines = [f"Line {n} of the statement on topic {word} with its own words {word}{n} here"
             for n, word in enumerate(["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"])]
    a, b, bridge = "\n".join(lines[:4]), "\n".join(lines[4:]), "\n".join(lines[:3] + lines[4:7])
    early = channel_export(tmp_path / "early" / "result.json", {1: a, 2: b})
    late = channel_export(tmp_path / "late" / "result.json", {3: bridge})

    def clusters(*inputs: Path) -> dict[str, str]:
        out = tmp_path / f"corpus-{len(inputs)}-{inputs[0].parent.name}"
        for files in inputs:
            ingest_flow(Config(inputs=(str(files),), out=out))
        posts = read_table(out, "posts")
        return dict(posts.select(pl.col("text").str.slice(0, 30), "cluster_id").iter_rows())

    two_runs = clusters(early, late)
    assert len(set(two_runs.values())) == 1  # b's cluster took a's id
    one_run_out = tmp_path / "one"
    ingest_flow(Config(inputs=(str(early), str(late)), out=one_run_out))
    one_run = read_table(one_run_out, "posts")
    assert two_runs == dict(one_run.select(pl.col("text").str.slice(0, 30), "cluster_id").iter_rows())
