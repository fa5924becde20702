"""Read one dump file into a table of lines, or say why it is not a dump.

Lines follow Python's universal-newline rule (\\r\\n, \\r and \\n all end a line); a
trailing newline ends the last line rather than starting an empty one. A UTF-8
byte-order mark is dropped and trailing white space is trimmed from every line.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import polars as pl

# Bytes we look at to tell text from binary: a NUL in the first 8 KiB means binary.
SNIFF_BYTES = 8192
# A few invalid bytes in a UTF-8 dump (a capture glitch) are replaced and reported;
# more than this share of the characters means the file is in another encoding.
MAX_INVALID_SHARE = 0.001


class NotADump(Exception):
    """The file cannot be read as a text dump; the message is the user-facing reason."""

    def __init__(self, reason: str, sha256: str | None = None):
        super().__init__(reason)
        self.sha256 = sha256  # of the rejected content, when it was read


def sha256_of_file(path: Path) -> str:
    return file_facts(path)[0]


def file_facts(path: Path) -> tuple[str, int]:
    """sha256 and number of lines (ended by LF; a last line without one counts) of a
    file, read in blocks: a large file costs no memory."""
    digest, newlines, last = hashlib.sha256(), 0, b"\n"
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            newlines += block.count(b"\n")
            last = block[-1:]
    return digest.hexdigest(), newlines + (last != b"\n")


def reject_from_head(head: bytes, sha256: str) -> NotADump:
    """Why a file that is no capture of any kind is rejected, told from its first bytes
    (it may be a large data file that is not worth reading whole)."""
    try:
        decode_dump(head)
    except NotADump as err:
        return NotADump(str(err), sha256)
    return NotADump("not a text capture, Telegram Desktop export or saved t.me page", sha256)


@dataclass(frozen=True)
class SourceText:
    sha256: str
    bytes: int
    lines: list[str]
    warning: str | None = None


def decode_dump(data: bytes) -> tuple[list[str], str | None]:
    """The file's lines, and a warning when invalid bytes had to be replaced."""
    if not data:
        raise NotADump("empty file")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise NotADump("UTF-16 text; save the capture as UTF-8")
    if b"\x00" in data[:SNIFF_BYTES]:
        raise NotADump("binary file (NUL bytes), not a text dump")
    warning = None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        text = data.decode("utf-8-sig", errors="replace")
        replaced = text.count("\ufffd")
        where = f"invalid byte 0x{data[err.start]:02x} at offset {err.start}"
        if replaced > max(2, len(text) * MAX_INVALID_SHARE):
            raise NotADump(f"not UTF-8 (another encoding, such as cp1251?): {where}") from None
        warning = f"{replaced} invalid UTF-8 sequence(s) replaced by U+FFFD, the first: {where}"
    if not text.strip():
        raise NotADump("no text (only white space)")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.endswith("\n"):
        text = text[:-1]
    return [line.rstrip() for line in text.split("\n")], warning


def read_source(path: Path) -> SourceText:
    """Raises NotADump (bad content) or OSError (cannot read)."""
    data = path.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        lines, warning = decode_dump(data)
        return SourceText(sha256=sha256, bytes=len(data), lines=lines, warning=warning)
    except NotADump as err:
        raise NotADump(str(err), sha256) from None


def lines_frame(source_file: str, lines: list[str]) -> pl.DataFrame:
    return files_lines_frame([(source_file, lines)])


def files_lines_frame(files: list[tuple[str, list[str]]]) -> pl.DataFrame:
    """The lines of many files as one table, built at once: a frame per file costs more
    than a small file's lines, and a batch may hold thousands of them."""
    counts = pl.Series([len(lines) for _, lines in files], dtype=pl.Int64)
    return pl.DataFrame(
        {
            "source_file": pl.Series([name for name, _ in files], dtype=pl.Utf8).gather(
                pl.int_range(len(files), eager=True).repeat_by(counts).explode().drop_nulls()
            ),
            "text": pl.Series([line for _, lines in files for line in lines], dtype=pl.Utf8),
        }
    ).select(
        "source_file",
        line_no=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("source_file"),
        text="text",
    )
