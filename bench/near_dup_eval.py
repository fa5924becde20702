"""Score boilerplate marking + near-duplicate detection on dumps with a gold.jsonl.

    python bench/near_dup_eval.py DIR [--gold DIR/gold.jsonl] [--examples N]

Gold groups are the connected components of the `near_of` links (and of shared uids).
Scoring is pairwise over distinct posts (post_ids): a pair is found when both posts are
in one `cluster_ids` cluster, true when both are in one gold group. Works with
`tgcorpus synth` output and other generators writing file, line_start, line_end, uid
and near_of. posts/s counts distinct posts through mark_boilerplate,
near_duplicate_pairs and cluster_ids (parsing not included).
"""
import argparse
import json
import time
from pathlib import Path

import polars as pl

from tasks.find_near_duplicates import NearDupParams, cluster_ids, near_duplicate_pairs
from tasks.mark_boilerplate import mark_boilerplate
from tasks.split_paragraphs import split_paragraphs
from tgcorpus.evaluate import KEY, pair_count, parse_folder


def read_links(path: Path) -> pl.DataFrame:
    fields = (*KEY, "uid", "near_of")
    rows = [{k: json.loads(line).get(k) for k in fields} for line in path.read_text("utf-8").splitlines()]
    return pl.DataFrame(rows, schema={"file": pl.Utf8, "line_start": pl.Int64, "line_end": pl.Int64,
                                      "uid": pl.Utf8, "near_of": pl.Utf8})


def components(edges: pl.DataFrame) -> pl.DataFrame:
    """node → component of an undirected graph given as (post_id, other_post_id) edges."""
    nodes = pl.concat([edges["post_id"], edges["other_post_id"]]).unique().sort()
    return cluster_ids(pl.DataFrame({"post_id": nodes, "first_seen": pl.int_range(len(nodes), eager=True)}),
                       edges)


def pairwise_scores(found: pl.DataFrame, gold: pl.DataFrame) -> dict:
    """Both frames: post_id → cluster_id over the same posts."""
    both = found.join(gold, on="post_id", suffix="_gold")
    gold_pairs = gold.group_by("cluster_id").len().select(pair_count(pl.col("len"))).item()
    found_pairs = found.group_by("cluster_id").len().select(pair_count(pl.col("len"))).item()
    true_pairs = both.group_by("cluster_id", "cluster_id_gold").len().select(pair_count(pl.col("len"))).item()
    precision = true_pairs / found_pairs if found_pairs else 1.0
    recall = true_pairs / gold_pairs if gold_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1,
            "gold_pairs": gold_pairs, "found_pairs": found_pairs}


def evaluate(folder: Path, gold_path: Path, params: NearDupParams = NearDupParams()) -> dict:
    """Scores, throughput and the frames behind them (keys posts, pairs, found, gold)."""
    links = read_links(gold_path)
    occurrences = parse_folder(folder, sorted(links["file"].unique())).sort("file", "position")
    posts = (occurrences.unique("post_id", keep="first", maintain_order=True)
             .select("post_id", "text", first_seen=pl.int_range(pl.len())))

    started = time.perf_counter()
    boilerplate = mark_boilerplate(split_paragraphs(posts))
    pairs = near_duplicate_pairs(posts, boilerplate, params)
    found = cluster_ids(posts, pairs)
    seconds = time.perf_counter() - started

    # gold graph: a post is linked to its uid(s), a uid to the uid it is a near-duplicate of
    uids = occurrences.join(links, on=KEY).select("post_id", other_post_id="uid").unique()
    near = links.drop_nulls("near_of").select(post_id="uid", other_post_id="near_of").unique()
    gold = components(pl.concat([uids, near])).join(posts.select("post_id"), on="post_id")
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
