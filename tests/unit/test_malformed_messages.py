"""One malformed message is rejected alone; a file over an input limit is rejected with
the limit named, quickly. Expected values are read off the inputs written here."""
import json
import time
from pathlib import Path

import polars as pl
import pytest

from exports import export, message
from tasks.reading.malformed import ReadLimits, check_html_depth
from tasks.reading.read_desktop_export import read_desktop_export
from tasks.reading.read_source import NotADump
from tasks.reading.read_telegram_export import read_telegram_export
from tasks.reading.read_web_page import read_web_page

FORMATS = Path(__file__).parents[1] / "fixtures" / "formats"
DESKTOP = Path(__file__).parents[1] / "fixtures" / "desktop_export"


@pytest.mark.parametrize("field, value, message_id, reason", [
    ("text", 5, "2", "text is a number, not text or a list"),
    ("text", [{"type": "bold", "text": 7}], "2", "text entity text is a number, not text"),
    ("reactions", {"a": 1}, "2", "reactions is an object, not a list"),
    ("reactions", [{"type": "emoji", "emoji": "👍", "count": -3}], "2", "reaction count -3 is out of range"),
    ("id", "x", "x", "id 'x' is not an integer"),
    ("id", 2**63, "9223372036854775808", "id 9223372036854775808 is out of range"),
    ("id", None, None, "no id"),
    ("date_unixtime", 1e20, "2", "date_unixtime '1e+20' is not an integer"),
    ("date_unixtime", "100000000000000000000", "2", "date_unixtime 100000000000000000000 is out of range"),
    ("forwarded_from", {"name": "x"}, "2", "forwarded_from is an object, not text"),
    ("forwarded_from_id", "channel99999999999999999999", "2", "forwarded_from_id 99999999999999999999 is out of range"),
    ("date", "yesterday", "2", "date 'yesterday' is not a date"),
    ("views", 1.5, "2", "views '1.5' is not an integer"),
    ("poll", {"question": "Q?", "answers": 3}, "2", "poll answers is a number, not a list"),
])
def test_a_malformed_export_message_is_rejected_alone(tmp_path, field, value, message_id, reason):
    path = export(tmp_path, [message(1), message(2, **{field: value}), message(3)])
    posts, counts = read_telegram_export(path, "result.json")
    assert posts["message_id"].to_list() == [1, 3]
    assert posts["position"].to_list() == [0, 2]  # the rejected message keeps its place
    assert posts["text"].to_list() == ["Post number 1 of the channel", "Post number 3 of the channel"]
    assert counts["rejected"] == [{"position": 1, "message_id": message_id, "reason": reason}]
    assert counts["messages"] == 3 and counts["posts"] == 2


def test_a_message_that_is_no_object_is_rejected_and_counted(tmp_path):
    path = export(tmp_path, [message(1), 17, ["a", "list"], {"id": 4, "type": "service"}, message(5)])
    posts, counts = read_telegram_export(path, "result.json")
    assert posts["message_id"].to_list() == [1, 5]
    assert counts["rejected"] == [{"position": 1, "message_id": None, "reason": "message is a number, not an object"},
                                  {"position": 2, "message_id": None, "reason": "message is a list, not an object"}]
    assert (counts["messages"], counts["service"], counts["posts"]) == (5, 1, 2)


def test_unknown_fields_and_missing_optional_ones_are_no_fault(tmp_path):
    path = export(tmp_path, [{"id": 1, "text": "Only an id and a text", "something_new": {"deep": [1, {}]}}])
    posts, counts = read_telegram_export(path, "result.json")
    assert counts["rejected"] == []
    assert posts.select("message_id", "date", "views", "forwarded_from").row(0) == (1, None, None, None)


def test_a_chat_field_of_the_wrong_kind_rejects_the_file(tmp_path):
    with pytest.raises(NotADump, match=r"^chat name '5' is a number, not text$"):
        read_telegram_export(export(tmp_path, [message(1)], name=5), "result.json")


def test_a_text_over_the_limit_is_rejected_alone(tmp_path):
    path = export(tmp_path, [message(1, text="a" * 11), message(2, text="b" * 10)])
    posts, counts = read_telegram_export(path, "result.json", limits=ReadLimits(64, 10, 256))
    assert posts["text"].to_list() == ["b" * 10]
    assert counts["rejected"] == [{"position": 0, "message_id": "1",
                                   "reason": "text of 11 characters, over max_message_chars=10"}]


@pytest.mark.parametrize("where", ["top", "message"])
def test_deep_json_is_rejected_quickly_with_the_limit_named(tmp_path, where):
    brackets = "[" * 100_000 + "]" * 100_000  # 200 KB; ijson's prefixes made it 24 GB
    path = tmp_path / "result.json"
    if where == "top":
        path.write_text(brackets)
    else:
        path.write_text('{"name": "C", "type": "public_channel", "id": 1, "messages": [{"id": 1, "buttons": '
                        + brackets + "}]}")
    started = time.perf_counter()
    with pytest.raises(NotADump, match=r"^JSON nested deeper than max_json_depth=64$"):
        read_telegram_export(path, "result.json")
    assert time.perf_counter() - started < 2


def test_json_as_deep_as_the_limit_is_read(tmp_path):
    # root {} → messages [] → message {} → buttons: 61 lists: 64 levels
    path = export(tmp_path, [message(1, buttons=json.loads("[" * 61 + "]" * 61))])
    posts, _ = read_telegram_export(path, "result.json")
    assert posts["message_id"].to_list() == [1]
    path = export(tmp_path, [message(1, buttons=json.loads("[" * 62 + "]" * 62))])
    with pytest.raises(NotADump, match="max_json_depth=64"):
        read_telegram_export(path, "result.json")


def desktop_page(tmp_path: Path, replace: str, by: str) -> Path:
    html = (DESKTOP / "messages.html").read_text(encoding="utf-8")
    assert replace in html
    path = tmp_path / "messages.html"
    path.write_text(html.replace(replace, by, 1), encoding="utf-8")
    return path


def test_a_desktop_message_with_a_bad_id_or_count_is_rejected_alone(tmp_path):
    path = desktop_page(tmp_path, 'id="message102"', 'id="message99999999999999999999"')
    posts, counts = read_desktop_export(path, "messages.html")
    assert posts["message_id"].to_list() == [101, 103, 104, 105, 106]
    assert counts["rejected"] == [{"position": 1, "message_id": "99999999999999999999",
                                   "reason": "id 99999999999999999999 is out of range"}]


def test_deep_html_is_rejected_before_parsing(tmp_path):
    nest = "<div>" * 80_000 + "deep" + "</div>" * 80_000  # parsing it took 16 s, quadratic
    path = desktop_page(tmp_path, '<div class="history">', '<div class="history">' + nest)
    started = time.perf_counter()
    with pytest.raises(NotADump, match=r"^HTML nested deeper than max_html_depth=256$"):
        read_desktop_export(path, "messages.html")
    page = tmp_path / "page.html"
    page.write_text((FORMATS / "mid_russia_page.html").read_text(encoding="utf-8").replace("<body", nest + "<body", 1))
    with pytest.raises(NotADump, match=r"^HTML nested deeper than max_html_depth=256$"):
        read_web_page(page, "page.html")
    assert time.perf_counter() - started < 3


def test_the_depth_estimate_follows_html_rules():
    check_html_depth("<svg>" + "<path d='M0'/>" * 1000 + "</svg>", 256)  # SVG closes "/>" tags
    check_html_depth("<p>" * 1000 + "<!--" + "<div>" * 1000 + "-->" + "<script>" + "<b>" * 1000 + "</script>", 256)
    with pytest.raises(NotADump):
        check_html_depth("<div/>" * 1000, 256)  # in HTML "/>" closes nothing
    with pytest.raises(NotADump):
        check_html_depth("</div>" * 1000 + "<div>" * 1000, 256)  # a stray closing tag closes nothing
    with pytest.raises(NotADump):
        check_html_depth("<div></span>" * 1000, 256)  # nor does one of another element


def test_a_page_with_a_twenty_digit_view_count_keeps_its_other_posts(tmp_path):
    html = (FORMATS / "mid_russia_page.html").read_text(encoding="utf-8")
    first_views = html.index('tgme_widget_message_views">')
    end = html.index("<", first_views + 27)
    page = tmp_path / "page.html"
    page.write_text(html[:first_views + 27] + "12345678901234567890" + html[end:], encoding="utf-8")
    posts, counts = read_web_page(page, "page.html")
    whole, whole_counts = read_web_page(FORMATS / "mid_russia_page.html", "page.html")
    (rejected,) = counts["rejected"]
    assert rejected["reason"] == "views '12345678901234567890' is not a count"
    assert posts.equals(whole.filter(pl.col("position") != rejected["position"]))
