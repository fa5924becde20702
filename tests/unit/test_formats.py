"""Format detection and the two non-text readers: Telegram Desktop JSON and t.me/s HTML.

The fixtures in tests/fixtures/formats are hand-written after real exports and pages:
result.json (one channel), account_export.json (a whole account: a personal chat, a
channel and a left channel), mid_russia_page.html (a saved t.me/s page) and
cross_capture.txt (two of the same posts as a plain-text capture).
"""
from __future__ import annotations

import json
import re
import tracemalloc
from pathlib import Path

import polars as pl
import pytest

from conftest import by_id, read_fixture, utc
from tasks.parsing.collapse_copies import collapse_copies
from tasks.reading.detect_format import HEAD_BYTES, detect_format
from tasks.reading.read_source import NotADump, lines_frame, read_source
from tasks.reading.read_telegram_export import read_telegram_export
from tasks.reading.read_web_page import read_web_page
from tasks.parsing.split_posts import split_posts

FIXTURES = Path(__file__).parents[1] / "fixtures" / "formats"
RAW = Path(__file__).resolve().parents[2] / "data" / "raw"


export = read_fixture(read_telegram_export, FIXTURES / "result.json")
page = read_fixture(read_web_page, FIXTURES / "mid_russia_page.html")


# --- format detection -------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("result.json", "telegram_json"),
    ("account_export.json", "telegram_json"),
    ("mid_russia_page.html", "web_html"),
    ("cross_capture.txt", "text"),
])
def test_detect_format_of_fixtures(name, expected):
    assert detect_format((FIXTURES / name).read_bytes()[:HEAD_BYTES]) == expected


def test_detect_format_of_real_captures():
    for path in RAW.glob("*.txt"):
        assert detect_format(path.read_bytes()[:HEAD_BYTES]) == "text"


@pytest.mark.parametrize("head, expected", [
    (b'\xef\xbb\xbf\n  {\n "name": "X",\n "type": "public_channel",\n "messages": [', "telegram_json"),
    (b'{"about": "Here is the data you requested.", "personal_information": {', "telegram_json"),
    (b'{"name": "X", "kind": "something else"}', None),  # JSON, but not an export
    (b"<!DOCTYPE html>\n<html>\n<head>", "web_html"),
    (b"<!-- saved from url=(0026)https://t.me/s/mid_russia -->\n<HTML><head>", "web_html"),
    (b'<div class="tgme_widget_message_wrap"><div class="tgme_widget_message"', "web_html"),
    # A Telegram Desktop HTML export page, told by its skeleton, not its name.
    (b'<!DOCTYPE html>\n<html>\n\n <head>\n\n  <meta charset="utf-8"/>\n<title>Exported Data</title>\n'
     b' </head>\n\n <body onload="CheckLocation();">\n\n  <div class="page_wrap">\n\n'
     b'   <div class="page_header">\n\n    <div class="content">\n\n     <div class="text bold">\nBFM \n', "desktop_html"),
    # A saved t.me/s page stays web_html.
    (b'<!DOCTYPE html>\n<html>\n  <head>\n    <meta charset="utf-8">\n    <title>Telegram: Contact @bfm</title>\n'
     b'  </head>\n  <body class="widget_frame_base tgme_webpreview">\n    <div class="tgme_page_wrap">\n'
     b'      <div class="tgme_header_info">\n', "web_html"),
    (b"Forwarded from X\nTitle\n{braces} are fine in a capture\n", "text"),
    ("Заголовок\nтекст".encode()[:-1], "text"),  # head cut inside a character
    (b"", "text"),  # read_source says why an empty file is rejected
    # read_source says why these are rejected (binary, UTF-16, not UTF-8)
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "text"),
    ("UTF-16 text".encode("utf-16"), "text"),
    (b"caf\xe9 latin-1", "text"),
])
def test_detect_format(head, expected):
    assert detect_format(head) == expected


# --- Telegram Desktop JSON ------------------------------------------------------------

def test_export_columns_and_counts(export):
    posts, counts = export  # with the readers' columns (read_fixture)
    assert counts == {"chats": 1, "skipped_chats": 0, "messages": 7, "service": 1, "empty": 2, "posts": 4,
                      "rejected": [], "warnings": []}
    # Every message is a row; the two without text (media only) have no post_id.
    assert posts["message_id"].to_list() == [41001, 41002, 41003, 41004, 41005, 41006]
    assert posts.filter(pl.col("post_id").is_null())["message_id"].to_list() == [41003, 41006]
    assert posts["position"].to_list() == list(range(6))
    assert posts["channel"].unique().to_list() == ["МИД России 🇷🇺"]
    assert posts["source_file"].unique().to_list() == ["result.json"]
    assert posts["line_start"].is_null().all() and posts["line_end"].is_null().all()
    assert posts["views"].is_null().all()  # Desktop exports carry no view counts
    assert not posts["truncated"].any()
    assert posts["post_id"].drop_nulls().str.contains(r"^[0-9a-f]{32}$").all()


def test_export_fields(export):
    rows = by_id(export[0])
    plain, entities, forwarded, video = rows[41001], rows[41002], rows[41004], rows[41005]
    # Blank lines dropped, trailing blanks trimmed, as in a capture.
    assert plain["text"] == (
        "Брифинг официального представителя МИД России М.В.Захаровой\n"
        "Основные темы:\n— ситуация на Украине\n— отношения с ЕС"
    )
    assert plain["title"] == "Брифинг официального представителя МИД России М.В.Захаровой"
    assert plain["date"] == utc(2025, 6, 5, 9, 30)  # date_unixtime, not the local `date`
    assert plain["edited_at"] is None
    assert plain["reactions"] == [
        {"emoji": "👍", "count": 1520}, {"emoji": None, "count": 12}, {"emoji": None, "count": 3},
    ]
    # Entities flatten to what a reader sees: link text, not the text_link's href.
    assert entities["text"] == (
        "Глобальный цифровой форум в Нижнем Новгороде #ГЦФ\n"
        "Подробнее 👉 https://mid.ru/ru/foreign_policy/news/\n"
        "Стенограмма — на сайте #ГЦФ #цифра_2025"
    )
    assert entities["hashtags"] == ["#ГЦФ", "#цифра_2025"]
    assert entities["edited_at"] == utc(2025, 6, 5, 10, 5, 10)
    assert entities["media"] == "photo" and entities["reactions"] == []
    assert forwarded["forwarded_from"] == "Владимир Мединский"
    assert video["media"] == "video_file"
    assert video["text"] == "Интервью С.В.Лаврова телеканалу @rt_russian 🎙"


def test_export_text_entities_bom_and_views(tmp_path):
    chat = {"name": "c", "type": "public_channel", "id": 1, "messages": [
        {"id": 1, "type": "message", "date_unixtime": "0", "views": 42,
         "text_entities": [{"type": "plain", "text": "Only "}, {"type": "bold", "text": "entities\n\n"}]},
        {"id": 2, "type": "message", "date_unixtime": "60", "text": "plain"},
    ]}
    path = tmp_path / "result.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(chat).encode())
    posts, counts = read_telegram_export(path, "x")
    assert posts["text"].to_list() == ["Only entities", "plain"]
    assert posts["views"].to_list() == [42, None]
    assert posts["date"].to_list() == [utc(1970, 1, 1), utc(1970, 1, 1, 0, 1)]
    assert counts["posts"] == 2


def test_account_export_reads_channels_only(tmp_path):
    posts, counts = read_telegram_export(FIXTURES / "account_export.json", "account.json")
    assert counts == {"chats": 2, "skipped_chats": 1, "messages": 4, "service": 1, "empty": 0, "posts": 3,
                      "rejected": [], "warnings": []}
    assert posts["channel"].to_list() == ["Russian MFA 🇷🇺", "Russian MFA 🇷🇺", "Old News Channel"]
    assert posts["message_id"].to_list() == [501, 502, 7]
    # One file, one position sequence: (source_file, position) stays a key.
    assert posts["position"].to_list() == [0, 1, 2]
    assert not posts["text"].str.contains("личное").any()
    assert posts.filter(pl.col("message_id") == 502)["forwarded_from"].item() == "МИД России 🇷🇺"


@pytest.mark.parametrize("content, reason", [
    (b'{"name": "x", "type": "public_channel", "id": 1}', "without Telegram messages"),
    (b'[1, 2, 3]', "without Telegram messages"),
    (b'{"name": "x", "messages": [{"id": 1, "text": "cut', "not a valid JSON export"),
    (b'{"name": "Bob", "type": "personal_chat", "messages": []}', "personal_chat export without messages"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "not a valid JSON export"),
])
def test_export_not_a_dump(tmp_path, content, reason):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(NotADump, match=re.escape(reason)):
        read_telegram_export(path, "bad.json")


def _write_big_export(path: Path, n: int) -> None:
    """A one-channel export of n messages, laid out like Telegram Desktop's."""
    with open(path, "w", encoding="utf-8") as file:
        file.write('{\n "name": "Big channel",\n "type": "public_channel",\n "id": 1,\n "messages": [\n')
        for i in range(n):
            body = f"\nСтрока текста номер {i}, с повторами. " * 6
            message = {
                "id": i + 1, "type": "service" if i % 100 == 0 else "message",
                "date": "2025-01-01T03:00:00", "date_unixtime": str(1735689600 + i),
                "from": "Big channel", "from_id": "channel1",
                "text": [f"Пост {i} ", {"type": "hashtag", "text": f"#tag{i % 50}"}, body],
                "text_entities": [{"type": "plain", "text": f"Пост {i} "},
                                  {"type": "hashtag", "text": f"#tag{i % 50}"}, {"type": "plain", "text": body}],
                "reactions": [{"type": "emoji", "count": i % 7, "emoji": "👍"}],
            }
            file.write(("," if i else "") + json.dumps(message, ensure_ascii=False, indent=1))
        file.write("\n ]\n}\n")


def _python_peak(path: Path) -> tuple[int, dict]:
    tracemalloc.start()
    try:
        _, counts = read_telegram_export(path, path.name)
        return tracemalloc.get_traced_memory()[1], counts
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_large_export_streams(tmp_path):
    """Python memory stays flat as the file grows: messages are never all in memory.

    (tracemalloc sees Python objects, not the Arrow buffers the rows end up in.)
    """
    small, big = tmp_path / "small.json", tmp_path / "big.json"
    _write_big_export(small, 4_000)
    _write_big_export(big, 20_000)
    small_peak, _ = _python_peak(small)
    big_peak, counts = _python_peak(big)
    size = big.stat().st_size
    print(f"\n{size / 1e6:.1f} MB export: Python peak {big_peak / 1e6:.1f} MB "
          f"({small.stat().st_size / 1e6:.1f} MB export: {small_peak / 1e6:.1f} MB)")
    assert counts["posts"] == 19_800 and counts["service"] == 200
    assert big_peak < size / 3
    assert big_peak < 1.5 * small_peak + 1_000_000


# --- saved t.me/s page --------------------------------------------------------------

def test_page_columns_and_counts(page):
    posts, counts = page  # with the readers' columns (read_fixture)
    assert counts == {"messages": 8, "service": 1, "empty": 2, "edited": 1, "posts": 5, "rejected": []}
    assert posts.drop_nulls("post_id")["message_id"].to_list() == [41001, 41002, 41004, 41005, 41007]
    assert posts["position"].to_list() == list(range(7))
    assert posts["channel"].unique().to_list() == ["mid_russia"]
    assert posts.drop_nulls("post_id")["views"].to_list() == [1200, 317, 4_500_000, 12_300, 8_100]
    assert posts["edited_at"].is_null().all() and not posts["truncated"].any()


def test_page_fields(page):
    rows = by_id(page[0])
    assert rows[41001]["text"].split("\n") == [
        "Брифинг официального представителя МИД России М.В.Захаровой",
        "Основные темы:", "— ситуация на Украине", "— отношения с ЕС",
    ]
    # A custom emoji reaction and paid stars have no character.
    assert rows[41001]["reactions"] == [
        {"emoji": "👍", "count": 1500}, {"emoji": None, "count": 12}, {"emoji": None, "count": 3},
    ]
    assert rows[41002]["date"] == utc(2025, 6, 5, 10)  # +03:00 on the page
    assert rows[41002]["media"] == "photo"
    assert rows[41004]["forwarded_from"] == "Владимир Мединский"
    assert rows[41004]["reactions"] == [{"emoji": "🙏", "count": 87}]
    # A reply quotes the replied-to text; only the post's own text counts.
    assert rows[41005]["text"] == "Интервью С.В.Лаврова телеканалу @rt_russian 🎙"
    assert rows[41005]["media"] == "video_file"
    assert rows[41007]["media"] == "Media is too big"  # the words a capture records
    assert rows[41007]["title"] == "Видеообращение к участникам форума"


@pytest.mark.parametrize("content, reason", [
    ("<!DOCTYPE html><html><body><p>Nothing here</p></body></html>".encode(), "no tgme_widget_message"),
    (b"<html>caf\xe9</html>", "not UTF-8"),
])
def test_page_not_a_dump(tmp_path, content, reason):
    path = tmp_path / "page.html"
    path.write_bytes(content)
    with pytest.raises(NotADump, match=reason):
        read_web_page(path, "page.html")


# --- the same post in every format -------------------------------------------------

def test_same_post_same_id_in_every_format(export, page):
    """Messages 41002 (entities, emoji, blank line) and 41004 (a forward) as a JSON
    export message, a t.me/s block and a plain-text capture (title, body, body again)."""
    capture = read_source(FIXTURES / "cross_capture.txt")
    from_text = collapse_copies(split_posts(lines_frame("cross_capture.txt", capture.lines)))
    from_json, from_html = by_id(export[0]), by_id(page[0])
    assert from_text.height == 2
    for message_id, text_row in zip([41004, 41002], from_text.iter_rows(named=True)):
        json_row, html_row = from_json[message_id], from_html[message_id]
        assert json_row["post_id"] == html_row["post_id"] == text_row["post_id"]
        for column in ("text", "title", "hashtags", "forwarded_from"):
            assert json_row[column] == html_row[column] == text_row[column], column
        assert json_row["date"] == html_row["date"]
    # Every post the page and the export share has one id.
    shared = {i for i in set(from_json) & set(from_html) if from_json[i]["post_id"]}
    assert shared == {41001, 41002, 41004, 41005}
    assert all(from_json[i]["post_id"] == from_html[i]["post_id"] for i in shared)
