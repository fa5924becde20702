"""Read a saved `t.me/s/<channel>` page into post rows (same columns as the text path).

One row per `.tgme_widget_message[data-post="channel/123"]` block. The visible text
is rebuilt from the DOM as a browser shows it (the page is not white-space: pre): runs
of white space in the source (indentation, raw newlines) are one space, each <br> is
a line break, a line's edge spaces are trimmed, emoji images carry their character,
<script>/<style> are not text. Pages are small (a scrolled page is a few MB), so the
whole document is parsed. A page holding only service messages gives zero rows.
"""
from __future__ import annotations

from pathlib import Path

import re
from urllib.parse import unquote

import polars as pl
from selectolax.lexbor import LexborHTMLParser, LexborNode

from tasks.reading.malformed import (
    CHECK_COLUMNS, Malformed, ReadLimits, check_html_depth, checked_count, count_problem, integer_text,
    reactions_problem, sort_out,
)
from tasks.reading.read_source import NotADump
from tasks.reading.read_telegram_export import RAW_SCHEMA, posts_frame

POST = ".tgme_widget_message[data-post]"
REPLY_LINK = re.compile(r"t\.me/(?:s/)?[^/?#]+/(\d+)")
HTML_SPACE = re.compile(r"[ \t\n\r\f]+")  # what a browser folds; a no-break space stays
# Media blocks, by CSS class, named as MEDIA_TYPES names them.
MEDIA_CLASSES = (
    ("tgme_widget_message_video_player", "video_file"),
    ("tgme_widget_message_roundvideo_player", "video_message"),
    ("tgme_widget_message_voice_player", "voice_message"),
    ("tgme_widget_message_audio_player", "audio_file"),
    ("tgme_widget_message_sticker_wrap", "sticker"),
    ("tgme_widget_message_photo_wrap", "photo"),
    ("tgme_widget_message_document_wrap", "file"),
    ("tgme_widget_message_poll", "poll"),
    ("tgme_widget_message_location_wrap", "location"),
)


def visible_text(node: LexborNode | None) -> str:
    if node is None:
        return ""
    parts = []
    for child in node.traverse(include_text=True):
        if child.tag == "-text":
            parts.append(HTML_SPACE.sub(" ", child.text_content))
        elif child.tag == "br":
            parts.append("\n")
    lines = (HTML_SPACE.sub(" ", line).strip(" ") for line in "".join(parts).split("\n"))
    return "\n".join(lines)


def _inside(node: LexborNode, css_class: str, stop: LexborNode) -> bool:
    parent = node.parent
    while parent is not None and parent.mem_id != stop.mem_id:
        if css_class in (parent.attributes.get("class") or "").split():
            return True
        parent = parent.parent
    return False


def _message_text(block: LexborNode) -> LexborNode | None:
    """The post's own text, not the quoted text of the post it replies to."""
    return next(iter(_own(block, ".tgme_widget_message_text")), None)


def _own(block: LexborNode, selector: str) -> list[LexborNode]:
    """The block's nodes matching selector, leaving out the quoted post it replies to."""
    return [n for n in block.css(selector) if not _inside(n, "tgme_widget_message_reply", block)]


def _media(block: LexborNode) -> tuple[str | None, str | None]:
    """(media_type, media). The kind of the first media block (an album shows this
    message's own item first); "Media is too big" and the like keep their sentence in
    `media` (the words a text capture records), the kind being unknown if not shown."""
    kinds = dict(MEDIA_CLASSES)
    media_type = next(
        (kinds[c] for node in _own(block, ", ".join(f".{c}" for c in kinds))
         for c in (node.attributes.get("class") or "").split() if c in kinds),
        None,
    )
    label = next((text for n in _own(block, ".message_media_not_supported_label") if (text := visible_text(n))), None)
    if label is not None:
        return media_type or "unknown", label
    return media_type, media_type


def _text_and_poll(block: LexborNode) -> str:
    """The post's own text; a poll reads as its question, then one option a line."""
    text = visible_text(_message_text(block))
    poll = [visible_text(n) for n in _own(block, ".tgme_widget_message_poll_question, "
                                                 ".tgme_widget_message_poll_option_text")]
    return "\n".join(filter(None, [text, *poll]))


def _text_links(block: LexborNode) -> tuple[list[str], list[str], list[str]]:
    """(links, mentions, hashtags) marked in the post's text, in order, once each. The
    page marks a hashtag as a search link (?q=%23tag) and a mention as a t.me link
    showing @name; neither is a link target, nor is an e-mail address."""
    links, mentions, hashtags = [], [], []
    text = _message_text(block)
    for anchor in text.css("a[href]") if text is not None else ():
        href, shown = anchor.attributes.get("href") or "", visible_text(anchor)
        if href.startswith("?q="):
            if unquote(href[3:]).startswith("#"):
                hashtags.append(shown)
        elif shown.startswith("@") and href.rstrip("/").lower().endswith("/" + shown[1:].lower()):
            mentions.append(shown)
        elif not href.startswith("mailto:"):
            links.append(href)
    return [list(dict.fromkeys(found)) for found in (links, mentions, hashtags)]


def _reactions(block: LexborNode) -> list[dict]:
    """(emoji, count text) per reaction; custom emoji and paid stars have no emoji."""
    reactions = []
    for reaction in block.css(".tgme_widget_message_reactions .tgme_reaction"):
        custom = reaction.css_first("tg-emoji") is not None or "tgme_reaction_paid" in (
            reaction.attributes.get("class") or ""
        )
        icons = reaction.css("i.emoji, tg-emoji, b")
        emoji = visible_text(icons[0]).strip() if icons and not custom else ""
        count = visible_text(reaction)
        for icon in icons:  # the count is what is left once the emoji are taken out
            count = count.replace(visible_text(icon), "", 1)
        reactions.append({"emoji": emoji or None, "count": count.strip()})
    return reactions


def _first_text(block: LexborNode, selector: str) -> str | None:
    return next((text for n in _own(block, selector) if (text := visible_text(n))), None)


def _reply_to(block: LexborNode) -> int | None:
    reply = block.css_first("a.tgme_widget_message_reply[href]")
    found = REPLY_LINK.search(reply.attributes.get("href") or "") if reply is not None else None
    return integer_text(found.group(1), "reply target") if found else None


def read_web_page(path: Path, source_name: str, limits: ReadLimits = ReadLimits()) -> tuple[pl.DataFrame, dict]:
    """A saved t.me/s page → (one row per message, in page order; counts).

    Counts: messages (blocks), service, empty (no text), edited, posts, rejected (one
    {position, message_id, reason} per malformed message). A page holding only service
    messages ("Channel created") is no error: zero rows, counted. Raises NotADump when
    the file is not UTF-8 HTML with Telegram post blocks, or nests deeper than
    limits.max_html_depth.

    A message is malformed, and rejected alone, when the number of its `data-post`
    ("channel/123") is not a number of Int64, its reply link's target is out of Int64,
    its view count or a reaction count is not a count ("17", "1.2K", "4,5M"; at most
    twelve digits), or its text is longer than limits.max_message_chars. A `datetime`
    that is no date leaves the date null; missing parts are null.
    """
    try:
        html = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise NotADump(f"not UTF-8: invalid byte at offset {err.start}") from None
    check_html_depth(html, limits.max_html_depth)
    document = LexborHTMLParser(html)
    document.strip_tags(["script", "style"])  # their content is never text
    blocks = document.css(POST)
    if not blocks:
        raise NotADump("HTML without Telegram posts (no tgme_widget_message blocks)")
    page_title = _first_text(document.root, ".tgme_channel_info_header_title") if document.root else None
    rows, service, edited = [], 0, 0
    for block in blocks:
        if "service_message" in (block.attributes.get("class") or "").split():
            service += 1
            continue
        channel, _, number = (block.attributes.get("data-post") or "").rpartition("/")
        edited += "edited" in (_first_text(block, ".tgme_widget_message_meta") or "").lower()
        row = {"position": len(rows), "raw_message_id": number}
        try:
            row |= _message_row(block, channel, number, page_title)
        except Malformed as err:
            row["problem"] = str(err)
        rows.append(row)
    as_text = {"date": pl.Utf8, "views": pl.Utf8,
               "reactions": pl.List(pl.Struct({"emoji": pl.Utf8, "count": pl.Utf8}))}
    schema = {**{name: as_text.get(name, dtype) for name, dtype in RAW_SCHEMA.items() if name != "edited_at"},
              **CHECK_COLUMNS}
    raw, rejected = sort_out(pl.DataFrame(rows, schema=schema), limits,
                             (count_problem(pl.col("views"), "views"), reactions_problem(pl.col("reactions"))))
    reaction = pl.element()
    raw = raw.with_columns(
        date=pl.col("date").str.to_datetime("%Y-%m-%dT%H:%M:%S%z", time_zone="UTC", time_unit="us", strict=False),
        edited_at=pl.lit(None, pl.Datetime("us", "UTC")),  # the page says "edited", not when
        reactions=pl.col("reactions").list.eval(pl.struct(
            emoji=reaction.struct.field("emoji"), count=checked_count(reaction.struct.field("count"))
        )),
        views=checked_count(pl.col("views")),
    ).select(list(RAW_SCHEMA))
    posts, empty = posts_frame(raw, source_name)
    counts = {"messages": len(blocks), "service": service, "empty": empty, "edited": edited,
              "posts": posts.height - empty, "rejected": rejected}
    return posts, counts


def _message_row(block: LexborNode, channel: str, number: str, page_title: str | None) -> dict:
    time = block.css_first(".tgme_widget_message_date time[datetime]") or block.css_first("time[datetime]")
    media_type, media = _media(block)
    links, mentions, hashtags = _text_links(block)
    return {
        "channel_title": _first_text(block, ".tgme_widget_message_owner_name") or page_title,
        "channel_username": channel or None,
        "message_id": integer_text(number, "id"),
        "date": time.attributes.get("datetime") if time is not None else None,
        "forwarded_from": _first_text(block, ".tgme_widget_message_forwarded_from_name"),
        "reply_to_message_id": _reply_to(block),
        "author": _first_text(block, ".tgme_widget_message_from_author"),
        "media_type": media_type,
        "media": media,
        "raw_text": _text_and_poll(block),
        "entity_hashtags": hashtags,
        "links": links,
        "mentions": mentions,
        "reactions": _reactions(block),
        "views": _first_text(block, ".tgme_widget_message_views"),
    }
