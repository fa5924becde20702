"""Text normalisation: the keys by which the stages compare and hash text.

Each key is a Polars expression and its docstring states its rule:

- `normalized_text`: what a post_id hashes (tasks/hashing.py: post_ids);
- `letters_key`: the splitter's line key, by which copy B of a body is found
  (tasks/parsing/split_posts.py);
- `line_key`: a line as boilerplate is counted (tasks/relate/mark_boilerplate.py);
- `word_key`: a line as near-duplicates are shingled (tasks/relate/find_near_duplicates.py).

The last two keep a line's links whole (`with_links`, `url_tokens`).
"""
from __future__ import annotations

import polars as pl

URL = r"(?i:https?://|www\.|t\.me/)\S+"


def normalized_text(text: pl.Expr) -> pl.Expr:
    """The text a post_id hashes: NFKC, runs of white space folded to one space."""
    return (
        text.str.normalize("NFKC")
        .str.replace_all(r"[^\S\n]+", " ")
        .str.replace_all(r" ?\n ?", "\n")
        .str.strip_chars()
    )


def letters_key(text: pl.Expr) -> pl.Expr:
    """A line's letters and digits, lower case, nothing else (no NFKC): a copy that lost
    emoji, punctuation or spaces still has the key of the other."""
    return text.str.to_lowercase().str.replace_all(r"[^\p{L}\p{N}]+", "")


def url_tokens(text: pl.Expr) -> pl.Expr:
    """The links of a text, each one word of its letters and digits: a link is a post's
    content, and two links differ in their ids (`youtube.com/watch?v=1fASN9oYGdw`), not in
    the words around them."""
    return text.str.extract_all(URL).list.eval(pl.element().str.replace_all(r"[^\p{L}\p{N}]+", "")).list.join(" ")


def with_links(key: pl.Expr, text: pl.Expr) -> pl.Expr:
    """`key` of the text without its links, then its links (url_tokens)."""
    return pl.concat_str(key, url_tokens(text), separator=" ").str.strip_chars()


def line_key(text: pl.Expr) -> pl.Expr:
    """Letters only: NFKC, lower case, any run of non-letters (digits too) as one space;
    links whole (url_tokens)."""
    letters = (
        text.str.replace_all(URL, " ").str.normalize("NFKC").str.to_lowercase()
        .str.replace_all(r"[^\p{L}]+", " ").str.strip_chars()
    )
    return with_links(letters, text.str.normalize("NFKC").str.to_lowercase())


def word_key(text: pl.Expr) -> pl.Expr:
    """NFKC, lower case, runs of anything but letters and digits as one space; marks
    stay after a letter (Thai and Indic vowels are marks), not after an emoji (its
    variation selector); links whole (url_tokens)."""
    text = text.str.normalize("NFKC").str.to_lowercase()
    words = text.str.replace_all(URL, " ").str.replace_all(r"^\p{M}+|(?:[^\p{L}\p{M}\p{N}]\p{M}*)+", " ").str.strip_chars()
    return with_links(words, text)
