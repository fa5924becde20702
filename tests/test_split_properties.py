"""Property-based tests of the splitter and the collapser over generated and mutated dumps."""
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.tables import validate
from tasks.collapse_copies import collapse_copies
from tasks.read_source import decode_dump, lines_frame
from tasks.split_posts import PLACEHOLDERS, split_posts

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


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(dump())
def test_well_formed_dumps_give_back_every_post(generated):
    posts, lines = generated
    split, occurrences = parse(lines)
    assert occurrences["text"].to_list() == ["\n".join([p["title"], *p["body"]]) for p in posts]
    assert occurrences["forwarded_from"].to_list() == [p["header"] for p in posts]
    assert covered_once(split, occurrences, len(lines))


@SETTINGS
@given(mutated())
def test_damaged_dumps_never_lose_a_line_and_reparse_stably(lines):
    split, occurrences = parse(lines)
    assert covered_once(split, occurrences, len(lines))
    if occurrences.height and unambiguous(occurrences):
        _, again = parse(rerender(occurrences))
        assert again["post_id"].to_list() == occurrences["post_id"].to_list()


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
