"""The JSON export and t.me/s readers on real-shaped fixtures; expected values by hand.

channel_entities.json: a channel export shaped after a real en+ar one (a forward with
forwarded_from_id, #tag@name hashtag entity, links/text_links, email, mention,
mention_name, a reply with a signature, a poll, a sticker, one-character posts, a video).
group_export_2022.json: an older export (text without text_entities) of a private group.
tme_fragments_page.html: t.me/s blocks shaped after real fragments (poll, voice, round
video, sticker, signature, reply, indented text, hashtag and mention links).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest

from conftest import by_id, read_fixture, utc
from tasks.reading.read_source import NotADump
from schemas.tables import READ_COLUMNS
from tasks.reading.read_telegram_export import MEDIA_TYPES, read_telegram_export
from tasks.reading.read_web_page import read_web_page

FIXTURES = Path(__file__).parents[1] / "fixtures" / "formats"


channel = read_fixture(read_telegram_export, FIXTURES / "channel_entities.json")


# --- JSON export: the new fields ------------------------------------------------------

def test_export_identity_forward_reply_author(channel):
    posts, counts = channel  # with the readers' columns (read_fixture)
    assert counts == {"chats": 1, "skipped_chats": 0, "messages": 9, "service": 1, "empty": 1, "posts": 7,
                      "rejected": [], "warnings": []}
    rows = by_id(posts)
    assert posts["channel_numeric_id"].unique().to_list() == [3204528972]
    assert posts["channel_title"].unique().to_list() == ["عَلَىٰ نَهجِ السَّلَفِ || Upon the path of the Salaf 📚"]
    assert rows[255]["forwarded_from"] == "Madrasatuna || مدرستنا"
    assert rows[255]["forwarded_from_id"] == 3763828873
    assert rows[256]["reply_to_message_id"] == 255 and rows[256]["author"] == "أم مصعب"
    assert rows[255]["reply_to_message_id"] is None and rows[255]["author"] is None


def test_export_entities(channel):
    rows = by_id(channel[0])
    forward = rows[255]
    # The hashtag entity carries the glued @username; no separate mention is marked for it
    assert forward["hashtags"] == ["#Side_Benefits@madrasatunaa"]
    # link text and text_link href, in order, once each; no email
    assert forward["links"] == ["https://t.me/madrasatunaa/284", "https://madrasatuna.org/rejoicing#part-2"]
    # mention_name shows a name, not a username
    assert forward["mentions"] == ["@uponthepathofsalaf"]
    assert forward["text"].split("\n") == [
        "#Side_Benefits@madrasatunaa",
        "Rejoicing in Obedience to Allah",
        "Sheikh Rashad Adh-Dhali'ee hafidhahullah states:",
        "Muslim holidays come after acts of worship 🌙",
        "Source: https://t.me/madrasatunaa/284",
        "Ask: ask@madrasatuna.org or Umm Musab, run by @uponthepathofsalaf — the article (https://t.me/madrasatunaa/284)",
    ]
    # An entity list without a hashtag entity: Telegram marked none, so none
    assert rows[256]["hashtags"] == [] and rows[256]["links"] == [] and rows[256]["mentions"] == []


def test_export_poll_media_and_one_character_posts(channel):
    rows = by_id(channel[0])
    assert rows[257]["text"] == "Which book next?\nKitāb at-Tawḥīd\nAl-Uṣūl ath-Thalāthah"
    assert rows[257]["media_type"] == rows[257]["media"] == "poll" and rows[257]["post_id"] is not None
    assert rows[258]["media_type"] == "sticker" and rows[258]["text"] is None
    assert rows[261]["media_type"] == "video_file"
    assert rows[262]["media_type"] == rows[262]["media"] == "file"  # marked by the `file` field only
    # Two messages with the same one-character text: two rows, one post_id
    assert rows[259]["text"] == rows[260]["text"] == "؟"
    assert rows[259]["post_id"] == rows[260]["post_id"]
    assert set(channel[0]["media_type"].drop_nulls()) <= set(MEDIA_TYPES)


def test_older_export_takes_entities_from_text():
    posts, counts = read_telegram_export(FIXTURES / "group_export_2022.json", "group.json")
    # a single-chat export is read whatever the chat: here a private group
    assert counts == {"chats": 1, "skipped_chats": 0, "messages": 5, "service": 1, "empty": 1, "posts": 3, "rejected": [],
                      "warnings": ["4 dates and edit times have no time zone (an older export): read as UTC; "
                                   "--export-tz names their zone"]}
    rows = by_id(posts)
    assert rows[426597]["date"] == utc(2022, 3, 16, 19, 24, 40)
    assert rows[426597]["text"] == "Your user ID: 123456789\nCurrent chat ID: -123456789"
    assert rows[426597]["hashtags"] == [] and rows[426597]["links"] == []
    tagged = rows[428640]
    assert tagged["hashtags"] == ["#тест"]  # from the hashtag entity, not the pre block's text
    assert tagged["links"] == ["http://www.example.com/", "https://core.telegram.org/bots/api#formatting-options"]
    assert tagged["mentions"] == ["@roboteam_digital"]
    assert tagged["reply_to_message_id"] == 426597 and tagged["media_type"] == "photo"
    # a plain-string text has no entity list: hashtags by Telegram's rule, no URL fragment
    assert rows[428642]["hashtags"] == ["#старый_тег"]
    assert rows[428643]["media_type"] == "photo" and rows[428643]["forwarded_from"] == "Get My ID"
    assert posts["channel_title"].unique().to_list() == ["Test 2022"]
    assert posts["channel_numeric_id"].unique().to_list() == [123456789]


def test_older_export_dates_in_the_given_zone():
    posts, counts = read_telegram_export(FIXTURES / "group_export_2022.json", "group.json", "Europe/Moscow")
    assert counts["warnings"] == []
    # 19:24:40 in Moscow (UTC+3 in 2022) is 16:24:40 UTC
    assert by_id(posts)[426597]["date"] == utc(2022, 3, 16, 16, 24, 40)


def test_single_personal_chat_export_is_read(tmp_path):
    """The user exported this one chat on purpose: it is read like a channel."""
    path = tmp_path / "result.json"
    path.write_text(json.dumps({"name": "Bob", "type": "personal_chat", "id": 42, "messages": [
        {"id": 1, "type": "message", "date_unixtime": "0", "text": "hi"}]}))
    posts, counts = read_telegram_export(path, "bob.json")
    assert posts["text"].to_list() == ["hi"] and counts["chats"] == 1


def _account(chats: list[dict], left: list[dict]) -> bytes:
    return json.dumps({"about": "Here is the data you requested.", "chats": {"about": "", "list": chats},
                       "left_chats": {"about": "", "list": left}}).encode()


def test_account_export_without_channel_messages_says_why(tmp_path):
    group = {"name": "ENSIA IMPACT © Group", "type": "private_supergroup", "id": 2482670091, "messages": [
        {"id": i, "type": "message", "date_unixtime": "0", "text": "x"} for i in range(1, 1251)]}
    left = {"name": "ENSIA IMPACT CHANNEL", "type": "private_channel", "id": 1879100230, "messages": []}
    path = tmp_path / "result.json"
    path.write_bytes(_account([group], [left]))
    with pytest.raises(NotADump) as err:
        read_telegram_export(path, "account.json")
    assert str(err.value) == (
        "whole-account export: no channel messages (1 channel with no messages; "
        "1 private_supergroup of 1250 messages not read: only channels are read from an account export)"
    )


# --- a cut export ------------------------------------------------------------------

CUT_FIXTURE = (FIXTURES / "channel_entities.json").read_bytes()


def _cut_points() -> dict[str, tuple[int, int]]:
    """Where to cut channel_entities.json → (byte offset, last complete message id)."""
    text = CUT_FIXTURE
    poll_end = text.index(b'"text": "",', text.index(b'"question"'))  # inside message 257
    return {
        "mid-string": (text.index(b"Rejoicing in") + 5, 254),
        "mid-object": (poll_end, 256),
        "between messages": (text.index(b"},\n  {", text.index(b'"id": 259')) + 2, 259),
        "mid-UTF-8 character": (text.index("مهم".encode()) + 1, 255),
        "after the messages list": (text.rindex(b"]") + 1, 262),
    }


@pytest.mark.parametrize("where", list(_cut_points()))
def test_cut_export_keeps_complete_messages(tmp_path, where):
    offset, last_id = _cut_points()[where]
    path = tmp_path / "cut.json"
    path.write_bytes(CUT_FIXTURE[:offset])
    posts, counts = read_telegram_export(path, "cut.json")
    whole = by_id(read_telegram_export(FIXTURES / "channel_entities.json", "cut.json")[0])
    assert posts["message_id"].to_list() == [i for i in whole if i <= last_id]
    assert all(by_id(posts)[i]["text"] == whole[i]["text"] for i in by_id(posts))
    assert len(counts["warnings"]) == 1
    assert re.fullmatch(rf"export cut off at byte {offset} of {offset} \(.*\): "
                        rf"kept the messages up to id {last_id}, the last complete one", counts["warnings"][0])


def test_a_bad_byte_inside_an_export_is_not_called_a_cut(tmp_path):
    """An invalid byte mid-file (not a cut): the messages before it are kept and the
    warning says the rest was not read."""
    offset = CUT_FIXTURE.index(b'"text"', CUT_FIXTURE.index(b'"id": 260')) + 9  # inside message 260's text
    path = tmp_path / "broken.json"
    path.write_bytes(CUT_FIXTURE[:offset] + b"\xff" + CUT_FIXTURE[offset:])
    posts, counts = read_telegram_export(path, "broken.json")
    assert posts["message_id"].to_list() == [255, 256, 257, 258, 259]
    assert counts["warnings"] == ["export broken after message id 259 (lexical error: invalid bytes in UTF8 string.): "
                                  "kept the messages up to there; the rest of the file is not read"]


def test_cut_before_any_complete_message_is_not_a_dump(tmp_path):
    path = tmp_path / "cut.json"
    path.write_bytes(CUT_FIXTURE[:CUT_FIXTURE.index(b'"action"')])
    with pytest.raises(NotADump, match="not a valid JSON export"):
        read_telegram_export(path, "cut.json")


# --- saved t.me/s page ----------------------------------------------------------------

fragments = read_fixture(read_web_page, FIXTURES / "tme_fragments_page.html")


def test_page_counts_and_identity(fragments):
    posts, counts = fragments  # with the readers' columns (read_fixture)
    assert counts == {"messages": 7, "service": 1, "empty": 2, "edited": 0, "posts": 4, "rejected": []}
    assert posts["message_id"].to_list() == [939, 940, 941, 942, 943, 944]
    assert posts["channel_username"].unique().to_list() == ["oper_goblin"]
    assert posts["channel_title"].unique().to_list() == ["Tynu40k Goblina (oper.ru)"]


def test_page_text_reads_as_the_browser_shows_it(fragments):
    rows = by_id(fragments[0])
    # source indentation and raw newlines are one space; <br> breaks; a blank line goes
    assert rows[939]["text"] == (
        "Обсудили:\n- Сталина не забыть\n- Плохие фильмы\nСлушайте: @kakberadio\nПишите нам: @kakberadiobot"
    )
    assert rows[939]["forwarded_from"] == "Спортивный Екб"
    assert rows[943]["text"] == (
        "Ночью над Белгородом сбили 3 беспилотника\n"
        "Подробнее: https://vnnews.ru/belgorod/, репортаж и снова https://vnnews.ru/belgorod/\n"
        "Пишите: news@oper.ru\n#Белгород #Беспилотники\n@anna_news"
    )
    # <script> content is no text anywhere
    assert not fragments[0]["text"].drop_nulls().str.contains("фейк|nottag").any()


def test_page_poll_media_and_signature(fragments):
    rows = by_id(fragments[0])
    assert rows[940]["text"] == "Как лучше?\nНесколько постов в день\nОдин пост в несколько дней"
    assert rows[940]["media_type"] == rows[940]["media"] == "poll"
    assert rows[939]["media_type"] == "voice_message"
    # a placeholder keeps its sentence; the kind is the block's, else unknown
    assert (rows[941]["media_type"], rows[941]["media"]) == ("video_message", "This media is not supported in your browser")
    assert (rows[942]["media_type"], rows[942]["media"]) == ("sticker", "This media is not supported in your browser")
    assert (rows[944]["media_type"], rows[944]["media"]) == ("unknown", "Media is too big")
    assert rows[942]["author"] == "🅰️rkadiy Ivanov" and rows[939]["author"] is None
    assert rows[941]["text"] is None and rows[942]["text"] is None


def test_page_reply_links_mentions_hashtags(fragments):
    reply = by_id(fragments[0])[943]
    assert reply["reply_to_message_id"] == 939
    # search links, mentions and mailto are no links
    assert reply["links"] == ["https://vnnews.ru/belgorod/", "https://t.me/anna_news/46908"]
    assert reply["mentions"] == ["@anna_news"]
    assert reply["hashtags"] == ["#Белгород", "#Беспилотники"]
    assert by_id(fragments[0])[939]["mentions"] == ["@kakberadio", "@kakberadiobot"]


def test_page_with_only_service_messages_gives_no_rows(tmp_path):
    """A new channel's first page: only "Channel created". No error: the flow decides."""
    page = (FIXTURES / "tme_fragments_page.html").read_text(encoding="utf-8")
    start, end = page.index("<section"), page.index("</section>")
    service = page[page.index('<div class="tgme_widget_message_wrap'):page.index("</div></div>") + 12]
    path = tmp_path / "service.html"
    path.write_text(page[:start] + "<section>" + service + page[end:], encoding="utf-8")
    posts, counts = read_web_page(path, "service.html")
    assert posts.height == 0 and posts.schema == pl.Schema(READ_COLUMNS)
    assert counts == {"messages": 1, "service": 1, "empty": 0, "edited": 0, "posts": 0, "rejected": []}
