"""Split a dump's lines into post occurrences: give every line a role.

A post, line by line:  [Forwarded from X] [placeholder, VIEW IN TELEGRAM] title
copy A of the body, copy B of the body, [footer lines: reactions, views, time].

Rules (documented in the README, asserted by the tests):
- A `Forwarded from` line or a media placeholder always starts a new post.
- Copy B starts at the next line whose key equals the first body line's key, where a
  line's key is its letters and digits, case-folded (`letters_key`, tasks/normalize.py:
  a copy that lost emoji or punctuation still matches). Both copies start with the
  same line; after that either copy may lack up to `max_copy_misses` lines of the
  other. Among the ways the bodies can double, the reading of the whole file that
  leaves fewest lines unmatched is taken (`_Scan.plan`).
- Past copy A's end, copy B goes on over lines that repeat a line of the body (copy A
  lacked one of the repeats). Such lines right after copy B are copy B's even past
  `max_copy_misses`, never title-only posts: after a whole body (the same posts
  captured again without damage) they are within it, so either reading would change
  with the damage the copies happen to have.
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

from schemas.tables import REJECT_REASONS, ROLES
from tasks.normalize import letters_key

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
PREFIX_ROLES = {HEADER: "header", PLACEHOLDER: "media", VIEW: "view"}
# A planned body with no second copy: none at all, or one cut off by the end of the file.
TITLE_ONLY, UNCOPIED = -1, -2

BODY_ROLES = ["copy_a", "copy_b", "uncopied"]


def classify_lines(lines: pl.DataFrame) -> pl.DataFrame:
    """Add `kind` (int) and `key` (int, equal for lines equal up to emoji/punctuation/case)."""
    text = pl.col("text")
    # Computed once up front: used twice inside one expression it would be computed twice.
    lines = lines.with_columns(_letters=letters_key(text))
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
    """The post boundaries of one file's non-blank lines (indices into kinds/keys).

    A body can often double in more than one way (a line that recurs inside it, a copy
    that lacks a line). Taking the best doubling of each post on its own can shatter
    the rest of a post into one-line posts, so `plan` chooses, in one backward pass,
    the doublings whose parse of the whole rest of the file costs least: each missed
    line costs one, a title-only post or a post cut off by the end of the file more
    than any accepted doubling; then fewer lines of copy B past copy A's end, fewer
    copies cut off by the end of the file, more lines paired. Every table is indexed by
    line and every look-ahead is bounded (MAX_COPY_STARTS starts, runs of equal lines
    memoised per distance), so the work is linear in lines.
    """

    def __init__(self, kinds: list[int], keys: list[int], max_misses: int):
        self.kinds, self.keys, self.max_misses = kinds, keys, max_misses
        n = self.n = len(self.kinds)
        # next_same[i] / previous_same[i]: the next / previous index with the same key,
        # or n / -1.
        self.next_same, self.previous_same = [n] * n, [-1] * n
        seen: dict[int, int] = {}
        for i in range(n - 1, -1, -1):
            self.next_same[i] = seen.get(self.keys[i], n)
            seen[self.keys[i]] = i
        seen.clear()
        for i in range(n):
            self.previous_same[i] = seen.get(self.keys[i], -1)
            seen[self.keys[i]] = i
        # The first index from i on that is a boundary / no footer / no text (n if none).
        self.next_boundary = self._first_from([HEADER, PLACEHOLDER, VIEW])
        self.after_footers = self._first_from([TEXT, HEADER, PLACEHOLDER, VIEW])
        self.text_end = self._first_from([HEADER, PLACEHOLDER, VIEW, FOOTER])
        # Runs of equal keys d lines apart: d -> (start, end), keys[p] == keys[p + d] for
        # start <= p < end and not at end. Posts that start inside a run reuse it.
        self._runs: dict[int, tuple[int, int]] = {}
        # body_plan[a0]: (end of the body, copy B start | TITLE_ONLY | UNCOPIED, skips of
        # the alignment, cut) of the post whose body would start at a0.
        self.body_plan: list[tuple[int, int, tuple, int]] = [(0, TITLE_ONLY, (), 0)] * (n + 1)
        # Costs are one integer, ordered as (misses, lines of copy B past copy A's end,
        # cut copies, -paired lines): the weight is more than any file's count of each.
        self.weight = n + 1
        # The misses a title-only post or a post cut off by the end of the file counts
        # as: more than any accepted doubling, which explains its lines better.
        self.unexplained = max_misses + 1
        self.role = [0] * n
        self.post = [-1] * n
        self.slot = [-1] * n
        self.reject = [""] * n

    def _first_from(self, wanted: list[int]) -> list[int]:
        """For each line, the first line at or after it of a wanted kind (n: none). A
        plain loop: a capture may be a handful of lines, and a table per file would
        cost more than the scan."""
        wanted_kinds, first, found = set(wanted), [self.n] * (self.n + 1), self.n
        for i in range(self.n - 1, -1, -1):
            if self.kinds[i] in wanted_kinds:
                found = i
            first[i] = found
        return first

    def run_length(self, i: int, j: int) -> int:
        """How many lines from i on have the keys of the lines from j on (i < j)."""
        d = j - i
        known = self._runs.get(d)
        if known and known[0] <= i <= known[1]:
            return known[1] - i
        stop = known[0] if known and i < known[0] else -1
        keys, p = self.keys, i
        while p + d < self.n and keys[p] == keys[p + d]:
            p += 1
            if p == stop:
                p = known[1]
                break
        self._runs[d] = (i, p)
        return p - i

    def matching_run(self, i: int, j: int, s: int, limit: int, slot: int, pairs: list | None):
        """Advance copy A (from i, up to s) and copy B (from j, up to limit) over lines
        found in both; with `pairs`, append (line, slot) for each. Returns i, j, slot."""
        while i < s and j < limit:
            run = min(self.run_length(i, j), s - i, limit - j)
            if not run:
                break
            if pairs is not None:
                pairs += ((line, slot + k) for k in range(run) for line in (i + k, j + k))
            i, j, slot = i + run, j + run, slot + run
        return i, j, slot

    def alignments(self, a0: int, s: int, limit: int) -> list[tuple[int, int, int, int, tuple]]:
        """Every alignment of copy A = [a0, s) with copy B from s (keys[a0] == keys[s])
        within max_misses, as (misses, lines of copy B past copy A's end, end of copy B,
        cut, matched, skips).

        Where the copies differ, copy B may lack the next lines of copy A, or copy A the
        next lines of copy B (`skips` lists these choices), or copy B may end there,
        lacking the rest of copy A; where copy B reaches the end of the file, the rest of
        copy A may instead have no second copy because the file ended (from `cut` on). Trying every choice (a handful, the misses are few)
        keeps a line that recurs in the body from pairing with the wrong copy. Past the
        end of copy A, copy B goes on only over lines that repeat a line of the body
        (copy A lacked one of the repeats): any other line there is the next post's.
        """
        keys, found = self.keys, []
        pending = [(a0, s, 0, 0, 0, ())]  # i, j, misses, lines past copy A's end, slot, skips
        while pending:
            i, j, misses, past_end, slot, skips = pending.pop()
            i, j, slot = self.matching_run(i, j, s, limit, slot, None)
            if j > s and misses + s - i <= self.max_misses:  # copy B lacks copy A's rest
                found.append((misses + s - i, past_end, j, s, slot - misses, skips))
            if j > s and j == self.n and i < s:  # or the file ended in copy B
                found.append((misses, past_end, j, i, slot - misses, skips))
            if i == s and j < limit and misses < self.max_misses and self.previous_same[j] >= a0:
                pending.append((i, j + 1, misses + 1, past_end + 1, slot + 1, skips + ((0, 1),)))
            if i == s or j == limit:
                continue
            for k in range(self.max_misses - misses, 0, -1):
                if i + k < s and keys[i + k] == keys[j]:
                    pending.append((i + k, j, misses + k, past_end, slot + k, skips + ((k, 0),)))
                if j + k < limit and keys[i] == keys[j + k]:
                    pending.append((i, j + k, misses + k, past_end, slot + k, skips + ((0, k),)))
        return found

    def pairs(self, a0: int, s: int, limit: int, skips: tuple) -> list[tuple[int, int]]:
        """(line, slot) for the lines of both copies of one alignment: lines found in both
        copies share a slot."""
        pairs: list[tuple[int, int]] = []
        i, j, slot = a0, s, 0
        for lacking_in_b, lacking_in_a in skips:
            i, j, slot = self.matching_run(i, j, s, limit, slot, pairs)
            pairs += ((i + k, slot + k) for k in range(lacking_in_b))
            pairs += ((j + k, slot + k) for k in range(lacking_in_a))
            i, j, slot = i + lacking_in_b, j + lacking_in_a, slot + lacking_in_b + lacking_in_a
        i, j, slot = self.matching_run(i, j, s, limit, slot, pairs)
        pairs += ((k, slot + k - i) for k in range(i, s))  # copy A's lines with no second copy
        return pairs

    def cost(self, misses: int, past_copy_a: int, cut_copies: int, paired: int) -> int:
        return ((misses * self.weight + past_copy_a) * self.weight + cut_copies) * self.weight - paired

    def doublings(self, a0: int) -> list[tuple[int, int, int, tuple, int]]:
        """Every way the body starting at a0 doubles, as (cost, end, copy B start, skips, cut)."""
        limit, found = self.next_boundary[a0], []
        s = self.next_same[a0] if a0 < limit else self.n
        for _ in range(MAX_COPY_STARTS):
            if s >= limit:
                break
            for misses, past_end, end, cut, matched, skips in self.alignments(a0, s, limit):
                cut_off = int(end == self.n and cut < s)
                cost = self.cost(misses + cut_off * self.unexplained, past_end, cut_off, matched)
                found.append((cost, end, s, skips, cut))
            s = self.next_same[s]
        return found

    def title_after(self, i: int) -> int:
        """The index after the header, placeholder and view link (if any) starting at i."""
        for kind in (HEADER, PLACEHOLDER, VIEW):
            if i < self.n and self.kinds[i] == kind:
                i += 1
        return i

    def plan(self) -> None:
        """Fill body_plan, from the end of the file back: cost_from[i] is the least cost
        of parsing lines i.. when a post (or a reject) starts at i."""
        n, kinds = self.n, self.kinds
        title_only, uncopied = self.cost(self.unexplained, 0, 0, 0), self.cost(self.unexplained, 0, 1, 0)
        cost_from = [0] * (n + 1)
        # Whether a doubled body starts at a0 or later in the file's last segment: if
        # not, undoubled text there is a post cut off by the end of the capture.
        doubles_later = False
        for i in range(n - 1, -1, -1):
            a0 = i + 1
            in_last_segment = self.next_boundary[a0] == n
            if kinds[i] == TEXT or in_last_segment:
                options = self.doublings(a0)
                doubles_later = doubles_later or (in_last_segment and bool(options))
            if kinds[i] == TEXT:
                if a0 < n and kinds[a0] == FOOTER:
                    options = [(title_only, a0, TITLE_ONLY, (), a0)]  # a body never starts with one
                elif not options and in_last_segment and a0 < n and kinds[a0] == TEXT and not doubles_later:
                    options = [(uncopied, self.text_end[a0], UNCOPIED, (), a0)]
                elif not options:
                    options = [(title_only, a0, TITLE_ONLY, (), a0)]
                totals = [(cost + cost_from[self.after_footers[end]], end, *rest) for cost, end, *rest in options]
                best = min(totals, key=lambda total: total[0])  # the first of equals: nearest
                self.body_plan[a0] = best[1:]
                cost_from[i] = best[0]
            elif kinds[i] == FOOTER:
                cost_from[i] = cost_from[i + 1]
            else:  # a prefix: its post's cost, or that of what follows its rejected lines
                cost_from[i] = cost_from[self.title_after(i)]

    def mark(self, i: int, role: str, post: int, slot: int = -1) -> None:
        self.role[i], self.post[i], self.slot[i] = ROLES.index(role), post, slot

    def run(self) -> None:
        self.plan()
        i, post, kinds = 0, 0, self.kinds
        while i < self.n:
            if kinds[i] == FOOTER:
                self.reject[i] = "orphan_footer"
                i += 1
                continue
            t = self.title_after(i)
            if t == self.n or kinds[t] != TEXT:
                for k in range(i, t):
                    self.reject[k] = "no_text"
                i = t
                continue
            for k in range(i, t):
                self.mark(k, PREFIX_ROLES[kinds[k]], post)
            self.mark(t, "title", post)
            i = self.body(t + 1, post)
            while i < self.n and kinds[i] == FOOTER:
                self.mark(i, "footer", post)
                i += 1
            post += 1

    def body(self, a0: int, post: int) -> int:
        """Mark the planned body lines after the title; returns the index after them."""
        end, copy_b_start, skips, cut = self.body_plan[a0]
        if copy_b_start == UNCOPIED:
            for line in range(a0, end):
                self.mark(line, "uncopied", post, line - a0)
        elif copy_b_start != TITLE_ONLY:
            last_slot = -1
            for line, slot in self.pairs(a0, copy_b_start, self.next_boundary[a0], skips):
                role = "copy_b" if line >= copy_b_start else "uncopied" if line >= cut else "copy_a"
                self.mark(line, role, post, slot)
                last_slot = max(last_slot, slot)
            # A title-only post right after copy B whose line repeats a line of the body
            # is copy B's, as `alignments` reads it within max_misses; past them too,
            # since after whole copies of the body that line is within them again.
            while end < self.n and self.kinds[end] == TEXT and self.previous_same[end] >= a0 \
                    and self.body_plan[end + 1][1] == TITLE_ONLY:
                last_slot += 1
                self.mark(end, "copy_b", post, last_slot)
                end += 1
        return end


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
