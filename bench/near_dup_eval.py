"""Score boilerplate marking + near-duplicate detection on dumps with a gold.jsonl.

    python bench/near_dup_eval.py DIR [--gold DIR/gold.jsonl] [--examples N]

Gold groups are the connected components of the `near_of` links (and of shared uids).
Scoring is pairwise over distinct posts (post_ids): a pair is found when both posts are
in one `cluster_ids` cluster, true when both are in one gold group. Works with
`tgcorpus synth` output and other generators writing file, line_start, line_end, uid
and near_of. posts/s counts distinct posts through boilerplate_flags (one channel: a folder of dumps is one in the flow),
near_duplicate_pairs and cluster_ids (parsing not included). The scoring is
tgcorpus/evaluate.py's; `tgcorpus eval` scores the flow's relate step the same way, this
script runs the near-duplicate steps alone, with their throughput, for tuning
NearDupParams, and can print wrong pairs.
"""
import argparse
import time
from pathlib import Path

import polars as pl

from tasks.relate.find_near_duplicates import NearDupParams, cluster_ids, near_duplicate_pairs
from tasks.relate.mark_boilerplate import boilerplate_flags
from tgcorpus.evaluate import gold_clusters, pairwise_scores, parse_folder, read_gold


def evaluate(folder: Path, gold_path: Path, params: NearDupParams = NearDupParams()) -> dict:
    """Scores, throughput and the frames behind them (keys posts, pairs, found, gold)."""
    gold = read_gold(gold_path)
    occurrences = parse_folder(folder, sorted(gold["file"].unique())).sort("file", "position")
    posts = (occurrences.unique("post_id", keep="first", maintain_order=True)
             .select("post_id", "text", first_seen=pl.int_range(pl.len())))

    started = time.perf_counter()
    boilerplate = boilerplate_flags(posts, template=params.template)
    pairs = near_duplicate_pairs(posts, boilerplate, params)
    found = cluster_ids(posts, pairs)
    seconds = time.perf_counter() - started

    gold = gold_clusters(gold, occurrences, posts)
    return pairwise_scores(found, gold) | {
        "posts": posts.height, "seconds": seconds, "posts_per_s": posts.height / seconds,
        "frames": {"posts": posts, "pairs": pairs, "found": found, "gold": gold},
    }


def print_examples(frames: dict, limit: int) -> None:
    def same_cluster_pairs(clusters: pl.DataFrame) -> pl.DataFrame:
        return (clusters.join(clusters, on="cluster_id", suffix="_other")
                .filter(pl.col("post_id") < pl.col("post_id_other")).select("post_id", "post_id_other"))

    gold_pairs, found_pairs = same_cluster_pairs(frames["gold"]), same_cluster_pairs(frames["found"])
    text = dict(frames["posts"].select("post_id", "text").iter_rows())
    pairs = frames["pairs"].select("post_id", "other_post_id", "score")
    scores = {frozenset(p): s for *p, s in pairs.iter_rows()}
    for label, wrong in (("missed", gold_pairs.join(found_pairs, on=gold_pairs.columns, how="anti")),
                         ("extra", found_pairs.join(gold_pairs, on=gold_pairs.columns, how="anti"))):
        for a, b in wrong.head(limit).iter_rows():
            print(f"--- {label} pair, score {scores.get(frozenset((a, b)))}")
            print(f"{text[a][:300]!r}\n{text[b][:300]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--gold", type=Path)
    parser.add_argument("--examples", type=int, default=0, help="print N wrong pairs of each kind")
    args = parser.parse_args()
    report = evaluate(args.folder, args.gold or args.folder / "gold.jsonl")
    frames = report.pop("frames")
    for key, value in report.items():
        print(f"{key:12} {value:.4f}" if isinstance(value, float) else f"{key:12} {value}")
    if args.examples:
        print_examples(frames, args.examples)


if __name__ == "__main__":
    main()
