"""The reading dispatch: one source's format, content hash and whether it was ingested
before, then its reader (text capture: lines; JSON export, Desktop HTML export, saved
t.me/s page: occurrences)."""

from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import polars as pl

from schemas.tables import PARSED_COLUMNS
from tasks.reading.discover_sources import Source
from tasks.reading.detect_format import HEAD_BYTES, detect_format
from tasks.reading.read_source import NotADump, file_facts, read_source, reject_from_head, sha256_of_file
from tasks.reading.read_telegram_export import read_telegram_export
from tasks.reading.read_web_page import read_web_page
from tasks.reading.read_desktop_export import read_desktop_export
from flows.batches import SourceResult
from flows.config import Config
from storage.failpoints import failpoint

STRUCTURED_READERS = {
    "telegram_json": read_telegram_export,
    "web_html": read_web_page,
    "desktop_html": read_desktop_export,
}

@lru_cache(maxsize=4)
def _ingested(snapshot: Path | None) -> dict[str, list[str]]:
    """sha256 → the names under which the snapshot has recorded that content (ingested,
    rejected or skipped); None → the names recorded without content (never read)."""
    if snapshot is None:
        return {}
    recorded = pl.scan_parquet(snapshot / "sources" / "*.parquet")
    names = recorded.group_by("source_sha256").agg(pl.col("source_file").sort()).collect()
    return dict(names.iter_rows())


def _seen(result: SourceResult, snapshot: Path | None) -> bool:
    """Whether this content (for an entry never read: this name) was recorded before:
    then it is `unchanged` under the same name, `skipped` under another, and not
    recorded again."""
    seen_as = _ingested(snapshot).get(result.sha256, [])
    if result.source.name in seen_as:
        result.status, result.error = "unchanged", None
        return True
    if seen_as and result.sha256 is not None:
        result.status, result.error = "skipped", f"same content as {seen_as[0]}, recorded before"
        return True
    return False


def read_one(source: Source, snapshot: Path | None,
             config: Config) -> tuple[SourceResult, list[str] | pl.DataFrame | None]:
    """One source: its result and, when it is to be parsed, its lines (a text capture)
    or its occurrences (an export or saved page, which carry their messages whole)."""
    result = SourceResult(source)
    if source.skip_reason:
        result.status, result.error = "skipped", source.skip_reason
        _seen(result, snapshot)  # recorded once, not at every run
        return result, None
    failpoint(f"before-read:{source.path.name}")
    try:
        before = source.path.stat()
        with open(source.path, "rb") as handle:
            head = handle.read(HEAD_BYTES)
        file_format = result.file_format = detect_format(head)
        if file_format in STRUCTURED_READERS:
            result.sha256, result.bytes = sha256_of_file(source.path), before.st_size
        elif file_format is None:
            (result.sha256, result.n_lines), result.bytes = file_facts(source.path), before.st_size
            raise reject_from_head(head, result.sha256)
        else:
            text = read_source(source.path)
            result.sha256, result.bytes, result.n_lines = text.sha256, text.bytes, len(text.lines)
            result.warning = text.warning
        failpoint(f"mid-read:{source.path.name}")
        after = source.path.stat()
    except NotADump as err:
        result.status, result.error, result.sha256 = "rejected", str(err), err.sha256
        _seen(result, snapshot)  # a rejection is recorded once, not at every run
        return result, None
    except OSError as err:
        result.status, result.error = "retry", f"cannot read: {err.strerror or err}"
        return result, None
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        result.status, result.error = "retry", "file changed while being read (still being written?)"
        return result, None
    result.captured_at = datetime.fromtimestamp(after.st_mtime_ns // 1000 / 1e6, timezone.utc)
    if _seen(result, snapshot):
        return result, None
    if file_format not in STRUCTURED_READERS:
        return result, text.lines
    try:
        options = {"export_tz": config.export_tz} if file_format in ("desktop_html", "telegram_json") else {}
        occurrences, counts = STRUCTURED_READERS[file_format](
            source.path, source.name, limits=config.limits, **options
        )
    except NotADump as err:
        result.status, result.error = "rejected", str(err)
        return result, None
    result.not_posts = {kind: counts[kind] for kind in ("service", "empty")}
    result.n_posts = counts["posts"]
    result.warning = "; ".join(counts.get("warnings", [])) or None
    result.rejected_messages = counts["rejected"]
    if occurrences.height == 0:
        result.status, result.error = "rejected", _no_messages(counts)
        return result, None
    newest = occurrences.select(pl.max_horizontal(pl.col("date").max(), pl.col("edited_at").max())).item()
    result.captured_at = newest or result.captured_at
    given = config.channel
    if given and occurrences.select(pl.struct("channel_title", "channel_numeric_id").n_unique()).item() > 1:
        given = None  # one name cannot name every channel of an account export
        result.warning = "; ".join(filter(None, [result.warning, "--channel not applied: the export holds several chats"]))
    return result, occurrences.with_columns(
        channel_given=pl.lit(given, pl.Utf8), source_sha256=pl.lit(result.sha256)
    ).select(list(PARSED_COLUMNS))


def _no_messages(counts: dict) -> str:
    if counts["rejected"]:
        first = counts["rejected"][0]
        return (f"all {len(counts['rejected'])} messages malformed: the first, id {first['message_id']!r}: "
                f"{first['reason']}")
    service = f" ({counts['service']} service messages)" if counts.get("service") else ""
    return f"no messages to ingest{service}"
