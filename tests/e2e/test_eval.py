"""`tgcorpus eval`, run as a user runs it, on a small generated corpus and the langid sample;
then on a damaged gold file and mislabelled language files, where the scores must drop."""
import json
import shutil
from pathlib import Path

import pytest

from conftest import tgcorpus

FIXTURES = Path(__file__).parents[1] / "fixtures" / "langid"
LANGUAGES = ("ru", "en", "uk", "be", "bg", "sr", "mk", "kk")


def evaluated(*args: str) -> dict:
    done = tgcorpus("eval", *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def read_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write_records(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("eval") / "dumps"
    made = tgcorpus("synth", "--out", str(folder), "--posts", "300", "--seed", "5")
    assert made.returncode == 0, made.stderr
    return folder


@pytest.fixture(scope="module")
def report(corpus) -> dict:
    return evaluated(str(corpus), "--langid", str(FIXTURES))


def test_generated_corpus_scores(report):
    split = report["split"]
    assert split["gold_occurrences"] == 300 and split["found_occurrences"] == 300
    assert split["split_accuracy"] == 1.0 and split["text_accuracy"] == 1.0
    assert split["lines_accounted"] == split["gold_lines"] > 0
    assert split["dump_lines"] >= split["found_lines"] == split["gold_lines"]
    exact = report["exact_duplicates"]
    assert exact["gold_pairs"] >= 3 and exact["f1"] == 1.0
    near = report["near_duplicates"]
    assert near["gold_pairs"] >= 3, "the corpus should hold near-duplicates to score"
    assert near["recall"] >= 0.9 and near["precision"] >= 0.9
    translations = report["translations"]
    assert translations["gold_pairs"] >= 10
    assert translations["precision"] >= 0.9 and translations["recall"] >= 0.8
    assert report["gold_fields"] == ["near_of", "translation_of", "lang"]
    languages = report["languages"]["languages"]
    # Issue 3: generated posts are tagged 100% right (`und` for a post of only hashtags).
    assert {"ru", "en"} <= set(languages) <= {"ru", "en", "und"}
    assert all(s["accuracy"] == 1.0 for s in languages.values()), languages
    assert sum(s["n"] for s in languages.values()) == report["posts"]


def test_langid_table_per_class_and_language(report):
    classes = report["langid"]["classes"]
    assert list(classes) == ["sentences", "word-pairs", "single-words"]
    for cls in classes.values():
        assert list(cls["languages"]) == list(LANGUAGES)
        assert all(s["n"] == 20 and 0 <= s["und"] <= 1 - s["accuracy"] for s in cls["languages"].values())
    assert classes["sentences"]["macro"]["accuracy"] >= 0.9
    # shorter texts are harder: whatever the tagger's version, not easier than sentences
    assert classes["single-words"]["macro"]["accuracy"] <= classes["sentences"]["macro"]["accuracy"]


def test_damaged_gold_and_mislabelled_files_lower_the_scores(corpus, report, tmp_path):
    records = read_records(corpus / "gold.jsonl")
    uses = {}
    for r in records:
        for uid in (r["uid"], r["near_of"], r["translation_of"]):
            uses[uid] = uses.get(uid, 0) + 1
    alone = [r for r in records[1:] if uses[r["uid"]] == 1 and not r["near_of"] and not r["translation_of"]]
    en = [r for r in alone if r["lang"] == "en"]
    ru = [r for r in alone if r["lang"] == "ru"]
    assert len(en) >= 2 and len(ru) >= 2
    records[0]["line_end"] -= 1           # a line range the splitter cannot have found
    en[0]["near_of"] = ru[0]["uid"]       # two unrelated posts called near-duplicates
    en[1]["translation_of"] = ru[1]["uid"]  # and an unrelated pair called a translation
    write_records(tmp_path / "gold.jsonl", records)
    langid = tmp_path / "langid"
    shutil.copytree(FIXTURES, langid)
    shutil.copy(FIXTURES / "sentences" / "en.txt", langid / "sentences" / "ru.txt")  # English labelled ru

    damaged = evaluated(str(corpus), "--gold", str(tmp_path / "gold.jsonl"), "--langid", str(langid))
    assert damaged["split"]["split_accuracy"] == pytest.approx(299 / 300)
    assert damaged["split"]["lines_accounted"] < report["split"]["lines_accounted"]
    near, was = damaged["near_duplicates"], report["near_duplicates"]
    assert near["gold_pairs"] == was["gold_pairs"] + 1 and near["recall"] < was["recall"]
    links, was = damaged["translations"], report["translations"]
    assert links["gold_pairs"] == was["gold_pairs"] + 1 and links["recall"] < was["recall"]
    sentences = damaged["langid"]["classes"]["sentences"]["languages"]
    assert sentences["ru"]["accuracy"] <= 0.2 < report["langid"]["classes"]["sentences"]["languages"]["ru"]["accuracy"]


def test_other_generators_gold_without_translations_or_text(corpus, tmp_path):
    """make_corpus.py's gold: title + body, no text, no translation_of; the dumps named by it."""
    records = read_records(corpus / "gold.jsonl")
    for r in records:
        del r["text"], r["translation_of"]
    write_records(tmp_path / "gold.jsonl", records)
    done = tgcorpus("eval", str(corpus), "--gold", str(tmp_path / "gold.jsonl"))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "translations  n/a (no translation_of in the gold)" in out
    assert "split         accuracy 1.0000" in out and "exact dups    P 1.0000  R 1.0000  F1 1.0000" in out
    assert "near dups     P" in out and "languages     ru " in out and "language tagger" not in out


@pytest.mark.parametrize("args, message", [
    (["{tmp}/missing"], "is not a folder"),
    (["{tmp}"], "no gold file"),
    (["{corpus}", "--gold", "{tmp}/missing.jsonl"], "no gold file"),
    (["{corpus}", "--gold", "{tmp}/bad.jsonl"], "bad.jsonl:2: not a gold record"),
    (["{corpus}", "--langid", "{tmp}"], "has no <class>/<lang>.txt files"),
])
def test_bad_paths_are_one_line_and_exit_2(corpus, tmp_path, args, message):
    (tmp_path / "bad.jsonl").write_text((corpus / "gold.jsonl").read_text("utf-8").splitlines()[0] + "\n{oops\n")
    done = tgcorpus("eval", *(a.format(tmp=tmp_path, corpus=corpus) for a in args))
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_real_style_posts_report_accuracy_und_reliability_and_errors(report):
    from tgcorpus.evaluate import format_report

    posts = report["posts_langid"]
    assert posts["n"] >= 200 and posts["with_letters"] < posts["n"]
    assert posts["accuracy"] >= 0.97 and posts["und_share"] <= 0.03
    assert [row["min_score"] for row in posts["reliability"]] == [0.0, 0.5, 0.8, 0.9, 0.95, 0.99]
    assert posts["reliability"][0]["n"] >= posts["reliability"][-1]["n"] > 0
    wrong = round((1 - posts["accuracy"]) * posts["n"])
    assert len(posts["errors"]) == wrong
    assert all(e["label"] != e["lang"] for e in posts["errors"])
    printed = format_report(report)
    assert f"real-style posts {posts['n']} labelled" in printed and "reliability   lang_score >=" in printed
    assert printed.count("  wrong: ") == wrong
