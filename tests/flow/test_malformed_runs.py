"""A malformed message in an export is rejected alone through whole runs: the rest of
its file and the other files are ingested, the reject is recorded, and a rerun finds
nothing new. In-process flow runs."""
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from conftest import SEEDS, read_table, run_flow, tgcorpus
from exports import export, message
from storage.store import Store
from tgcorpus.cli import exit_status, format_summary


def test_an_export_with_a_malformed_message_through_runs(prefect_api, tmp_path):
    inbox, out = tmp_path / "inbox", tmp_path / "corpus"
    inbox.mkdir()
    export(inbox, [message(1), message(2, text=5), message(3)])
    (inbox / "page.txt").write_bytes(SEEDS[0].read_bytes())
    first = run_flow(out, inbox)
    assert "error" not in first and exit_status(first) == 0, first
    texts = read_table(out, "posts")["text"].to_list()
    assert "Post number 1 of the channel" in texts and "Post number 3 of the channel" in texts
    sources = {Path(r["source_file"]).name: r["status"] for r in read_table(out, "sources").iter_rows(named=True)}
    assert sources == {"result.json": "ok", "page.txt": "ok"}
    rejects = read_table(out, "rejects").filter(pl.col("position").is_not_null())
    assert rejects.select("position", "message_id", "reason", "line_start").rows() == [
        (1, "2", "text is a number, not text or a list", None)]
    assert {1, 3} <= set(read_table(out, "messages")["message_id"].to_list())
    assert 2 not in read_table(out, "messages")["message_id"].to_list()
    snapshot = Store(out).current()
    second = format_summary(run_flow(out, inbox), 0)
    assert second.startswith("nothing new"), second
    assert Store(out).current() == snapshot


def test_an_export_whose_every_message_is_malformed_is_rejected_with_the_first_reason(prefect_api, tmp_path):
    inbox, out = tmp_path / "inbox", tmp_path / "corpus"
    inbox.mkdir()
    export(inbox, [message(1, id="x"), message(2, text=5), message(3, reactions={})])
    (inbox / "page.txt").write_bytes(SEEDS[0].read_bytes())
    run = run_flow(out, inbox)
    assert "error" not in run and exit_status(run) == 0, run
    sources = {Path(r["source_file"]).name: (r["status"], r["error"])
               for r in read_table(out, "sources").iter_rows(named=True)}
    assert sources["result.json"] == ("rejected", "all 3 messages malformed: the first, id 'x': id 'x' is not an integer")
    assert read_table(out, "rejects").filter(pl.col("position").is_not_null()).height == 0


@pytest.mark.slow  # runs the flow more than once: 5-6 s
def test_rejects_of_a_dataset_before_positions_gain_the_columns(prefect_api, tmp_path):
    inbox, out = tmp_path / "inbox", tmp_path / "corpus"
    inbox.mkdir()
    (inbox / "page.txt").write_bytes(SEEDS[0].read_bytes())
    assert run_flow(out, inbox)["files_by_status"]["ok"] == 1
    old_row = {"source_file": "old.txt", "source_sha256": "a" * 64, "line_start": 3, "line_end": 4,
               "reason": "an old reject", "run_id": "old-run"}
    for file in Store(out).files("rejects"):  # the layout before this change: no position, message_id
        file.unlink()
    pl.DataFrame([old_row], schema={"source_file": pl.Utf8, "source_sha256": pl.Utf8, "line_start": pl.Int64,
                                    "line_end": pl.Int64, "reason": pl.Utf8, "run_id": pl.Utf8}) \
        .write_parquet(Store(out).current() / "rejects" / "part-old.parquet")
    export(inbox, [message(1), message(2, text=5)])
    run = run_flow(out, inbox)
    assert "error" not in run and exit_status(run) == 0, run
    for file in Store(out).files("rejects"):
        assert pq.read_schema(file).names[-2:] == ["position", "message_id"]
    rejects = read_table(out, "rejects").select(
        pl.col("source_file").str.split("/").list.last(), "line_start", "position", "message_id")
    assert sorted(rejects.rows()) == [("old.txt", 3, None, None), ("result.json", None, 1, "2")]
    check = tgcorpus("validate", str(out))
    assert check.returncode == 0, check.stdout
