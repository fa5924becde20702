"""Messages and channels made incrementally: a run reads only the stored sightings its
own can change, commits only the rows they change, and the tables (and the identity
index) come out as one run over everything makes them, however inputs are split."""
import itertools
import shutil

import polars as pl
import pytest

from channel import CAPTURE, EARLY, EVERYTHING, LATE, PAGE, canonical, sightings
from conftest import read_table, run_flow, tgcorpus, utc, validate_with_first_row_changed
from flows import sightings as sightings_stage
from schemas.tables import IDENTITY_INDEX, SHARED_INDEX
from tasks.messages.track_messages import (
    channel_keys, identity_channels, identity_rows, own_messages, updated_identities,
)
from storage.store import Store
from tgcorpus.synth import synthesize

SPLITS = {
    # text captures before any export: capture-only rows, replaced once ids are known
    "capture first": [[CAPTURE], [EARLY, LATE, PAGE]],
    # message 101 edited between runs; the channel's identities (title and id, username,
    # folder) in every run
    "edit across runs": [[EARLY, CAPTURE], [PAGE], [LATE]],
    "newest first": [[LATE], [PAGE, CAPTURE], [EARLY]],
}


@pytest.fixture(scope="module")
def one_run(prefect_api, tmp_path_factory):
    out = tmp_path_factory.mktemp("one") / "corpus"
    run_flow(out, *EVERYTHING)
    return out


def index(out, name: str) -> pl.DataFrame:
    frame = read_table(out, name)
    return frame.sort(frame.columns, nulls_last=True)


@pytest.mark.slow  # runs the flow more than once: 6-7 s
@pytest.mark.parametrize("split", SPLITS, ids=list(SPLITS))
def test_runs_in_any_split_equal_one_run(prefect_api, one_run, tmp_path, split):
    out = tmp_path / "corpus"
    for inputs in SPLITS[split]:
        run_flow(out, *inputs)
    for table in ("messages", "channels"):
        assert canonical(out, table).equals(canonical(one_run, table)), table
    edits = [canonical(o, "relations").filter(pl.col("kind") == "edit") for o in (out, one_run)]
    assert edits[0].height and edits[0].equals(edits[1])
    # These splits are not in capture order (the capture's time is its file's: now): a
    # post stored by an earlier run makes a later sighting a duplicate (see
    # mark_duplicates), and a cluster (and a near-duplicate pair's direction) follows
    # the order posts were first seen in. Everything else is as one run makes it.
    for table, by_run_order in (("occurrences", "is_duplicate"), ("posts", "cluster_id")):
        assert canonical(out, table).drop(by_run_order).equals(canonical(one_run, table).drop(by_run_order)), table
    for name in (IDENTITY_INDEX, SHARED_INDEX):
        assert index(out, name).equals(index(one_run, name)), name


def test_channel_keys_from_the_index_equal_those_of_every_sighting():
    """An identity with one own message shared with another is its channel; once it has
    two of which it shares one, it is not (the threshold is the smaller count): the
    index must follow both ways, in every split of the sightings into two runs."""
    rows = sightings(
        {"source_file": "a.json", "source_sha256": "a", "post_id": "P1", "channel_title": "A", "message_id": 1,
         "captured_at": utc(2025, 1, 1)},
        {"source_file": "b.html", "source_sha256": "b", "post_id": "P1", "channel_username": "bee", "message_id": 1,
         "captured_at": utc(2025, 2, 1)},
        {"source_file": "c.json", "source_sha256": "c", "post_id": "P2", "channel_title": "A", "message_id": 2,
         "captured_at": utc(2025, 3, 1)},
        {"source_file": "d.html", "source_sha256": "d", "post_id": "P3", "channel_username": "cee", "message_id": 5,
         "captured_at": utc(2025, 4, 1)},
        {"source_file": "e.json", "source_sha256": "e", "post_id": "P3", "channel_title": "C", "message_id": 5,
         "channel_numeric_id": 9, "captured_at": utc(2025, 5, 1)},
    )
    expected = channel_keys(rows).sort("channel_title", "channel_username", nulls_last=True)
    for size in range(rows.height + 1):
        for first in itertools.combinations(range(rows.height), size):
            before = rows[list(first)]
            after = rows.filter(~pl.int_range(pl.len()).is_in(list(first)))
            stored, pairs = identity_rows(before)
            stored_own = own_messages(before).join(own_messages(after).select("message_id", "post_id"),
                                                   on=["message_id", "post_id"], how="semi")
            identities, pairs = updated_identities(stored, pairs, after, stored_own)
            whole, whole_pairs = identity_rows(rows)
            assert identities.sort("identity").equals(whole.sort("identity").select(identities.columns)), first
            assert pairs.sort("identity", "identity_b").equals(whole_pairs.sort("identity", "identity_b")), first
            keys = identity_channels(identities, pairs).drop("identity")
            assert keys.sort("channel_title", "channel_username", nulls_last=True).equals(expected), first


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("generated")
    synthesize(folder, posts=300, seed=5, files=4)
    (folder / "gold.jsonl").unlink()
    return folder


@pytest.mark.slow  # runs the flow more than once: 6-7 s
def test_a_run_reads_only_the_stored_sightings_it_can_change(prefect_api, generated, tmp_path, monkeypatch):
    """Three files stored, then the fourth and a capture overlapping the first: the run
    reads the stored sightings of its own texts only (the posts it repeats), and leaves
    the stored messages it did not sight as they were."""
    out = tmp_path / "corpus"
    run_flow(out, *[generated / f"dump_000{i}.txt" for i in range(3)], channel="gen")
    stored = read_table(out, "occurrences")
    messages_before = read_table(out, "messages")
    lines = (generated / "dump_0000.txt").read_text(encoding="utf-8").split("\n")
    again = tmp_path / "inbox" / "again.txt"
    again.parent.mkdir()
    again.write_text("\n".join(lines[: len(lines) // 3]), encoding="utf-8")
    read = []

    def counting(store, **values):
        rows = reading(store, **values)
        read.append(rows)
        return rows

    reading = sightings_stage._read_occurrences
    monkeypatch.setattr(sightings_stage, "_read_occurrences", counting)
    run_flow(out, generated / "dump_0003.txt", again, channel="gen")
    new = read_table(out, "occurrences").filter(pl.col("run_id") == pl.col("run_id").max())
    rows = pl.concat(read)
    assert rows.height and rows.unique(["source_file", "source_sha256", "position"]).height < stored.height / 10
    assert rows["post_id"].is_in(new["post_id"].implode()).all()
    repeated = stored.filter(pl.col("post_id").is_in(new["post_id"].implode()))
    assert repeated.height and rows.unique(["source_file", "position"]).height == repeated.height
    # The messages of the stored files the run did not sight are the stored rows, as they were.
    messages = read_table(out, "messages")
    untouched = messages_before.filter(~pl.col("post_id").is_in(new["post_id"].implode()))
    assert untouched.join(messages, on=untouched.columns, how="anti", nulls_equal=True).height == 0
    assert messages.height == messages_before.height + new["post_id"].n_unique() - repeated["post_id"].n_unique()


@pytest.mark.slow
def test_a_dataset_without_the_identity_index_gets_it_once(prefect_api, one_run, tmp_path, capfd):
    out = tmp_path / "corpus"
    run_flow(out, EARLY, CAPTURE)
    for name in (IDENTITY_INDEX, SHARED_INDEX):  # as the version before the index wrote it
        shutil.rmtree(Store(out).current() / name)
    stored = read_table(out, "occurrences").height
    capfd.readouterr()
    run_flow(out, PAGE, LATE)
    assert f"building the channel identity index of {stored} stored sightings (once)" in capfd.readouterr().err
    for table in ("messages", "channels"):
        assert canonical(out, table).equals(canonical(one_run, table)), table
    for name in (IDENTITY_INDEX, SHARED_INDEX):
        assert index(out, name).equals(index(one_run, name)), name
    assert tgcorpus("validate", str(out)).returncode == 0


def test_validate_checks_the_identity_index(one_run, tmp_path):
    check = validate_with_first_row_changed(one_run, tmp_path / "corpus", IDENTITY_INDEX, channel="nowhere", n_own=-1)
    assert check.returncode == 1
    assert f"{IDENTITY_INDEX}: 1 channel not in channels, e.g. nowhere" in check.stdout
    assert f"table '{IDENTITY_INDEX}' failed validation:\n  column 'n_own'" in check.stdout


def test_deleting_every_row_of_a_table_keeps_its_schema(tmp_path):
    store = Store(tmp_path / "corpus")
    store.check_writable()
    rows = pl.DataFrame({"key": ["a", "b"], "value": [1, 2]})
    store.commit({"t": rows}, "r1", rows_per_file=1)
    store.commit({"t": rows.head(0)}, "r2", rows_per_file=1, deleted={"t": [(["key"], rows.select("key"))]})
    assert read_table(store.out, "t").schema == rows.schema and read_table(store.out, "t").height == 0
    store.commit({"t": rows.head(1)}, "r3", rows_per_file=1, deleted={"t": [(["key"], rows.head(1).select("key"))]})
    assert read_table(store.out, "t").rows() == [("a", 1)]


@pytest.mark.slow
def test_rows_of_an_earlier_version_keep_their_identity_when_renamed(prefect_api, tmp_path):
    """Occurrences written before channels had identities count their stored key as
    the name given; once renamed (a page shows the username of the capture's folder,
    in another case) they keep that name, so later runs find them in the index."""
    folder = tmp_path / "inbox" / "Embassy_Test"
    folder.mkdir(parents=True)
    capture = folder / CAPTURE.name
    shutil.copy2(CAPTURE, capture)
    one = tmp_path / "one"
    run_flow(one, capture, PAGE, LATE)
    out = tmp_path / "corpus"
    run_flow(out, capture)
    snapshot = Store(out).current()
    for path in (snapshot / "occurrences").glob("*.parquet"):  # the earlier version's rows
        old = pl.read_parquet(path).drop("channel_given", "channel_username", "channel_title", "channel_numeric_id")
        path.unlink()
        old.write_parquet(path)
    for name in ("messages", "channels", IDENTITY_INDEX, SHARED_INDEX):
        shutil.rmtree(snapshot / name)
    run_flow(out, PAGE)
    run_flow(out, LATE)
    for table in ("messages", "channels"):
        assert canonical(out, table).equals(canonical(one, table)), table
    assert read_table(out, "messages")["channel"].unique().to_list() == ["embassy_test"]
    assert tgcorpus("validate", str(out)).returncode == 0
