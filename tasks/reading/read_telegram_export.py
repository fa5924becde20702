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

from decimal import Decimal
from pathlib import Path

import ijson
import polars as pl

from schemas.tables import MEDIA_TYPES, READ_COLUMNS, REACTION
from tasks.hashing import post_ids
from tasks.reading.entities import hashtags_of
from tasks.reading.malformed import (
    CHECK_COLUMNS, INT64_MAX, SHOWN_CHARS, Malformed, ReadLimits, as_id_text, integer, integer_text, json_too_deep,
    shown, sort_out,
)
from tasks.reading.read_source import NotADump

CHANNEL_TYPES = frozenset({"public_channel", "private_channel"})
CHAT_PATHS = ((), ("chats", "list", "item"), ("left_chats", "list", "item"))
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
    "position": pl.Int64,            # the message's place among the file's messages (service ones aside)
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
def posts_frame(raw: pl.DataFrame, source_name: str) -> tuple[pl.DataFrame, int]:
    """Raw message rows (RAW_SCHEMA) → occurrence rows (READ_COLUMNS), one per message,
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
    output = posts.select(pl.col(name).cast(dtype) for name, dtype in READ_COLUMNS.items())
    return output, texts.height - with_text.height


def _post_ids(texts: pl.Series) -> pl.Series:
    slices = [post_ids(texts.slice(start, ID_BATCH)) for start in range(0, len(texts), ID_BATCH)]
    return pl.concat(slices) if slices else post_ids(texts)


def flat_text(text) -> str:
    """`text` (a string, or strings mixed with entity objects) → the visible text."""
    if isinstance(text, str):
        return text
    return "".join(part if isinstance(part, str) else str(part.get("text", "")) for part in text or ())


def _kind(value) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, Decimal)):
        return "a number"
    return {str: "text", list: "a list", dict: "an object"}.get(type(value), "null")


def _text(value, field: str) -> str | None:
    """A text field: a string, or null when absent."""
    if value is None or isinstance(value, str):
        return value
    raise Malformed(f"{field} is {_kind(value)}, not text")


def _objects(value, field: str) -> list[dict]:
    """A list of objects, or [] when absent."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise Malformed(f"{field} is {_kind(value)}, not a list")
    for item in value:
        if not isinstance(item, dict):
            raise Malformed(f"{field} holds {_kind(item)}, not an object")
    return value


def _entity(entity: dict, field: str) -> dict:
    for key in ("type", "text", "href"):
        _text(entity.get(key), f"{field} entity {key}")
    return entity


def _visible_text(message: dict) -> str:
    """The message's text (`text`, else `text_entities`): a string, or a list of strings
    and entity objects."""
    field = "text" if message.get("text") is not None else "text_entities"
    text = message.get(field)
    if text is None or isinstance(text, str):
        return text or ""
    if not isinstance(text, list):
        raise Malformed(f"{field} is {_kind(text)}, not text or a list")
    for part in text:
        if isinstance(part, dict):
            _entity(part, field)
        elif not isinstance(part, str):
            raise Malformed(f"{field} holds {_kind(part)}, not text or an entity")
    return flat_text(text)


def _entities(message: dict) -> list[dict] | None:
    """The message's entity objects. A list-shaped `text` holds them among its strings
    (`text_entities` repeats them, with the plain parts); a string `text` has none but
    plain ones. None: no entity list at all (an older export's plain-string text)."""
    text = message.get("text")
    if isinstance(text, list):
        return [part for part in text if isinstance(part, dict)]
    if "text_entities" in message:
        # None: left unbuilt after a string `text`
        return [_entity(e, "text_entities") for e in _objects(message["text_entities"], "text_entities")]
    return None


def _entity_values(entities: list[dict] | None, types: dict[str, str]) -> list[str] | None:
    """In order and once each: per entity of a type in `types`, its field named there.
    None when the message has no entity list."""
    if entities is None:
        return None
    values = (e.get(types[e.get("type")]) or "" for e in entities if e.get("type") in types)
    return list(dict.fromkeys(value for value in values if value))


def _poll_text(poll) -> str:
    """What a reader sees of a poll: the question, then one option a line."""
    if not isinstance(poll, dict):
        raise Malformed(f"poll is {_kind(poll)}, not an object")
    answers = [_text(answer.get("text"), "poll answer") or "" for answer in _objects(poll.get("answers"), "poll answers")]
    return "\n".join([_text(poll.get("question"), "poll question") or "", *answers])


def _media(message: dict) -> str | None:
    if message.get("media_type") is not None:
        return _text(message["media_type"], "media_type")
    return next((label for field, label in MEDIA_FIELDS if field in message), None)


def _peer_id(value) -> int | None:
    """'channel1234' / 'user5678' → 1234 / 5678."""
    digits = (_text(value, "forwarded_from_id") or "").lstrip("abcdefghijklmnopqrstuvwxyz_")
    return integer_text(digits, "forwarded_from_id") if digits else None


def _reactions(message: dict) -> list[dict]:
    # Custom emoji and paid stars have no character (a web capture shows a bare count).
    reactions = _objects(message.get("reactions"), "reactions")
    return [
        {"emoji": _text(r.get("emoji"), "reaction emoji") if _text(r.get("type"), "reaction type") == "emoji" else None,
         "count": integer(r.get("count", 0), "reaction count")}
        for r in reactions
    ]


# Seconds since 1970 that a datetime can hold: years 1 to 9999.
SECONDS_RANGE = (-62_135_596_800, 253_402_300_799)


def _seconds(message: dict, field: str) -> int | None:
    value = message.get(field)
    if value in (None, ""):
        return None
    seconds = integer_text(value, field) if isinstance(value, str) else integer(value, field, SECONDS_RANGE[0])
    if seconds > SECONDS_RANGE[1]:
        raise Malformed(f"{field} {seconds} is out of range")
    return seconds


def _optional(message: dict, field: str) -> int | None:
    value = message.get(field)
    return None if value is None else integer(value, field)


MESSAGE_ARRAYS = {chat + ("messages",): chat for chat in CHAT_PATHS}
MESSAGE_ITEMS = {chat + ("messages", "item"): chat for chat in CHAT_PATHS}
CHAT_FIELDS = {chat + (key,): (chat, key) for chat in CHAT_PATHS for key in ("name", "type", "id")}


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

    def set(self, key: str, value) -> None:
        """A chat's name, type or id; a value of another kind makes the file no export."""
        wanted = (str,) if key in ("name", "type") else (int,)
        if value is not None and (isinstance(value, bool) or not isinstance(value, wanted)
                                  or (key == "id" and not -INT64_MAX <= value <= INT64_MAX)):
            raise NotADump(f"chat {key} {shown(value)} is {_kind(value)}, not {'text' if key != 'id' else 'an id'}")
        setattr(self, key, value)


class _Rows:
    """Column lists of raw rows, flushed to a DataFrame every CHUNK_ROWS messages."""

    def __init__(self) -> None:
        self.columns: dict[str, list] = {}
        self.clear()

    def clear(self) -> None:
        self.columns = {name: [] for name in [*RAW_SCHEMA, *LOCAL_TIMES, *CHECK_COLUMNS]}

    def add(self, message, chat: _Chat, position: int) -> None:
        """One message's row; a malformed one (or a value that is no object) is a row
        holding only its position, id and problem."""
        values = {"position": position}
        try:
            if not isinstance(message, dict):
                raise Malformed(f"message is {_kind(message)}, not an object")
            values["raw_message_id"] = as_id_text(message.get("id"))
            values |= self._values(message, chat)
        except Malformed as err:
            values["problem"] = str(err)
        for name, column in self.columns.items():
            column.append(values.get(name))

    @staticmethod
    def _values(message: dict, chat: _Chat) -> dict:
        if message.get("id") is None:
            raise Malformed("no id")
        raw_text = _visible_text(message)
        if message.get("poll") is not None:
            raw_text = "\n".join(filter(None, [raw_text, _poll_text(message["poll"])]))
        media = _media(message)
        entities = _entities(message)
        return {
            "channel_title": chat.name,
            "channel_numeric_id": chat.id,
            "message_id": integer(message["id"], "id"),
            "date": _seconds(message, "date_unixtime"),
            "edited_at": _seconds(message, "edited_unixtime"),
            # Older exports give only the local time, with no zone.
            "local_date": _text(message.get("date"), "date"),
            "local_edited_at": _text(message.get("edited"), "edited"),
            "forwarded_from": _text(message.get("forwarded_from"), "forwarded_from"),
            "forwarded_from_id": _peer_id(message.get("forwarded_from_id")),
            "reply_to_message_id": _optional(message, "reply_to_message_id"),
            "author": _text(message.get("author"), "author"),
            "media_type": None if media is None else media if media in MEDIA_TYPES else "unknown",
            "media": media,
            "raw_text": raw_text,
            # null only without an entity list: posts_frame then finds hashtags in the text
            "entity_hashtags": _entity_values(entities, {"hashtag": "text"}),
            "links": _entity_values(entities, {"link": "text", "text_link": "href"}),
            # mention_name shows a person's name, not a username: not a mention
            "mentions": _entity_values(entities, {"mention": "text"}),
            "reactions": _reactions(message),
            "views": _optional(message, "views"),
        }

    def __len__(self) -> int:
        return len(self.columns["position"])

    def flush(self) -> pl.DataFrame:
        seconds = {"date", "edited_at"}
        frame = pl.DataFrame(
            self.columns,
            schema={**{n: pl.Int64 if n in seconds else t for n, t in RAW_SCHEMA.items()},
                    **dict.fromkeys(LOCAL_TIMES, pl.Utf8), **CHECK_COLUMNS},
        ).with_columns(
            pl.from_epoch(pl.col(n), time_unit="s").dt.replace_time_zone("UTC")
            for n in seconds
        )
        self.clear()
        return frame


class _Message:
    """The parse events of one element of a messages list: built into a dict (only the
    fields a row needs), or only walked (a chat that is not read, a value that is no
    object). It starts at depth `start` of the file, which may nest `max_depth` deep."""

    def __init__(self, event: str, build: bool, start: int, max_depth: int) -> None:
        self.depth, self.room, self.max_depth, self.skipping = 1, max_depth - start + 1, max_depth, False
        self.builder = ijson.ObjectBuilder() if build and event == "start_map" else None
        if self.builder is not None:
            self.builder.event(event, None)

    @property
    def value(self):
        """The message built, or a list (a message that is a list is only walked)."""
        return self.builder.value if self.builder is not None else []

    def take(self, event: str, value) -> bool:
        """Whether this event ends the message."""
        if event in ("start_map", "start_array"):
            self.depth += 1
            if self.depth > self.room:
                raise json_too_deep(self.max_depth)
        elif event in ("end_map", "end_array"):
            self.depth -= 1
            if self.depth == 0:
                return True
        elif event == "map_key" and self.depth == 1 and self.builder is not None:
            # text_entities repeats `text`: left unbuilt when `text` came first
            self.skipping = value not in MESSAGE_KEYS or (value == "text_entities" and "text" in self.builder.value)
            if self.skipping:
                if value == "text_entities":
                    self.builder.value[value] = None  # the message has an entity list
                return False
        if self.builder is not None and not self.skipping:
            self.builder.event(event, value)
        return False


class _Stream:
    """One walk over the parse events; every object at a chat path is a candidate chat.
    What was read stays here when the events break off (a cut export). The events are
    ijson's basic ones (no prefixes: at each event ijson's prefixes cost the depth, and
    a deep file their square): the path is kept here, as far as the messages."""

    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        self.chats: list[_Chat] = []
        self.open_chats: dict[tuple, _Chat] = {}
        self.rows = _Rows()
        self.chat: _Chat | None = None  # the chat whose messages are being read
        self.position = 0  # of the next message read, service messages aside
        self.complete = 0  # messages read to their end
        self.last_id = None  # of the last complete message

    def read(self, events) -> None:
        path: list = []  # per open container: the key being read (objects) or "item" (lists)
        message: _Message | None = None
        for event, value in events:
            if message is not None:
                if message.take(event, value):
                    self._message(message.value)
                    message = None
                continue
            if event == "map_key":
                path[-1] = value
                continue
            if event in ("end_map", "end_array"):
                path.pop()
                if event == "end_map" and tuple(path) in CHAT_PATHS:
                    self._close(self.open_chats.pop(tuple(path)))
                continue
            here = tuple(path)
            starts = event in ("start_map", "start_array")
            if starts and len(path) >= self.max_depth:
                raise json_too_deep(self.max_depth)
            if here in MESSAGE_ITEMS:
                self.chat = self.open_chats[MESSAGE_ITEMS[here]]
                if starts:
                    message = _Message(event, self.chat.is_read, len(path) + 1, self.max_depth)
                else:
                    self._message(value)
                continue
            if here in CHAT_FIELDS and here[:-1] in self.open_chats:
                owner, key = CHAT_FIELDS[here]
                self.open_chats[owner].set(key, {"start_map": {}, "start_array": []}.get(event, value))
            if event == "start_map" and here in CHAT_PATHS:
                self.open_chats[here] = _Chat(in_account=bool(here))
            elif event == "start_array" and here in MESSAGE_ARRAYS:
                self.open_chats[MESSAGE_ARRAYS[here]].has_messages = True
            if starts:
                path.append(None if event == "start_map" else "item")

    def _message(self, message) -> None:
        """A message read to its end: a dict when built, else what it was (a value that
        is no object)."""
        chat = self.chat
        chat.counts["messages"] += 1
        if not chat.is_read:
            return  # a private chat: counted, never built
        self.complete += 1
        if isinstance(message, dict):
            self.last_id = message.get("id")
            if message.get("type") == "service":
                chat.counts["service"] += 1
                return
        self.rows.add(message, chat, self.position)
        self.position += 1
        if len(self.rows) >= CHUNK_ROWS:
            chat.rows.append(self.rows.flush())

    def _close(self, chat: _Chat) -> None:
        if len(self.rows) and self.chat is chat:
            chat.rows.append(self.rows.flush())
        if chat.has_messages:
            self.chats.append(chat)

    def close_cut(self) -> None:
        """The events broke off: keep the chats still open with their complete messages."""
        for path in reversed(list(self.open_chats)):  # innermost first, as end_map would
            self._close(self.open_chats.pop(path))


def _events(file):
    """Basic parse events (no prefixes), from the C backend when this ijson build has it."""
    for name in ("yajl2_c", "yajl2_cffi", "yajl2"):
        try:
            return ijson.get_backend(name).basic_parse(file)
        except ImportError:
            continue
    return ijson.basic_parse(file)  # the default backend, pure Python at worst


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


def _local(column: str) -> pl.Expr:
    return pl.col(column).str.to_datetime("%Y-%m-%dT%H:%M:%S", time_unit="us", strict=False)


# A message whose `date` or `edited` is given but is no date is malformed.
LOCAL_TIME_CHECKS = tuple(
    pl.when(pl.col(column).is_not_null() & _local(column).is_null()).then(
        pl.format(f"{field} '{{}}' is not a date", pl.col(column).str.slice(0, SHOWN_CHARS))
    )
    for column, field in (("local_date", "date"), ("local_edited_at", "edited"))
)


def _from_local_times(raw: pl.DataFrame, export_tz: str | None, warnings: list[str]) -> pl.DataFrame:
    """Dates of older exports (local time, no zone: `date` without `date_unixtime`) in
    UTC: in `export_tz`, else read as UTC, with a warning saying so."""
    local = raw.select(pl.sum_horizontal(
        (pl.col(c).is_not_null() & pl.col(target).is_null()).sum() for c, target in LOCAL_TIMES.items()
    )).item()
    if local and export_tz is None:
        warnings.append(f"{local} dates and edit times have no time zone (an older export): read as UTC; "
                        "--export-tz names their zone")
    return raw.with_columns(
        pl.coalesce(target, local_to_utc(_local(column), export_tz)).alias(target)
        for column, target in LOCAL_TIMES.items()
    ).drop(*LOCAL_TIMES)


def read_telegram_export(path: Path, source_name: str, export_tz: str | None = None,
                         limits: ReadLimits = ReadLimits()) -> tuple[pl.DataFrame, dict]:
    """A result.json → (one row per message of the chats read, in file order; counts).

    Counts: chats (chats read), skipped_chats (an account export's non-channel chats),
    messages, service, empty (no text: media-only and the like), posts, rejected (one
    {position, message_id, reason} per malformed message), warnings (one line each: a
    cut export keeps its complete messages and says where it was cut; dates without a
    zone). `export_tz`: the zone of an older export's local dates. Raises NotADump when
    the JSON is broken before any complete message, nests deeper than
    limits.max_json_depth, has a chat name, type or id of the wrong kind, or holds no
    messages to read.

    A message is malformed, and rejected alone, when a field the reader uses holds a
    value of the wrong kind: `id` (required) not an integer of Int64; `text` not text
    or a list of text and entity objects (whose type, text, href are text);
    `text_entities` not a list of such objects; `date`, `edited` not text of a date;
    `date_unixtime`, `edited_unixtime` not seconds (digits or an integer) of years
    1-9999; `forwarded_from`, `author`, `media_type`, `type` not text;
    `forwarded_from_id` not text or its number out of Int64; `reply_to_message_id`,
    `views` not an integer of Int64; `reactions` not a list of objects with an integer
    count and text type and emoji; `poll` not an object with a text question and a list
    of answers with text; or a message that is no object, or whose visible text is
    longer than limits.max_message_chars. A field that is absent or null is null;
    fields the reader does not use (buttons, file sizes, ...) may hold anything.
    """
    check_time_zone(export_tz)
    stream, warnings = _Stream(limits.max_json_depth), []
    with open(path, "rb") as file:
        if file.read(3) != b"\xef\xbb\xbf":
            file.seek(0)
        try:
            stream.read(_events(file))
        except (ijson.JSONError, UnicodeDecodeError, ValueError) as err:
            reason = _first_line(err)
            if not stream.complete:
                raise NotADump(f"not a valid JSON export: {reason}") from None
            if "premature EOF" in reason or _ends_inside_a_character(path):
                # ijson reads ahead in blocks: at a cut, it has read up to the end of the file
                warnings.append(
                    f"export cut off at byte {file.tell()} of {path.stat().st_size} ({reason}): "
                    f"kept the messages up to id {as_id_text(stream.last_id)}, the last complete one"
                )
            else:
                warnings.append(
                    f"export broken after message id {as_id_text(stream.last_id)} ({reason}): kept the messages up to "
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
        or [pl.DataFrame(schema={**RAW_SCHEMA, **dict.fromkeys(LOCAL_TIMES, pl.Utf8), **CHECK_COLUMNS})],
        how="vertical",
    )
    raw, rejected = sort_out(raw, limits, LOCAL_TIME_CHECKS)
    raw = _from_local_times(raw, export_tz, warnings)
    posts, empty = posts_frame(raw, source_name)
    counts = {
        "chats": len(read),
        "skipped_chats": len(chats) - len(read),
        "messages": sum(chat.counts["messages"] for chat in read),
        "service": sum(chat.counts["service"] for chat in read),
        "empty": empty,
        "posts": posts.height - empty,
        "rejected": rejected,
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
