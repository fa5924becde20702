"""The seed dumps parse exactly as read by hand (tests/fixtures/seeds_expected.json)."""
import polars as pl
import pytest

from conftest import SEEDS
from tasks.parsing.collapse_copies import collapse_copies
from tasks.reading.read_source import lines_frame, read_source
from tasks.parsing.split_posts import reject_spans, split_posts

FIELDS = ["line_start", "line_end", "forwarded_from", "media", "title", "text", "hashtags", "reactions"]


def parse(path):
    split = split_posts(lines_frame(path.name, read_source(path).lines))
    return split, collapse_copies(split)


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.name)
def test_every_post_matches_the_hand_made_expectation(path, expected):
    _, occurrences = parse(path)
    want = expected[path.name]["posts"]
    got = occurrences.select(FIELDS).to_dicts()
    assert len(got) == len(want)
    for position, (g, w) in enumerate(zip(got, want)):
        assert g == {k: w[k] for k in FIELDS}, f"post {position} (lines {w['line_start']}-{w['line_end']})"
    assert occurrences["position"].to_list() == list(range(len(want)))


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.name)
def test_every_line_is_in_exactly_one_post(path, expected):
    split, occurrences = parse(path)
    assert split.height == expected[path.name]["n_lines"]
    assert reject_spans(split).height == 0
    covered = sorted(
        line for a, b in occurrences.select("line_start", "line_end").iter_rows() for line in range(a, b + 1)
    )
    assert covered == list(range(1, expected[path.name]["n_lines"] + 1))


def test_a_post_seen_twice_is_one_post():
    # Seed 001 holds the Security Council post twice, with the quotation line missing
    # from the first copy both times: both occurrences rebuild the same full text.
    _, occurrences = parse(next(p for p in SEEDS if p.name.startswith("001")))
    council = occurrences.filter(pl.col("title") == "🇷🇺 The Security Council of the Russian Federation:")
    assert council["line_start"].to_list() == [169, 214]
    assert council["post_id"].n_unique() == 1
    assert "“The high level of participants" in council["text"][0]
    assert occurrences["post_id"].n_unique() == occurrences.height - 1


def test_the_longer_variant_of_a_line_wins():
    _, occurrences = parse(next(p for p in SEEDS if p.name.startswith("001")))
    intervision = occurrences.filter(pl.col("forwarded_from") == "Интервидение 2025")["text"][0]
    assert "у нас дома — в России🇷🇺 !" in intervision
    assert intervision.count("у нас дома") == 1
