"""What makes a structured file, or one of its messages, unreadable: shared by the
three structured readers (JSON export, Desktop HTML export, saved t.me/s page).

A file over an input limit (`ReadLimits`, `Config.limits`) is rejected whole, with
the setting named, before any costly work. A message that is malformed is rejected
on its own: a reader gives each message a `problem` (found while building its row, by
raising `Malformed`) and `sort_out` adds the checks made column-wise in Polars, then
splits the rows into messages read and messages rejected.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

import polars as pl

from tasks.parsing.collapse_copies import count_value
from tasks.reading.read_source import NotADump

INT64_MAX = 2**63 - 1
# Columns a reader's raw rows carry beside RAW_SCHEMA until `sort_out` drops them.
CHECK_COLUMNS = {
    "raw_message_id": pl.Utf8,  # the id as the file gives it (a malformed one is no integer)
    "problem": pl.Utf8,         # why building the row failed; null: built
}
SHOWN_CHARS = 60  # of a bad value, in a reason


@dataclass(frozen=True)
class ReadLimits:
    """The input limits of the structured readers (exports, saved pages): far above
    anything real, so that one hostile file cannot exhaust the machine; a file over one
    is rejected, naming it (Config.limits)."""

    # JSON nesting: real exports nest 10 deep; each level costs the parser memory.
    max_json_depth: int = 64
    # One message's visible text, in characters: Telegram allows 4,096 (the longest in
    # the real exports: 4,072); a message over it is rejected on its own.
    max_message_chars: int = 100_000
    # HTML nesting: real pages nest 15 deep; the parser's time grows with its square.
    # The readers walk a message's elements recursively: keep it well under 900.
    max_html_depth: int = 256


class Malformed(ValueError):
    """One message cannot be read; the message is the reason."""


def shown(value) -> str:
    """A value as a reason quotes it: as the file gives it, cut short."""
    text = value if isinstance(value, str) else json.dumps(value, default=float, ensure_ascii=False)
    return repr(text[:SHOWN_CHARS] + ("..." if len(text) > SHOWN_CHARS else ""))


def as_id_text(value) -> str | None:
    """A message id as the file gives it, as text (a malformed one is no integer)."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=float, ensure_ascii=False)
    return text[:SHOWN_CHARS]


def integer(value, field: str, minimum: int = 0) -> int:
    """`value` as an integer Int64 holds, at least `minimum`; else Malformed."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise Malformed(f"{field} {shown(value)} is not an integer")
    if not minimum <= value <= INT64_MAX:
        raise Malformed(f"{field} {value} is out of range")
    return value


def integer_text(text: str, field: str) -> int:
    """Decimal digits as an integer Int64 holds; else Malformed."""
    if not text.isascii() or not text.isdigit():
        raise Malformed(f"{field} {shown(text)} is not a number")
    return integer(int(text), field)


# A count as pages show it ("17", "1.2K", "4,5M"); twelve digits at most, so that even
# "999999999999M" fits Int64 (no real count comes near).
COUNT = r"^\d{1,12}(?:[.,]\d{1,3})?[KM]?$"


def checked_count(text: pl.Expr) -> pl.Expr:
    """A count text → its value; null when absent or not a count (see count_problem)."""
    text = text.str.strip_chars()
    return count_value(pl.when(text.str.contains(COUNT)).then(text))


def count_problem(text: pl.Expr, field: str) -> pl.Expr:
    """A reason when a count text is given but is not a count."""
    text = text.str.strip_chars()
    return pl.when((text != "") & ~text.str.contains(COUNT)).then(
        pl.format(f"{field} '{{}}' is not a count", text.str.slice(0, SHOWN_CHARS))
    )


def reactions_problem(reactions: pl.Expr) -> pl.Expr:
    """A reason when a reaction's count text (List of {emoji, count text}) is not a count."""
    counts = reactions.list.eval(pl.element().struct.field("count").str.strip_chars())
    bad = counts.list.eval(pl.element().filter(~pl.element().str.contains(COUNT))).list.first()
    return pl.when(bad.is_not_null()).then(pl.format("reaction count '{}' is not a count", bad.str.slice(0, SHOWN_CHARS)))


def sort_out(raw: pl.DataFrame, limits: ReadLimits, checks: tuple[pl.Expr, ...] = ()) -> tuple[pl.DataFrame, list[dict]]:
    """Raw rows (RAW_SCHEMA with CHECK_COLUMNS) → (the rows of messages read, without
    CHECK_COLUMNS; one {position, message_id, reason} per message rejected). A message
    is rejected for its `problem`, the first of `checks` (reason expressions, null when
    fine) that fails, or a text over max_message_chars."""
    too_long = pl.when(pl.col("raw_text").str.len_chars() > limits.max_message_chars).then(
        pl.format(f"text of {{}} characters, over max_message_chars={limits.max_message_chars}",
                  pl.col("raw_text").str.len_chars())
    )
    judged = raw.with_columns(reason=pl.coalesce("problem", *checks, too_long))
    rejected = judged.filter(pl.col("reason").is_not_null()).select(
        "position", message_id="raw_message_id", reason="reason"
    )
    read = judged.filter(pl.col("reason").is_null()).drop(*CHECK_COLUMNS, "reason")
    return read, rejected.to_dicts()


# Elements a browser never nests in themselves (a new one closes the open one) or
# that hold no children: not counted. Text of comments and raw-text elements is no markup.
UNNESTED = ["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track",
            "wbr", "keygen", "basefont", "bgsound", "frame", "p", "li", "dt", "dd", "option", "optgroup", "tr",
            "td", "th", "tbody", "thead", "tfoot", "colgroup", "caption", "rb", "rt", "rtc", "rp", "html", "head",
            "body"]
# Inside these (SVG, MathML) a tag ending in "/>" closes itself; in HTML it does not.
FOREIGN = ["svg", "math"]
OPAQUE_START = re.compile(r"<!--|<(script|style|textarea|title|xmp|iframe|noembed|noframes|plaintext)\b", re.I)
TAG = r"<(/?)([A-Za-z][^\s/>]*)([^>]*)"  # "[^>]*" ends at the first '>': no backtracking


def check_html_depth(html: str, limit: int) -> None:
    """Raise NotADump when the elements of `html` nest deeper than `limit`.

    The HTML parser takes time quadratic in the depth (80,000 nested divs: 16 s), so
    the depth is estimated first, in linear time, from the tags alone: per tag name,
    opening tags count up and closing tags down (never below zero: a stray closing tag
    closes nothing); the depth is the sum over names. That is at least what a browser
    builds from well-formed pages like Telegram's."""
    if html.count("<") <= limit:
        return
    tags = pl.Series([_markup(html)]).str.extract_all(TAG).explode().drop_nulls()
    frame = pl.DataFrame({"tag": tags}).select(
        closing=pl.col("tag").str.starts_with("</"),
        name=pl.col("tag").str.extract(r"^</?([^\s/>]*)").str.to_lowercase(),
        self_closing=pl.col("tag").str.ends_with("/"),
    ).filter(~pl.col("name").is_in(UNNESTED))
    frame = frame.with_columns(step=pl.when(pl.col("closing")).then(-1).otherwise(1))
    if frame["name"].is_in(FOREIGN).any():
        frame = _with_foreign_steps(frame)
    opened = _open_of_name() - _open_of_name().shift(1, fill_value=0).over("name")
    deepest = frame.select(opened.cum_sum().max()).item()
    if deepest is not None and deepest > limit:
        raise NotADump(f"HTML nested deeper than max_html_depth={limit}")


def _with_foreign_steps(frame: pl.DataFrame) -> pl.DataFrame:
    """Steps where SVG or MathML is open: there a tag ending in "/>" closes itself."""
    closes_itself = pl.col("self_closing") & ~pl.col("closing")
    foreign = frame.with_columns(step=pl.when(closes_itself & pl.col("name").is_in(FOREIGN)).then(0).otherwise("step"))
    in_foreign = pl.sum_horizontal(
        pl.when(pl.col("name") == name).then(_open_of_name()).forward_fill().fill_null(0) for name in FOREIGN
    ) > 0
    return foreign.with_columns(step=pl.when(closes_itself & in_foreign).then(0).otherwise("step"))


def _open_of_name() -> pl.Expr:
    """Per row, how many elements of the row's tag name are open after it: the running
    sum of steps, never below zero (the running sum less its lowest point so far)."""
    running = pl.col("step").cum_sum().over("name")
    return running - pl.min_horizontal(running.cum_min().over("name"), 0)


def _markup(html: str) -> str:
    """`html` without comments and the content of raw-text elements (scripts, styles),
    whose '<' start no tag. Each search starts where the last ended: linear."""
    kept, position = [], 0
    while (start := OPAQUE_START.search(html, position)) is not None:
        kept.append(html[position:start.start()])
        if start.group(1) is None:
            end, closer_length = html.find("-->", start.end()), 3
        else:
            closer = re.compile(f"</{start.group(1)}", re.I).search(html, start.end())
            end, closer_length = (closer.start(), len(closer.group())) if closer else (-1, 0)
        position = len(html) if end < 0 else end + closer_length
    kept.append(html[position:])
    return "".join(kept)


def json_too_deep(limit: int) -> NotADump:
    return NotADump(f"JSON nested deeper than max_json_depth={limit}")
