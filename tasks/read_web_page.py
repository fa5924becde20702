"""Read a saved `t.me/s/<channel>` page into post rows (same columns as the text path).

One post per `.tgme_widget_message[data-post="channel/123"]` block. The visible text
is rebuilt from the DOM: each <br> is a line break, raw newlines in the source are
only layout (the page is not white-space: pre), emoji images carry their character.
Pages are small (a scrolled page is a few MB), so the whole document is parsed.
"""
from __future__ import annotations

from pathlib import Path

import polars as pl
from selectolax.lexbor import LexborHTMLParser, LexborNode

from tasks.collapse_copies import count_value
from tasks.read_source import NotADump
from tasks.read_telegram_export import RAW_SCHEMA, posts_frame

POST = ".tgme_widget_message[data-post]"
# Media blocks, by CSS class, named like the JSON export's media_type where one exists.
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
            parts.append(child.text_content.replace("\r", "").replace("\n", " "))
        elif child.tag == "br":
            parts.append("\n")
    return "".join(parts)


def _inside(node: LexborNode, css_class: str, stop: LexborNode) -> bool:
    parent = node.parent
    while parent is not None and parent.mem_id != stop.mem_id:
        if css_class in (parent.attributes.get("class") or "").split():
            return True
        parent = parent.parent
    return False


def _message_text(block: LexborNode) -> LexborNode | None:
    """The post's own text, not the quoted text of the post it replies to."""
    return next(
        (n for n in block.css(".tgme_widget_message_text")
         if not _inside(n, "tgme_widget_message_reply", block)),
        None,
    )


def _media(block: LexborNode) -> str | None:
    # "Media is too big" and the like: the same words a text capture records.
    label = block.css_first(".message_media_not_supported_label")
    if label is not None and visible_text(label).strip():
        return visible_text(label).strip()
    for css_class, name in MEDIA_CLASSES:
        if block.css_first(f".{css_class}") is not None:
            return name
    return None


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
    text = visible_text(block.css_first(selector)).strip()
    return text or None


def read_web_page(path: Path, source_name: str) -> tuple[pl.DataFrame, dict]:
    """A saved t.me/s page → (one row per post with text, in page order; counts).

    Counts: messages (blocks), service, empty (no text), edited, posts.
    Raises NotADump when the file is not UTF-8 HTML with Telegram post blocks.
    """
    try:
        html = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise NotADump(f"not UTF-8: invalid byte at offset {err.start}") from None
    blocks = LexborHTMLParser(html).css(POST)
    if not blocks:
        raise NotADump("HTML without Telegram posts (no tgme_widget_message blocks)")
    rows, service, edited = [], 0, 0
    for block in blocks:
        if "service_message" in (block.attributes.get("class") or "").split():
            service += 1
            continue
        channel, _, number = (block.attributes.get("data-post") or "").rpartition("/")
        time = block.css_first(".tgme_widget_message_date time[datetime]") or block.css_first("time[datetime]")
        meta = _first_text(block, ".tgme_widget_message_meta") or ""
        edited += "edited" in meta.lower()
        media = _media(block)
        rows.append({
            "channel_username": channel or None,
            "message_id": int(number) if number.isdigit() else None,
            "date": time.attributes.get("datetime") if time is not None else None,
            "forwarded_from": _first_text(block, ".tgme_widget_message_forwarded_from_name"),
            "media_type": media,
            "media": media,
            "raw_text": visible_text(_message_text(block)),
            "reactions": _reactions(block),
            "views": _first_text(block, ".tgme_widget_message_views"),
        })
    as_text = {"date": pl.Utf8, "views": pl.Utf8,
               "reactions": pl.List(pl.Struct({"emoji": pl.Utf8, "count": pl.Utf8}))}
    schema = {name: as_text.get(name, dtype) for name, dtype in RAW_SCHEMA.items() if name != "edited_at"}
    reaction = pl.element()
    raw = pl.DataFrame(rows, schema=schema).with_columns(
        date=pl.col("date").str.to_datetime("%Y-%m-%dT%H:%M:%S%z", time_zone="UTC", time_unit="us", strict=False),
        edited_at=pl.lit(None, pl.Datetime("us", "UTC")),  # the page says "edited", not when
        reactions=pl.col("reactions").list.eval(pl.struct(
            emoji=reaction.struct.field("emoji"), count=count_value(reaction.struct.field("count"))
        )),
        views=count_value(pl.col("views")),
    ).select(list(RAW_SCHEMA))
    posts, empty = posts_frame(raw, source_name)
    counts = {"messages": len(blocks), "service": service, "empty": empty, "edited": edited,
              "posts": posts.height - empty}
    return posts, counts
