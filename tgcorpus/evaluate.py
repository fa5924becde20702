"""Score the splitter and exact dedup against a gold file of true occurrences.

Reads the gold.jsonl of `tgcorpus synth` or of other generators with the same core
fields (file, line_start, line_end, uid, and text or title + body).
"""
from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from tasks.collapse_copies import collapse_copies
from tasks.read_source import lines_frame, read_source
from tasks.split_posts import split_posts

KEY = ["file", "line_start", "line_end"]


def read_gold(path: Path) -> pl.DataFrame:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        text = record.get("text") or "\n".join([record["title"], *record.get("body", [])])
        rows.append({k: record[k] for k in (*KEY, "uid")} | {"text": text})
    return pl.DataFrame(rows, schema={"file": pl.Utf8, "line_start": pl.Int64, "line_end": pl.Int64,
                                      "uid": pl.Utf8, "text": pl.Utf8})


def parse_folder(folder: Path, names: list[str], max_copy_misses: int = 2) -> pl.DataFrame:
    frames = [lines_frame(name, read_source(folder / name).lines) for name in names]
    return collapse_copies(split_posts(pl.concat(frames), max_copy_misses)).rename({"source_file": "file"})


def pair_count(sizes: pl.Expr) -> pl.Expr:
    return (sizes * (sizes - 1) // 2).sum()


def score_split(folder: Path, gold_path: Path) -> dict:
    gold = read_gold(gold_path)
    found = parse_folder(folder, sorted(gold["file"].unique()))
    matched = gold.join(found.select(*KEY, "post_id", found_text="text"), on=KEY, how="inner")
    exact = matched.filter(pl.col("text") == pl.col("found_text"))
    # Exact duplicates, pairwise over the occurrences found with the right range.
    true_pairs = matched.group_by("uid").len().select(pair_count(pl.col("len"))).item()
    found_pairs = matched.group_by("post_id").len().select(pair_count(pl.col("len"))).item()
    both = matched.group_by("uid", "post_id").len().select(pair_count(pl.col("len"))).item()
    return {
        "gold_occurrences": gold.height,
        "found_occurrences": found.height,
        "range_found": matched.height,
        "range_and_text_found": exact.height,
        "split_accuracy": exact.height / gold.height if gold.height else 1.0,
        "duplicate_pairs_gold": true_pairs,
        "duplicate_pairs_found": found_pairs,
        "duplicate_precision": both / found_pairs if found_pairs else 1.0,
        "duplicate_recall": both / true_pairs if true_pairs else 1.0,
        "misses": gold.join(exact.select(KEY), on=KEY, how="anti").head(20).to_dicts(),
    }
