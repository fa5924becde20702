"""Hashtags as Telegram finds them (tdlib's match_hashtags); expected values by hand."""
from __future__ import annotations

import polars as pl
import pytest

from tasks.reading.entities import hashtags_of


def tags(text: str | None) -> list[str]:
    return pl.select(hashtags_of(pl.lit(text, pl.Utf8))).item().to_list()


@pytest.mark.parametrize("text, expected", [
    # URL fragments are not hashtags, wherever the '#' sits in the URL
    ("https://x.ru/page#card", []),
    ("подробнее: https://x.ru/#card и #итоги", ["#итоги"]),
    ("mid.ru/ru/?id=5#top", []),
    # not inside a word
    ("C#sharp и a#b, но #ok", ["#ok"]),
    # CJK letters are hashtag letters: the tag runs on; CJK punctuation ends it
    ("#tag中文 тест", ["#tag中文"]),
    ("#東京オリンピック、#次", ["#東京オリンピック", "#次"]),
    # combining marks are not letters: Telegram ends the tag at the first tashkeel
    ("#عَلَى", ["#ع"]),
    ("#مرحبا", ["#مرحبا"]),
    # #tag@name is one (channel-scoped) hashtag; a username needs 3 characters
    ("#Side_Benefits@madrasatunaa \nRejoicing", ["#Side_Benefits@madrasatunaa"]),
    ("#tag@ab", ["#tag"]),
    # digits alone are no tag; a tag glued to a further '#' is none
    ("#2025 #2025год", ["#2025год"]),
    ("#a#b", []),
    ("##tag", ["#tag"]),
    # punctuation ends a tag; each tag once, in order
    ("(#мир), #война—#мир.", ["#мир", "#война"]),
    ("#ZWNJ\u200cتست #dot·ted", ["#ZWNJ\u200cتست", "#dot·ted"]),
    ("", []),
    (None, []),
])
def test_hashtags_follow_telegram(text, expected):
    assert tags(text) == expected


def test_only_first_256_letters_count():
    assert tags("#" + "я" * 300 + "@username") == ["#" + "я" * 256]
