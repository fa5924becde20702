"""Recurring ingests: reruns change nothing, overlaps add only what is new, one writer
at a time, and a run killed anywhere leaves the previous snapshot and reruns cleanly."""
import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from conftest import ROOT, SEEDS, copy_dataset, read_table, same_dataset, shared_api, tgcorpus
from storage.store import Store


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


@pytest.fixture(scope="module")
def page_a_run(captures, tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """The first page alone, committed; tests continue from copies of its folder."""
    out = tmp_path_factory.mktemp("page_a") / "corpus"
    return tgcorpus("run", str(captures / "page_a.txt"), "--out", str(out), "--channel", "mid"), out


def test_a_rerun_changes_nothing(captures, one_run):
    before = Store(one_run).current()
    result = tgcorpus("run", str(captures), "--out", str(one_run), "--channel", "mid")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("nothing new (2 files: 2 unchanged)")
    assert Store(one_run).current() == before


def test_overlapping_captures_in_two_runs_equal_one_run(captures, one_run, page_a_run, tmp_path):
    first, out = page_a_run[0], copy_dataset(page_a_run[1], tmp_path)
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
def test_a_killed_run_leaves_the_last_snapshot_and_a_rerun_completes_it(point, captures, one_run, page_a_run,
                                                                        tmp_path):
    assert page_a_run[0].returncode == 0, page_a_run[0].stderr
    out = copy_dataset(page_a_run[1], tmp_path)
    args = ["--out", str(out), "--channel", "mid"]
    committed = Store(out).current()
    run_until_failpoint(["run", str(captures), *args], point, tmp_path / "log")
    assert Store(out).current() == committed
    check = tgcorpus("validate", str(out))
    assert check.returncode == 0, check.stdout
    rerun = tgcorpus("run", str(captures), *args)
    assert rerun.returncode == 0, rerun.stderr
    assert same_dataset(out, one_run)
    assert not list(Store(out).home.glob("staging-*")) and not list(Store(out).home.glob("work-*"))
