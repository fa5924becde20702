"""Hashtags found in plain text the way Telegram finds them.

Telegram's rule is tdlib's `match_hashtags` (td/telegram/MessageEntity.cpp):

- a hashtag letter is a Unicode letter (any L* category, so CJK, kana with ー,
  Arabic letters...), a decimal digit (Nd), '_', ZWNJ U+200C, '·' U+00B7, or
  anything in the Sinhala block U+0D80-U+0DFF; combining marks are not letters, so
  an Arabic tashkeel or a Devanagari vowel sign ends a tag;
- a '#' right after a hashtag letter starts nothing ("a#b", "https://x.ru/page#card");
- the tag runs over hashtag letters and must hold at least one letter (#2025 is none);
  only its first 256 letters count;
- `@username` (3-32 of [A-Za-z0-9_]) glued to the tag belongs to it: `#tag@name` is
  one hashtag (a channel-scoped tag; the JSON export's hashtag entity says so too);
- a tag followed by '#' is none (#a#b gives nothing);
- a hashtag that starts inside a URL is dropped: find_entities keeps the earlier of two
  overlapping entities, and the URL starts first ("https://x.ru/#card").

Rust's regex has no look-around, so the text is cut into tokens, leftmost first: a
URL, a run of hashtag letters with the '#' glued after it (that '#' starts nothing),
or a '#' and what follows it. Only the last kind can be a hashtag.
"""
from __future__ import annotations

import polars as pl

LETTER = r"\p{L}\p{Nd}_\x{200C}\x{B7}\x{0D80}-\x{0DFF}"
USERNAME = r"@[A-Za-z0-9_]{3,32}"
URL_CHAR = r"[^\s<>\"«»]"
# A URL with a scheme, or a bare domain followed by a path or a query: the only places
# where a '#' after a non-letter ('/', '?', '=', '&') can sit inside a URL.
URL = rf"(?i:[a-z][a-z0-9+.\-]*://|www\.){URL_CHAR}+|(?:[{LETTER}\-]+\.)+\p{{L}}{{2,}}[/?]{URL_CHAR}*"
TOKENS = rf"{URL}|[{LETTER}]+#?|#[{LETTER}]+(?:{USERNAME})?#?"
MAX_LETTERS = 256


def hashtags_of(text: pl.Expr) -> pl.Expr:
    """Hashtags of each text as Telegram marks them, in order, each once ('#' included)."""
    token = pl.element()
    return (
        text.fill_null("")
        .str.extract_all(TOKENS)
        .list.eval(
            token.filter(token.str.starts_with("#") & ~token.str.ends_with("#"))
            .pipe(_first_letters)
            .pipe(lambda tag: tag.filter(tag.str.contains(rf"^#[^@]*\p{{L}}")))
        )
        .list.unique(maintain_order=True)
    )


def _first_letters(token: pl.Expr) -> pl.Expr:
    """A run longer than MAX_LETTERS keeps its first MAX_LETTERS and no @username."""
    letters = token.str.extract(rf"^#([{LETTER}]+)")
    return pl.when(letters.str.len_chars() > MAX_LETTERS).then(
        pl.lit("#") + letters.str.slice(0, MAX_LETTERS)
    ).otherwise(token)
