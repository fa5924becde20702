"""Text captures, Telegram Desktop exports and saved pages in one dataset (in-process
flow runs; the summary is checked as the command prints it)."""
import shutil

import polars as pl
import pytest

from conftest import ROOT, read_table, run_flow, tgcorpus
from tgcorpus.cli import format_summary

FIXTURES = ROOT / "tests" / "fixtures" / "formats"


def test_three_formats_in_one_run_share_post_ids(prefect_api, tmp_path, capfd):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    # Names that do not tell the format: detection is by content.
    for name, target in [("cross_capture.txt", "a.dump"), ("result.json", "b.dump"), ("mid_russia_page.html", "c.dump")]:
        shutil.copy(FIXTURES / name, inbox / target)
    out = tmp_path / "corpus"
    summary = run_flow(out, inbox)
    assert "error" not in summary, summary
    # The export has 1 service and 2 media-only messages, the page 1 and 2.
    assert "not posts    4 messages without text (media only), 2 service messages (not ingested)" in format_summary(summary, 0)
    assert "b.dump: 4 posts, 2 messages without text, 1 service messages (not ingested)" in capfd.readouterr().err
    occurrences, posts = read_table(out, "occurrences"), read_table(out, "posts")
    seen_in = occurrences.group_by("post_id").agg(pl.col("source_file").str.split("/").list.last().unique().sort())
    everywhere = seen_in.filter(pl.col("source_file").list.len() == 3)
    assert everywhere.height == 2, "the two posts of the capture are in the export and the page too"
    shared = posts.join(everywhere, on="post_id")
    assert shared["message_id"].null_count() == 0 and shared["date"].null_count() == 0
    assert set(read_table(out, "sources")["status"]) == {"ok"}
    assert tgcorpus("validate", str(out)).returncode == 0


@pytest.mark.slow  # runs the flow more than once: 5-6 s
def test_a_later_export_enriches_posts_first_seen_in_a_capture(prefect_api, tmp_path):
    out = tmp_path / "corpus"
    first = run_flow(out, FIXTURES / "cross_capture.txt")
    assert "error" not in first and first["files_by_status"]["ok"] == 1, first
    before = read_table(out, "posts")
    assert before.height == 2 and before["message_id"].null_count() == 2
    second = run_flow(out, FIXTURES / "result.json")
    assert "error" not in second and second["files_by_status"]["ok"] == 1, second
    after = read_table(out, "posts")
    enriched = after.filter(pl.col("post_id").is_in(before["post_id"].implode()))
    assert enriched.height == 2 and enriched["message_id"].null_count() == 0
    assert after.schema["date"] == pl.Datetime("us", "UTC")
    assert after["post_id"].is_unique().all()
    # The text and what is made of it stay as the first run wrote them; the fields a
    # post takes from its sightings (channel, ids, dates, media, counts) follow them.
    keep = ["post_id", "title", "text", "hashtags", "lang", "lang_score", "n_chars", "run_id", "cluster_id"]
    assert enriched.select(keep).sort("post_id").equals(before.select(keep).sort("post_id"))
    assert tgcorpus("validate", str(out)).returncode == 0
