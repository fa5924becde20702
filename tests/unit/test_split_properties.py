"""Property-based tests of the splitter and the collapser over generated and mutated dumps."""
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from schemas.tables import validate
from tasks.parsing.collapse_copies import collapse_copies
from tasks.reading.read_source import decode_dump, lines_frame, read_source
from tasks.parsing.split_posts import PLACEHOLDERS, split_posts
from flows.config import Config

FIXTURES = Path(__file__).parents[1] / "fixtures" / "split"

WORDS = ["мир", "договор", "встреча", "peace", "treaty", "meeting", "Москва", "Geneva", "2025", "форум"]
EMOJI = ["🇷🇺", "💬 ", "• ", "☝️ ", ""]


@st.composite
def sentence(draw, serial: int) -> str:
    # A serial number in every line keeps lines distinct, as the format needs.
    words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=6))
    return f"{draw(st.sampled_from(EMOJI))}{' '.join(words)} {serial}."


@st.composite
def post(draw, serial: int) -> dict:
    body = [draw(sentence(serial * 100 + k)) for k in range(draw(st.integers(0, 6)))]
    return {
        "header": draw(st.sampled_from(["МИД России 🇷🇺", "Russian MFA 🇷🇺"])),
        "media": draw(st.none() | st.sampled_from(PLACEHOLDERS)),
        "title": draw(sentence(serial * 100 + 99)),
        "body": body,
        "defect": draw(st.sampled_from(["none", "a_missing", "b_missing", "emoji_lost"])),
        "reaction": draw(st.none() | st.integers(1, 999).map(lambda n: f"👍{n}")),
    }


def render(p: dict) -> list[str]:
    lines = [f"Forwarded from {p['header']}"]
    if p["media"]:
        lines += [p["media"], "VIEW IN TELEGRAM"]
    lines.append(p["title"])
    first, second = list(p["body"]), list(p["body"])
    if p["defect"] == "a_missing" and len(first) >= 3:
        del first[1]
    elif p["defect"] == "b_missing" and len(second) >= 3:
        del second[1]
    elif p["defect"] == "emoji_lost" and second:
        second[0] = second[0].replace("🇷🇺", "")
    lines += first + second
    if p["reaction"]:
        lines.append(p["reaction"])
    return lines


@st.composite
def dump(draw) -> tuple[list[dict], list[str]]:
    posts = [draw(post(serial)) for serial in range(draw(st.integers(1, 8)))]
    return posts, [line for p in posts for line in render(p)]


@st.composite
def mutated(draw) -> list[str]:
    """A well-formed dump, then damaged: lines dropped, duplicated, blanked, cut short."""
    _, lines = draw(dump())
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        lines = draw(st.sampled_from([
            lines[:i] + lines[i + 1:],
            lines[:i] + [lines[i]] + lines[i:],
            lines[:i] + [""] + lines[i:],
            lines[:i],
            lines[:i] + ["👍 3 🔥 12", "4.2K views", "edited 12:34"] + lines[i:],
        ])) or ["x"]
    return lines


def parse(lines: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    split = validate("split", split_posts(lines_frame("f.txt", lines)))
    return split, collapse_copies(split)


def covered_once(split: pl.DataFrame, occurrences: pl.DataFrame, n: int) -> bool:
    in_posts = [k for a, b in occurrences.select("line_start", "line_end").iter_rows() for k in range(a, b + 1)]
    rejected = split.filter(pl.col("reject").is_not_null())["line_no"].to_list()
    blank_inside = split.filter(pl.col("reject").is_null() & pl.col("post").is_null())["line_no"].to_list()
    return sorted(in_posts + rejected) == list(range(1, n + 1)) and not blank_inside


def rerender(occurrences: pl.DataFrame) -> list[str]:
    """The parsed posts as a capture again: header, placeholder, title, body twice, footer."""
    lines = []
    for row in occurrences.iter_rows(named=True):
        if row["forwarded_from"]:
            lines.append(f"Forwarded from {row['forwarded_from']}")
        if row["media"]:
            lines += [row["media"], "VIEW IN TELEGRAM"]
        body = row["text"].split("\n")[1:]
        lines += [row["title"], *body, *body]
        lines += [" ".join(f"{r['emoji'] or ''}{r['count']}" for r in row["reactions"])] if row["reactions"] else []
        lines += [f"{row['views']} views"] if row["views"] is not None else []
    return lines


def unambiguous(occurrences: pl.DataFrame) -> bool:
    """The format cannot tell a bare title-only post from the title of the channel's own
    post that follows it (FORMAT.md); such neighbours cannot round-trip."""
    rows = occurrences.to_dicts()
    return not any(
        "\n" not in a["text"] and not a["reactions"] and a["views"] is None
        and not b["forwarded_from"] and not b["media"]
        for a, b in zip(rows, rows[1:])
    )


# derandomize: the same examples on every run, so CI does not depend on the draw (a
# counterexample a random draw finds is kept for a fix, see the issue notes).
# max_examples: the profile's (tests/conftest.py)
SETTINGS = settings(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(dump())
def test_well_formed_dumps_give_back_every_post(generated):
    posts, lines = generated
    split, occurrences = parse(lines)
    assert occurrences["text"].to_list() == ["\n".join([p["title"], *p["body"]]) for p in posts]
    assert occurrences["forwarded_from"].to_list() == [p["header"] for p in posts]
    assert covered_once(split, occurrences, len(lines))


def assert_no_line_lost_and_reparse_stable(lines: list[str]) -> pl.DataFrame:
    split, occurrences = parse(lines)
    assert covered_once(split, occurrences, len(lines))
    if occurrences.height and unambiguous(occurrences):
        _, again = parse(rerender(occurrences))
        assert again["post_id"].to_list() == occurrences["post_id"].to_list()
    return occurrences


@SETTINGS
@given(mutated())
def test_damaged_dumps_never_lose_a_line_and_reparse_stably(lines):
    assert_no_line_lost_and_reparse_stable(lines)


MID = ["Forwarded from МИД России 🇷🇺", *(f"🇷🇺мир {k}." for k in (0, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 5))]
SHORT = ["Title.", "a 1.", "b 2.", "c 3.", "a 1.", "b 2.", "b 2."]


@pytest.mark.parametrize("lines, text", [
    (MID, [MID[1], *MID[2:8], MID[12]]),
    (SHORT, [*SHORT[:4], SHORT[6]]),
])
def test_a_line_after_the_second_copy_that_repeats_the_body_is_the_second_copys(lines, text):
    """MID, a draw of the property above (the title dropped, copy A lacks `мир 1.`, the
    last line doubled): copy B lacks copy A's last two lines, so the last `мир 5.` would
    be a third miss. Read as a title-only post, it came back after the whole body of the
    rerender as copy B running past copy A over a repeat (one miss), and so did SHORT's
    last `b 2.` after a copy B that lacks `c 3.`. Both readings now agree."""
    occurrences = assert_no_line_lost_and_reparse_stable(lines)
    assert occurrences.select("line_start", "line_end", "text").rows() == [(1, len(lines), "\n".join(text))]


@SETTINGS
@given(st.binary(max_size=400))
def test_any_bytes_are_a_dump_or_a_reason(data):
    try:
        lines, _ = decode_dump(data)
    except Exception as err:  # noqa: BLE001 - the only allowed failure is a stated reason
        assert type(err).__name__ == "NotADump" and str(err)
        return
    split, occurrences = parse(lines)
    assert covered_once(split, occurrences, len(lines))


def no_line_twice_in_a_row(body: list[str]) -> bool:
    """A line twice in a row, one of them lacking, leaves no trace of which copy lacks
    it (`A A A`: body `A A` and `A`, or `A` twice and a title-only `A`?)."""
    return all(a != b for a, b in zip(body, body[1:]))


@st.composite
def post_repeating_lines(draw, serial: int) -> tuple[dict, list[str]]:
    """A post whose body repeats some of its lines and whose second copy lacks up to
    max_copy_misses lines, any but its first that occur once in the body. A lacking
    repeat can leave two equally good readings (`A B A` + `A B` is also `A B` +
    `A A B`), and so can a first copy lacking lines (with its last lines gone it reads
    as a shorter body that a post follows): the fixture below has the cases of these
    that a reading can settle."""
    pool = [f"{word} {serial}-{k}." for k, word in enumerate(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3)))]
    body = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=8).filter(no_line_twice_in_a_row))
    droppable = [k for k in range(1, len(body)) if body.count(body[k]) == 1]
    max_misses = Config().max_copy_misses
    dropped = draw(st.sets(st.sampled_from(droppable), max_size=max_misses)) if droppable else set()
    second = [line for k, line in enumerate(body) if k not in dropped]
    header = draw(st.none() | st.just("Russian MFA 🇷🇺"))
    title = f"Title of post {serial}."
    lines = [f"Forwarded from {header}"] * (header is not None) + [title, *body, *second]
    lines += draw(st.sampled_from([[], [f"👍{serial + 1}"]]))
    return {"header": header, "text": "\n".join([title, *body]), "misses": len(dropped)}, lines


@st.composite
def dump_repeating_lines(draw) -> tuple[list[dict], list[str]]:
    drawn = [draw(post_repeating_lines(serial)) for serial in range(draw(st.integers(1, 6)))]
    return [p for p, _ in drawn], [line for _, lines in drawn for line in lines]


@seed(12)
@settings(max_examples=2 * settings.default.max_examples, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(dump_repeating_lines())
def test_bodies_that_repeat_lines_with_a_copy_lacking_lines_give_back_every_post(generated):
    """Exact, unless the lines also read as posts whose copies lack fewer lines (`B C B A`
    + `B B` is also `B C` + `B`, then `A` + `B` + `B`): the splitter takes that reading."""
    posts, lines = generated
    split, occurrences = parse(lines)
    assert covered_once(split, occurrences, len(lines))
    if occurrences["text"].to_list() != [p["text"] for p in posts]:
        assert unpaired_lines(split) < sum(p["misses"] for p in posts)
        return
    assert occurrences["forwarded_from"].to_list() == [p["header"] for p in posts]
    assert unpaired_lines(split) == sum(p["misses"] for p in posts)


def unpaired_lines(split: pl.DataFrame) -> int:
    """Body lines of a doubled post found in one copy only."""
    copies = split.filter(pl.col("role").is_in(["copy_a", "copy_b"]))
    return copies.group_by("post", "slot").len().filter(pl.col("len") == 1).height


def test_fixture_of_repeated_lines_and_lacking_copies():
    """Shapes a generator's corpus broke the splitter with, in make_corpus.py's form:
    1-14 a line recurs in the body (with and without emoji) and copy A lacks the ❗️ line,
    whose letters equal another line's; 15-23 the body ends with a line twice and copy A
    has it once; 24-31 body A B A C, copy B lacks B; 32-37 a plain post with a reaction;
    38-39 a title-only forward."""
    capture = read_source(FIXTURES / "repeated_lines.txt")
    _, occurrences = parse(capture.lines)
    lines = capture.lines
    expected = [
        (1, 14, [lines[0], *lines[1:4], lines[10], *lines[4:7]]),
        (15, 23, [lines[15], *lines[16:19], lines[18]]),
        (24, 31, [lines[23], *lines[24:28]]),
        (32, 37, [lines[31], *lines[32:34]]),
        (38, 39, [lines[38]]),
    ]
    assert occurrences.select("line_start", "line_end", "text").rows() == [
        (start, end, "\n".join(text)) for start, end, text in expected
    ]
    assert occurrences["reactions"].to_list()[3] == [{"emoji": "👍", "count": 7}]


@pytest.mark.parametrize("footer, reactions, views", [
    ("👍12345678901234567890", [{"emoji": "👍", "count": None}], None),
    ("999999999999999999999K views", [], None),
    ("12345678901234567890 views 👍 3", [{"emoji": "👍", "count": 3}], None),
    ("🔥9007199254740993", [{"emoji": "🔥", "count": None}], None),
    ("🔥9007199254740991 12 views", [{"emoji": "🔥", "count": 9007199254740991}], 12),
    ("👍" + "9" * 400, [{"emoji": "👍", "count": None}], None),
])
def test_footer_counts_too_large_to_be_real_are_null(footer, reactions, views):
    split, occurrences = parse(["Title.", "Body line.", "Body line.", footer])
    assert split["role"].to_list() == ["title", "copy_a", "copy_b", "footer"]
    assert occurrences.select("text", "reactions", "views").row(0) == ("Title.\nBody line.", reactions, views)
