"""Score the translation linker on a folder of dumps whose gold.jsonl has `translation_of`.

    python bench/translation_eval.py DIR [--tagger]

Parses the dumps with the project's splitter, links translations among the posts found,
and compares distinct post pairs with the gold pairs (the English post's
`translation_of` and its Russian post, mapped to post_ids through their line ranges).
Languages come from the share of Cyrillic letters, or from tasks.language.tag_language with
--tagger. The scoring is tgcorpus/evaluate.py's; `tgcorpus eval` scores the links of the
flow's relate step (languages from the tagger) the same way.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import polars as pl

from tasks.relate.link_translations import TranslationParams, translation_pairs
from tgcorpus.evaluate import parse_folder, read_gold, translation_scores


def script_language(text: pl.Expr) -> pl.Expr:
    """'ru' when most letters are Cyrillic, 'en' when most are Latin, else 'und'."""
    cyrillic, latin = text.str.count_matches(r"\p{Cyrillic}"), text.str.count_matches(r"\p{Latin}")
    return pl.when(cyrillic > latin).then(pl.lit("ru")).when(latin > 0).then(pl.lit("en")).otherwise(pl.lit("und"))


def posts_in_sighting_order(occurrences: pl.DataFrame, tagger=None) -> pl.DataFrame:
    """One row per post_id from its first sighting (file, then position), with first_seen;
    `lang` from the script, or from `tagger.detect` (tasks.language.tag_language.LanguageTagger)."""
    ordered = occurrences.sort("file", "position").with_row_index("first_seen")
    posts = ordered.unique("post_id", keep="first", maintain_order=True).select(
        "post_id", "text", "forwarded_from", "media", pl.col("first_seen").cast(pl.Int64)
    )
    if tagger is None:
        return posts.with_columns(lang=script_language(pl.col("text")))
    return posts.with_columns(lang=pl.Series(tagger.detect(posts["text"].to_list())[0]))


def score_translations(folder: Path, params: TranslationParams = TranslationParams(), tagger=None) -> dict:
    gold = read_gold(folder / "gold.jsonl")
    occurrences = parse_folder(folder, sorted(gold["file"].unique()))
    posts = posts_in_sighting_order(occurrences, tagger)
    started = time.perf_counter()
    found = translation_pairs(posts, params)
    seconds = time.perf_counter() - started
    scores = translation_scores(gold, occurrences, found)
    return {"posts": posts.height, "gold_pairs": scores["gold_pairs"], "linked_pairs": scores["found_pairs"],
            "correct": scores["correct_pairs"], "precision": scores["precision"], "recall": scores["recall"],
            "f1": scores["f1"], "link_seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--tagger", action="store_true", help="languages from tasks.language.tag_language")
    args = parser.parse_args()
    tagger = None
    if args.tagger:
        from tasks.language.tag_language import LanguageTagger
        tagger = LanguageTagger()
    for key, value in score_translations(args.folder, tagger=tagger).items():
        print(f"{key:14} {value:.4f}" if isinstance(value, float) else f"{key:14} {value}")


if __name__ == "__main__":
    main()
