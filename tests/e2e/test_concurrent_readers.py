"""Readers of the dataset while runs commit.

The writer is a separate process making real commits through the store, as runs do:
new rows, copy-on-write updates of stored files (the enrichment of posts seen again)
and tables replaced whole (messages, channels), 30 of them in about a second. The
reader loops as a long query or a notebook does: it takes the snapshot `out` points
at, then reads its files. A replaced snapshot stays SNAPSHOT_GRACE_SECONDS, however
many runs commit meanwhile, so such a reader never meets a missing file.
"""
import os
import subprocess
import sys
import time

import duckdb
import polars as pl

from conftest import ROOT
from storage.store import SNAPSHOT_GRACE_SECONDS, SNAPSHOTS_KEPT, Store

COMMITS = 30
WRITER = f"""
import sys
from pathlib import Path
import polars as pl
sys.path.insert(0, {str(ROOT)!r})
from storage.store import Store

store = Store(Path(sys.argv[1]))
with store.writer():
    for run in range(int(sys.argv[2])):
        rows = pl.DataFrame({{"post_id": [f"p{{run}}-{{i}}" for i in range(50)], "views": [run] * 50}})
        seen_again = pl.DataFrame({{"post_id": [f"p{{r}}-0" for r in range(run)], "views": [run] * run}})
        summary = pl.DataFrame({{"runs": [run + 1]}})
        store.commit({{"posts": rows}}, f"run{{run:03d}}", rows_per_file=20,
                     updates={{"posts": (["post_id"], seen_again)}}, replaced={{"summary": summary}})
"""


def commit_runs(out, runs: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(out), str(runs)])


def test_a_reader_in_a_snapshot_never_meets_a_missing_file_while_runs_commit(tmp_path):
    out = tmp_path / "corpus"
    writer = commit_runs(out, COMMITS)
    reads, errors, heights = 0, [], []
    while writer.poll() is None:
        if not out.exists():
            time.sleep(0.01)
            continue
        snapshot = out.resolve()  # what a query holds from its first file to its last
        try:
            posts = pl.read_parquet(snapshot / "posts" / "**" / "*.parquet")
            time.sleep(0.05)  # a query takes a while: several runs commit meanwhile
            with duckdb.connect() as query:  # its own: the default connection is shared by all tests
                runs = query.execute(f"select max(runs) from '{snapshot}/summary/**/*.parquet'").fetchall()[0][0]
                views = query.execute(f"select sum(views) from '{snapshot}/posts/**/*.parquet'").fetchall()[0][0]
            heights.append((posts.height, runs, views == posts["views"].sum()))
            reads += 1
        except Exception as err:  # noqa: BLE001 - any failure to read is what this test is about
            errors.append(f"{type(err).__name__}: {err}")
    assert writer.wait() == 0
    assert not errors, f"{len(errors)} of {reads + len(errors)} reads failed, the first: {errors[0]}"
    assert reads >= 5
    # Every read saw one whole snapshot: 50 posts a run, its summary, the same views twice.
    assert all(height == 50 * runs and same for height, runs, same in heights), heights
    assert pl.read_parquet(out / "posts" / "**" / "*.parquet").height == 50 * COMMITS


def test_snapshots_replaced_longer_ago_than_the_grace_are_removed(tmp_path):
    out = tmp_path / "corpus"
    assert commit_runs(out, 6).wait() == 0
    store = Store(out)
    assert len(list(store.home.glob("snapshot-*"))) == 6  # all within their grace
    long_ago = time.time() - SNAPSHOT_GRACE_SECONDS - 60
    for snapshot in store.home.glob("snapshot-*"):
        os.utime(snapshot, (long_ago, long_ago))
    assert commit_runs(out, 1).wait() == 0  # one more run: it prunes
    kept = sorted(store.home.glob("snapshot-*"))
    assert len(kept) == SNAPSHOTS_KEPT and kept[-1] == out.resolve()
