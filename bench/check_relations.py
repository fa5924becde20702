"""Audit a dataset's near-duplicate and translation relations, independently of the pipeline.

For every `near_duplicate` pair, how much non-template text the two posts share,
computed here from `posts.text` alone: lines that recur in 3 or more posts of the
channel are dropped (headers, footers, source labels), the rest is cut into word
3-shingles (character bigrams for Chinese, Japanese and Thai), and the share is
2|A∩B| / (|A| + |B|). A pair sharing under a third is a false pair.

For every `translation` link, the numbers and links the two posts share: a link
between posts that share none of them is printed for reading.

Usage: python bench/check_relations.py DATASET   (a tgcorpus --out folder, e.g. one made
by `tgcorpus run ../shared/realdata --out /tmp/real`). Exit status 1 when a false
near-duplicate pair or a translation link without shared numbers or links is found.
"""
from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

import polars as pl

TEMPLATE_POSTS = 3
UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\u0e00-\u0e7f]")
ANCHOR = re.compile(r"https?://\S+|t\.me/\S+|\d+(?:[.,]\d+)?")


def shingles(text: str) -> set[str]:
    if len(UNSPACED.findall(text)) * 2 > len(text):
        letters = re.sub(r"\W+", "", text)
        return {letters[i:i + 2] for i in range(len(letters) - 1)}
    words = re.findall(r"\w+", text.lower())
    return {" ".join(words[i:i + 3]) for i in range(max(1, len(words) - 2))}


def shared_share(a: set[str], b: set[str]) -> float:
    return 2 * len(a & b) / (len(a) + len(b)) if a or b else 1.0


def main() -> int:
    out = Path(sys.argv[1])
    posts = pl.read_parquet(out / "posts" / "**" / "*.parquet").select("post_id", "channel", "text")
    relations = pl.read_parquet(out / "relations" / "**" / "*.parquet")
    lines_per_channel: dict[str | None, Counter] = {}
    for channel, text in posts.select("channel", "text").iter_rows():
        lines_per_channel.setdefault(channel, Counter()).update(set(text.split("\n")))
    by_id = {post_id: (channel, text) for post_id, channel, text in posts.iter_rows()}

    def own_text(post_id: str) -> str:
        channel, text = by_id[post_id]
        recurring = lines_per_channel[channel]
        return "\n".join(line for line in text.split("\n") if recurring[line] < TEMPLATE_POSTS)

    failures = 0
    pairs = relations.filter(pl.col("kind") == "near_duplicate").select("post_id", "other_post_id", "score")
    shares = [shared_share(shingles(own_text(a)), shingles(own_text(b))) for a, b, _ in pairs.iter_rows()]
    false_pairs = [(pair, share) for pair, share in zip(pairs.iter_rows(), shares) if share < 1 / 3]
    print(f"near-duplicate pairs: {pairs.height}, sharing under a third of their own text: {len(false_pairs)}"
          + (f" ({len(false_pairs) / pairs.height:.1%})" if pairs.height else ""))
    for (a, b, score), share in false_pairs:
        failures += 1
        print(f"  share {share:.2f} score {score:.2f}\n    {by_id[a][1][:100]!r}\n    {by_id[b][1][:100]!r}")
    links = relations.filter(pl.col("kind") == "translation").select("post_id", "other_post_id", "score")
    print(f"translation links: {links.height}")
    for a, b, score in links.iter_rows():
        shared = set(ANCHOR.findall(by_id[a][1])) & set(ANCHOR.findall(by_id[b][1]))
        if not shared:
            failures += 1
        print(f"  {'ok ' if shared else 'NO '} shared {sorted(shared)[:5]} score {score:.2f}\n"
              f"    {by_id[a][1][:100]!r}\n    {by_id[b][1][:100]!r}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
