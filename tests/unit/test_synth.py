"""The synthetic-dump generator: deterministic, self-consistent, and varied enough."""
from __future__ import annotations

import json
import re
from collections import defaultdict

import pytest

from tgcorpus.synth import (LEADING_EMOJI_RE, MEDIA_OWN_ONLY, PLACEHOLDERS, SEPARATORS, VIEW_LINK,
                            WORD_EDIT_MIN_WORDS, normalized, synthesize, title_key)

POSTS, SEED = 400, 1

VIEWS_RE = re.compile(r"^(\d+)(?:\.(\d))?([KM]?) views$")
TIME_RE = re.compile(r"^(edited )?(\d\d:\d\d)$")
BARE_COUNT_RE = re.compile(r"^\d+$")
REACTION_RE = re.compile(r"([^\w\s]+) ?(\d+)")
REACTION_LINE_RE = re.compile(r"^[^\w\s]+ ?\d+(?: [^\w\s]+ ?\d+)*$")
EMOJI_TAIL_RE = re.compile(r"^[^\w]*$")  # what a lossy copy may drop: no letters or digits


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    summary = synthesize(out, posts=POSTS, seed=SEED)
    gold = [json.loads(x) for x in (out / "gold.jsonl").read_text("utf-8").splitlines()]
    raw = {p.name: p.read_bytes() for p in sorted(out.glob("dump_*.txt"))}
    lines = {name: data.decode("utf-8").removeprefix("\ufeff").split("\n") for name, data in raw.items()}
    return out, summary, gold, raw, lines


def clean(line: str) -> str:
    return line.rstrip(" \r")


def split_footer(block: list[str]) -> tuple[list[str], list[str]]:
    """(post lines, footer lines): footer lines are recognised from the end."""
    end = len(block)
    while end > 0 and (VIEWS_RE.match(block[end - 1]) or TIME_RE.match(block[end - 1])
                       or BARE_COUNT_RE.match(block[end - 1]) or REACTION_LINE_RE.match(block[end - 1])):
        end -= 1
    return block[:end], block[end:]


def read_footer(footer: list[str]) -> tuple[list[dict], int | None, str | None, bool]:
    reactions, views, time, edited = [], None, None, False
    for line in footer:
        if m := VIEWS_RE.match(line):
            scale = {"": 1, "K": 1000, "M": 1_000_000}[m.group(3)]
            views = (int(m.group(1)) * 10 + int(m.group(2) or 0)) * scale // 10
        elif m := TIME_RE.match(line):
            time, edited = m.group(2), bool(m.group(1))
        elif BARE_COUNT_RE.match(line):
            reactions.append({"emoji": None, "count": int(line)})
        else:
            reactions += [{"emoji": e, "count": int(c)} for e, c in REACTION_RE.findall(line)]
    return reactions, views, time, edited


def copy_state(copy: list[str], body: list[str]) -> str | None:
    """'exact', 'missing_line' or 'lost_emoji' if `copy` is a rendering of `body`, else None."""
    n = len(body)
    if copy == body:
        return "exact"
    if len(copy) == n - 1 and n >= 3:
        if any(body[:i] + body[i + 1:] == copy for i in range(1, n - 1)):
            return "missing_line"
        return None
    if len(copy) == n:
        diffs = [i for i in range(n) if copy[i] != body[i]]
        if len(diffs) == 1:
            short, full = copy[diffs[0]], body[diffs[0]]
            if full.startswith(short) and EMOJI_TAIL_RE.match(full[len(short):]):
                return "lost_emoji"
    return None


def check_copies(rest: list[str], record: dict) -> None:
    body = record["body"]
    n = len(body)
    if record["title_only"]:
        assert rest == []
        return
    if record["truncated"]:
        assert n < len(rest) < 2 * n and rest[:n] == body and rest[n:] == body[:len(rest) - n]
        return
    for size_a in (n, n - 1):
        a, b = copy_state(rest[:size_a], body), copy_state(rest[size_a:], body)
        if a and b and "exact" in (a, b):
            defect = None if a == b == "exact" else ("a_" if a != "exact" else "b_") + (
                "missing_line" if "missing_line" in (a, b) else "lost_emoji")
            assert defect == record["defect"], (record["file"], record["line_start"])
            return
    pytest.fail(f"copies do not match body at {record['file']}:{record['line_start']}")


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path):
    runs = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        synthesize(tmp_path / name, posts=120, seed=seed)
        runs.append({p.name: p.read_bytes() for p in sorted((tmp_path / name).iterdir())})
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_output_holds_only_dumps_and_gold(corpus):
    out, summary, gold, raw, _ = corpus
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(raw) + ["gold.jsonl"]
    assert summary["files"] == len(raw)
    assert summary["occurrences"] == len(gold) == POSTS
    assert summary["unique_posts"] == len({r["uid"] for r in gold})
    assert summary["near_duplicates"] == sum(r["kind"] == "near" for r in gold)
    assert summary["bytes"] == sum(len(b) for b in raw.values())
    assert summary["lines"] == sum(b.count(b"\n") + 1 for b in raw.values())


def test_files_are_dumps_with_line_end_variations(corpus):
    _, _, _, raw, lines = corpus
    crlf = [n for n, b in raw.items() if b"\r\n" in b]
    bom = [n for n, b in raw.items() if b.startswith(b"\xef\xbb\xbf")]
    assert crlf and bom and len(crlf) < len(raw) and len(bom) < len(raw)
    for name, data in raw.items():
        assert not data.endswith(b"\n")  # the last line has no newline
        assert data.count(b"\xef\xbb\xbf") == (name in bom)
        if name in crlf:
            assert data.count(b"\n") == data.count(b"\r\n")
        else:
            assert b"\r" not in data
    assert any(line.endswith(" ") for file in lines.values() for line in file)


def test_every_line_is_in_one_range_or_blank(corpus):
    _, _, gold, _, lines = corpus
    owner: dict[tuple[str, int], int] = {}
    for i, r in enumerate(gold):
        assert 1 <= r["line_start"] <= r["line_end"] <= len(lines[r["file"]])
        assert clean(lines[r["file"]][r["line_start"] - 1]) and clean(lines[r["file"]][r["line_end"] - 1])
        for n in range(r["line_start"], r["line_end"] + 1):
            assert (r["file"], n) not in owner, "ranges overlap"
            owner[r["file"], n] = i
    blank_gaps = 0
    for name, file in lines.items():
        for n, line in enumerate(file, 1):
            if (name, n) not in owner:
                assert not line.strip(), (name, n, line)
                blank_gaps += 1
    assert blank_gaps > 0
    order = [(r["file"], r["line_start"]) for r in gold]
    assert order == sorted(order)


def test_ranges_agree_with_gold(corpus):
    _, _, gold, _, lines = corpus
    for r in gold:
        block = [clean(x) for x in lines[r["file"]][r["line_start"] - 1:r["line_end"]]]
        rest, footer = split_footer(block)
        if r["truncated"]:
            assert footer == [] and r["reactions"] == [] and r["views"] is None
        reactions, views, time, edited = read_footer(footer)
        assert (reactions, views, time, edited) == (r["reactions"], r["views"], r["time"], r["edited"])
        if r["forwarded_from"] is not None:
            assert rest.pop(0) == "Forwarded from " + r["forwarded_from"]
        if r["media"] is not None:
            assert [rest.pop(0), rest.pop(0)] == [r["media"], VIEW_LINK]
        assert rest.pop(0) == r["title"]
        check_copies(rest, r)
        assert r["text"] == "\n".join([r["title"], *r["body"]])
        assert r["title_only"] == (r["body"] == [])


def test_posts_follow_the_parser_rules(corpus):
    _, _, gold, _, _ = corpus
    for r in gold:
        lines = [r["title"], *r["body"]]
        assert all(x == x.strip() and x and "\r" not in x and "\n" not in x for x in lines)
        keys = [normalized(x) for x in r["body"] if x not in SEPARATORS]
        assert normalized(r["title"]) not in keys and len(set(keys)) == len(keys)
        if r["body"]:
            assert r["body"][0] not in SEPARATORS and r["body"][-1] not in SEPARATORS
        if r["media"] == MEDIA_OWN_ONLY:
            assert r["forwarded_from"] is None
    for prev, nxt in zip(gold, gold[1:]):
        if prev["file"] != nxt["file"] or not prev["title_only"]:
            continue
        assert not nxt["title_only"] and not nxt["truncated"]
        if nxt["forwarded_from"] is None and nxt["media"] is None:
            assert nxt["defect"] is None


def test_repeats_share_uid_and_text_and_near_duplicates_differ(corpus):
    _, _, gold, _, _ = corpus
    first: dict[str, dict] = {}
    for r in gold:
        if r["uid"] in first:
            assert r["kind"] in ("exact", "overlap")
            for key in ("text", "title", "body", "lang", "forwarded_from", "media", "near_of",
                        "translation_of"):
                assert r[key] == first[r["uid"]][key]
        else:
            assert r["kind"] in ("new", "near")
            first[r["uid"]] = r
        if r["kind"] == "near":
            base = first[r["near_of"]]
            assert base["text"] != r["text"] and r["edit"]
    texts = defaultdict(set)
    for r in gold:
        texts[r["text"]].add(r["uid"])
    assert all(len(uids) == 1 for uids in texts.values())


def test_unrelated_posts_share_no_title_start_and_no_text_line(corpus):
    """The text model replays its training sentences; new posts must not, or unrelated
    posts would be near-duplicates the gold does not know of."""
    _, _, gold, _, _ = corpus
    new = {r["uid"]: r for r in gold if r["kind"] == "new"}
    assert len(new) >= 300
    titles = [title_key(LEADING_EMOJI_RE.sub("", r["title"])) for r in new.values() if not r["title"].startswith("#")]
    assert len(titles) == len(set(titles))
    owners = defaultdict(set)
    for uid, r in new.items():
        for line in r["body"]:
            if len(line.split()) >= 8:  # text lines, not the anchors, labels and hashtags shared on purpose
                owners[normalized(line)].add(uid)
    assert len(owners) >= 500 and all(len(uids) == 1 for uids in owners.values())


def test_near_duplicates_keep_most_of_their_post(corpus):
    _, _, gold, _, _ = corpus
    first = {}
    for r in gold:
        first.setdefault(r["uid"], r)
    edits = defaultdict(int)
    for r in first.values():
        if r["kind"] != "near":
            continue
        base = first[r["near_of"]]
        lines = [base["title"], *base["body"]]
        edits[r["edit"]] += 1
        if r["edit"] == "word":
            assert sum(len(line.split()) for line in lines) >= WORD_EDIT_MIN_WORDS
        if r["edit"] == "line":  # one body line replaced: the title and another line stay
            assert len(lines) >= 3 and len(set(lines) & {r["title"], *r["body"]}) >= 2
    assert set(edits) == {"word", "line", "add_line", "emoji_lost"}


def test_translation_of_names_the_russian_post_just_before(corpus):
    _, _, gold, _, _ = corpus
    new_posts = [r for r in gold if r["kind"] == "new"]  # each uid once, in order of creation
    translated = [(a, b) for a, b in zip(new_posts, new_posts[1:]) if b["translation_of"]]
    assert translated and len(translated) == sum(r["translation_of"] is not None for r in new_posts)
    for ru, en in translated:
        assert en["translation_of"] == ru["uid"] and (ru["lang"], en["lang"]) == ("ru", "en")
        assert en["media"] == ru["media"] and (en["forwarded_from"] is None) == (ru["forwarded_from"] is None)
    assert all(r["translation_of"] is None for r in gold if r["kind"] == "near")


def test_overlapping_pages_repeat_the_end_of_the_previous_page(corpus):
    _, _, gold, _, _ = corpus
    by_file = defaultdict(list)
    for r in gold:
        by_file[r["file"]].append(r)
    names = sorted(by_file)
    overlapping = 0
    for prev, name in zip(names, names[1:]):
        head = [r["uid"] for r in by_file[name] if r["kind"] == "overlap"]
        assert [r["kind"] == "overlap" for r in by_file[name]][:len(head)] == [True] * len(head)
        if head:
            overlapping += 1
            assert 1 <= len(head) <= 5
            assert head == [r["uid"] for r in by_file[prev][-len(head):]]
    assert overlapping


def dateline_numbers(title: str) -> list[str]:
    """The day and year of a title's '(Moscow, May 30, 2025)' ending."""
    m = re.search(r"\(([^()]*\d{4}[^()]*)\)$", title)
    return re.findall(r"\d+", m.group(1)) if m else []


def test_every_variation_occurs(corpus):
    _, _, gold, raw, lines = corpus
    text_lines = [clean(x) for file in lines.values() for x in file]
    bodies = [line for r in gold for line in r["body"]]
    seen = {
        "forwarded": any(r["forwarded_from"] for r in gold),
        "own post": any(r["forwarded_from"] is None and r["media"] is None for r in gold),
        "one-line body": any(len(r["body"]) == 1 for r in gold),
        "long body": any(len(r["body"]) >= 12 for r in gold),
        "title only": any(r["title_only"] for r in gold),
        "truncated": any(r["truncated"] for r in gold),
        "ru": any(r["lang"] == "ru" for r in gold),
        "en": any(r["lang"] == "en" for r in gold),
        "separator": any(x in SEPARATORS for x in bodies),
        "hashtag line": any(x.startswith("#") for x in bodies),
        "one hashtag per line": any(re.fullmatch(r"#\w+", x) for x in bodies),
        "anchor": any(x in ("Read in full", "Читать полностью") for x in bodies),
        "key points": any(x.endswith(":") and len(x) < 30 for x in bodies),
        "emoji-led line": any(x.startswith(("💬 ", "☝️ ", "🌐 ", "👉 ")) for x in bodies),
        "bullet": any(x.startswith("• ") for x in bodies),
        "side-by-side reactions": any(re.fullmatch(r"\S+ ?\d+ \S+ ?\d+.*", x) for x in text_lines),
        "bare count": any(e["emoji"] is None for r in gold for e in r["reactions"]),
        "views K": any(re.fullmatch(r"[\d.]+K views", x) for x in text_lines),
        "views M": any(re.fullmatch(r"[\d.]+M views", x) for x in text_lines),
        "views plain": any(re.fullmatch(r"\d+ views", x) for x in text_lines),
        "time": any(r["time"] and not r["edited"] for r in gold),
        "edited time": any(r["edited"] for r in gold),
        "translation follows": any(
            a["lang"] == "ru" and b["lang"] == "en" and a["kind"] == b["kind"] == "new"
            and dateline_numbers(a["title"]) and dateline_numbers(a["title"]) == dateline_numbers(b["title"])
            for a, b in zip(gold, gold[1:])),
    }
    for media in PLACEHOLDERS:
        seen[media] = any(r["media"] == media for r in gold)
    for kind in ("new", "exact", "near", "overlap"):
        seen["kind " + kind] = any(r["kind"] == kind for r in gold)
    for defect in ("a_missing_line", "b_missing_line"):
        seen[defect] = any(r["defect"] == defect for r in gold)
    seen["lost emoji"] = any(r["defect"] in ("a_lost_emoji", "b_lost_emoji") for r in gold)
    for edit in ("word", "line", "add_line", "emoji_lost"):
        seen["near " + edit] = any(r["edit"] == edit for r in gold)
    missing = [name for name, present in seen.items() if not present]
    assert not missing, missing


def test_rerun_replaces_previous_output(tmp_path):
    synthesize(tmp_path, posts=60, seed=2, files=6)
    synthesize(tmp_path, posts=10, seed=2, files=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dump_0000.txt", "dump_0001.txt", "gold.jsonl"]
    assert len((tmp_path / "gold.jsonl").read_text("utf-8").splitlines()) == 10


@pytest.mark.parametrize("posts, files", [(1, None), (10, 10), (3, 50)])
def test_tiny_corpora(tmp_path, posts, files):
    summary = synthesize(tmp_path, posts=posts, seed=3, files=files)
    gold = (tmp_path / "gold.jsonl").read_text("utf-8").splitlines()
    assert len(gold) == summary["occurrences"] == posts
    assert summary["files"] == len(list(tmp_path.glob("dump_*.txt"))) == min(posts, files or 1)
