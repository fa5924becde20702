"""Telegram Desktop HTML export reader (messages.html, messages2.html, ...).

The fixtures in tests/fixtures/desktop_export are written in the shape of real exports
(the page skeleton, indentation and markup of Telegram Desktop's HTML writer):
messages.html and messages2.html are pages 1 and 2 of one channel export whose page 3
is missing; old_export/messages.html is an older export whose dates carry no zone.
Expected values are written by hand from reading the fixtures.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

from conftest import by_id, read_fixture, utc
from tasks.reading.detect_format import HEAD_BYTES, detect_format
from tasks.reading.read_desktop_export import read_desktop_export
from tasks.reading.read_source import NotADump
from tasks.reading.read_telegram_export import MEDIA_TYPES

FIXTURES = Path(__file__).parents[1] / "fixtures" / "desktop_export"
WEB_PAGE = Path(__file__).parents[1] / "fixtures" / "formats" / "mid_russia_page.html"


page1 = read_fixture(read_desktop_export, FIXTURES / "messages.html")
page2 = read_fixture(read_desktop_export, FIXTURES / "messages2.html")


# --- rows, counts, channel -------------------------------------------------------------

def test_columns_counts_and_order(page1):
    posts, counts = page1  # with the readers' columns (read_fixture)
    # Six message blocks (two of them joined); "created" and "pinned" are service
    # messages; the two date headers are not messages at all.
    assert counts == {"messages": 6, "service": 2, "empty": 2, "posts": 4, "rejected": [], "warnings": []}
    assert posts["message_id"].to_list() == [101, 102, 103, 104, 105, 106]
    assert posts["position"].to_list() == list(range(6))
    assert posts.filter(pl.col("post_id").is_null())["message_id"].to_list() == [104, 106]
    assert posts["source_file"].unique().to_list() == ["messages.html"]
    assert posts["line_start"].is_null().all() and posts["line_end"].is_null().all()
    assert not posts["truncated"].any()


def test_channel_from_page_header(page1):
    posts = page1[0]
    # The header's text, white space collapsed and trimmed as a browser shows it.
    assert posts["channel_title"].unique().to_list() == ["Тестовый канал"]
    assert posts["channel"].unique().to_list() == ["Тестовый канал"]
    assert posts["channel_username"].is_null().all()
    assert posts["channel_numeric_id"].is_null().all()
    assert posts["forwarded_from_id"].is_null().all()
    assert posts["views"].is_null().all()


# --- text --------------------------------------------------------------------------------

def test_text_as_the_browser_shows_it(page1):
    plain = by_id(page1[0])[101]
    # <br> breaks lines; source newlines and indentation are only white space; a
    # blockquote is a block of its own; blank lines are dropped by posts_frame.
    assert plain["text"] == (
        "Первая строка с пробелами\n"
        "Вторая строка с отступом в исходнике\n"
        "Жирный и курсив 😀\n"
        "Цитата\n"
        "После цитаты"
    )
    assert plain["title"] == "Первая строка с пробелами"


def test_entities_links_mentions_hashtags(page1):
    row = by_id(page1[0])[102]
    # Visible text of every entity: the custom emoji's character, the link's words.
    assert row["text"] == (
        "⚡️ Новости #новости от @durov: читайте на сайте и https://t.me/testchannel/5\n"
        "Ещё раз ссылка, @durov, #новости и #экономика, почта news@example.org"
    )
    # hrefs (not the visible text), each once; mentions, stickers/ and mailto: are not links.
    assert row["links"] == ["https://example.org/a?b=1&c=2", "https://t.me/testchannel/5"]
    assert row["mentions"] == ["@durov"]
    assert row["hashtags"] == ["#новости", "#экономика"]
    assert by_id(page1[0])[101]["hashtags"] == []
    assert by_id(page1[0])[101]["links"] == [] and by_id(page1[0])[101]["mentions"] == []


def test_joined_message_and_signature(page1):
    rows = by_id(page1[0])
    joined = rows[102]  # no from_name header: a message all the same
    assert joined["author"] == "Иван Петров"
    assert joined["date"] == utc(2025, 6, 5, 9, 31, 15)
    assert rows[101]["author"] is None


# --- dates -------------------------------------------------------------------------------

def test_dates_from_the_title_attribute_in_utc(page1):
    rows = by_id(page1[0])
    assert rows[101]["date"] == utc(2025, 6, 5, 9, 30)  # 12:30 UTC+03:00
    assert rows[105]["date"] == utc(2025, 6, 6, 6, 5)
    # The export shows no edit times.
    assert page1[0]["edited_at"].is_null().all()


def test_zoned_dates_ignore_export_tz():
    posts, counts = read_desktop_export(FIXTURES / "messages.html", "messages.html", export_tz="Asia/Tokyo")
    assert by_id(posts)[101]["date"] == utc(2025, 6, 5, 9, 30)
    assert counts["warnings"] == []


def test_zoneless_dates_read_as_utc_with_one_warning():
    posts, counts = read_desktop_export(FIXTURES / "old_export" / "messages.html", "messages.html")
    assert posts["message_id"].to_list() == [3001, 3002]
    assert by_id(posts)[3001]["date"] == utc(2017, 2, 6, 14, 24, 54)
    assert by_id(posts)[3002]["date"] == utc(2017, 2, 6, 14, 30, 10)
    assert len(counts["warnings"]) == 1
    warning = counts["warnings"][0]
    assert "no time zone" in warning and "UTC" in warning and "--export-tz" in warning
    assert "\n" not in warning
    assert by_id(posts)[3001]["text"] == "Old post\nsecond line"
    assert posts["channel_title"].unique().to_list() == ["Old Channel"]


def test_zoneless_dates_in_the_export_tz():
    posts, counts = read_desktop_export(
        FIXTURES / "old_export" / "messages.html", "messages.html", export_tz="Europe/Moscow"
    )
    assert by_id(posts)[3001]["date"] == utc(2017, 2, 6, 11, 24, 54)  # Moscow was UTC+3
    assert counts["warnings"] == []


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../etc/passwd"])
def test_invalid_export_tz(zone):
    with pytest.raises(ValueError) as err:
        read_desktop_export(FIXTURES / "messages.html", "messages.html", export_tz=zone)
    assert "\n" not in str(err.value) and "time zone" in str(err.value)


# --- forwards, replies, reactions --------------------------------------------------------

def test_forwarded(page1):
    rows = by_id(page1[0])
    forwarded = rows[103]
    assert forwarded["forwarded_from"] == "Маргарита"  # the name, not the date beside it
    assert forwarded["text"] == "Пересланный текст"
    # Joined to the forward before it: no name shown, the same sender all the same.
    media_only = rows[104]
    assert media_only["forwarded_from"] == "Маргарита"
    assert media_only["media_type"] == "photo" and media_only["text"] is None
    assert rows[101]["forwarded_from"] is None


def test_replies(page1, page2):
    assert by_id(page1[0])[105]["reply_to_message_id"] == 101
    assert by_id(page2[0])[210]["reply_to_message_id"] == 102  # messages.html#go_to_message102
    assert by_id(page1[0])[101]["reply_to_message_id"] is None


def test_reactions(page1):
    rows = by_id(page1[0])
    # A paid (star) reaction has no emoji, as in the JSON export.
    assert rows[101]["reactions"] == [{"emoji": "👍", "count": 12}, {"emoji": None, "count": 3}]
    assert rows[102]["reactions"] == []


# --- media -------------------------------------------------------------------------------

def test_media_kinds(page1, page2):
    kinds = {
        **{i: r["media_type"] for i, r in by_id(page1[0]).items()},
        **{i: r["media_type"] for i, r in by_id(page2[0]).items()},
    }
    assert kinds == {
        101: None, 102: None, 103: None, 104: "photo", 105: None, 106: "video_message",
        201: "photo", 202: "sticker", 203: "poll", 204: "voice_message", 205: "animation",
        207: "audio_file", 208: "file", 209: "unknown", 210: None,
    }
    both = pl.concat([page1[0], page2[0]])
    assert both["media_type"].drop_nulls().is_in(MEDIA_TYPES).all()
    assert (both["media"].is_null() == both["media_type"].is_null()).all()
    assert (both["media"].drop_nulls() == both["media_type"].drop_nulls()).all()


def test_media_with_caption_and_media_only(page2):
    rows = by_id(page2[0])
    assert rows[201]["text"] == "Фото дня"
    assert rows[205]["text"] == "Гифка с подписью"
    assert rows[207]["text"] == "Выпуск программы"  # the file name is not the text
    assert [i for i, r in rows.items() if r["post_id"] is None] == [202, 204, 208, 209]


def test_poll_text(page2):
    poll = by_id(page2[0])[203]
    # The question, then one option a line; no "- " bullets, no vote counts.
    assert poll["text"] == "Как вы добираетесь на работу?\nМетро\nПешком"
    assert poll["title"] == "Как вы добираетесь на работу?"


# --- pages -------------------------------------------------------------------------------

def test_missing_next_page(page2):
    counts = page2[1]
    assert counts == {
        "messages": 9, "service": 1, "empty": 4, "posts": 5, "rejected": [],
        "warnings": ["next page messages3.html is missing: its messages are not in this export"],
    }


def test_missing_previous_page(tmp_path):
    shutil.copy(FIXTURES / "messages2.html", tmp_path / "messages2.html")
    _, counts = read_desktop_export(tmp_path / "messages2.html", "messages2.html")
    assert counts["warnings"] == [
        "previous page messages.html is missing: its messages are not in this export",
        "next page messages3.html is missing: its messages are not in this export",
    ]


# --- what is not an export ---------------------------------------------------------------

def test_detect_format_of_pages():
    for page in ("messages.html", "messages2.html", "old_export/messages.html"):
        assert detect_format((FIXTURES / page).read_bytes()[:HEAD_BYTES]) == "desktop_html"
    assert detect_format(WEB_PAGE.read_bytes()[:HEAD_BYTES]) == "web_html"


def test_saved_web_page_is_not_a_desktop_export():
    with pytest.raises(NotADump) as err:
        read_desktop_export(WEB_PAGE, "mid_russia_page.html")
    assert "\n" not in str(err.value)


def test_other_html_is_not_a_desktop_export(tmp_path):
    page = tmp_path / "article.html"
    page.write_text("<!DOCTYPE html><html><body><div class='message'>hi</div><p>text</p></body></html>")
    with pytest.raises(NotADump) as err:
        read_desktop_export(page, "article.html")
    assert "Telegram Desktop" in str(err.value) and "\n" not in str(err.value)


def test_export_list_page_is_not_a_chat(tmp_path):
    # Other pages of an account export (contacts, sessions) share the skeleton.
    page = tmp_path / "contacts.html"
    skeleton = (FIXTURES / "messages.html").read_text().split('   <div class="page_body chat_page">')[0]
    page.write_text(skeleton + '<div class="page_body list_page"><div class="entry_list"></div></div></div></body></html>')
    with pytest.raises(NotADump):
        read_desktop_export(page, "contacts.html")


def test_not_utf8(tmp_path):
    page = tmp_path / "messages.html"
    page.write_bytes((FIXTURES / "messages.html").read_text().encode("utf-16"))
    with pytest.raises(NotADump):
        read_desktop_export(page, "messages.html")
