"""Read a Telegram Desktop JSON export (`result.json`) into post rows.

Two shapes: one chat (`{"name", "type", "id", "messages": [...]}`) or a whole account
(`{"personal_information", "contacts", ..., "chats": {"list": [...]},
"left_chats": {"list": [...]}}`). Only channels become posts: in an account export
the other chats are private conversations, so they are counted and never parsed.
Channels left by the user (`left_chats`) are channels all the same.

Exports run to hundreds of MB, so the file is streamed with ijson: one message is
held as a dict at a time, and rows are moved into Polars every `CHUNK_ROWS` messages.
`posts_frame` turns raw rows into the same columns and post_id as the text path;
`read_web_page` shares it.
"""
from __future__ import annotations

from pathlib import Path

import ijson
import polars as pl

from tasks.collapse_copies import REACTION, post_ids
from tasks.entities import hashtags_of
from tasks.read_source import NotADump

CHANNEL_TYPES = frozenset({"public_channel", "private_channel"})
CHAT_PREFIXES = ("", "chats.list.item", "left_chats.list.item")
CHUNK_ROWS = 5_000
ID_BATCH = 5_000  # post_ids turns its input into Python strings: feed it slices

# The message fields a row needs; the rest (text_entities, buttons, ...) is skipped
# unbuilt. text_entities is the same text again, read only when `text` is missing.
MESSAGE_KEYS = frozenset({
    "id", "type", "date_unixtime", "edited_unixtime", "forwarded_from", "text",
    "text_entities", "reactions", "views", "media_type", "photo", "file", "poll",
    "location_information", "contact_information", "game_title", "invoice_information",
})
# Media without a media_type, by the field that marks it (first match wins).
MEDIA_FIELDS = (
    ("photo", "photo"), ("file", "file"), ("poll", "poll"),
    ("location_information", "location"), ("contact_information", "contact"),
    ("game_title", "game"), ("invoice_information", "invoice"),
)

# The one vocabulary of media kinds, whatever the format (named as Telegram Desktop's
# JSON export names them); "unknown" is media whose kind the source does not show.
MEDIA_TYPES = (
    "photo", "video_file", "video_message", "voice_message", "audio_file", "animation", "sticker",
    "file", "poll", "location", "contact", "game", "invoice", "unknown",
)
LINKS = pl.List(pl.Utf8)

# One row per message, as every structured reader (JSON export, Desktop HTML export,
# saved t.me/s page) hands it to `posts_frame`. What a format does not carry is null.
RAW_SCHEMA = {
    "channel_title": pl.Utf8,        # the channel's display name
    "channel_username": pl.Utf8,     # t.me/<username>, when the source shows it
    "channel_numeric_id": pl.Int64,  # Telegram's id of the channel, when the source shows it
    "message_id": pl.Int64,
    "date": pl.Datetime("us", "UTC"),
    "edited_at": pl.Datetime("us", "UTC"),
    "forwarded_from": pl.Utf8,
    "forwarded_from_id": pl.Int64,   # numeric id of the channel or user forwarded from
    "reply_to_message_id": pl.Int64,
    "author": pl.Utf8,               # the post author's signature
    "media_type": pl.Utf8,           # one of MEDIA_TYPES
    "media": pl.Utf8,                # as shown: a placeholder sentence, else media_type
    "raw_text": pl.Utf8,             # the visible text (a poll: question, then one option a line)
    "entity_hashtags": LINKS,        # hashtags as the source's entities mark them; null: none marked
    "links": LINKS,                  # link targets (URLs, text_link hrefs), in order, each once
    "mentions": LINKS,               # @usernames, in order, each once
    "reactions": pl.List(REACTION),
    "views": pl.Int64,
}
# The occurrence columns every reader produces, in order. A message without text
# (media only) has null post_id, title and text: it is a message, not a post.
OUTPUT_SCHEMA = {
    "source_file": pl.Utf8,
    "position": pl.Int64,
    "line_start": pl.Int64,
    "line_end": pl.Int64,
    "post_id": pl.Utf8,
    "channel": pl.Utf8,
    "channel_title": pl.Utf8,
    "channel_username": pl.Utf8,
    "channel_numeric_id": pl.Int64,
    "message_id": pl.Int64,
    "date": pl.Datetime("us", "UTC"),
    "edited_at": pl.Datetime("us", "UTC"),
    "forwarded_from": pl.Utf8,
    "forwarded_from_id": pl.Int64,
    "reply_to_message_id": pl.Int64,
    "author": pl.Utf8,
    "media_type": pl.Utf8,
    "media": pl.Utf8,
    "title": pl.Utf8,
    "text": pl.Utf8,
    "hashtags": pl.List(pl.Utf8),
    "links": LINKS,
    "mentions": LINKS,
    "reactions": pl.List(REACTION),
    "views": pl.Int64,
    "truncated": pl.Boolean,
}


def posts_frame(raw: pl.DataFrame, source_name: str) -> tuple[pl.DataFrame, int]:
    """Raw message rows (RAW_SCHEMA) → occurrence rows (OUTPUT_SCHEMA), one per message,
    and the number of messages without text (media only: null post_id, title, text).

    Text as the text path builds it: non-blank lines, trailing white space removed,
    joined by '\\n' (a capture has no blank or padded lines to tell apart).
    """
    lines = pl.col("raw_text").fill_null("").str.replace_all(r"\r\n?", "\n").str.split("\n")
    kept_lines = lines.list.eval(pl.element().str.strip_chars_end()).list.eval(
        pl.element().filter(pl.element() != "")
    )
    texts = raw.with_columns(text=kept_lines.list.join("\n")).with_columns(
        text=pl.when(pl.col("text") != "").then(pl.col("text"))
    )
    with_text = texts.filter(pl.col("text").is_not_null())
    ids = pl.Series("post_id", [None] * texts.height, dtype=pl.Utf8)
    if with_text.height:
        ids = ids.scatter(texts.with_row_index("i").filter(pl.col("text").is_not_null())["i"],
                          _post_ids(with_text["text"]))
    posts = texts.with_columns(
        source_file=pl.lit(source_name, pl.Utf8),
        position=pl.int_range(pl.len(), dtype=pl.Int64),
        line_start=pl.lit(None, pl.Int64),
        line_end=pl.lit(None, pl.Int64),
        post_id=ids,
        channel=pl.coalesce("channel_username", "channel_title"),
        title=pl.col("text").str.split("\n").list.first(),
        hashtags=pl.coalesce("entity_hashtags", hashtags_of(pl.col("text"))).list.unique(maintain_order=True),
        links=pl.col("links").fill_null(pl.lit([], LINKS)),
        mentions=pl.col("mentions").fill_null(pl.lit([], LINKS)),
        truncated=pl.lit(False),
    )
    output = posts.select(pl.col(name).cast(dtype) for name, dtype in OUTPUT_SCHEMA.items())
    return output, texts.height - with_text.height


def _post_ids(texts: pl.Series) -> pl.Series:
    slices = [post_ids(texts.slice(start, ID_BATCH)) for start in range(0, len(texts), ID_BATCH)]
    return pl.concat(slices) if slices else post_ids(texts)


def flat_text(text) -> str:
    """`text` (a string, or strings mixed with entity objects) → the visible text."""
    if isinstance(text, str):
        return text
    return "".join(part if isinstance(part, str) else str(part.get("text", "")) for part in text or ())


def _media(message: dict) -> str | None:
    if message.get("media_type"):
        return str(message["media_type"])
    return next((label for field, label in MEDIA_FIELDS if field in message), None)


def _reactions(message: dict) -> list[dict]:
    # Custom emoji and paid stars have no character (a web capture shows a bare count).
    return [
        {"emoji": r.get("emoji") if r.get("type") == "emoji" else None, "count": int(r.get("count", 0))}
        for r in message.get("reactions") or ()
    ]


def _seconds(value) -> int | None:
    return int(value) if value not in (None, "") else None


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


MESSAGE_ARRAYS = {_join(chat, "messages"): chat for chat in CHAT_PREFIXES}
MESSAGE_PREFIXES = {_join(chat, "messages.item"): chat for chat in CHAT_PREFIXES}
CHAT_FIELDS = {_join(chat, key): (chat, key) for chat in CHAT_PREFIXES for key in ("name", "type")}


class _Chat:
    def __init__(self) -> None:
        self.name: str | None = None
        self.type: str | None = None
        self.has_messages = False
        self.counts = {"messages": 0, "service": 0}
        self.rows: list[pl.DataFrame] = []

    @property
    def is_channel(self) -> bool | None:
        return None if self.type is None else self.type in CHANNEL_TYPES


class _Rows:
    """Column lists of raw rows, flushed to a DataFrame every CHUNK_ROWS messages."""

    def __init__(self) -> None:
        self.columns: dict[str, list] = {}
        self.clear()

    def clear(self) -> None:
        self.columns = {name: [] for name in RAW_SCHEMA}

    def add(self, message: dict) -> None:
        text = message.get("text")
        if text is None:
            text = message.get("text_entities")
        media = _media(message)
        values = {
            "message_id": message.get("id"),
            "date": _seconds(message.get("date_unixtime")),
            "edited_at": _seconds(message.get("edited_unixtime")),
            "forwarded_from": message.get("forwarded_from"),
            "media_type": media,
            "media": media,
            "raw_text": flat_text(text),
            "reactions": _reactions(message),
            "views": message.get("views"),
        }
        for name, column in self.columns.items():
            column.append(values.get(name))

    def __len__(self) -> int:
        return len(self.columns["message_id"])

    def flush(self) -> pl.DataFrame:
        seconds = {"date", "edited_at"}
        frame = pl.DataFrame(
            self.columns,
            schema={n: pl.Int64 if n in seconds else t for n, t in RAW_SCHEMA.items()},
        ).with_columns(
            pl.from_epoch(pl.col(n), time_unit="s").dt.replace_time_zone("UTC")
            for n in seconds
        )
        self.clear()
        return frame


def _stream_chats(events) -> list[_Chat]:
    """Walk the parse events once; every object at a chat prefix is a candidate chat."""
    chats: list[_Chat] = []
    open_chats: dict[str, _Chat] = {}
    rows, builder, message_prefix, skipping, chat = _Rows(), None, None, False, None
    for prefix, event, value in events:
        if builder is not None:  # inside a message: build only the fields we need
            if prefix == message_prefix:
                if event == "map_key":
                    skipping = value not in MESSAGE_KEYS or (value == "text_entities" and "text" in builder.value)
                    if skipping:
                        continue
                elif event == "end_map":
                    message = builder.value
                    builder = None
                    chat.counts["messages"] += 1
                    if message.get("type") == "service":
                        chat.counts["service"] += 1
                    else:
                        rows.add(message)
                        if len(rows) >= CHUNK_ROWS:
                            chat.rows.append(rows.flush())
                    continue
            elif skipping:
                continue
            builder.event(event, value)
        elif event == "start_map" and prefix in MESSAGE_PREFIXES:
            chat = open_chats[MESSAGE_PREFIXES[prefix]]
            if chat.is_channel is False:
                chat.counts["messages"] += 1  # a private chat: counted, never built
                continue
            builder, message_prefix, skipping = ijson.ObjectBuilder(), prefix, False
            builder.event(event, value)
        elif event == "start_map" and prefix in CHAT_PREFIXES:
            open_chats[prefix] = _Chat()
        elif event == "end_map" and prefix in CHAT_PREFIXES:
            done = open_chats.pop(prefix)
            if len(rows):
                done.rows.append(rows.flush())
            if done.has_messages:
                chats.append(done)
        elif event == "string" and prefix in CHAT_FIELDS:
            owner, key = CHAT_FIELDS[prefix]
            setattr(open_chats[owner], key, value)
        elif event == "start_array" and prefix in MESSAGE_ARRAYS:
            open_chats[MESSAGE_ARRAYS[prefix]].has_messages = True
    return chats


def _events(file):
    """Parse events, from the C backend when this ijson build has it."""
    for name in ("yajl2_c", "yajl2_cffi", "yajl2"):
        try:
            return ijson.get_backend(name).parse(file)
        except ImportError:
            continue
    return ijson.parse(file)  # the default backend, pure Python at worst


def read_telegram_export(path: Path, source_name: str) -> tuple[pl.DataFrame, dict]:
    """A result.json → (one row per channel post, in file order; counts).

    Counts: chats (channels read), skipped_chats (other chat types), messages,
    service, empty (no text: media-only and the like), posts.
    Raises NotADump when the JSON is broken or holds no channel messages.
    """
    with open(path, "rb") as file:
        if file.read(3) != b"\xef\xbb\xbf":
            file.seek(0)
        try:
            chats = _stream_chats(_events(file))
        except (ijson.JSONError, UnicodeDecodeError, ValueError) as err:
            reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
            raise NotADump(f"not a valid JSON export: {reason}") from None
    if not chats:
        raise NotADump("JSON without Telegram messages (no chat with a messages list)")
    channels = [chat for chat in chats if chat.is_channel is not False]
    if not channels:
        kinds = ", ".join(sorted({str(chat.type) for chat in chats}))
        raise NotADump(f"export holds no channel (chat types: {kinds})")
    raw = pl.concat(
        [frame.with_columns(channel_title=pl.lit(chat.name, pl.Utf8)) for chat in channels for frame in chat.rows]
        or [pl.DataFrame(schema=RAW_SCHEMA)],
        how="vertical",
    )
    posts, empty = posts_frame(raw, source_name)
    counts = {
        "chats": len(channels),
        "skipped_chats": len(chats) - len(channels),
        "messages": sum(chat.counts["messages"] for chat in channels),
        "service": sum(chat.counts["service"] for chat in channels),
        "empty": empty,
        "posts": posts.height - empty,
    }
    return posts, counts
