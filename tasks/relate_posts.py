"""Relations between posts: near-duplicates (and their clusters) and translations.

A run relates its new posts to every post of the dataset for near-duplicates, and to
the posts it sighted (new or not) for translations, which sit next to each other in a
channel. Only pairs with a new post are emitted: older pairs were emitted by the run
that brought them. Stored rows are never rewritten, so a post that links two older
clusters leaves their ids as they were.

Near-duplicates read the dataset's near-duplicate index, not its texts: each stored
post's LSH bucket keys and its place in first-seen order (`seen`), in the table
INDEX_TABLE (schemas/tables.py). A run sketches only its new posts, looks up the
stored posts sharing a bucket with them, and reads the texts of those that make a
candidate pair with a new post, to verify it. A stored post's keys are those of the
run that stored it: a line that became boilerplate since leaves them as they were (a
run over everything at once would leave it out of their shingles).

Boilerplate flags still count every stored post's lines, and translations read the
stored posts this run sighted.

The steps, in order (the flow runs each as a task, candidate_pairs per group of bands):
sketch_new → candidate_pairs(members) → near_and_clusters → relations_of.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import polars as pl

from tasks.find_near_duplicates import (
    NearDupParams, Sketches, bucket_table, candidate_pairs, cluster_ids, sketch, verified_pairs,
)
from tasks.link_translations import TranslationParams, translation_pairs
from tasks.mark_boilerplate import boilerplate_flags

RELATION_COLUMNS = ["post_id", "other_post_id", "kind", "score"]
NO_RELATIONS = {"post_id": pl.Utf8, "other_post_id": pl.Utf8, "kind": pl.Utf8, "score": pl.Float64}
NO_FLAGS = {"post_id": pl.Utf8, "idx": pl.Int64, "is_boilerplate": pl.Boolean}
COLUMNS = ["post_id", "channel", "text", "lang", "forwarded_from", "media"]
INDEX_COLUMNS = {"post_id": pl.Utf8, "band": pl.UInt16, "bucket": pl.UInt64, "seen": pl.Int64}


def index_rows(posts: pl.DataFrame, boilerplate: pl.DataFrame | None, params: NearDupParams) -> pl.DataFrame:
    """The near-duplicate index of `posts` (post_id, text, first_seen): (post_id, band,
    bucket, seen) of every band bucket of every post (bucket_table), seen = first_seen;
    sorted by band and bucket, so that a file's row groups cover narrow key ranges."""
    posts = posts.sort("first_seen", "post_id")
    return rows_of(posts, sketch(posts, boilerplate, params), params)


def rows_of(posts: pl.DataFrame, sketches: Sketches, params: NearDupParams) -> pl.DataFrame:
    """index_rows from the sketches of `posts` (post numbers: their rows)."""
    numbers = posts.select(post=pl.int_range(pl.len(), dtype=pl.UInt32), post_id="post_id", seen="first_seen")
    return (
        bucket_table(sketches, params).join(numbers, on="post", how="left")
        .select(list(INDEX_COLUMNS)).cast(INDEX_COLUMNS).sort("band", "bucket", "seen")
    )


@dataclass(frozen=True)
class Sketched:
    """The sketch step's result. `new_posts`: the run's new posts, first_seen numbering
    them after every stored post; `boilerplate`: flags of the lines of every post, stored
    and new; `sketches`: the new posts' (post numbers: rows of `new_posts`);
    `members`: (band, bucket, post = seen, post_id) of the new posts' buckets, with the
    stored posts that can pair with them; `index_rows`: the new posts' index rows."""

    new_posts: pl.DataFrame
    boilerplate: pl.DataFrame
    sketches: Sketches
    members: pl.DataFrame
    index_rows: pl.DataFrame

    @property
    def first_new(self) -> int:
        return int(self.new_posts["first_seen"].min())


def sketch_new(new_posts: pl.DataFrame, stored_texts: pl.DataFrame | None, index: pl.LazyFrame | None,
               near_params: NearDupParams) -> Sketched:
    """new_posts: COLUMNS, in sighting order; stored_texts: post_id, channel, text of
    the dataset's posts (boilerplate is counted over them), or None; index: the
    dataset's near-duplicate index (INDEX_COLUMNS), or None."""
    new_texts = new_posts.select("post_id", "channel", "text")
    every_text = new_texts if stored_texts is None else pl.concat([stored_texts.select(new_texts.columns), new_texts])
    boilerplate = boilerplate_flags(every_text, template=near_params.template)
    last_seen = None if index is None else index.select(pl.col("seen").max()).collect().item()
    first_new = 0 if last_seen is None else last_seen + 1
    new_posts = new_posts.select(COLUMNS).with_columns(first_seen=pl.int_range(pl.len(), dtype=pl.Int64) + first_new)
    sketches = sketch(new_posts, boilerplate, near_params)
    new_rows = rows_of(new_posts, sketches, near_params)
    members = new_rows if index is None else pl.concat([stored_neighbours(index, new_rows, near_params), new_rows])
    return Sketched(new_posts, boilerplate, sketches,
                    members.select("band", "bucket", post=pl.col("seen").cast(pl.UInt32), post_id="post_id"),
                    new_rows)


def stored_neighbours(index: pl.LazyFrame, new_rows: pl.DataFrame, params: NearDupParams) -> pl.DataFrame:
    """The index rows of stored posts that can pair with a new post: in each bucket a new
    post is in, its `bucket_neighbours` latest stored posts (a new post pairs with at most
    that many posts before it, and every stored post is before it: candidate_pairs)."""
    keys = new_rows.select("band", "bucket").unique()
    return (
        index.filter(pl.col("bucket").is_in(keys["bucket"].implode()))
        .join(keys.lazy(), on=["band", "bucket"], how="semi")
        .filter(pl.col("seen").rank("ordinal", descending=True).over("band", "bucket") <= params.bucket_neighbours)
        .collect()
    )


def with_new_post(candidates: pl.DataFrame, sketched: Sketched) -> pl.DataFrame:
    """The candidate pairs (a, b as seen numbers, a < b) that have a new post; older pairs
    were verified by the run that stored them."""
    return candidates.filter(pl.col("b") >= sketched.first_new)


def stored_to_verify(candidates: pl.DataFrame, sketched: Sketched) -> pl.Series:
    """post_id of the stored posts in candidate pairs with a new post: the only stored
    texts near-duplicate verification reads."""
    stored = with_new_post(candidates, sketched).filter(pl.col("a") < sketched.first_new).select(post="a").unique()
    return sketched.members.join(stored, on="post", how="semi")["post_id"].unique().sort()


def near_duplicates(sketched: Sketched, candidates: pl.DataFrame, stored_posts: pl.DataFrame,
                    near_params: NearDupParams) -> pl.DataFrame:
    """Relations rows of the verified candidate pairs with a new post. stored_posts:
    post_id, text of the stored posts stored_to_verify names."""
    seen = sketched.members.select("post_id", first_seen=pl.col("post").cast(pl.Int64)).unique("post_id")
    stored = stored_posts.select("post_id", "text").join(seen, on="post_id").sort("first_seen")
    posts = pl.concat([stored, sketched.new_posts.select("post_id", "text", "first_seen")])
    stored_sketches = sketch(stored, sketched.boilerplate, near_params)
    shift = np.uint32(stored.height)
    sketches = Sketches(
        np.concatenate([stored_sketches.signed, sketched.sketches.signed + shift]),
        np.concatenate([stored_sketches.signatures, sketched.sketches.signatures]),
        pl.concat([stored_sketches.lines, sketched.sketches.lines.with_columns(pl.col("post") + shift)]),
    )
    local = posts.select(seen=pl.col("first_seen").cast(pl.UInt32), local=pl.int_range(pl.len(), dtype=pl.UInt32))
    pairs = (
        with_new_post(candidates, sketched)
        .join(local.rename({"seen": "a", "local": "local_a"}), on="a")
        .join(local.rename({"seen": "b", "local": "local_b"}), on="b")
        .select(a="local_a", b="local_b").sort("a", "b")
    )
    return verified_pairs(posts, sketched.boilerplate, sketches, pairs, near_params)


def new_clusters(new_posts: pl.DataFrame, near: pl.DataFrame, stored_clusters: pl.DataFrame,
                 root_seen: pl.DataFrame) -> pl.DataFrame:
    """post_id → cluster_id of the new posts: the stored cluster of their component's
    earliest post. A stored post stands for its cluster (its root, the cluster's earliest
    post), so a component's earliest node is the root of its earliest stored cluster.
    stored_clusters: post_id, cluster_id of the stored posts in `near`; root_seen:
    post_id, first_seen of their roots."""
    root = dict(stored_clusters.select("post_id", "cluster_id").iter_rows())
    pairs = near.select(pl.col("post_id", "other_post_id").replace(root))
    nodes = pl.concat([root_seen.select("first_seen", "post_id"), new_posts.select("first_seen", "post_id")])
    return cluster_ids(nodes.unique("post_id"), pairs).join(new_posts.select("post_id"), on="post_id", how="semi")


def relations_of(
    sketched: Sketched,
    near: pl.DataFrame,
    clusters: pl.DataFrame,
    sighted_posts: pl.DataFrame,
    sighted: pl.DataFrame,
    translation_params: TranslationParams = TranslationParams(),
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(new posts with cluster_id, boilerplate flags of their paragraphs, relations), from
    the near-duplicates and clusters of the new posts; sighted_posts: COLUMNS of the
    stored posts this run sighted; sighted: post_id of every post this run saw, in
    sighting order."""
    new_ids = sketched.new_posts["post_id"].implode()
    # Translations are looked for in sighting order among the posts this run saw.
    sight_order = sighted.unique("post_id", keep="first", maintain_order=True).select(
        "post_id", first_seen=pl.int_range(pl.len(), dtype=pl.Int64)
    )
    in_sight = pl.concat([sighted_posts.select(COLUMNS).filter(~pl.col("post_id").is_in(new_ids)),
                          sketched.new_posts.select(COLUMNS)])
    in_sight = in_sight.join(sight_order, on="post_id", how="left", maintain_order="left")
    translations = translation_pairs(in_sight, translation_params).filter(
        pl.col("post_id").is_in(new_ids) | pl.col("other_post_id").is_in(new_ids)
    )
    relations = pl.concat([near.select(RELATION_COLUMNS), translations.select(RELATION_COLUMNS)])
    posts = sketched.new_posts.drop("first_seen").join(clusters, on="post_id", how="left", maintain_order="left")
    return posts, sketched.boilerplate.filter(pl.col("post_id").is_in(new_ids)), relations


def near_and_clusters(sketched: Sketched, candidates: pl.DataFrame, read_stored: Callable[[pl.Series], pl.DataFrame],
                      index: pl.LazyFrame | None, near_params: NearDupParams) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(near-duplicate relations of the new posts, their cluster_ids) from the candidate
    pairs; read_stored(post_ids) → post_id, text, cluster_id of those stored posts: the
    one read of stored texts here, for stored_to_verify's posts only."""
    stored = read_stored(stored_to_verify(candidates, sketched))
    near = near_duplicates(sketched, candidates, stored, near_params)
    roots = stored["cluster_id"].unique()
    root_seen = (pl.DataFrame(schema={"post_id": pl.Utf8, "first_seen": pl.Int64}) if index is None else
                 index.filter(pl.col("post_id").is_in(roots.implode())).group_by("post_id")
                 .agg(first_seen=pl.col("seen").min()).collect())
    clusters = new_clusters(sketched.new_posts, near, stored.select("post_id", "cluster_id"), root_seen)
    return near, clusters


def relate_posts(
    new_posts: pl.DataFrame,
    known_posts: pl.DataFrame | None,
    sighted: pl.DataFrame,
    near_params: NearDupParams = NearDupParams(),
    translation_params: TranslationParams = TranslationParams(),
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """→ (new posts with cluster_id, boilerplate flags of their paragraphs, relations).

    new_posts: COLUMNS (in sighting order); known_posts: the same plus cluster_id, for the
    dataset's posts (or None), indexed here as a run that stored them would have;
    sighted: post_id of every post this run saw, in sighting order."""
    if new_posts.height == 0:  # nothing new: nothing to relate
        return new_posts.with_columns(cluster_id=pl.lit(None, pl.Utf8)), pl.DataFrame(schema=NO_FLAGS), \
            pl.DataFrame(schema=NO_RELATIONS)
    index = None
    if known_posts is not None:
        known = known_posts.with_columns(first_seen=pl.int_range(pl.len(), dtype=pl.Int64))
        index = index_rows(known, boilerplate_flags(known, template=near_params.template), near_params).lazy()
    sketched = sketch_new(new_posts, known_posts, index, near_params)
    candidates = candidate_pairs(sketched.members, near_params)

    stored = known_posts if known_posts is not None else new_posts.with_columns(cluster_id=pl.lit(None, pl.Utf8)).head(0)

    def read_stored(post_ids: pl.Series) -> pl.DataFrame:
        return stored.filter(pl.col("post_id").is_in(post_ids.implode())).select("post_id", "text", "cluster_id")

    near, clusters = near_and_clusters(sketched, candidates, read_stored, index, near_params)
    sighted_posts = stored.filter(pl.col("post_id").is_in(sighted["post_id"].implode()))
    return relations_of(sketched, near, clusters, sighted_posts, sighted, translation_params)
