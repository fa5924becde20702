"""Read a Telegram Desktop JSON export (`result.json`) into post rows.

Two shapes: one chat (`{"name", "type", "id", "messages": [...]}`) or a whole account
(`{"personal_information", "contacts", ..., "chats": {"list": [...]},
"left_chats": {"list": [...]}}`). A single-chat export is read whatever the chat
(channel, group, personal chat: the user chose to export it). From an account export
only channels are read: the other chats are private conversations, so they are
counted and never parsed. Channels left by the user (`left_chats`) are channels all
the same. Older exports have no `text_entities`: their entities are the objects
inside a list-shaped `text`.

Exports run to hundreds of MB, so the file is streamed with ijson: one message is
held as a dict at a time, and rows are moved into Polars every `CHUNK_ROWS` messages.
`posts_frame` turns raw rows into the same columns and post_id as the text path;
`read_web_page` shares it.
"""
from __future__ import annotations

from pathlib import Path

import ijson
import polars as pl

from schemas.tables import MEDIA_TYPES
from tasks.collapse_copies import REACTION, post_ids
from tasks.entities import hashtags_of
from tasks.read_source import NotADump

CHANNEL_TYPES = frozenset({"public_channel", "private_channel"})
CHAT_PREFIXES = ("", "chats.list.item", "left_chats.list.item")
CHUNK_ROWS = 2_000  # rows held as Python objects at a time (a row now carries three lists)
ID_BATCH = 5_000  # post_ids turns its input into Python strings: feed it slices

# The message fields a row needs; the rest (buttons, file sizes, ...) is skipped unbuilt.
# text_entities is the same text again, built only when `text` is missing.
MESSAGE_KEYS = frozenset({
    "id", "type", "date", "date_unixtime", "edited", "edited_unixtime", "forwarded_from", "forwarded_from_id",
    "reply_to_message_id", "author", "text", "text_entities", "reactions", "views", "media_type",
    "photo", "file", "poll", "location_information", "contact_information", "game_title",
    "invoice_information",
})
# Media without a media_type, by the field that marks it (first match wins).
MEDIA_FIELDS = (
    ("photo", "photo"), ("file", "file"), ("poll", "poll"),
    ("location_information", "location"), ("contact_information", "contact"),
    ("game_title", "game"), ("invoice_information", "invoice"),
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


def _entities(message: dict) -> list[dict] | None:
    """The message's entity objects. A list-shaped `text` holds them among its strings
    (`text_entities` repeats them, with the plain parts); a string `text` has none but
    plain ones. None: no entity list at all (an older export's plain-string text)."""
    text = message.get("text")
    if isinstance(text, list):
        return [part for part in text if isinstance(part, dict)]
    if "text_entities" in message:
        return message["text_entities"] or []  # None: left unbuilt after a string `text`
    return None


def _entity_values(entities: list[dict] | None, types: dict[str, str]) -> list[str] | None:
    """In order and once each: per entity of a type in `types`, its field named there.
    None when the message has no entity list."""
    if entities is None:
        return None
    values = (str(e.get(types[e.get("type")]) or "") for e in entities if e.get("type") in types)
    return list(dict.fromkeys(value for value in values if value))


def _poll_text(poll: dict) -> str:
    """What a reader sees of a poll: the question, then one option a line."""
    return "\n".join([str(poll.get("question") or "")] + [str(a.get("text") or "") for a in poll.get("answers") or ()])


def _media(message: dict) -> str | None:
    if message.get("media_type"):
        return str(message["media_type"])
    return next((label for field, label in MEDIA_FIELDS if field in message), None)


def _peer_id(value) -> int | None:
    """'channel1234' / 'user5678' → 1234 / 5678."""
    digits = str(value or "").lstrip("abcdefghijklmnopqrstuvwxyz_")
    return int(digits) if digits.isdigit() else None


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
CHAT_FIELDS = {_join(chat, key): (chat, key) for chat in CHAT_PREFIXES for key in ("name", "type", "id")}


class _Chat:
    def __init__(self, in_account: bool) -> None:
        self.in_account = in_account  # one of an account export's chats, not a chosen one
        self.name: str | None = None
        self.type: str | None = None
        self.id: int | None = None
        self.has_messages = False
        self.counts = {"messages": 0, "service": 0}
        self.rows: list[pl.DataFrame] = []

    @property
    def is_read(self) -> bool:
        """A single-chat export is read whatever the chat (the user chose to export it);
        from an account export only channels: the rest are private conversations.
        A chat whose type is not known yet (a cut export) counts as read."""
        return not self.in_account or self.type is None or self.type in CHANNEL_TYPES


class _Rows:
    """Column lists of raw rows, flushed to a DataFrame every CHUNK_ROWS messages."""

    def __init__(self) -> None:
        self.columns: dict[str, list] = {}
        self.clear()

    def clear(self) -> None:
        self.columns = {name: [] for name in [*RAW_SCHEMA, *LOCAL_TIMES]}

    def add(self, message: dict, chat: _Chat) -> None:
        text = message.get("text")
        if text is None:
            text = message.get("text_entities")
        raw_text = flat_text(text)
        if isinstance(message.get("poll"), dict):
            raw_text = "\n".join(filter(None, [raw_text, _poll_text(message["poll"])]))
        media = _media(message)
        entities = _entities(message)
        values = {
            "channel_title": chat.name,
            "channel_numeric_id": chat.id,
            "message_id": message.get("id"),
            "date": _seconds(message.get("date_unixtime")),
            "edited_at": _seconds(message.get("edited_unixtime")),
            # Older exports give only the local time, with no zone.
            "local_date": None if message.get("date_unixtime") else message.get("date"),
            "local_edited_at": None if message.get("edited_unixtime") else message.get("edited"),
            "forwarded_from": message.get("forwarded_from"),
            "forwarded_from_id": _peer_id(message.get("forwarded_from_id")),
            "reply_to_message_id": message.get("reply_to_message_id"),
            "author": message.get("author"),
            "media_type": None if media is None else media if media in MEDIA_TYPES else "unknown",
            "media": media,
            "raw_text": raw_text,
            # null only without an entity list: posts_frame then finds hashtags in the text
            "entity_hashtags": _entity_values(entities, {"hashtag": "text"}),
            "links": _entity_values(entities, {"link": "text", "text_link": "href"}),
            # mention_name shows a person's name, not a username: not a mention
            "mentions": _entity_values(entities, {"mention": "text"}),
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
            schema={**{n: pl.Int64 if n in seconds else t for n, t in RAW_SCHEMA.items()},
                    **dict.fromkeys(LOCAL_TIMES, pl.Utf8)},
        ).with_columns(
            pl.from_epoch(pl.col(n), time_unit="s").dt.replace_time_zone("UTC")
            for n in seconds
        )
        self.clear()
        return frame


class _Stream:
    """One walk over the parse events; every object at a chat prefix is a candidate chat.
    What was read stays here when the events break off (a cut export)."""

    def __init__(self) -> None:
        self.chats: list[_Chat] = []
        self.open_chats: dict[str, _Chat] = {}
        self.rows = _Rows()
        self.chat: _Chat | None = None  # the chat whose messages are being read
        self.last_id = None  # of the last complete message

    def read(self, events) -> None:
        builder, message_prefix, skipping = None, None, False
        for prefix, event, value in events:
            if builder is not None:  # inside a message: build only the fields we need
                if prefix == message_prefix:
                    if event == "map_key":
                        # text_entities repeats `text`: left unbuilt when `text` came first
                        skipping = value not in MESSAGE_KEYS or (value == "text_entities" and "text" in builder.value)
                        if skipping:
                            if value == "text_entities":
                                builder.value[value] = None  # the message has an entity list
                            continue
                    elif event == "end_map":
                        self._message(builder.value)
                        builder = None
                        continue
                elif skipping:
                    continue
                builder.event(event, value)
            elif event == "start_map" and prefix in MESSAGE_PREFIXES:
                self.chat = self.open_chats[MESSAGE_PREFIXES[prefix]]
                if not self.chat.is_read:
                    self.chat.counts["messages"] += 1  # a private chat: counted, never built
                    continue
                builder, message_prefix, skipping = ijson.ObjectBuilder(), prefix, False
                builder.event(event, value)
            elif event == "start_map" and prefix in CHAT_PREFIXES:
                self.open_chats[prefix] = _Chat(in_account=bool(prefix))
            elif event == "end_map" and prefix in CHAT_PREFIXES:
                self._close(self.open_chats.pop(prefix))
            elif event in ("string", "number") and prefix in CHAT_FIELDS:
                owner, key = CHAT_FIELDS[prefix]
                setattr(self.open_chats[owner], key, value)
            elif event == "start_array" and prefix in MESSAGE_ARRAYS:
                self.open_chats[MESSAGE_ARRAYS[prefix]].has_messages = True

    def _message(self, message: dict) -> None:
        chat = self.chat
        chat.counts["messages"] += 1
        self.last_id = message.get("id")
        if message.get("type") == "service":
            chat.counts["service"] += 1
            return
        self.rows.add(message, chat)
        if len(self.rows) >= CHUNK_ROWS:
            chat.rows.append(self.rows.flush())

    def _close(self, chat: _Chat) -> None:
        if len(self.rows) and self.chat is chat:
            chat.rows.append(self.rows.flush())
        if chat.has_messages:
            self.chats.append(chat)

    def close_cut(self) -> None:
        """The events broke off: keep the chats still open with their complete messages."""
        for prefix in reversed(list(self.open_chats)):  # innermost first, as end_map would
            self._close(self.open_chats.pop(prefix))


def _events(file):
    """Parse events, from the C backend when this ijson build has it."""
    for name in ("yajl2_c", "yajl2_cffi", "yajl2"):
        try:
            return ijson.get_backend(name).parse(file)
        except ImportError:
            continue
    return ijson.parse(file)  # the default backend, pure Python at worst


LOCAL_TIMES = {"local_date": "date", "local_edited_at": "edited_at"}


def _ends_inside_a_character(path: Path) -> bool:
    """Whether the file stops in the middle of a UTF-8 character: a cut, not a bad byte."""
    with open(path, "rb") as file:
        file.seek(max(0, path.stat().st_size - 4))
        tail = file.read().lstrip(bytes(range(0x80, 0xC0)))  # from the first whole character on
    try:
        tail.decode("utf-8")
    except UnicodeDecodeError as err:
        return err.reason == "unexpected end of data"
    return False


def _first_line(err: Exception) -> str:
    """A parser error's first line (yajl hands its message over as bytes)."""
    message = err.args[0] if err.args else ""
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    return (str(message).splitlines() or [type(err).__name__])[0].strip()[:120] or type(err).__name__


def check_time_zone(export_tz: str | None) -> None:
    """Polars converts the dates, so its zone database is the one that must know the name
    (an empty name would silently mean "no zone")."""
    if export_tz is None:
        return
    try:
        pl.Series([0], dtype=pl.Datetime("us")).dt.replace_time_zone(export_tz)
        known = bool(export_tz.strip())
    except pl.exceptions.PolarsError:
        known = False
    if not known:
        raise ValueError(f"unknown time zone {export_tz!r}: give an IANA name such as Europe/Moscow")


def local_to_utc(local: pl.Expr, export_tz: str | None) -> pl.Expr:
    """Naive local datetimes (older exports carry no zone) → UTC, read in `export_tz`
    (UTC when not given). In the hour a clock is turned back a local time happens twice:
    the earlier is taken."""
    return local.dt.replace_time_zone(export_tz or "UTC", ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")


def _from_local_times(raw: pl.DataFrame, export_tz: str | None, warnings: list[str]) -> pl.DataFrame:
    """Dates of older exports (local time, no zone) in UTC: in `export_tz`, else read as
    UTC, with a warning saying so."""
    local = raw.select(pl.sum_horizontal(pl.col(c).is_not_null().sum() for c in LOCAL_TIMES)).item()
    if local and export_tz is None:
        warnings.append(f"{local} dates and edit times have no time zone (an older export): read as UTC; "
                        "--export-tz names their zone")
    return raw.with_columns(
        pl.coalesce(
            target,
            local_to_utc(pl.col(column).str.to_datetime("%Y-%m-%dT%H:%M:%S", time_unit="us", strict=False), export_tz),
        ).alias(target)
        for column, target in LOCAL_TIMES.items()
    ).drop(*LOCAL_TIMES)


def read_telegram_export(path: Path, source_name: str, export_tz: str | None = None) -> tuple[pl.DataFrame, dict]:
    """A result.json → (one row per message of the chats read, in file order; counts).

    Counts: chats (chats read), skipped_chats (an account export's non-channel chats),
    messages, service, empty (no text: media-only and the like), posts, warnings (one
    line each: a cut export keeps its complete messages and says where it was cut;
    dates without a zone). `export_tz`: the zone of an older export's local dates.
    Raises NotADump when the JSON is broken before any complete message, or holds no
    messages to read.
    """
    check_time_zone(export_tz)
    stream, warnings = _Stream(), []
    with open(path, "rb") as file:
        if file.read(3) != b"\xef\xbb\xbf":
            file.seek(0)
        try:
            stream.read(_events(file))
        except (ijson.JSONError, UnicodeDecodeError, ValueError) as err:
            reason = _first_line(err)
            if stream.last_id is None:
                raise NotADump(f"not a valid JSON export: {reason}") from None
            if "premature EOF" in reason or _ends_inside_a_character(path):
                # ijson reads ahead in blocks: at a cut, it has read up to the end of the file
                warnings.append(
                    f"export cut off at byte {file.tell()} of {path.stat().st_size} ({reason}): "
                    f"kept the messages up to id {stream.last_id}, the last complete one"
                )
            else:
                warnings.append(
                    f"export broken after message id {stream.last_id} ({reason}): kept the messages up to "
                    "there; the rest of the file is not read"
                )
            stream.close_cut()
    chats = stream.chats
    if not chats:
        raise NotADump("JSON without Telegram messages (no chat with a messages list)")
    read = [chat for chat in chats if chat.is_read]
    if not any(chat.counts["messages"] for chat in read):
        raise NotADump(_nothing_to_read(chats))
    raw = pl.concat(
        [frame for chat in read for frame in chat.rows]
        or [pl.DataFrame(schema={**RAW_SCHEMA, **dict.fromkeys(LOCAL_TIMES, pl.Utf8)})],
        how="vertical",
    )
    raw = _from_local_times(raw, export_tz, warnings)
    posts, empty = posts_frame(raw, source_name)
    counts = {
        "chats": len(read),
        "skipped_chats": len(chats) - len(read),
        "messages": sum(chat.counts["messages"] for chat in read),
        "service": sum(chat.counts["service"] for chat in read),
        "empty": empty,
        "posts": posts.height - empty,
        "warnings": warnings,
    }
    return posts, counts


def _nothing_to_read(chats: list[_Chat]) -> str:
    """Why an export gives no message: which chats it holds, which were not read."""
    if not chats[0].in_account:
        return f"{chats[0].type or 'chat'} export without messages"
    empty_channels = sum(chat.is_read for chat in chats)
    skipped: dict[str, list[int]] = {}
    for chat in chats:
        if not chat.is_read:
            skipped.setdefault(str(chat.type), []).append(chat.counts["messages"])
    parts = [f"{empty_channels} channel{'s' * (empty_channels != 1)} with no messages"] if empty_channels else []
    if skipped:
        kinds = ", ".join(f"{len(sizes)} {kind} of {sum(sizes)} messages" for kind, sizes in skipped.items())
        parts.append(f"{kinds} not read: only channels are read from an account export")
    return f"whole-account export: no channel messages ({'; '.join(parts)})"
