"""Every message once, as the channel published it: the messages and channels tables,
edits as versions, metadata of the latest sighting, and tables that do not depend on
how the files were split into runs.

The fixtures (tests/fixtures/channel) are one made-up channel: two Desktop JSON
exports taken months apart (message 101 edited in between, reactions grown, messages
107 and 108 new), a saved t.me/s page with two of its messages and view counts, and a
text capture in a folder named after the channel's username.
"""
import shutil
from pathlib import Path

import polars as pl
import pytest

from channel import CAPTURE, EARLY, EVERYTHING, FIXTURES, LATE, PAGE, TABLES, canonical, sightings
from conftest import ROOT, read_table, run_flow, tgcorpus, utc
from tasks.messages.track_messages import channel_keys, edit_pairs, message_rows, with_channel_keys

@pytest.fixture(scope="module")
def one_run(prefect_api, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("one") / "corpus"
    summary = run_flow(out, *EVERYTHING)
    assert summary["files_by_status"]["ok"] == 4
    return out


@pytest.fixture(scope="module")
def messages(one_run) -> dict[int | None, dict]:
    rows = read_table(one_run, "messages").iter_rows(named=True)
    return {row["message_id"]: row for row in rows}


@pytest.mark.slow  # runs the flow more than once: 6-7 s
def test_two_runs_equal_one_run(prefect_api, one_run, tmp_path):
    """The early export alone, then the rest (which names the channel by its username
    and updates the early export's rows), equals one run over all of them."""
    out = tmp_path / "corpus"
    run_flow(out, EARLY)
    assert read_table(out, "channels")["channel"].to_list() == ["Посольство России в Тестии"]
    run_flow(out, LATE, PAGE, CAPTURE)
    for table in TABLES:
        assert canonical(out, table).equals(canonical(one_run, table)), table


def test_one_row_per_message(messages):
    # 101-108 but 105 (never posted) and the service message 100, plus the capture's
    # post that no export or page has.
    assert sorted(messages, key=lambda m: m or 0) == [None, 101, 102, 103, 104, 106, 107, 108]
    assert {m["channel"] for m in messages.values()} == {"embassy_test"}
    # Two messages with the same text are two rows with one post.
    assert messages[102]["post_id"] == messages[103]["post_id"]
    assert messages[102]["date"] == utc(2025, 1, 11, 9) and messages[103]["date"] == utc(2025, 1, 12, 9)
    # A media-only message is a row without a post.
    assert messages[104]["post_id"] is None and messages[104]["media_type"] == "photo"
    assert messages[104]["n_versions"] == 0
    assert messages[107]["reply_to_message_id"] == 106
    assert messages[108]["forwarded_from"] == "МИД России 🇷🇺" and messages[108]["forwarded_from_id"] == 1113494813


def test_capture_sightings_join_their_message(one_run, messages):
    posts = read_table(one_run, "posts")
    greeting = posts.filter(pl.col("text") == "Поздравляем коллег с Днём дипломатического работника!")
    # Seen in both exports, on the page and in the capture: one message, four sightings.
    assert messages[106]["post_id"] == greeting["post_id"].item()
    assert messages[106]["n_sightings"] == 4
    capture_only = messages[None]
    assert capture_only["n_sightings"] == 1 and capture_only["views"] == 1100
    assert posts.filter(pl.col("post_id") == capture_only["post_id"])["text"].item() == (
        "Приём документов временно приостановлен.\nПодробности на сайте посольства."
    )


def test_a_capture_only_row_is_replaced_once_the_id_is_known(prefect_api, tmp_path):
    out = tmp_path / "corpus"
    run_flow(out, CAPTURE)
    before = read_table(out, "messages")
    assert before["message_id"].to_list() == [None, None] and before["channel"].unique().to_list() == ["embassy_test"]
    run_flow(out, LATE, PAGE)
    after = read_table(out, "messages")
    greeting = before.filter(pl.col("views") == 2100)["post_id"].item()
    # The capture's greeting is now message 106, seen three times; the other capture
    # post is still capture-only.
    assert after.filter(pl.col("post_id") == greeting)[["message_id", "n_sightings"]].rows() == [(106, 3)]
    assert after["message_id"].null_count() == 1 and after.height == 8


def test_channel_names_an_export(prefect_api, tmp_path):
    out = tmp_path / "corpus"
    run_flow(out, EARLY, channel="embassy")
    assert read_table(out, "channels")[["channel", "title", "names"]].rows() == [
        ("embassy", "Посольство России в Тестии", ["embassy", "Посольство России в Тестии"])
    ]
    assert read_table(out, "messages")["channel"].unique().to_list() == ["embassy"]


def test_edits_are_versions(one_run, messages):
    posts = read_table(one_run, "posts")
    edited = messages[101]
    # edited on 1 March, after the February export was taken
    assert edited["n_versions"] == 2 and edited["edited_at"] == utc(2025, 3, 1, 12)
    text_of = dict(posts.select("post_id", "text").iter_rows())
    first, latest = edited["versions"]
    assert text_of[first].endswith("двусторонних отношений.")
    assert text_of[latest].endswith("двусторонних и региональных отношений.")
    assert edited["post_id"] == latest
    edits = read_table(one_run, "relations").filter(pl.col("kind") == "edit")
    assert edits.select("post_id", "other_post_id", "score").rows() == [(first, latest, 1.0)]


def test_mutable_metadata_follows_the_latest_sighting(one_run, messages):
    # Reactions from the later export (the page, captured earlier, shows ❤ 20; the
    # capture shows none).
    assert messages[106]["reactions"] == [{"emoji": "❤", "count": 30}, {"emoji": "👍", "count": 12}]
    assert messages[101]["reactions"] == [{"emoji": "👍", "count": 40}]
    # Views: the page shows 1.5K; the capture, whose time is its file's (a clone's:
    # now), shows 2.1K. The page's other message keeps the page's count.
    assert messages[106]["views"] == 2100 and messages[107]["views"] == 800
    posts = read_table(one_run, "posts").filter(pl.col("post_id") == messages[106]["post_id"])
    assert posts["reactions"].item().to_list() == messages[106]["reactions"]
    assert posts["views"].item() == 2100 and posts["message_id"].item() == 106


def test_one_channel_one_key(one_run):
    channels = read_table(one_run, "channels")
    assert channels.height == 1
    row = channels.row(0, named=True)
    assert row["channel"] == "embassy_test" and row["username"] == "embassy_test"
    assert row["title"] == "Посольство России в Тестии" and row["numeric_id"] == 1500000001
    assert row["first_message_date"] == utc(2025, 1, 10, 9) and row["last_message_date"] == utc(2025, 5, 20, 9)
    for table in ("posts", "occurrences"):
        assert read_table(one_run, table)["channel"].unique().to_list() == ["embassy_test"], table
    occurrences = read_table(one_run, "occurrences")
    # What each source called the channel stays on its occurrences.
    assert set(occurrences["channel_numeric_id"].drop_nulls()) == {1500000001}
    assert set(occurrences["channel_given"].drop_nulls()) == {"embassy_test"}  # the capture's folder


def test_dataset_validates(one_run):
    result = tgcorpus("validate", str(one_run))
    assert result.returncode == 0, result.stdout


def test_repeated_content_in_one_run_is_skipped(prefect_api, tmp_path):
    inbox = tmp_path / "inbox"
    for folder in ("a", "b"):
        (inbox / folder).mkdir(parents=True)
        shutil.copy(EARLY, inbox / folder / "result.json")
    out = tmp_path / "corpus"
    summary = run_flow(out, inbox)
    assert summary["files_by_status"]["ok"] == 1 and summary["files_by_status"]["skipped"] == 1
    sources = read_table(out, "sources").sort("source_file")
    assert sources["status"].to_list() == ["ok", "skipped"]
    assert sources["error"][1].startswith("same content as ") and sources["error"][1].endswith("a/result.json, in this run")
    assert read_table(out, "occurrences")["source_file"].str.ends_with("a/result.json").all()
    assert read_table(out, "messages").height == 5


def test_plain_text_without_post_structure_is_rejected(prefect_api, tmp_path):
    out = tmp_path / "corpus"
    summary = run_flow(out, FIXTURES / "SOURCES.txt", CAPTURE)
    sources = {Path(r["source_file"]).name: r for r in read_table(out, "sources").iter_rows(named=True)}
    assert sources["SOURCES.txt"]["status"] == "rejected"
    assert sources["SOURCES.txt"]["error"].startswith("no post structure")
    assert sources["capture_001.txt"]["status"] == "ok"
    assert summary["occurrences"] == 2 and read_table(out, "rejects").height == 0


@pytest.mark.slow  # runs the flow more than once: 6-7 s
def test_a_dataset_of_the_previous_version_gets_the_new_columns(prefect_api, tmp_path):
    """Files written before messages and channels existed lack the columns added since;
    the next run rewrites them once with those columns (null), so that a reader's glob
    reads every table as one."""
    import duckdb
    import pyarrow.parquet as pq

    from storage.store import Store

    out = tmp_path / "corpus"
    run_flow(out, CAPTURE)
    added = {"occurrences": ["channel_given", "channel_username", "channel_title", "channel_numeric_id",
                             "forwarded_from_id", "reply_to_message_id", "author", "media_type", "media"],
             "posts": ["media_type", "links", "mentions"], "sources": ["captured_at"]}
    snapshot = Store(out).current()
    for table, columns in added.items():  # the previous version's files
        for path in (snapshot / table).glob("*.parquet"):
            old = pl.read_parquet(path).drop(columns)
            path.unlink()
            old.write_parquet(path)
    for folder in ("messages", "channels"):
        shutil.rmtree(snapshot / folder)
    earlier = tgcorpus("validate", str(out))
    assert earlier.returncode == 2
    assert earlier.stderr.strip() == (f"tgcorpus: {out} was written by an earlier tgcorpus: its next run adds the "
                                      "messages and channels tables")
    run_flow(out, LATE)
    for table in added:
        schemas = {tuple(pq.read_schema(path).names) for path in (out / table).glob("*.parquet")}
        assert len(schemas) == 1 and set(added[table]) <= set(next(iter(schemas))), table
    assert tgcorpus("validate", str(out)).returncode == 0
    occurrences = duckdb.sql(f"SELECT channel_given FROM read_parquet('{out}/occurrences/*.parquet')").pl()
    assert occurrences.height == 2 + 7  # the capture's two posts, the export's seven messages
    # The old rows keep their channel as the name they were given; without a page or a
    # --channel nothing joins the capture's folder to the export's title.
    assert read_table(out, "messages")["channel"].unique().sort().to_list() == [
        "embassy_test", "Посольство России в Тестии"
    ]


# --- the plain functions, on hand-made sightings ---------------------------------------

def keyed(frame: pl.DataFrame) -> pl.DataFrame:
    return with_channel_keys(frame, channel_keys(frame))


def test_the_latest_text_is_the_one_that_became_current_last():
    """Jan export: text A. March export: B, edited in Feb. June page: C, with no edit
    time (pages show none): C is the latest, though only B has an edit time."""
    seen = keyed(sightings(
        {"source_file": "jan.json", "source_sha256": "a", "post_id": "A", "channel_numeric_id": 1, "message_id": 7,
         "captured_at": utc(2025, 1, 31)},
        {"source_file": "mar.json", "source_sha256": "b", "post_id": "B", "channel_numeric_id": 1, "message_id": 7,
         "edited_at": utc(2025, 2, 10), "captured_at": utc(2025, 3, 31)},
        {"source_file": "jun.html", "source_sha256": "c", "post_id": "C", "channel_numeric_id": 1, "message_id": 7,
         "channel_username": "chan", "captured_at": utc(2025, 6, 30), "views": 900},
        # a stale copy of the January text, its file time reset by a copy
        {"source_file": "old/capture.txt", "source_sha256": "d", "post_id": "A", "channel_given": "chan",
         "captured_at": utc(2026, 1, 1)},
    ))
    message = message_rows(seen).filter(pl.col("message_id") == 7).row(0, named=True)
    assert message["versions"] == ["A", "B", "C"] and message["post_id"] == "C"
    assert edit_pairs(message_rows(seen)).rows() == [("A", "B"), ("B", "C")]
    assert message["n_sightings"] == 4 and message["channel"] == "chan"


def test_channels_with_one_title_and_two_ids_stay_two():
    seen = keyed(sightings(
        {"source_file": "a.json", "source_sha256": "a", "post_id": "A", "channel_title": "News",
         "channel_numeric_id": 1, "message_id": 1},
        {"source_file": "b.json", "source_sha256": "b", "post_id": "B", "channel_title": "News",
         "channel_numeric_id": 2, "message_id": 1},
        # an HTML export (no id) of one of them shares its title: one channel by name
        {"source_file": "c/messages.html", "source_sha256": "c", "post_id": "C", "channel_title": "Other",
         "message_id": 1},
    ))
    assert sorted(seen["channel"].unique()) == ["News #1", "News #2", "Other"]
    assert message_rows(seen).height == 3


def test_a_folder_named_after_a_username_joins_it_whatever_the_case():
    seen = keyed(sightings(
        {"source_file": "Embassy_Test/capture.txt", "source_sha256": "a", "post_id": "A",
         "channel_given": "Embassy_Test"},
        {"source_file": "page.html", "source_sha256": "b", "post_id": "B", "channel_username": "embassy_test",
         "message_id": 3},
    ))
    assert seen["channel"].unique().to_list() == ["embassy_test"]


def test_the_pages_of_an_html_export_share_one_capture_time(prefect_api, tmp_path):
    out = tmp_path / "corpus"
    pages = sorted((ROOT / "tests" / "fixtures" / "desktop_export").glob("messages*.html"))
    run_flow(out, *pages)
    sources = read_table(out, "sources").sort("source_file")
    newest = read_table(out, "occurrences").select(pl.max_horizontal(pl.col("date").max(), pl.col("edited_at").max()))
    assert sources["captured_at"].to_list() == [newest.item()] * 2
