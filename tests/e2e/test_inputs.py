"""Only regular files inside the input roots are read; what is not read is said once.

FIFOs, sockets and devices would block a run or never end; a link out of the inbox
would read a file the user never put there (/etc/passwd); a hidden folder is as hidden
as a hidden file; an --out inside the inbox must not be ingested as input.
"""
import os
import socket
from pathlib import Path

import pytest

from conftest import SEEDS, read_table, tgcorpus
from tasks.reading.batch_sources import batch_sources
from tasks.reading.discover_sources import discover_sources
from storage.store import Store


@pytest.fixture
def inbox(tmp_path) -> Path:
    inbox = tmp_path / "inbox"
    (inbox / ".hidden_folder").mkdir(parents=True)
    (inbox / "captures").mkdir()
    (inbox / "captures" / "page.txt").write_bytes(SEEDS[0].read_bytes())
    (inbox / ".hidden_folder" / "page.txt").write_bytes(SEEDS[1].read_bytes())
    (inbox / "stray.txt").write_text("no post structure here\n")
    (inbox / os.fsdecode(b"caf\xe9.txt")).write_bytes(SEEDS[1].read_bytes())  # a cp1252 name: not UTF-8
    os.mkfifo(inbox / "pipe.txt")
    (inbox / "passwd.txt").symlink_to("/etc/passwd")
    (inbox / "zeros.txt").symlink_to("/dev/zero")
    (inbox / "inside.txt").symlink_to(inbox / "captures" / "page.txt")
    outside = tmp_path / "elsewhere.txt"
    outside.write_bytes(SEEDS[1].read_bytes())
    (inbox / "elsewhere.txt").symlink_to(outside)
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(inbox / "socket.txt"))
    return inbox


def test_discovery_reads_only_regular_files_inside_the_root(inbox):
    found = {Path(s.name).name: s.skip_reason for s in discover_sources((str(inbox),))}
    assert set(found) == {"page.txt", "stray.txt", "caf\\xe9.txt", "pipe.txt", "passwd.txt", "zeros.txt", "inside.txt",
                          "elsewhere.txt", "socket.txt"}  # the hidden folder's page is not there
    assert found["page.txt"] is None and found["inside.txt"] is None and found["stray.txt"] is None
    assert found["caf\\xe9.txt"] is None  # read, its name's stray byte written as an escape
    assert found["pipe.txt"] == "not a regular file (a FIFO): never read"
    assert found["socket.txt"] == "not a regular file (a socket): never read"
    assert found["zeros.txt"] == "not a regular file (a character device): never read"
    assert found["passwd.txt"].startswith("a link to /etc/passwd, outside the input folder")
    assert found["elsewhere.txt"].startswith("a link to ") and "outside the input folder" in found["elsewhere.txt"]


def test_a_link_named_on_the_command_line_is_read(inbox):
    (source,) = discover_sources((str(inbox / "elsewhere.txt"),))
    assert source.skip_reason is None


def test_a_run_over_a_hostile_inbox_reads_only_its_captures_and_reruns_to_nothing_new(inbox):
    out = inbox / "corpus"  # inside the inbox: its files must never come back as input
    first = tgcorpus("run", str(inbox), "--out", str(out), timeout=180)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stdout + first.stderr
    status = {Path(r["source_file"]).name: (r["status"], r["error"])
              for r in read_table(out, "sources").iter_rows(named=True)}
    assert status["page.txt"] == ("ok", None) and status["inside.txt"][0] == "skipped"  # same content
    assert status["stray.txt"][0] == "rejected" and status["caf\\xe9.txt"] == ("ok", None)
    for name in ("pipe.txt", "socket.txt", "zeros.txt", "passwd.txt", "elsewhere.txt"):
        assert status[name][0] == "skipped" and status[name][1], name
    posts = read_table(out, "posts")
    assert posts.height == 11 + 13 - 1 and not posts["text"].str.contains("root:").any()
    snapshot = Store(out).current()
    second = tgcorpus("run", str(inbox), "--out", str(out), timeout=180)
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("nothing new"), second.stdout
    assert Store(out).current() == snapshot, "a rerun committed a snapshot"
    assert read_table(out, "sources").height == len(status)
    check = tgcorpus("validate", str(out))
    assert check.returncode == 0, check.stdout


def test_many_tiny_files_are_batched_by_count_as_well_as_by_size(tmp_path):
    for number in range(7):
        (tmp_path / f"{number}.txt").write_bytes(b"x" * (10 + number))
    sources = discover_sources((str(tmp_path),))
    by_count = batch_sources(sources, max_bytes=1 << 20, max_files=3)
    assert [[Path(s.name).name for s in batch] for batch in by_count] == [
        ["0.txt", "1.txt", "2.txt"], ["3.txt", "4.txt", "5.txt"], ["6.txt"]]
    by_size = batch_sources(sources, max_bytes=10 + 11 + 12, max_files=1000)  # 0-2 reach 33 bytes
    assert [len(batch) for batch in by_size] == [3, 3, 1]
