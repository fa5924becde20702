"""The hostile corpus (tests/hostile/make_corpus.py) as a scheduled ingest meets it:
good captures beside every kind of bad input in one inbox, through real `tgcorpus run`
processes: the first over part of the inbox, the second over all of it, the third a
rerun that must find nothing new. Each run must stay under 2 GB and 3 minutes.

Memory is the resident memory of the run's whole process tree (the run and the Prefect
server it starts), sampled every 0.1 s: what the machine gives. The address-space
limit is no measure of that (a normal run reserves about 3.2 GB of address space for
0.6 GB resident) and serves only as a backstop; a tree over the budget is killed at
once, so a regression fails fast and never eats the machine.
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from conftest import prefect_home, read_table, shared_api
from hostile.make_corpus import FIRST_RUN_FOLDERS, capture, templated, write, write_corpus
from storage.store import Store

MEMORY_BUDGET = 2 << 30
SECONDS_BUDGET = 180
ADDRESS_SPACE_BACKSTOP = 6 << 30  # per process; twice what a normal run reserves


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_bytes: int


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue  # ended meanwhile
            children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def resident_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            return next((int(line.split()[1]) << 10 for line in status if line.startswith("VmRSS:")), 0)
    except OSError:
        return 0


def measured_run(*args: str, cwd: Path, own_server: bool = False) -> Run:
    """`tgcorpus ARGS` with its tree's peak resident memory; killed over the budgets.
    `own_server`: as a user without a Prefect server runs it (the command starts one, a
    child counted in the tree), else against the session's server."""
    def backstop():
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_BACKSTOP, ADDRESS_SPACE_BACKSTOP))

    command = [str(Path(sys.executable).with_name("tgcorpus")), *args]
    server = {"PREFECT_HOME": str(prefect_home())} if own_server else shared_api()
    env = {**os.environ, "PYTHONWARNINGS": "ignore", **server}
    # Output to files: a pipe nobody reads while the run writes would stall it.
    with open(cwd / "stdout", "w+") as stdout, open(cwd / "stderr", "w+") as stderr:
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=stdout, stderr=stderr,
                                   stdin=subprocess.DEVNULL, preexec_fn=backstop, start_new_session=True)
        peak = 0
        while process.poll() is None:
            tree = process_tree(process.pid)
            peak = max(peak, sum(resident_bytes(pid) for pid in tree))
            if peak > MEMORY_BUDGET or time.monotonic() - started > SECONDS_BUDGET:
                os.killpg(process.pid, 9)
                for pid in tree:  # a server that left the group
                    try:
                        os.kill(pid, 9)
                    except ProcessLookupError:
                        pass
            time.sleep(0.1)
        seconds = time.monotonic() - started
        stdout.seek(0)
        stderr.seek(0)
        return Run(process.returncode, stdout.read(), stderr.read(), seconds, peak)


def assert_within_budgets(run: Run) -> None:
    assert run.peak_bytes < MEMORY_BUDGET, f"peak {run.peak_bytes / 2**30:.2f} GB"
    assert run.seconds < SECONDS_BUDGET, f"{run.seconds:.0f} s"
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "Traceback" not in run.stdout + run.stderr


@pytest.fixture(scope="module")
def ingest(tmp_path_factory):
    """The corpus and the three runs over it."""
    base = tmp_path_factory.mktemp("hostile")
    cases = write_corpus(base / "inbox")
    out = ["--out", "corpus"]
    first = measured_run("run", *(f"inbox/{folder}" for folder in FIRST_RUN_FOLDERS), *out, cwd=base, own_server=True)
    first_snapshot = Store(base / "corpus").current()
    second = measured_run("run", "inbox", *out, cwd=base)
    second_snapshot = Store(base / "corpus").current()
    rerun = measured_run("run", "inbox", *out, cwd=base)
    return {"cases": cases, "base": base, "runs": (first, second, rerun),
            "snapshots": (first_snapshot, second_snapshot, Store(base / "corpus").current())}


def test_the_corpus_has_forty_kinds_of_case(ingest):
    assert len({case.what for case in ingest["cases"]}) >= 40


@pytest.mark.parametrize("which", [0, 1, 2], ids=["first", "second", "rerun"])
def test_each_run_completes_within_2_gb_and_3_minutes(ingest, which):
    run = ingest["runs"][which]
    print(f"run {which}: {run.seconds:.1f} s, peak {run.peak_bytes / 2**30:.2f} GB")
    assert_within_budgets(run)


def occurrences_per_file(base: Path) -> dict[str, int]:
    counts = read_table(base / "corpus", "occurrences").group_by("source_file").len()
    return dict(counts.iter_rows())


def test_the_first_run_commits_the_posts_of_its_part(ingest):
    first = ingest["runs"][0]
    assert first.returncode == 0, first.stderr[-2000:]
    first_run_ok = {f"inbox/{c.path}": c.posts for c in ingest["cases"] if c.first_run and c.status == "ok"}
    got = pl.read_parquet(Path(ingest["snapshots"][0]) / "occurrences" / "**" / "*.parquet")
    assert dict(got.group_by("source_file").len().iter_rows()) == first_run_ok


def test_every_good_post_is_committed(ingest):
    expected = {f"inbox/{c.path}": c.posts for c in ingest["cases"] if c.status == "ok"}
    assert occurrences_per_file(ingest["base"]) == expected
    occurrences = read_table(ingest["base"] / "corpus", "occurrences")
    posts = read_table(ingest["base"] / "corpus", "posts")
    assert occurrences.join(posts, on="post_id", how="anti").height == 0, "an occurrence without its post"
    good_texts = set(posts["text"])
    assert {f"Saved page post {k}" for k in (1, 2, 3)} <= good_texts
    assert {f"Desktop export post {k}" for k in (1, 2, 3)} <= good_texts
    assert {f"Post number {k} of good" for k in range(1, 6)} <= good_texts


def test_odd_but_good_inputs_are_read_as_written(ingest):
    occurrences = read_table(ingest["base"] / "corpus", "occurrences")
    posts = read_table(ingest["base"] / "corpus", "posts")
    text_of = dict(occurrences.join(posts, on="post_id").group_by("source_file").agg("text").iter_rows())
    assert text_of["inbox/files/bom.txt"][0].startswith("Заголовок 0 (bom)")  # the mark is no text
    for line_ends in ("crlf", "lone_cr"):
        assert not any("\r" in text for text in text_of[f"inbox/files/{line_ends}.txt"]), line_ends
    assert text_of["inbox/messages/unicode_controls/result.json"] == [
        "Zero\u200bwidth \u202eesrever\u202c \u2067isolate\u2069"]
    assert text_of["inbox/files/script_style_page.html"] == ["Visible text"]
    reactions = occurrences.filter(pl.col("source_file") == "inbox/messages/reactions_20_digits.txt")["reactions"]
    assert reactions.to_list() == [[{"emoji": "👍", "count": None}]] * 2  # kept, the count too large to be real


def test_each_file_is_recorded_once_with_its_outcome(ingest):
    sources = read_table(ingest["base"] / "corpus", "sources")
    assert sources["source_file"].is_unique().all()
    recorded = {row["source_file"]: row for row in sources.iter_rows(named=True)}
    for case in ingest["cases"]:
        name = f"inbox/{case.path}"
        if case.status in (None, "retry"):
            assert name not in recorded, name
            continue
        row = recorded[name]
        assert row["status"] == case.status, (name, row["error"])
        if case.reason:
            assert case.reason in row["error"], (name, row["error"])
        elif case.status == "skipped":
            assert row["error"].startswith("same content as inbox/"), (name, row["error"])
        else:
            assert row["error"] is None, (name, row["error"])
        if case.warning:
            assert case.warning in row["warning"], (name, row["warning"])
    expected = {f"inbox/{c.path}" for c in ingest["cases"] if c.status not in (None, "retry")}
    assert set(recorded) == expected, "recorded what is no case"


def test_each_malformed_message_is_rejected_alone_with_its_reason(ingest):
    rejects = read_table(ingest["base"] / "corpus", "rejects").filter(pl.col("position").is_not_null())
    got = {(row["source_file"], row["position"]): row["reason"] for row in rejects.iter_rows(named=True)}
    expected = {(f"inbox/{c.path}", 1): c.rejects[0] for c in ingest["cases"] if c.rejects}
    assert set(got) == set(expected)  # each bad message is the second of its file
    for key, reason in expected.items():
        assert reason in got[key], (key, got[key])


def test_each_file_has_one_progress_line_with_its_outcome(ingest):
    progress = ingest["runs"][1].stderr.splitlines()
    assert "  inbox/files/service_only_page.html: rejected: no messages to ingest (1 service messages)" in progress
    assert "  inbox/large/one_line_posts.txt: 40000 posts" in progress


def test_what_may_come_right_later_is_reported_at_each_run_and_not_recorded(ingest):
    for case in (c for c in ingest["cases"] if c.status == "retry"):
        for run in ingest["runs"][1:]:
            assert f"inbox/{case.path}: cannot read: {case.reason}" in run.stdout


def test_nothing_outside_the_inbox_or_hidden_is_read(ingest):
    texts = read_table(ingest["base"] / "corpus", "posts")["text"]
    assert not texts.str.contains("root:x:0:0", literal=True).any()
    for outside_or_hidden in ("(elsewhere)", "(draft)", "(partial)", "script text", "in a post", "head script"):
        assert not texts.str.contains(outside_or_hidden, literal=True).any(), outside_or_hidden


def test_the_rerun_is_nothing_new_and_the_dataset_validates(ingest):
    _, second, rerun = ingest["runs"]
    assert second.stdout.count("\n") > 5 and not second.stdout.startswith("nothing new")
    assert rerun.stdout.startswith("nothing new"), rerun.stdout[:500]
    first_snapshot, second_snapshot, last_snapshot = ingest["snapshots"]
    assert first_snapshot != second_snapshot and last_snapshot == second_snapshot, "the rerun committed a snapshot"
    check = subprocess.run([str(Path(sys.executable).with_name("tgcorpus")), "validate", "corpus"],
                           cwd=ingest["base"], capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stdout


def test_templated_posts_stay_within_the_budgets(tmp_path):
    case = templated(tmp_path / "inbox")
    write(tmp_path / "inbox", "good.txt", capture("beside the bulletin", 4))
    run = measured_run("run", "inbox", "--out", "corpus", cwd=tmp_path)
    print(f"templated: {run.seconds:.1f} s, peak {run.peak_bytes / 2**30:.2f} GB")
    assert_within_budgets(run)
    assert occurrences_per_file(tmp_path) == {f"inbox/{case.path}": case.posts, "inbox/good.txt": 4}
