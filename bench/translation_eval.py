"""Score the translation linker on a folder of dumps whose gold.jsonl has `translation_of`.

    python bench/translation_eval.py DIR [--tagger]

Parses the dumps with the project's splitter, links translations among the posts found,
and compares distinct post pairs with the gold pairs (the English post's
`translation_of` and its Russian post, mapped to post_ids through their line ranges).
Languages come from the share of Cyrillic letters, or from tasks.tag_language with
--tagger.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.link_translations import TranslationParams, translation_pairs  # noqa: E402
from tgcorpus.evaluate import KEY, parse_folder  # noqa: E402


def script_language(text: pl.Expr) -> pl.Expr:
    """'ru' when most letters are Cyrillic, 'en' when most are Latin, else 'und'."""
    cyrillic, latin = text.str.count_matches(r"\p{Cyrillic}"), text.str.count_matches(r"\p{Latin}")
    return pl.when(cyrillic > latin).then(pl.lit("ru")).when(latin > 0).then(pl.lit("en")).otherwise(pl.lit("und"))


def posts_in_sighting_order(occurrences: pl.DataFrame, tagger=None) -> pl.DataFrame:
    """One row per post_id from its first sighting (file, then position), with first_seen;
    `lang` from the script, or from `tagger.detect` (tasks.tag_language.LanguageTagger)."""
    ordered = occurrences.sort("file", "position").with_row_index("first_seen")
    posts = ordered.unique("post_id", keep="first", maintain_order=True).select(
        "post_id", "text", "forwarded_from", "media", pl.col("first_seen").cast(pl.Int64)
    )
    if tagger is None:
        return posts.with_columns(lang=script_language(pl.col("text")))
    return posts.with_columns(lang=pl.Series(tagger.detect(posts["text"].to_list())[0]))


def pair_set(frame: pl.DataFrame, a: str, b: str) -> set[frozenset]:
    return {frozenset(pair) for pair in frame.select(a, b).iter_rows()}


def score_translations(folder: Path, params: TranslationParams = TranslationParams(), tagger=None) -> dict:
    columns = [*KEY, "uid", "translation_of"]
    records = [json.loads(line) for line in (folder / "gold.jsonl").read_text("utf-8").splitlines()]
    gold = pl.DataFrame([{k: r[k] for k in columns} for r in records],
                        schema=dict(zip(columns, [pl.Utf8, pl.Int64, pl.Int64, pl.Utf8, pl.Utf8])))
    occurrences = parse_folder(folder, sorted(gold["file"].unique()))
    posts = posts_in_sighting_order(occurrences, tagger)
    started = time.perf_counter()
    found = translation_pairs(posts, params)
    seconds = time.perf_counter() - started
    # a uid whose occurrences were all mis-split has no post_id: its gold pair counts as missed
    uid_post = (gold.join(occurrences.select(*KEY, "post_id"), on=KEY)
                .unique("uid", keep="first").select("uid", "post_id"))
    gold_pairs = (
        gold.filter(pl.col("translation_of").is_not_null()).unique("uid")
        .join(uid_post, on="uid", how="left")
        .join(uid_post.rename({"uid": "translation_of", "post_id": "original_post_id"}),
              on="translation_of", how="left")
    )
    truth = pair_set(gold_pairs, "original_post_id", "post_id")
    linked = pair_set(found, "post_id", "other_post_id")
    hits = len(truth & linked)
    precision = hits / len(linked) if linked else 1.0
    recall = hits / len(truth) if truth else 1.0
    return {
        "posts": posts.height,
        "gold_pairs": len(truth),
        "linked_pairs": len(linked),
        "correct": hits,
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if hits else 0.0,
        "link_seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--tagger", action="store_true", help="languages from tasks.tag_language")
    args = parser.parse_args()
    tagger = None
    if args.tagger:
        from tasks.tag_language import LanguageTagger
        tagger = LanguageTagger()
    for key, value in score_translations(args.folder, tagger=tagger).items():
        print(f"{key:14} {value:.4f}" if isinstance(value, float) else f"{key:14} {value}")


if __name__ == "__main__":
    main()
