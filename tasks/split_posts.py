"""Split a dump's lines into post occurrences: give every line a role.

A post, line by line:  [Forwarded from X] [placeholder, VIEW IN TELEGRAM] title
copy A of the body, copy B of the body, [footer lines: reactions, views, time].

Rules (documented in the README, asserted by the tests):
- A `Forwarded from` line or a media placeholder always starts a new post.
- Copy B starts at the next line whose key equals the first body line's key, where a
  line's key is its letters and digits, case-folded (a copy that lost emoji or
  punctuation still matches). Both copies start with the same line; after that either
  copy may lack up to `max_copy_misses` lines of the other. The first such start whose
  copies align is taken.
- A title with no doubled body after it is a title-only post. Undoubled lines that run
  to the end of the file are one post cut off by the end of the capture (title plus a
  single copy), since a capture can stop mid-post but never drops a copy elsewhere.
- Footer lines (reactions, views, time) count only right after a post; a footer line
  right after a title makes it a title-only post (a body never starts with one).
- Blank lines inside a post belong to it; blank lines between posts, and metadata
  lines with no post (a footer or header with no text after it), are rejects.

The scan is sequential by nature but runs over integer line keys only; text
assembly is left to `collapse_copies`.
"""
from __future__ import annotations

import polars as pl

PLACEHOLDERS = (
    "Media is too big",
    "This media is not supported in your browser",
    "Please open Telegram to view this post",
)
VIEW_LINK = "VIEW IN TELEGRAM"
HEADER_PREFIX = "Forwarded from "

COUNT = r"[0-9]+(?:[.,][0-9]+)?[KM]?"  # ASCII digits: \d takes any script's
VIEWS_TOKEN = rf"{COUNT}\s+views"
TIME_TOKEN = r"(?:edited\s+)?[0-9]{1,2}:[0-9]{2}"
REACTION_TOKEN = rf"[^\w\s]*\s?{COUNT}"
FOOTER_LINE = rf"^(?:(?:{VIEWS_TOKEN}|{TIME_TOKEN}|{REACTION_TOKEN})(?:\s+|$))+$"

# Candidate starts of copy B tried per post: bounds the work on pathological input.
MAX_COPY_STARTS = 16

# Line kinds, as small integers for the scan.
TEXT, HEADER, PLACEHOLDER, VIEW, FOOTER, BLANK = range(6)

# uncopied: body lines whose second copy the end of the capture cut off.
ROLES = ["header", "media", "view", "title", "copy_a", "copy_b", "uncopied", "footer", "blank"]
BODY_ROLES = ["copy_a", "copy_b", "uncopied"]
REJECT_REASONS = {
    "blank": "blank line between posts",
    "orphan_footer": "reaction/views/time line with no post before it",
    "no_text": "post header or media placeholder with no text after it (media-only post)",
}


def classify_lines(lines: pl.DataFrame) -> pl.DataFrame:
    """Add `kind` (int) and `key` (int, equal for lines equal up to emoji/punctuation/case)."""
    text = pl.col("text")
    # Computed once up front: used twice inside one expression it would be computed twice.
    lines = lines.with_columns(_letters=text.str.to_lowercase().str.replace_all(r"[^\p{L}\p{N}]+", ""))
    letters = pl.col("_letters")
    key_text = pl.when(letters == "").then(text.str.strip_chars()).otherwise(letters)
    kind = (
        pl.when(text.str.strip_chars() == "").then(BLANK)
        .when(text.str.starts_with(HEADER_PREFIX)).then(HEADER)
        .when(text.is_in(PLACEHOLDERS)).then(PLACEHOLDER)
        .when(text == VIEW_LINK).then(VIEW)
        .when(text.str.contains(FOOTER_LINE)).then(FOOTER)
        .otherwise(TEXT)
    )
    return lines.with_columns(
        kind=kind.cast(pl.Int8),
        key=key_text.rank("dense").over("source_file").cast(pl.Int64),
    ).drop("_letters")


class _Scan:
    """The post boundaries of one file's non-blank lines (indices into kinds/keys)."""

    def __init__(self, kinds: list[int], keys: list[int], max_misses: int):
        self.kinds, self.keys, self.max_misses = kinds, keys, max_misses
        self.n = len(self.kinds)
        # next_same[i]: the next index with the same key, or n.
        self.next_same = [self.n] * self.n
        seen: dict[int, int] = {}
        for i in range(self.n - 1, -1, -1):
            self.next_same[i] = seen.get(self.keys[i], self.n)
            seen[self.keys[i]] = i
        self._last_double_start: int | None = None
        self.role = [0] * self.n
        self.post = [-1] * self.n
        self.slot = [-1] * self.n
        self.reject = [""] * self.n

    def is_boundary(self, i: int) -> bool:
        return self.kinds[i] in (HEADER, PLACEHOLDER, VIEW)

    def limit_from(self, i: int) -> int:
        while i < self.n and not self.is_boundary(i):
            i += 1
        return i

    def align(self, a0: int, s: int, limit: int):
        """Align copy A = [a0, s) with copy B from s (keys[a0] == keys[s]).

        Returns (misses, end of copy B, pairs, cut, matched) or None; pairs lists
        (line, slot) for the lines of both copies, and the `matched` lines found in both
        copies share a slot; copy A's lines from `cut` on have no second copy (the file
        ended).
        """
        keys, a_end = self.keys, s
        i, j, misses, slot, pairs, matched = a0, s, 0, 0, [], 0
        while i < a_end and j < limit:
            if keys[i] == keys[j]:
                pairs += ((i, slot), (j, slot))
                i, j, matched = i + 1, j + 1, matched + 1
            elif i + 1 < a_end and keys[i + 1] == keys[j]:
                pairs.append((i, slot))  # copy B lacks line i
                i, misses = i + 1, misses + 1
            elif j + 1 < limit and keys[i] == keys[j + 1]:
                pairs.append((j, slot))  # copy A lacks line j
                j, misses = j + 1, misses + 1
            else:
                break
            slot += 1
        cut_by_end_of_file = j == self.n
        if not cut_by_end_of_file:
            misses += a_end - i
        if j == s or misses > self.max_misses:
            return None
        pairs += ((k, slot + k - i) for k in range(i, a_end))  # copy A tail beyond the cut
        return misses, j, pairs, i, matched

    def find_double(self, a0: int, limit: int):
        """The best doubling of the body starting at a0: fewest misses, then a whole
        second copy over one cut off by the end of the file, then most lines found in
        both copies.

        Several starts of copy B can align (a sentence that recurs inside a body, a post
        repeated right after itself); the true one leaves fewer lines unmatched and,
        among equals, pairs more of them.
        """
        best, best_rank = None, None
        s = self.next_same[a0] if a0 < limit else self.n
        for _ in range(MAX_COPY_STARTS):
            if s >= limit:
                break
            found = self.align(a0, s, limit)
            if found:
                misses, end, pairs, cut, matched = found
                rank = (misses, end == self.n and cut < s, -matched)
                if best_rank is None or rank < best_rank:
                    best, best_rank = (end, pairs, cut), rank
            s = self.next_same[s]
        return best

    def last_double_start(self) -> int:
        """Largest index of the file's last segment where a doubled body starts (or -1)."""
        if self._last_double_start is None:
            start = self.n
            while start > 0 and not self.is_boundary(start - 1):
                start -= 1
            self._last_double_start = next(
                (q for q in range(self.n - 1, start - 1, -1) if self.find_double(q, self.n)),
                -1,
            )
        return self._last_double_start

    def mark(self, i: int, role: str, post: int, slot: int = -1) -> None:
        self.role[i], self.post[i], self.slot[i] = ROLES.index(role), post, slot

    def run(self) -> None:
        i, post, kinds = 0, 0, self.kinds
        while i < self.n:
            start = i
            if kinds[i] == FOOTER:
                self.reject[i] = "orphan_footer"
                i += 1
                continue
            if kinds[i] == HEADER:
                self.mark(i, "header", post)
                i += 1
            if i < self.n and kinds[i] == PLACEHOLDER:
                self.mark(i, "media", post)
                i += 1
            if i < self.n and kinds[i] == VIEW:
                self.mark(i, "view", post)
                i += 1
            if i == self.n or kinds[i] != TEXT:
                for k in range(start, i):
                    self.role[k], self.post[k], self.reject[k] = 0, -1, "no_text"
                continue
            self.mark(i, "title", post)
            i = self.body(i + 1, post)
            while i < self.n and kinds[i] == FOOTER:
                self.mark(i, "footer", post)
                i += 1
            post += 1

    def body(self, a0: int, post: int) -> int:
        """Mark the body lines after the title; returns the index after the post."""
        if a0 < self.n and self.kinds[a0] == FOOTER:
            return a0  # a footer right after the title: a title-only post
        limit = self.limit_from(a0)
        found = self.find_double(a0, limit)
        if found:
            end, pairs, cut = found
            copy_b_start = pairs[1][0]  # the first pair is (a0, 0), (copy B start, 0)
            for line, slot in pairs:
                role = "copy_b" if line >= copy_b_start else "uncopied" if line >= cut else "copy_a"
                self.mark(line, role, post, slot)
            return end
        if limit == self.n and a0 < self.n and self.kinds[a0] == TEXT and (
            self.last_double_start() < a0
        ):
            end = a0
            while end < self.n and self.kinds[end] == TEXT:
                self.mark(end, "uncopied", post, end - a0)
                end += 1
            return end
        return a0  # title-only post


def split_posts(lines: pl.DataFrame, max_copy_misses: int = 2) -> pl.DataFrame:
    """Lines of one or more files → the same lines with `post` (0-based position of the
    occurrence in its file, null for rejects), `role`, `slot` (aligned body line) and
    `reject` (reason key, null for lines in a post)."""
    classified = classify_lines(lines)
    if classified.height and _in_line_order(classified):
        return _split_files(classified, max_copy_misses)
    parts = []
    for (source_file,), part in classified.group_by("source_file", maintain_order=True):
        parts.append(_split_file(part, max_copy_misses))
    if not parts:
        return _empty_split(lines)
    return pl.concat(parts)


def _in_line_order(classified: pl.DataFrame) -> bool:
    """Each file's lines come together and in increasing line_no (as `lines_frame` makes them)."""
    file = pl.col("source_file")
    return bool(
        classified.select(
            (file.rle_id().max() + 1 == file.n_unique())
            & ((pl.col("line_no").diff().over(file.rle_id()) > 0) | pl.col("line_no").diff().over(file.rle_id()).is_null()).all()
        ).item()
    )


def _split_files(classified: pl.DataFrame, max_copy_misses: int) -> pl.DataFrame:
    """`_split_file` for all files at once: the scan runs per file on plain lists, the
    table work once; needs each file's lines together and in line order."""
    non_blank = pl.col("kind") != BLANK
    dense = classified.select("source_file", "kind", "key").filter(non_blank)
    post, role, slot, reject = [], [], [], []
    kinds, keys = dense["kind"].to_list(), dense["key"].to_list()
    sizes = dense.select(pl.col("source_file").rle())["source_file"].struct.field("len").to_list()
    start = 0
    for size in sizes:
        scan = _Scan(kinds[start : start + size], keys[start : start + size], max_copy_misses)
        scan.run()
        post += scan.post
        role += scan.role
        slot += scan.slot
        reject += scan.reject
        start += size
    n = classified.height
    dense_rows = classified.select(pl.arg_where(non_blank))[:, 0]
    def full(values: list, dtype) -> pl.Series:
        return pl.repeat(None, n, dtype=dtype, eager=True).scatter(dense_rows, pl.Series(values, dtype=dtype))
    joined = classified.with_columns(
        post=full(post, pl.Int64), role=full(role, pl.Int64), slot=full(slot, pl.Int64), reject=full(reject, pl.Utf8)
    )
    # A blank line inside a post's range belongs to that post: lines are in order and a
    # post's lines are consecutive, so that is a blank whose nearest non-blank lines on
    # both sides are of the same post.
    in_post = pl.when(pl.col("post") >= 0).then(pl.col("post"))
    marker = pl.when(non_blank).then(pl.coalesce(in_post, pl.lit(-1, pl.Int64)))
    before = marker.forward_fill().over("source_file")
    after = marker.backward_fill().over("source_file")
    joined = joined.with_columns(
        enclosing_post=pl.when(~non_blank & (before == after) & (before >= 0)).then(before)
    )
    return _finish(joined)


def _split_file(part: pl.DataFrame, max_copy_misses: int) -> pl.DataFrame:
    dense = part.filter(pl.col("kind") != BLANK)
    scan = _Scan(dense["kind"].to_list(), dense["key"].to_list(), max_copy_misses)
    scan.run()
    roles = dense.select("line_no").with_columns(
        post=pl.Series(scan.post, dtype=pl.Int64),
        role=pl.Series(scan.role, dtype=pl.Int64),
        slot=pl.Series(scan.slot, dtype=pl.Int64),
        reject=pl.Series(scan.reject, dtype=pl.Utf8),
    )
    joined = part.join(roles, on="line_no", how="left")
    # A blank line inside a post's range belongs to that post.
    ranges = (
        joined.filter(pl.col("post") >= 0)
        .group_by("post")
        .agg(first=pl.col("line_no").min(), last=pl.col("line_no").max())
    )
    post = pl.col("post")
    is_blank = pl.col("kind") == BLANK
    enclosing = (
        joined.filter(is_blank)
        .select("line_no")
        .join_where(ranges, pl.col("line_no") > pl.col("first"), pl.col("line_no") < pl.col("last"))
        .select("line_no", enclosing_post="post")
    )
    joined = joined.join(enclosing, on="line_no", how="left")
    return _finish(joined)


def _finish(joined: pl.DataFrame) -> pl.DataFrame:
    post = pl.col("post")
    is_blank = pl.col("kind") == BLANK
    return joined.select(
        "source_file",
        "line_no",
        "text",
        "kind",
        post=pl.when(is_blank).then(pl.col("enclosing_post")).otherwise(pl.when(post >= 0).then(post)),
        role=pl.when(is_blank)
        .then(pl.lit("blank"))
        .otherwise(pl.col("role").replace_strict(list(range(len(ROLES))), ROLES, return_dtype=pl.Utf8)),
        slot=pl.when(pl.col("slot") >= 0).then(pl.col("slot")),
        reject=pl.when(is_blank & pl.col("enclosing_post").is_null())
        .then(pl.lit("blank"))
        .when(~is_blank & (post < 0))
        .then(pl.col("reject")),
    ).with_columns(role=pl.when(pl.col("post").is_null()).then(None).otherwise(pl.col("role")))


def _empty_split(lines: pl.DataFrame) -> pl.DataFrame:
    return lines.select("source_file", "line_no", "text").with_columns(
        kind=pl.lit(None, pl.Int8),
        post=pl.lit(None, pl.Int64),
        role=pl.lit(None, pl.Utf8),
        slot=pl.lit(None, pl.Int64),
        reject=pl.lit(None, pl.Utf8),
    )


def reject_spans(split: pl.DataFrame) -> pl.DataFrame:
    """Runs of consecutive rejected lines with the same reason, as line ranges."""
    rejected = split.filter(pl.col("reject").is_not_null()).sort("source_file", "line_no")
    new_run = (
        (pl.col("reject") != pl.col("reject").shift())
        | (pl.col("line_no") != pl.col("line_no").shift() + 1)
        | (pl.col("source_file") != pl.col("source_file").shift())
    ).fill_null(True)
    return (
        rejected.with_columns(run=new_run.cum_sum())
        .group_by("run", maintain_order=True)
        .agg(
            pl.col("source_file").first(),
            line_start=pl.col("line_no").min(),
            line_end=pl.col("line_no").max(),
            reason=pl.col("reject").first().replace_strict(REJECT_REASONS, return_dtype=pl.Utf8),
        )
        .drop("run")
    )
