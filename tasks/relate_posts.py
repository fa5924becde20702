"""Relations between posts: near-duplicates (and their clusters) and translations.

A run relates its new posts to every post of the dataset for near-duplicates, and to
the posts it sighted (new or not) for translations, which sit next to each other in a
channel. Only pairs with a new post are emitted: older pairs were emitted by the run
that brought them. Stored rows are never rewritten, so a post that links two older
clusters leaves their ids as they were.
"""
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


def relate_posts(
    new_posts: pl.DataFrame,
    known_posts: pl.DataFrame | None,
    sighted: pl.DataFrame,
    near_params: NearDupParams = NearDupParams(),
    translation_params: TranslationParams = TranslationParams(),
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """→ (new posts with cluster_id, boilerplate flags of their paragraphs, relations).

    new_posts: post_id, channel, text, lang, forwarded_from, media (in sighting order);
    known_posts: the same plus cluster_id, for the dataset's posts (or None);
    sighted: post_id of every post this run saw, in sighting order.
    The flow runs these steps as tasks: sketch_posts, then candidate_pairs for each
    group of bands, then relations_of.
    """
    if new_posts.height == 0:  # nothing new: nothing to relate
        return new_posts.with_columns(cluster_id=pl.lit(None, pl.Utf8)), pl.DataFrame(schema=NO_FLAGS), \
            pl.DataFrame(schema=NO_RELATIONS)
    everything, boilerplate, sketches = sketch_posts(new_posts, known_posts, near_params)
    candidates = candidate_pairs(bucket_table(sketches, near_params), near_params)
    stored = known_posts.select("post_id", "cluster_id") if known_posts is not None else None
    return relations_of(everything, boilerplate, sketches, candidates, new_posts, stored, sighted,
                        near_params, translation_params)


def sketch_posts(new_posts: pl.DataFrame, known_posts: pl.DataFrame | None,
                 near_params: NearDupParams) -> tuple[pl.DataFrame, pl.DataFrame, Sketches]:
    """(every post to relate, with first_seen; boilerplate flags of their lines; their
    near-duplicate sketches). The dataset's posts come before this run's: the earliest
    post names a cluster, and a post's candidate pairs depend only on posts before it
    (see candidate_pairs), so stored posts keep the pairs they had."""
    everything = new_posts.select(COLUMNS)  # a first run: no copy of the texts
    if known_posts is not None:
        everything = pl.concat([known_posts.select(COLUMNS), everything])
    everything = everything.with_columns(first_seen=pl.int_range(pl.len(), dtype=pl.Int64))
    boilerplate = boilerplate_flags(everything)
    return everything, boilerplate, sketch(everything, boilerplate, near_params)


def relations_of(
    everything: pl.DataFrame,
    boilerplate: pl.DataFrame,
    sketches: Sketches,
    candidates: pl.DataFrame,
    new_posts: pl.DataFrame,
    stored_clusters: pl.DataFrame | None,
    sighted: pl.DataFrame,
    near_params: NearDupParams = NearDupParams(),
    translation_params: TranslationParams = TranslationParams(),
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """relate_posts' result from sketch_posts' and candidate_pairs' (`new_posts` may be
    just their post_id; `stored_clusters`: post_id, cluster_id of the dataset's posts,
    or None)."""
    is_new = pl.col("post_id").is_in(new_posts["post_id"].implode())
    touches_new = is_new | pl.col("other_post_id").is_in(new_posts["post_id"].implode())

    all_near = verified_pairs(everything, boilerplate, sketches, candidates, near_params)
    near = all_near.filter(touches_new)
    clusters = cluster_ids(everything, all_near)
    if stored_clusters is not None:
        clusters = _keep_stored_clusters(clusters, stored_clusters)

    # Translations are looked for in sighting order among the posts this run saw; the
    # order is one small column beside the texts (a join would copy every text).
    sight_order = sighted.unique("post_id", keep="first", maintain_order=True).select(
        "post_id", first_seen=pl.int_range(pl.len(), dtype=pl.Int64)
    )
    in_sight = everything.with_columns(
        everything.select("post_id").join(sight_order, on="post_id", how="left", maintain_order="left")["first_seen"]
    )
    translations = translation_pairs(in_sight, translation_params).filter(touches_new)

    relations = pl.concat([near.select(RELATION_COLUMNS), translations.select(RELATION_COLUMNS)])
    posts = new_posts.join(clusters, on="post_id", how="left", maintain_order="left")
    return posts, boilerplate.filter(is_new), relations


def _keep_stored_clusters(clusters: pl.DataFrame, known: pl.DataFrame) -> pl.DataFrame:
    """A new post joins the stored cluster of its component's earliest post."""
    stored = known.select("post_id", stored="cluster_id")
    return (
        clusters.join(stored, left_on="cluster_id", right_on="post_id", how="left")
        .select("post_id", cluster_id=pl.coalesce("stored", "cluster_id"))
    )
