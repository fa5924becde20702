"""Relations between posts: near-duplicates (and their clusters) and translations.

The one composition of the relate stages (`relate_posts`), used by the flow, `eval` and
the tests alike. A run relates its new posts to the dataset through the dataset's
indexes (`Archive`), never its whole text:

- sketch (`sketch_new`): the new posts' line flags, counted over the line index
  (LineRows, tasks/relate/mark_boilerplate.py) and the new posts; their MinHash sketches; their
  LSH buckets beside the stored posts of those buckets (the near-duplicate index);
- candidates (`find_candidates`): pairs sharing a bucket, one group of bands at a time;
- verify (`verify_near`): the candidate pairs with a new post, reading the texts of the
  stored posts in them only; clusters;
- link (`link_translations_of`): translations between the new posts and the latest
  posts of their channels (the channel tails).

Every post has a place in first-seen order (`seen`): the dataset's posts come first, in
the order they were first seen, then the run's new posts in sighting order. Only pairs
with a new post are emitted: older pairs were emitted by the run that brought them.
A new post that joins stored clusters merges them into the earliest (`merged`: the
flow rewrites those posts' cluster_id), as one run over all of them would. A stored
post's index keys are those of the run that stored it (a line that became boilerplate
since leaves them as they were), and a stored post linked as a translation keeps its
partner: a later post in that language is not linked to it.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Iterable

import numpy as np
import polars as pl

from schemas.tables import RELATION
from tasks.relate.find_near_duplicates import (
    NearDupParams, Sketches, agreed_pairs, bucket_table, candidate_pairs, cluster_ids, sketch, verified_pairs,
)
from tasks.relate.link_translations import TranslationParams, translation_pairs
from tasks.relate.mark_boilerplate import MIN_POSTS, LineRows, flags_from, line_caps, places_of

RELATION_COLUMNS = list(RELATION)
NO_FLAGS = {"post_id": pl.Utf8, "idx": pl.Int64, "is_boilerplate": pl.Boolean}
NO_MERGES = {"cluster_id": pl.Utf8, "into": pl.Utf8}
COLUMNS = ["post_id", "channel", "text", "lang", "forwarded_from", "media"]
INDEX_COLUMNS = {"post_id": pl.Utf8, "band": pl.UInt16, "bucket": pl.UInt64, "seen": pl.Int64}
TAIL_COLUMNS = {"channel": pl.Utf8, "post_id": pl.Utf8, "seen": pl.Int64, "lang": pl.Utf8}


@dataclass(frozen=True)
class RelateParams:
    near: NearDupParams = NearDupParams()
    translation: TranslationParams = TranslationParams()
    # A line in this many distinct contexts is boilerplate (tasks/relate/mark_boilerplate.py).
    boilerplate_min_posts: int = MIN_POSTS
    # Candidate search runs in this many groups of LSH bands (each an independent group-by).
    band_groups: int = 4

    @property
    def line_caps(self) -> tuple[int, int]:
        return line_caps(self.boilerplate_min_posts, self.near.template)

    def flags(self, places: pl.DataFrame, rows: LineRows) -> pl.DataFrame:
        return flags_from(places, rows, self.boilerplate_min_posts, self.near.template)


@dataclass(frozen=True)
class Indexes:
    """The dataset's index rows, or the rows a run adds to them (schemas/tables.py):
    `near_dup` (INDEX_COLUMNS), `lines` (LineRows) are appended; `channel_tails`
    (TAIL_COLUMNS: per channel, its latest `window` posts with a language and its
    latest post) is replaced whole, or left as it is when None."""

    near_dup: pl.DataFrame
    lines: LineRows
    channel_tails: pl.DataFrame | None


@dataclass(frozen=True)
class Archive:
    """The dataset as relating reads it: lazy tables, scans of a snapshot's files or
    frames in memory; None where the dataset has none. `posts`: COLUMNS and cluster_id;
    `relations`: post_id, other_post_id, kind."""

    posts: pl.LazyFrame | None = None
    near_dup: pl.LazyFrame | None = None
    line_contexts: pl.LazyFrame | None = None
    channel_lines: pl.LazyFrame | None = None
    channel_tails: pl.LazyFrame | None = None
    relations: pl.LazyFrame | None = None
    # Stored posts read already (COLUMNS and cluster_id): read_posts serves them.
    held: pl.DataFrame | None = None

    @staticmethod
    def of_posts(known: pl.DataFrame | None, params: RelateParams = RelateParams()) -> "Archive":
        """A dataset holding `known` posts (COLUMNS and cluster_id, in first-seen order),
        indexed as one run that stored them would have."""
        if known is None:
            return Archive()
        indexes = build_indexes(known.with_columns(first_seen=pl.int_range(pl.len(), dtype=pl.Int64)), params)
        return Archive(known.lazy(), indexes.near_dup.lazy(), indexes.lines.contexts.lazy(),
                       indexes.lines.channel_lines.lazy(), indexes.channel_tails.lazy())

    def next_seen(self) -> int:
        """The place in first-seen order of the run's first new post (the latest post of
        each channel is in its tail)."""
        if self.channel_tails is None:
            return 0
        last = self.channel_tails.select(pl.col("seen").max()).collect().item()
        return 0 if last is None else last + 1

    def read_posts(self, post_ids: pl.Series, columns: list[str]) -> pl.DataFrame:
        """Those stored posts' `columns`: from the posts held, or a scan."""
        if self.held is not None and post_ids.is_in(self.held["post_id"].implode()).all():
            return self.held.filter(pl.col("post_id").is_in(post_ids.implode())).select(columns)
        return self.scan_posts(post_ids, columns)

    def scan_posts(self, post_ids: pl.Series, columns: list[str]) -> pl.DataFrame:
        """Those stored posts' `columns`: a scan filtered by post_id."""
        if self.posts is None:
            return pl.DataFrame(schema={c: pl.Utf8 for c in columns})
        return self.posts.filter(pl.col("post_id").is_in(post_ids.implode())).select(columns).collect()

    def holding(self, post_ids: pl.Series) -> "Archive":
        """This archive with those stored posts read, in one scan (a scan decodes the
        whole post_id column, so the stages after it read them from memory)."""
        return replace(self, held=self.scan_posts(post_ids.unique(), [*COLUMNS, "cluster_id"]))

    def line_rows(self, places: pl.DataFrame) -> LineRows:
        """The line index's rows of the lines in `places` (line_places with channel)."""
        empty = LineRows.of(places.head(0))
        if self.line_contexts is None or self.channel_lines is None:
            return empty
        hashes = places["line_hash"].unique().implode()
        keys = places.select("channel", "line_hash").unique()
        return LineRows(
            self.line_contexts.filter(pl.col("line_hash").is_in(hashes)).collect(),
            self.channel_lines.filter(pl.col("line_hash").is_in(hashes))
            .join(keys.lazy(), on=["channel", "line_hash"], how="semi", nulls_equal=True).collect(),
        )

    def bucket_neighbours(self, new_rows: pl.DataFrame, params: NearDupParams) -> pl.DataFrame:
        """The near-duplicate index rows of stored posts that can pair with a new post:
        in each bucket a new post is in, its `bucket_neighbours` latest stored posts (a new
        post pairs with at most that many posts before it, and every stored post is
        before it: candidate_pairs)."""
        if self.near_dup is None:
            return new_rows.head(0)
        keys = new_rows.select("band", "bucket").unique()
        return (
            self.near_dup.filter(pl.col("bucket").is_in(keys["bucket"].implode()))
            .join(keys.lazy(), on=["band", "bucket"], how="semi")
            .filter(pl.col("seen").rank("ordinal", descending=True).over("band", "bucket") <= params.bucket_neighbours)
            .collect()
        )

    def seen_of(self, post_ids: pl.Series) -> pl.DataFrame:
        """post_id, first_seen of those stored posts, from the near-duplicate index: band
        0 first (one row per post that has a signature), then every band for the rest."""
        if self.near_dup is None or post_ids.len() == 0:
            return pl.DataFrame(schema={"post_id": pl.Utf8, "first_seen": pl.Int64})

        def lookup(rows: pl.LazyFrame, wanted: pl.Series) -> pl.DataFrame:
            return (rows.filter(pl.col("post_id").is_in(wanted.implode())).group_by("post_id")
                    .agg(first_seen=pl.col("seen").min()).collect())

        found = lookup(self.near_dup.filter(pl.col("band") == 0), post_ids)
        rest = post_ids.filter(~post_ids.is_in(found["post_id"].implode()))
        return pl.concat([found, lookup(self.near_dup, rest)]) if rest.len() else found

    def tails(self) -> pl.DataFrame:
        if self.channel_tails is None:
            return pl.DataFrame(schema=TAIL_COLUMNS)
        return self.channel_tails.collect()

    def translation_partners(self, post_ids: pl.Series) -> pl.DataFrame:
        """(post_id, lang): the languages those stored posts are linked to already."""
        if self.relations is None or post_ids.len() == 0:
            return pl.DataFrame(schema={"post_id": pl.Utf8, "lang": pl.Utf8})
        ids = post_ids.implode()
        links = (self.relations.filter((pl.col("kind") == "translation")
                                       & (pl.col("post_id").is_in(ids) | pl.col("other_post_id").is_in(ids)))
                 .select("post_id", "other_post_id").collect())
        both = pl.concat([links, links.select(post_id="other_post_id", other_post_id="post_id")])
        langs = self.read_posts(both["other_post_id"].unique(), ["post_id", "lang"])
        return (both.filter(pl.col("post_id").is_in(ids))
                .join(langs.rename({"post_id": "other_post_id"}), on="other_post_id").select("post_id", "lang"))


def build_indexes(posts: pl.DataFrame, params: RelateParams = RelateParams()) -> Indexes:
    """The indexes of `posts` (COLUMNS and first_seen), as one run over them alone."""
    places = places_of(posts)
    lines = LineRows.of(places).capped(params.line_caps)
    sketches = sketch(posts, params.flags(places, lines), params.near)
    return Indexes(rows_of(posts, sketches, params.near), lines,
                   channel_tails(posts.select("channel", "post_id", seen="first_seen", lang="lang"),
                                 params.translation.window))


def rows_of(posts: pl.DataFrame, sketches: Sketches, params: NearDupParams) -> pl.DataFrame:
    """The near-duplicate index rows of `posts` (post_id, first_seen; post numbers: their
    rows) from their sketches: (post_id, band, bucket, seen) of every band bucket
    (bucket_table), sorted by band and bucket, so that a file's row groups cover narrow
    key ranges."""
    numbers = posts.select(post=pl.int_range(pl.len(), dtype=pl.UInt32), post_id="post_id", seen="first_seen")
    return (
        bucket_table(sketches, params).join(numbers, on="post", how="left")
        .select(list(INDEX_COLUMNS)).cast(INDEX_COLUMNS).sort("band", "bucket", "seen")
    )


def channel_tails(posts: pl.DataFrame, window: int) -> pl.DataFrame:
    """Per channel, its latest `window` posts with a language (a later post can be
    their translation) and its latest post (the run's next place in first-seen order
    comes after it)."""
    tagged = pl.col("lang").is_not_null() & (pl.col("lang") != "und")
    latest_tagged = pl.when(tagged).then(pl.col("seen").rank("ordinal", descending=True).over("channel", tagged))
    return (
        posts.select(list(TAIL_COLUMNS)).cast(TAIL_COLUMNS).unique("post_id").sort("channel", "seen", nulls_last=True)
        .filter((latest_tagged <= window) | (pl.col("seen") == pl.col("seen").max().over("channel")))
    )


@dataclass(frozen=True)
class Sketched:
    """The sketch stage's result. `new_posts`: COLUMNS and first_seen (after every
    stored post); `flags`: their lines' flags; `lines`: the line index rows that count
    for their lines (stored and theirs, capped); `sketches`: theirs (post numbers: rows
    of `new_posts`); `members`: (band, bucket, post = seen, post_id) of their buckets
    with the stored posts that can pair with them; `index`: the rows they add to the
    near-duplicate and line indexes."""

    new_posts: pl.DataFrame
    flags: pl.DataFrame
    lines: LineRows
    sketches: Sketches
    members: pl.DataFrame
    index: Indexes

    @property
    def first_new(self) -> int:
        return int(self.new_posts["first_seen"].min())

    def stored_in(self, candidates: "Candidates") -> pl.Series:
        """The post_ids of the stored posts in a candidate pair with a new post, sorted."""
        numbers = candidates.with_new_post(self.first_new).filter(pl.col("a") < self.first_new).select(post="a")
        return self.members.join(numbers.unique(), on="post", how="semi")["post_id"].unique().sort()


@dataclass(frozen=True)
class Candidates:
    """(a, b), a < b, as places in first-seen order: pairs sharing an LSH bucket."""

    pairs: pl.DataFrame

    def with_new_post(self, first_new: int) -> pl.DataFrame:
        """The pairs that have a new post; older pairs were verified by the run that
        stored them."""
        return self.pairs.filter(pl.col("b") >= first_new)


@dataclass(frozen=True)
class NearDuplicates:
    """Verified pairs with a new post (relations rows), the new posts' cluster_id, and
    `merged` (cluster_id, into): stored clusters that a new post joins to an earlier
    stored cluster, whose posts take its id (as one run over them all would give)."""

    relations: pl.DataFrame
    clusters: pl.DataFrame
    merged: pl.DataFrame


@dataclass(frozen=True)
class Related:
    """What relating a run's new posts gives: the posts with their cluster_id, their
    paragraphs' boilerplate flags, the new relations, the stored clusters merged into
    earlier ones (NearDuplicates.merged), and the rows the run adds to the dataset's
    indexes."""

    posts: pl.DataFrame
    flags: pl.DataFrame
    relations: pl.DataFrame
    merged: pl.DataFrame
    index: Indexes = field(repr=False)


def sketch_new(new_posts: pl.DataFrame, archive: Archive, params: RelateParams) -> Sketched:
    """new_posts: COLUMNS, in sighting order."""
    new_posts = new_posts.select(COLUMNS).with_columns(
        first_seen=pl.int_range(pl.len(), dtype=pl.Int64) + archive.next_seen())
    places = places_of(new_posts)
    stored = archive.line_rows(places)
    lines = (stored + LineRows.of(places)).capped(params.line_caps)
    flags = params.flags(places, lines)
    sketches = sketch(new_posts, flags, params.near)
    new_rows = rows_of(new_posts, sketches, params.near)
    members = pl.concat([archive.bucket_neighbours(new_rows, params.near), new_rows])
    return Sketched(
        new_posts, flags, lines, sketches,
        members.select("band", "bucket", post=pl.col("seen").cast(pl.UInt32), post_id="post_id"),
        Indexes(new_rows, lines.without(stored), None),
    )


def band_groups(params: RelateParams) -> list[list[int]]:
    """The LSH bands (and the line band) dealt into `params.band_groups` groups."""
    bands = range(params.near.bands + 1)
    return [[band for band in bands if band % params.band_groups == group] for group in range(params.band_groups)]


def find_candidates(sketched: Sketched, params: RelateParams, map_groups: Callable = map) -> Candidates:
    """Candidate pairs of each group of bands (map_groups: `map`, or a pool's, to run the
    groups side by side)."""

    def of_group(bands: list[int]) -> pl.DataFrame:
        return candidate_pairs(sketched.members.filter(pl.col("band").is_in(bands)), params.near)

    return Candidates(agreed_pairs(pl.concat(list(map_groups(of_group, band_groups(params)))), params.near))


def verify_near(sketched: Sketched, candidates: Candidates, archive: Archive, params: RelateParams) -> NearDuplicates:
    """The candidate pairs with a new post verified, reading only the stored texts in
    them (their lines flagged over the line index and the new posts); clusters: a
    component takes the id of its earliest post. A stored post stands for its cluster
    (its root, the cluster's earliest post), so a component's earliest node is the root
    of its earliest stored cluster, and the other stored clusters in it merge into
    that one."""
    first_new = sketched.first_new
    pairs = candidates.with_new_post(first_new)
    stored_ids = sketched.stored_in(candidates)
    seen = sketched.members.select("post_id", first_seen=pl.col("post").cast(pl.Int64)).unique("post_id")
    stored = (archive.read_posts(stored_ids, ["post_id", "channel", "text", "cluster_id"])
              .join(seen, on="post_id").sort("first_seen"))
    places = places_of(stored)
    flags = pl.concat([params.flags(places, (archive.line_rows(places) + sketched.index.lines).capped(params.line_caps)),
                       sketched.flags])
    posts = pl.concat([stored.select("post_id", "text", "first_seen"), sketched.new_posts.select("post_id", "text", "first_seen")])
    stored_sketches = sketch(stored, flags, params.near)
    shift = np.uint32(stored.height)
    sketches = Sketches(
        np.concatenate([stored_sketches.signed, sketched.sketches.signed + shift]),
        np.concatenate([stored_sketches.signatures, sketched.sketches.signatures]),
        pl.concat([stored_sketches.lines, sketched.sketches.lines.with_columns(pl.col("post") + shift)]),
    )
    local = posts.select(seen=pl.col("first_seen").cast(pl.UInt32), local=pl.int_range(pl.len(), dtype=pl.UInt32))
    local_pairs = (
        pairs.join(local.rename({"seen": "a", "local": "local_a"}), on="a")
        .join(local.rename({"seen": "b", "local": "local_b"}), on="b")
        .select(a="local_a", b="local_b").sort("a", "b")
    )
    near = verified_pairs(posts, flags, sketches, local_pairs, params.near)
    # Roots among the posts read have their place already; the others are looked up.
    root_ids = stored["cluster_id"].unique()
    read_roots = seen.filter(pl.col("post_id").is_in(root_ids.implode()))
    found = pl.concat([read_roots, archive.seen_of(root_ids.filter(~root_ids.is_in(read_roots["post_id"].implode())))])
    # A root without index rows (all its lines boilerplate when the index was built)
    # is placed at its earliest cluster member read here.
    roots = pl.concat([found, stored.join(found, left_on="cluster_id", right_on="post_id", how="anti")
                       .group_by("cluster_id").agg(pl.col("first_seen").min()).rename({"cluster_id": "post_id"})])
    nodes = pl.concat([roots.select("first_seen", "post_id"), sketched.new_posts.select("first_seen", "post_id")])
    as_roots = pl.col("post_id", "other_post_id").replace(stored["post_id"], stored["cluster_id"])
    clusters = cluster_ids(nodes.unique("post_id"), near.select(as_roots))
    merged = clusters.join(roots.select("post_id"), on="post_id", how="semi").filter(
        pl.col("post_id") != pl.col("cluster_id")).select(cluster_id="post_id", into="cluster_id").sort("cluster_id")
    return NearDuplicates(near, clusters.join(sketched.new_posts.select("post_id"), on="post_id", how="semi"), merged)


def link_translations_of(sketched: Sketched, tails: pl.DataFrame, archive: Archive,
                         params: RelateParams) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(translation relations with a new post, the channel tails after the run): the
    new posts are looked at beside the tails of their channels, where their earlier
    partners can be (TranslationParams.window posts of a channel apart). `tails`: the
    stored ones (archive.tails())."""
    new = sketched.new_posts
    touched = tails_of_channels(tails, new)
    stored = (archive.read_posts(touched["post_id"], COLUMNS)
              .join(touched.select("post_id", first_seen="seen"), on="post_id"))
    partners = archive.translation_partners(stored["post_id"])
    in_sight = pl.concat([stored.select(*COLUMNS, "first_seen"), new.select(*COLUMNS, "first_seen")])
    new_ids = new["post_id"].implode()
    translations = translation_pairs(in_sight, params.translation, taken=set(partners.iter_rows())).filter(
        pl.col("post_id").is_in(new_ids) | pl.col("other_post_id").is_in(new_ids)
    )
    sighted = pl.concat([tails, new.select("channel", "post_id", seen="first_seen", lang="lang")])
    return translations, channel_tails(sighted, params.translation.window)


def tails_of_channels(tails: pl.DataFrame, new_posts: pl.DataFrame) -> pl.DataFrame:
    """The channel tails (TAIL_COLUMNS) of the new posts' channels."""
    return tails.join(new_posts.select("channel").unique(), on="channel", how="semi", nulls_equal=True)


def relate_posts(new_posts: pl.DataFrame, archive: Archive = Archive(), params: RelateParams = RelateParams(),
                 map_groups: Callable[[Callable, Iterable], Iterable] = map) -> Related:
    """The run's new posts (COLUMNS, in sighting order) related to each other and to the
    dataset (`archive`): sketch → candidates → verify → link."""
    if new_posts.height == 0:  # nothing new: nothing to relate, the indexes stay
        return Related(new_posts.select(COLUMNS).with_columns(cluster_id=pl.lit(None, pl.Utf8)),
                       pl.DataFrame(schema=NO_FLAGS), pl.DataFrame(schema=RELATION), pl.DataFrame(schema=NO_MERGES),
                       Indexes(pl.DataFrame(schema=INDEX_COLUMNS), LineRows.of(places_of(new_posts.head(0))), None))
    sketched = sketch_new(new_posts, archive, params)
    candidates = find_candidates(sketched, params, map_groups)
    stored_tails = archive.tails()
    # The stored posts that verifying and linking read, in one scan of `posts`.
    archive = archive.holding(pl.concat([sketched.stored_in(candidates),
                                         tails_of_channels(stored_tails, sketched.new_posts)["post_id"]]))
    near = verify_near(sketched, candidates, archive, params)
    translations, tails = link_translations_of(sketched, stored_tails, archive, params)
    posts = sketched.new_posts.drop("first_seen").join(near.clusters, on="post_id", how="left", maintain_order="left")
    relations = pl.concat([near.relations.select(RELATION_COLUMNS), translations.select(RELATION_COLUMNS)])
    flags = sketched.flags.select("post_id", "idx", "is_boilerplate")
    return Related(posts, flags, relations, near.merged, Indexes(sketched.index.near_dup, sketched.index.lines, tails))
