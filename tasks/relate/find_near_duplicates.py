"""Near-duplicate posts: MinHash + LSH banding proposes pairs, exact Jaccard decides.

Text is normalised as NFKC, lower case, runs of anything but letters and digits folded
to one space (`word_key`, tasks/normalize.py: a post that only lost an emoji has
Jaccard 1.0 with its original, but another post_id, so it is a near-duplicate); a link
is one word (its id is what differs between two link posts). In scripts written
without spaces (Han, Kana, Thai, ...) every letter is a word, so shingles there are
character n-grams. A pair is a near-duplicate when either
- its word shingles (`shingle_words` consecutive words) have Jaccard >= `threshold`:
  a word edited, an emoji lost, a line added to a long post; or
- its sets of lines have Jaccard >= `line_threshold`: a line replaced or added in a
  short post, where one line is a large share of the words, and the pair still shares
  `min_shared_content` of its text (2|A∩B| / (|A| + |B|) of word shingles). Only lines
  that are not boilerplate count: sharing `Read in full` says nothing.

A channel's template (tasks/relate/mark_boilerplate.py: lines in `template_min_posts` posts
of the channel, at any length) is left out of the comparison when either post of a
pair fills one (most of its text is its own, as a digest's news): then both are
compared on their lines that do not recur in their channel. Daily digests with a fixed
header and footer thus share nothing, while a re-post that fixed a typo still shares
its body. Sketches and candidates do not depend on templates; only verification does.

Boilerplate (tasks/relate/mark_boilerplate.py) is left out of the shingles when it is short
(<= `boilerplate_max_words` words: calls to action, labels, hashtags, sign-offs): those
lines make unrelated short posts look alike. A long line that recurs is quoted
content, and a copy of a post shares it like any other line, so it stays in the
shingles; without it a post made of quotes would have nothing to be matched on.

Candidates are posts sharing a (band, bucket): bands 0..bands-1 hash `rows`
MinHash values each; one more band holds every non-boilerplate line as its bucket. A
pair of Jaccard s shares a bucket of a band of `rows` values with probability s^rows,
and it is a candidate when it shares a line bucket or at least `min_bands` MinHash
buckets. With 32 x 4 and 2 bands that is 0.998 at s = 0.7, 0.93 at 0.6 and 0.03 at
0.3: true pairs are nearly always proposed and dissimilar ones seldom. One band (0.23
at s = 0.3) made 99% of the candidates in a big archive pairs that never verify: a
new post against 500,000 stored ones had 70 of them, and each meant reading and
sketching a stored text.

A bucket is bounded: each post is paired with at most `bucket_neighbours` posts before
it in the bucket (in first_seen order, earliest first), so a bucket of m posts yields at
most m * bucket_neighbours pairs, not m(m-1)/2: thousands of templated posts ("Weather
for <city>: <n> degrees") share buckets, and their square of pairs took gigabytes. A
bucket of up to bucket_neighbours + 1 posts yields all its pairs, as before; in a larger
one every post is still linked to its nearest earlier ones, so a family of copies stays
one cluster. The pairs of a post depend only on posts seen before it, so a later run,
whose new posts come after the stored ones, proposes the same pairs as one run over
everything.

Every hash is stable: xxHash64 (polars-hash) of each word and line, a fixed 64-bit mix for shingles
and buckets, and MinHash permutations drawn by xxh3 from a fixed seed. Signatures only
propose pairs; every pair kept is verified on the exact sets.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import xxhash

from schemas.tables import RELATION
from tasks.normalize import word_key
from tasks.hashing import stable_hash64
from tasks.relate import CHUNK_POSTS

GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier that spreads bits (2^64 / golden ratio)
PAIR_SHIFT = 1 << 32  # a candidate pair (a, b) of uint32 post numbers packed as a * 2^32 + b


@dataclass(frozen=True)
class NearDupParams:
    shingle_words: int = 2           # short posts need small shingles to survive one edit
    threshold: float = 0.7           # word-shingle Jaccard
    line_threshold: float = 0.3      # line-set Jaccard: a third of the lines shared
    estimate_margin: float = 0.15    # verify pairs whose MinHash estimate is this close (4 standard errors)
    chunk_posts: int = CHUNK_POSTS   # posts sketched at a time (bounds memory)
    chunk_pairs: int = 200_000       # candidate pairs screened at a time (bounds memory)
    # Earlier posts of a bucket each post is paired with: candidates grow as posts x this,
    # not as the square of a bucket's size (templated posts fill buckets by the thousand).
    bucket_neighbours: int = 10
    # MinHash bands a pair must share to be a candidate (a shared line bucket is enough).
    min_bands: int = 2
    boilerplate_max_words: int = 8
    # A line in this many distinct posts of one channel is its template (header, footer,
    # source label, hashtag line) at any length: 3 as for boilerplate (a channel's third
    # digest shows its template; tasks/relate/mark_boilerplate.py).
    template_min_posts: int = 3
    # A post fills a template when lines other posts of its channel share hold at most
    # this share of its letters (a digest's news are its own); above it, it is a copy
    # (a re-post edited three times shares its lines with its family).
    template_max_share: float = 0.5
    # A pair matched by its lines must still share this much of its non-template text
    # (SHARED_CONTENT): digests of one template shared lines, word-shingle Jaccard 0.15-0.2.
    min_shared_content: float = 1 / 3
    bands: int = 32
    rows: int = 4
    seed: int = 20251125

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows

    @property
    def template(self) -> tuple[int, float]:
        """boilerplate_flags' `template` argument."""
        return self.template_min_posts, self.template_max_share


# Scripts written without spaces between words: each letter (with its marks) is a
# word, so a shingle of `shingle_words` words is a character n-gram there.
UNSPACED = r"[[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}]&&\p{L}]\p{M}*"


def words_of(key: pl.Expr) -> pl.Expr:
    """The words of a normalised line; a run of an unspaced script gives one per character."""
    return key.str.replace_all(UNSPACED, " $0 ").str.replace_all(" +", " ").str.strip_chars().str.split(" ")


def post_lines(posts: pl.DataFrame, boilerplate: pl.DataFrame | None, numbers: np.ndarray | None = None) -> pl.DataFrame:
    """(post, idx, key, words, is_boilerplate, is_recurring, is_template): every line of
    every post, in order (the flags: tasks/relate/mark_boilerplate.py);
    `post` is the post's number (`numbers`, by default its row number in `posts`),
    `key` the normalised line."""
    number = pl.int_range(pl.len(), dtype=pl.UInt32) if numbers is None else pl.Series(numbers, dtype=pl.UInt32)
    lines = (
        posts.select(post=number, post_id="post_id", key=pl.col("text").str.split("\n"))
        .with_columns(idx=pl.int_ranges(pl.col("key").list.len(), dtype=pl.Int64))
        .explode("key", "idx")
        .with_columns(key=word_key(pl.col("key")))
    )
    if boilerplate is None:
        lines = lines.with_columns(is_boilerplate=pl.lit(False), is_recurring=pl.lit(False), is_template=pl.lit(False))
    else:
        def flag(name: str) -> pl.Expr:
            return pl.col(name) if name in boilerplate.columns else pl.lit(False).alias(name)

        flags = boilerplate.filter(pl.col("post_id").is_in(posts["post_id"].implode())).select(
            "post_id", pl.col("idx").cast(pl.Int64), "is_boilerplate", flag("is_recurring"), flag("is_template")
        )
        lines = lines.join(flags, on=["post_id", "idx"], how="left", maintain_order="left")
    return lines.select(
        "post", "idx", "key", words=words_of(pl.col("key")),
        is_boilerplate=pl.col("is_boilerplate").fill_null(False),
        is_recurring=pl.col("is_recurring").fill_null(False),
        is_template=pl.col("is_template").fill_null(False),
    )


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's finaliser: every input bit reaches every output bit."""
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB93FE53A50D9)
    return h ^ (h >> np.uint64(33))


def first_rows(post: np.ndarray) -> np.ndarray:
    """True at the first row of each post (rows are grouped by post)."""
    return np.r_[True, post[1:] != post[:-1]][: len(post)]


def short_boilerplate(params: NearDupParams) -> pl.Expr:
    return pl.col("is_boilerplate") & (pl.col("words").list.len() <= params.boilerplate_max_words)


def word_shingles(lines: pl.DataFrame, params: NearDupParams) -> pl.DataFrame:
    """(post, shingle): hashes of every run of `shingle_words` consecutive words of a
    post (across line ends), short boilerplate left out; a post with fewer words is one
    shingle of all of them."""
    words = (lines.filter(~short_boilerplate(params)).select("post", "words")
             .explode("words").filter(pl.col("words") != ""))
    post = words["post"].to_numpy()
    word_hash = stable_hash64(words["words"]).to_numpy()
    size, n = params.shingle_words, len(post)
    left = np.searchsorted(post, post, side="right") - np.arange(n)  # words to the post's end
    keep = (left >= size) | (first_rows(post) & (left < size))
    padded = np.r_[word_hash, np.zeros(size, dtype=np.uint64)]
    h = word_hash.copy()
    with np.errstate(over="ignore"):
        for i in range(1, size):
            h = np.where(i < left, h * GOLDEN + padded[i : i + n], h)
    # Repeats stay: they change no minimum; `jaccard` counts distinct shingles.
    return pl.DataFrame({"post": post[keep], "shingle": fmix64(h[keep])})


def line_sets(lines: pl.DataFrame, params: NearDupParams) -> pl.DataFrame:
    """(post, shingle): a hash per distinct line of a post, short boilerplate left out.
    A long boilerplate line gets a hash of its own post, so it counts in the post's
    size but never matches: a shared quote is no sign of a copy. A post of one line
    has no line evidence (its words say it all)."""
    content = lines.filter(~short_boilerplate(params) & (pl.col("key") != ""))
    line_hash = stable_hash64(content["key"]).to_numpy()
    post = content["post"].to_numpy()
    unmatchable = fmix64(line_hash ^ fmix64(post.astype(np.uint64) + GOLDEN))
    return pl.DataFrame({
        "post": post,
        "shingle": np.where(content["is_boilerplate"].to_numpy(), unmatchable, line_hash),
    }).unique(maintain_order=True).filter(pl.len().over("post") >= 2)


def permutations(params: NearDupParams) -> tuple[np.ndarray, np.ndarray]:
    """Multipliers (odd) and offsets of the num_perm hash functions, from xxh3 of the
    seed: the same on every machine and numpy version."""
    def draw(name: str) -> np.ndarray:
        return np.array([xxhash.xxh3_64_intdigest(f"{params.seed}:{name}:{i}".encode())
                         for i in range(params.num_perm)], dtype=np.uint64)
    return draw("a") | np.uint64(1), draw("b")


def minhash(shingles: pl.DataFrame, params: NearDupParams) -> tuple[np.ndarray, np.ndarray]:
    """(posts, signatures): the posts that have shingles and their MinHash signatures,
    (posts, num_perm) uint32. Hash i of a shingle x (folded to 32 bits) is
    (a_i * x + b_i) mod 2^64 >> 32, multiply-add-shift: a 2-independent family."""
    post, shingle = shingles["post"].to_numpy(), shingles["shingle"].to_numpy()
    x = (shingle >> np.uint64(32)) ^ (shingle & np.uint64(0xFFFFFFFF))
    starts = np.flatnonzero(first_rows(post))
    signatures = np.empty((len(starts), params.num_perm), dtype=np.uint32)
    with np.errstate(over="ignore"):
        for i, (a, b) in enumerate(zip(*permutations(params))):
            signatures[:, i] = np.minimum.reduceat((x * a + b) >> np.uint64(32), starts)
    return post[starts], signatures


def band_buckets(posts: np.ndarray, signatures: np.ndarray, params: NearDupParams) -> pl.DataFrame:
    """(band, bucket, post): per post and band, a hash of the band's MinHash values."""
    bands = signatures.reshape(len(posts), params.bands, params.rows).astype(np.uint64)
    bucket = np.zeros((len(posts), params.bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for r in range(params.rows):
            bucket = fmix64(bucket * GOLDEN + bands[:, :, r])
    return pl.DataFrame({
        "band": np.tile(np.arange(params.bands, dtype=np.uint16), len(posts)),
        "bucket": bucket.ravel(),
        "post": np.repeat(posts, params.bands),
    })


@dataclass(frozen=True)
class Sketches:
    """What candidate search and screening need of every post: the posts that have a
    MinHash signature (row numbers), their signatures, and (post, line hash) sets."""

    signed: np.ndarray
    signatures: np.ndarray
    lines: pl.DataFrame


def sketch(posts: pl.DataFrame, boilerplate: pl.DataFrame | None, params: NearDupParams) -> Sketches:
    """The sketches of all posts, `chunk_posts` posts at a time: a chunk's words are the
    only large intermediate, so memory stays flat however many posts there are."""
    signed, signatures, lines_of = [], [], []
    for start in range(0, posts.height, params.chunk_posts):
        chunk = posts.slice(start, params.chunk_posts)
        lines = post_lines(chunk, boilerplate, np.arange(start, start + chunk.height))
        chunk_signed, chunk_signatures = minhash(word_shingles(lines, params), params)
        signed.append(chunk_signed)
        signatures.append(chunk_signatures)
        lines_of.append(line_sets(lines, params))
    if not signed:
        return Sketches(np.zeros(0, np.uint32), np.zeros((0, params.num_perm), np.uint32),
                        line_sets(post_lines(posts, None), params))
    return Sketches(np.concatenate(signed), np.concatenate(signatures), pl.concat(lines_of))


def bucket_table(sketches: Sketches, params: NearDupParams) -> pl.DataFrame:
    """(band, bucket, post) of every band: the MinHash bands, and band `bands` in which
    every non-boilerplate line is a bucket. Each band is an independent group-by."""
    line_band = sketches.lines.select(band=pl.lit(params.bands, pl.UInt16), bucket="shingle", post="post")
    return pl.concat([band_buckets(sketches.signed, sketches.signatures, params), line_band])


def minhash_similarity(pairs: pl.DataFrame, signed: np.ndarray, signatures: np.ndarray) -> pl.Series:
    """The share of equal MinHash values of each pair (a, b): an estimate of its word
    Jaccard; 0 where a post has no signature (no words outside boilerplate)."""
    a, b = pairs["a"].to_numpy(), pairs["b"].to_numpy()
    row_a = np.minimum(np.searchsorted(signed, a), max(len(signed) - 1, 0))
    row_b = np.minimum(np.searchsorted(signed, b), max(len(signed) - 1, 0))
    if not len(signed):
        return pl.Series(np.zeros(len(a)))
    signed_both = (signed[row_a] == a) & (signed[row_b] == b)
    equal = (signatures[row_a] == signatures[row_b]).mean(axis=1) if len(a) else np.zeros(0)
    return pl.Series(np.where(signed_both, equal, 0.0))


def candidate_pairs(buckets: pl.DataFrame, params: NearDupParams) -> pl.DataFrame:
    """(a, b, votes), a < b: posts sharing a bucket in some band, each post paired with
    the `bucket_neighbours` posts before it in the bucket; votes: the MinHash bands that
    propose the pair, or `min_bands` for a shared line bucket. Post numbers are in
    first_seen order, so "before" is "seen earlier"; each band is its own group-by, and
    a search over groups of bands sums their votes (agreed_pairs)."""
    members = buckets.select("band", "bucket", "post").unique().sort("band", "bucket", "post")
    post = pl.col("post").cast(pl.UInt64)
    votes = pl.when(pl.col("band") == params.bands).then(params.min_bands).otherwise(1).cast(pl.UInt16)

    def earlier(back: int) -> pl.DataFrame:
        """Each post with the member of its bucket `back` places before it, as a * 2^32 + b
        (one integer column groups in half the memory of two)."""
        same_bucket = (pl.col("band") == pl.col("band").shift(back)) & (pl.col("bucket") == pl.col("bucket").shift(back))
        return (members.select(pair=post.shift(back) * PAIR_SHIFT + post, votes=votes, same=same_bucket)
                .filter("same").drop("same"))

    pairs = pl.concat([earlier(back) for back in range(1, params.bucket_neighbours + 1)]).group_by("pair").agg(
        pl.col("votes").sum())
    return pairs.select(a=(pl.col("pair") // PAIR_SHIFT).cast(pl.UInt32), b=(pl.col("pair") % PAIR_SHIFT).cast(pl.UInt32),
                        votes="votes")


def agreed_pairs(proposals: pl.DataFrame, params: NearDupParams) -> pl.DataFrame:
    """(a, b) sorted: the pairs of candidate_pairs' proposals (of one or more groups of
    bands) with at least `min_bands` votes."""
    return (proposals.group_by("a", "b").agg(pl.col("votes").sum()).filter(pl.col("votes") >= params.min_bands)
            .select("a", "b").sort("a", "b"))


def jaccard(pairs: pl.DataFrame, sets: pl.DataFrame) -> pl.Series:
    """Exact Jaccard similarity of the sets (post, shingle) of each pair (a, b), in order."""
    return set_overlaps(pairs, sets).select(JACCARD).to_series()


JACCARD = pl.when(pl.col("union") > 0).then(pl.col("shared") / pl.col("union")).otherwise(0.0)
# The share of the pair's text (both posts' shingles together) that lies in what they
# share, 2|A∩B| / (|A| + |B|): under a third, the two posts are mostly different text,
# whatever a few shared lines say.
SHARED_CONTENT = pl.when(pl.col("both") > 0).then(2 * pl.col("shared") / pl.col("both")).otherwise(0.0)


def set_overlaps(pairs: pl.DataFrame, sets: pl.DataFrame) -> pl.DataFrame:
    """(shared, union, both): the sizes of the intersection and union of the sets (post,
    shingle) of each pair (a, b), in order, and the sum of their sizes."""
    sets = sets.unique()
    sizes = sets.group_by("post").len()
    shared = (
        pairs.join(sets.rename({"post": "a"}), on="a")
        .join(sets.rename({"post": "b"}), on=["b", "shingle"], how="semi")
        .group_by("a", "b").len()
    )
    return (
        pairs.join(shared.rename({"len": "shared"}), on=["a", "b"], how="left", maintain_order="left")
        .join(sizes.rename({"post": "a", "len": "size_a"}), on="a", how="left", maintain_order="left")
        .join(sizes.rename({"post": "b", "len": "size_b"}), on="b", how="left", maintain_order="left")
        .fill_null(0)
        .select("shared", union=pl.col("size_a") + pl.col("size_b") - pl.col("shared"),
                both=pl.col("size_a") + pl.col("size_b"))
    )


def near_duplicate_pairs(posts: pl.DataFrame, boilerplate: pl.DataFrame | None = None,
                         params: NearDupParams = NearDupParams()) -> pl.DataFrame:
    """Relations rows (post_id, other_post_id, kind='near_duplicate', score = word-shingle
    Jaccard), one per unordered pair, post_id the earlier-seen post, sorted by ids.

    `posts`: post_id, text, first_seen (smaller = seen earlier), one row per post_id.
    `boilerplate`: post_id, idx, is_boilerplate for the lines of `text` (idx 0 = title).
    The flow runs the same steps as tasks, the candidate search one group of bands each.
    """
    posts = posts.sort("first_seen", "post_id")  # post numbers in first_seen order (candidate_pairs)
    sketches = sketch(posts, boilerplate, params)
    candidates = agreed_pairs(candidate_pairs(bucket_table(sketches, params), params), params)
    return verified_pairs(posts, boilerplate, sketches, candidates, params)


def verified_pairs(posts: pl.DataFrame, boilerplate: pl.DataFrame | None, sketches: Sketches,
                   candidates: pl.DataFrame, params: NearDupParams) -> pl.DataFrame:
    """`candidates` (a, b) screened and verified: see near_duplicate_pairs."""
    signed, signatures, whole_lines = sketches.signed, sketches.signatures, sketches.lines
    # Exact word Jaccard only where it can pass: the MinHash estimate (standard error
    # 0.04 at 0.7 with 128 permutations) or the cheap line Jaccard says so. Candidates
    # run to dozens per post in templated posts: they are screened a slice at a time.
    pairs = pl.concat([
        chunk.with_columns(line_score=jaccard(chunk, whole_lines)).filter(
            (pl.col("line_score") >= params.line_threshold)
            | (minhash_similarity(chunk, signed, signatures) >= params.threshold - params.estimate_margin)
        )
        for chunk in candidates.iter_slices(params.chunk_pairs)
    ] or [candidates.with_columns(line_score=pl.lit(0.0))])
    involved = np.unique(np.r_[pairs["a"].to_numpy(), pairs["b"].to_numpy()])
    lines = post_lines(posts[involved], boilerplate, involved)
    shingles = word_shingles(lines, params)
    content_shingles = word_shingles(lines.filter(~pl.col("is_recurring")), params)
    filled = lines.filter("is_template")["post"].unique().implode()
    with_content = content_shingles["post"].unique().implode()

    def overlaps(chunk: pl.DataFrame) -> pl.DataFrame:
        """score and shared_content of each pair: on the posts' content without the
        channel's recurring lines when either post is a filled template, else (or when
        one is nothing but recurring lines: a copy of a recurring quote) on all."""
        on_content = (
            (pl.col("a").is_in(filled) | pl.col("b").is_in(filled))
            & pl.col("a").is_in(with_content) & pl.col("b").is_in(with_content)
        )
        whole, content = set_overlaps(chunk, shingles), set_overlaps(chunk, content_shingles)
        chosen = pl.concat([whole, content.rename(lambda c: f"{c}_content"), chunk.select(on_content=on_content)],
                           how="horizontal").select(
            pl.when("on_content").then(pl.col(f"{c}_content")).otherwise(c).alias(c) for c in whole.columns
        )
        return chosen.select(score=JACCARD, shared_content=SHARED_CONTENT)

    # Scored a slice at a time too: most candidates of templated posts pass the screening.
    scored = pl.concat([
        pl.concat([chunk, overlaps(chunk)], how="horizontal").filter(
            (pl.col("score") >= params.threshold)
            | ((pl.col("line_score") >= params.line_threshold) & (pl.col("shared_content") >= params.min_shared_content))
        )
        for chunk in pairs.iter_slices(params.chunk_pairs)
    ] or [pairs.with_columns(score=pl.lit(0.0), shared_content=pl.lit(0.0))])
    order = posts.select(
        post=pl.int_range(pl.len(), dtype=pl.UInt32), post_id="post_id",
        rank=pl.struct("first_seen", "post_id").rank("ordinal"),
    )
    a_first = pl.col("rank_a") < pl.col("rank_b")
    return (
        scored.join(order.rename({"post": "a", "post_id": "id_a", "rank": "rank_a"}), on="a")
        .join(order.rename({"post": "b", "post_id": "id_b", "rank": "rank_b"}), on="b")
        .select(
            post_id=pl.when(a_first).then("id_a").otherwise("id_b"),
            other_post_id=pl.when(a_first).then("id_b").otherwise("id_a"),
            kind=pl.lit("near_duplicate"),
            score="score",
        )
        .cast(RELATION)
        .sort("post_id", "other_post_id")
    )


def cluster_ids(posts: pl.DataFrame, pairs: pl.DataFrame) -> pl.DataFrame:
    """post_id → cluster_id: the post_id of the earliest-seen post (by first_seen, then
    post_id) of its connected component over `pairs`; itself when alone. Union-find in
    which the earlier root always wins, so the result does not depend on pair order."""
    ordered = posts.select("first_seen", "post_id").sort("first_seen", "post_id")["post_id"].to_list()
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
