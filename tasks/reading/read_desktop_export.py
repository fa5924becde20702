"""Read one page of a Telegram Desktop HTML export (`messages.html`, `messages2.html`, ...).

Telegram Desktop writes a chat as pages of up to 1,000 messages, each a whole HTML
document: `div.page_header .text` holds the chat's name, then `div.history` holds the
messages in order, with "Previous messages" / "Next messages" links
(`a.pagination`) to the neighbouring pages. A message is
`div.message.default#message123`; a "joined" one (`.joined`: same sender, shortly
after) has no from_name header. `div.message.service` holds a service message
(`#message5`: "channel created", "pinned ...") or a date header (`#message-1`: a
negative id, not a message at all). Inside a message's `div.body`:

- `div.pull_right.date.details[title]`: "05.06.2025 12:30:00 UTC+03:00"; older
  exports write the exporting computer's local time with no zone.
- `div.forwarded.body`: a forward; its `div.from_name` is the original sender (with a
  `span.date` beside it) and it holds the forwarded text and media. A forward joined
  to the previous one from the same sender shows no name.
- `div.reply_to a[href]`: "#go_to_message123" or "messages2.html#go_to_message123".
- `div.media_wrap`: the media, as a generic box (`div.media.media_photo`,
  `.media_video`, `.media_voice_message`, ... with a title such as "Video message"),
  as a thumbnail when the file was downloaded (`a.photo_wrap`, `a.sticker_wrap`, ...)
  or as a poll (`div.media_poll`: question, then `div.answer` "- option").
- `div.text`: the text, HTML-escaped, a `<br>` per line break; entities are tags
  (links `<a href>`, mentions `<a href="https://t.me/name">@name</a>`, hashtags
  `<a onclick="return ShowHashtag(...)">`, custom emoji `<a href="stickers/...">😀</a>`).
  The source is indented for layout: only the browser's rendering counts.
- `div.signature.details`: the post author's signature.
- `span.reactions > span.reaction` (`.paid` for stars): `span.emoji`, `span.count`.

No channel username, numeric id, view count or edit time is shown. Each page is
read on its own: one page is one source file.
"""
from __future__ import annotations

import re
from pathlib import Path

import polars as pl
from selectolax.lexbor import LexborHTMLParser, LexborNode

from tasks.reading.malformed import (
    CHECK_COLUMNS, Malformed, ReadLimits, check_html_depth, checked_count, integer_text, reactions_problem, sort_out,
)
from tasks.reading.read_source import NotADump
from tasks.reading.read_telegram_export import RAW_SCHEMA, check_time_zone, local_to_utc, posts_frame

# Media the writer draws with its own markup (a thumbnail of a downloaded file, a poll).
MEDIA_MARKUP = (
    ("photo_wrap", "photo"), ("sticker_wrap", "sticker"), ("animated_wrap", "animation"),
    ("video_file_wrap", "video_file"), ("media_poll", "poll"),
)
# Generic media boxes: the `media_<kind>` class names the kind ...
MEDIA_BOX_CLASSES = {
    "media_voice_message": "voice_message", "media_audio_file": "audio_file", "media_file": "file",
    "media_contact": "contact", "media_location": "location", "media_live_location": "location",
    "media_venue": "location", "media_game": "game", "media_invoice": "invoice",
}
# ... except photo and video boxes, which also stand for stickers, animations and round
# videos whose file was not downloaded: their title tells them apart.
MEDIA_BOX_TITLES = {
    "Photo": "photo", "Self-destructing photo": "photo", "Sticker": "sticker",
    "Video file": "video_file", "Self-destructing video": "video_file",
    "Animation": "animation", "Video message": "video_message",
}
# Tags a browser shows as a block of their own lines (Telegram's blockquote and pre).
BLOCK_TAGS = frozenset({"blockquote", "pre", "div", "p"})
# HTML white space; a no-break space is text and stays.
HTML_SPACE = re.compile(r"[ \t\n\r\f]+")
SPACE_RUN = re.compile(r" {2,}")
REPLY_TARGET = re.compile(r"go_to_message(\d+)")
DATE_TITLE = re.compile(r"^\s*(\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}:\d{2})(?: UTC([+-]\d{2}:\d{2}))?\s*$")
VIA_BOT = re.compile(r" via @\w+$")
ZONELESS_WARNING = (
    "dates have no time zone (an older export writes the exporting computer's local time) "
    "and were read as UTC; --export-tz names the zone, e.g. --export-tz Europe/Moscow"
)


def rendered_text(node: LexborNode | None) -> str:
    """The text a browser shows for `node`: <br> and block elements break lines, runs of
    white space (source newlines and indentation included) show as one space, and
    lines carry no white space at either end."""
    if node is None:
        return ""
    parts: list[str] = []
    _render(node, parts)
    # Runs also form across tags ("<b>word </b> next"): collapse once the line is whole.
    lines = "".join(parts).split("\n")
    return "\n".join(SPACE_RUN.sub(" ", line).strip(" ") for line in lines).strip("\n")


def _render(node: LexborNode, parts: list[str]) -> None:
    for child in node.iter(include_text=True):
        if child.tag == "-text":
            parts.append(HTML_SPACE.sub(" ", child.text_content))
        elif child.tag == "br":
            parts.append("\n")
        elif child.tag in BLOCK_TAGS:
            parts.append("\n")
            _render(child, parts)
            parts.append("\n")
        else:
            _render(child, parts)


def _own_text(node: LexborNode) -> str:
    """The node's own text nodes, not its child elements' (a name beside a date span)."""
    own = "".join(child.text_content for child in node.iter(include_text=True) if child.tag == "-text")
    return HTML_SPACE.sub(" ", own).strip(" ")


def _classes(node: LexborNode) -> list[str]:
    return (node.attributes.get("class") or "").split()


def _media(block: LexborNode) -> str | None:
    wrap = block.css_first("div.media_wrap")
    if wrap is None:
        return None
    for css_class, kind in MEDIA_MARKUP:
        if wrap.css_first(f".{css_class}") is not None:
            return kind
    box = wrap.css_first(".media")
    classes = _classes(box) if box is not None else []
    for css_class in classes:
        if css_class in MEDIA_BOX_CLASSES:
            return MEDIA_BOX_CLASSES[css_class]
    if "media_photo" in classes or "media_video" in classes:
        return MEDIA_BOX_TITLES.get(rendered_text(box.css_first(".title")), "unknown")
    return "unknown"


def _poll_text(block: LexborNode) -> str:
    """The question, then one option a line (without the "- " bullet and vote counts)."""
    poll = block.css_first("div.media_poll")
    if poll is None:
        return ""
    options = [_own_text(answer).removeprefix("-").strip(" ") for answer in poll.css("div.answer")]
    return "\n".join([rendered_text(poll.css_first("div.question")), *options])


def _entities(text: LexborNode | None) -> tuple[list[str], list[str], list[str] | None]:
    """(link targets, @mentions, hashtags or None when none is marked), each once."""
    links, mentions, hashtags = {}, {}, {}
    for anchor in text.css("a") if text is not None else ():
        href = anchor.attributes.get("href") or ""
        shown = rendered_text(anchor)
        if (anchor.attributes.get("onclick") or "").startswith("return ShowHashtag("):
            hashtags[shown] = None
        elif href.lower().startswith(("http://", "https://")):
            # A mention is a link to t.me/<name> shown as @<name>.
            if shown.startswith("@") and href.rstrip("/").rsplit("/", 1)[-1].lower() == shown[1:].lower():
                mentions[shown] = None
            else:
                links[href] = None
    return list(links), list(mentions), list(hashtags) or None


def _reactions(block: LexborNode) -> list[dict]:
    """(emoji, count text) per reaction; paid stars and custom emoji (shown as an image
    or a link, not a character) have no emoji, as in the JSON export."""
    reactions = []
    for reaction in block.css("span.reactions > span.reaction"):
        emoji = reaction.css_first("span.emoji")
        custom = emoji is None or any(child.tag != "-text" for child in emoji.iter(include_text=True))
        reactions.append({
            "emoji": None if custom or "paid" in _classes(reaction) else rendered_text(emoji) or None,
            "count": rendered_text(reaction.css_first("span.count")),
        })
    return reactions


def _forwarded_from(block: LexborNode, previous: dict | None) -> str | None:
    forwarded = block.css_first("div.forwarded.body")
    if forwarded is None:
        return None
    name = forwarded.css_first("div.from_name")
    if name is None:  # joined to the forward before it, from the same sender
        return previous.get("forwarded_from") if previous else None
    return VIA_BOT.sub("", _own_text(name)) or None


def _reply_to(block: LexborNode) -> int | None:
    link = block.css_first("div.reply_to a[href]")
    found = REPLY_TARGET.search(link.attributes.get("href") or "") if link is not None else None
    return integer_text(found.group(1), "reply target") if found else None


def _message_row(block: LexborNode, previous: dict | None) -> dict:
    text = block.css_first("div.text")
    links, mentions, hashtags = _entities(text)
    media = _media(block)
    raw_text = "\n".join(part for part in (_poll_text(block), rendered_text(text)) if part)
    date = block.css_first("div.pull_right.date.details")
    signature = rendered_text(block.css_first("div.signature"))
    return {
        "message_id": integer_text(_id_text(block) or "", "id"),
        "date": date.attributes.get("title") if date is not None else None,
        "forwarded_from": _forwarded_from(block, previous),
        "reply_to_message_id": _reply_to(block),
        "author": signature or None,
        "media_type": media,
        "media": media,
        "raw_text": raw_text,
        "entity_hashtags": hashtags,
        "links": links,
        "mentions": mentions,
        "reactions": _reactions(block),
    }


def _id_text(block: LexborNode) -> str | None:
    """The message id as the page gives it: its `id` attribute without "message"."""
    return (block.attributes.get("id") or "").removeprefix("message") or None


def _utc_dates(titles: pl.Expr, export_tz: str | None) -> pl.Expr:
    """Date titles → UTC. A title with "UTC+03:00" is exact; a zone-less one is local
    time in `export_tz` (UTC when not given)."""
    local = titles.str.extract(DATE_TITLE.pattern, 1)
    offset = titles.str.extract(DATE_TITLE.pattern, 2)
    zoned = pl.concat_str(local, pl.lit(" "), offset).str.to_datetime(
        "%d.%m.%Y %H:%M:%S %z", time_zone="UTC", time_unit="us", strict=False
    )
    zoneless = local_to_utc(local.str.to_datetime("%d.%m.%Y %H:%M:%S", time_unit="us", strict=False), export_tz)
    return pl.when(offset.is_not_null()).then(zoned).otherwise(zoneless)


def _has_zoneless_dates(titles: pl.Series) -> bool:
    parts = titles.str.extract_groups(DATE_TITLE.pattern).struct.unnest()
    return bool((parts[:, 0].is_not_null() & parts[:, 1].is_null()).any())


def _page_warnings(tree: LexborHTMLParser, path: Path) -> list[str]:
    """A warning per neighbour page that the page links to and is not beside it."""
    warnings = []
    for link in tree.css("a.pagination[href]"):
        target = (link.attributes.get("href") or "").split("#")[0]
        label = rendered_text(link).lower()
        side = "previous" if "previous" in label else "next" if "next" in label else "linked"
        if target and not (path.parent / target).exists():
            warnings.append(f"{side} page {target} is missing: its messages are not in this export")
    return warnings


def _parse(path: Path, max_depth: int) -> LexborHTMLParser:
    try:
        html = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise NotADump(f"not UTF-8: invalid byte at offset {err.start}") from None
    check_html_depth(html, max_depth)
    tree = LexborHTMLParser(html)
    if tree.css_first("div.history") is None:
        if tree.css_first("div.page_wrap div.page_header") is not None:
            raise NotADump("Telegram Desktop export page without a message history (a list or summary page)")
        raise NotADump("HTML that is not a Telegram Desktop export page (no div.history of messages)")
    return tree


def read_desktop_export(path: Path, source_name: str, export_tz: str | None = None,
                        limits: ReadLimits = ReadLimits()) -> tuple[pl.DataFrame, dict]:
    """One Desktop export page → (one row per message, in page order; counts).

    Counts: messages (div.message.default blocks), service (service messages; date
    headers are not counted), empty (no text), posts, rejected (one {position,
    message_id, reason} per malformed message), warnings (one-line strings).
    `export_tz` (an IANA name) is the zone of zone-less dates; an unknown one raises
    ValueError. Raises NotADump when the file is not such a page, or nests deeper than
    limits.max_html_depth.

    A message is malformed, and rejected alone, when its `id` attribute is not
    "message<number>" (Int64), its reply link's target is out of Int64, a reaction
    count is not a count, or its text is longer than limits.max_message_chars. A date
    title that is no date leaves the date null (with a warning); missing parts (text,
    media, signature) are null.
    """
    check_time_zone(export_tz)
    tree = _parse(path, limits.max_html_depth)
    rows: list[dict] = []
    service = 0
    for block in tree.css("div.history > div.message"):
        classes = _classes(block)
        if "service" in classes:
            service += not (block.attributes.get("id") or "").startswith("message-")
        elif "default" in classes:
            row = {"position": len(rows), "raw_message_id": _id_text(block)}
            try:
                row |= _message_row(block, rows[-1] if rows else None)
            except Malformed as err:
                row["problem"] = str(err)
            rows.append(row)
    title = rendered_text(tree.css_first("div.page_header .text")) or None
    as_text = {"date": pl.Utf8, "reactions": pl.List(pl.Struct({"emoji": pl.Utf8, "count": pl.Utf8}))}
    schema = {**{name: as_text.get(name, dtype) for name, dtype in RAW_SCHEMA.items()}, **CHECK_COLUMNS}
    raw, rejected = sort_out(pl.DataFrame(rows, schema=schema), limits, (reactions_problem(pl.col("reactions")),))
    warnings = _page_warnings(tree, path)
    if export_tz is None and _has_zoneless_dates(raw["date"]):
        warnings.append(ZONELESS_WARNING)
    reaction = pl.element()
    raw = raw.with_columns(
        channel_title=pl.lit(title, pl.Utf8),
        date=_utc_dates(pl.col("date"), export_tz),
        reactions=pl.col("reactions").list.eval(pl.struct(
            emoji=reaction.struct.field("emoji"), count=checked_count(reaction.struct.field("count"))
        )),
    )
    unreadable = raw["date"].null_count()
    if unreadable:
        warnings.append(f"{unreadable} messages have no readable date")
    posts, empty = posts_frame(raw, source_name)
    counts = {"messages": len(rows), "service": service, "empty": empty, "posts": posts.height - empty,
              "rejected": rejected, "warnings": warnings}
    return posts, counts
