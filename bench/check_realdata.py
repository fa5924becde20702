"""Cross-check the tables against the source files they came from, read independently.

Runs `tgcorpus run FOLDER --out DIR` over a folder of real exports and saved pages
(such as ../shared/realdata), then reads every file of the folder again with readers of
its own (`json` for Desktop JSON exports; selectolax for the HTML, text rebuilt here
from the raw markup), none of them the pipeline's, and prints per file:

- messages: rows of `occurrences` for the file / messages in the file. A message is a
  JSON `type == "message"` (a single-chat export whatever the chat; a whole-account
  export only its public/private channels), a Desktop HTML `div.message.default`
  (joined ones included), a t.me `tgme_widget_message` with `data-post` that is not a
  `service_message`. Matched by message id: a missing or extra id is a mismatch.
- texts: messages whose text (occurrences joined to posts on post_id) equals the
  file's own flattening, over messages with text on either side. JSON: the
  `text_entities` texts concatenated, or the `text` string/list of older exports; a
  poll adds its question and one line per option. HTML: the visible text, white
  space runs folded, `<br>` and block elements as line breaks. Both sides normalised
  as the pipeline documents it: trailing white space trimmed per line, blank lines
  dropped, lines joined by "\\n". The first 2 mismatches are shown with a diff.
- reactions (total count per message), views and dates: messages where table and file
  agree / messages compared (both empty agrees). A JSON date without its
  `date_unixtime` (older exports) is local time with no zone, read as UTC (the
  pipeline's default without --export-tz).
- the file's status in `sources`, and its error or warning.

Exit status 1 when any file has a mismatch, else 0.

Usage: python bench/check_realdata.py FOLDER [--out DIR] [--keep]
(default --out: a temporary folder, removed at the end unless --keep)
"""
from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
from selectolax.lexbor import LexborHTMLParser, LexborNode

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT_CHAT_TYPES = {"public_channel", "private_channel"}
# white space a browser folds (not the no-break space, which it shows)
FOLDABLE_SPACE = re.compile(r"[ \t\n\r\f]+")
LINE_BREAK_TAGS = re.compile(
    r"<br\s*/?>|</?(?:div|p|blockquote|pre|li|ul|ol|h[1-6]|table|tr)\b[^>]*>", re.IGNORECASE)
INVISIBLE_ELEMENTS = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
TAG = re.compile(r"<[^>]+>")
COUNT = re.compile(r"([\d.]+)\s*([KM]?)\s*$", re.IGNORECASE)
SHOWN_MISMATCHES = 2


@dataclass
class Message:
    """One message as a source file shows it, or as the tables hold it."""
    message_id: int | None
    text: str | None
    reactions: int
    views: int | None
    date: datetime | None


def normalise(text: str | None) -> str | None:
    """The pipeline's documented text form: lines right-trimmed, blank lines dropped."""
    if text is None:
        return None
    lines = [line.rstrip() for line in text.split("\n")]
    joined = "\n".join(line for line in lines if line)
    return joined or None


def parse_count(shown: str) -> int | None:
    """The count ending `shown`: `1.2K` -> 1200, as Telegram abbreviates counts."""
    match = COUNT.search(shown)
    if not match:
        return None
    scale = {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
    return round(float(match.group(1)) * scale)


def visible_text(markup: str) -> str:
    """Text as a browser shows the markup: a line per `<br>` or block element, and
    each run of white space one space, across inline tags too (`a<b> </b> c` is `a c`)."""
    markup = INVISIBLE_ELEMENTS.sub("", markup)
    markup = LINE_BREAK_TAGS.sub("\0", markup)
    text = FOLDABLE_SPACE.sub(" ", TAG.sub("", markup)).replace("\0", "\n")
    # folded spaces at the start or end of a rendered line are not shown
    return "\n".join(html.unescape(line.strip(" ")) for line in text.split("\n"))


def outermost(nodes: list[LexborNode], css_class: str) -> list[LexborNode]:
    """Nodes not nested in another node of the same class (t.me nests text divs)."""
    def nested(node: LexborNode) -> bool:
        parent = node.parent
        while parent is not None:
            if css_class in (parent.attributes.get("class") or "").split():
                return True
            parent = parent.parent
        return False
    return [node for node in nodes if not nested(node)]


# --- JSON exports -------------------------------------------------------------------

def json_text(message: dict) -> str:
    if "text_entities" in message:
        text = "".join(entity["text"] for entity in message["text_entities"])
    elif isinstance(message.get("text"), list):
        text = "".join(part if isinstance(part, str) else part["text"] for part in message["text"])
    else:
        text = message.get("text") or ""
    poll = message.get("poll")
    if poll:
        text = "\n".join([text, poll.get("question") or "", *(answer["text"] for answer in poll.get("answers", []))])
    return text


def json_message(message: dict) -> Message:
    unixtime = message.get("date_unixtime")
    return Message(
        message_id=message["id"],
        text=normalise(json_text(message)),
        reactions=sum(reaction.get("count", 0) for reaction in message.get("reactions", [])),
        views=message.get("views"),
        date=datetime.fromtimestamp(int(unixtime), timezone.utc) if unixtime else json_local_date(message),
    )


def json_local_date(message: dict) -> datetime | None:
    """An older export's local `date` (no zone): the pipeline reads it as UTC unless
    --export-tz names the zone (this check runs without it)."""
    local = message.get("date")
    return datetime.fromisoformat(local).replace(tzinfo=timezone.utc) if local else None


def read_json_export(export: dict) -> list[Message]:
    if "messages" in export:  # one chat: read whatever its type
        chats = [export]
    else:  # a whole account: only channels
        chats = [chat for group in ("chats", "left_chats") for chat in export.get(group, {}).get("list", [])
                 if chat.get("type") in ACCOUNT_CHAT_TYPES]
    return [json_message(m) for chat in chats for m in chat.get("messages", []) if m.get("type") == "message"]


# --- Telegram Desktop HTML export ---------------------------------------------------

def desktop_date(title: str) -> datetime:
    """`01.12.2021 09:11:01 UTC+03:00` -> UTC datetime."""
    day, clock, zone = title.split()
    sign = 1 if zone[3] == "+" else -1
    hours, minutes = zone[4:].split(":")
    offset = timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))
    return datetime.strptime(f"{day} {clock}", "%d.%m.%Y %H:%M:%S").replace(tzinfo=offset).astimezone(timezone.utc)


def desktop_message(block: LexborNode) -> Message:
    lines = []
    poll = block.css_first("div.media_poll")
    if poll is not None:
        lines += [visible_text(question.html) for question in poll.css("div.question")]
        # the export writes each option as "- option"
        lines += [visible_text(answer.html).strip().removeprefix("- ") for answer in poll.css("div.answer")]
    # a forwarded message keeps its text inside `div.forwarded.body`: still the message's
    lines += [visible_text(node.html) for node in outermost(block.css("div.text"), "text")]
    date = block.css_first("div.pull_right.date.details")
    return Message(
        message_id=int(block.attributes["id"].removeprefix("message")),
        text=normalise("\n".join(lines)),
        reactions=sum(parse_count(count.text()) or 0 for count in block.css("span.reaction span.count")),
        views=None,  # the Desktop export does not show views
        date=desktop_date(date.attributes["title"]) if date is not None else None,
    )


def read_desktop_html(page: LexborHTMLParser) -> list[Message]:
    return [desktop_message(block) for block in page.css("div.message.default")]


# --- saved t.me/s pages and fragments -----------------------------------------------

def web_message(block: LexborNode) -> Message:
    lines = []
    poll = block.css_first(".tgme_widget_message_poll")
    if poll is not None:
        lines += [visible_text(question.html) for question in poll.css(".tgme_widget_message_poll_question")]
        lines += [visible_text(option.html) for option in poll.css(".tgme_widget_message_poll_option_text")]
    texts = outermost(block.css(".tgme_widget_message_text"), "tgme_widget_message_text")
    lines += [visible_text(node.html) for node in texts]
    views = block.css_first(".tgme_widget_message_views")
    time = block.css_first(".tgme_widget_message_date time")
    return Message(
        message_id=int(block.attributes["data-post"].rsplit("/", 1)[1]),
        text=normalise("\n".join(lines)),
        # a reaction shows its emoji, then its count
        reactions=sum(parse_count(r.text()) or 0 for r in block.css(".tgme_reaction")),
        views=parse_count(views.text()) if views is not None else None,
        date=datetime.fromisoformat(time.attributes["datetime"]).astimezone(timezone.utc) if time else None,
    )


def read_web_page(page: LexborHTMLParser) -> list[Message]:
    blocks = page.css(".tgme_widget_message[data-post]")
    return [web_message(b) for b in blocks if "service_message" not in b.attributes.get("class", "").split()]


def read_source(path: Path) -> list[Message]:
    """The file's messages; none when it is none of the three formats."""
    content = path.read_text(encoding="utf-8", errors="replace")
    if content.lstrip().startswith("{"):
        try:
            return read_json_export(json.loads(content))
        except json.JSONDecodeError:
            return []
    if "tgme_widget_message" in content:
        return read_web_page(LexborHTMLParser(content))
    if 'class="message ' in content and 'class="history"' in content:
        return read_desktop_html(LexborHTMLParser(content))
    return []


# --- the tables ---------------------------------------------------------------------

def run_pipeline(folder: Path, out: Path) -> None:
    command = [sys.executable, "-m", "tgcorpus.cli", "run", str(folder), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"tgcorpus run failed ({done.returncode}):\n{done.stderr[-3000:]}")


def relative_name(source_file: str, folder: Path) -> str:
    """`source_file` is as given to the run, relative to its working folder when possible."""
    return (ROOT / source_file).resolve().relative_to(folder.resolve()).as_posix()


def read_tables(out: Path, folder: Path) -> tuple[dict[str, list[Message]], dict[str, dict]]:
    occurrences = pl.read_parquet(out / "occurrences" / "**" / "*.parquet")
    posts = pl.read_parquet(out / "posts" / "**" / "*.parquet").select("post_id", "text")
    rows = (occurrences.join(posts, on="post_id", how="left")
            .with_columns(pl.col("reactions").list.eval(pl.element().struct.field("count")).list.sum())
            .sort("source_file", "position"))
    found: dict[str, list[Message]] = {}
    for row in rows.iter_rows(named=True):
        found.setdefault(relative_name(row["source_file"], folder), []).append(Message(
            row["message_id"], row["text"], row["reactions"] or 0, row["views"], row["date"]))
    sources = pl.read_parquet(out / "sources" / "**" / "*.parquet")
    statuses = {relative_name(row["source_file"], folder): row for row in sources.iter_rows(named=True)}
    return found, statuses


# --- comparison ---------------------------------------------------------------------

FIELDS = ("reactions", "views", "date")


@dataclass
class FileCheck:
    name: str
    status: str
    note: str
    found: int
    expected: int
    compared: int = 0  # messages in both, matched by id
    texts_equal: int = 0
    texts_compared: int = 0
    agreeing: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIELDS, 0))
    problems: list[str] = field(default_factory=list)


def text_diff(expected: str | None, found: str | None) -> str:
    """Where the two texts part: the line, and 60 characters around the first difference
    (repr, so that spaces show)."""
    expected_lines, found_lines = (expected or "").split("\n"), (found or "").split("\n")
    line = next((i for i, (a, b) in enumerate(zip(expected_lines, found_lines)) if a != b),
                min(len(expected_lines), len(found_lines)))
    want = expected_lines[line] if line < len(expected_lines) else "<no line>"
    got = found_lines[line] if line < len(found_lines) else "<no line>"
    start = max(0, len(os.path.commonprefix([want, got])) - 20)
    return (f"    line {line + 1} of {len(expected_lines)} in the file, {len(found_lines)} in the table\n"
            f"    file:  {want[start:start + 60]!r}\n    table: {got[start:start + 60]!r}")


def first_few(problems: list[str]) -> list[str]:
    more = len(problems) - SHOWN_MISMATCHES
    return problems[:SHOWN_MISMATCHES] + ([f"... and {more} more"] if more > 0 else [])


def check_file(name: str, expected: list[Message], found: list[Message], source: dict | None) -> FileCheck:
    status = source["status"] if source else "absent"
    note = (source["error"] or source["warning"] or "") if source else "not in sources"
    check = FileCheck(name, status, note, found=len(found), expected=len(expected))
    unmatched: dict[int | None, list[Message]] = {}
    for message in found:
        unmatched.setdefault(message.message_id, []).append(message)
    missing, text_problems, field_problems = [], [], []
    for want in expected:
        if not unmatched.get(want.message_id):
            missing.append(want.message_id)
            continue
        got = unmatched[want.message_id].pop(0)
        check.compared += 1
        got_text = normalise(got.text)
        if want.text is not None or got_text is not None:
            check.texts_compared += 1
            if got_text == want.text:
                check.texts_equal += 1
            else:
                text_problems.append(f"message {want.message_id}: text differs\n{text_diff(want.text, got_text)}")
        for field_name in FIELDS:
            if getattr(got, field_name) == getattr(want, field_name):
                check.agreeing[field_name] += 1
            else:
                field_problems.append(f"message {want.message_id}: {field_name} in file {getattr(want, field_name)},"
                                      f" in table {getattr(got, field_name)}")
    extra = [message.message_id for rest in unmatched.values() for message in rest]
    if missing:
        check.problems.append(f"{len(missing)} messages of the file not in occurrences: ids {missing[:10]}")
    if extra:
        check.problems.append(f"{len(extra)} occurrences not in the file: ids {extra[:10]}")
    check.problems += first_few(text_problems) + first_few(field_problems)
    return check


# --- report -------------------------------------------------------------------------

def ratio(part: int, whole: int) -> str:
    return f"{part}/{whole}"


def report_rows(checks: list[FileCheck]) -> list[list[str]]:
    header = ["file", "status", "messages", "texts", "reactions", "views", "dates", "mismatch", "note"]
    rows = [header]
    for check in checks:
        rows.append([check.name, check.status, ratio(check.found, check.expected),
                     ratio(check.texts_equal, check.texts_compared),
                     *(ratio(check.agreeing[name], check.compared) for name in FIELDS),
                     "MISMATCH" if check.problems else "-", check.note])
    def total(attribute: str) -> int:
        return sum(getattr(check, attribute) for check in checks)

    rows.append(["total", f"{sum(c.status == 'ok' for c in checks)} ok",
                 ratio(total("found"), total("expected")), ratio(total("texts_equal"), total("texts_compared")),
                 *(ratio(sum(c.agreeing[name] for c in checks), total("compared")) for name in FIELDS),
                 str(sum(bool(c.problems) for c in checks)), f"{len(checks)} files"])
    return rows


def print_report(checks: list[FileCheck]) -> None:
    rows = report_rows(checks)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for index, row in enumerate(rows):
        if index == len(rows) - 1:
            print("-" * (sum(widths) + 2 * len(widths)))
        cells = [cell.ljust(width) if i < 2 else cell.rjust(width) for i, (cell, width) in enumerate(zip(row, widths))]
        print("  ".join(cells) + "  " + row[-1])
    for check in checks:
        if check.problems:
            print(f"\n{check.name}:")
            for problem in check.problems:
                print(f"  {problem}")


def files_in(folder: Path) -> list[Path]:
    """Every file the run reads: recursively, hidden ones skipped."""
    return sorted(path for path in folder.rglob("*") if path.is_file()
                  and not any(part.startswith(".") for part in path.relative_to(folder).parts))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--out", type=Path, help="dataset folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary dataset folder")
    args = parser.parse_args()
    folder = args.folder.resolve()
    # the dataset is a link to a snapshot in a hidden sibling folder: a fresh parent
    # holds both, so removing it leaves nothing behind
    scratch = None if args.out else Path(tempfile.mkdtemp(prefix="check_realdata_"))
    # the run works from the repository, so a relative --out is made absolute here
    out = args.out.resolve() if args.out else scratch / "dataset"
    try:
        run_pipeline(folder, out)
        found, sources = read_tables(out, folder)
        names = {path: path.relative_to(folder).as_posix() for path in files_in(folder)}
        checks = [check_file(name, read_source(path), found.get(name, []), sources.get(name))
                  for path, name in names.items()]
        print_report(checks)
    finally:
        if scratch and not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
        elif scratch:
            print(f"dataset kept in {out}")
    return 1 if any(check.problems for check in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
