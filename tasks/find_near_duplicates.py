"""Near-duplicate posts: MinHash + LSH banding proposes pairs, true Jaccard decides.

A post's content is its non-boilerplate lines, normalised (NFKC, lower case, runs of
anything but letters and digits folded to one space) and cut into overlapping word
shingles. Two posts are near-duplicates when the Jaccard similarity of their shingle
sets is at least `threshold`. Posts whose content is identical after normalisation
(one lost an emoji) have Jaccard 1.0 but different post_ids: near-duplicates too.

Every hash is stable: xxh3-64 of each word, a fixed 64-bit mix for shingles and band
buckets, and MinHash permutations drawn from a fixed seed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import rensa

from tasks.mark_boilerplate import stable_hash64

RELATION = {"post_id": pl.Utf8, "other_post_id": pl.Utf8, "kind": pl.Utf8, "score": pl.Float64}
MIX = np.uint64(0x9E3779B97F4A7C15)  # 2^64 / golden ratio, odd


@dataclass(frozen=True)
class NearDupParams:
    shingle_words: int = 3
    bands: int = 32
    rows: int = 4
    threshold: float = 0.5
    seed: int = 20251125

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows


def word_key(text: pl.Expr) -> pl.Expr:
    return (
        text.str.normalize("NFKC").str.to_lowercase()
        .str.replace_all(r"[^\p{L}\p{N}]+", " ").str.strip_chars()
    )


def content_words(posts: pl.DataFrame, boilerplate: pl.DataFrame | None) -> pl.DataFrame:
    """(post, word): the words of every post's non-boilerplate lines, in order; `post`
    is the post's row number in `posts`."""
    lines = (
        posts.select(post=pl.int_range(pl.len(), dtype=pl.UInt32), post_id="post_id",
                     line=pl.col("text").str.split("\n"))
        .with_columns(idx=pl.int_ranges(pl.col("line").list.len(), dtype=pl.Int64))
        .explode("line", "idx")
    )
    if boilerplate is not None:
        dropped = boilerplate.filter("is_boilerplate").select("post_id", "idx")
        lines = lines.join(dropped, on=["post_id", "idx"], how="anti", maintain_order="left")
    return (
        lines.select("post", word=word_key(pl.col("line")).str.split(" "))
        .explode("word")
        .filter(pl.col("word") != "")
    )


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's finaliser: every input bit reaches every output bit."""
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB93FE53A50D9)
    return h ^ (h >> np.uint64(33))


def shingles(words: pl.DataFrame, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(post, shingle hash) for every run of `size` consecutive words of a post; a post
    shorter than that is one shingle of all its words."""
    post = words["post"].to_numpy()
    word_hash = stable_hash64(words["word"]).to_numpy()
    n = len(post)
    ends = np.searchsorted(post, post, side="right")  # rows are grouped by post, in order
    left = ends - np.arange(n)  # words from here to the end of the post
    is_first = np.r_[True, post[1:] != post[:-1]]
    keep = (left >= size) | (is_first & (left < size))
    padded = np.r_[word_hash, np.zeros(size, dtype=np.uint64)]
    h = word_hash.copy()
    with np.errstate(over="ignore"):
        for i in range(1, size):
            h = np.where(i < left, h * MIX + padded[i : i + n], h)
    return post[keep], fmix64(h[keep])


def signatures(post: np.ndarray, shingle: np.ndarray, n_posts: int, params: NearDupParams) -> np.ndarray:
    """MinHash signatures, (n_posts, num_perm) uint32, computed by rensa (Rust); rows of
    posts without shingles are meaningless and must be left out by the caller."""
    offsets = np.r_[0, np.cumsum(np.bincount(post, minlength=n_posts))].astype(np.uint64)
    matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(shingle, offsets, params.num_perm, params.seed)
    return np.array(matrix.to_rows(), dtype=np.uint32).reshape(n_posts, params.num_perm)


def band_buckets(sig: np.ndarray, posts: np.ndarray, params: NearDupParams) -> pl.DataFrame:
    """(band, bucket, post): one row per post and band, the bucket hashing the band's rows."""
    bands = sig[posts].reshape(len(posts), params.bands, params.rows).astype(np.uint64)
    h = np.zeros((len(posts), params.bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for r in range(params.rows):
            h = fmix64(h * MIX + bands[:, :, r])
    return pl.DataFrame({
        "band": np.tile(np.arange(params.bands, dtype=np.uint16), len(posts)),
        "bucket": h.ravel(),
        "post": np.repeat(posts.astype(np.uint32), params.bands),
    })


def candidate_pairs(buckets: pl.DataFrame) -> pl.DataFrame:
    """(a, b), a < b: posts sharing a bucket in any band. Each band is its own group-by."""
    return (
        buckets.group_by("band", "bucket").agg("post")
        .filter(pl.col("post").list.len() > 1)
        .select(a="post", b="post")
        .explode("a").explode("b")
        .filter(pl.col("a") < pl.col("b"))
        .unique()
    )


def jaccard(pairs: pl.DataFrame, sets: pl.DataFrame) -> pl.DataFrame:
    """`pairs` (a, b) with the exact Jaccard similarity of their shingle sets as `score`."""
    sizes = sets.group_by("post").len()
    shared = (
        pairs.join(sets.rename({"post": "a"}), on="a")
        .join(sets.rename({"post": "b"}), on=["b", "shingle"], how="semi")
        .group_by("a", "b").agg(shared=pl.len())
    )
    return (
        shared.join(sizes.rename({"post": "a", "len": "size_a"}), on="a")
        .join(sizes.rename({"post": "b", "len": "size_b"}), on="b")
        .select("a", "b", score=pl.col("shared") / (pl.col("size_a") + pl.col("size_b") - pl.col("shared")))
    )


def near_duplicate_pairs(posts: pl.DataFrame, boilerplate: pl.DataFrame | None = None,
                         params: NearDupParams = NearDupParams()) -> pl.DataFrame:
    """Relations rows (post_id, other_post_id, kind='near_duplicate', score), one per
    unordered pair with Jaccard >= threshold; post_id is the earlier-seen post."""
    post, shingle = shingles(content_words(posts, boilerplate), params.shingle_words)
    sig = signatures(post, shingle, posts.height, params)
    buckets = band_buckets(sig, np.unique(post), params)
    sets = pl.DataFrame({"post": post, "shingle": shingle}).unique()
    scored = jaccard(candidate_pairs(buckets), sets).filter(pl.col("score") >= params.threshold)
    order = posts.select(
        post=pl.int_range(pl.len(), dtype=pl.UInt32), post_id="post_id",
        rank=pl.struct("first_seen", "post_id").rank("ordinal"),
    )
    a = order.rename({"post": "a", "post_id": "id_a", "rank": "rank_a"})
    b = order.rename({"post": "b", "post_id": "id_b", "rank": "rank_b"})
    a_first = pl.col("rank_a") < pl.col("rank_b")
    return (
        scored.join(a, on="a").join(b, on="b")
        .select(
            post_id=pl.when(a_first).then("id_a").otherwise("id_b"),
            other_post_id=pl.when(a_first).then("id_b").otherwise("id_a"),
            kind=pl.lit("near_duplicate"),
            score="score",
        )
        .sort("post_id", "other_post_id")
        .cast(RELATION)
    )


def cluster_ids(posts: pl.DataFrame, pairs: pl.DataFrame) -> pl.DataFrame:
    """post_id → cluster_id: the post_id of the earliest-seen post of its connected
    component over `pairs` (itself when alone). Union-find; the earlier root wins."""
    ordered = posts.sort("first_seen", "post_id")["post_id"].to_list()
    rank = {post_id: i for i, post_id in enumerate(ordered)}
    parent = list(range(len(ordered)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs.select("post_id", "other_post_id").iter_rows():
        ra, rb = root(rank[a]), root(rank[b])
        parent[max(ra, rb)] = min(ra, rb)
    return pl.DataFrame(
        {"post_id": ordered, "cluster_id": [ordered[root(i)] for i in range(len(ordered))]},
        schema={"post_id": pl.Utf8, "cluster_id": pl.Utf8},
    )
