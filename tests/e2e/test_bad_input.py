"""Bad input never crashes a run or loses a good post; each case has a clear outcome."""
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from conftest import ROOT, SEEDS, read_table, shared_api, tgcorpus

SEED_000, SEED_001 = (p.read_bytes() for p in SEEDS)


@pytest.fixture(scope="module")
def bad_inbox_run(tmp_path_factory):
    inbox = tmp_path_factory.mktemp("inbox")
    (inbox / "empty.txt").write_bytes(b"")
    (inbox / "binary.txt").write_bytes(bytes(range(256)) * 4)
    (inbox / "cp1251.txt").write_bytes(SEED_001.decode().encode("cp1251", errors="replace"))
    (inbox / "utf16.txt").write_bytes(SEED_000.decode().encode("utf-16"))
    # Two invalid bytes inside a body line of the first copy only.
    lines = SEED_000.split(b"\n")
    lines[2] = lines[2][:20] + b"\xff\xfe" + lines[2][20:]
    (inbox / "glitch.txt").write_bytes(b"\n".join(lines))
    # A post whose body is one 25 MB line (doubled, as a capture shows it).
    (inbox / "long_line.txt").write_bytes(b"Title\n" + (b"word " * 5_000_000 + b"\n") * 2)
    # The page ends inside the last post's second copy.
    (inbox / "truncated.txt").write_bytes(b"\n".join(SEED_001.split(b"\n")[:315]))
    (inbox / "loop_a.txt").symlink_to(inbox / "loop_b.txt")
    (inbox / "loop_b.txt").symlink_to(inbox / "loop_a.txt")
    out = tmp_path_factory.mktemp("out") / "corpus"
    result = tgcorpus("run", str(inbox), "--out", str(out), "--channel", "mid")
    return result, out


def status_of(out: Path) -> dict[str, tuple]:
    sources = read_table(out, "sources")
    return {Path(r["source_file"]).name: (r["status"], r["error"], r["warning"]) for r in sources.iter_rows(named=True)}


def test_the_run_completes_and_says_what_happened(bad_inbox_run):
    result, _ = bad_inbox_run
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "retry        " in result.stdout and "loop_a.txt: cannot read: Too many levels of symbolic links" in result.stdout
    assert "warning      " in result.stdout


def test_each_bad_file_has_its_reason(bad_inbox_run):
    _, out = bad_inbox_run
    status = status_of(out)
    assert status["empty.txt"] == ("rejected", "empty file", None)
    assert status["binary.txt"] == ("rejected", "binary file (NUL bytes), not a text dump", None)
    assert status["cp1251.txt"][:2] == ("rejected", "not UTF-8 (another encoding, such as cp1251?): invalid byte 0xcc at offset 15")
    assert status["utf16.txt"] == ("rejected", "UTF-16 text; save the capture as UTF-8", None)
    assert status["glitch.txt"][:2] == ("ok", None)
    assert status["glitch.txt"][2].startswith("2 invalid UTF-8 sequence(s) replaced by U+FFFD, the first: invalid byte 0xff at offset")
    # Link loops could come right later: they are reported, not recorded.
    assert "loop_a.txt" not in status and "loop_b.txt" not in status


def test_no_good_post_is_lost(bad_inbox_run):
    _, out = bad_inbox_run
    occurrences = read_table(out, "occurrences").with_columns(file=pl.col("source_file").str.split("/").list.last())
    posts = read_table(out, "posts")
    glitch = occurrences.filter(pl.col("file") == "glitch.txt").join(posts, on="post_id")
    assert glitch.height == 11
    assert not glitch["text"].str.contains("\ufffd").any(), "the clean copy of the line wins"
    truncated = occurrences.filter(pl.col("file") == "truncated.txt").sort("position")
    assert truncated.height == 13 and truncated["truncated"].to_list() == [False] * 12 + [True]
    assert truncated["line_end"][-1] == 315
    long_post = occurrences.filter(pl.col("file") == "long_line.txt").join(posts, on="post_id")
    assert long_post["n_chars"].to_list() == [len("Title\n") + 24_999_999]
    assert tgcorpus("validate", str(out)).returncode == 0


def run_with_failpoint(args, point, resume: Path, mischief) -> subprocess.CompletedProcess:
    """Run until the failpoint, do the mischief, let the run go on; its result."""
    env = {**os.environ, **shared_api(), "TGCORPUS_FAILPOINT": point, "TGCORPUS_FAILPOINT_RESUME": str(resume)}
    process = subprocess.Popen([str(Path(sys.executable).with_name("tgcorpus")), *args], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    for line in process.stderr:
        if line.strip() == f"failpoint {point}":
            break
    mischief()
    resume.touch()
    stdout, _ = process.communicate(timeout=300)
    return subprocess.CompletedProcess(args, process.returncode, stdout, "")


def test_a_file_that_vanishes_before_it_is_read_is_retried_later(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.txt").write_bytes(SEED_000)
    (inbox / "b.txt").write_bytes(SEED_001)
    out = tmp_path / "corpus"
    result = run_with_failpoint(["run", str(inbox), "--out", str(out)], "before-read:b.txt",
                                tmp_path / "resume", lambda: (inbox / "b.txt").unlink())
    assert result.returncode == 0
    assert "b.txt: cannot read: No such file or directory" in result.stdout
    assert list(status_of(out)) == ["a.txt"]


def test_a_file_still_being_written_is_retried_later(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    growing = inbox / "growing.txt"
    growing.write_bytes(b"\n".join(SEED_001.split(b"\n")[:200]))

    def append():
        with open(growing, "ab") as handle:
            handle.write(b"\n" + b"\n".join(SEED_001.split(b"\n")[200:]))

    out = tmp_path / "corpus"
    result = run_with_failpoint(["run", str(inbox), "--out", str(out)], "mid-read:growing.txt", tmp_path / "resume", append)
    assert result.returncode == 0
    assert "growing.txt: file changed while being read (still being written?)" in result.stdout
    # A file to retry is not recorded: nothing new, no dataset made.
    assert result.stdout.startswith("nothing new (1 files: 1 retry)")
    assert not out.exists()
    again = tgcorpus("run", str(inbox), "--out", str(out))
    assert again.returncode == 0 and "posts        12 new" in again.stdout


def test_an_unreadable_file_is_reported(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "ok.txt").write_bytes(SEED_000)
    (inbox / "secret.txt").write_bytes(SEED_001)
    (inbox / "secret.txt").chmod(0o000)
    # Root reads any file: run without the capabilities that let it.
    command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
               str(Path(sys.executable).with_name("tgcorpus")), "run", str(inbox), "--out", str(tmp_path / "corpus")]
    result = subprocess.run(command, cwd=ROOT, env={**os.environ, **shared_api()}, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert "secret.txt: cannot read: Permission denied" in result.stdout
    assert "posts        11 new" in result.stdout


@pytest.mark.parametrize("data, lines", [(b"a\nb\n", 2), (b"a\nb", 2), (b"", 0), (b"\n\n", 2), (b"x" * (3 << 20), 1)])
def test_a_file_that_is_no_capture_is_hashed_and_counted_without_reading_it_whole(tmp_path, data, lines):
    """Large data files beside the dumps (a gold.jsonl of 1 GB) are rejected from their
    head; their hash and line count come from a read in blocks."""
    import hashlib

    from tasks.reading.read_source import file_facts, reject_from_head

    path = tmp_path / "data.jsonl"
    path.write_bytes(data)
    assert file_facts(path) == (hashlib.sha256(data).hexdigest(), lines)
    reason = str(reject_from_head(data[:8192], "x"))
    assert reason == ("empty file" if not data else
                      "no text (only white space)" if not data.strip() else
                      "not a text capture, Telegram Desktop export or saved t.me page")
